package storetest

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/sms"
)

// RunRiskEngine runs the engine's side of the risk rules against a store:
// the lists on every purchase and confirmation, each action of a rule
// (fresh code, hold, block, a flag), the holds released and refused, fail
// closed, and what the rules are told afterwards. The rules here are a
// script (ScriptedRisk): what the engine does with a verdict is under
// test, not the verdict (package risk has its own tests).
func RunRiskEngine(t *testing.T, open Open) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, open Open)
	}{
		{"ListsAtPurchase", testRiskListsAtPurchase},
		{"ListsAtConfirm", testRiskListsAtConfirm},
		{"FreshCodeThenHoldThenRelease", testRiskFreshCodeHoldRelease},
		{"HoldRefused", testRiskHoldRefused},
		{"HoldExpires", testRiskHoldExpires},
		{"RuleBlocksNumber", testRiskRuleBlocks},
		{"FlagLetsPass", testRiskFlag},
		{"FailsClosed", testRiskFailsClosed},
		{"Learns", testRiskLearns},
		{"ReleaseKeepsLimits", testRiskReleaseKeepsLimits},
		{"AskedBeforeTheTransaction", testRiskAskedBeforeTx},
		{"StalePrecheckAskedAgain", testRiskStalePrecheck},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, open)
		})
	}
}

// ScriptedRisk is a billing.Risk whose verdicts a test sets: Verdict
// answers each check (nil: allow). It records the checks and outcomes.
type ScriptedRisk struct {
	mu       sync.Mutex
	Verdict  func(c billing.RiskCheck) (billing.RiskVerdict, error)
	Checks   []billing.RiskCheck
	Outcomes []billing.RiskOutcome
}

// Assess implements billing.Risk.
func (s *ScriptedRisk) Assess(_ context.Context, c billing.RiskCheck) (billing.RiskVerdict, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.Checks = append(s.Checks, c)
	if s.Verdict == nil {
		return billing.RiskVerdict{}, nil
	}
	return s.Verdict(c)
}

// Learn implements billing.Risk.
func (s *ScriptedRisk) Learn(_ context.Context, o billing.RiskOutcome) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.Outcomes = append(s.Outcomes, o)
	return nil
}

func (s *ScriptedRisk) set(f func(c billing.RiskCheck) (billing.RiskVerdict, error)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.Verdict = f
}

// ruleEnv is env with scripted rules and a decision hook recording what
// it saw.
type ruleEnv struct {
	*env
	risk   *ScriptedRisk
	hookMu sync.Mutex
	hooked []billing.RiskDecision
}

func newRuleEnv(t *testing.T, open Open, tweak func(*billing.Config)) *ruleEnv {
	t.Helper()
	e := newEnv(t, open, tweak)
	re := &ruleEnv{env: e, risk: &ScriptedRisk{}}
	cfg := e.engine.Config()
	var err error
	e.engine, e.sms, err = newSMSEngine(billing.Options{Config: cfg, Store: e.store, Charger: e.charger, Limiter: e.limiter, Clock: e.clock,
		Risk: re.risk, DecisionHook: func(_ context.Context, _ billing.Tx, d billing.RiskDecision) error {
			re.hookMu.Lock()
			defer re.hookMu.Unlock()
			re.hooked = append(re.hooked, d)
			return nil
		}})
	if err != nil {
		t.Fatalf("NewEngine: %v", err)
	}
	return re
}

// decisions returns every recorded decision, oldest first.
func (e *ruleEnv) decisions() []billing.RiskDecision {
	e.t.Helper()
	ds, err := e.store.RiskDecisions(e.ctx, billing.RiskDecisionQuery{})
	if err != nil {
		e.t.Fatalf("RiskDecisions: %v", err)
	}
	return ds
}

// finding answers every check of stage with one finding.
func finding(stage billing.RiskStage, f billing.RiskFinding) func(billing.RiskCheck) (billing.RiskVerdict, error) {
	return func(c billing.RiskCheck) (billing.RiskVerdict, error) {
		if c.Stage != stage {
			return billing.RiskVerdict{}, nil
		}
		return billing.RiskVerdict{Findings: []billing.RiskFinding{f}}, nil
	}
}

