package risk

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"

	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/clock"
	"github.com/carrierbill/carrierbill/internal/dbtest"
)

// backend opens a Risk on one kind of Redis with its own key prefix.
type backend struct {
	name string
	open func(t testing.TB, o Options) *Risk
}

var backends = []backend{
	{"redis", func(t testing.TB, o Options) *Risk {
		t.Helper()
		_, prefix := dbtest.Redis(t)
		o.KeyPrefix = prefix
		return mustOpen(t, dbtest.RedisURL(), o)
	}},
	{"miniredis", func(t testing.TB, o Options) *Risk {
		t.Helper()
		srv := miniredis.NewMiniRedis()
		if err := srv.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(srv.Close)
		o.KeyPrefix = "test:risk:"
		return mustOpen(t, "redis://"+srv.Addr(), o)
	}},
}

func mustOpen(t testing.TB, url string, o Options) *Risk {
	t.Helper()
	if o.Timeout == 0 {
		o.Timeout = 5 * time.Second // -race on a shared machine
	}
	r, err := Open(url, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// start is a Wednesday 10:00 in Shanghai, away from the unusual hours.
var start = time.Date(2026, 3, 4, 10, 0, 0, 0, shanghai)

var shanghai = func() *time.Location {
	l, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		panic(err)
	}
	return l
}()

// only returns the default rules with every rule off but the ones named,
// after change tuned them.
func only(change func(*Rules), names ...string) Rules {
	rs := DefaultRules()
	acts := map[string]*Act{
		RuleWrongCodes: &rs.WrongCodes.Act, RuleFastConfirmation: &rs.FastConfirmation.Act,
		RuleNumberVelocity: &rs.NumberVelocity.Act, RuleMerchantVelocity: &rs.MerchantVelocity.Act, RulePrefixVelocity: &rs.PrefixVelocity.Act,
		RuleMerchantBurst: &rs.MerchantBurst.Act, RuleMerchantSpend: &rs.MerchantSpend.Act,
		RuleFailureRate: &rs.FailureRate.Act, RuleRefundRate: &rs.RefundRate.Act,
		RuleUnusualHours: &rs.UnusualHours.Act, RulePrepaidDrain: &rs.PrepaidDrain.Act,
	}
	for _, a := range acts {
		a.Enabled = false
	}
	for _, n := range names {
		acts[n].Enabled = true
	}
	if change != nil {
		change(&rs)
	}
	return rs
}

// env is one rule test's Risk on a fake clock.
type env struct {
	t   *testing.T
	r   *Risk
	clk *clock.Fake
}

func newEnv(t *testing.T, b backend, rs Rules, bal Balances) *env {
	t.Helper()
	clk := clock.NewFake(start)
	return &env{t: t, r: b.open(t, Options{Rules: rs, Clock: clk, Location: shanghai, Balances: bal}), clk: clk}
}

const (
	num1 = "+8613800000001"
	num2 = "+8613900000002"
)

func (e *env) purchase(msisdn, merchant string, amount billing.Money) billing.RiskVerdict {
	e.t.Helper()
	return e.assess(billing.RiskCheck{Stage: billing.RiskPurchase, Channel: billing.ChannelSMS, MSISDN: msisdn, Merchant: merchant,
		Amount: amount, Method: billing.MethodPhone, At: e.clk.Now()})
}

// confirm is a code typed 20 s after its prompt.
func (e *env) confirm(msisdn, merchant string, amount billing.Money) billing.RiskVerdict {
	e.t.Helper()
	return e.assess(e.confirmation(msisdn, merchant, amount))
}

func (e *env) confirmation(msisdn, merchant string, amount billing.Money) billing.RiskCheck {
	return billing.RiskCheck{Stage: billing.RiskConfirm, Channel: billing.ChannelSMS, MSISDN: msisdn, Merchant: merchant,
		Amount: amount, Method: billing.MethodPhone, At: e.clk.Now(), OrderID: 1, ByCode: true, PromptedAt: e.clk.Now().Add(-20 * time.Second)}
}

func (e *env) assess(c billing.RiskCheck) billing.RiskVerdict {
	e.t.Helper()
	v, err := e.r.Assess(context.Background(), c)
	if err != nil {
		e.t.Fatalf("Assess(%s): %v", c.Stage, err)
	}
	for _, f := range v.Findings {
		if strings.Contains(f.Evidence, "13800000001") || strings.Contains(f.Evidence, "13900000002") {
			e.t.Fatalf("evidence with a number in clear: %q", f.Evidence)
		}
	}
	return v
}

func (e *env) learn(kind billing.RiskOutcomeKind, msisdn, merchant string, amount billing.Money) {
	e.t.Helper()
	if err := e.r.Learn(context.Background(), billing.RiskOutcome{Kind: kind, MSISDN: msisdn, Merchant: merchant, Amount: amount,
		Method: billing.MethodPhone, At: e.clk.Now()}); err != nil {
		e.t.Fatalf("Learn(%s): %v", kind, err)
	}
}

// want checks that v has exactly one finding, of rule with action a (""
// wants no finding).
func (e *env) want(what string, v billing.RiskVerdict, rule string, a billing.RiskAction) billing.RiskFinding {
	e.t.Helper()
	if rule == "" {
		if len(v.Findings) != 0 {
			e.t.Fatalf("%s: findings %+v, want none", what, v.Findings)
		}
		return billing.RiskFinding{}
	}
	if len(v.Findings) != 1 || v.Findings[0].Rule != rule || v.Findings[0].Action != a {
		e.t.Fatalf("%s: findings %+v, want one %s %s", what, v.Findings, rule, a)
	}
	return v.Findings[0]
}

// balances is a Balances from a map (a number missing: no prepaid account).
type balances map[string]billing.Money

func (b balances) Balance(_ context.Context, msisdn string) (billing.Money, bool, error) {
	m, ok := b[msisdn]
	return m, ok, nil
}

func TestRules(t *testing.T) {
	t.Parallel()
	for _, tc := range ruleCases {
		for _, b := range backends {
			t.Run(tc.name+"/"+b.name, func(t *testing.T) {
				t.Parallel()
				rule, _, _ := strings.Cut(tc.name, "/")
				tc.run(newEnv(t, b, only(tc.change, rule), tc.bal))
			})
		}
	}
}

var ruleCases = []struct {
	name   string
	change func(*Rules)
	bal    Balances
	run    func(e *env)
}{
	{name: RuleWrongCodes, run: func(e *env) {
		for range 2 {
			e.learn(billing.RiskOutcomeWrongCode, num1, "", 0)
		}
		e.want("2 wrong codes", e.purchase(num1, "8001", 1000), "", "")
		e.learn(billing.RiskOutcomeWrongCode, num1, "8001", 0)
		f := e.want("3 wrong codes in an hour", e.purchase(num1, "8001", 1000), RuleWrongCodes, billing.RiskBlock)
		if f.BlockFor != 24*time.Hour || f.Subject != "" || !strings.Contains(f.Evidence, "138****0001") {
			e.t.Fatalf("finding %+v", f)
		}
		e.want("at confirm too", e.confirm(num1, "8001", 1000), RuleWrongCodes, billing.RiskBlock)
		e.want("another number", e.purchase(num2, "8001", 1000), "", "")
		e.clk.Advance(time.Hour + 10*time.Minute) // out of the hour; 3 of 5 in the day
		e.want("an hour later", e.purchase(num1, "8001", 1000), "", "")
		e.learn(billing.RiskOutcomeWrongCode, num1, "", 0)
		e.clk.Advance(2 * time.Hour)
		e.learn(billing.RiskOutcomeWrongCode, num1, "", 0)
		e.want("5 in a day", e.purchase(num1, "8001", 1000), RuleWrongCodes, billing.RiskBlock)
		e.clk.Advance(24 * time.Hour)
		e.want("a day later", e.purchase(num1, "8001", 1000), "", "")
	}},
	{name: RuleFastConfirmation, run: func(e *env) {
		c := e.confirmation(num1, "8001", 1000)
		c.PromptedAt = c.At.Add(-900 * time.Millisecond)
		f := e.want("0.9s, first code", e.assess(c), RuleFastConfirmation, billing.RiskFreshCode)
		if !strings.Contains(f.Evidence, "900ms") {
			e.t.Fatalf("evidence %q", f.Evidence)
		}
		c.FreshCodes = 1
		e.want("0.9s after a fresh code", e.assess(c), RuleFastConfirmation, billing.RiskHold)
		c.PromptedAt = c.At.Add(-3 * time.Second)
		e.want("3s", e.assess(c), "", "")
		c.PromptedAt, c.ByCode = c.At.Add(-time.Second), false
		e.want("a merchant's confirm", e.assess(c), "", "")
		c.ByCode, c.PromptedAt = true, time.Time{}
		e.want("no prompt time", e.assess(c), "", "")
	}},
	{name: RuleFastConfirmation + "/no_fresh_codes", change: func(rs *Rules) { rs.FastConfirmation.FreshCodes = 0 }, run: func(e *env) {
		c := e.confirmation(num1, "8001", 1000)
		c.PromptedAt = c.At
		e.want("0s", e.assess(c), RuleFastConfirmation, billing.RiskHold)
	}},
	{name: RuleNumberVelocity, run: func(e *env) {
		for i := range 20 {
			e.want("purchase "+strconv.Itoa(i+1), e.purchase(num1, "8001", 1000), "", "")
			e.clk.Advance(2 * time.Minute)
		}
		f := e.want("the 21st in an hour", e.purchase(num1, "8002", 1000), RuleNumberVelocity, billing.RiskBlock)
		if f.BlockFor != time.Hour || f.Subject != "" {
			e.t.Fatalf("finding %+v", f)
		}
		e.want("not judged at confirm", e.confirm(num1, "8001", 1000), "", "")
		e.want("another number", e.purchase(num2, "8001", 1000), "", "")
		e.clk.Advance(time.Hour)
		e.want("an hour later", e.purchase(num1, "8001", 1000), "", "")
	}},
	{name: RuleMerchantVelocity, change: func(rs *Rules) { rs.MerchantVelocity.Max = 5 }, run: func(e *env) {
		for i := range 6 {
			e.want("purchase", e.purchase(fmt.Sprintf("+86137000000%02d", i), "8001", 1000), "", "")
		}
		f := e.want("confirm after 6 purchases in 1m", e.confirm("+8613700000000", "8001", 1000), RuleMerchantVelocity, billing.RiskHold)
		if f.Subject != billing.RiskMerchant || f.Value != "8001" {
			e.t.Fatalf("finding %+v", f)
		}
		e.want("another merchant", e.confirm(num1, "8002", 1000), "", "")
		e.clk.Advance(time.Minute)
		e.want("a minute later", e.confirm("+8613700000000", "8001", 1000), "", "")
	}},
	{name: RulePrefixVelocity, change: func(rs *Rules) { rs.PrefixVelocity.Max = 3 }, run: func(e *env) {
		for i := range 4 {
			e.purchase(fmt.Sprintf("+86138000012%02d", i), "800"+strconv.Itoa(i), 1000)
		}
		f := e.want("4 from one prefix", e.confirm("+8613800001299", "8001", 1000), RulePrefixVelocity, billing.RiskHold)
		if f.Subject != billing.RiskPrefix || f.Value != "+861380000" || strings.Contains(f.Evidence, "861380000") {
			e.t.Fatalf("finding %+v", f)
		}
		e.want("another prefix", e.confirm("+8613800011299", "8001", 1000), "", "")
	}},
	{name: RuleMerchantBurst, change: func(rs *Rules) { rs.MerchantBurst.MaxNumbers = 5 }, run: func(e *env) {
		for range 10 {
			e.want("one number again and again", e.confirm(num1, "8001", 1000), "", "")
		}
		for i := range 4 {
			e.want("distinct numbers", e.confirm(fmt.Sprintf("+86137000000%02d", i), "8001", 1000), "", "")
		}
		f := e.want("the 6th number in 60s", e.confirm(num2, "8001", 1000), RuleMerchantBurst, billing.RiskHold)
		if f.Subject != billing.RiskMerchant || f.Value != "8001" {
			e.t.Fatalf("finding %+v", f)
		}
		renewal := e.confirmation("+8613700000099", "8001", 1000)
		renewal.Channel, renewal.ByCode = billing.ChannelSubscription, false
		e.want("a renewal", e.assess(renewal), "", "")
		e.want("another merchant", e.confirm("+8613700000098", "8002", 1000), "", "")
		e.clk.Advance(time.Minute)
		e.want("a minute later", e.confirm("+8613700000097", "8001", 1000), "", "")
	}},
	{name: RuleMerchantSpend, change: func(rs *Rules) { rs.MerchantSpend.Floor = 20000 }, run: func(e *env) {
		for d := 1; d <= 7; d++ { // 100.00 at this hour on each of the last 7 days
			e.clk.Set(start.Add(-time.Duration(d) * 24 * time.Hour))
			e.confirm(num1, "8001", 10000)
		}
		e.clk.Set(start)
		e.want("250.00: above the floor, under 3 × 100.00", e.confirm(num1, "8001", 25000), "", "")
		f := e.want("350.00", e.confirm(num2, "8001", 10000), RuleMerchantSpend, billing.RiskHold)
		if f.Subject != billing.RiskMerchant || !strings.Contains(f.Evidence, "350.00") || !strings.Contains(f.Evidence, "usual 100.00") {
			e.t.Fatalf("finding %+v", f)
		}
		e.want("a new merchant under the floor", e.confirm(num1, "8002", 20000), "", "")
		e.want("a new merchant over the floor", e.confirm(num1, "8002", 1), RuleMerchantSpend, billing.RiskHold)
		e.clk.Advance(time.Hour)
		e.want("next hour", e.confirm(num1, "8002", 100), "", "")
	}},
	{name: RuleFailureRate, change: func(rs *Rules) { rs.FailureRate.MinCount = 10 }, run: func(e *env) {
		e.clk.Set(start.Add(-3 * 24 * time.Hour))
		for i := range 100 {
			kind := billing.RiskOutcomeCharged
			if i%50 == 0 {
				kind = billing.RiskOutcomeFailed // usual: 2%
			}
			e.learn(kind, num1, "8001", 1000)
		}
		e.clk.Set(start)
		for range 6 {
			e.learn(billing.RiskOutcomeCharged, num1, "8001", 1000)
		}
		for range 3 {
			e.learn(billing.RiskOutcomeFailed, num1, "8001", 1000)
		}
		e.want("9 payments: under min_count", e.confirm(num1, "8001", 1000), "", "")
		e.learn(billing.RiskOutcomeFailed, num1, "8001", 1000)
		f := e.want("40% failing", e.confirm(num1, "8001", 1000), RuleFailureRate, billing.RiskAllow)
		if !strings.Contains(f.Evidence, "40.00%") || f.Value != "8001" {
			e.t.Fatalf("finding %+v", f)
		}
		e.want("once per hour", e.confirm(num2, "8001", 1000), "", "")
		e.want("another merchant", e.confirm(num1, "8002", 1000), "", "")
		e.clk.Advance(time.Hour)
		for range 10 {
			e.learn(billing.RiskOutcomeCharged, num1, "8001", 1000)
		}
		e.want("healthy again", e.confirm(num1, "8001", 1000), "", "")
	}},
	{name: RuleRefundRate, change: func(rs *Rules) { rs.RefundRate.MinCount = 10 }, run: func(e *env) {
		for range 10 {
			e.learn(billing.RiskOutcomeCharged, num1, "8001", 1000)
		}
		e.learn(billing.RiskOutcomeRefunded, num1, "8001", 1000)
		e.want("10% refunded", e.confirm(num1, "8001", 1000), "", "")
		for range 2 {
			e.learn(billing.RiskOutcomeRefunded, num1, "8001", 1000)
		}
		e.want("30% refunded, no history", e.confirm(num1, "8001", 1000), RuleRefundRate, billing.RiskAllow)
	}},
	{name: RuleUnusualHours, run: func(e *env) {
		day := time.Date(2026, 3, 4, 0, 0, 0, 0, shanghai)
		for _, c := range []struct {
			at     time.Duration
			amount billing.Money
			fires  bool
		}{
			{2 * time.Hour, 2000, true}, {time.Hour, 5000, true}, {2 * time.Hour, 1999, false},
			{59 * time.Minute, 5000, false}, {5 * time.Hour, 5000, false}, {10 * time.Hour, 5000, false},
		} {
			e.clk.Set(day.Add(c.at))
			v := e.confirm(num1, "8001", c.amount)
			if c.fires {
				e.want(fmt.Sprint(c.at, c.amount), v, RuleUnusualHours, billing.RiskAllow)
			} else {
				e.want(fmt.Sprint(c.at, c.amount), v, "", "")
			}
		}
		e.clk.Set(day.Add(2 * time.Hour))
		e.want("at purchase", e.purchase(num1, "8001", 5000), "", "")
		renewal := e.confirmation(num1, "8001", 5000)
		renewal.Channel, renewal.ByCode = billing.ChannelSubscription, false
		e.want("a renewal", e.assess(renewal), "", "")
	}},
	{name: RuleUnusualHours + "/over_midnight", change: func(rs *Rules) {
		rs.UnusualHours.From, rs.UnusualHours.To = 23*time.Hour, 2*time.Hour
	}, run: func(e *env) {
		day := time.Date(2026, 3, 4, 0, 0, 0, 0, shanghai)
		for at, fires := range map[time.Duration]bool{23*time.Hour + 30*time.Minute: true, 30 * time.Minute: true, 2 * time.Hour: false, 22 * time.Hour: false} {
			e.clk.Set(day.Add(at))
			if n := len(e.confirm(num1, "8001", 5000).Findings); (n == 1) != fires {
				e.t.Fatalf("at %s: %d findings, want fires=%v", at, n, fires)
			}
		}
	}},
	{name: RulePrepaidDrain, bal: balances{num1: 3000, num2: 100000}, run: func(e *env) {
		// num1 had 50.00, paid 20.00 (30.00 left) and now pays 20.00 more: 80%.
		e.want("first payment", e.confirm(num1, "8001", 2000), "", "")
		e.learn(billing.RiskOutcomeCharged, num1, "8001", 2000)
		e.clk.Advance(3 * time.Minute)
		f := e.want("40.00 of 50.00 in 3 minutes", e.confirm(num1, "8001", 2000), RulePrepaidDrain, billing.RiskHold)
		if !strings.Contains(f.Evidence, "40.00") || !strings.Contains(f.Evidence, "50.00") {
			e.t.Fatalf("finding %+v", f)
		}
		e.want("35.00 of 50.00", e.confirm(num1, "8001", 1500), "", "")
		e.want("above the balance: the charger declines it", e.confirm(num1, "8001", 3500), "", "")
		e.want("a big balance", e.confirm(num2, "8001", 2000), "", "")
		e.want("no prepaid account", e.confirm("+8613700000000", "8001", 2000), "", "")
		e.clk.Advance(10 * time.Minute)
		e.want("ten minutes later", e.confirm(num1, "8001", 2000), "", "")
	}},
}

func TestDisabledRulesSayNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, backends[1], only(nil), balances{num1: 100})
	for range 10 {
		e.learn(billing.RiskOutcomeWrongCode, num1, "8001", 0)
	}
	c := e.confirmation(num1, "8001", 100000)
	c.PromptedAt = c.At
	e.clk.Set(time.Date(2026, 3, 4, 3, 0, 0, 0, shanghai))
	e.want("every rule off", e.assess(c), "", "")
	if n := len(e.r.plans); n != 0 {
		t.Fatalf("%d plans with every rule off", n)
	}
}

