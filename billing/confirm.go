package billing

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/carrierbill/carrierbill/redact"
)

// A payment is confirmed in four named steps, each reusable:
//
//	verifyCode (the owner's code, and the wallet password of a card order)
//	→ reserve (frequency rules, limits, quota taken, charge row pending)
//	→ debit (the external charger, keyed, outside any transaction)
//	→ resolve (finalize: ledger, order paid, receipt; or fail: quota back)
//
// Confirm runs all four; Charge (a merchant-confirmed payment, a
// subscription renewal) runs the last three. verifyCode and reserve share
// one transaction, so a wrong code and a limit refusal commit with the MO.

// ChargeKey is the idempotency key of the charge of an order: one order,
// one key, so no retry of any step can debit twice.
func ChargeKey(orderID int64) string { return "order:" + strconv.FormatInt(orderID, 10) }

// confirmLookback is how far back a code is matched against past orders
// (to answer "already paid" or "expired" instead of "no pending order").
const confirmLookback = 24 * time.Hour

// ChargeRequest charges a pending order without a code: the caller has
// established the subscriber's consent another way (a subscription the
// subscriber confirmed, a merchant-confirmed payment).
type ChargeRequest struct {
	Source
	OrderID int64
}

// Confirm confirms an order with its code and charges it. Refusals come
// back as OutcomeRejected with their Reason (wrong_code, expired,
// too_many_attempts, already_paid, no_pending_order, password_required,
// wrong_password, wallet_locked, the limits, too_frequent, service_busy,
// and the charger's declines); a debit whose outcome is unknown is
// OutcomePending (the recovery sweep resolves it). Errors: ErrBadRequest,
// or a storage error (nothing committed, or only the reservation, which
// recovery completes).
func (e *Engine) Confirm(ctx context.Context, r ConfirmRequest) (out Result, outErr error) {
	defer e.observe(RequestConfirm, &out, &outErr)
	if err := checkNumber(r.MSISDN); err != nil {
		return Result{}, err
	}
	wrong := false
	opt := chargeOpts{byCode: !r.CodeFromChannel}
	seen, pre := e.peekConfirm(ctx, r, opt.byCode)
	opt.pre = pre
	res, err := e.charge(ctx, r.Source, r.MSISDN, opt, func(tx Tx, now time.Time) (Order, *Event, error) {
		o, ev, err := e.verifyCode(ctx, tx, r, seen, now)
		wrong = ev != nil && ev.wrongCode
		return o, ev, err
	})
	if err != nil {
		return Result{}, fmt.Errorf("confirmation from %s: %w", redact.Phone(r.MSISDN), err)
	}
	e.learnResult(ctx, res, wrong, r.MSISDN)
	return res, nil
}

// Charge runs reserve → debit → resolve on a pending order (no code).
// Refusals and outcomes as Confirm. Errors: ErrNotFound (no order),
// ErrNotCancellable (not pending), or a storage error.
func (e *Engine) Charge(ctx context.Context, r ChargeRequest) (out Result, outErr error) {
	defer e.observe(RequestCharge, &out, &outErr)
	res, err := e.charge(ctx, r.Source, "", chargeOpts{}, func(tx Tx, _ time.Time) (Order, *Event, error) {
		o, err := tx.GetOrder(ctx, r.OrderID)
		if err != nil {
			return Order{}, nil, fmt.Errorf("reading order %d: %w", r.OrderID, err)
		}
		if o.Status != OrderPending {
			return Order{}, nil, ErrNotCancellable
		}
		return o, nil, nil
	})
	if err != nil {
		return Result{}, fmt.Errorf("charging order %d: %w", r.OrderID, err)
	}
	e.learnResult(ctx, res, false, "")
	return res, nil
}

// chargeOpts says how a charge was asked for.
type chargeOpts struct {
	// byCode: the subscriber confirmed with a code (the risk rules time it).
	byCode bool
	// release: an operator released a held payment: the risk rules and the
	// frequency rules (a subscriber's pace) are not asked again; the limits are.
	release bool
	// pre: the risk rules' verdict asked before the transaction (nil: ask
	// inside it).
	pre *riskPrecheck
}

