package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/clock"
)

// AccountStore is billing.AccountStore on PostgreSQL (subscribers,
// account_debits, account_closed_keys): only the SQL of the phone-account
// charger, whose control flow is billing.Accounts. InAccountTx serializes
// the calls of one key with a transaction-scoped advisory lock on it, in
// every process sharing the database, and retries like every transaction
// of this package (retryTx).
//
// Its transactions share commits (group.go): the debits of many numbers
// are taken in one transaction, each in its own savepoint, still one
// transaction per key as InAccountTx promises (the advisory lock is held
// until the group commits).
type AccountStore struct {
	pool  *pgxpool.Pool
	group *grouper
}

// NewAccountStore returns the phone accounts' store on pool.
func NewAccountStore(pool *pgxpool.Pool) *AccountStore {
	return &AccountStore{pool: pool, group: newGrouper(pool, 4)}
}

// NewAccounts returns the phone-account charger on pool.
func NewAccounts(pool *pgxpool.Pool, clk clock.Clock, opt billing.AccountsOptions) *billing.Accounts {
	return billing.NewAccounts(NewAccountStore(pool), clk, opt)
}

var _ billing.AccountStore = (*AccountStore)(nil)

// InAccountTx implements billing.AccountStore.
func (s *AccountStore) InAccountTx(ctx context.Context, key string, fn func(billing.AccountTx) error) error {
	return s.group.inTx(ctx, func(tx pgx.Tx) error {
		// Sent with KeyState's read, in the same round trip and before it.
		if err := later(ctx, tx, "locking the key", false, `SELECT pg_advisory_xact_lock(hashtextextended($1::text, 7))`, key); err != nil {
			return err
		}
		return fn(accountTx{tx: tx})
	})
}

// sqlInsertAccount inserts one subscribers row: insertAccountArgs.
const sqlInsertAccount = `INSERT INTO subscribers (msisdn, status, plan, balance_fen, bill_fen, credit_limit_fen, created_at)
	VALUES ($1::text, CASE WHEN $2::boolean THEN 'suspended' ELSE 'active' END, $3::text, $4::bigint, $5::bigint, $6::bigint, $7::timestamptz)`

// insertAccountArgs are sqlInsertAccount's arguments for sub created at at.
func insertAccountArgs(sub billing.Subscriber, at time.Time) []any {
	return []any{sub.MSISDN, sub.Suspended, string(sub.Plan), int64(sub.Balance), int64(sub.Bill), int64(sub.CreditLimit), at}
}

// sqlSelectAccount reads one account for scanAccount.
const sqlSelectAccount = `SELECT msisdn, status = 'suspended', plan, balance_fen, bill_fen, credit_limit_fen
	FROM subscribers WHERE msisdn = $1::text`

// PutAccount implements billing.AccountStore.
func (s *AccountStore) PutAccount(ctx context.Context, sub billing.Subscriber, at time.Time) error {
	_, err := s.pool.Exec(ctx, sqlInsertAccount+` ON CONFLICT (msisdn) DO UPDATE SET status = EXCLUDED.status, plan = EXCLUDED.plan,
		balance_fen = EXCLUDED.balance_fen, bill_fen = EXCLUDED.bill_fen, credit_limit_fen = EXCLUDED.credit_limit_fen`,
		insertAccountArgs(sub, at)...)
	return mapErr(err)
}

// Account implements billing.AccountStore.
func (s *AccountStore) Account(ctx context.Context, msisdn string) (billing.Subscriber, error) {
	return scanAccount(s.pool.QueryRow(ctx, sqlSelectAccount, msisdn))
}

// accountTx is billing.AccountTx on one PostgreSQL transaction.
type accountTx struct{ tx pgx.Tx }

func (t accountTx) KeyState(ctx context.Context, key string) (billing.KeyState, error) {
	var ks billing.KeyState
	err := t.tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM account_debits WHERE idempotency_key = $1::text AND kind = 'debit'),
		EXISTS (SELECT 1 FROM account_debits WHERE idempotency_key = $1::text AND kind = 'refund'),
		EXISTS (SELECT 1 FROM account_closed_keys WHERE idempotency_key = $1::text)`, key).Scan(&ks.Debited, &ks.Refunded, &ks.Closed)
	return ks, err
}

func (t accountTx) LockAccount(ctx context.Context, msisdn string) (billing.Subscriber, error) {
	return scanAccount(t.tx.QueryRow(ctx, sqlSelectAccount+` FOR UPDATE`, msisdn))
}

// CreateAccount: the INSERT waits for a concurrent one of the same number to
// commit; the SELECT … FOR UPDATE after it, a new statement under READ
// COMMITTED, sees the row either way.
func (t accountTx) CreateAccount(ctx context.Context, sub billing.Subscriber, at time.Time) error {
	_, err := t.tx.Exec(ctx, sqlInsertAccount+` ON CONFLICT (msisdn) DO NOTHING`, insertAccountArgs(sub, at)...)
	return err
}

func (t accountTx) SaveAccount(ctx context.Context, sub billing.Subscriber) error {
	return later(ctx, t.tx, "saving the account", false, `UPDATE subscribers SET balance_fen = $2::bigint, bill_fen = $3::bigint WHERE msisdn = $1::text`,
		sub.MSISDN, int64(sub.Balance), int64(sub.Bill))
}

func (t accountTx) RecordMove(ctx context.Context, m billing.AccountMove) error {
	return later(ctx, t.tx, "recording the move", false, `INSERT INTO account_debits (idempotency_key, msisdn, amount_fen, kind, created_at)
		VALUES ($1::text, $2::text, $3::bigint, $4::text, $5::timestamptz)`, m.Key, m.MSISDN, int64(m.Amount), string(m.Kind), m.At)
}

func (t accountTx) CloseKey(ctx context.Context, key string, at time.Time) error {
	_, err := t.tx.Exec(ctx, `INSERT INTO account_closed_keys (idempotency_key, closed_at) VALUES ($1::text, $2::timestamptz)
		ON CONFLICT DO NOTHING`, key, at)
	return err
}

// scanAccount reads one subscribers row (msisdn, suspended, plan,
// balance_fen, bill_fen, credit_limit_fen). billing.ErrNotFound.
func scanAccount(row pgx.Row) (billing.Subscriber, error) {
	var sub billing.Subscriber
	if err := row.Scan(&sub.MSISDN, &sub.Suspended, &sub.Plan, &sub.Balance, &sub.Bill, &sub.CreditLimit); err != nil {
		return billing.Subscriber{}, mapErr(err)
	}
	return sub, nil
}
