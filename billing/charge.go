package billing

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/carrierbill/carrierbill/redact"
)

// ChargeKey is the idempotency key of the charge of an order: one order,
// one key, so no retry of any step can debit twice.
func ChargeKey(orderID int64) string { return "order:" + strconv.FormatInt(orderID, 10) }

// confirmLookback is how far back a code is matched against past orders
// (to answer "already paid" or "expired" instead of "no pending order").
const confirmLookback = 24 * time.Hour

// confirm handles a 6-digit code: phase one of the charge (checks and quota
// reservation, charge row pending) in one transaction, then the debit, then
// phase two (finalize or fail). password is the wallet password that came
// with the code ("" when none): a card order needs it, a phone order
// ignores it.
func (e *Engine) confirm(ctx context.Context, mo InboundMO, code, password string) (Result, error) {
	var (
		res    Result
		charge Charge
		order  Order
	)
	err := e.store.InTx(ctx, func(tx Tx) error {
		res, charge, order = Result{}, Charge{}, Order{}
		now := e.clock.Now()
		orders, err := tx.OrdersSince(ctx, mo.MSISDN, now.Add(-confirmLookback-e.cfg.CodeValidity))
		if err != nil {
			return fmt.Errorf("reading the orders: %w", err)
		}
		var match, target *Order
		for i := range orders {
			o := &orders[i]
			if o.Code == code && (match == nil || (match.Status != OrderPending && o.Status == OrderPending)) {
				match = o
			}
			if o.Status == OrderPending && (target == nil || (target.ServiceAddr != mo.ServiceAddr && o.ServiceAddr == mo.ServiceAddr)) {
				target = o
			}
		}
		say := func(reason Reason, orderID int64, from string, kv ...string) error {
			res = Result{Outcome: OutcomeRejected, Reason: reason, OrderID: orderID}
			if from == "" {
				from = mo.ServiceAddr
			}
			if err := e.enqueue(ctx, tx, mo.MSISDN, from, OutboxReject, orderID, e.cfg.text(string(reason), kv...)); err != nil {
				return err
			}
			return markMO(ctx, tx, mo, now)
		}
		if match == nil {
			if target == nil {
				return say(ReasonNoPendingOrder, 0, "")
			}
			if !target.ExpiresAt.After(now) {
				if err := e.expire(ctx, tx, *target, false); err != nil {
					return err
				}
				return say(ReasonExpired, target.ID, target.ServiceAddr)
			}
			target.Attempts++
			target.UpdatedAt = now
			if target.Attempts >= e.cfg.MaxWrongCodes {
				target.Status, target.Reason = OrderVoided, ReasonTooManyAttempts
				if err := tx.UpdateOrder(ctx, *target); err != nil {
					return fmt.Errorf("voiding order %d: %w", target.ID, err)
				}
				return say(ReasonTooManyAttempts, target.ID, target.ServiceAddr)
			}
			if err := tx.UpdateOrder(ctx, *target); err != nil {
				return fmt.Errorf("counting a wrong code on order %d: %w", target.ID, err)
			}
			return say(ReasonWrongCode, target.ID, target.ServiceAddr,
				"attempts_left", strconv.Itoa(e.cfg.MaxWrongCodes-target.Attempts))
		}
		switch match.Status {
		case OrderPaid, OrderCharging, OrderRefunded:
			return say(ReasonAlreadyPaid, match.ID, match.ServiceAddr)
		case OrderExpired:
			return say(ReasonExpired, match.ID, match.ServiceAddr)
		case OrderVoided:
			return say(ReasonTooManyAttempts, match.ID, match.ServiceAddr)
		case OrderFailed:
			return say(ReasonNoPendingOrder, match.ID, match.ServiceAddr)
		}
		o := *match
		if !o.ExpiresAt.After(now) {
			if err := e.expire(ctx, tx, o, false); err != nil {
				return err
			}
			return say(ReasonExpired, o.ID, o.ServiceAddr)
		}
		if o.Method == MethodCard {
			if !e.cardsOn() {
				return say(ReasonServiceBusy, o.ID, o.ServiceAddr)
			}
			if password == "" { // the order stays pending: reply with both
				return say(ReasonPasswordRequired, o.ID, o.ServiceAddr)
			}
			ct, err := cardTx(tx)
			if err != nil {
				return err
			}
			reason, kv, err := e.checkWallet(ctx, ct, o.MSISDN, password)
			if err != nil {
				return err
			}
			if reason != "" { // the order stays pending (wrong password) or waits for the unlock
				return say(reason, o.ID, o.ServiceAddr, kv...)
			}
			card, err := ct.OrderCard(ctx, o.ID)
			if err != nil && !errors.Is(err, ErrNotFound) {
				return fmt.Errorf("reading the card of order %d: %w", o.ID, err)
			}
			if err != nil || card.Status != CardActive {
				o.Status, o.Reason, o.UpdatedAt = OrderFailed, ReasonNoCard, now
				if err := tx.UpdateOrder(ctx, o); err != nil {
					return fmt.Errorf("failing order %d: %w", o.ID, err)
				}
				return say(ReasonNoCard, o.ID, o.ServiceAddr)
			}
		}
		// Frequency rules: fail closed.
		if e.cfg.ConfirmationsPerOrder > 0 {
			d, err := e.limiter.Allow(ctx, Rule{Name: "confirm_per_order", Limit: e.cfg.ConfirmationsPerOrder, Period: e.cfg.CodeValidity}, "order:"+strconv.FormatInt(o.ID, 10))
			if err != nil {
				e.log.Warn("limiter unavailable; refusing", "rule", "confirm_per_order", "err", err)
				return say(ReasonServiceBusy, o.ID, o.ServiceAddr)
			}
			if !d.Allowed {
				return say(ReasonTooFrequent, o.ID, o.ServiceAddr, "retry", seconds(d.RetryAfter))
			}
		}
		// Limits, atomically under the quota row lock.
		q, err := e.lockQuota(ctx, tx, o.MSISDN, o.Method, now)
		if err != nil {
			return err
		}
		minInterval := e.cfg.frequency(o.Method).MinInterval
		if minInterval > 0 && !q.LastChargeAt.IsZero() && now.Sub(q.LastChargeAt) < minInterval {
			return say(ReasonTooFrequent, o.ID, o.ServiceAddr, "retry", seconds(minInterval-now.Sub(q.LastChargeAt)))
		}
		if reason, kv := e.checkLimits(e.cfg.Limits[o.Method], q, o.Amount); reason != "" {
			o.Status, o.Reason, o.UpdatedAt = OrderFailed, reason, now
			if err := tx.UpdateOrder(ctx, o); err != nil {
				return fmt.Errorf("failing order %d: %w", o.ID, err)
			}
			return say(reason, o.ID, o.ServiceAddr, kv...)
		}
		// The limiter's minimum interval last, so that an event the
		// database refuses is not counted.
		if minInterval > 0 {
			// Per method, like the quota row the database backstop reads.
			key := o.MSISDN
			if o.Method != MethodPhone {
				key = string(o.Method) + ":" + o.MSISDN
			}
			d, err := e.limiter.Allow(ctx, Rule{Name: "min_interval", Limit: 1, Period: minInterval}, key)
			if err != nil {
				e.log.Warn("limiter unavailable; refusing", "rule", "min_interval", "err", err)
				return say(ReasonServiceBusy, o.ID, o.ServiceAddr)
			}
			if !d.Allowed {
				return say(ReasonTooFrequent, o.ID, o.ServiceAddr, "retry", seconds(d.RetryAfter))
			}
		}
		q.DaySpent += o.Amount
		q.MonthSpent += o.Amount
		q.LastChargeAt = now
		if err := tx.SaveQuota(ctx, q); err != nil {
			return fmt.Errorf("reserving quota: %w", err)
		}
		charge = Charge{
			OrderID: o.ID, IdempotencyKey: ChargeKey(o.ID), MSISDN: o.MSISDN, Merchant: o.Merchant,
			Amount: o.Amount, Method: o.Method, Status: ChargePending, CreatedAt: now,
		}
		if charge.ID, err = tx.InsertCharge(ctx, charge); err != nil {
			return fmt.Errorf("recording the charge of order %d: %w", o.ID, err)
		}
		o.Status, o.UpdatedAt = OrderCharging, now
		if err := tx.UpdateOrder(ctx, o); err != nil {
			return fmt.Errorf("marking order %d charging: %w", o.ID, err)
		}
		order = o
		return markMO(ctx, tx, mo, now)
	})
	if err != nil {
		return Result{}, fmt.Errorf("confirmation from %s: %w", redact.Phone(mo.MSISDN), err)
	}
	if charge.ID == 0 {
		e.log.Info("confirmation", "mo", mo.ID, "msisdn", redact.Phone(mo.MSISDN), "outcome", string(res.Outcome), "reason", string(res.Reason), "order", res.OrderID)
		return res, nil
	}
	return e.debit(ctx, order, charge)
}

