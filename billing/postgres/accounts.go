package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/clock"
)

// Accounts is the phone-account charger on the gateway's own database
// (subscribers, account_debits): prepaid balance or postpaid bill under a
// credit limit, suspension. It is the default billing.Charger and the
// reference for adapters to real operator billing systems.
//
// Every call is keyed: a debit key that already debited answers nil again
// without taking money twice; calls with one key are serialized by a
// transaction-scoped advisory lock on the key, so Status's "never debited"
// is final (the key is closed, a later Debit with it is declined).
type Accounts struct {
	pool  *pgxpool.Pool
	clock clock.Clock
	opt   billing.AccountsOptions
}

// NewAccounts returns the charger on pool.
func NewAccounts(pool *pgxpool.Pool, clk clock.Clock, opt billing.AccountsOptions) *Accounts {
	return &Accounts{pool: pool, clock: clk, opt: opt}
}

var _ billing.Charger = (*Accounts)(nil)

// Open creates or replaces the account s (operations, tests, the demo).
func (a *Accounts) Open(ctx context.Context, s billing.Subscriber) error {
	status := "active"
	if s.Suspended {
		status = "suspended"
	}
	_, err := a.pool.Exec(ctx, `INSERT INTO subscribers (msisdn, status, plan, balance_fen, bill_fen, credit_limit_fen, created_at)
		VALUES ($1::text, $2::text, $3::text, $4::bigint, $5::bigint, $6::bigint, $7::timestamptz)
		ON CONFLICT (msisdn) DO UPDATE SET status = EXCLUDED.status, plan = EXCLUDED.plan, balance_fen = EXCLUDED.balance_fen,
		bill_fen = EXCLUDED.bill_fen, credit_limit_fen = EXCLUDED.credit_limit_fen`,
		s.MSISDN, status, string(s.Plan), int64(s.Balance), int64(s.Bill), int64(s.CreditLimit), a.clock.Now())
	if err != nil {
		return fmt.Errorf("opening account: %w", err)
	}
	return nil
}

// Get returns the account msisdn. billing.ErrNotFound.
func (a *Accounts) Get(ctx context.Context, msisdn string) (billing.Subscriber, error) {
	var s billing.Subscriber
	var status string
	err := a.pool.QueryRow(ctx, `SELECT msisdn, status, plan, balance_fen, bill_fen, credit_limit_fen FROM subscribers WHERE msisdn = $1::text`,
		msisdn).Scan(&s.MSISDN, &status, &s.Plan, &s.Balance, &s.Bill, &s.CreditLimit)
	s.Suspended = status == "suspended"
	return s, mapErr(err)
}

func (a *Accounts) keyed(ctx context.Context, key string, fn func(pgx.Tx) error) error {
	return retryTx(ctx, a.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1::text, 7))`, key); err != nil {
			return err
		}
		return fn(tx)
	})
}

// Debit implements billing.Charger.
func (a *Accounts) Debit(ctx context.Context, key, msisdn string, amount billing.Money) error {
	if amount <= 0 {
		return fmt.Errorf("debit of %s: amount must be positive", amount)
	}
	err := a.keyed(ctx, key, func(tx pgx.Tx) error {
		var closed, done bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM account_closed_keys WHERE idempotency_key = $1::text),
			EXISTS (SELECT 1 FROM account_debits WHERE idempotency_key = $1::text AND kind = 'debit')`, key).Scan(&closed, &done); err != nil {
			return err
		}
		if done {
			return nil // answered, not repeated
		}
		if closed {
			return &billing.Declined{Reason: billing.ReasonChargeFailed}
		}
		sub, err := a.lockOrOpen(ctx, tx, msisdn)
		if err != nil {
			return err
		}
		next, err := sub.Debit(amount)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE subscribers SET balance_fen = $2::bigint, bill_fen = $3::bigint WHERE msisdn = $1::text`,
			msisdn, int64(next.Balance), int64(next.Bill)); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO account_debits (idempotency_key, msisdn, amount_fen, kind, created_at)
			VALUES ($1::text, $2::text, $3::bigint, 'debit', $4::timestamptz)`, key, msisdn, int64(amount), a.clock.Now())
		return err
	})
	var d *billing.Declined
	if err != nil && !errors.As(err, &d) {
		return fmt.Errorf("debiting the phone account: %w", err)
	}
	return err
}

