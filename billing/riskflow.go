package billing

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/carrierbill/carrierbill/redact"
)

// This file is the engine's side of the risk rules (risk.go): the lists
// checked on every purchase and confirmation, the rules asked, their
// actions applied and their decisions recorded in the payment's own
// transaction, and the operator's holds and lists.

// DecisionHook, optional, sees every recorded risk decision inside its
// transaction (the operator's alert webhook writes its notification row
// there). An error rolls the payment's transaction back. It must not block
// or do network I/O.
type DecisionHook func(ctx context.Context, tx Tx, d RiskDecision) error

// DefaultRiskBlockFor is how long a rule's block lasts when the rule names
// no duration.
const DefaultRiskBlockFor = 24 * time.Hour

// RuleList is the rule name of a refusal by the block list.
const RuleList = "list"

// listed reads the lists for a payment step: the block entry that refuses
// it (nil: none) and whether an allow entry exempts it from the rules.
func (e *Engine) listed(ctx context.Context, tx Tx, msisdn, merchant string, now time.Time) (*RiskListEntry, bool, error) {
	es, err := tx.RiskListed(ctx, msisdn, merchant, now)
	if err != nil {
		return nil, false, fmt.Errorf("reading the risk lists: %w", err)
	}
	allowed := false
	for i := range es {
		switch es[i].List {
		case RiskBlockList:
			return &es[i], false, nil
		case RiskAllowList:
			allowed = true
		}
	}
	return nil, allowed, nil
}

// assess asks the rules (none: an empty verdict). ok false: they could not
// answer, and the step is refused with service_busy (fail closed).
func (e *Engine) assess(ctx context.Context, c RiskCheck) (RiskVerdict, bool) {
	if e.risk == nil {
		return RiskVerdict{}, true
	}
	v, err := e.risk.Assess(ctx, c)
	if err != nil {
		e.log.Warn("risk rules unavailable; refusing", "stage", string(c.Stage), "err", err)
		return RiskVerdict{}, false
	}
	return v, true
}

// learn tells the rules an outcome, after its transaction committed.
func (e *Engine) learn(ctx context.Context, o RiskOutcome) {
	if e.risk == nil {
		return
	}
	if err := e.risk.Learn(ctx, o); err != nil {
		e.log.Warn("risk rules did not count an outcome", "kind", string(o.Kind), "err", err)
	}
}

// riskStep is one payment step under the lists and the rules.
type riskStep struct {
	check RiskCheck
	order *Order // confirm stage: the order (nil at purchase)
}

// riskVerdict is what the lists and rules make of a step: the action to
// take and, for a refusal, its reason.
type riskVerdict struct {
	action RiskAction
	reason Reason // blocked, risk_hold or service_busy when refused
}

// screen checks the lists, then (unless allow-listed) applies the rules'
// verdict v (asked by the caller, outside or inside tx); it records every
// decision and adds the blocks the rules asked for. ok false from assess
// is passed as busy.
func (e *Engine) screen(ctx context.Context, tx Tx, s riskStep, v RiskVerdict, busy bool) (riskVerdict, error) {
	c := s.check
	block, allowed, err := e.listed(ctx, tx, c.MSISDN, c.Merchant, c.At)
	if err != nil {
		return riskVerdict{}, err
	}
	if block != nil {
		d := e.decision(s, RiskFinding{Rule: RuleList, Action: RiskBlock, Evidence: listEvidence(*block)})
		if err := e.record(ctx, tx, d); err != nil {
			return riskVerdict{}, err
		}
		return riskVerdict{action: RiskBlock, reason: ReasonBlocked}, nil
	}
	if allowed {
		return riskVerdict{action: RiskAllow}, nil
	}
	if busy {
		return riskVerdict{action: RiskBlock, reason: ReasonServiceBusy}, nil
	}
	decisive, found := v.Decisive()
	if !found {
		return riskVerdict{action: RiskAllow}, nil
	}
	action := decisive.Action
	if c.Stage == RiskPurchase && (action == RiskHold || action == RiskFreshCode) {
		action = RiskAllow // nothing to hold or re-code before there is an order
	}
	for _, f := range v.Findings {
		if f.Rule == "" {
			continue
		}
		if f.Rule == decisive.Rule && f.Action == decisive.Action {
			f.Action = action
		} else if f.Action != RiskAllow { // only the decisive finding acts
			f.Evidence += " (asked for " + string(f.Action) + ")"
			f.Action = RiskAllow
		}
		if err := e.record(ctx, tx, e.decision(s, f)); err != nil {
			return riskVerdict{}, err
		}
		if f.Action == RiskBlock {
			if err := e.blockFor(ctx, tx, c, f); err != nil {
				return riskVerdict{}, err
			}
		}
	}
	switch action {
	case RiskBlock:
		return riskVerdict{action: action, reason: ReasonBlocked}, nil
	case RiskHold:
		return riskVerdict{action: action, reason: ReasonRiskHold}, nil
	}
	return riskVerdict{action: action}, nil
}