// charge is Confirm and Charge: in one transaction, find the order (or the
// refusal) and reserve; then, outside it, debit and resolve. msisdn is who
// a refusal goes to ("" = the order's number).
func (e *Engine) charge(ctx context.Context, src Source, msisdn string, opt chargeOpts, find func(tx Tx, now time.Time) (Order, *Event, error)) (Result, error) {
	var (
		res    Result
		order  Order
		charge Charge
	)
	err := e.store.InTx(ctx, func(tx Tx) error {
		res, order, charge = Result{}, Order{}, Charge{}
		now := e.clock.Now()
		o, ev, err := find(tx, now)
		if err != nil {
			return err
		}
		if ev == nil && !opt.release {
			var done *Result
			if done, ev, err = e.screenConfirm(ctx, tx, src, o, opt.byCode, opt.pre, now); err != nil {
				return err
			}
			if done != nil { // a fresh code: its prompt is written
				res = *done
				return markMO(ctx, tx, src.MO, now)
			}
		}
		if ev == nil {
			order, charge, ev, err = e.reserve(ctx, tx, src, o, !opt.release, now)
			if err != nil {
				return err
			}
		}
		if ev != nil {
			res = resultOf(*ev)
			if ev.Reason == ReasonRiskHold {
				res.Outcome = OutcomeHeld
			}
			to := msisdn
			if to == "" {
				to = o.MSISDN
			}
			return e.refuseTx(ctx, tx, src, to, *ev)
		}
		return markMO(ctx, tx, src.MO, now)
	})
	if err != nil {
		return Result{}, err
	}
	if charge.ID == 0 {
		e.log.Info("confirmation", "channel", string(src.Channel), "msisdn", redact.Phone(msisdn), "outcome", string(res.Outcome), "reason", string(res.Reason), "order", res.OrderID)
		return res, nil
	}
	return e.debit(ctx, src, order, charge)
}

// verifyCode finds the order r confirms and checks its code (and, for a
// card order, the wallet password) under the number's code guard; seen is
// the order a look before the transaction found (0: none). It returns the
// order to reserve, or the refusal event.
func (e *Engine) verifyCode(ctx context.Context, tx Tx, r ConfirmRequest, seen int64, now time.Time) (Order, *Event, error) {
	refusal := func(reason Reason, o *Order) *Event {
		ev := &Event{Reason: reason, Order: o}
		if o != nil {
			ev.Origin = o.ServiceAddr
		}
		return ev
	}
	g, err := e.lockGuard(ctx, tx, r.MSISDN, now)
	if err != nil {
		return Order{}, nil, err
	}
	if wait := e.guardLocked(g, now); wait > 0 { // compare nothing while locked out
		ev := refusal(ReasonTooManyAttempts, nil)
		ev.RetryAfter = wait
		return Order{}, ev, nil
	}
	match, pending, err := e.findByCode(ctx, tx, r, seen, now)
	if err != nil {
		return Order{}, nil, err
	}
	if match == nil {
		if len(pending) == 0 {
			return Order{}, refusal(ReasonNoPendingOrder, nil), nil
		}
		// A wrong code: counted against the number (weighted by how many
		// pending codes it was compared with) and against its newest
		// pending order.
		target := pending[0]
		for i := range pending {
			if pending[i].ServiceAddr == r.Origin {
				target = pending[i]
				break
			}
		}
		if err := e.countWrongCode(ctx, tx, &g, len(pending), now); err != nil {
			return Order{}, nil, err
		}
		target.Attempts++
		target.UpdatedAt = now
		if target.Attempts >= e.cfg.MaxWrongCodes {
			target.Status, target.Reason = OrderVoided, ReasonTooManyAttempts
			if err := tx.UpdateOrder(ctx, target); err != nil {
				return Order{}, nil, fmt.Errorf("voiding order %d: %w", target.ID, err)
			}
			ev := refusal(ReasonTooManyAttempts, &target)
			ev.wrongCode = true
			return Order{}, ev, nil
		}
		if err := tx.UpdateOrder(ctx, target); err != nil {
			return Order{}, nil, fmt.Errorf("counting a wrong code on order %d: %w", target.ID, err)
		}
		ev := refusal(ReasonWrongCode, &target)
		ev.wrongCode = true
		ev.AttemptsLeft = e.cfg.MaxWrongCodes - target.Attempts
		if wait := e.guardLocked(g, now); wait > 0 {
			ev.Reason, ev.RetryAfter = ReasonTooManyAttempts, wait
		}
		return Order{}, ev, nil
	}
	o := *match
	switch o.Status {
	case OrderPaid, OrderCharging, OrderRefunded:
		return Order{}, refusal(ReasonAlreadyPaid, &o), nil
	case OrderExpired:
		return Order{}, refusal(ReasonExpired, &o), nil
	case OrderVoided:
		if o.Reason == ReasonCancelled {
			return Order{}, refusal(ReasonCancelled, &o), nil
		}
		return Order{}, refusal(ReasonTooManyAttempts, &o), nil
	case OrderFailed:
		return Order{}, refusal(ReasonNoPendingOrder, &o), nil
	case OrderHeld: // already confirmed, waiting for an operator
		return Order{}, refusal(ReasonRiskHold, &o), nil
	}
	if !o.ExpiresAt.After(now) {
		if err := e.endOrder(ctx, tx, o, OrderExpired, ReasonExpired, now); err != nil {
			return Order{}, nil, err
		}
		o.Status, o.Reason = OrderExpired, ReasonExpired
		return Order{}, refusal(ReasonExpired, &o), nil
	}
	if o.Method == MethodCard {
		ev, err := e.verifyWallet(ctx, tx, o, r.Password, now)
		if err != nil || ev != nil {
			return Order{}, ev, err
		}
	}
	return o, nil, nil
}

