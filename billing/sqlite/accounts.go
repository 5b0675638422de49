package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/clock"
)

// Accounts is the phone-account charger on the embedded database
// (subscribers, account_debits, account_closed_keys): prepaid balance or
// postpaid bill under a credit limit, suspension. It behaves as
// billing/postgres.Accounts does, call for call.
//
// Every call is keyed: a debit key that already debited answers nil again
// without taking money twice. Calls are serialized by the store's single
// writer, so Status's "never debited" is final (the key is closed and a
// later Debit with it is declined).
type Accounts struct {
	s     *Store
	clock clock.Clock
	opt   AccountsOptions
}

// AccountsOptions configure Accounts.
type AccountsOptions struct {
	// AutoOpen opens an unknown subscriber as a postpaid account with
	// CreditLimit at its first debit (labs, demos, replay). Off: an
	// unknown number is declined with ReasonUnknownSubscriber.
	AutoOpen    bool
	CreditLimit billing.Money
}

// NewAccounts returns the phone-account charger on s.
func NewAccounts(s *Store, clk clock.Clock, opt AccountsOptions) *Accounts {
	return &Accounts{s: s, clock: clk, opt: opt}
}

var _ billing.Charger = (*Accounts)(nil)

// Plan is how a subscriber pays.
type Plan string

// Plans (subscribers.plan).
const (
	Prepaid  Plan = "prepaid"
	Postpaid Plan = "postpaid"
)

// Subscriber is one phone account.
type Subscriber struct {
	MSISDN      string
	Plan        Plan
	Balance     billing.Money // prepaid
	Bill        billing.Money // postpaid: charged this cycle
	CreditLimit billing.Money // postpaid
	Suspended   bool
}

// Open creates or replaces the account sub (operations, tests, the demo).
func (a *Accounts) Open(ctx context.Context, sub Subscriber) error {
	status := "active"
	if sub.Suspended {
		status = "suspended"
	}
	err := a.s.write(ctx, func(t *sql.Tx) error {
		_, err := t.ExecContext(ctx, `INSERT INTO subscribers (msisdn, status, plan, balance_fen, bill_fen, credit_limit_fen, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (msisdn) DO UPDATE SET status = excluded.status, plan = excluded.plan,
			balance_fen = excluded.balance_fen, bill_fen = excluded.bill_fen, credit_limit_fen = excluded.credit_limit_fen`,
			sub.MSISDN, status, string(sub.Plan), int64(sub.Balance), int64(sub.Bill), int64(sub.CreditLimit), ts(a.clock.Now()))
		return err
	})
	if err != nil {
		return fmt.Errorf("opening account: %w", err)
	}
	return nil
}

// Get returns the account msisdn. billing.ErrNotFound.
func (a *Accounts) Get(ctx context.Context, msisdn string) (Subscriber, error) {
	var sub Subscriber
	var status string
	err := a.s.reader.QueryRowContext(ctx, `SELECT msisdn, status, plan, balance_fen, bill_fen, credit_limit_fen
		FROM subscribers WHERE msisdn = ?`, msisdn).
		Scan(&sub.MSISDN, &status, &sub.Plan, &sub.Balance, &sub.Bill, &sub.CreditLimit)
	if err != nil {
		return Subscriber{}, fmt.Errorf("reading account: %w", domainError(err))
	}
	sub.Suspended = status == "suspended"
	return sub, nil
}