// decision is the record of finding f on step s.
func (e *Engine) decision(s riskStep, f RiskFinding) RiskDecision {
	d := RiskDecision{At: s.check.At, Stage: s.check.Stage, Rule: f.Rule, Action: f.Action, Evidence: f.Evidence,
		MSISDN: s.check.MSISDN, Merchant: s.check.Merchant, Amount: s.check.Amount}
	if s.order != nil {
		d.OrderID = s.order.ID
	}
	return d
}

// record writes d and hands it to the decision hook.
func (e *Engine) record(ctx context.Context, tx Tx, d RiskDecision) error {
	id, err := tx.InsertRiskDecision(ctx, d)
	if err != nil {
		return fmt.Errorf("recording the %s decision of rule %s: %w", d.Action, d.Rule, err)
	}
	d.ID = id
	if e.decisionHook != nil {
		if err := e.decisionHook(ctx, tx, d); err != nil {
			return fmt.Errorf("the hook of risk decision %d: %w", id, err)
		}
	}
	e.log.Info("risk decision", "rule", d.Rule, "action", string(d.Action), "stage", string(d.Stage),
		"msisdn", redact.Phone(d.MSISDN), "merchant", d.Merchant, "order", d.OrderID, "decision", id)
	return nil
}

// blockFor puts what finding f names on the block list.
func (e *Engine) blockFor(ctx context.Context, tx Tx, c RiskCheck, f RiskFinding) error {
	en := RiskListEntry{List: RiskBlockList, Subject: f.Subject, Value: f.Value, Note: f.Evidence,
		CreatedBy: "rule:" + f.Rule, CreatedAt: c.At}
	switch en.Subject {
	case "", RiskNumber:
		en.Subject, en.Value = RiskNumber, c.MSISDN
	case RiskMerchant:
		if en.Value == "" {
			en.Value = c.Merchant
		}
	}
	if en.Value == "" {
		return nil // nothing to name: the decision alone stands
	}
	d := f.BlockFor
	if d <= 0 {
		d = DefaultRiskBlockFor
	}
	en.Until = c.At.Add(d)
	if _, err := tx.AddRiskListEntry(ctx, en); err != nil && !errors.Is(err, ErrRiskListEntryExists) {
		return fmt.Errorf("blocking the %s: %w", en.Subject, err)
	}
	return nil
}

// listEvidence says which entry refused a step (a number masked).
func listEvidence(en RiskListEntry) string {
	v := en.Value
	if en.Subject == RiskNumber {
		v = redact.Phone(v)
	}
	s := fmt.Sprintf("block list: %s %s", en.Subject, v)
	if !en.Until.IsZero() {
		s += " until " + en.Until.UTC().Format(time.RFC3339)
	}
	if en.CreatedBy != "" {
		s += " (" + en.CreatedBy + ")"
	}
	return s
}

// riskPrecheck is the rules' verdict on a confirmation asked before its
// transaction, on the order as a read outside it saw it.
type riskPrecheck struct {
	check   RiskCheck
	verdict RiskVerdict
	ok      bool // false: the rules could not answer (fail closed)
}

// promptedAt is when o's current code was prompted: its last fresh code,
// or its creation.
func promptedAt(o Order) time.Time {
	if o.PromptedAt.IsZero() {
		return o.CreatedAt
	}
	return o.PromptedAt
}