// findByCode returns the order the code names (nil: none) and the
// number's pending orders newest first (what a wrong code was compared
// with). With r.OrderID only that order is compared. seen (0: none) is the
// pending order with this code that a look before the transaction found:
// read alone, by its key, and still pending with this code, it is the
// order every order of the number would have named (the newest pending
// order with the code, as PeekPending lists them newest first).
func (e *Engine) findByCode(ctx context.Context, tx Tx, r ConfirmRequest, seen int64, now time.Time) (*Order, []Order, error) {
	if seen != 0 && r.OrderID == 0 {
		o, err := tx.GetOrder(ctx, seen)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return nil, nil, fmt.Errorf("reading order %d: %w", seen, err)
		}
		if err == nil && o.MSISDN == r.MSISDN && o.Code == r.Code && o.Status == OrderPending {
			return &o, nil, nil
		}
	}
	if r.OrderID != 0 {
		o, err := tx.GetOrder(ctx, r.OrderID)
		if errors.Is(err, ErrNotFound) {
			return nil, nil, nil
		}
		if err != nil {
			return nil, nil, fmt.Errorf("reading order %d: %w", r.OrderID, err)
		}
		if o.MSISDN != r.MSISDN { // a code confirms only by its owner
			return nil, nil, nil
		}
		if o.Code == r.Code {
			return &o, nil, nil
		}
		if o.Status == OrderPending && o.ExpiresAt.After(now) {
			return nil, []Order{o}, nil
		}
		return nil, nil, nil
	}
	orders, err := tx.OrdersSince(ctx, r.MSISDN, now.Add(-confirmLookback-e.cfg.CodeValidity))
	if err != nil {
		return nil, nil, fmt.Errorf("reading the orders: %w", err)
	}
	var match *Order
	var pending []Order
	for i := range orders {
		o := &orders[i]
		if o.Code == r.Code && (match == nil || (match.Status != OrderPending && o.Status == OrderPending)) {
			match = o
		}
		if o.Status == OrderPending {
			pending = append(pending, *o)
		}
	}
	if match != nil {
		return match, nil, nil
	}
	// An expired but unswept order answers "expired", not a wrong code.
	live := pending[:0:0]
	for _, o := range pending {
		if o.ExpiresAt.After(now) {
			live = append(live, o)
		}
	}
	if len(live) == 0 && len(pending) > 0 {
		o := pending[0]
		if err := e.endOrder(ctx, tx, o, OrderExpired, ReasonExpired, now); err != nil {
			return nil, nil, err
		}
		o.Status, o.Reason = OrderExpired, ReasonExpired
		return &o, nil, nil
	}
	return nil, live, nil
}

