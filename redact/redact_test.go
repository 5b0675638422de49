package redact

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

func TestPhone(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"8613800000001":  "138****0001",
		"+8613800000001": "138****0001",
		"13800000001":    "138****0001",
		"4479460000001":  "447******0001",
		"12345":          "***45",
		"":               "",
	} {
		if got := Phone(in); got != want {
			t.Errorf("Phone(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPAN(t *testing.T) {
	t.Parallel()
	if got := PAN("6222021234561234"); got != "622202******1234" {
		t.Fatalf("PAN = %q", got)
	}
	if got := PAN("1234"); got != "****" {
		t.Fatalf("PAN(short) = %q", got)
	}
}

func TestDigits(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"code 123456 for 8613800000001": "code ****** for 138****0001",
		"amount 10.50 x3":               "amount 10.50 x3",
		"MM 111111 222222":              "MM ****** ******",
		"order 12345":                   "order 12345",
	} {
		if got := Digits(in); got != want {
			t.Errorf("Digits(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestHandlerMasksEverything(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := slog.New(NewHandler(slog.NewJSONHandler(&buf, nil))).With("from", "8613800000001")
	log.Info("MO 654321 received", "text", "确认 654321", "err", errors.New("debit 8613900000002 failed"),
		slog.Group("mo", "msisdn", "+8613700000003"), "amount_fen", 1050)
	out := buf.String()
	for _, secret := range []string{"8613800000001", "654321", "8613900000002", "8613700000003"} {
		if strings.Contains(out, secret) {
			t.Errorf("log line contains %q in clear: %s", secret, out)
		}
	}
	if !strings.Contains(out, "1050") {
		t.Errorf("numeric attribute lost: %s", out)
	}
}

// TestHandlerMasksByField: technical values stay readable (issue 18.9:
// service_code=106*8008, command 0x000*0005 were over-masked); what a key
// names as a phone number or a secret is masked whatever it looks like.
func TestHandlerMasksByField(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := slog.New(NewHandler(slog.NewTextHandler(&buf, nil)))
	log.Info("unknown command 0x00000005 from bind smsc-1", "service_code", "10658008", "command", "0x00000005",
		"to", "106580088001", "message_id", "0A1B2C3D", "date", "2026-11-20", "order", int64(1234567),
		"msisdn", "12345", "code", "042731", "wallet_password", "889900", "pan", "6222021234567881234",
		"id_number", "11010119900307123X", "amount_fen", 1050, "phone", int64(8613511112222))
	out := buf.String()
	for _, keep := range []string{"service_code=10658008", "command=0x00000005", "unknown command 0x00000005", "to=106580088001",
		"message_id=0A1B2C3D", "date=2026-11-20", "order=1234567", "amount_fen=1050", "pan=622202*********1234"} {
		if !strings.Contains(out, keep) {
			t.Errorf("log line lacks %q: %s", keep, out)
		}
	}
	for _, secret := range []string{"12345 ", "042731", "889900", "6222021234567881234", "11010119900307123X", "8613511112222"} {
		if strings.Contains(out, secret) {
			t.Errorf("log line contains %q in clear: %s", secret, out)
		}
	}
}

func TestText(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"code 123456 for 8613800000001":                   "code ****** for 138****0001",
		"subscriber 13800000001 and +8613800000002":       "subscriber 138****0001 and +138****0002",
		"from 008613800000003":                            "from 138****0003",
		"international +447700900123":                     "international +447*****0123",
		"service 10658008 command 0x00000005":             "service 10658008 command 0x00000005",
		"id 11010119900307123X card 6222021234567881234":  "id *****************X card 622202*********1234",
		"amount 10.50 order 12345 at 2026-11-20 10:00:05": "amount 10.50 order 12345 at 2026-11-20 10:00:05",
		"sequence 0x000123 version 3.4.123456":            "sequence 0x000123 version 3.4.123456",
	} {
		if got := Text(in); got != want {
			t.Errorf("Text(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzText(f *testing.F) {
	f.Add("code 123456 for 8613800000001")
	f.Add("+8613511112222")
	f.Add("0x13511112222")
	f.Fuzz(func(t *testing.T, s string) {
		out := Text(s)
		for i := 0; i < len(out); {
			if !isDigit(out[i]) {
				i++
				continue
			}
			j := i
			for j < len(out) && isDigit(out[j]) {
				j++
			}
			hexBefore := i >= 2 && out[i-2] == '0' && (out[i-1] == 'x' || out[i-1] == 'X') || i > 0 && isHexLetter(out[i-1])
			hexAfter := j < len(out) && isHexLetter(out[j])
			if isMobile(out[i:j]) && !hexBefore && !hexAfter {
				t.Fatalf("Text(%q) = %q keeps a mobile number", s, out)
			}
			if i > 0 && out[i-1] == '+' && j-i >= 8 && j-i <= 15 {
				t.Fatalf("Text(%q) = %q keeps an international number", s, out)
			}
			i = j
		}
	})
}

func FuzzDigits(f *testing.F) {
	f.Add("code 123456 for 8613800000001")
	f.Add("1234567")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		if out := Digits(s); hasDigitRun(out, 6) {
			t.Fatalf("Digits(%q) = %q keeps a run of six or more digits", s, out)
		}
	})
}