// Debit implements billing.Charger.
func (a *Accounts) Debit(ctx context.Context, key, msisdn string, amount billing.Money) error {
	if amount <= 0 {
		return fmt.Errorf("debit of %s: amount must be positive", amount)
	}
	err := a.s.write(ctx, func(t *sql.Tx) error {
		var closed, done bool
		if err := t.QueryRowContext(ctx, `SELECT
			EXISTS (SELECT 1 FROM account_closed_keys WHERE idempotency_key = ?1),
			EXISTS (SELECT 1 FROM account_debits WHERE idempotency_key = ?1 AND kind = 'debit')`, key).Scan(&closed, &done); err != nil {
			return err
		}
		if done {
			return nil // answered, not repeated
		}
		if closed {
			return &billing.Declined{Reason: billing.ReasonChargeFailed}
		}
		var status, plan string
		var balance, bill, credit int64
		err := t.QueryRowContext(ctx, `SELECT status, plan, balance_fen, bill_fen, credit_limit_fen FROM subscribers
			WHERE msisdn = ?`, msisdn).Scan(&status, &plan, &balance, &bill, &credit)
		switch {
		case errors.Is(err, sql.ErrNoRows) && a.opt.AutoOpen:
			status, plan, credit = "active", string(Postpaid), int64(a.opt.CreditLimit)
			if _, err := t.ExecContext(ctx, `INSERT INTO subscribers (msisdn, plan, credit_limit_fen, created_at)
				VALUES (?, 'postpaid', ?, ?)`, msisdn, credit, ts(a.clock.Now())); err != nil {
				return err
			}
		case errors.Is(err, sql.ErrNoRows):
			return &billing.Declined{Reason: billing.ReasonUnknownSubscriber}
		case err != nil:
			return err
		}
		if status == "suspended" {
			return &billing.Declined{Reason: billing.ReasonAccountSuspended}
		}
		a64 := int64(amount)
		if plan == string(Prepaid) {
			if balance < a64 {
				return &billing.Declined{Reason: billing.ReasonInsufficientBalance}
			}
			_, err = t.ExecContext(ctx, `UPDATE subscribers SET balance_fen = balance_fen - ? WHERE msisdn = ?`, a64, msisdn)
		} else {
			if bill+a64 > credit {
				return &billing.Declined{Reason: billing.ReasonInsufficientBalance}
			}
			_, err = t.ExecContext(ctx, `UPDATE subscribers SET bill_fen = bill_fen + ? WHERE msisdn = ?`, a64, msisdn)
		}
		if err != nil {
			return err
		}
		_, err = t.ExecContext(ctx, `INSERT INTO account_debits (idempotency_key, msisdn, amount_fen, kind, created_at)
			VALUES (?, ?, ?, 'debit', ?)`, key, msisdn, a64, ts(a.clock.Now()))
		return err
	})
	var d *billing.Declined
	if err != nil && !errors.As(err, &d) {
		return fmt.Errorf("debiting the phone account: %w", err)
	}
	return err
}

// Refund implements billing.Charger: the prepaid balance grows back, or the
// postpaid bill shrinks (not below zero).
func (a *Accounts) Refund(ctx context.Context, key, msisdn string, amount billing.Money) error {
	if amount <= 0 {
		return fmt.Errorf("refund of %s: amount must be positive", amount)
	}
	err := a.s.write(ctx, func(t *sql.Tx) error {
		var done bool
		if err := t.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM account_debits WHERE idempotency_key = ?)`, key).Scan(&done); err != nil {
			return err
		}
		if done {
			return nil
		}
		res, err := t.ExecContext(ctx, `UPDATE subscribers SET
			balance_fen = CASE WHEN plan = 'prepaid' THEN balance_fen + ?1 ELSE balance_fen END,
			bill_fen = CASE WHEN plan = 'postpaid' THEN max(bill_fen - ?1, 0) ELSE bill_fen END
			WHERE msisdn = ?2`, int64(amount), msisdn)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return &billing.Declined{Reason: billing.ReasonUnknownSubscriber}
		}
		_, err = t.ExecContext(ctx, `INSERT INTO account_debits (idempotency_key, msisdn, amount_fen, kind, created_at)
			VALUES (?, ?, ?, 'refund', ?)`, key, msisdn, int64(amount), ts(a.clock.Now()))
		return err
	})
	var d *billing.Declined
	if err != nil && !errors.As(err, &d) {
		return fmt.Errorf("refunding the phone account: %w", err)
	}
	return err
}

// Status implements billing.Charger. When the key never debited, it is
// closed so it never will.
func (a *Accounts) Status(ctx context.Context, key string) (billing.DebitStatus, error) {
	st := billing.DebitNone
	err := a.s.write(ctx, func(t *sql.Tx) error {
		var done bool
		if err := t.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM account_debits WHERE idempotency_key = ? AND kind = 'debit')`,
			key).Scan(&done); err != nil {
			return err
		}
		if done {
			st = billing.DebitDone
			return nil
		}
		_, err := t.ExecContext(ctx, `INSERT INTO account_closed_keys (idempotency_key, closed_at) VALUES (?, ?)
			ON CONFLICT DO NOTHING`, key, ts(a.clock.Now()))
		return err
	})
	if err != nil {
		return "", fmt.Errorf("asking the phone account about a debit: %w", err)
	}
	return st, nil
}