// reserve is phase one of a charge, inside the caller's transaction: the
// frequency rules (fail closed), the limits under the quota row lock, the
// database backstop of the minimum interval; then the quota is taken, the
// pending charge row written and the order marked charging. It returns
// the refusal event instead when a rule says no (the order then fails
// with that reason when it can never pass: the limits).
func (e *Engine) reserve(ctx context.Context, tx Tx, src Source, o Order, frequency bool, now time.Time) (Order, Charge, *Event, error) {
	refusal := func(reason Reason, wait time.Duration) *Event {
		return &Event{Reason: reason, Order: &o, Origin: o.ServiceAddr, RetryAfter: wait}
	}
	if !frequency { // a released hold: the limits alone
		return e.reserveQuota(ctx, tx, o, 0, now)
	}
	if reason, wait := e.allow(ctx, Rule{Name: "confirm_per_order", Limit: e.cfg.ConfirmationsPerOrder, Period: e.cfg.CodeValidity},
		"order:"+strconv.FormatInt(o.ID, 10)); reason != "" {
		return Order{}, Charge{}, refusal(reason, wait), nil
	}
	return e.reserveQuota(ctx, tx, o, e.cfg.frequency(o.Method).MinInterval, now)
}

// reserveQuota is reserve after the per-order rule: the limits and, when
// minInterval > 0, the minimum interval (database backstop, then the
// limiter), then the quota taken and the charge row written.
func (e *Engine) reserveQuota(ctx context.Context, tx Tx, o Order, minInterval time.Duration, now time.Time) (Order, Charge, *Event, error) {
	refusal := func(reason Reason, wait time.Duration) *Event {
		return &Event{Reason: reason, Order: &o, Origin: o.ServiceAddr, RetryAfter: wait}
	}
	q, err := e.lockQuota(ctx, tx, o.MSISDN, o.Method, now)
	if err != nil {
		return Order{}, Charge{}, nil, err
	}
	if minInterval > 0 && !q.LastChargeAt.IsZero() && now.Sub(q.LastChargeAt) < minInterval {
		return Order{}, Charge{}, refusal(ReasonTooFrequent, minInterval-now.Sub(q.LastChargeAt)), nil
	}
	lim := e.cfg.Limits[o.Method]
	if reason := checkLimits(lim, q, o.Amount); reason != "" {
		if err := e.endOrder(ctx, tx, o, OrderFailed, reason, now); err != nil {
			return Order{}, Charge{}, nil, err
		}
		o.Status, o.Reason = OrderFailed, reason
		ev := refusal(reason, 0)
		ev.Quota, ev.Limits = left(lim, q), lim
		return Order{}, Charge{}, ev, nil
	}
	// The limiter's minimum interval last, so that an event the database
	// refuses is not counted.
	if reason, wait := e.allow(ctx, Rule{Name: "min_interval", Limit: 1, Period: minInterval}, rateKey(o.Method, o.MSISDN)); reason != "" {
		return Order{}, Charge{}, refusal(reason, wait), nil
	}
	q.DaySpent += o.Amount
	q.MonthSpent += o.Amount
	q.LastChargeAt = now
	if err := tx.SaveQuota(ctx, q); err != nil {
		return Order{}, Charge{}, nil, fmt.Errorf("reserving quota: %w", err)
	}
	c := Charge{
		OrderID: o.ID, IdempotencyKey: ChargeKey(o.ID), MSISDN: o.MSISDN, Merchant: o.Merchant,
		Amount: o.Amount, Method: o.Method, Status: ChargePending, CreatedAt: now,
	}
	if c.ID, err = tx.InsertCharge(ctx, c); err != nil {
		return Order{}, Charge{}, nil, fmt.Errorf("recording the charge of order %d: %w", o.ID, err)
	}
	o.Status, o.UpdatedAt = OrderCharging, now
	if err := tx.UpdateOrder(ctx, o); err != nil {
		return Order{}, Charge{}, nil, fmt.Errorf("marking order %d charging: %w", o.ID, err)
	}
	return o, c, nil, nil
}