// confirmCheck is the rules' view of order o about to be charged.
func confirmCheck(ch Channel, o Order, byCode bool, now time.Time) RiskCheck {
	return RiskCheck{Stage: RiskConfirm, Channel: ch, MSISDN: o.MSISDN, Merchant: o.Merchant, Amount: o.Amount,
		Method: o.Method, At: now, OrderID: o.ID, ByCode: byCode, PromptedAt: promptedAt(o), FreshCodes: o.FreshCodes}
}

// peekConfirm looks, before the charge's transaction and without a lock,
// for the pending order r's code names (PeekPending), and asks the rules
// about it there: the Redis round trip then holds no row lock, no member
// of a group commit and not the embedded store's one writer. It returns
// the order's id (0: none seen), which the transaction reads first, by its
// key, instead of every order of the number; and the verdict (nil: the
// rules are off, or nothing was seen).
//
// The transaction uses the verdict only when it finds the same order with
// the same code generation (riskPrecheck.covers); otherwise (no order
// seen, another code, the read failed) it asks the rules itself, as it
// always did. The rules' counters may then count a confirmation that the
// transaction refuses (a wrong wallet password, a lock-out that began
// meanwhile): it errs towards holding, never towards charging.
func (e *Engine) peekConfirm(ctx context.Context, r ConfirmRequest, byCode bool) (int64, *riskPrecheck) {
	if r.Code == "" {
		return 0, nil
	}
	now := e.clock.Now()
	orders, err := e.store.PeekPending(ctx, r.MSISDN, now.Add(-confirmLookback-e.cfg.CodeValidity))
	if err != nil {
		return 0, nil // the transaction reads and asks
	}
	for _, o := range orders { // the newest pending order with the code, as findByCode picks it
		if o.Status != OrderPending || o.Code != r.Code || (r.OrderID != 0 && o.ID != r.OrderID) {
			continue
		}
		if e.risk == nil || !o.ExpiresAt.After(now) { // expired: the transaction answers so
			return o.ID, nil
		}
		c := confirmCheck(r.Channel, o, byCode, now)
		v, ok := e.assess(ctx, c)
		return o.ID, &riskPrecheck{check: c, verdict: v, ok: ok}
	}
	return 0, nil
}

// covers reports whether p was asked about order o as the transaction
// reads it: the same order, code generation and channel.
func (p *riskPrecheck) covers(o Order, ch Channel, byCode bool) bool {
	return p != nil && p.check.OrderID == o.ID && p.check.FreshCodes == o.FreshCodes && p.check.ByCode == byCode &&
		p.check.Channel == ch && p.check.PromptedAt.Equal(promptedAt(o)) && p.check.Amount == o.Amount && p.check.Merchant == o.Merchant
}

// screenConfirm runs the lists and rules on an order about to be charged
// (a right code, a merchant's confirmation or a renewal), inside the
// charge's transaction, with pre's verdict when it covers o. It returns
// the result when the step ends here (a fresh code: the new prompt is
// written) or the refusal event (held, blocked, busy: the order moved
// accordingly); neither: go on to reserve.
func (e *Engine) screenConfirm(ctx context.Context, tx Tx, src Source, o Order, byCode bool, pre *riskPrecheck, now time.Time) (*Result, *Event, error) {
	var (
		c  RiskCheck
		v  RiskVerdict
		ok bool
	)
	if pre.covers(o, src.Channel, byCode) {
		c, v, ok = pre.check, pre.verdict, pre.ok
	} else {
		c = confirmCheck(src.Channel, o, byCode, now)
		v, ok = e.assess(ctx, c)
	}
	rv, err := e.screen(ctx, tx, riskStep{check: c, order: &o}, v, !ok)
	if err != nil {
		return nil, nil, err
	}
	refusal := func(reason Reason) *Event {
		return &Event{Reason: reason, Order: &o, Origin: o.ServiceAddr}
	}
	switch {
	case rv.reason == ReasonServiceBusy:
		return nil, refusal(ReasonServiceBusy), nil
	case rv.action == RiskBlock:
		if err := e.endOrder(ctx, tx, o, OrderFailed, ReasonBlocked, now); err != nil {
			return nil, nil, err
		}
		o.Status, o.Reason = OrderFailed, ReasonBlocked
		return nil, refusal(ReasonBlocked), nil
	case rv.action == RiskHold:
		o.Status, o.UpdatedAt = OrderHeld, now
		if err := tx.UpdateOrder(ctx, o); err != nil {
			return nil, nil, fmt.Errorf("holding order %d: %w", o.ID, err)
		}
		return nil, refusal(ReasonRiskHold), nil
	case rv.action == RiskFreshCode:
		res, err := e.freshCode(ctx, tx, src, o, now)
		return res, nil, err
	}
	return nil, nil, nil
}

