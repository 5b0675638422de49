package bank

import (
	"context"
	"errors"
	"fmt"

	"github.com/carrierbill/carrierbill/billing"
)

// TokenResolver finds the bank token of the card a charge or refund pays
// with, from its idempotency key (the store follows charge → order →
// card). msisdn is the payer, for a consistency check.
type TokenResolver func(ctx context.Context, key, msisdn string) (token string, err error)

// Charger adapts an Adapter to billing.Charger, so the engine's two-phase
// charge, its refunds and its recovery sweep work on bank cards unchanged.
type Charger struct {
	bank  Adapter
	token TokenResolver
}

// NewCharger returns a billing.Charger that debits the card resolve names.
func NewCharger(a Adapter, resolve TokenResolver) *Charger {
	return &Charger{bank: a, token: resolve}
}

var _ billing.Charger = (*Charger)(nil)

// Debit implements billing.Charger. Definite refusals become
// *billing.Declined (see DeclineReason); ErrTimeout and other errors are
// returned as they are: unknown outcome.
func (c *Charger) Debit(ctx context.Context, key, msisdn string, amount billing.Money) error {
	tok, err := c.token(ctx, key, msisdn)
	if err != nil {
		return fmt.Errorf("finding the card of charge %s: %w", key, err)
	}
	if err := c.bank.Debit(ctx, key, tok, amount); err != nil {
		if Definite(err) {
			return &billing.Declined{Reason: DeclineReason(err)}
		}
		return fmt.Errorf("debiting card for %s: %w", key, err)
	}
	return nil
}

// Refund implements billing.Charger.
func (c *Charger) Refund(ctx context.Context, key, msisdn string, amount billing.Money) error {
	tok, err := c.token(ctx, key, msisdn)
	if err != nil {
		return fmt.Errorf("finding the card of refund %s: %w", key, err)
	}
	if err := c.bank.Refund(ctx, key, tok, amount); err != nil {
		if Definite(err) {
			return &billing.Declined{Reason: DeclineReason(err)}
		}
		return fmt.Errorf("refunding card for %s: %w", key, err)
	}
	return nil
}

// Status implements billing.Charger: debited and refunded are DebitDone
// (the money moved under the key), not found is DebitNone (and the bank has
// closed the key).
func (c *Charger) Status(ctx context.Context, key string) (billing.DebitStatus, error) {
	st, err := c.bank.Status(ctx, key)
	if err != nil {
		return "", fmt.Errorf("asking the bank about %s: %w", key, err)
	}
	switch st {
	case StatusDebited, StatusRefunded:
		return billing.DebitDone, nil
	case StatusNotFound:
		return billing.DebitNone, nil
	}
	return "", fmt.Errorf("asking the bank about %s: unknown status %q", key, st)
}

// DeclineReason maps a definite bank refusal to the billing reason code the
// subscriber is told. Insufficient funds is insufficient_balance; the
// others (declined, closed, replaced, unknown card) are charge_failed until
// billing grows card-specific reasons.
func DeclineReason(err error) billing.Reason {
	switch {
	case errors.Is(err, ErrInsufficientFunds):
		return billing.ReasonInsufficientBalance
	default:
		return billing.ReasonChargeFailed
	}
}
