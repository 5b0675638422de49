// Package bank is carrierbill's port to the banks that issue the cards
// subscribers bind to their phone numbers: the Adapter interface, the card
// it returns at binding, the typed errors callers branch on, and Charger,
// which lets the billing engine's two-phase charge and recovery sweep debit
// a bound card exactly as they debit the phone account.
//
// A card number (PAN) crosses this package exactly once, in Adapter.Bind;
// everything afterwards is keyed by the bank's token. This package must
// never store, log or return a PAN in clear (only Card.Masked and
// Card.Last4), and never debit without an idempotency key.
package bank

import (
	"context"
	"errors"

	"github.com/carrierbill/carrierbill/billing"
)

// Card is what the bank hands back for a bound card. It holds nothing from
// which the PAN can be recovered.
type Card struct {
	// Token is the bank's opaque handle for the card: every later call names
	// the card by it.
	Token string
	// Last4 is the last four digits of the PAN, for the subscriber to pick
	// a card ("VIP K1234").
	Last4 string
	// Masked is the display form, 622202******1234 (redact.PAN).
	Masked string
}

// DebitStatus is what the bank knows about an idempotency key.
type DebitStatus string

// The outcomes Status reports.
const (
	// StatusDebited: a debit under the key took money from the card.
	StatusDebited DebitStatus = "debited"
	// StatusNotFound: nothing happened under the key, and since the bank
	// answered so the key is closed: a later Debit with it fails with
	// ErrKeyClosed and takes nothing.
	StatusNotFound DebitStatus = "not_found"
	// StatusRefunded: a refund under the key gave money back to the card.
	StatusRefunded DebitStatus = "refunded"
)

// Errors an Adapter returns. Callers branch on them with errors.Is; an
// adapter may wrap them with detail.
var (
	// ErrDeclined: the bank refused the operation; nothing moved.
	ErrDeclined = errors.New("bank: declined")
	// ErrInsufficientFunds: the card's account cannot cover the amount;
	// nothing moved.
	ErrInsufficientFunds = errors.New("bank: insufficient funds")
	// ErrCardClosed: the card is closed; nothing moved. It must be bound
	// again (a new card) before it can pay.
	ErrCardClosed = errors.New("bank: card closed")
	// ErrCardReplaced: the bank issued a replacement for the card (lost,
	// expired); nothing moved. The new card must be bound.
	ErrCardReplaced = errors.New("bank: card replaced")
	// ErrUnknownCard: the bank knows no such card or token.
	ErrUnknownCard = errors.New("bank: unknown card")
	// ErrHolderMismatch: at binding, the holder name or ID number does not
	// match the bank's record of the card.
	ErrHolderMismatch = errors.New("bank: holder does not match the card")
	// ErrKeyConflict: the idempotency key was used before for a different
	// operation, card or amount; nothing moved.
	ErrKeyConflict = errors.New("bank: idempotency key reused with a different request")
	// ErrKeyClosed: Status answered StatusNotFound for the key, so a debit
	// under it is refused; nothing moved.
	ErrKeyClosed = errors.New("bank: idempotency key closed by a status query")
	// ErrTimeout: no answer in time. The outcome is UNKNOWN: money may or
	// may not have moved. Never treat it as a refusal; the recovery sweep
	// resolves it with Status.
	ErrTimeout = errors.New("bank: timeout, outcome unknown")
)

// MustRebind reports whether err says the card can no longer pay and the
// subscriber must bind a card again (closed or replaced).
func MustRebind(err error) bool {
	return errors.Is(err, ErrCardClosed) || errors.Is(err, ErrCardReplaced)
}

// Definite reports whether err is a definite refusal: the bank answered and
// nothing moved. Any other non-nil error (ErrTimeout, a lost connection, a
// cancelled context) leaves the outcome unknown.
func Definite(err error) bool {
	for _, e := range []error{ErrDeclined, ErrInsufficientFunds, ErrCardClosed, ErrCardReplaced,
		ErrUnknownCard, ErrHolderMismatch, ErrKeyConflict, ErrKeyClosed} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// Adapter talks to one bank. Implementations must be safe for concurrent
// use. Every money-moving call is keyed: the bank remembers each key with
// its request and outcome, answers a repeated call with the first call's
// outcome, and never moves money twice for one key. A key used for a
// different request is ErrKeyConflict.
type Adapter interface {
	// Bind registers the card pan for carrierbill and returns its token.
	// It is the only call that ever carries the PAN. The bank checks that
	// holderName and idNumber match its record of the card
	// (ErrHolderMismatch) and that the card is open (ErrCardClosed,
	// ErrCardReplaced, ErrUnknownCard). Binding the same card again
	// returns the same token.
	Bind(ctx context.Context, pan, holderName, idNumber string) (Card, error)

	// Debit takes amount (> 0) from the card token under idempotencyKey.
	// nil: taken. ErrDeclined, ErrInsufficientFunds, ErrCardClosed,
	// ErrCardReplaced, ErrUnknownCard, ErrKeyConflict, ErrKeyClosed:
	// refused, nothing taken. ErrTimeout or any other error: unknown
	// outcome; ask Status later, never debit again with a new key.
	Debit(ctx context.Context, idempotencyKey, token string, amount billing.Money) error

	// Refund gives amount (> 0) back to the card token under
	// idempotencyKey (a refund key, never a debit's). A repeated Refund
	// with the key answers the first outcome. A closed or replaced card
	// can still be refunded (the bank routes it to the account).
	// ErrDeclined when the bank refuses; ErrTimeout: unknown outcome,
	// retry with the same key.
	Refund(ctx context.Context, idempotencyKey, token string, amount billing.Money) error

	// Status reports what happened under idempotencyKey: StatusDebited,
	// StatusRefunded, or StatusNotFound — after which the key is closed and
	// a Debit with it is refused (ErrKeyClosed), so an answer of "not
	// found" stays true. A debit that was refused (declined, insufficient
	// funds, ...) is StatusNotFound. An error means the bank could not be
	// asked; try again later.
	Status(ctx context.Context, idempotencyKey string) (DebitStatus, error)

	// Balance returns the money available on the card token.
	// ErrUnknownCard, ErrCardClosed, ErrCardReplaced, ErrTimeout.
	Balance(ctx context.Context, token string) (billing.Money, error)
}