// debit runs the external debit of a reserved charge and phase two.
func (e *Engine) debit(ctx context.Context, o Order, c Charge) (Result, error) {
	dctx, cancel := context.WithTimeout(ctx, e.cfg.ChargeTimeout)
	err := e.chargerFor(c.Method).Debit(dctx, c.IdempotencyKey, c.MSISDN, c.Amount)
	cancel()
	var declined *Declined
	switch {
	case err == nil:
		if err := e.resolve(ctx, c.ID, true, ""); err != nil {
			// Debited but not finalized: the recovery sweep finishes it.
			e.log.Error("finalizing a debited charge failed; recovery will finish it", "charge", c.ID, "err", err)
			return Result{Outcome: OutcomePending, OrderID: o.ID, ChargeID: c.ID}, nil
		}
		e.log.Info("charged", "order", o.ID, "charge", c.ID, "msisdn", redact.Phone(c.MSISDN), "amount", c.Amount.String())
		return Result{Outcome: OutcomeCharged, OrderID: o.ID, ChargeID: c.ID}, nil
	case errors.As(err, &declined):
		reason := declined.Reason
		if !reason.Valid() {
			reason = ReasonChargeFailed
		}
		if err := e.resolve(ctx, c.ID, false, reason); err != nil {
			e.log.Error("failing a declined charge failed; recovery will finish it", "charge", c.ID, "err", err)
			return Result{Outcome: OutcomePending, OrderID: o.ID, ChargeID: c.ID}, nil
		}
		e.log.Info("debit declined", "order", o.ID, "charge", c.ID, "msisdn", redact.Phone(c.MSISDN), "reason", string(reason))
		return Result{Outcome: OutcomeRejected, Reason: reason, OrderID: o.ID, ChargeID: c.ID}, nil
	default:
		e.log.Warn("debit outcome unknown; left for recovery", "order", o.ID, "charge", c.ID, "err", err)
		return Result{Outcome: OutcomePending, OrderID: o.ID, ChargeID: c.ID}, nil
	}
}

