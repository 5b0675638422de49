package risk

import (
	"errors"
	"fmt"
	"time"

	"github.com/carrierbill/carrierbill/billing"
)

// The rules' stable names (billing.RiskFinding.Rule, risk_decisions.rule).
const (
	RuleWrongCodes       = "wrong_codes"
	RuleFastConfirmation = "fast_confirmation"
	RuleNumberVelocity   = "number_velocity"
	RuleMerchantVelocity = "merchant_velocity"
	RulePrefixVelocity   = "prefix_velocity"
	RuleMerchantBurst    = "merchant_burst"
	RuleMerchantSpend    = "merchant_spend"
	RuleFailureRate      = "failure_rate"
	RuleRefundRate       = "refund_rate"
	RuleUnusualHours     = "unusual_hours"
	RulePrepaidDrain     = "prepaid_drain"
)

// Act is what a rule does when it fires.
type Act struct {
	Enabled bool
	Action  billing.RiskAction
	// BlockFor is how long a block lasts (Action block only).
	BlockFor time.Duration
}

// WrongCodes blocks a number that sent too many wrong codes, across its
// orders, in the last hour or day.
type WrongCodes struct {
	Act
	PerHour, PerDay int // at or over: the rule fires
}

// FastConfirmation acts on a code that came sooner than a person can read
// a prompt: a fresh code while the order had fewer than FreshCodes, then
// Action (hold).
type FastConfirmation struct {
	Act
	MinDelay   time.Duration
	FreshCodes int
}

// Velocity fires on more than Max purchases in Window (counted at the
// purchase stage), judged at Stage: at the purchase stage only allow and
// block mean something, at the confirm stage hold does too.
type Velocity struct {
	Act
	Stage  billing.RiskStage
	Window time.Duration
	Max    int
	// PrefixLength (prefix_velocity only) is how many leading digits of the
	// number (without the plus, country code included) make its prefix.
	PrefixLength int
}

// Burst fires on more than MaxNumbers distinct numbers confirming with one
// merchant in Window.
type Burst struct {
	Act
	Window     time.Duration
	MaxNumbers int
}

// Spend fires when a merchant's spend this clock hour is above Factor times
// its usual (the mean of the same hour on the last Days days that had
// spend) and above Floor.
type Spend struct {
	Act
	Factor int
	Floor  billing.Money
	Days   int
}

// Rate fires when a merchant's failure (or refund) rate over Window is at
// least Factor times its usual rate (the Days days before today) and at least
// MinRise basis points above it, over at least MinCount payments. It fires
// once per merchant and Window.
type Rate struct {
	Act
	Window   time.Duration // a multiple of 10m, at most 24h
	MinCount int
	Factor   int
	MinRise  int // basis points: 2000 is 20 percentage points
	Days     int
}

// Hours fires on a payment of MinAmount or more whose local time of day
// (Options.Location) is in [From, To); From after To wraps midnight.
type Hours struct {
	Act
	From, To  time.Duration // since local midnight
	MinAmount billing.Money
}

// Drain fires when a prepaid number's payments within Window (MinPayments
// or more, MinSpend or more, this one included) spend Share basis points or
// more of the balance it had before them.
type Drain struct {
	Act
	Window      time.Duration // a multiple of 1m, at most 1h
	Share       int           // basis points: 8000 is 80%
	MinSpend    billing.Money
	MinPayments int
}

// Rules are every rule's thresholds and actions.
type Rules struct {
	WrongCodes       WrongCodes
	FastConfirmation FastConfirmation
	NumberVelocity   Velocity
	MerchantVelocity Velocity
	PrefixVelocity   Velocity
	MerchantBurst    Burst
	MerchantSpend    Spend
	FailureRate      Rate
	RefundRate       Rate
	UnusualHours     Hours
	PrepaidDrain     Drain
}