// lockOrOpen locks the account msisdn for the rest of tx and returns it.
// A number without an account gets the one billing.AccountsOptions.OpenUnknown
// says (or its decline), opened race-free: INSERT … ON CONFLICT DO NOTHING,
// then the lock, so two first debits of one new number at the same moment
// both find the one row instead of one failing on the unique key (issue
// 18.5). The insert waits for a concurrent one to commit; the SELECT after
// it, a new statement under READ COMMITTED, sees the row either way.
func (a *Accounts) lockOrOpen(ctx context.Context, tx pgx.Tx, msisdn string) (billing.Subscriber, error) {
	sub, err := lockSubscriber(ctx, tx, msisdn)
	if !errors.Is(err, pgx.ErrNoRows) {
		return sub, err
	}
	open, err := a.opt.OpenUnknown(msisdn)
	if err != nil {
		return billing.Subscriber{}, err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO subscribers (msisdn, plan, balance_fen, bill_fen, credit_limit_fen, created_at)
		VALUES ($1::text, $2::text, $3::bigint, $4::bigint, $5::bigint, $6::timestamptz) ON CONFLICT (msisdn) DO NOTHING`,
		msisdn, string(open.Plan), int64(open.Balance), int64(open.Bill), int64(open.CreditLimit), a.clock.Now()); err != nil {
		return billing.Subscriber{}, err
	}
	return lockSubscriber(ctx, tx, msisdn)
}

// lockSubscriber reads the account msisdn FOR UPDATE; pgx.ErrNoRows when
// there is none.
func lockSubscriber(ctx context.Context, tx pgx.Tx, msisdn string) (billing.Subscriber, error) {
	sub := billing.Subscriber{MSISDN: msisdn}
	var status string
	err := tx.QueryRow(ctx, `SELECT status, plan, balance_fen, bill_fen, credit_limit_fen FROM subscribers
		WHERE msisdn = $1::text FOR UPDATE`, msisdn).Scan(&status, &sub.Plan, &sub.Balance, &sub.Bill, &sub.CreditLimit)
	sub.Suspended = status == "suspended"
	return sub, err
}

// Refund implements billing.Charger: the prepaid balance grows back, or the
// postpaid bill shrinks (not below zero).
func (a *Accounts) Refund(ctx context.Context, key, _, msisdn string, amount billing.Money) error {
	if amount <= 0 {
		return fmt.Errorf("refund of %s: amount must be positive", amount)
	}
	err := a.keyed(ctx, key, func(tx pgx.Tx) error {
		var done bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM account_debits WHERE idempotency_key = $1::text)`, key).Scan(&done); err != nil {
			return err
		}
		if done {
			return nil
		}
		var sub billing.Subscriber
		err := tx.QueryRow(ctx, `SELECT plan, balance_fen, bill_fen FROM subscribers WHERE msisdn = $1::text FOR UPDATE`,
			msisdn).Scan(&sub.Plan, &sub.Balance, &sub.Bill)
		if errors.Is(err, pgx.ErrNoRows) {
			return &billing.Declined{Reason: billing.ReasonUnknownSubscriber}
		}
		if err != nil {
			return err
		}
		next, err := sub.Refund(amount)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE subscribers SET balance_fen = $2::bigint, bill_fen = $3::bigint WHERE msisdn = $1::text`,
			msisdn, int64(next.Balance), int64(next.Bill)); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO account_debits (idempotency_key, msisdn, amount_fen, kind, created_at)
			VALUES ($1::text, $2::text, $3::bigint, 'refund', $4::timestamptz)`, key, msisdn, int64(amount), a.clock.Now())
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
	err := a.keyed(ctx, key, func(tx pgx.Tx) error {
		var done bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM account_debits WHERE idempotency_key = $1::text AND kind = 'debit')`, key).Scan(&done); err != nil {
			return err
		}
		if done {
			st = billing.DebitDone
			return nil
		}
		_, err := tx.Exec(ctx, `INSERT INTO account_closed_keys (idempotency_key, closed_at) VALUES ($1::text, $2::timestamptz)
			ON CONFLICT DO NOTHING`, key, a.clock.Now())
		return err
	})
	if err != nil {
		return "", fmt.Errorf("asking the phone account about a debit: %w", err)
	}
	return st, nil
}
