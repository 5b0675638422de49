// Package sqlite is settlement's store on the embedded SQLite database: the
// Source the nightly jobs read the ledger through (one read transaction, a
// WAL snapshot, rows stepped one at a time) and the job leases (the merchant
// download keys moved to package merchantkey). It behaves as settlement/postgres does, and the two share
// one query shape.
//
// It reads billing's tables and never writes them; the only tables it
// writes are job_leases, through billing/sqlite's
// group-commit writer so that it never competes with the gateway for the
// write lock. All of settlement's SQL on SQLite lives here.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/billing/sqlite"
	"github.com/carrierbill/carrierbill/settlement"
)

// Store implements settlement.Source and settlement.Leases on an open
// embedded store.
type Store struct {
	s *sqlite.Store
}

// New returns settlement's store on the embedded store s (already migrated:
// sqlite.Open migrates).
func New(s *sqlite.Store) *Store { return &Store{s: s} }

var (
	_ settlement.Source = (*Store)(nil)
	_ settlement.Leases = (*Store)(nil)
)

// Snapshot implements settlement.Source: a read transaction on the read
// pool. In WAL mode it sees the database as of its first read, which
// Snapshot makes at once, whatever is committed afterwards. Close it soon:
// a long snapshot keeps the WAL from being checkpointed past it.
func (st *Store) Snapshot(ctx context.Context) (settlement.Snapshot, error) {
	tx, err := st.s.Reader().BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("beginning a read-only snapshot: %w", err)
	}
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&n); err != nil {
		_ = tx.Rollback()
		return nil, fmt.Errorf("beginning a read-only snapshot: %w", err)
	}
	return &snapshot{tx: tx}, nil
}

type snapshot struct {
	tx *sql.Tx
}

func (s *snapshot) Close(context.Context) error {
	if err := s.tx.Rollback(); err != nil && !errors.Is(err, sql.ErrTxDone) {
		return fmt.Errorf("ending the snapshot: %w", err)
	}
	return nil
}

// linesSQL is settlement/postgres's query. SQLite's default BINARY collation
// orders text by bytes, as COLLATE "C" does on Postgres.
const linesSQL = `
SELECT merchant, at, charge_id, refund_id, merchant_ref, msisdn, product_name, kind, method, amount_fen FROM (
    SELECT c.merchant, c.resolved_at AS at, c.id AS charge_id, 0 AS refund_id,
           coalesce(o.merchant_ref, '') AS merchant_ref, c.msisdn, o.product_name,
           CASE WHEN o.channel = 'subscription' THEN 'renewal' ELSE 'pay' END AS kind, c.method, c.amount_fen
      FROM charges c JOIN orders o ON o.id = c.order_id
     WHERE c.status = 'succeeded' AND c.resolved_at >= ?1 AND c.resolved_at < ?2
       AND (?3 = '' OR c.merchant = ?3)
    UNION ALL
    SELECT c.merchant, r.created_at, c.id, r.id,
           coalesce(o.merchant_ref, ''), c.msisdn, o.product_name,
           'refund', c.method, r.amount_fen
      FROM refunds r JOIN charges c ON c.id = r.charge_id JOIN orders o ON o.id = c.order_id
     WHERE r.created_at >= ?1 AND r.created_at < ?2
       AND (?3 = '' OR c.merchant = ?3)
)
ORDER BY merchant COLLATE BINARY, at, kind COLLATE BINARY, charge_id, refund_id`