// DefaultRules are the defaults the package documentation lists. They leave
// a person alone: a few purchases a day, codes typed after reading the
// prompt, the odd wrong code.
func DefaultRules() Rules {
	on := func(a billing.RiskAction, blockFor time.Duration) Act {
		return Act{Enabled: true, Action: a, BlockFor: blockFor}
	}
	rate := Rate{Act: on(billing.RiskAllow, 0), Window: time.Hour, MinCount: 20, Factor: 3, MinRise: 2000, Days: 7}
	return Rules{
		WrongCodes:       WrongCodes{Act: on(billing.RiskBlock, 24*time.Hour), PerHour: 3, PerDay: 5},
		FastConfirmation: FastConfirmation{Act: on(billing.RiskHold, 0), MinDelay: 3 * time.Second, FreshCodes: 1},
		NumberVelocity:   Velocity{Act: on(billing.RiskBlock, time.Hour), Stage: billing.RiskPurchase, Window: time.Hour, Max: 20},
		MerchantVelocity: Velocity{Act: on(billing.RiskHold, 0), Stage: billing.RiskConfirm, Window: time.Minute, Max: 600},
		PrefixVelocity: Velocity{Act: on(billing.RiskHold, 0), Stage: billing.RiskConfirm, Window: 10 * time.Minute, Max: 200,
			PrefixLength: 9},
		MerchantBurst: Burst{Act: on(billing.RiskHold, 0), Window: time.Minute, MaxNumbers: 50},
		MerchantSpend: Spend{Act: on(billing.RiskHold, 0), Factor: 3, Floor: billing.Yuan(2000), Days: 7},
		FailureRate:   rate,
		RefundRate:    rate,
		UnusualHours:  Hours{Act: on(billing.RiskAllow, 0), From: time.Hour, To: 5 * time.Hour, MinAmount: billing.Yuan(20)},
		PrepaidDrain: Drain{Act: on(billing.RiskHold, 0), Window: 10 * time.Minute, Share: 8000, MinSpend: billing.Yuan(20),
			MinPayments: 2},
	}
}

// RuleError is one problem with one rule's setting, named as in the
// configuration file: risk.rules.<Rule>.<Field>.
type RuleError struct {
	Rule, Field, Msg string
}

func (e RuleError) Error() string { return "risk rule " + e.Rule + "." + e.Field + ": " + e.Msg }

