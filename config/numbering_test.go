package config

import (
	"strings"
	"testing"
)

func TestNumberingDefaultsAndPlan(t *testing.T) {
	t.Parallel()
	c, err := Parse(nil, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Numbering.Plan().Normalize("013511112222", 0, 0)
	if err != nil || got != "+8613511112222" {
		t.Fatalf("default plan: %q, %v", got, err)
	}
	p := c.Numbering.Plan()
	if p.CountryCode != "86" || p.NationalPrefix != "0" || p.InternationalPrefix != "00" || p.NationalLength != 11 || p.MaxLength != 15 {
		t.Fatalf("default plan = %+v", p)
	}

	c, err = Parse([]byte("numbering:\n  country_code: \"44\"\n  national_prefix: \"\"\n"), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if p := c.Numbering.Plan(); p.NationalPrefix != "" || p.NationalLength != 0 {
		t.Fatalf("explicit empty prefix / other country: %+v", p)
	}
}

func TestNumberingValidation(t *testing.T) {
	t.Parallel()
	for yml, field := range map[string]string{
		"numbering:\n  country_code: \"+86\"\n":       "numbering.country_code",
		"numbering:\n  national_prefix: \"O\"\n":      "numbering.national_prefix",
		"numbering:\n  international_prefix: \"0\"\n": "numbering.international_prefix",
		"numbering:\n  max_length: 20\n":              "numbering.max_length",
		"numbering:\n  national_length: 14\n":         "numbering.national_length",
	} {
		_, err := Parse([]byte(yml), noEnv)
		if err == nil || !strings.Contains(err.Error(), field+":") {
			t.Errorf("%q: err = %v, want one naming %s", yml, err, field)
		}
	}
}