// freshCode gives order o a new code and prompts it again: the code that
// came confirms nothing.
func (e *Engine) freshCode(ctx context.Context, tx Tx, src Source, o Order, now time.Time) (*Result, error) {
	code, err := e.newCode()
	if err != nil {
		return nil, err
	}
	o.Code, o.ExpiresAt, o.PromptedAt, o.UpdatedAt = code, now.Add(e.cfg.CodeValidity), now, now
	o.FreshCodes++
	if err := tx.RenewOrderCode(ctx, o); err != nil {
		return nil, fmt.Errorf("giving order %d a fresh code: %w", o.ID, err)
	}
	m, _ := e.cfg.merchant(o.Merchant)
	ev := Event{Kind: EventPrompt, Channel: src.Channel, Origin: o.ServiceAddr, MSISDN: o.MSISDN, Merchant: m, Order: &o, FreshCode: true}
	if o.Method == MethodCard {
		if card, err := tx.OrderCard(ctx, o.ID); err == nil {
			ev.Card = &card
		} else if !errors.Is(err, ErrNotFound) {
			return nil, fmt.Errorf("reading the card of order %d: %w", o.ID, err)
		}
	}
	if err := e.notify(ctx, tx, ev); err != nil {
		return nil, err
	}
	return &Result{Outcome: OutcomePrompted, OrderID: o.ID, Order: &o}, nil
}

// screenPurchase runs the lists and the rules' verdict v on a purchase
// inside its transaction; a refusal event when it may not go on.
func (e *Engine) screenPurchase(ctx context.Context, tx Tx, c RiskCheck, v RiskVerdict, busy bool) (*Event, error) {
	rv, err := e.screen(ctx, tx, riskStep{check: c}, v, busy)
	if err != nil || rv.reason == "" {
		return nil, err
	}
	return &Event{Reason: rv.reason}, nil
}

// purchaseCheck is the rules' view of a purchase.
func purchaseCheck(r PurchaseRequest, m *Merchant, amount Money, now time.Time) RiskCheck {
	return RiskCheck{Stage: RiskPurchase, Channel: r.Channel, MSISDN: r.MSISDN, Merchant: m.Code, Amount: amount,
		Method: r.method(), At: now}
}

// learnResult tells the rules what a confirmation or charge came to.
func (e *Engine) learnResult(ctx context.Context, res Result, wrongCode bool, msisdn string) {
	if e.risk == nil {
		return
	}
	now := e.clock.Now()
	o := RiskOutcome{MSISDN: msisdn, At: now, Reason: res.Reason}
	if res.Order != nil {
		o.MSISDN, o.Merchant, o.Amount, o.Method = res.Order.MSISDN, res.Order.Merchant, res.Order.Amount, res.Order.Method
	}
	switch {
	case wrongCode:
		o.Kind = RiskOutcomeWrongCode
	case res.Outcome == OutcomeCharged:
		o.Kind = RiskOutcomeCharged
	case res.Outcome == OutcomeRejected && res.Order != nil && res.Order.Status == OrderFailed && res.Reason != ReasonBlocked:
		o.Kind = RiskOutcomeFailed
	default:
		return
	}
	e.learn(ctx, o)
}

// Operator actions on holds and lists.

// ErrNotHeld: the order is not waiting in OrderHeld.
var ErrNotHeld = errors.New("billing: order is not held for review")

