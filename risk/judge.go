package risk

import (
	"context"
	"fmt"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/redact"
)

// enabledPlans lists the enabled rules, in the order of their findings.
func (r *Risk) enabledPlans() []plan {
	rs := r.rules
	var ps []plan
	add := func(on bool, p plan) {
		if on {
			ps = append(ps, p)
		}
	}
	add(rs.WrongCodes.Enabled, r.wrongCodes)
	add(rs.FastConfirmation.Enabled, r.fastConfirmation)
	add(rs.NumberVelocity.Enabled, r.velocity(RuleNumberVelocity, rs.NumberVelocity, r.numberBuys, func(c *check) (string, string, billing.RiskSubject, string) {
		return c.number, redact.Phone(c.MSISDN), "", ""
	}))
	add(rs.MerchantVelocity.Enabled, r.velocity(RuleMerchantVelocity, rs.MerchantVelocity, r.merchantBuys, func(c *check) (string, string, billing.RiskSubject, string) {
		return c.Merchant, "merchant " + c.Merchant, billing.RiskMerchant, c.Merchant
	}))
	add(rs.PrefixVelocity.Enabled, r.velocity(RulePrefixVelocity, rs.PrefixVelocity, r.prefixBuy, func(c *check) (string, string, billing.RiskSubject, string) {
		p := r.prefixOf(c.MSISDN)
		return c.prefix, "prefix " + maskPrefix(p), billing.RiskPrefix, p
	}))
	add(rs.MerchantBurst.Enabled, r.merchantBurst)
	add(rs.MerchantSpend.Enabled, r.merchantSpend)
	add(rs.FailureRate.Enabled, r.rate(RuleFailureRate, rs.FailureRate, outFailed))
	add(rs.RefundRate.Enabled, r.rate(RuleRefundRate, rs.RefundRate, outRefunded))
	add(rs.UnusualHours.Enabled, r.unusualHours)
	add(rs.PrepaidDrain.Enabled && r.balances != nil, r.prepaidDrain)
	return ps
}

// finding is a's finding of rule with the evidence of format.
func finding(rule string, a Act, format string, args ...any) *billing.RiskFinding {
	return &billing.RiskFinding{Rule: rule, Action: a.Action, Evidence: fmt.Sprintf(format, args...), BlockFor: a.BlockFor}
}

// merchantRule reports whether the merchant rules judge c: a confirmation
// with a merchant, not a renewal (renewals come in nightly batches by
// design and were agreed to once).
func merchantRule(c *check) bool {
	return c.Stage == billing.RiskConfirm && c.Merchant != "" && c.Channel != billing.ChannelSubscription
}

// wrongCodes (both stages): the number's wrong codes in the last hour and
// day, as Learn counted them.
func (r *Risk) wrongCodes(ctx context.Context, p goredis.Pipeliner, c *check) judge {
	hour, day := r.sum(ctx, p, r.wcHour, c.number, c.At), r.sum(ctx, p, r.wcDay, c.number, c.At)
	w := r.rules.WrongCodes
	return func(context.Context) (*billing.RiskFinding, error) {
		h, err := total(hour)
		if err != nil {
			return nil, err
		}
		d, err := total(day)
		if err != nil {
			return nil, err
		}
		switch {
		case h >= int64(w.PerHour):
			return finding(RuleWrongCodes, w.Act, "%d wrong codes from %s in the last hour (limit %d)", h, redact.Phone(c.MSISDN), w.PerHour), nil
		case d >= int64(w.PerDay):
			return finding(RuleWrongCodes, w.Act, "%d wrong codes from %s in the last day (limit %d)", d, redact.Phone(c.MSISDN), w.PerDay), nil
		}
		return nil, nil
	}
}

// fastConfirmation (confirm, by code): the time from the prompt to the code.
func (r *Risk) fastConfirmation(_ context.Context, _ goredis.Pipeliner, c *check) judge {
	f := r.rules.FastConfirmation
	if c.Stage != billing.RiskConfirm || !c.ByCode || c.PromptedAt.IsZero() {
		return nil
	}
	delay := c.At.Sub(c.PromptedAt)
	if delay >= f.MinDelay {
		return nil
	}
	return func(context.Context) (*billing.RiskFinding, error) {
		fd := finding(RuleFastConfirmation, f.Act, "the code came %s after its prompt (at least %s for a person to read it); fresh codes before: %d",
			delay.Round(time.Millisecond), f.MinDelay, c.FreshCodes)
		if c.FreshCodes < f.FreshCodes {
			fd.Action, fd.BlockFor = billing.RiskFreshCode, 0
		}
		return fd, nil
	}
}