// debit runs the external debit of a reserved charge and phase two.
func (e *Engine) debit(ctx context.Context, src Source, o Order, c Charge) (Result, error) {
	dctx, cancel := context.WithTimeout(ctx, e.cfg.ChargeTimeout)
	err := e.chargerFor(c.Method).Debit(dctx, c.IdempotencyKey, c.MSISDN, c.Amount)
	cancel()
	pending := Result{Outcome: OutcomePending, OrderID: o.ID, ChargeID: c.ID, Order: &o}
	var declined *Declined
	switch {
	case err == nil:
		q, err := e.resolve(ctx, src.Channel, c.ID, true, "")
		if err != nil {
			// Debited but not finalized: the recovery sweep finishes it.
			e.log.Error("finalizing a debited charge failed; recovery will finish it", "charge", c.ID, "err", err)
			return pending, nil
		}
		e.log.Info("charged", "order", o.ID, "charge", c.ID, "msisdn", redact.Phone(c.MSISDN), "amount", c.Amount.String())
		o.Status = OrderPaid
		return Result{Outcome: OutcomeCharged, OrderID: o.ID, ChargeID: c.ID, Order: &o, Quota: q}, nil
	case errors.As(err, &declined):
		reason := declined.Reason
		if !reason.Valid() {
			reason = ReasonChargeFailed
		}
		q, err := e.resolve(ctx, src.Channel, c.ID, false, reason)
		if err != nil {
			e.log.Error("failing a declined charge failed; recovery will finish it", "charge", c.ID, "err", err)
			return pending, nil
		}
		e.log.Info("debit declined", "order", o.ID, "charge", c.ID, "msisdn", redact.Phone(c.MSISDN), "reason", string(reason))
		o.Status, o.Reason = OrderFailed, reason
		return Result{Outcome: OutcomeRejected, Reason: reason, OrderID: o.ID, ChargeID: c.ID, Order: &o, Quota: q}, nil
	default:
		e.log.Warn("debit outcome unknown; left for recovery", "order", o.ID, "charge", c.ID, "err", err)
		return pending, nil
	}
}

// resolve is phase two in its own transaction; it returns the quota left.
func (e *Engine) resolve(ctx context.Context, ch Channel, chargeID int64, debited bool, reason Reason) (*QuotaLeft, error) {
	var q *QuotaLeft
	err := e.store.InTx(ctx, func(tx Tx) error {
		c, err := tx.GetCharge(ctx, chargeID)
		if err != nil {
			return fmt.Errorf("locking charge %d: %w", chargeID, err)
		}
		q, err = e.resolveLocked(ctx, tx, ch, c, debited, reason)
		return err
	})
	return q, err
}

// resolveLocked finalizes a debited charge (ledger, order paid, receipt)
// or fails it (quota released from the periods it was taken in, order
// failed, refusal event). A charge no longer pending is left alone.
func (e *Engine) resolveLocked(ctx context.Context, tx Tx, ch Channel, c Charge, debited bool, reason Reason) (*QuotaLeft, error) {
	if c.Status != ChargePending {
		return nil, nil
	}
	now := e.clock.Now()
	o, err := tx.GetOrder(ctx, c.OrderID)
	if err != nil {
		return nil, fmt.Errorf("locking order %d: %w", c.OrderID, err)
	}
	q, err := e.lockQuota(ctx, tx, c.MSISDN, c.Method, now)
	if err != nil {
		return nil, err
	}
	lim := e.cfg.Limits[c.Method]
	if !debited {
		c.Status, c.FailureReason, c.ResolvedAt = ChargeFailed, reason, now
		if err := tx.ResolveCharge(ctx, c); err != nil {
			return nil, fmt.Errorf("failing charge %d: %w", c.ID, err)
		}
		day, month := e.periods(c.CreatedAt)
		if q.Month == month {
			q.MonthSpent = max(q.MonthSpent-c.Amount, 0)
		}
		if q.Day == day {
			q.DaySpent = max(q.DaySpent-c.Amount, 0)
		}
		q.DaySpent = min(q.DaySpent, q.MonthSpent)
		if err := tx.SaveQuota(ctx, q); err != nil {
			return nil, fmt.Errorf("releasing quota: %w", err)
		}
		if err := e.endOrder(ctx, tx, o, OrderFailed, reason, now); err != nil {
			return nil, err
		}
		o.Status, o.Reason = OrderFailed, reason
		if c.Method == MethodCard && reason == ReasonCardClosed {
			if err := e.closeOrderCard(ctx, tx, o.ID); err != nil {
				return nil, err
			}
		}
		ql := left(lim, q)
		return ql, e.notify(ctx, tx, Event{Kind: EventRefused, Channel: ch, Origin: o.ServiceAddr, MSISDN: o.MSISDN, Reason: reason, Order: &o, Charge: &c, Quota: ql})
	}
	c.Status, c.ResolvedAt = ChargeSucceeded, now
	if err := tx.ResolveCharge(ctx, c); err != nil {
		return nil, fmt.Errorf("finalizing charge %d: %w", c.ID, err)
	}
	txn := "charge:" + strconv.FormatInt(c.ID, 10)
	if err := tx.InsertPostings(ctx, []Posting{
		{Txn: txn, Kind: PostingPayment, Account: SubscriberAccount(c.Method, c.MSISDN), Merchant: c.Merchant, Amount: c.Amount, ChargeID: c.ID, CreatedAt: now},
		{Txn: txn, Kind: PostingPayment, Account: MerchantAccount(c.Merchant), Merchant: c.Merchant, Amount: -c.Amount, ChargeID: c.ID, CreatedAt: now},
	}); err != nil {
		return nil, fmt.Errorf("writing the ledger of charge %d: %w", c.ID, err)
	}
	o.Status, o.UpdatedAt = OrderPaid, now
	if err := tx.UpdateOrder(ctx, o); err != nil {
		return nil, fmt.Errorf("marking order %d paid: %w", o.ID, err)
	}
	sub, err := e.subscriptionPaid(ctx, tx, o, now)
	if err != nil {
		return nil, err
	}
	ql := left(lim, q)
	return ql, e.notify(ctx, tx, Event{Kind: EventReceipt, Channel: ch, Origin: o.ServiceAddr, MSISDN: o.MSISDN, Order: &o, Charge: &c, Quota: ql, Subscription: sub})
}