func (e *ruleEnv) block(list billing.RiskList, subject billing.RiskSubject, value string, until time.Time) {
	e.t.Helper()
	if _, err := e.engine.Block(e.ctx, billing.RiskListEntry{List: list, Subject: subject, Value: value, Until: until, CreatedBy: "operator:test"}); err != nil {
		e.t.Fatalf("Block(%s %s %s): %v", list, subject, value, err)
	}
}

func testRiskListsAtPurchase(t *testing.T, open Open) {
	e := newRuleEnv(t, open, nil)
	// A number, a prefix and a merchant on the block list: refused blocked,
	// no order, one "list" decision each; the subscriber is told.
	e.block(billing.RiskBlockList, billing.RiskNumber, phoneA, time.Time{})
	wantReason(t, e.mo(phoneA, open1, "VIP"), billing.ReasonBlocked)
	if mt := e.lastMT(phoneA); !strings.Contains(mt, "未扣费") {
		t.Fatalf("blocked MT %q", mt)
	}
	e.block(billing.RiskBlockList, billing.RiskPrefix, "86138000000", e.clock.Now().Add(time.Hour))
	wantReason(t, e.mo(phoneB, open1, "VIP"), billing.ReasonBlocked)
	ds := e.decisions()
	if len(ds) != 2 || ds[0].Rule != billing.RuleList || ds[0].Action != billing.RiskBlock || ds[0].MSISDN != phoneA || ds[1].MSISDN != phoneB {
		t.Fatalf("decisions %+v, want two list blocks", ds)
	}
	if strings.Contains(ds[0].Evidence, phoneA) {
		t.Fatalf("evidence %q carries the number in clear", ds[0].Evidence)
	}
	// The prefix block ends with its time; the number's stays until removed.
	e.clock.Advance(time.Hour + time.Second)
	e.pay(phoneB, open1, "VIP")
	if n, err := e.engine.Unblock(e.ctx, billing.RiskBlockList, billing.RiskNumber, phoneA); err != nil || n != 1 {
		t.Fatalf("Unblock: %d, %v", n, err)
	}
	e.pay(phoneA, open1, "VIP")
	// A merchant block refuses everyone buying from it.
	e.block(billing.RiskBlockList, billing.RiskMerchant, "8001", time.Time{})
	wantReason(t, e.mo(phoneB, open1, "VIP"), billing.ReasonBlocked)
	if _, err := e.engine.Block(e.ctx, billing.RiskListEntry{List: billing.RiskBlockList, Subject: billing.RiskMerchant, Value: "8001"}); !errors.Is(err, billing.ErrRiskListEntryExists) {
		t.Fatalf("blocking twice: %v, want ErrRiskListEntryExists", err)
	}
	if _, err := e.engine.Block(e.ctx, billing.RiskListEntry{List: billing.RiskBlockList, Subject: billing.RiskPrefix, Value: "86x"}); !errors.Is(err, billing.ErrBadRequest) {
		t.Fatalf("a bad prefix: %v, want ErrBadRequest", err)
	}
	// The allow list exempts a number from the rules, not from a block.
	e.risk.set(finding(billing.RiskPurchase, billing.RiskFinding{Rule: "number_velocity", Action: billing.RiskBlock, Evidence: "test"}))
	e.block(billing.RiskAllowList, billing.RiskNumber, phoneA, time.Time{})
	wantReason(t, e.mo(phoneA, open1, "VIP"), billing.ReasonBlocked) // the merchant's block still stands
	if _, err := e.engine.Unblock(e.ctx, billing.RiskBlockList, billing.RiskMerchant, "8001"); err != nil {
		t.Fatal(err)
	}
	e.pay(phoneA, open1, "VIP") // allow-listed: the rule's block is not asked for
	wantReason(t, e.mo(phoneB, open1, "VIP"), billing.ReasonBlocked)
}

