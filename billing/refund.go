package billing

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/carrierbill/carrierbill/redact"
)

// Refund gives money back on a paid order, in full or in part: the charger
// refunds under r.IdempotencyKey, then one transaction records the refund,
// a reversing ledger transaction, the order refunded once nothing is left
// to refund, and an EventRefunded. The refunds of an order never total
// more than was paid. The same key and request again returns the first
// refund; the same key for another order or amount is
// ErrIdempotencyConflict. Errors: ErrBadRequest, ErrNotFound (no order),
// ErrNotRefundable, ErrRefundTooLarge, *Declined (the charger refused),
// or a storage error.
func (e *Engine) Refund(ctx context.Context, r RefundRequest) (Refund, error) {
	if r.Reason == "" || r.IdempotencyKey == "" {
		return Refund{}, badRequest("a refund needs a reason and an idempotency key")
	}
	if r.Amount < 0 {
		return Refund{}, badRequest("amount: must not be negative")
	}
	prior, charge, amount, err := e.refundable(ctx, r)
	if err != nil {
		return Refund{}, fmt.Errorf("refunding order %d: %w", r.OrderID, err)
	}
	if prior != nil {
		return *prior, nil
	}
	rctx, cancel := context.WithTimeout(ctx, e.cfg.ChargeTimeout)
	err = e.chargerFor(charge.Method).Refund(rctx, r.IdempotencyKey, charge.IdempotencyKey, charge.MSISDN, amount)
	cancel()
	if err != nil {
		return Refund{}, fmt.Errorf("refunding order %d at the charger: %w", r.OrderID, err)
	}
	out, err := e.recordRefund(ctx, r, charge.ID, amount)
	if err != nil {
		return Refund{}, fmt.Errorf("refunding order %d: %w", r.OrderID, err)
	}
	e.log.Info("refunded", "order", r.OrderID, "charge", charge.ID, "amount", amount.String(), "msisdn", redact.Phone(charge.MSISDN))
	e.learn(ctx, RiskOutcome{Kind: RiskOutcomeRefunded, MSISDN: charge.MSISDN, Merchant: charge.Merchant, Amount: amount,
		Method: charge.Method, At: e.clock.Now()})
	return out, nil
}

// refundable checks a refund before the charger is called: a known key
// returns its refund (prior), else the charge and the amount to refund.
func (e *Engine) refundable(ctx context.Context, r RefundRequest) (prior *Refund, charge Charge, amount Money, err error) {
	err = e.store.InTx(ctx, func(tx Tx) error {
		prior = nil
		if ref, err := tx.RefundByKey(ctx, r.IdempotencyKey); err == nil {
			c, err := tx.GetCharge(ctx, ref.ChargeID)
			if err != nil {
				return fmt.Errorf("reading charge %d: %w", ref.ChargeID, err)
			}
			if c.OrderID != r.OrderID || (r.Amount != 0 && r.Amount != ref.Amount) {
				return ErrIdempotencyConflict
			}
			prior = &ref
			return nil
		} else if !errors.Is(err, ErrNotFound) {
			return fmt.Errorf("looking up refund key: %w", err)
		}
		o, err := tx.GetOrder(ctx, r.OrderID)
		if err != nil {
			return fmt.Errorf("reading order %d: %w", r.OrderID, err)
		}
		if o.Status != OrderPaid {
			return ErrNotRefundable
		}
		if charge, err = tx.ChargeByOrder(ctx, r.OrderID); err != nil {
			return fmt.Errorf("reading the charge of order %d: %w", r.OrderID, err)
		}
		done, err := tx.RefundedTotal(ctx, charge.ID)
		if err != nil {
			return fmt.Errorf("summing refunds: %w", err)
		}
		rest := charge.Amount - done
		amount = r.Amount
		if amount == 0 {
			amount = rest
		}
		switch {
		case rest <= 0:
			return ErrNotRefundable
		case amount > rest:
			return ErrRefundTooLarge
		}
		return nil
	})
	return prior, charge, amount, err
}

// recordRefund is the refund's transaction after the charger paid back.
func (e *Engine) recordRefund(ctx context.Context, r RefundRequest, chargeID int64, amount Money) (Refund, error) {
	var out Refund
	err := e.store.InTx(ctx, func(tx Tx) error {
		now := e.clock.Now()
		if ref, err := tx.RefundByKey(ctx, r.IdempotencyKey); err == nil {
			out = ref
			return nil
		}
		o, err := tx.GetOrder(ctx, r.OrderID)
		if err != nil {
			return fmt.Errorf("locking order %d: %w", r.OrderID, err)
		}
		c, err := tx.GetCharge(ctx, chargeID)
		if err != nil {
			return fmt.Errorf("locking charge %d: %w", chargeID, err)
		}
		done, err := tx.RefundedTotal(ctx, c.ID)
		if err != nil {
			return fmt.Errorf("summing refunds: %w", err)
		}
		if o.Status != OrderPaid || done+amount > c.Amount {
			// Another refund won the race after the charger paid ours back.
			e.log.Error("refund raced another refund; charger refunded under key, nothing recorded", "order", r.OrderID)
			return ErrNotRefundable
		}
		out = Refund{ChargeID: c.ID, IdempotencyKey: r.IdempotencyKey, Amount: amount, Reason: r.Reason, CreatedAt: now}
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
		if done+amount == c.Amount {
			o.Status, o.UpdatedAt = OrderRefunded, now
			if err := tx.UpdateOrder(ctx, o); err != nil {
				return fmt.Errorf("marking order %d refunded: %w", o.ID, err)
			}
		}
		if err := e.notify(ctx, tx, Event{Kind: EventRefunded, Channel: r.Channel, Origin: o.ServiceAddr, MSISDN: o.MSISDN, Order: &o, Charge: &c, Refund: &out}); err != nil {
			return err
		}
		return markMO(ctx, tx, r.MO, now)
	})
	return out, err
}

// Lookup returns one order with its charge, what was refunded and its MTs'
// delivery. Errors: ErrBadRequest (nothing to look up by), ErrNotFound.
func (e *Engine) Lookup(ctx context.Context, r LookupRequest) (OrderView, error) {
	var v OrderView
	err := e.store.InTx(ctx, func(tx Tx) error {
		var (
			o   Order
			err error
		)
		switch {
		case r.OrderID != 0:
			o, err = tx.GetOrder(ctx, r.OrderID)
		case r.IdempotencyKey != "":
			o, err = tx.OrderByKey(ctx, r.IdempotencyKey)
		case r.MerchantRef != "" && r.Merchant != "":
			o, err = tx.OrderByMerchantRef(ctx, r.Merchant, r.MerchantRef)
		default:
			return badRequest("lookup: give an order id, an idempotency key, or a merchant and its reference")
		}
		if err != nil {
			return fmt.Errorf("finding the order: %w", err)
		}
		v = OrderView{Order: o}
		c, err := tx.ChargeByOrder(ctx, o.ID)
		switch {
		case err == nil:
			v.Charge = &c
			if v.Refunded, err = tx.RefundedTotal(ctx, c.ID); err != nil {
				return fmt.Errorf("summing refunds: %w", err)
			}
		case !errors.Is(err, ErrNotFound):
			return fmt.Errorf("reading the charge of order %d: %w", o.ID, err)
		}
		return nil
	})
	if err != nil {
		return OrderView{}, err
	}
	if v.Messages, err = e.store.OrderDeliveries(ctx, v.Order.ID); err != nil {
		return OrderView{}, fmt.Errorf("reading the MTs of order %d: %w", v.Order.ID, err)
	}
	return v, nil
}