// velocity counts purchases of a subject at the purchase stage and judges
// them at v.Stage. subject returns the key subject, how evidence names it,
// and what a block lists (Subject "" is the check's number).
func (r *Risk) velocity(rule string, v Velocity, w window, subject func(*check) (key, shown string, s billing.RiskSubject, value string)) plan {
	return func(ctx context.Context, p goredis.Pipeliner, c *check) judge {
		key, shown, s, value := subject(c)
		if key == "" {
			return nil
		}
		var n func() (int64, error)
		switch {
		case c.Stage == billing.RiskPurchase && v.Stage == billing.RiskPurchase:
			n = r.count(ctx, p, w, key, c.At, 1).total
		case c.Stage == billing.RiskPurchase:
			r.add(ctx, p, w, key, c.At, 1)
			return nil
		case v.Stage == billing.RiskConfirm:
			sum := r.sum(ctx, p, w, key, c.At)
			n = func() (int64, error) { return total(sum) }
		default:
			return nil
		}
		return func(context.Context) (*billing.RiskFinding, error) {
			n, err := n()
			if err != nil || n <= int64(v.Max) {
				return nil, err
			}
			f := finding(rule, v.Act, "%d purchases from %s within %s (at most %d)", n, shown, v.Window, v.Max)
			f.Subject, f.Value = s, value
			return f, nil
		}
	}
}

// merchantBurst (confirm): distinct numbers confirming with the merchant.
func (r *Risk) merchantBurst(ctx context.Context, p goredis.Pipeliner, c *check) judge {
	if !merchantRule(c) {
		return nil
	}
	b := r.rules.MerchantBurst
	count := r.distinct(ctx, p, r.burst, c.Merchant, c.number, c.At)
	return func(context.Context) (*billing.RiskFinding, error) {
		n, err := count.Result()
		if err != nil || n <= int64(b.MaxNumbers) {
			return nil, err
		}
		f := finding(RuleMerchantBurst, b.Act, "about %d numbers confirmed with merchant %s within %s (at most %d)", n, c.Merchant, b.Window, b.MaxNumbers)
		f.Subject, f.Value = billing.RiskMerchant, c.Merchant
		return f, nil
	}
}

// merchantSpend (confirm): the merchant's spend this clock hour, this
// payment included, against the same hour on the last Days days.
func (r *Risk) merchantSpend(ctx context.Context, p goredis.Pipeliner, c *check) judge {
	if !merchantRule(c) || c.Amount <= 0 {
		return nil
	}
	s := r.rules.MerchantSpend
	idx := r.spend.index(c.At)
	cur := r.key(r.spend, c.Merchant, idx)
	now := p.IncrBy(ctx, cur, int64(c.Amount))
	p.Expire(ctx, cur, r.spend.ttl())
	past := make([]string, s.Days)
	for d := range past {
		past[d] = r.key(r.spend, c.Merchant, idx-int64(24*(d+1)))
	}
	history := p.MGet(ctx, past...)
	return func(context.Context) (*billing.RiskFinding, error) {
		spent, err := now.Result()
		if err != nil {
			return nil, err
		}
		counts, present, err := each(history)
		if err != nil {
			return nil, err
		}
		var sum, days int64
		for i := range counts {
			if present[i] {
				sum, days = sum+counts[i], days+1
			}
		}
		var usual int64
		if days > 0 {
			usual = sum / days
		}
		if spent <= int64(s.Floor) || spent <= int64(s.Factor)*usual {
			return nil, nil
		}
		f := finding(RuleMerchantSpend, s.Act, "merchant %s took %s this hour; usual %s (mean of %d of the last %d days), hold above %d× that and above %s",
			c.Merchant, billing.Money(spent), billing.Money(usual), days, s.Days, s.Factor, s.Floor)
		f.Subject, f.Value = billing.RiskMerchant, c.Merchant
		return f, nil
	}
}

// The kinds of merchant outcomes Learn counts.
const (
	outCharged  = "c"
	outFailed   = "f"
	outRefunded = "r"
)

// outcomes is the window of w's width and slots counting kind.
func (r *Risk) outcomes(w window, kind string) window {
	w.name = "o" + strconv.FormatInt(int64(w.width/time.Minute), 10) + "m_" + kind
	return w
}