// Lines implements settlement.Snapshot. Rows are stepped one at a time from
// SQLite, so memory does not grow with the day's volume (SQLite sorts,
// spilling to a temporary file past its cache).
func (s *snapshot) Lines(ctx context.Context, merchant string, from, to time.Time, fn func(settlement.Line) error) error {
	rows, err := s.tx.QueryContext(ctx, linesSQL, sqlite.EncodeTime(from), sqlite.EncodeTime(to), merchant)
	if err != nil {
		return fmt.Errorf("querying payments and refunds: %w", err)
	}
	defer rows.Close()
	var (
		l      settlement.Line
		kind   string
		at     int64
		amount int64
	)
	for rows.Next() {
		if err := rows.Scan(&l.Merchant, &at, &l.ChargeID, &l.RefundID, &l.MerchantRef, &l.MSISDN, &l.Product, &kind, &l.Method, &amount); err != nil {
			return fmt.Errorf("reading payments and refunds: %w", err)
		}
		l.At = sqlite.DecodeTime(at)
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

// ledgerSQL sums the merchant payable postings, as settlement/postgres does:
// a payment credits merchant:<code>:payable (negative), a refund debits it
// (positive); payments count on their charge's business time and refunds
// on the refund's.
const ledgerSQL = `
SELECT merchant, sum(payments), sum(paid), sum(refunds), sum(refunded) FROM (
    SELECT le.merchant, count(DISTINCT le.charge_id) AS payments, -sum(le.amount_fen) AS paid, 0 AS refunds, 0 AS refunded
      FROM charges c JOIN ledger_entries le ON le.charge_id = c.id AND le.kind = 'payment'
     WHERE c.status = 'succeeded' AND c.resolved_at >= ?1 AND c.resolved_at < ?2
       AND le.account = 'merchant:' || le.merchant || ':payable'
     GROUP BY le.merchant
    UNION ALL
    SELECT le.merchant, 0, 0, count(DISTINCT le.refund_id), sum(le.amount_fen)
      FROM refunds r JOIN ledger_entries le ON le.refund_id = r.id AND le.kind = 'refund'
     WHERE r.created_at >= ?1 AND r.created_at < ?2
       AND le.account = 'merchant:' || le.merchant || ':payable'
     GROUP BY le.merchant
) GROUP BY merchant`

// LedgerTotals implements settlement.Snapshot.
func (s *snapshot) LedgerTotals(ctx context.Context, from, to time.Time) (map[string]settlement.Totals, error) {
	rows, err := s.tx.QueryContext(ctx, ledgerSQL, sqlite.EncodeTime(from), sqlite.EncodeTime(to))
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
	rows, err := s.tx.QueryContext(ctx, `
SELECT o.merchant, count(*) FROM outbox ob JOIN orders o ON o.id = ob.order_id
 WHERE ob.order_id IS NOT NULL AND ob.created_at >= ? AND ob.created_at < ?
 GROUP BY o.merchant`, sqlite.EncodeTime(from), sqlite.EncodeTime(to))
	if err != nil {
		return nil, fmt.Errorf("counting messages: %w", err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var (
			m string
			n int64
		)
		if err := rows.Scan(&m, &n); err != nil {
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
	var at sql.NullInt64
	if err := s.tx.QueryRowContext(ctx, `SELECT min(resolved_at) FROM charges WHERE status = 'succeeded'`).Scan(&at); err != nil {
		return time.Time{}, false, fmt.Errorf("finding the first payment: %w", err)
	}
	if !at.Valid {
		return time.Time{}, false, nil
	}
	return sqlite.DecodeTime(at.Int64), true, nil
}

// PhoneCharges implements settlement.Snapshot.
func (s *snapshot) PhoneCharges(ctx context.Context, from, to time.Time, fn func(settlement.PhoneCharge) error) error {
	rows, err := s.tx.QueryContext(ctx, `
SELECT id, msisdn, amount_fen, resolved_at FROM charges
 WHERE status = 'succeeded' AND method = 'phone' AND resolved_at >= ? AND resolved_at < ?
 ORDER BY id`, sqlite.EncodeTime(from), sqlite.EncodeTime(to))
	if err != nil {
		return fmt.Errorf("querying phone charges: %w", err)
	}
	defer rows.Close()
	var (
		c      settlement.PhoneCharge
		amount int64
		at     int64
	)
	for rows.Next() {
		if err := rows.Scan(&c.ID, &c.MSISDN, &amount, &at); err != nil {
			return fmt.Errorf("reading phone charges: %w", err)
		}
		c.Amount, c.At = billing.Money(amount), sqlite.DecodeTime(at)
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
func (st *Store) Claim(ctx context.Context, job, key, holder string, now, expires time.Time) error {
	var result error
	err := st.s.Write(ctx, func(t *sql.Tx) error {
		var got string
		err := t.QueryRowContext(ctx, `
INSERT INTO job_leases (job, run_key, holder, expires_at) VALUES (?1, ?2, ?3, ?4)
ON CONFLICT (job, run_key) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
 WHERE job_leases.done_at IS NULL AND (job_leases.expires_at <= ?5 OR job_leases.holder = excluded.holder)
RETURNING holder`, job, key, holder, sqlite.EncodeTime(expires), sqlite.EncodeTime(now)).Scan(&got)
		if err == nil {
			return nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		var done sql.NullInt64
		if err := t.QueryRowContext(ctx, `SELECT done_at FROM job_leases WHERE job = ? AND run_key = ?`, job, key).Scan(&done); err != nil {
			return err
		}
		result = settlement.ErrHeld
		if done.Valid {
			result = settlement.ErrDone
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("claiming lease %s %s: %w", job, key, err)
	}
	return result
}

// Extend implements settlement.Leases.
func (st *Store) Extend(ctx context.Context, job, key, holder string, expires time.Time) error {
	err := st.s.Write(ctx, func(t *sql.Tx) error {
		return execOne(ctx, t, `UPDATE job_leases SET expires_at = ?
 WHERE job = ? AND run_key = ? AND holder = ? AND done_at IS NULL`, sqlite.EncodeTime(expires), job, key, holder)
	})
	if errors.Is(err, errNoRow) {
		return settlement.ErrLost
	}
	if err != nil {
		return fmt.Errorf("extending lease %s %s: %w", job, key, err)
	}
	return nil
}

// Finish implements settlement.Leases.
func (st *Store) Finish(ctx context.Context, job, key, holder string, now time.Time) error {
	err := st.s.Write(ctx, func(t *sql.Tx) error {
		return execOne(ctx, t, `UPDATE job_leases SET done_at = ?1, expires_at = ?1
 WHERE job = ?2 AND run_key = ?3 AND holder = ?4 AND done_at IS NULL`, sqlite.EncodeTime(now), job, key, holder)
	})
	if errors.Is(err, errNoRow) {
		return settlement.ErrLost
	}
	if err != nil {
		return fmt.Errorf("finishing lease %s %s: %w", job, key, err)
	}
	return nil
}

// Done implements settlement.Leases.
func (st *Store) Done(ctx context.Context, job string) (map[string]bool, error) {
	rows, err := st.s.Reader().QueryContext(ctx, `SELECT run_key FROM job_leases WHERE job = ? AND done_at IS NOT NULL`, job)
	if err != nil {
		return nil, fmt.Errorf("reading finished runs of %s: %w", job, err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, fmt.Errorf("reading finished runs of %s: %w", job, err)
		}
		out[k] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading finished runs of %s: %w", job, err)
	}
	return out, nil
}

// errNoRow is execOne's answer when its statement changed no row.
var errNoRow = errors.New("no row changed")

// execOne runs one statement that must change exactly one row.
func execOne(ctx context.Context, t *sql.Tx, query string, args ...any) error {
	res, err := t.ExecContext(ctx, query, args...)
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return errNoRow
	}
	return nil
}
