package msisdn_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/carrierbill/carrierbill/msisdn"
)

type normCase struct {
	raw      string
	ton, npi byte
	want     string         // canonical form, or "" when refused
	problem  msisdn.Problem // when refused
}

var cn = msisdn.DefaultPlan()

// The spellings of issue 18.2 and their neighbours, on the default (Chinese)
// plan.
var normCases = []normCase{
	// issue 18.2: four spellings, one subscriber
	{raw: "13511112222", want: "+8613511112222"},
	{raw: "8613511112222", want: "+8613511112222"},
	{raw: "008613511112222", want: "+8613511112222"},
	{raw: "+8613511112222", want: "+8613511112222"},
	// the national prefix, separators, blanks around
	{raw: "013511112222", want: "+8613511112222"},
	{raw: " 135 1111 2222 ", want: "+8613511112222"},
	{raw: "+86 (135) 1111-2222", want: "+8613511112222"},
	{raw: "135.1111.2222", want: "+8613511112222"},
	// TON international
	{raw: "8613511112222", ton: msisdn.TONInternational, npi: msisdn.NPIISDN, want: "+8613511112222"},
	{raw: "+8613511112222", ton: msisdn.TONInternational, npi: msisdn.NPIISDN, want: "+8613511112222"},
	{raw: "008613511112222", ton: msisdn.TONInternational, npi: msisdn.NPIISDN, want: "+8613511112222"},
	{raw: "447700900123", ton: msisdn.TONInternational, npi: msisdn.NPIISDN, want: "+447700900123"},
	{raw: "13511112222", ton: msisdn.TONInternational, npi: msisdn.NPIISDN, want: "+13511112222"}, // the SMSC said so: NANP
	// TON national
	{raw: "13511112222", ton: msisdn.TONNational, npi: msisdn.NPIISDN, want: "+8613511112222"},
	{raw: "013511112222", ton: msisdn.TONNational, npi: msisdn.NPINational, want: "+8613511112222"},
	{raw: "8613511112222", ton: msisdn.TONNational, npi: msisdn.NPIISDN, want: "+8613511112222"}, // mislabelled full number
	{raw: "+8613511112222", ton: msisdn.TONNational, npi: msisdn.NPIISDN, want: "+8613511112222"},
	// unknown TON, other countries by prefix
	{raw: "00447700900123", want: "+447700900123"},
	{raw: "+447700900123", want: "+447700900123"},
	{raw: "+12025550123", want: "+12025550123"},
	// subscriber / network / abbreviated TON: read like unknown
	{raw: "13511112222", ton: msisdn.TONSubscriber, want: "+8613511112222"},
	{raw: "8613511112222", ton: msisdn.TONNetwork, want: "+8613511112222"},

	// refused
	{raw: "", problem: msisdn.Empty},
	{raw: "   ", problem: msisdn.Empty},
	{raw: "+", problem: msisdn.TooShort},
	{raw: "-", problem: msisdn.NotDigits},
	{raw: "1351111222a", problem: msisdn.NotDigits},
	{raw: "CHINAMOBILE", problem: msisdn.NotDigits},
	{raw: "+86+13511112222", problem: msisdn.NotDigits},
	{raw: "１３５１１１１２２２２", problem: msisdn.NotDigits}, // full-width digits are not ASCII digits
	{raw: "13511112222\x00", problem: msisdn.NotDigits},
	{raw: "+0086135111122", problem: msisdn.NotDigits}, // no country code starts with 0
	{raw: "1351111222", problem: msisdn.TooShort},      // 10 digits: no Chinese mobile
	{raw: "+861351111222", problem: msisdn.TooShort},
	{raw: "135111122223", problem: msisdn.TooLong},
	{raw: "+86135111122223", problem: msisdn.TooLong},
	{raw: "+441234", problem: msisdn.TooShort},
	{raw: "+4412345678901234", problem: msisdn.TooLong},
	{raw: strings.Repeat("1", 1000), problem: msisdn.TooLong},
	{raw: "10658008", problem: msisdn.TooShort}, // a service code
	{raw: "CMCC", ton: msisdn.TONAlphanumeric, problem: msisdn.NotPhoneNumber},
	{raw: "13511112222", ton: msisdn.TONAlphanumeric, problem: msisdn.NotPhoneNumber},
	{raw: "460001234567890", npi: msisdn.NPILandMob, problem: msisdn.NotPhoneNumber}, // an IMSI
	{raw: "10.0.0.1", npi: msisdn.NPIInternet, problem: msisdn.NotPhoneNumber},
}

