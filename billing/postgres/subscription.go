package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/carrierbill/carrierbill/billing"
)

// Subscriptions (billing/subscription.go; migration 0039).

const subColumns = `id, msisdn, merchant, product, product_name, amount_fen, method, status, anchor_day, next_renewal,
	failures, attempts, next_attempt_at, reminded_for, list_no, listed_at, first_order_id, last_order_id,
	created_at, updated_at, ended_at, end_reason`

func scanSubscription(row pgx.CollectableRow) (billing.Subscription, error) {
	var s billing.Subscription
	var nextAttempt, listed, ended *time.Time
	err := row.Scan(&s.ID, &s.MSISDN, &s.Merchant, &s.Product, &s.ProductName, &s.Amount, &s.Method, &s.Status,
		&s.AnchorDay, &s.NextRenewal, &s.Failures, &s.Attempts, &nextAttempt, &s.RemindedFor, &s.ListNo, &listed,
		&s.FirstOrderID, &s.LastOrderID, &s.CreatedAt, &s.UpdatedAt, &ended, &s.EndReason)
	s.NextAttemptAt, s.ListedAt, s.EndedAt = deref(nextAttempt), deref(listed), deref(ended)
	return s, err
}

func deref(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}

func collectSubs(rows pgx.Rows, err error) ([]billing.Subscription, error) {
	if err != nil {
		return nil, mapErr(err)
	}
	out, err := pgx.CollectRows(rows, scanSubscription)
	return out, mapErr(err)
}

// DueSubscriptions implements billing.SubscriptionStore.
func (s *Store) DueSubscriptions(ctx context.Context, today string, now time.Time, limit int) ([]billing.Subscription, error) {
	return collectSubs(s.pool.Query(ctx, `SELECT `+subColumns+` FROM subscriptions
		WHERE status = 'active' AND next_renewal <= $1 AND (next_attempt_at IS NULL OR next_attempt_at <= $2)
		ORDER BY next_renewal, id LIMIT $3`, today, now, limit))
}

// DueReminders implements billing.SubscriptionStore.
func (s *Store) DueReminders(ctx context.Context, today, until string, limit int) ([]billing.Subscription, error) {
	return collectSubs(s.pool.Query(ctx, `SELECT `+subColumns+` FROM subscriptions
		WHERE status = 'active' AND next_renewal > $1 AND next_renewal <= $2 AND reminded_for <> next_renewal
		ORDER BY next_renewal, id LIMIT $3`, today, until, limit))
}

// SubscriptionsByMerchant implements billing.SubscriptionStore.
func (s *Store) SubscriptionsByMerchant(ctx context.Context, merchant, msisdn string, limit int) ([]billing.Subscription, error) {
	return collectSubs(s.pool.Query(ctx, `SELECT `+subColumns+` FROM subscriptions
		WHERE merchant = $1 AND ($2::text = '' OR msisdn = $2::text) ORDER BY id DESC LIMIT $3`, merchant, msisdn, limit))
}

// InsertSubscription implements billing.SubscriptionTx.
func (t *tx) InsertSubscription(ctx context.Context, s billing.Subscription) (int64, error) {
	rows, err := t.tx.Query(ctx, `INSERT INTO subscriptions (msisdn, merchant, product, product_name, amount_fen, method, status,
			anchor_day, next_renewal, first_order_id, last_order_id, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
		ON CONFLICT DO NOTHING RETURNING id`,
		s.MSISDN, s.Merchant, s.Product, s.ProductName, s.Amount, s.Method, s.Status, s.AnchorDay, s.NextRenewal,
		s.FirstOrderID, s.LastOrderID, s.CreatedAt, s.UpdatedAt)
	if err != nil {
		return 0, mapErr(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil || len(ids) == 0 {
		return 0, mapErr(err)
	}
	return ids[0], nil
}

// LockSubscription implements billing.SubscriptionTx.
func (t *tx) LockSubscription(ctx context.Context, id int64) (billing.Subscription, error) {
	rows, err := t.tx.Query(ctx, `SELECT `+subColumns+` FROM subscriptions WHERE id = $1 FOR UPDATE`, id)
	if err != nil {
		return billing.Subscription{}, mapErr(err)
	}
	s, err := pgx.CollectExactlyOneRow(rows, scanSubscription)
	return s, mapErr(err)
}

// SaveSubscription implements billing.SubscriptionTx.
func (t *tx) SaveSubscription(ctx context.Context, s billing.Subscription) error {
	return exec1(ctx, t.tx, `UPDATE subscriptions SET status = $2, next_renewal = $3, failures = $4, attempts = $5,
		next_attempt_at = $6, reminded_for = $7, list_no = $8, listed_at = $9, last_order_id = $10, updated_at = $11,
		ended_at = $12, end_reason = $13 WHERE id = $1`,
		s.ID, s.Status, s.NextRenewal, s.Failures, s.Attempts, nullTime(s.NextAttemptAt), s.RemindedFor, s.ListNo,
		nullTime(s.ListedAt), s.LastOrderID, s.UpdatedAt, nullTime(s.EndedAt), s.EndReason)
}

// ActiveSubscriptions implements billing.SubscriptionTx.
func (t *tx) ActiveSubscriptions(ctx context.Context, msisdn, merchant string) ([]billing.Subscription, error) {
	return collectSubs(t.tx.Query(ctx, `SELECT `+subColumns+` FROM subscriptions
		WHERE msisdn = $1 AND status = 'active' AND ($2::text = '' OR merchant = $2::text) ORDER BY id FOR UPDATE`, msisdn, merchant))
}
