// Package sqlite is the reports' ActivitySource on the embedded store:
// the same counts as reports/postgres, in one read transaction of the read
// pool. It only reads.
package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/carrierbill/carrierbill/billing"
	bsqlite "github.com/carrierbill/carrierbill/billing/sqlite"
	"github.com/carrierbill/carrierbill/reports"
)

// Source implements reports.ActivitySource on an open embedded store.
type Source struct{ s *bsqlite.Store }

// New returns the source on s.
func New(s *bsqlite.Store) *Source { return &Source{s: s} }

var _ reports.ActivitySource = (*Source)(nil)

// Activity implements reports.ActivitySource.
func (s *Source) Activity(ctx context.Context, p reports.Period) (reports.Activity, error) {
	a := reports.Activity{Refusals: map[billing.Reason]int64{}, Parts: map[billing.DeliveryState]int64{},
		MOsByBucket: make([]int64, len(p.Buckets()))}
	tx, err := s.s.Reader().BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return a, fmt.Errorf("beginning a snapshot: %w", err)
	}
	defer tx.Rollback()
	from, to := bsqlite.EncodeTime(p.From), bsqlite.EncodeTime(p.To)
	width := int64(time.Hour)
	if p.Monthly {
		width = int64(24 * time.Hour)
	}
	if err := collect(ctx, tx, `SELECT CAST((received_at - ?1) / ?3 AS TEXT), count(*) FROM mo_inbox
		WHERE received_at >= ?1 AND received_at < ?2 GROUP BY 1`, []any{from, to, width}, func(k string, n int64) {
		var b int
		fmt.Sscan(k, &b)
		a.MOsReceived += n
		a.MOsByBucket[min(max(b, 0), len(a.MOsByBucket)-1)] += n
	}); err != nil {
		return a, err
	}
	if err := tx.QueryRowContext(ctx, `SELECT count(*), count(sent_at) FROM outbox WHERE created_at >= ? AND created_at < ?`,
		from, to).Scan(&a.MTsWritten, &a.MTsSent); err != nil {
		return a, err
	}
	if err := tx.QueryRowContext(ctx, `SELECT count(*),
		coalesce(sum(EXISTS (SELECT 1 FROM outbox m WHERE m.order_id = o.id AND m.kind = 'prompt')), 0),
		count(c.id), coalesce(sum(c.status = 'succeeded'), 0), coalesce(sum(o.status = 'expired'), 0)
		FROM orders o LEFT JOIN charges c ON c.order_id = o.id
		WHERE o.created_at >= ? AND o.created_at < ?`, from, to).Scan(
		&a.Purchases, &a.Prompted, &a.Confirmed, &a.Charged, &a.Expired); err != nil {
		return a, err
	}
	if err := collect(ctx, tx, `SELECT reason, count(*) FROM refusals WHERE at >= ? AND at < ? GROUP BY reason`,
		[]any{from, to}, func(k string, n int64) { a.Refusals[billing.Reason(k)] += n }); err != nil {
		return a, err
	}
	if err := collect(ctx, tx, `SELECT coalesce(p.state, ''), count(*) FROM outbox_parts p JOIN outbox m ON m.id = p.outbox_id
		WHERE m.created_at >= ? AND m.created_at < ? GROUP BY 1`,
		[]any{from, to}, func(k string, n int64) { a.Parts[billing.DeliveryState(k)] += n }); err != nil {
		return a, err
	}
	return a, nil
}

func collect(ctx context.Context, tx *sql.Tx, q string, args []any, fn func(string, int64)) error {
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var k string
		var n int64
		if err := rows.Scan(&k, &n); err != nil {
			return err
		}
		fn(k, n)
	}
	return rows.Err()
}