func testRiskListsAtConfirm(t *testing.T, open Open) {
	e := newRuleEnv(t, open, nil)
	r, code := e.buy(phoneA, open1, "VIP")
	// Blocked between the prompt and the code: the code charges nothing.
	e.block(billing.RiskBlockList, billing.RiskNumber, phoneA, time.Time{})
	wantReason(t, e.mo(phoneA, open1, code), billing.ReasonBlocked)
	if o := e.order(r.OrderID); o.Status != billing.OrderFailed || o.Reason != billing.ReasonBlocked {
		t.Fatalf("order %s/%s, want failed/blocked", o.Status, o.Reason)
	}
	if n, _ := e.charger.Debited(); n != 0 {
		t.Fatalf("%d debits, want 0", n)
	}
}

func testRiskFreshCodeHoldRelease(t *testing.T, open Open) {
	e := newRuleEnv(t, open, nil)
	e.risk.set(func(c billing.RiskCheck) (billing.RiskVerdict, error) {
		if c.Stage != billing.RiskConfirm || !c.ByCode || c.At.Sub(c.PromptedAt) >= 3*time.Second {
			return billing.RiskVerdict{}, nil
		}
		a := billing.RiskFreshCode
		if c.FreshCodes > 0 {
			a = billing.RiskHold
		}
		return billing.RiskVerdict{Findings: []billing.RiskFinding{{Rule: "fast_confirmation", Action: a, Evidence: "answered in under 3 s"}}}, nil
	})
	r, code := e.buy(phoneA, open1, "VIP")
	// Answered at once: a fresh code, the old one voided, nothing charged.
	fr := e.mo(phoneA, open1, code)
	if fr.Outcome != billing.OutcomePrompted || fr.OrderID != r.OrderID {
		t.Fatalf("fast answer: %+v, want a fresh prompt of order %d", fr, r.OrderID)
	}
	prompt := e.lastMT(phoneA)
	fresh := codeIn(t, prompt)
	if fresh == code {
		t.Fatal("the fresh code is the old one")
	}
	if o := e.order(r.OrderID); o.FreshCodes != 1 || !o.PromptedAt.Equal(e.clock.Now()) || o.Status != billing.OrderPending {
		t.Fatalf("order after a fresh code: %+v", o)
	}
	wantReason(t, e.mo(phoneA, open1, code), billing.ReasonWrongCode) // the old code confirms nothing now
	// The fresh code answered at once again: held for an operator.
	hr := e.mo(phoneA, open1, fresh)
	if hr.Outcome != billing.OutcomeHeld || hr.Reason != billing.ReasonRiskHold {
		t.Fatalf("second fast answer: %+v, want held", hr)
	}
	if mt := e.lastMT(phoneA); !strings.Contains(mt, "审核") {
		t.Fatalf("hold MT %q", mt)
	}
	if o := e.order(r.OrderID); o.Status != billing.OrderHeld {
		t.Fatalf("order %s, want held", o.Status)
	}
	if n, _ := e.charger.Debited(); n != 0 {
		t.Fatalf("%d debits while held, want 0", n)
	}
	held, err := e.store.HeldOrders(e.ctx, 10)
	if err != nil || len(held) != 1 || held[0].ID != r.OrderID {
		t.Fatalf("HeldOrders: %+v, %v", held, err)
	}
	// The code again while held: already in hand, nothing charged.
	if again := e.mo(phoneA, open1, fresh); again.Outcome == billing.OutcomeCharged {
		t.Fatalf("a held order charged by its code: %+v", again)
	}
	// The expiry sweep leaves a held order alone.
	e.clock.Advance(time.Hour)
	if _, err := e.engine.ExpireOrders(e.ctx); err != nil {
		t.Fatal(err)
	}
	if o := e.order(r.OrderID); o.Status != billing.OrderHeld {
		t.Fatalf("order %s after the expiry sweep, want held", o.Status)
	}
	// Released by an operator: charged once, receipt sent, hold resolved.
	rel, err := e.engine.ReleaseHeld(e.ctx, r.OrderID, "operator:alice")
	if err != nil || rel.Outcome != billing.OutcomeCharged {
		t.Fatalf("ReleaseHeld: %+v, %v", rel, err)
	}
	if mt := e.lastMT(phoneA); !strings.Contains(mt, "支付成功") && !strings.Contains(mt, "成功") {
		t.Fatalf("receipt %q", mt)
	}
	if _, err := e.engine.ReleaseHeld(e.ctx, r.OrderID, "operator:alice"); !errors.Is(err, billing.ErrNotHeld) {
		t.Fatalf("releasing twice: %v, want ErrNotHeld", err)
	}
	if n, total := e.charger.Debited(); n != 1 || total != 1500 {
		t.Fatalf("debited %d / %s, want 1 / 15.00", n, total)
	}
	ds := e.decisions()
	if len(ds) != 2 || ds[0].Action != billing.RiskFreshCode || ds[1].Action != billing.RiskHold || ds[1].OrderID != r.OrderID ||
		ds[1].Resolution != "released" || ds[1].ResolvedBy != "operator:alice" {
		t.Fatalf("decisions %+v", ds)
	}
	e.hookMu.Lock()
	defer e.hookMu.Unlock()
	if len(e.hooked) != 2 || e.hooked[0].ID == 0 {
		t.Fatalf("the decision hook saw %+v, want the 2 decisions with their ids", e.hooked)
	}
}