// SubscriberAccount is the ledger account of a payer.
func SubscriberAccount(m Method, msisdn string) string {
	return "subscriber:" + string(m) + ":" + msisdn
}

// MerchantAccount is the ledger account of what the platform owes a merchant.
func MerchantAccount(code string) string { return "merchant:" + code + ":payable" }

// Recover resolves charges pending longer than RecoverAfter by asking the
// charger: debited → finalized with receipt; never debited → failed, quota
// released, the subscriber told. Several processes may run it at once: a
// charge is locked (skipping locked rows) while it is resolved. It returns
// how many charges it resolved.
func (e *Engine) Recover(ctx context.Context) (int, error) {
	total := 0
	for {
		// 1. Find stale charges in a short transaction.
		var cs []Charge
		err := e.store.InTx(ctx, func(tx Tx) error {
			var err error
			cs, err = tx.StaleCharges(ctx, e.clock.Now().Add(-e.cfg.RecoverAfter), 20)
			return err
		})
		if err != nil {
			return total, fmt.Errorf("finding stale charges: %w", err)
		}
		n := 0
		for _, c := range cs {
			// 2. Ask the charger outside any transaction: never hold a row
			// lock (or, on the embedded store, the one writer) across a
			// call to an external system.
			sctx, cancel := context.WithTimeout(ctx, e.cfg.ChargeTimeout)
			st, err := e.chargerFor(c.Method).Status(sctx, c.IdempotencyKey)
			cancel()
			if err != nil {
				e.log.Warn("charger status unknown; retried next sweep", "charge", c.ID, "err", err)
				continue
			}
			// 3. Resolve under the charge's lock, unless another sweep or
			// the live path resolved it meanwhile.
			resolved := false
			err = e.store.InTx(ctx, func(tx Tx) error {
				resolved = false
				locked, err := tx.GetCharge(ctx, c.ID)
				if err != nil {
					return fmt.Errorf("locking charge %d: %w", c.ID, err)
				}
				if locked.Status != ChargePending {
					return nil
				}
				resolved = true
				_, err = e.resolveLocked(ctx, tx, "", locked, st == DebitDone, ReasonChargeFailed)
				return err
			})
			if err != nil {
				return total, err
			}
			if resolved {
				e.log.Info("recovered charge", "charge", c.ID, "debited", st == DebitDone)
				n++
			}
		}
		total += n
		if len(cs) < 20 || n == 0 {
			return total, nil
		}
	}
}
