package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/carrierbill/carrierbill/billing"
)

// Subscriptions (billing/subscription.go; migration 0039).

const subCols = `id, msisdn, merchant, product, product_name, amount_fen, method, status, anchor_day, next_renewal,
	failures, attempts, next_attempt_at, reminded_for, list_no, listed_at, first_order_id, last_order_id,
	created_at, updated_at, ended_at, end_reason`

func scanSubscription(r interface{ Scan(...any) error }) (billing.Subscription, error) {
	var s billing.Subscription
	var nextAttempt, listed, ended sql.NullInt64
	var created, updated int64
	err := r.Scan(&s.ID, &s.MSISDN, &s.Merchant, &s.Product, &s.ProductName, &s.Amount, &s.Method, &s.Status,
		&s.AnchorDay, &s.NextRenewal, &s.Failures, &s.Attempts, &nextAttempt, &s.RemindedFor, &s.ListNo, &listed,
		&s.FirstOrderID, &s.LastOrderID, &created, &updated, &ended, &s.EndReason)
	s.NextAttemptAt, s.ListedAt, s.EndedAt = fromNullTS(nextAttempt), fromNullTS(listed), fromNullTS(ended)
	s.CreatedAt, s.UpdatedAt = fromTS(created), fromTS(updated)
	return s, err
}

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func querySubs(ctx context.Context, db querier, query string, args ...any) ([]billing.Subscription, error) {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("reading subscriptions: %w", domainError(err))
	}
	defer rows.Close()
	var out []billing.Subscription
	for rows.Next() {
		s, err := scanSubscription(rows)
		if err != nil {
			return nil, fmt.Errorf("reading a subscription: %w", err)
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// DueSubscriptions implements billing.SubscriptionStore.
func (s *Store) DueSubscriptions(ctx context.Context, today string, now time.Time, limit int) ([]billing.Subscription, error) {
	return querySubs(ctx, s.reader, `SELECT `+subCols+` FROM subscriptions
		WHERE status = 'active' AND next_renewal <= ? AND (next_attempt_at IS NULL OR next_attempt_at <= ?)
		ORDER BY next_renewal, id LIMIT ?`, today, ts(now), limit)
}

// DueReminders implements billing.SubscriptionStore.
func (s *Store) DueReminders(ctx context.Context, today, until string, limit int) ([]billing.Subscription, error) {
	return querySubs(ctx, s.reader, `SELECT `+subCols+` FROM subscriptions
		WHERE status = 'active' AND next_renewal > ? AND next_renewal <= ? AND reminded_for <> next_renewal
		ORDER BY next_renewal, id LIMIT ?`, today, until, limit)
}

// SubscriptionsByMerchant implements billing.SubscriptionStore.
func (s *Store) SubscriptionsByMerchant(ctx context.Context, merchant, msisdn string, limit int) ([]billing.Subscription, error) {
	return querySubs(ctx, s.reader, `SELECT `+subCols+` FROM subscriptions
		WHERE merchant = ? AND (? = '' OR msisdn = ?) ORDER BY id DESC LIMIT ?`, merchant, msisdn, msisdn, limit)
}

// InsertSubscription implements billing.SubscriptionTx.
func (t *txImpl) InsertSubscription(ctx context.Context, s billing.Subscription) (int64, error) {
	var id int64
	err := t.tx.QueryRowContext(ctx, `INSERT INTO subscriptions (msisdn, merchant, product, product_name, amount_fen, method, status,
			anchor_day, next_renewal, first_order_id, last_order_id, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT DO NOTHING RETURNING id`,
		s.MSISDN, s.Merchant, s.Product, s.ProductName, s.Amount, s.Method, s.Status, s.AnchorDay, s.NextRenewal,
		s.FirstOrderID, s.LastOrderID, ts(s.CreatedAt), ts(s.UpdatedAt)).Scan(&id)
	if err == sql.ErrNoRows {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("inserting a subscription: %w", domainError(err))
	}
	return id, nil
}

// LockSubscription implements billing.SubscriptionTx (the one writer holds it).
func (t *txImpl) LockSubscription(ctx context.Context, id int64) (billing.Subscription, error) {
	s, err := scanSubscription(t.tx.QueryRowContext(ctx, `SELECT `+subCols+` FROM subscriptions WHERE id = ?`, id))
	if err != nil {
		return billing.Subscription{}, domainError(err)
	}
	return s, nil
}

// SaveSubscription implements billing.SubscriptionTx.
func (t *txImpl) SaveSubscription(ctx context.Context, s billing.Subscription) error {
	err := execOne(ctx, t.tx, `UPDATE subscriptions SET status = ?, next_renewal = ?, failures = ?, attempts = ?,
		next_attempt_at = ?, reminded_for = ?, list_no = ?, listed_at = ?, last_order_id = ?, updated_at = ?,
		ended_at = ?, end_reason = ? WHERE id = ?`,
		s.Status, s.NextRenewal, s.Failures, s.Attempts, nullTS(s.NextAttemptAt), s.RemindedFor, s.ListNo,
		nullTS(s.ListedAt), s.LastOrderID, ts(s.UpdatedAt), nullTS(s.EndedAt), s.EndReason, s.ID)
	if err != nil {
		return fmt.Errorf("saving subscription %d: %w", s.ID, err)
	}
	return nil
}

// ActiveSubscriptions implements billing.SubscriptionTx.
func (t *txImpl) ActiveSubscriptions(ctx context.Context, msisdn, merchant string) ([]billing.Subscription, error) {
	return querySubs(ctx, t.tx, `SELECT `+subCols+` FROM subscriptions
		WHERE msisdn = ? AND status = 'active' AND (? = '' OR merchant = ?) ORDER BY id`, msisdn, merchant, merchant)
}
