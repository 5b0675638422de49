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
	opt   billing.AccountsOptions
}

// NewAccounts returns the phone-account charger on s.
func NewAccounts(s *Store, clk clock.Clock, opt billing.AccountsOptions) *Accounts {
	return &Accounts{s: s, clock: clk, opt: opt}
}

var _ billing.Charger = (*Accounts)(nil)

// Open creates or replaces the account sub (operations, tests, the demo).
func (a *Accounts) Open(ctx context.Context, sub billing.Subscriber) error {
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
func (a *Accounts) Get(ctx context.Context, msisdn string) (billing.Subscriber, error) {
	var sub billing.Subscriber
	var status string
	err := a.s.reader.QueryRowContext(ctx, `SELECT msisdn, status, plan, balance_fen, bill_fen, credit_limit_fen
		FROM subscribers WHERE msisdn = ?`, msisdn).
		Scan(&sub.MSISDN, &status, &sub.Plan, &sub.Balance, &sub.Bill, &sub.CreditLimit)
	if err != nil {
		return billing.Subscriber{}, fmt.Errorf("reading account: %w", domainError(err))
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
		sub, err := a.readOrOpen(ctx, t, msisdn)
		if err != nil {
			return err
		}
		next, err := sub.Debit(amount)
		if err != nil {
			return err
		}
		if _, err := t.ExecContext(ctx, `UPDATE subscribers SET balance_fen = ?, bill_fen = ? WHERE msisdn = ?`,
			int64(next.Balance), int64(next.Bill), msisdn); err != nil {
			return err
		}
		_, err = t.ExecContext(ctx, `INSERT INTO account_debits (idempotency_key, msisdn, amount_fen, kind, created_at)
			VALUES (?, ?, ?, 'debit', ?)`, key, msisdn, int64(amount), ts(a.clock.Now()))
		return err
	})
	var d *billing.Declined
	if err != nil && !errors.As(err, &d) {
		return fmt.Errorf("debiting the phone account: %w", err)
	}
	return err
}

// readOrOpen returns the account msisdn inside the write transaction t. A
// number without an account gets the one billing.AccountsOptions.OpenUnknown
// says (or its decline), opened as billing/postgres.Accounts does it:
// INSERT … ON CONFLICT DO NOTHING, then read, so a first debit never fails
// on the unique key even if another process opened the account meanwhile
// (issue 18.5; BEGIN IMMEDIATE already serializes this process's writers).
func (a *Accounts) readOrOpen(ctx context.Context, t *sql.Tx, msisdn string) (billing.Subscriber, error) {
	sub, err := readSubscriber(ctx, t, msisdn)
	if !errors.Is(err, sql.ErrNoRows) {
		return sub, err
	}
	open, err := a.opt.OpenUnknown(msisdn)
	if err != nil {
		return billing.Subscriber{}, err
	}
	if _, err := t.ExecContext(ctx, `INSERT INTO subscribers (msisdn, plan, balance_fen, bill_fen, credit_limit_fen, created_at)
		VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (msisdn) DO NOTHING`,
		msisdn, string(open.Plan), int64(open.Balance), int64(open.Bill), int64(open.CreditLimit), ts(a.clock.Now())); err != nil {
		return billing.Subscriber{}, err
	}
	return readSubscriber(ctx, t, msisdn)
}

// readSubscriber reads the account msisdn; sql.ErrNoRows when there is none.
func readSubscriber(ctx context.Context, t *sql.Tx, msisdn string) (billing.Subscriber, error) {
	sub := billing.Subscriber{MSISDN: msisdn}
	var status string
	err := t.QueryRowContext(ctx, `SELECT status, plan, balance_fen, bill_fen, credit_limit_fen FROM subscribers
		WHERE msisdn = ?`, msisdn).Scan(&status, &sub.Plan, &sub.Balance, &sub.Bill, &sub.CreditLimit)
	sub.Suspended = status == "suspended"
	return sub, err
}

// Refund implements billing.Charger: the prepaid balance grows back, or the
// postpaid bill shrinks (not below zero).
func (a *Accounts) Refund(ctx context.Context, key, _, msisdn string, amount billing.Money) error {
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
		var sub billing.Subscriber
		err := t.QueryRowContext(ctx, `SELECT plan, balance_fen, bill_fen FROM subscribers WHERE msisdn = ?`,
			msisdn).Scan(&sub.Plan, &sub.Balance, &sub.Bill)
		if errors.Is(err, sql.ErrNoRows) {
			return &billing.Declined{Reason: billing.ReasonUnknownSubscriber}
		}
		if err != nil {
			return err
		}
		next, err := sub.Refund(amount)
		if err != nil {
			return err
		}
		if _, err := t.ExecContext(ctx, `UPDATE subscribers SET balance_fen = ?, bill_fen = ? WHERE msisdn = ?`,
			int64(next.Balance), int64(next.Bill), msisdn); err != nil {
			return err
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