// Problems lists every problem with r (nil: none), each naming its rule and
// field; Validate joins them. The configuration (config/risk.go) reports
// them under the file's field names.
func (r Rules) Problems() []RuleError {
	var es []RuleError
	bad := func(rule, field, format string, args ...any) {
		es = append(es, RuleError{Rule: rule, Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	act := func(rule string, a Act, allowed ...billing.RiskAction) {
		if !a.Enabled {
			return
		}
		ok := false
		for _, x := range allowed {
			ok = ok || a.Action == x
		}
		if !ok {
			bad(rule, "action", "%q: want one of %v", a.Action, allowed)
		}
		if a.Action == billing.RiskBlock && a.BlockFor < time.Minute {
			bad(rule, "block_for", "%s: want at least 1m for a block", a.BlockFor)
		}
	}
	window := func(rule string, w, unit, most time.Duration) {
		if w < unit || w > most || w%unit != 0 {
			bad(rule, "window", "%s: want a multiple of %s up to %s", w, unit, most)
		}
	}
	atLeast := func(rule, field string, v, least int) {
		if v < least {
			bad(rule, field, "%d: want at least %d", v, least)
		}
	}
	days := func(rule string, d int) {
		if d < 1 || d > 28 {
			bad(rule, "days", "%d: want 1 to 28", d)
		}
	}
	const (
		allow, hold, block = billing.RiskAllow, billing.RiskHold, billing.RiskBlock
	)

	w := r.WrongCodes
	act(RuleWrongCodes, w.Act, allow, block)
	atLeast(RuleWrongCodes, "per_hour", w.PerHour, 1)
	atLeast(RuleWrongCodes, "per_day", w.PerDay, 1)

	f := r.FastConfirmation
	act(RuleFastConfirmation, f.Act, allow, hold, block)
	if f.MinDelay <= 0 || f.MinDelay > time.Minute {
		bad(RuleFastConfirmation, "min_delay", "%s: want more than 0 and at most 1m", f.MinDelay)
	}
	atLeast(RuleFastConfirmation, "fresh_codes", f.FreshCodes, 0)

	for _, v := range []struct {
		rule string
		v    Velocity
	}{{RuleNumberVelocity, r.NumberVelocity}, {RuleMerchantVelocity, r.MerchantVelocity}, {RulePrefixVelocity, r.PrefixVelocity}} {
		switch v.v.Stage {
		case billing.RiskPurchase:
			act(v.rule, v.v.Act, allow, block) // nothing to hold before there is an order
		case billing.RiskConfirm:
			act(v.rule, v.v.Act, allow, hold, block)
		default:
			bad(v.rule, "stage", "%q: want purchase or confirm", v.v.Stage)
		}
		window(v.rule, v.v.Window, 6*time.Second, 24*time.Hour)
		atLeast(v.rule, "max", v.v.Max, 1)
	}
	if n := r.PrefixVelocity.PrefixLength; n < 3 || n > 14 {
		bad(RulePrefixVelocity, "digits", "a prefix of %d digits with the country code: want 3 to 14", n)
	}

	b := r.MerchantBurst
	act(RuleMerchantBurst, b.Act, allow, hold, block)
	window(RuleMerchantBurst, b.Window, 6*time.Second, time.Hour)
	atLeast(RuleMerchantBurst, "max_numbers", b.MaxNumbers, 1)

	s := r.MerchantSpend
	act(RuleMerchantSpend, s.Act, allow, hold, block)
	atLeast(RuleMerchantSpend, "factor", s.Factor, 1)
	days(RuleMerchantSpend, s.Days)
	if s.Floor < 0 {
		bad(RuleMerchantSpend, "floor", "%s: want 0 or more", s.Floor)
	}

	for _, x := range []struct {
		rule string
		r    Rate
	}{{RuleFailureRate, r.FailureRate}, {RuleRefundRate, r.RefundRate}} {
		act(x.rule, x.r.Act, allow, hold, block)
		window(x.rule, x.r.Window, outcomeSlot, 24*time.Hour)
		atLeast(x.rule, "min_count", x.r.MinCount, 1)
		atLeast(x.rule, "factor", x.r.Factor, 1)
		if x.r.MinRise < 0 || x.r.MinRise > 10000 {
			bad(x.rule, "min_rise", "%s: want 0%% to 100%%", percent(int64(x.r.MinRise)))
		}
		days(x.rule, x.r.Days)
	}

	h := r.UnusualHours
	act(RuleUnusualHours, h.Act, allow, hold, block)
	for _, t := range []struct {
		field string
		d     time.Duration
	}{{"from", h.From}, {"to", h.To}} {
		if t.d < 0 || t.d >= 24*time.Hour {
			bad(RuleUnusualHours, t.field, "%s: want a time of day from 00:00 to 23:59", t.d)
		}
	}
	if h.MinAmount < 0 {
		bad(RuleUnusualHours, "min_amount", "%s: want 0 or more", h.MinAmount)
	}

	d := r.PrepaidDrain
	act(RulePrepaidDrain, d.Act, allow, hold, block)
	window(RulePrepaidDrain, d.Window, drainSlot, time.Hour)
	if d.Share < 1 || d.Share > 10000 {
		bad(RulePrepaidDrain, "share", "%s: want more than 0%% and at most 100%%", percent(int64(d.Share)))
	}
	atLeast(RulePrepaidDrain, "min_payments", d.MinPayments, 1)
	if d.MinSpend < 0 {
		bad(RulePrepaidDrain, "min_spend", "%s: want 0 or more", d.MinSpend)
	}
	return es
}

// Validate reports every problem with r (New refuses rules that have one).
func (r Rules) Validate() error {
	var errs []error
	for _, e := range r.Problems() {
		errs = append(errs, e)
	}
	return errors.Join(errs...)
}
