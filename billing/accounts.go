package billing

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/carrierbill/carrierbill/clock"
)

// Plan is how a subscriber's phone account pays.
type Plan string

// Plans (subscribers.plan).
const (
	Prepaid  Plan = "prepaid"
	Postpaid Plan = "postpaid"
)

// Subscriber is one phone account, as the phone-account charger (Accounts)
// keeps it in an AccountStore.
type Subscriber struct {
	MSISDN      string
	Plan        Plan
	Balance     Money // prepaid
	Bill        Money // postpaid: charged this cycle
	CreditLimit Money // postpaid
	Suspended   bool
}

// AccountsOptions configure a phone-account charger.
type AccountsOptions struct {
	// AutoOpen opens an unknown subscriber as a postpaid account with
	// CreditLimit at its first debit (labs, demos, replay). Off: an
	// unknown number is declined with ReasonUnknownSubscriber.
	AutoOpen    bool
	CreditLimit Money
}

// OpenUnknown returns the account msisdn, which has none yet, gets at its
// first debit: a postpaid account with an empty bill and o.CreditLimit when
// o.AutoOpen, else a *Declined with ReasonUnknownSubscriber.
func (o AccountsOptions) OpenUnknown(msisdn string) (Subscriber, error) {
	if !o.AutoOpen {
		return Subscriber{}, &Declined{Reason: ReasonUnknownSubscriber}
	}
	return Subscriber{MSISDN: msisdn, Plan: Postpaid, CreditLimit: o.CreditLimit}, nil
}

// Debit returns s after taking amount from it: a prepaid balance shrinks
// (never below zero), a postpaid bill grows (never above the credit limit;
// any plan not Prepaid is billed as postpaid). A suspended account is
// declined with ReasonAccountSuspended, one that cannot pay with
// ReasonInsufficientBalance; then s is returned unchanged. A non-positive
// amount is an error, not a decline.
func (s Subscriber) Debit(amount Money) (Subscriber, error) {
	if amount <= 0 {
		return s, fmt.Errorf("debit of %s: amount must be positive", amount)
	}
	if s.Suspended {
		return s, &Declined{Reason: ReasonAccountSuspended}
	}
	next := s
	if s.Plan == Prepaid {
		if s.Balance < amount {
			return s, &Declined{Reason: ReasonInsufficientBalance}
		}
		next.Balance -= amount
	} else {
		if s.Bill+amount > s.CreditLimit {
			return s, &Declined{Reason: ReasonInsufficientBalance}
		}
		next.Bill += amount
	}
	return next, nil
}

// Refund returns s after giving amount back: a prepaid balance grows, a
// postpaid bill shrinks but not below zero; an account of another plan is
// unchanged. Suspension does not stop a refund. A non-positive amount is an
// error.
func (s Subscriber) Refund(amount Money) (Subscriber, error) {
	if amount <= 0 {
		return s, fmt.Errorf("refund of %s: amount must be positive", amount)
	}
	switch s.Plan {
	case Prepaid:
		s.Balance += amount
	case Postpaid:
		s.Bill = max(s.Bill-amount, 0)
	}
	return s, nil
}

// Accounts is the phone-account charger on the gateway's own database
// (subscribers, account_debits, account_closed_keys): prepaid balance or
// postpaid bill under a credit limit, suspension. It is the default Charger
// and the reference for adapters to real operator billing systems.
//
// The control flow is written here once; an AccountStore
// (billing/postgres.NewAccountStore, billing/sqlite.NewAccountStore) holds
// only the SQL. Every call is keyed and runs in one InAccountTx for its key,
// so calls with one key are serialized: a debit key that already debited
// answers nil again without taking money twice, and Status's "never debited"
// is final (the key is closed, a later Debit with it is declined).
type Accounts struct {
	store AccountStore
	clock clock.Clock
	opt   AccountsOptions
}

// NewAccounts returns the phone-account charger on store.
func NewAccounts(store AccountStore, clk clock.Clock, opt AccountsOptions) *Accounts {
	return &Accounts{store: store, clock: clk, opt: opt}
}

var _ Charger = (*Accounts)(nil)