func testRiskHoldRefused(t *testing.T, open Open) {
	e := newRuleEnv(t, open, nil)
	e.risk.set(finding(billing.RiskConfirm, billing.RiskFinding{Rule: "merchant_burst", Action: billing.RiskHold, Evidence: "60 numbers in 60 s"}))
	r, code := e.buy(phoneA, open1, "VIP")
	if res := e.mo(phoneA, open1, code); res.Outcome != billing.OutcomeHeld {
		t.Fatalf("%+v, want held", res)
	}
	e.mts()
	ref, err := e.engine.RefuseHeld(e.ctx, r.OrderID, "operator:bob")
	if err != nil || ref.Reason != billing.ReasonRiskRefused {
		t.Fatalf("RefuseHeld: %+v, %v", ref, err)
	}
	if mt := e.lastMT(phoneA); !strings.Contains(mt, "未通过") {
		t.Fatalf("refusal MT %q", mt)
	}
	if o := e.order(r.OrderID); o.Status != billing.OrderFailed || o.Reason != billing.ReasonRiskRefused {
		t.Fatalf("order %s/%s", o.Status, o.Reason)
	}
	if _, err := e.engine.RefuseHeld(e.ctx, r.OrderID, "operator:bob"); !errors.Is(err, billing.ErrNotHeld) {
		t.Fatalf("refusing twice: %v", err)
	}
	waiting, err := e.store.RiskDecisions(e.ctx, billing.RiskDecisionQuery{Waiting: true})
	if err != nil || len(waiting) != 0 {
		t.Fatalf("waiting holds after the refusal: %+v, %v", waiting, err)
	}
	if n, _ := e.charger.Debited(); n != 0 {
		t.Fatalf("%d debits, want 0", n)
	}
}

