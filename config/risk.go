package config

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/risk"
)

// Risk configures the risk rules asked on every purchase and confirmation
// (issue 15, package risk): their counters in Redis (redis.url, or the
// in-process one) under KeyPrefix, every rule's thresholds and action, and
// the operator's alerts and daily report. Every default is package risk's
// (risk.DefaultRules; its documentation lists them).
type Risk struct {
	// Enabled switches the rules on (default true). Off, the engine checks
	// the block and allow lists only.
	Enabled *bool `yaml:"enabled"`
	// KeyPrefix is in front of every counter's key; default redis.prefix
	// followed by "risk:".
	KeyPrefix string `yaml:"key_prefix"`
	// AlertWebhook receives the operator's alerts, signed with AlertSecret
	// (an https URL; empty: no webhook).
	AlertWebhook string `yaml:"alert_webhook"`
	// AlertSecret signs the alerts; $CARRIERBILL_RISK_ALERT_SECRET
	// overrides it (keep it out of the file). At least 16 bytes; needed
	// with AlertWebhook.
	AlertSecret string `yaml:"alert_secret"`
	// ReportSchedule is the cron spec (operator's zone) of the daily risk
	// report on the day before. Default "20 3 * * *".
	ReportSchedule string `yaml:"report_schedule"`
	// HoldExpiry is how long a held payment waits for an operator before
	// the gateway refuses it and tells the subscriber (default 24h, at
	// least a minute).
	HoldExpiry Duration  `yaml:"hold_expiry"`
	Rules      RiskRules `yaml:"rules"`
}

// EnvRiskAlertSecret overrides risk.alert_secret.
const EnvRiskAlertSecret = "CARRIERBILL_RISK_ALERT_SECRET"

// RiskAct is what a rule does when it fires.
type RiskAct struct {
	Enabled  *bool    `yaml:"enabled"`   // default true
	Action   string   `yaml:"action"`    // allow (a finding and an alert), fresh_code, hold or block
	BlockFor Duration `yaml:"block_for"` // how long a block lasts
}

// RiskRules are the rules' settings; a field left out takes the default.
type RiskRules struct {
	WrongCodes struct {
		RiskAct `yaml:",inline"`
		PerHour int `yaml:"per_hour"`
		PerDay  int `yaml:"per_day"`
	} `yaml:"wrong_codes"`
	FastConfirmation struct {
		RiskAct    `yaml:",inline"`
		MinDelay   Duration `yaml:"min_delay"`
		FreshCodes *int     `yaml:"fresh_codes"`
	} `yaml:"fast_confirmation"`
	NumberVelocity   RiskVelocity `yaml:"number_velocity"`
	MerchantVelocity RiskVelocity `yaml:"merchant_velocity"`
	PrefixVelocity   struct {
		RiskVelocity `yaml:",inline"`
		// Digits of the prefix after the country code (numbering.country_code).
		Digits int `yaml:"digits"`
	} `yaml:"prefix_velocity"`
	MerchantBurst struct {
		RiskAct    `yaml:",inline"`
		Window     Duration `yaml:"window"`
		MaxNumbers int      `yaml:"max_numbers"`
	} `yaml:"merchant_burst"`
	MerchantSpend struct {
		RiskAct `yaml:",inline"`
		Factor  int  `yaml:"factor"`
		Floor   Yuan `yaml:"floor"`
		Days    int  `yaml:"days"`
	} `yaml:"merchant_spend"`
	FailureRate  RiskRate `yaml:"failure_rate"`
	RefundRate   RiskRate `yaml:"refund_rate"`
	UnusualHours struct {
		RiskAct   `yaml:",inline"`
		From      string `yaml:"from"` // local time of day, "01:00"
		To        string `yaml:"to"`
		MinAmount Yuan   `yaml:"min_amount"`
	} `yaml:"unusual_hours"`
	PrepaidDrain struct {
		RiskAct     `yaml:",inline"`
		Window      Duration `yaml:"window"`
		Share       Percent  `yaml:"share"`
		MinSpend    Yuan     `yaml:"min_spend"`
		MinPayments int      `yaml:"min_payments"`
	} `yaml:"prepaid_drain"`
}

// RiskVelocity is a velocity rule: more than Max purchases in Window,
// judged at Stage (purchase: allow or block; confirm: hold too).
type RiskVelocity struct {
	RiskAct `yaml:",inline"`
	Stage   string   `yaml:"stage"`
	Window  Duration `yaml:"window"`
	Max     int      `yaml:"max"`
}

// RiskRate is a merchant's failure or refund rate rule.
type RiskRate struct {
	RiskAct  `yaml:",inline"`
	Window   Duration `yaml:"window"`
	MinCount int      `yaml:"min_count"`
	Factor   int      `yaml:"factor"`
	MinRise  *Percent `yaml:"min_rise"`
	Days     int      `yaml:"days"`
}

// defaultPrefixDigits is prefix_velocity's default: 7 digits after the
// country code (a block of 10,000 numbers of one network and area).
const defaultPrefixDigits = 7

