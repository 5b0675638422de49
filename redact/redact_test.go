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
		slog.Group("mo", "to", "106580088001"), "amount_fen", 1050)
	out := buf.String()
	for _, secret := range []string{"8613800000001", "654321", "8613900000002", "106580088001"} {
		if strings.Contains(out, secret) {
			t.Errorf("log line contains %q in clear: %s", secret, out)
		}
	}
	if !strings.Contains(out, "1050") {
		t.Errorf("numeric attribute lost: %s", out)
	}
}

func FuzzDigits(f *testing.F) {
	f.Add("code 123456 for 8613800000001")
	f.Add("1234567")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		if out := Digits(s); hasDigitRun(out) {
			t.Fatalf("Digits(%q) = %q keeps a run of six or more digits", s, out)
		}
	})
}
