package config

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/carrierbill/carrierbill/risk"
)

func TestRiskDefaultsArePackageRisks(t *testing.T) {
	t.Parallel()
	c, err := Parse(nil, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if !c.RiskEnabled() || c.Risk.KeyPrefix != "carrierbill:risk:" || c.Risk.ReportSchedule != "20 3 * * *" {
		t.Fatalf("risk section defaults: %+v", c.Risk)
	}
	if got, want := c.RiskRules(), risk.DefaultRules(); !reflect.DeepEqual(got, want) {
		t.Fatalf("defaulted rules\n got %+v\nwant %+v", got, want)
	}
}

func TestRiskSettings(t *testing.T) {
	t.Parallel()
	c, err := Parse([]byte(`
numbering: {country_code: "44", national_length: 10}
risk:
  rules:
    fast_confirmation: {min_delay: 5s, fresh_codes: 0}
    prefix_velocity: {digits: 5, stage: purchase, action: block, block_for: 2h}
    unusual_hours: {from: "23:30", to: "04:00", min_amount: 5}
    refund_rate: {min_rise: 0%, enabled: false}
    prepaid_drain: {share: 90%}
`), func(name string) (string, bool) {
		if name == EnvRiskAlertSecret {
			return "0123456789abcdef", true
		}
		return "", false
	})
	if err != nil {
		t.Fatal(err)
	}
	r := c.RiskRules()
	switch {
	case r.FastConfirmation.MinDelay != 5*time.Second || r.FastConfirmation.FreshCodes != 0:
		t.Errorf("fast_confirmation %+v", r.FastConfirmation)
	case r.PrefixVelocity.PrefixLength != 7 || r.PrefixVelocity.Action != "block" || r.PrefixVelocity.BlockFor != 2*time.Hour:
		t.Errorf("prefix_velocity %+v", r.PrefixVelocity)
	case r.UnusualHours.From != 23*time.Hour+30*time.Minute || r.UnusualHours.To != 4*time.Hour || r.UnusualHours.MinAmount != 500:
		t.Errorf("unusual_hours %+v", r.UnusualHours)
	case r.RefundRate.Enabled || r.RefundRate.MinRise != 0 || !r.FailureRate.Enabled:
		t.Errorf("rates %+v %+v", r.RefundRate, r.FailureRate)
	case r.PrepaidDrain.Share != 9000:
		t.Errorf("prepaid_drain %+v", r.PrepaidDrain)
	case c.Risk.AlertSecret != "0123456789abcdef":
		t.Errorf("alert secret not from the environment")
	case c.Risk.HoldExpiry.D() != 24*time.Hour:
		t.Errorf("hold_expiry %s, want the default 24h", c.Risk.HoldExpiry.D())
	}
}

func TestRiskErrorsNameTheField(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ doc, want string }{
		{"risk: {rules: {fast_confirmation: {min_delay: 2m}}}", "risk.rules.fast_confirmation.min_delay: 2m0s: want more than 0 and at most 1m"},
		{"risk: {rules: {number_velocity: {action: hold}}}", "risk.rules.number_velocity.action:"},
		{"risk: {rules: {merchant_velocity: {stage: later}}}", "risk.rules.merchant_velocity.stage:"},
		{"risk: {rules: {wrong_codes: {per_hour: -1}}}", "risk.rules.wrong_codes.per_hour:"},
		{"risk: {rules: {failure_rate: {window: 15m}}}", "risk.rules.failure_rate.window:"},
		{"risk: {rules: {unusual_hours: {from: 25:00}}}", "risk.rules.unusual_hours.from:"},
		{"risk: {rules: {prefix_velocity: {digits: 13}}}", "risk.rules.prefix_velocity.digits:"},
		{"risk: {rules: {prepaid_drain: {window: 2h}}}", "risk.rules.prepaid_drain.window:"},
		{"risk: {rules: {merchant_spend: {days: 30}}}", "risk.rules.merchant_spend.days:"},
		{"risk: {rules: {wrong_codes: {block_for: 10s}}}", "risk.rules.wrong_codes.block_for:"},
		{"risk: {alert_webhook: http://example.com/hook, alert_secret: 0123456789abcdef}", "risk.alert_webhook: want an https:// URL"},
		{"risk: {alert_webhook: https://example.com/hook}", "risk.alert_secret: needed with risk.alert_webhook"},
		{"risk: {alert_secret: short}", "risk.alert_secret: 5 bytes"},
		{"risk: {report_schedule: nightly}", "risk.report_schedule:"},
		{"risk: {hold_expiry: 30s}", "risk.hold_expiry: 30s: want at least 1m"},
		{"risk: {rules: {burst: {}}}", "risk.rules.burst"},
	} {
		_, err := Parse([]byte(tc.doc), noEnv)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.doc, err, tc.want)
		}
	}
}