// RiskEnabled reports whether the risk rules are on.
func (c *Config) RiskEnabled() bool { return c.Risk.Enabled == nil || *c.Risk.Enabled }

func (c *Config) applyRiskEnv(get func(string) string) {
	if v := get(EnvRiskAlertSecret); v != "" {
		c.Risk.AlertSecret = v
		c.fromEnv["risk.alert_secret"] = EnvRiskAlertSecret
	}
}

func (c *Config) applyRiskDefaults() {
	r := &c.Risk
	if r.Enabled == nil {
		on := true
		r.Enabled = &on
	}
	if r.KeyPrefix == "" {
		r.KeyPrefix = c.Redis.Prefix + "risk:"
	}
	if r.ReportSchedule == "" {
		r.ReportSchedule = "20 3 * * *"
	}
	if r.HoldExpiry == 0 {
		r.HoldExpiry = Duration(24 * time.Hour)
	}
	d, x := risk.DefaultRules(), &r.Rules
	x.WrongCodes.def(d.WrongCodes.Act)
	defInt(&x.WrongCodes.PerHour, d.WrongCodes.PerHour)
	defInt(&x.WrongCodes.PerDay, d.WrongCodes.PerDay)
	x.FastConfirmation.def(d.FastConfirmation.Act)
	defDuration(&x.FastConfirmation.MinDelay, d.FastConfirmation.MinDelay)
	if x.FastConfirmation.FreshCodes == nil {
		n := d.FastConfirmation.FreshCodes
		x.FastConfirmation.FreshCodes = &n
	}
	x.NumberVelocity.def(d.NumberVelocity)
	x.MerchantVelocity.def(d.MerchantVelocity)
	x.PrefixVelocity.def(d.PrefixVelocity)
	defInt(&x.PrefixVelocity.Digits, defaultPrefixDigits)
	x.MerchantBurst.def(d.MerchantBurst.Act)
	defDuration(&x.MerchantBurst.Window, d.MerchantBurst.Window)
	defInt(&x.MerchantBurst.MaxNumbers, d.MerchantBurst.MaxNumbers)
	x.MerchantSpend.def(d.MerchantSpend.Act)
	defInt(&x.MerchantSpend.Factor, d.MerchantSpend.Factor)
	defYuan(&x.MerchantSpend.Floor, d.MerchantSpend.Floor)
	defInt(&x.MerchantSpend.Days, d.MerchantSpend.Days)
	x.FailureRate.def(d.FailureRate)
	x.RefundRate.def(d.RefundRate)
	x.UnusualHours.def(d.UnusualHours.Act)
	if x.UnusualHours.From == "" {
		x.UnusualHours.From = clockOf(d.UnusualHours.From)
	}
	if x.UnusualHours.To == "" {
		x.UnusualHours.To = clockOf(d.UnusualHours.To)
	}
	defYuan(&x.UnusualHours.MinAmount, d.UnusualHours.MinAmount)
	x.PrepaidDrain.def(d.PrepaidDrain.Act)
	defDuration(&x.PrepaidDrain.Window, d.PrepaidDrain.Window)
	if x.PrepaidDrain.Share.BasisPoints == 0 {
		x.PrepaidDrain.Share.BasisPoints = int64(d.PrepaidDrain.Share)
	}
	defYuan(&x.PrepaidDrain.MinSpend, d.PrepaidDrain.MinSpend)
	defInt(&x.PrepaidDrain.MinPayments, d.PrepaidDrain.MinPayments)
}

func (a *RiskAct) def(d risk.Act) {
	if a.Enabled == nil {
		on := d.Enabled
		a.Enabled = &on
	}
	if a.Action == "" {
		a.Action = string(d.Action)
	}
	if a.BlockFor == 0 {
		a.BlockFor = Duration(d.BlockFor)
	}
}

func (a RiskAct) act() risk.Act {
	return risk.Act{Enabled: *a.Enabled, Action: billing.RiskAction(a.Action), BlockFor: a.BlockFor.D()}
}

func (v *RiskVelocity) def(d risk.Velocity) {
	v.RiskAct.def(d.Act)
	if v.Stage == "" {
		v.Stage = string(d.Stage)
	}
	defDuration(&v.Window, d.Window)
	defInt(&v.Max, d.Max)
}

func (v RiskVelocity) velocity() risk.Velocity {
	return risk.Velocity{Act: v.act(), Stage: billing.RiskStage(v.Stage), Window: v.Window.D(), Max: v.Max}
}

func (r *RiskRate) def(d risk.Rate) {
	r.RiskAct.def(d.Act)
	defDuration(&r.Window, d.Window)
	defInt(&r.MinCount, d.MinCount)
	defInt(&r.Factor, d.Factor)
	if r.MinRise == nil {
		r.MinRise = &Percent{BasisPoints: int64(d.MinRise)}
	}
	defInt(&r.Days, d.Days)
}

func (r RiskRate) rate() risk.Rate {
	return risk.Rate{Act: r.act(), Window: r.Window.D(), MinCount: r.MinCount, Factor: r.Factor, MinRise: int(r.MinRise.BasisPoints), Days: r.Days}
}