// rate (confirm): the merchant's failures (or refunds) against its charges
// in the recent window and over the usual days; it fires once per merchant
// and window (a flag key taken with SET NX, one more round trip then).
func (r *Risk) rate(rule string, x Rate, kind string) plan {
	recent := window{width: outcomeSlot, slots: int(x.Window / outcomeSlot)}
	usual := window{width: daySlot, slots: x.Days}
	return func(ctx context.Context, p goredis.Pipeliner, c *check) judge {
		if c.Stage != billing.RiskConfirm || c.Merchant == "" {
			return nil
		}
		rc, rk := r.sum(ctx, p, r.outcomes(recent, outCharged), c.Merchant, c.At), r.sum(ctx, p, r.outcomes(recent, kind), c.Merchant, c.At)
		before := c.At.Add(-daySlot) // the usual: the Days days before today
		uc, uk := r.sum(ctx, p, r.outcomes(usual, outCharged), c.Merchant, before), r.sum(ctx, p, r.outcomes(usual, kind), c.Merchant, before)
		return func(ctx context.Context) (*billing.RiskFinding, error) {
			var n [4]int64
			for i, cmd := range []*goredis.SliceCmd{rc, rk, uc, uk} {
				var err error
				if n[i], err = total(cmd); err != nil {
					return nil, err
				}
			}
			nowBP, usualBP, count := rateBP(kind, n[0], n[1]), rateBP(kind, n[2], n[3]), n[0]
			if kind == outFailed {
				count += n[1]
			}
			if count < int64(x.MinCount) || nowBP < usualBP+int64(x.MinRise) || nowBP < int64(x.Factor)*usualBP {
				return nil, nil
			}
			flag := r.prefix + "{flag:" + rule + ":" + c.Merchant + "}:" + strconv.FormatInt(c.At.UnixNano()/int64(x.Window), 10)
			first, err := r.client.SetNX(ctx, flag, 1, 2*x.Window+time.Hour).Result()
			if err != nil || !first {
				return nil, err
			}
			what := "failure"
			if kind == outRefunded {
				what = "refund"
			}
			f := finding(rule, x.Act, "merchant %s: %s rate %s over %d payments in the last %s, usual %s (the last %d days)",
				c.Merchant, what, percent(nowBP), count, x.Window, percent(usualBP), x.Days)
			f.Subject, f.Value = billing.RiskMerchant, c.Merchant
			return f, nil
		}
	}
}

// rateBP is the failure rate failed/(charged+failed) or the refund rate
// refunded/charged, in basis points (0 with nothing to divide by).
func rateBP(kind string, charged, other int64) int64 {
	den := charged
	if kind == outFailed {
		den += other
	}
	if den == 0 {
		return 0
	}
	return other * 10000 / den
}

func percent(bp int64) string { return fmt.Sprintf("%d.%02d%%", bp/100, bp%100) }

// unusualHours (confirm): a payment of MinAmount or more at a local time
// of day in [From, To).
func (r *Risk) unusualHours(_ context.Context, _ goredis.Pipeliner, c *check) judge {
	h := r.rules.UnusualHours
	if !merchantRule(c) || c.Amount < h.MinAmount || h.From == h.To {
		return nil
	}
	local := c.At.In(r.loc)
	tod := time.Duration(local.Hour())*time.Hour + time.Duration(local.Minute())*time.Minute + time.Duration(local.Second())*time.Second
	in := tod >= h.From && tod < h.To
	if h.From > h.To {
		in = tod >= h.From || tod < h.To
	}
	if !in {
		return nil
	}
	return func(context.Context) (*billing.RiskFinding, error) {
		return finding(RuleUnusualHours, h.Act, "%s with merchant %s at %s, within the unusual hours %s to %s",
			c.Amount, c.Merchant, local.Format("15:04"), clockTime(h.From), clockTime(h.To)), nil
	}
}

func clockTime(d time.Duration) string {
	return fmt.Sprintf("%02d:%02d", int(d/time.Hour), int(d%time.Hour/time.Minute))
}

// prepaidDrain (confirm, phone account): the number's charges within the
// window, this payment included, against the balance it had before them.
// The balance is read only when the spend and the count could fire.
func (r *Risk) prepaidDrain(ctx context.Context, p goredis.Pipeliner, c *check) judge {
	d := r.rules.PrepaidDrain
	if c.Stage != billing.RiskConfirm || c.Method != billing.MethodPhone || c.Amount <= 0 {
		return nil
	}
	spentCmd, countCmd := r.sum(ctx, p, r.drainSpend, c.number, c.At), r.sum(ctx, p, r.drainCount, c.number, c.At)
	return func(ctx context.Context) (*billing.RiskFinding, error) {
		spent, err := total(spentCmd)
		if err != nil {
			return nil, err
		}
		n, err := total(countCmd)
		if err != nil {
			return nil, err
		}
		all := billing.Money(spent) + c.Amount
		if n+1 < int64(d.MinPayments) || all < d.MinSpend {
			return nil, nil
		}
		balance, ok, err := r.balances.Balance(ctx, c.MSISDN)
		if err != nil {
			return nil, fmt.Errorf("reading the prepaid balance: %w", err)
		}
		if !ok || c.Amount > balance { // a payment above the balance is declined anyway
			return nil, nil
		}
		before := balance + billing.Money(spent)
		if int64(all)*10000 < int64(d.Share)*int64(before) {
			return nil, nil
		}
		return finding(RulePrepaidDrain, d.Act, "%s would spend %s in %d payments within %s of a prepaid balance of %s (%s or more)",
			redact.Phone(c.MSISDN), all, n+1, d.Window, before, percent(int64(d.Share))), nil
	}
}

// maskPrefix shows a prefix's first five digits (the country and the
// network) and stars for the rest.
func maskPrefix(p string) string {
	b := []byte(p)
	shown := 0
	for i, ch := range b {
		if ch < '0' || ch > '9' {
			continue
		}
		if shown++; shown > 5 {
			b[i] = '*'
		}
	}
	return string(b)
}
