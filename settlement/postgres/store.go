// Package postgres is settlement's PostgreSQL store: the Source the nightly
// jobs read the ledger through (one REPEATABLE READ READ ONLY snapshot,
// rows streamed so memory does not grow with their number) and the job
// leases. The merchant download keys moved to package merchantkey.
//
// It reads billing's tables and never writes them; the only tables it
// writes are job_leases. All of settlement's SQL lives
// here.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/settlement"
)

// Store implements settlement.Source and settlement.Leases on a pgx pool.
type Store struct {
	pool *pgxpool.Pool
}

// New returns a Store on pool. The schema must be migrated
// (billing/postgres.Migrate).
func New(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

var (
	_ settlement.Source = (*Store)(nil)
	_ settlement.Leases = (*Store)(nil)
)

// Snapshot implements settlement.Source.
func (s *Store) Snapshot(ctx context.Context) (settlement.Snapshot, error) {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, fmt.Errorf("beginning a read-only snapshot: %w", err)
	}
	return &snapshot{tx: tx}, nil
}

type snapshot struct {
	tx pgx.Tx
}

func (s *snapshot) Close(ctx context.Context) error { return s.tx.Rollback(ctx) }

const linesSQL = `
SELECT merchant, at, charge_id, refund_id, merchant_ref, msisdn, product_name, kind, method, amount_fen FROM (
    SELECT c.merchant, c.resolved_at AS at, c.id AS charge_id, 0::bigint AS refund_id,
           COALESCE(o.merchant_ref, '') AS merchant_ref, c.msisdn, o.product_name,
           CASE WHEN o.channel = 'subscription' THEN 'renewal' ELSE 'pay' END AS kind, c.method, c.amount_fen
      FROM charges c JOIN orders o ON o.id = c.order_id
     WHERE c.status = 'succeeded' AND c.resolved_at >= $1 AND c.resolved_at < $2
       AND ($3::text = '' OR c.merchant = $3::text)
    UNION ALL
    SELECT c.merchant, r.created_at, c.id, r.id,
           COALESCE(o.merchant_ref, ''), c.msisdn, o.product_name,
           'refund', c.method, r.amount_fen
      FROM refunds r JOIN charges c ON c.id = r.charge_id JOIN orders o ON o.id = c.order_id
     WHERE r.created_at >= $1 AND r.created_at < $2
       AND ($3::text = '' OR c.merchant = $3::text)
) x
ORDER BY merchant COLLATE "C", at, kind COLLATE "C", charge_id, refund_id`

// Lines implements settlement.Snapshot. pgx reads a result row by row from
// the connection, so the client holds one row at a time however many the
// day has; the server sorts (spilling to disk past work_mem).
func (s *snapshot) Lines(ctx context.Context, merchant string, from, to time.Time, fn func(settlement.Line) error) error {
	rows, err := s.tx.Query(ctx, linesSQL, from, to, merchant)
	if err != nil {
		return fmt.Errorf("querying payments and refunds: %w", err)
	}
	defer rows.Close()
	var (
		l      settlement.Line
		kind   string
		amount int64
	)
	for rows.Next() {
		if err := rows.Scan(&l.Merchant, &l.At, &l.ChargeID, &l.RefundID, &l.MerchantRef, &l.MSISDN, &l.Product, &kind, &l.Method, &amount); err != nil {
			return fmt.Errorf("reading payments and refunds: %w", err)
		}
		l.Kind = settlement.LineKind(kind)
		l.Amount = billing.Money(amount)
		if err := fn(l); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("reading payments and refunds: %w", err)
	}
	return nil
}

// ledgerSQL sums the merchant payable postings. Double entry: a payment
// credits merchant:<code>:payable (negative), a refund debits it
// (positive). Payments count on their charge's business time and refunds on
// the refund's, like the statements.
const ledgerSQL = `
SELECT merchant, SUM(payments)::bigint, SUM(paid)::bigint, SUM(refunds)::bigint, SUM(refunded)::bigint FROM (
    SELECT le.merchant, COUNT(DISTINCT le.charge_id) AS payments, -SUM(le.amount_fen) AS paid, 0 AS refunds, 0 AS refunded
      FROM charges c JOIN ledger_entries le ON le.charge_id = c.id AND le.kind = 'payment'
     WHERE c.status = 'succeeded' AND c.resolved_at >= $1 AND c.resolved_at < $2
       AND le.account = 'merchant:' || le.merchant || ':payable'
     GROUP BY le.merchant
    UNION ALL
    SELECT le.merchant, 0, 0, COUNT(DISTINCT le.refund_id), SUM(le.amount_fen)
      FROM refunds r JOIN ledger_entries le ON le.refund_id = r.id AND le.kind = 'refund'
     WHERE r.created_at >= $1 AND r.created_at < $2
       AND le.account = 'merchant:' || le.merchant || ':payable'
     GROUP BY le.merchant
) x GROUP BY merchant`

// LedgerTotals implements settlement.Snapshot.
func (s *snapshot) LedgerTotals(ctx context.Context, from, to time.Time) (map[string]settlement.Totals, error) {
	rows, err := s.tx.Query(ctx, ledgerSQL, from, to)
	if err != nil {
		return nil, fmt.Errorf("querying ledger totals: %w", err)
	}
	defer rows.Close()
	out := map[string]settlement.Totals{}
	for rows.Next() {
		var (
			m              string
			t              settlement.Totals
			paid, refunded int64
		)
		if err := rows.Scan(&m, &t.Payments, &paid, &t.Refunds, &refunded); err != nil {
			return nil, fmt.Errorf("reading ledger totals: %w", err)
		}
		t.Paid, t.Refunded = billing.Money(paid), billing.Money(refunded)
		out[m] = t
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading ledger totals: %w", err)
	}
	return out, nil
}

