package riskadmin_test

import (
	"errors"
	"testing"

	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/riskadmin"
)

// What an operator types names one subject, stored in the form the
// engine's lists match (canonical numbers, prefixes of them); a wrong value
// names its field.
func TestSubject(t *testing.T) {
	t.Parallel()
	op := &riskadmin.Operator{Merchant: func(code string) bool { return code == "8001" }}
	for _, c := range []struct {
		in      riskadmin.Target
		subject billing.RiskSubject
		value   string
		field   string
	}{
		{riskadmin.Target{Number: "13800000001"}, billing.RiskNumber, "+8613800000001", ""},
		{riskadmin.Target{Number: "+86 138-0000-0001"}, billing.RiskNumber, "+8613800000001", ""},
		{riskadmin.Target{Prefix: "170"}, billing.RiskPrefix, "+86170", ""},
		{riskadmin.Target{Prefix: "0170"}, billing.RiskPrefix, "+86170", ""},
		{riskadmin.Target{Prefix: "86170"}, billing.RiskPrefix, "+86170", ""},
		{riskadmin.Target{Prefix: "+86170"}, billing.RiskPrefix, "+86170", ""},
		{riskadmin.Target{Prefix: "0086 170"}, billing.RiskPrefix, "+86170", ""},
		{riskadmin.Target{Prefix: "+1"}, billing.RiskPrefix, "+1", ""},
		{riskadmin.Target{Merchant: "8001"}, billing.RiskMerchant, "8001", ""},
		{riskadmin.Target{Number: "12"}, "", "", "number"},
		{riskadmin.Target{Prefix: "17a"}, "", "", "prefix"},
		{riskadmin.Target{Prefix: "+"}, "", "", "prefix"},
		{riskadmin.Target{Prefix: "1234567890123456"}, "", "", "prefix"},
		{riskadmin.Target{Merchant: "8002"}, "", "", "merchant"},
		{riskadmin.Target{Merchant: "80 01"}, "", "", "merchant"},
		{riskadmin.Target{}, "", "", "number"},
		{riskadmin.Target{Number: "13800000001", Prefix: "170"}, "", "", "number"},
	} {
		subject, value, err := op.Subject(c.in)
		var fe *riskadmin.FieldError
		switch {
		case c.field == "" && (err != nil || subject != c.subject || value != c.value):
			t.Errorf("%+v: %s %q %v, want %s %q", c.in, subject, value, err, c.subject, c.value)
		case c.field != "" && (!errors.As(err, &fe) || fe.Field != c.field || !errors.Is(err, billing.ErrBadRequest)):
			t.Errorf("%+v: %v, want an error naming %s", c.in, err, c.field)
		}
	}
}