// ReleaseHeld releases a held payment: reserve → debit → resolve run on it
// as on any confirmed order (the limits and the frequency rules apply now;
// the risk rules are not asked again), and its hold decision is marked
// released by by. Outcomes as Charge. Errors: ErrNotFound, ErrNotHeld, or
// a storage error.
func (e *Engine) ReleaseHeld(ctx context.Context, orderID int64, by string) (out Result, outErr error) {
	defer e.observe(RequestCharge, &out, &outErr)
	var src Source
	err := e.store.InTx(ctx, func(tx Tx) error {
		o, err := e.heldOrder(ctx, tx, orderID)
		src = heldSource(o)
		return err
	})
	if err != nil {
		return Result{}, fmt.Errorf("releasing order %d: %w", orderID, err)
	}
	res, err := e.charge(ctx, src, "", chargeOpts{release: true}, func(tx Tx, now time.Time) (Order, *Event, error) {
		o, err := e.heldOrder(ctx, tx, orderID)
		if err != nil {
			return Order{}, nil, err
		}
		if err := e.resolveHold(ctx, tx, orderID, "released", by, now); err != nil {
			return Order{}, nil, err
		}
		return o, nil, nil
	})
	if err != nil {
		return Result{}, fmt.Errorf("releasing order %d: %w", orderID, err)
	}
	e.log.Info("held payment released", "order", orderID, "by", by, "outcome", string(res.Outcome), "reason", string(res.Reason))
	return res, nil
}

// RefuseHeld refuses a held payment: the order fails with risk_refused,
// the subscriber is told, and its hold decision is marked refused by by.
// Errors: ErrNotFound, ErrNotHeld, or a storage error.
func (e *Engine) RefuseHeld(ctx context.Context, orderID int64, by string) (Result, error) {
	return e.refuseHeld(ctx, orderID, "refused", by)
}

// refuseHeld is RefuseHeld with the hold's resolution how (refused,
// expired).
func (e *Engine) refuseHeld(ctx context.Context, orderID int64, how, by string) (Result, error) {
	var res Result
	err := e.store.InTx(ctx, func(tx Tx) error {
		now := e.clock.Now()
		o, err := e.heldOrder(ctx, tx, orderID)
		if err != nil {
			return err
		}
		if err := e.resolveHold(ctx, tx, orderID, how, by, now); err != nil {
			return err
		}
		if err := e.endOrder(ctx, tx, o, OrderFailed, ReasonRiskRefused, now); err != nil {
			return err
		}
		o.Status, o.Reason = OrderFailed, ReasonRiskRefused
		ev := Event{Reason: ReasonRiskRefused, Order: &o, Origin: o.ServiceAddr}
		res = resultOf(ev)
		return e.refuseTx(ctx, tx, heldSource(o), o.MSISDN, ev)
	})
	if err != nil {
		return Result{}, fmt.Errorf("refusing order %d: %w", orderID, err)
	}
	e.log.Info("held payment refused", "order", orderID, "hold", how, "by", by)
	return res, nil
}

// HoldExpiredBy is who resolves a hold that waited past Config.HoldExpiry.
const HoldExpiredBy = "hold_expiry"

// ExpireHolds refuses the held payments that waited for an operator longer
// than Config.HoldExpiry, as RefuseHeld does (the order fails risk_refused,
// the subscriber is told), the hold resolved "expired" by HoldExpiredBy,
// and returns how many. A hold an operator decided meanwhile is left to
// that decision.
func (e *Engine) ExpireHolds(ctx context.Context) (int, error) {
	if e.cfg.HoldExpiry <= 0 {
		return 0, nil
	}
	held, err := e.store.HeldOrders(ctx, 0)
	if err != nil {
		return 0, fmt.Errorf("expiring holds: %w", err)
	}
	due := e.clock.Now().Add(-e.cfg.HoldExpiry)
	n := 0
	for _, o := range held {
		if o.UpdatedAt.After(due) { // held at UpdatedAt (screenConfirm)
			continue
		}
		switch _, err := e.refuseHeld(ctx, o.ID, "expired", HoldExpiredBy); {
		case err == nil:
			n++
		case errors.Is(err, ErrNotHeld):
		default:
			return n, fmt.Errorf("expiring holds: %w", err)
		}
	}
	return n, nil
}