func defInt(p *int, v int) {
	if *p == 0 {
		*p = v
	}
}

func defDuration(p *Duration, v time.Duration) {
	if *p == 0 {
		*p = Duration(v)
	}
}

func defYuan(p *Yuan, v billing.Money) {
	if !p.set {
		*p = yuan(int64(v))
	}
}

// clockOf writes a time of day as "01:00".
func clockOf(d time.Duration) string {
	return fmt.Sprintf("%02d:%02d", int(d/time.Hour), int(d%time.Hour/time.Minute))
}

// timeOfDay reads "01:00" (or "1:00") as the time since midnight.
func timeOfDay(s string) (time.Duration, error) {
	t, err := time.Parse("15:04", strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("%q is not a time of day like 01:00", s)
	}
	return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute, nil
}

// RiskRules is the risk section as package risk's rules. Validate has
// checked it.
func (c *Config) RiskRules() risk.Rules {
	x := c.Risk.Rules
	from, _ := timeOfDay(x.UnusualHours.From)
	to, _ := timeOfDay(x.UnusualHours.To)
	prefix := x.PrefixVelocity.velocity()
	prefix.PrefixLength = len(c.Numbering.CountryCode) + x.PrefixVelocity.Digits
	return risk.Rules{
		WrongCodes:       risk.WrongCodes{Act: x.WrongCodes.act(), PerHour: x.WrongCodes.PerHour, PerDay: x.WrongCodes.PerDay},
		FastConfirmation: risk.FastConfirmation{Act: x.FastConfirmation.act(), MinDelay: x.FastConfirmation.MinDelay.D(), FreshCodes: *x.FastConfirmation.FreshCodes},
		NumberVelocity:   x.NumberVelocity.velocity(),
		MerchantVelocity: x.MerchantVelocity.velocity(),
		PrefixVelocity:   prefix,
		MerchantBurst:    risk.Burst{Act: x.MerchantBurst.act(), Window: x.MerchantBurst.Window.D(), MaxNumbers: x.MerchantBurst.MaxNumbers},
		MerchantSpend: risk.Spend{Act: x.MerchantSpend.act(), Factor: x.MerchantSpend.Factor, Floor: x.MerchantSpend.Floor.Money,
			Days: x.MerchantSpend.Days},
		FailureRate:  x.FailureRate.rate(),
		RefundRate:   x.RefundRate.rate(),
		UnusualHours: risk.Hours{Act: x.UnusualHours.act(), From: from, To: to, MinAmount: x.UnusualHours.MinAmount.Money},
		PrepaidDrain: risk.Drain{Act: x.PrepaidDrain.act(), Window: x.PrepaidDrain.Window.D(), Share: int(x.PrepaidDrain.Share.BasisPoints),
			MinSpend: x.PrepaidDrain.MinSpend.Money, MinPayments: x.PrepaidDrain.MinPayments},
	}
}

// checkRisk checks the risk section: the rules (package risk's checks,
// under the file's field names), the alert webhook and secret, the report
// schedule.
func (c *Config) checkRisk(p *problems) {
	r := c.Risk
	for _, f := range []struct {
		field, v string
	}{{"risk.rules.unusual_hours.from", r.Rules.UnusualHours.From}, {"risk.rules.unusual_hours.to", r.Rules.UnusualHours.To}} {
		if _, err := timeOfDay(f.v); err != nil {
			p.add(f.field, "%v", err)
		}
	}
	if d := r.Rules.PrefixVelocity.Digits; d < 1 || d > 12 {
		p.add("risk.rules.prefix_velocity.digits", "%d: want 1 to 12 digits after the country code", d)
	}
	for _, e := range c.RiskRules().Problems() {
		if e.Rule == risk.RulePrefixVelocity && e.Field == "digits" {
			continue // checked above, as the file says it
		}
		p.add("risk.rules."+e.Rule+"."+e.Field, "%s", e.Msg)
	}
	if r.AlertWebhook != "" {
		u, err := url.Parse(r.AlertWebhook)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			p.add("risk.alert_webhook", "want an https:// URL (or leave it empty for no webhook)")
		}
		if r.AlertSecret == "" {
			p.add("risk.alert_secret", "needed with risk.alert_webhook: set $%s (16 bytes or more)", EnvRiskAlertSecret)
		}
	}
	if n := len(r.AlertSecret); n > 0 && n < 16 {
		p.add("risk.alert_secret", "%d bytes: want at least 16", n)
	}
	if r.HoldExpiry < Duration(time.Minute) {
		p.add("risk.hold_expiry", "%s: want at least 1m (a held payment waits that long for an operator)", r.HoldExpiry.D())
	}
	if _, err := cron.ParseStandard(r.ReportSchedule); err != nil {
		p.add("risk.report_schedule", "%q is not a cron spec (minute hour day month weekday): %v", r.ReportSchedule, err)
	}
	if strings.TrimSpace(r.KeyPrefix) != r.KeyPrefix {
		p.add("risk.key_prefix", "%q: no spaces around it", r.KeyPrefix)
	}
}