// AccountStore is the phone-account charger's storage driver. It stores and
// never decides: which key may debit, when an unknown number gets an
// account, the plan arithmetic and what is declined live in Accounts.
// Implementations: billing/postgres and billing/sqlite; billing/storetest's
// RunAccounts is the conformance suite both pass.
//
// All methods are safe for concurrent use, by several goroutines and by
// several processes sharing one database.
type AccountStore interface {
	// InAccountTx runs fn in one database transaction that no other
	// InAccountTx with the same key overlaps (in any process sharing the
	// database), commits when fn returns nil and rolls back otherwise
	// (returning fn's error unchanged). It may run fn again after a
	// serialization failure or deadlock, a bounded number of times, then
	// return ErrConflict; fn must therefore have no effect outside tx. The
	// AccountTx must not be used after fn returns.
	InAccountTx(ctx context.Context, key string, fn func(tx AccountTx) error) error

	// PutAccount creates the account s, or replaces every field of the one
	// with s.MSISDN (operations, tests, the demo); a new account's
	// created_at is at. It does not take the key lock: calls that are
	// debiting the same number wait for its row lock, or it for theirs.
	PutAccount(ctx context.Context, s Subscriber, at time.Time) error

	// Account reads the account msisdn without locking it. ErrNotFound.
	Account(ctx context.Context, msisdn string) (Subscriber, error)
}

// AccountTx is one InAccountTx transaction. Its methods only run SQL.
type AccountTx interface {
	// KeyState reports what is recorded under key: a debit, a refund
	// (account_debits, one kind per key) and whether the key is closed
	// (account_closed_keys).
	KeyState(ctx context.Context, key string) (KeyState, error)

	// LockAccount reads the account msisdn and locks it until the
	// transaction ends (SELECT … FOR UPDATE; the embedded store's single
	// writer already excludes every other writer). ErrNotFound when there
	// is none.
	LockAccount(ctx context.Context, msisdn string) (Subscriber, error)

	// CreateAccount inserts the account s (status active, created at at)
	// unless one with s.MSISDN exists, which is then left as it is and is
	// no error (INSERT … ON CONFLICT DO NOTHING): two first debits of one
	// new number never fail on the unique key (issue 18.5). It waits for a
	// concurrent insert of the same number to commit or roll back, so a
	// LockAccount after it finds the row either way.
	CreateAccount(ctx context.Context, s Subscriber, at time.Time) error

	// SaveAccount writes s.Balance and s.Bill to the account s.MSISDN,
	// which the transaction has locked. The schema's CHECK constraints
	// refuse a negative prepaid balance or a bill above the credit limit.
	SaveAccount(ctx context.Context, s Subscriber) error

	// RecordMove records m in account_debits under m.Key, which must not
	// be recorded yet (the primary key refuses a second move).
	RecordMove(ctx context.Context, m AccountMove) error

	// CloseKey records key in account_closed_keys at at; closing a closed
	// key again is a no-op.
	CloseKey(ctx context.Context, key string, at time.Time) error
}

// KeyState is what an AccountStore has recorded under one key.
type KeyState struct {
	Debited  bool // a debit was taken under the key
	Refunded bool // a refund was given under the key
	Closed   bool // Status found the key never debited and closed it
}

// MoveKind is the kind of an AccountMove (account_debits.kind).
type MoveKind string

// Move kinds.
const (
	MoveDebit  MoveKind = "debit"
	MoveRefund MoveKind = "refund"
)

// AccountMove is one debit or refund of a phone account, as recorded.
type AccountMove struct {
	Key    string
	MSISDN string
	Amount Money
	Kind   MoveKind
	At     time.Time
}

// Open creates or replaces the account s (operations, tests, the demo).
func (a *Accounts) Open(ctx context.Context, s Subscriber) error {
	if err := a.store.PutAccount(ctx, s, a.clock.Now()); err != nil {
		return fmt.Errorf("opening a phone account: %w", err)
	}
	return nil
}

// Get returns the account msisdn. ErrNotFound.
func (a *Accounts) Get(ctx context.Context, msisdn string) (Subscriber, error) {
	s, err := a.store.Account(ctx, msisdn)
	if err != nil {
		return Subscriber{}, fmt.Errorf("reading a phone account: %w", err)
	}
	return s, nil
}

