package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/clock"
)

// AccountStore is billing.AccountStore on the embedded database
// (subscribers, account_debits, account_closed_keys): only the SQL of the
// phone-account charger, whose control flow is billing.Accounts.
// InAccountTx runs on the store's single writer, which serializes every
// write transaction of the process, so the calls of one key never overlap
// and LockAccount needs no lock of its own.
type AccountStore struct {
	s *Store
}

// NewAccountStore returns the phone accounts' store on s.
func NewAccountStore(s *Store) *AccountStore { return &AccountStore{s: s} }

// NewAccounts returns the phone-account charger on s.
func NewAccounts(s *Store, clk clock.Clock, opt billing.AccountsOptions) *billing.Accounts {
	return billing.NewAccounts(NewAccountStore(s), clk, opt)
}

var _ billing.AccountStore = (*AccountStore)(nil)

// InAccountTx implements billing.AccountStore. The key needs no lock: the
// single writer runs one transaction at a time.
func (a *AccountStore) InAccountTx(ctx context.Context, _ string, fn func(billing.AccountTx) error) error {
	return a.s.write(ctx, func(t *sql.Tx) error { return fn(accountTx{t: t}) })
}

// sqlInsertAccount inserts one subscribers row: insertAccountArgs.
const sqlInsertAccount = `INSERT INTO subscribers (msisdn, status, plan, balance_fen, bill_fen, credit_limit_fen, created_at)
	VALUES (?, CASE WHEN ? THEN 'suspended' ELSE 'active' END, ?, ?, ?, ?, ?)`

// insertAccountArgs are sqlInsertAccount's arguments for sub created at at.
func insertAccountArgs(sub billing.Subscriber, at time.Time) []any {
	return []any{sub.MSISDN, sub.Suspended, string(sub.Plan), int64(sub.Balance), int64(sub.Bill), int64(sub.CreditLimit), ts(at)}
}

// sqlSelectAccount reads one account for scanAccount.
const sqlSelectAccount = `SELECT msisdn, status = 'suspended', plan, balance_fen, bill_fen, credit_limit_fen
	FROM subscribers WHERE msisdn = ?`

// PutAccount implements billing.AccountStore.
func (a *AccountStore) PutAccount(ctx context.Context, sub billing.Subscriber, at time.Time) error {
	return a.s.write(ctx, func(t *sql.Tx) error {
		_, err := t.ExecContext(ctx, sqlInsertAccount+` ON CONFLICT (msisdn) DO UPDATE SET status = excluded.status, plan = excluded.plan,
			balance_fen = excluded.balance_fen, bill_fen = excluded.bill_fen, credit_limit_fen = excluded.credit_limit_fen`,
			insertAccountArgs(sub, at)...)
		return domainError(err)
	})
}

// Account implements billing.AccountStore.
func (a *AccountStore) Account(ctx context.Context, msisdn string) (billing.Subscriber, error) {
	return scanAccount(a.s.reader.QueryRowContext(ctx, sqlSelectAccount, msisdn))
}

// accountTx is billing.AccountTx on one write transaction.
type accountTx struct{ t *sql.Tx }

func (x accountTx) KeyState(ctx context.Context, key string) (billing.KeyState, error) {
	var ks billing.KeyState
	err := x.t.QueryRowContext(ctx, `SELECT
		EXISTS (SELECT 1 FROM account_debits WHERE idempotency_key = ?1 AND kind = 'debit'),
		EXISTS (SELECT 1 FROM account_debits WHERE idempotency_key = ?1 AND kind = 'refund'),
		EXISTS (SELECT 1 FROM account_closed_keys WHERE idempotency_key = ?1)`, key).Scan(&ks.Debited, &ks.Refunded, &ks.Closed)
	return ks, err
}

// LockAccount only reads: the single writer already excludes every other
// writer until the transaction ends.
func (x accountTx) LockAccount(ctx context.Context, msisdn string) (billing.Subscriber, error) {
	return scanAccount(x.t.QueryRowContext(ctx, sqlSelectAccount, msisdn))
}

// CreateAccount: ON CONFLICT DO NOTHING as on PostgreSQL, so a first debit
// never fails on the unique key even if another process opened the account
// meanwhile (BEGIN IMMEDIATE already serializes this process's writers).
func (x accountTx) CreateAccount(ctx context.Context, sub billing.Subscriber, at time.Time) error {
	_, err := x.t.ExecContext(ctx, sqlInsertAccount+` ON CONFLICT (msisdn) DO NOTHING`, insertAccountArgs(sub, at)...)
	return err
}

func (x accountTx) SaveAccount(ctx context.Context, sub billing.Subscriber) error {
	_, err := x.t.ExecContext(ctx, `UPDATE subscribers SET balance_fen = ?, bill_fen = ? WHERE msisdn = ?`,
		int64(sub.Balance), int64(sub.Bill), sub.MSISDN)
	return err
}

func (x accountTx) RecordMove(ctx context.Context, m billing.AccountMove) error {
	_, err := x.t.ExecContext(ctx, `INSERT INTO account_debits (idempotency_key, msisdn, amount_fen, kind, created_at)
		VALUES (?, ?, ?, ?, ?)`, m.Key, m.MSISDN, int64(m.Amount), string(m.Kind), ts(m.At))
	return err
}

func (x accountTx) CloseKey(ctx context.Context, key string, at time.Time) error {
	_, err := x.t.ExecContext(ctx, `INSERT INTO account_closed_keys (idempotency_key, closed_at) VALUES (?, ?)
		ON CONFLICT DO NOTHING`, key, ts(at))
	return err
}

// scanAccount reads one subscribers row (msisdn, suspended, plan,
// balance_fen, bill_fen, credit_limit_fen). billing.ErrNotFound.
func scanAccount(row *sql.Row) (billing.Subscriber, error) {
	var sub billing.Subscriber
	if err := row.Scan(&sub.MSISDN, &sub.Suspended, &sub.Plan, &sub.Balance, &sub.Bill, &sub.CreditLimit); err != nil {
		return billing.Subscriber{}, domainError(err)
	}
	return sub, nil
}