// testRiskHoldExpires: a hold nobody decides is refused by the sweep once
// it waited HoldExpiry (the subscriber is told, the hold resolved
// "expired"), not a moment before; one an operator released is left alone.
func testRiskHoldExpires(t *testing.T, open Open) {
	e := newRuleEnv(t, open, func(c *billing.Config) { c.HoldExpiry = time.Hour })
	e.risk.set(finding(billing.RiskConfirm, billing.RiskFinding{Rule: "merchant_burst", Action: billing.RiskHold, Evidence: "60 numbers in 60 s"}))
	r, code := e.buy(phoneA, open1, "VIP")
	if res := e.mo(phoneA, open1, code); res.Outcome != billing.OutcomeHeld {
		t.Fatalf("%+v, want held", res)
	}
	released, code := e.buy(phoneB, open1, "VIP")
	if res := e.mo(phoneB, open1, code); res.Outcome != billing.OutcomeHeld {
		t.Fatalf("%+v, want held", res)
	}
	e.mts()
	e.risk.set(nil)
	if res, err := e.engine.ReleaseHeld(e.ctx, released.OrderID, "operator:alice"); err != nil || res.Outcome != billing.OutcomeCharged {
		t.Fatalf("ReleaseHeld: %+v, %v", res, err)
	}
	e.clock.Advance(time.Hour - time.Second)
	if n, err := e.engine.ExpireHolds(e.ctx); err != nil || n != 0 {
		t.Fatalf("ExpireHolds before the hour: %d, %v", n, err)
	}
	e.clock.Advance(time.Second)
	if n, err := e.engine.ExpireHolds(e.ctx); err != nil || n != 1 {
		t.Fatalf("ExpireHolds after the hour: %d, %v; want 1", n, err)
	}
	if o := e.order(r.OrderID); o.Status != billing.OrderFailed || o.Reason != billing.ReasonRiskRefused {
		t.Fatalf("expired hold: order %s/%s", o.Status, o.Reason)
	}
	if o := e.order(released.OrderID); o.Status != billing.OrderPaid {
		t.Fatalf("released order %s after the sweep", o.Status)
	}
	if mt := e.lastMT(phoneA); !strings.Contains(mt, "未通过") {
		t.Fatalf("refusal MT %q", mt)
	}
	var hold billing.RiskDecision
	for _, d := range e.decisions() {
		if d.OrderID == r.OrderID && d.Action == billing.RiskHold {
			hold = d
		}
	}
	if hold.Resolution != "expired" || hold.ResolvedBy != billing.HoldExpiredBy || hold.ResolvedAt.IsZero() {
		t.Fatalf("the expired hold's decision %+v", hold)
	}
	if n, err := e.engine.ExpireHolds(e.ctx); err != nil || n != 0 {
		t.Fatalf("ExpireHolds again: %d, %v", n, err)
	}
	if n, _ := e.charger.Debited(); n != 1 {
		t.Fatalf("%d debits, want 1 (the released payment)", n)
	}
}

func testRiskRuleBlocks(t *testing.T, open Open) {
	e := newRuleEnv(t, open, nil)
	e.risk.set(finding(billing.RiskPurchase, billing.RiskFinding{Rule: "wrong_codes", Action: billing.RiskBlock, Evidence: "7 wrong codes this hour", BlockFor: 2 * time.Hour}))
	wantReason(t, e.mo(phoneA, open1, "VIP"), billing.ReasonBlocked)
	e.risk.set(nil)
	// The block is on the list now: refused by the list, with no rule asked.
	wantReason(t, e.mo(phoneA, open1, "VIP"), billing.ReasonBlocked)
	es, err := e.store.RiskListEntries(e.ctx, billing.RiskBlockList, e.clock.Now(), false)
	if err != nil || len(es) != 1 || es[0].Value != phoneA || es[0].CreatedBy != "rule:wrong_codes" || !es[0].Until.Equal(e.clock.Now().Add(2*time.Hour)) {
		t.Fatalf("block list %+v, %v", es, err)
	}
	ds := e.decisions()
	if len(ds) != 2 || ds[0].Rule != "wrong_codes" || ds[1].Rule != billing.RuleList {
		t.Fatalf("decisions %+v", ds)
	}
	e.clock.Advance(2*time.Hour + time.Second)
	e.pay(phoneA, open1, "VIP")
}

func testRiskFlag(t *testing.T, open Open) {
	e := newRuleEnv(t, open, nil)
	e.risk.set(func(c billing.RiskCheck) (billing.RiskVerdict, error) {
		return billing.RiskVerdict{Findings: []billing.RiskFinding{{Rule: "unusual_hours", Action: billing.RiskAllow, Evidence: "03:10 local"},
			{Rule: "prefix_velocity", Action: billing.RiskHold, Evidence: "only at confirm"}}}, nil
	})
	r, code := e.buy(phoneA, open1, "VIP") // a hold asked at the purchase stage cannot hold: recorded as allow
	if res := e.mo(phoneA, open1, code); res.Outcome != billing.OutcomeHeld {
		t.Fatalf("%+v, want held at confirmation", res)
	}
	ds := e.decisions()
	if len(ds) != 4 {
		t.Fatalf("%d decisions, want 4: %+v", len(ds), ds)
	}
	for i, want := range []billing.RiskAction{billing.RiskAllow, billing.RiskAllow, billing.RiskAllow, billing.RiskHold} {
		if ds[i].Action != want {
			t.Fatalf("decision %d: %+v, want %s", i, ds[i], want)
		}
	}
	if ds[3].OrderID != r.OrderID || ds[0].OrderID != 0 {
		t.Fatalf("order ids %d, %d", ds[0].OrderID, ds[3].OrderID)
	}
}