// Debit implements Charger. A key that already debited is answered nil
// again; a closed key is declined with ReasonChargeFailed; an unknown number
// gets the account AccountsOptions.OpenUnknown says, or its decline; then
// Subscriber.Debit decides.
func (a *Accounts) Debit(ctx context.Context, key, msisdn string, amount Money) error {
	if amount <= 0 {
		return fmt.Errorf("debit of %s: amount must be positive", amount)
	}
	err := a.keyed(ctx, key, func(tx AccountTx, ks KeyState) error {
		if ks.Debited {
			return nil // answered, not repeated
		}
		if ks.Closed {
			return &Declined{Reason: ReasonChargeFailed}
		}
		sub, err := a.lockOrOpen(ctx, tx, msisdn)
		if err != nil {
			return err
		}
		next, err := sub.Debit(amount)
		if err != nil {
			return err
		}
		return a.move(ctx, tx, next, AccountMove{Key: key, MSISDN: msisdn, Amount: amount, Kind: MoveDebit})
	})
	return wrapCharge("debiting the phone account", err)
}

// keyed runs fn in the transaction of key (InAccountTx) with what is
// recorded under key.
func (a *Accounts) keyed(ctx context.Context, key string, fn func(tx AccountTx, ks KeyState) error) error {
	return a.store.InAccountTx(ctx, key, func(tx AccountTx) error {
		ks, err := tx.KeyState(ctx, key)
		if err != nil {
			return err
		}
		return fn(tx, ks)
	})
}

// lockOrOpen locks the account msisdn for the rest of tx and returns it. A
// number without an account gets the one AccountsOptions.OpenUnknown says
// (or its decline), opened race-free: CreateAccount (ON CONFLICT DO
// NOTHING), then the lock, so two first debits of one new number at the
// same moment both find the one row instead of one failing on the unique
// key (issue 18.5).
func (a *Accounts) lockOrOpen(ctx context.Context, tx AccountTx, msisdn string) (Subscriber, error) {
	sub, err := tx.LockAccount(ctx, msisdn)
	if !errors.Is(err, ErrNotFound) {
		return sub, err
	}
	open, err := a.opt.OpenUnknown(msisdn)
	if err != nil {
		return Subscriber{}, err
	}
	if err := tx.CreateAccount(ctx, open, a.clock.Now()); err != nil {
		return Subscriber{}, err
	}
	return tx.LockAccount(ctx, msisdn)
}

// move saves the account next and records m, at the clock's now.
func (a *Accounts) move(ctx context.Context, tx AccountTx, next Subscriber, m AccountMove) error {
	if err := tx.SaveAccount(ctx, next); err != nil {
		return err
	}
	m.At = a.clock.Now()
	return tx.RecordMove(ctx, m)
}

// Refund implements Charger: under refundKey, the prepaid balance grows
// back or the postpaid bill shrinks (not below zero), as Subscriber.Refund
// says. A key already recorded (refund or debit) is answered nil again; a
// number without an account is declined with ReasonUnknownSubscriber. The
// money goes back to msisdn's account, so chargeKey is not needed.
func (a *Accounts) Refund(ctx context.Context, refundKey, _, msisdn string, amount Money) error {
	if amount <= 0 {
		return fmt.Errorf("refund of %s: amount must be positive", amount)
	}
	err := a.keyed(ctx, refundKey, func(tx AccountTx, ks KeyState) error {
		if ks.Debited || ks.Refunded {
			return nil
		}
		sub, err := tx.LockAccount(ctx, msisdn)
		if errors.Is(err, ErrNotFound) {
			return &Declined{Reason: ReasonUnknownSubscriber}
		}
		if err != nil {
			return err
		}
		next, err := sub.Refund(amount)
		if err != nil {
			return err
		}
		return a.move(ctx, tx, next, AccountMove{Key: refundKey, MSISDN: msisdn, Amount: amount, Kind: MoveRefund})
	})
	return wrapCharge("refunding the phone account", err)
}

// Status implements Charger. When the key never debited, it is closed so
// it never will.
func (a *Accounts) Status(ctx context.Context, key string) (DebitStatus, error) {
	var st DebitStatus
	err := a.keyed(ctx, key, func(tx AccountTx, ks KeyState) error {
		if ks.Debited {
			st = DebitDone
			return nil
		}
		st = DebitNone
		return tx.CloseKey(ctx, key, a.clock.Now())
	})
	if err != nil {
		return "", fmt.Errorf("asking the phone account about a debit: %w", err)
	}
	return st, nil
}

// wrapCharge returns a *Declined as it is and wraps any other error with
// what was being done.
func wrapCharge(doing string, err error) error {
	var d *Declined
	if err == nil || errors.As(err, &d) {
		return err
	}
	return fmt.Errorf("%s: %w", doing, err)
}