func TestFindingsOfSeveralRules(t *testing.T) {
	t.Parallel()
	e := newEnv(t, backends[1], DefaultRules(), nil)
	e.clk.Set(time.Date(2026, 3, 4, 3, 0, 0, 0, shanghai))
	for range 3 {
		e.learn(billing.RiskOutcomeWrongCode, num1, "", 0)
	}
	c := e.confirmation(num1, "8001", 3000)
	c.PromptedAt = c.At.Add(-time.Second)
	v := e.assess(c)
	var rules []string
	for _, f := range v.Findings {
		rules = append(rules, f.Rule)
	}
	if got := strings.Join(rules, ","); got != "wrong_codes,fast_confirmation,unusual_hours" || v.Action() != billing.RiskBlock {
		t.Fatalf("findings %s, action %s", got, v.Action())
	}
}

// TestKeysHideNumbersAndExpire: after a little of every kind of traffic,
// every key is under the prefix, names no number or prefix in clear, and
// expires (a TTL, however long: cleanup only).
func TestKeysHideNumbersAndExpire(t *testing.T) {
	t.Parallel()
	raw, _ := dbtest.Redis(t)
	e := newEnv(t, backends[0], DefaultRules(), balances{num1: 100000})
	e.purchase(num1, "8001", 2000)
	e.confirm(num1, "8001", 2000)
	for _, k := range []billing.RiskOutcomeKind{billing.RiskOutcomeWrongCode, billing.RiskOutcomeCharged, billing.RiskOutcomeFailed, billing.RiskOutcomeRefunded} {
		e.learn(k, num1, "8001", 2000)
	}
	ctx := context.Background()
	var keys []string
	iter := raw.Scan(ctx, 0, e.r.prefix+"*", 1000).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	if len(keys) < 10 {
		t.Fatalf("only %d keys: %v", len(keys), keys)
	}
	for _, k := range keys {
		if strings.Contains(k, "13800000001") || strings.Contains(k, "861380000") || strings.Contains(k, "1380000") {
			t.Errorf("key %q holds a number or prefix in clear", k)
		}
		if ttl := raw.TTL(ctx, k).Val(); ttl <= 0 {
			t.Errorf("key %q has no TTL (%s)", k, ttl)
		}
	}
}