func testRiskFailsClosed(t *testing.T, open Open) {
	e := newRuleEnv(t, open, nil)
	down := errors.New("redis: connection refused")
	e.risk.set(func(c billing.RiskCheck) (billing.RiskVerdict, error) { return billing.RiskVerdict{}, down })
	wantReason(t, e.mo(phoneA, open1, "VIP"), billing.ReasonServiceBusy)
	e.risk.set(nil)
	r, code := e.buy(phoneA, open1, "VIP")
	e.risk.set(func(c billing.RiskCheck) (billing.RiskVerdict, error) { return billing.RiskVerdict{}, down })
	wantReason(t, e.mo(phoneA, open1, code), billing.ReasonServiceBusy)
	if o := e.order(r.OrderID); o.Status != billing.OrderPending {
		t.Fatalf("order %s after a busy refusal, want pending (confirmable later)", o.Status)
	}
	e.risk.set(nil)
	if res := e.mo(phoneA, open1, code); res.Outcome != billing.OutcomeCharged {
		t.Fatalf("%+v, want charged once the rules answer", res)
	}
}

func testRiskLearns(t *testing.T, open Open) {
	e := newRuleEnv(t, open, nil)
	r, code := e.buy(phoneA, open1, "VIP")
	wrong := "000000"
	if wrong == code {
		wrong = "111111"
	}
	wantReason(t, e.mo(phoneA, open1, wrong), billing.ReasonWrongCode)
	e.mo(phoneA, open1, code)
	if _, err := e.engine.Refund(e.ctx, billing.RefundRequest{OrderID: r.OrderID, Reason: "test", IdempotencyKey: "rf1"}); err != nil {
		t.Fatal(err)
	}
	e.charger.mu.Lock()
	e.charger.decline[phoneB] = billing.ReasonInsufficientBalance
	e.charger.mu.Unlock()
	_, codeB := e.buy(phoneB, open1, "VIP")
	wantReason(t, e.mo(phoneB, open1, codeB), billing.ReasonInsufficientBalance)
	e.risk.mu.Lock()
	defer e.risk.mu.Unlock()
	var kinds []string
	for _, o := range e.risk.Outcomes {
		kinds = append(kinds, string(o.Kind)+":"+o.Merchant)
	}
	want := "wrong_code:8001 charged:8001 refunded:8001 failed:8001"
	if strings.Join(kinds, " ") != want {
		t.Fatalf("outcomes %v, want %s", kinds, want)
	}
	var stages []string
	for _, c := range e.risk.Checks {
		stages = append(stages, string(c.Stage))
	}
	if strings.Join(stages, " ") != "purchase confirm purchase confirm" {
		t.Fatalf("checks %v", stages)
	}
}

func testRiskReleaseKeepsLimits(t *testing.T, open Open) {
	e := newRuleEnv(t, open, nil)
	e.risk.set(finding(billing.RiskConfirm, billing.RiskFinding{Rule: "prepaid_drain", Action: billing.RiskHold, Evidence: "test"}))
	r, code := e.buy(phoneA, open1, "30")
	if res := e.mo(phoneA, open1, code); res.Outcome != billing.OutcomeHeld {
		t.Fatalf("%+v, want held", res)
	}
	e.risk.set(nil)
	e.pay(phoneA, open1, "30") // 30.00 of the 50.00 day spent meanwhile
	rel, err := e.engine.ReleaseHeld(e.ctx, r.OrderID, "operator:alice")
	if err != nil {
		t.Fatal(err)
	}
	if rel.Outcome != billing.OutcomeRejected || rel.Reason != billing.ReasonDailyLimit {
		t.Fatalf("release over the daily limit: %+v, want daily_limit", rel)
	}
	if q := e.quota(phoneA); q.DaySpent != 3000 {
		t.Fatalf("day spent %s, want 30.00", q.DaySpent)
	}
}

