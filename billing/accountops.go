package billing

import (
	"context"
	"errors"
	"fmt"
)

// This file is the operator's side of the built-in phone accounts (issue
// 16: carrierbill account open|topup|suspend|resume|show): a top-up, keyed
// like every other move, and the account status.

// ErrNotPrepaid: a top-up of an account that is not prepaid (a postpaid
// bill is settled at the operator, not here).
var ErrNotPrepaid = errors.New("billing: only a prepaid account takes a top-up")

// TopUp adds amount to the prepaid balance of msisdn under key and returns
// the account after it. The same key again is answered with the account as
// it stands and adds nothing (the move is recorded in account_debits under
// "topup:"+key, as a refund-kind move: money given to the subscriber). A
// non-positive amount is ErrBadRequest; no account ErrNotFound; a postpaid
// account ErrNotPrepaid.
func (a *Accounts) TopUp(ctx context.Context, key, msisdn string, amount Money) (Subscriber, error) {
	if amount <= 0 {
		return Subscriber{}, badRequest("top-up amount must be positive")
	}
	if key == "" {
		return Subscriber{}, badRequest("top-up needs an idempotency key")
	}
	key = "topup:" + key
	var out Subscriber
	err := a.keyed(ctx, key, func(tx AccountTx, ks KeyState) error {
		sub, err := tx.LockAccount(ctx, msisdn)
		if err != nil {
			return err
		}
		if ks.Refunded || ks.Debited {
			out = sub
			return nil // answered, not repeated
		}
		if sub.Plan != Prepaid {
			return ErrNotPrepaid
		}
		sub.Balance += amount
		out = sub
		return a.move(ctx, tx, sub, AccountMove{Key: key, MSISDN: msisdn, Amount: amount, Kind: MoveRefund})
	})
	if err != nil {
		return Subscriber{}, fmt.Errorf("topping up the phone account: %w", err)
	}
	return out, nil
}

// AccountStatusStore changes the status of a phone account. Both stores'
// AccountStore implement it.
type AccountStatusStore interface {
	// SetAccountSuspended suspends (true) or resumes (false) the account
	// msisdn in one statement; a debit racing it sees one or the other.
	// ErrNotFound when there is no such account.
	SetAccountSuspended(ctx context.Context, msisdn string, suspended bool) error
}