// heldSource is the channel an operator's decision on a held order is
// told through: the order's own, except that a USSD dialog is over by then
// and the subscriber is texted instead.
func heldSource(o Order) Source {
	ch := o.Channel
	if ch == "" || ch == ChannelUSSD || ch == ChannelOperator {
		ch = ChannelSMS
	}
	return Source{Channel: ch, Origin: o.ServiceAddr}
}

// heldOrder locks the order orderID and checks it is held.
func (e *Engine) heldOrder(ctx context.Context, tx Tx, orderID int64) (Order, error) {
	o, err := tx.GetOrder(ctx, orderID)
	if err != nil {
		return Order{}, fmt.Errorf("reading order %d: %w", orderID, err)
	}
	if o.Status != OrderHeld {
		return Order{}, ErrNotHeld
	}
	return o, nil
}

// resolveHold marks the hold decision of the order resolved.
func (e *Engine) resolveHold(ctx context.Context, tx Tx, orderID int64, how, by string, now time.Time) error {
	d, err := tx.HoldDecision(ctx, orderID)
	if errors.Is(err, ErrNotFound) {
		return nil // held without a recorded decision cannot happen; nothing to mark
	}
	if err != nil {
		return fmt.Errorf("reading the hold of order %d: %w", orderID, err)
	}
	d.Resolution, d.ResolvedBy, d.ResolvedAt = how, by, now
	if err := tx.ResolveRiskDecision(ctx, d); err != nil {
		return fmt.Errorf("resolving the hold of order %d: %w", orderID, err)
	}
	return nil
}

// Block puts en on its list (en.List: block or allow) and returns its id.
// A number is given as its canonical digits, a prefix as leading digits,
// a merchant as its code. Errors: ErrBadRequest, ErrRiskListEntryExists,
// or a storage error.
func (e *Engine) Block(ctx context.Context, en RiskListEntry) (int64, error) {
	if err := checkListEntry(en); err != nil {
		return 0, err
	}
	if en.CreatedAt.IsZero() {
		en.CreatedAt = e.clock.Now()
	}
	var id int64
	err := e.store.InTx(ctx, func(tx Tx) error {
		var err error
		id, err = tx.AddRiskListEntry(ctx, en)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("adding to the %s list: %w", en.List, err)
	}
	e.log.Info("risk list entry added", "list", string(en.List), "subject", string(en.Subject), "by", en.CreatedBy, "entry", id)
	return id, nil
}

// Unblock ends the active entries of list naming subject and value and
// returns how many it ended (0: none was active).
func (e *Engine) Unblock(ctx context.Context, list RiskList, subject RiskSubject, value string) (int, error) {
	if err := checkListEntry(RiskListEntry{List: list, Subject: subject, Value: value}); err != nil {
		return 0, err
	}
	var n int
	err := e.store.InTx(ctx, func(tx Tx) error {
		var err error
		n, err = tx.EndRiskListEntries(ctx, list, subject, value, e.clock.Now())
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("ending %s list entries: %w", list, err)
	}
	e.log.Info("risk list entries ended", "list", string(list), "subject", string(subject), "ended", n)
	return n, nil
}

// checkListEntry refuses a list entry that can never match.
func checkListEntry(en RiskListEntry) error {
	if en.List != RiskBlockList && en.List != RiskAllowList {
		return badRequest("list: want block or allow")
	}
	switch en.Subject {
	case RiskNumber:
		if err := checkNumber(en.Value); err != nil {
			return err
		}
	case RiskPrefix:
		digits := strings.TrimPrefix(en.Value, "+") // numbers are stored canonical, "+86…"
		if digits == "" || len(digits) > 15 || strings.Trim(digits, "0123456789") != "" {
			return badRequest("prefix: want 1 to 15 digits, with or without a leading +")
		}
	case RiskMerchant:
		if strings.TrimSpace(en.Value) == "" {
			return badRequest("merchant: empty")
		}
	default:
		return badRequest("subject: want number, prefix or merchant")
	}
	return nil
}