// testRiskAskedBeforeTx: a confirmation asks the rules before its
// transaction, once. The script proves it: while it answers it takes the
// order's row lock in a transaction of its own, which cannot happen while
// the confirmation's transaction holds that lock (or, embedded, the one
// writer).
func testRiskAskedBeforeTx(t *testing.T, open Open) {
	e := newRuleEnv(t, open, nil)
	var lockErr error
	e.risk.set(func(c billing.RiskCheck) (billing.RiskVerdict, error) {
		if c.Stage != billing.RiskConfirm {
			return billing.RiskVerdict{}, nil
		}
		done := make(chan error, 1)
		go func() {
			done <- e.store.InTx(e.ctx, func(tx billing.Tx) error {
				_, err := tx.GetOrder(e.ctx, c.OrderID)
				return err
			})
		}()
		select { // a bound on a wait that fails the test, not a pause
		case lockErr = <-done:
		case <-time.After(5 * time.Second):
			lockErr = errors.New("still waiting after 5 s")
		}
		return billing.RiskVerdict{}, nil
	})
	r, code := e.buy(phoneA, open1, "VIP")
	if res := e.mo(phoneA, open1, code); res.Outcome != billing.OutcomeCharged {
		t.Fatalf("%+v, want charged", res)
	}
	e.risk.mu.Lock()
	defer e.risk.mu.Unlock()
	if lockErr != nil {
		t.Fatalf("the rules were asked while the confirmation held the order: locking it meanwhile: %v", lockErr)
	}
	var confirms []billing.RiskCheck
	for _, c := range e.risk.Checks {
		if c.Stage == billing.RiskConfirm {
			confirms = append(confirms, c)
		}
	}
	if len(confirms) != 1 || confirms[0].OrderID != r.OrderID || !confirms[0].ByCode || confirms[0].FreshCodes != 0 {
		t.Fatalf("confirm checks %+v, want one of order %d by code", confirms, r.OrderID)
	}
}

// testRiskStalePrecheck: when the order changes between the look before
// the transaction and the transaction (here: a fresh code with the same
// digits, written while the rules answer), the verdict asked before is
// not used; the transaction asks about the order it locked.
func testRiskStalePrecheck(t *testing.T, open Open) {
	e := newRuleEnv(t, open, nil)
	r, code := e.buy(phoneA, open1, "VIP")
	e.risk.set(func(c billing.RiskCheck) (billing.RiskVerdict, error) {
		if c.Stage != billing.RiskConfirm || c.FreshCodes > 0 {
			return billing.RiskVerdict{}, nil
		}
		err := e.store.InTx(e.ctx, func(tx billing.Tx) error {
			o, err := tx.GetOrder(e.ctx, c.OrderID)
			if err != nil {
				return err
			}
			o.FreshCodes++
			o.PromptedAt = c.At.Add(-time.Minute)
			return tx.RenewOrderCode(e.ctx, o)
		})
		if err != nil {
			return billing.RiskVerdict{}, err
		}
		// What this verdict says must not be applied to the renewed order.
		return billing.RiskVerdict{Findings: []billing.RiskFinding{{Rule: "merchant_burst", Action: billing.RiskHold, Evidence: "stale"}}}, nil
	})
	if res := e.mo(phoneA, open1, code); res.Outcome != billing.OutcomeCharged || res.OrderID != r.OrderID {
		t.Fatalf("%+v, want order %d charged (the stale verdict's hold applied?)", res, r.OrderID)
	}
	e.risk.mu.Lock()
	defer e.risk.mu.Unlock()
	var gens []int
	for _, c := range e.risk.Checks {
		if c.Stage == billing.RiskConfirm {
			gens = append(gens, c.FreshCodes)
		}
	}
	if len(gens) != 2 || gens[0] != 0 || gens[1] != 1 {
		t.Fatalf("confirm checks of code generations %v, want [0 1]: asked before, then again on the renewed order", gens)
	}
	if ds := e.decisions(); len(ds) != 0 {
		t.Fatalf("decisions %+v, want none", ds)
	}
}

// newSMSEngine is an engine with the SMS channel's texts, as env has.
func newSMSEngine(o billing.Options) (*billing.Engine, *sms.Channel, error) {
	return sms.NewEngine(o, sms.TextConfig{ExpiryNotice: true}, sms.Options{})
}