// resolve is phase two: in one transaction, finalize a debited charge
// (ledger, order paid, receipt) or fail it (release the quota, order
// failed, MT with the reason). A charge no longer pending is left alone.
func (e *Engine) resolve(ctx context.Context, chargeID int64, debited bool, reason Reason) error {
	return e.store.InTx(ctx, func(tx Tx) error {
		c, err := tx.GetCharge(ctx, chargeID)
		if err != nil {
			return fmt.Errorf("locking charge %d: %w", chargeID, err)
		}
		return e.resolveLocked(ctx, tx, c, debited, reason)
	})
}

func (e *Engine) resolveLocked(ctx context.Context, tx Tx, c Charge, debited bool, reason Reason) error {
	if c.Status != ChargePending {
		return nil
	}
	now := e.clock.Now()
	o, err := tx.GetOrder(ctx, c.OrderID)
	if err != nil {
		return fmt.Errorf("locking order %d: %w", c.OrderID, err)
	}
	name := o.Merchant
	if m, ok := e.cfg.merchant(o.Merchant); ok {
		name = m.Name
	}
	q, err := e.lockQuota(ctx, tx, c.MSISDN, c.Method, now)
	if err != nil {
		return err
	}
	if !debited {
		c.Status, c.FailureReason, c.ResolvedAt = ChargeFailed, reason, now
		if err := tx.ResolveCharge(ctx, c); err != nil {
			return fmt.Errorf("failing charge %d: %w", c.ID, err)
		}
		// Release the reservation from the periods it was taken in.
		day, month := e.periods(c.CreatedAt)
		if q.Month == month {
			q.MonthSpent = max(q.MonthSpent-c.Amount, 0)
		}
		if q.Day == day {
			q.DaySpent = max(q.DaySpent-c.Amount, 0)
		}
		q.DaySpent = min(q.DaySpent, q.MonthSpent)
		if err := tx.SaveQuota(ctx, q); err != nil {
			return fmt.Errorf("releasing quota: %w", err)
		}
		o.Status, o.Reason, o.UpdatedAt = OrderFailed, reason, now
		if err := tx.UpdateOrder(ctx, o); err != nil {
			return fmt.Errorf("failing order %d: %w", o.ID, err)
		}
		text := string(reason)
		if c.Method == MethodCard {
			switch reason {
			case ReasonCardClosed:
				if err := e.closeOrderCard(ctx, tx, o.ID); err != nil {
					return err
				}
			case ReasonInsufficientBalance:
				text = "card_insufficient"
			}
		}
		return e.enqueue(ctx, tx, o.MSISDN, o.ServiceAddr, OutboxReject, o.ID, e.cfg.text(text))
	}
	c.Status, c.ResolvedAt = ChargeSucceeded, now
	if err := tx.ResolveCharge(ctx, c); err != nil {
		return fmt.Errorf("finalizing charge %d: %w", c.ID, err)
	}
	txn := "charge:" + strconv.FormatInt(c.ID, 10)
	if err := tx.InsertPostings(ctx, []Posting{
		{Txn: txn, Kind: PostingPayment, Account: SubscriberAccount(c.Method, c.MSISDN), Merchant: c.Merchant, Amount: c.Amount, ChargeID: c.ID, CreatedAt: now},
		{Txn: txn, Kind: PostingPayment, Account: MerchantAccount(c.Merchant), Merchant: c.Merchant, Amount: -c.Amount, ChargeID: c.ID, CreatedAt: now},
	}); err != nil {
		return fmt.Errorf("writing the ledger of charge %d: %w", c.ID, err)
	}
	o.Status, o.UpdatedAt = OrderPaid, now
	if err := tx.UpdateOrder(ctx, o); err != nil {
		return fmt.Errorf("marking order %d paid: %w", o.ID, err)
	}
	dayLeft, monthLeft := remaining(e.cfg.Limits[c.Method], q)
	return e.enqueue(ctx, tx, o.MSISDN, o.ServiceAddr, OutboxReceipt, o.ID, e.cfg.text("receipt",
		"merchant", name, "product", o.ProductName, "amount", c.Amount.String(), "txn", strconv.FormatInt(c.ID, 10),
		"day_left", dayLeft.String(), "month_left", monthLeft.String()))
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
				return e.resolveLocked(ctx, tx, locked, st == DebitDone, ReasonChargeFailed)
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

// ErrIdempotencyConflict: an idempotency key was reused for a different
// request.
var ErrIdempotencyConflict = errors.New("billing: idempotency key reused for a different request")

// ErrNotRefundable: the order is not paid (or already fully refunded).
var ErrNotRefundable = errors.New("billing: order is not paid, nothing to refund")

// Refund gives back the whole amount of the paid order orderID: the charger
// refunds under key, then one transaction records the refund, a reversing
// ledger transaction, the order refunded and an MT. The same key again
// returns the first refund; the same key for another order is
// ErrIdempotencyConflict. Errors: ErrNotFound (no order), ErrNotRefundable,
// *Declined (the charger refused), or a storage error.
func (e *Engine) Refund(ctx context.Context, orderID int64, reason, key string) (Refund, error) {
	if reason == "" || key == "" {
		return Refund{}, errors.New("billing: a refund needs a reason and an idempotency key")
	}
	var (
		prior  Refund
		charge Charge
		amount Money
	)
	err := e.store.InTx(ctx, func(tx Tx) error {
		prior = Refund{}
		r, err := tx.RefundByKey(ctx, key)
		switch {
		case err == nil:
			c, err := tx.GetCharge(ctx, r.ChargeID)
			if err != nil {
				return fmt.Errorf("reading charge %d: %w", r.ChargeID, err)
			}
			if c.OrderID != orderID {
				return ErrIdempotencyConflict
			}
			prior = r
			return nil
		case !errors.Is(err, ErrNotFound):
			return fmt.Errorf("looking up refund key: %w", err)
		}
		o, err := tx.GetOrder(ctx, orderID)
		if err != nil {
			return fmt.Errorf("reading order %d: %w", orderID, err)
		}
		if o.Status != OrderPaid {
			return ErrNotRefundable
		}
		if charge, err = tx.ChargeByOrder(ctx, orderID); err != nil {
			return fmt.Errorf("reading the charge of order %d: %w", orderID, err)
		}
		done, err := tx.RefundedTotal(ctx, charge.ID)
		if err != nil {
			return fmt.Errorf("summing refunds: %w", err)
		}
		amount = charge.Amount - done
		if amount <= 0 {
			return ErrNotRefundable
		}
		return nil
	})
	if err != nil {
		return Refund{}, fmt.Errorf("refunding order %d: %w", orderID, err)
	}
	if prior.ID != 0 {
		return prior, nil
	}
	rctx, cancel := context.WithTimeout(ctx, e.cfg.ChargeTimeout)
	if rc, ok := e.chargerFor(charge.Method).(RefundCharger); ok {
		err = rc.RefundCharge(rctx, key, charge.IdempotencyKey, charge.MSISDN, amount)
	} else {
		err = e.chargerFor(charge.Method).Refund(rctx, key, charge.MSISDN, amount)
	}
	cancel()
	if err != nil {
		return Refund{}, fmt.Errorf("refunding order %d at the charger: %w", orderID, err)
	}
	var out Refund
	err = e.store.InTx(ctx, func(tx Tx) error {
		now := e.clock.Now()
		if r, err := tx.RefundByKey(ctx, key); err == nil {
			out = r
			return nil
		}
		o, err := tx.GetOrder(ctx, orderID)
		if err != nil {
			return fmt.Errorf("locking order %d: %w", orderID, err)
		}
		c, err := tx.GetCharge(ctx, charge.ID)
		if err != nil {
			return fmt.Errorf("locking charge %d: %w", charge.ID, err)
		}
		done, err := tx.RefundedTotal(ctx, c.ID)
		if err != nil {
			return fmt.Errorf("summing refunds: %w", err)
		}
		if o.Status != OrderPaid || done+amount > c.Amount {
			// Another refund won the race after the charger paid ours back.
			e.log.Error("refund raced another refund; charger refunded under key, nothing recorded", "order", orderID)
			return ErrNotRefundable
		}
		out = Refund{ChargeID: c.ID, IdempotencyKey: key, Amount: amount, Reason: reason, CreatedAt: now}
		if out.ID, err = tx.InsertRefund(ctx, out); err != nil {
			return fmt.Errorf("recording the refund: %w", err)
		}
		txn := "refund:" + strconv.FormatInt(out.ID, 10)
		if err := tx.InsertPostings(ctx, []Posting{
			{Txn: txn, Kind: PostingRefund, Account: SubscriberAccount(c.Method, c.MSISDN), Merchant: c.Merchant, Amount: -amount, ChargeID: c.ID, RefundID: out.ID, CreatedAt: now},
			{Txn: txn, Kind: PostingRefund, Account: MerchantAccount(c.Merchant), Merchant: c.Merchant, Amount: amount, ChargeID: c.ID, RefundID: out.ID, CreatedAt: now},
		}); err != nil {
			return fmt.Errorf("writing the refund ledger: %w", err)
		}
		o.Status, o.UpdatedAt = OrderRefunded, now
		if err := tx.UpdateOrder(ctx, o); err != nil {
			return fmt.Errorf("marking order %d refunded: %w", o.ID, err)
		}
		name := o.Merchant
		if m, ok := e.cfg.merchant(o.Merchant); ok {
			name = m.Name
		}
		return e.enqueue(ctx, tx, o.MSISDN, o.ServiceAddr, OutboxRefund, o.ID,
			e.cfg.text("refunded", "merchant", name, "amount", amount.String(), "txn", strconv.FormatInt(c.ID, 10)))
	})
	if err != nil {
		return Refund{}, fmt.Errorf("refunding order %d: %w", orderID, err)
	}
	e.log.Info("refunded", "order", orderID, "amount", amount.String())
	return out, nil
}
