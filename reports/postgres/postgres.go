// Package postgres is the reports' ActivitySource on PostgreSQL: counts of
// a period's MOs, MTs, orders, refusals and receipts, grouped in SQL so
// that memory does not grow with the traffic. It only reads.
package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/reports"
)

// Source implements reports.ActivitySource on a pool.
type Source struct{ pool *pgxpool.Pool }

// New returns the source on pool.
func New(pool *pgxpool.Pool) *Source { return &Source{pool: pool} }

var _ reports.ActivitySource = (*Source)(nil)

// Activity implements reports.ActivitySource in one read-only snapshot.
func (s *Source) Activity(ctx context.Context, p reports.Period) (reports.Activity, error) {
	a := reports.Activity{Refusals: map[billing.Reason]int64{}, Parts: map[billing.DeliveryState]int64{},
		MOsByBucket: make([]int64, len(p.Buckets()))}
	tx, err := s.pool.BeginTx(ctx, pgxTxOptions)
	if err != nil {
		return a, fmt.Errorf("beginning a snapshot: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	from, to := p.From, p.To
	width := int64(time.Hour / time.Second)
	if p.Monthly {
		width = 86400
	}
	rows, err := tx.Query(ctx, `SELECT floor(extract(epoch FROM received_at - $1::timestamptz) / $3::bigint)::int, count(*)
		FROM mo_inbox WHERE received_at >= $1::timestamptz AND received_at < $2::timestamptz GROUP BY 1`, from, to, width)
	if err != nil {
		return a, err
	}
	for rows.Next() {
		var b int
		var n int64
		if err := rows.Scan(&b, &n); err != nil {
			rows.Close()
			return a, err
		}
		a.MOsReceived += n
		a.MOsByBucket[min(max(b, 0), len(a.MOsByBucket)-1)] += n
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return a, err
	}
	if err := tx.QueryRow(ctx, `SELECT count(*), count(sent_at) FROM outbox WHERE created_at >= $1::timestamptz AND created_at < $2::timestamptz`,
		from, to).Scan(&a.MTsWritten, &a.MTsSent); err != nil {
		return a, err
	}
	if err := tx.QueryRow(ctx, `SELECT count(*),
		count(*) FILTER (WHERE EXISTS (SELECT 1 FROM outbox m WHERE m.order_id = o.id AND m.kind = 'prompt')),
		count(c.id), count(*) FILTER (WHERE c.status = 'succeeded'), count(*) FILTER (WHERE o.status = 'expired')
		FROM orders o LEFT JOIN charges c ON c.order_id = o.id
		WHERE o.created_at >= $1::timestamptz AND o.created_at < $2::timestamptz`, from, to).Scan(
		&a.Purchases, &a.Prompted, &a.Confirmed, &a.Charged, &a.Expired); err != nil {
		return a, err
	}
	if err := collect(ctx, tx.Query, `SELECT reason, count(*) FROM refusals WHERE at >= $1::timestamptz AND at < $2::timestamptz GROUP BY reason`,
		from, to, func(k string, n int64) { a.Refusals[billing.Reason(k)] += n }); err != nil {
		return a, err
	}
	if err := collect(ctx, tx.Query, `SELECT coalesce(p.state, ''), count(*) FROM outbox_parts p JOIN outbox m ON m.id = p.outbox_id
		WHERE m.created_at >= $1::timestamptz AND m.created_at < $2::timestamptz GROUP BY 1`,
		from, to, func(k string, n int64) { a.Parts[billing.DeliveryState(k)] += n }); err != nil {
		return a, err
	}
	return a, nil
}