// MessageCounts implements settlement.Snapshot.
func (s *snapshot) MessageCounts(ctx context.Context, from, to time.Time) (map[string]int64, error) {
	rows, err := s.tx.Query(ctx, `
SELECT o.merchant, COUNT(*)::bigint FROM outbox ob JOIN orders o ON o.id = ob.order_id
 WHERE ob.order_id IS NOT NULL AND ob.created_at >= $1 AND ob.created_at < $2
 GROUP BY o.merchant`, from, to)
	if err != nil {
		return nil, fmt.Errorf("counting messages: %w", err)
	}
	out := map[string]int64{}
	for rows.Next() {
		var (
			m string
			n int64
		)
		if err := rows.Scan(&m, &n); err != nil {
			rows.Close()
			return nil, fmt.Errorf("counting messages: %w", err)
		}
		out[m] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("counting messages: %w", err)
	}
	return out, nil
}

// FirstActivity implements settlement.Snapshot.
func (s *snapshot) FirstActivity(ctx context.Context) (time.Time, bool, error) {
	var at *time.Time
	if err := s.tx.QueryRow(ctx, `SELECT MIN(resolved_at) FROM charges WHERE status = 'succeeded'`).Scan(&at); err != nil {
		return time.Time{}, false, fmt.Errorf("finding the first payment: %w", err)
	}
	if at == nil {
		return time.Time{}, false, nil
	}
	return *at, true, nil
}

// PhoneCharges implements settlement.Snapshot.
func (s *snapshot) PhoneCharges(ctx context.Context, from, to time.Time, fn func(settlement.PhoneCharge) error) error {
	rows, err := s.tx.Query(ctx, `
SELECT id, msisdn, amount_fen, resolved_at FROM charges
 WHERE status = 'succeeded' AND method = 'phone' AND resolved_at >= $1 AND resolved_at < $2
 ORDER BY id`, from, to)
	if err != nil {
		return fmt.Errorf("querying phone charges: %w", err)
	}
	defer rows.Close()
	var (
		c      settlement.PhoneCharge
		amount int64
	)
	for rows.Next() {
		if err := rows.Scan(&c.ID, &c.MSISDN, &amount, &c.At); err != nil {
			return fmt.Errorf("reading phone charges: %w", err)
		}
		c.Amount = billing.Money(amount)
		if err := fn(c); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("reading phone charges: %w", err)
	}
	return nil
}

// Claim implements settlement.Leases.
func (s *Store) Claim(ctx context.Context, job, key, holder string, now, expires time.Time) error {
	var got string
	err := s.pool.QueryRow(ctx, `
INSERT INTO job_leases (job, run_key, holder, expires_at) VALUES ($1, $2, $3, $4)
ON CONFLICT (job, run_key) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
 WHERE job_leases.done_at IS NULL AND (job_leases.expires_at <= $5 OR job_leases.holder = EXCLUDED.holder)
RETURNING holder`, job, key, holder, expires, now).Scan(&got)
	if err == nil {
		return nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("claiming lease %s %s: %w", job, key, err)
	}
	var done *time.Time
	if err := s.pool.QueryRow(ctx, `SELECT done_at FROM job_leases WHERE job = $1 AND run_key = $2`, job, key).Scan(&done); err != nil {
		return fmt.Errorf("reading lease %s %s: %w", job, key, err)
	}
	if done != nil {
		return settlement.ErrDone
	}
	return settlement.ErrHeld
}

// Extend implements settlement.Leases.
func (s *Store) Extend(ctx context.Context, job, key, holder string, expires time.Time) error {
	tag, err := s.pool.Exec(ctx, `UPDATE job_leases SET expires_at = $4
 WHERE job = $1 AND run_key = $2 AND holder = $3 AND done_at IS NULL`, job, key, holder, expires)
	if err != nil {
		return fmt.Errorf("extending lease %s %s: %w", job, key, err)
	}
	if tag.RowsAffected() == 0 {
		return settlement.ErrLost
	}
	return nil
}

// Finish implements settlement.Leases.
func (s *Store) Finish(ctx context.Context, job, key, holder string, now time.Time) error {
	tag, err := s.pool.Exec(ctx, `UPDATE job_leases SET done_at = $4, expires_at = $4
 WHERE job = $1 AND run_key = $2 AND holder = $3 AND done_at IS NULL`, job, key, holder, now)
	if err != nil {
		return fmt.Errorf("finishing lease %s %s: %w", job, key, err)
	}
	if tag.RowsAffected() == 0 {
		return settlement.ErrLost
	}
	return nil
}

// Done implements settlement.Leases.
func (s *Store) Done(ctx context.Context, job string) (map[string]bool, error) {
	rows, err := s.pool.Query(ctx, `SELECT run_key FROM job_leases WHERE job = $1 AND done_at IS NOT NULL`, job)
	if err != nil {
		return nil, fmt.Errorf("reading finished runs of %s: %w", job, err)
	}
	keys, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("reading finished runs of %s: %w", job, err)
	}
	out := make(map[string]bool, len(keys))
	for _, k := range keys {
		out[k] = true
	}
	return out, nil
}