func TestNormalize(t *testing.T) {
	t.Parallel()
	for _, c := range normCases {
		got, err := cn.Normalize(c.raw, c.ton, c.npi)
		if c.want != "" {
			if err != nil || got != c.want {
				t.Errorf("Normalize(%q, ton %d, npi %d) = %q, %v; want %q", c.raw, c.ton, c.npi, got, err, c.want)
			}
			continue
		}
		var e *msisdn.Error
		if !errors.As(err, &e) || e.Problem != c.problem || !errors.Is(err, msisdn.ErrInvalid) || got != "" {
			t.Errorf("Normalize(%q, ton %d, npi %d) = %q, %v; want refusal %v", c.raw, c.ton, c.npi, got, err, c.problem)
		}
	}
}

// TestIssue18_2OneSubscriberOneNumber: the four spellings that each paid
// 30.00 under a 50.00 daily limit are one number.
func TestIssue18_2OneSubscriberOneNumber(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, raw := range []string{"13511112222", "8613511112222", "008613511112222", "+8613511112222"} {
		got, err := cn.Normalize(raw, msisdn.TONUnknown, msisdn.NPIUnknown)
		if err != nil {
			t.Fatalf("Normalize(%q): %v", raw, err)
		}
		seen[got] = true
	}
	if len(seen) != 1 {
		t.Fatalf("four spellings gave %d numbers: %v", len(seen), seen)
	}
}

func TestErrorNeverHoldsTheNumber(t *testing.T) {
	t.Parallel()
	for _, raw := range []string{"1351111222a", "135111122223", "+861351111222", "13511112222x"} {
		_, err := cn.Normalize(raw, 0, 0)
		if err == nil {
			t.Fatalf("Normalize(%q) accepted", raw)
		}
		if strings.Contains(err.Error(), "1351111") {
			t.Errorf("error %q holds the number", err)
		}
	}
}

func TestOtherPlans(t *testing.T) {
	t.Parallel()
	uk := msisdn.Plan{CountryCode: "44", NationalPrefix: "0", InternationalPrefix: "00", MinLength: 7, MaxLength: 15}
	nanp := msisdn.Plan{CountryCode: "1", NationalPrefix: "1", InternationalPrefix: "011", NationalLength: 10, MinLength: 7, MaxLength: 15}
	for _, c := range []struct {
		p         msisdn.Plan
		raw, want string
	}{
		{uk, "07700900123", "+447700900123"},
		{uk, "447700900123", "+447700900123"},
		{uk, "00447700900123", "+447700900123"},
		{uk, "+447700900123", "+447700900123"},
		{nanp, "2025550123", "+12025550123"},
		{nanp, "12025550123", "+12025550123"},
		{nanp, "01112025550123", "+12025550123"},
		{nanp, "0118613511112222", "+8613511112222"},
		{msisdn.Plan{}, "13511112222", "+8613511112222"}, // zero plan = default
	} {
		if err := c.p.Check(); err != nil && c.p.CountryCode != "" {
			t.Fatalf("plan %+v: %v", c.p, err)
		}
		got, err := c.p.Normalize(c.raw, 0, 0)
		if err != nil || got != c.want {
			t.Errorf("%+v Normalize(%q) = %q, %v; want %q", c.p, c.raw, got, err, c.want)
		}
	}
}

