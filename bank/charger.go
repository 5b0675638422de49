package bank

import (
	"context"
	"errors"
	"fmt"

	"github.com/carrierbill/carrierbill/billing"
)

// TokenResolver finds the bank token of the card a charge or refund pays
// with, from its idempotency key (the store follows charge → order →
// card). msisdn is the payer, for a consistency check. Both stores have
// one (TokenForCharge).
type TokenResolver func(ctx context.Context, key, msisdn string) (token string, err error)

// Charger is the engine's card charger: it adapts an Adapter to
// billing.Charger, so the engine's two-phase
// charge, its refunds and its recovery sweep work on bank cards exactly as
// on the phone account. A debit is keyed by the charge's idempotency key,
// Status answers the recovery sweep, a refund goes to the card the charge
// paid with, and the bank's definite refusals become *billing.Declined with
// the reason DeclineReason gives. Anything else (ErrTimeout, a lost
// connection) is returned as an unknown outcome, never as a refusal.
type Charger struct {
	bank  Adapter
	token TokenResolver
}

// NewCharger returns the card charger that debits the card resolve names.
func NewCharger(a Adapter, resolve TokenResolver) *Charger {
	return &Charger{bank: a, token: resolve}
}

var _ billing.Charger = (*Charger)(nil)

// Debit implements billing.Charger.
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

// Refund implements billing.Charger: amount goes back under refundKey to
// the card the charge keyed chargeKey paid with. A definite refusal is
// card_declined.
func (c *Charger) Refund(ctx context.Context, refundKey, chargeKey, msisdn string, amount billing.Money) error {
	tok, err := c.token(ctx, chargeKey, msisdn)
	if err != nil {
		return fmt.Errorf("finding the card of charge %s: %w", chargeKey, err)
	}
	if err := c.bank.Refund(ctx, refundKey, tok, amount); err != nil {
		if Definite(err) {
			return &billing.Declined{Reason: billing.ReasonCardDeclined}
		}
		return fmt.Errorf("refunding card for %s: %w", refundKey, err)
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

// declineReasons is the one table from a bank's definite refusal of a
// debit to the reason the subscriber is told, first match wins.
var declineReasons = []struct {
	err    error
	reason billing.Reason
}{
	// The engine ends the binding and tells the subscriber to bind again.
	{ErrCardClosed, billing.ReasonCardClosed},
	{ErrCardReplaced, billing.ReasonCardClosed},
	{ErrInsufficientFunds, billing.ReasonInsufficientBalance},
	{ErrDeclined, billing.ReasonCardDeclined},
	// ErrUnknownCard, ErrKeyConflict, ErrKeyClosed, ErrHolderMismatch: the
	// bank refused for a reason that is not the subscriber's to fix.
}

// DeclineReason maps a definite bank refusal of a debit to the billing
// reason code the subscriber is told: closed or replaced → card_closed,
// insufficient funds → insufficient_balance, a plain decline →
// card_declined, any other refusal → charge_failed.
func DeclineReason(err error) billing.Reason {
	for _, d := range declineReasons {
		if errors.Is(err, d.err) {
			return d.reason
		}
	}
	return billing.ReasonChargeFailed
}