func TestPlanCheck(t *testing.T) {
	t.Parallel()
	if err := msisdn.DefaultPlan().Check(); err != nil {
		t.Fatalf("default plan: %v", err)
	}
	bad := func(field string, mod func(*msisdn.Plan)) {
		t.Helper()
		p := msisdn.DefaultPlan()
		mod(&p)
		var pe *msisdn.PlanError
		if err := p.Check(); !errors.As(err, &pe) || pe.Field != field {
			t.Errorf("%+v: Check = %v, want a %s error", p, err, field)
		}
	}
	bad("country_code", func(p *msisdn.Plan) { p.CountryCode = "086" })
	bad("country_code", func(p *msisdn.Plan) { p.CountryCode = "8612" })
	bad("country_code", func(p *msisdn.Plan) { p.CountryCode = "+86" })
	bad("national_prefix", func(p *msisdn.Plan) { p.NationalPrefix = "O" })
	bad("international_prefix", func(p *msisdn.Plan) { p.InternationalPrefix = "" })
	bad("international_prefix", func(p *msisdn.Plan) { p.InternationalPrefix = "0" })
	bad("max_length", func(p *msisdn.Plan) { p.MaxLength = 16 })
	bad("min_length", func(p *msisdn.Plan) { p.MinLength = 3 })
	bad("national_length", func(p *msisdn.Plan) { p.NationalLength = 14 })
	bad("national_length", func(p *msisdn.Plan) { p.NationalLength = -1 })
}

func TestValid(t *testing.T) {
	t.Parallel()
	for s, want := range map[string]bool{
		"+8613511112222":    true,
		"+447700900123":     true,
		"8613511112222":     false,
		"+0613511112222":    false,
		"+86135111122a2":    false,
		"+123456":           false,
		"+1234567890123456": false,
		"":                  false,
		"+":                 false,
		" +8613511112222":   false,
	} {
		if got := msisdn.Valid(s); got != want {
			t.Errorf("Valid(%q) = %v, want %v", s, got, want)
		}
	}
	if cn.Valid("+861351111222") {
		t.Error("the plan takes a 10-digit Chinese number as valid")
	}
	if !cn.Valid("+8613511112222") || !cn.Valid("+447700900123") {
		t.Error("the plan refuses a canonical number")
	}
}

// FuzzNormalize: Normalize never panics; what it returns is canonical
// (Valid, and valid for the plan) or an *Error; normalizing a canonical
// number is the identity, whatever TON the SMSC reports for it.
func FuzzNormalize(f *testing.F) {
	for _, c := range normCases {
		f.Add(c.raw, c.ton, c.npi)
	}
	f.Fuzz(func(t *testing.T, raw string, ton, npi byte) {
		for _, p := range []msisdn.Plan{cn, {CountryCode: "1", NationalPrefix: "1", InternationalPrefix: "011", NationalLength: 10, MinLength: 7, MaxLength: 15}} {
			got, err := p.Normalize(raw, ton, npi)
			if err != nil {
				var e *msisdn.Error
				if !errors.As(err, &e) || got != "" {
					t.Fatalf("Normalize(%q, %d, %d) = %q, %v: not an *Error", raw, ton, npi, got, err)
				}
				continue
			}
			if !msisdn.Valid(got) || !p.Valid(got) {
				t.Fatalf("Normalize(%q, %d, %d) = %q: not canonical", raw, ton, npi, got)
			}
			for _, tn := range []byte{msisdn.TONUnknown, msisdn.TONInternational, msisdn.TONNational} {
				again, err := p.Normalize(got, tn, msisdn.NPIISDN)
				if err != nil || again != got {
					t.Fatalf("Normalize(%q, ton %d) = %q, %v: not the identity", got, tn, again, err)
				}
			}
		}
	})
}
