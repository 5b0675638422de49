package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/carrierbill/carrierbill/billing"
)

// The Tx methods of the typed engine API and the code guard.

func channelOf(c billing.Channel) string {
	if c == "" {
		return string(billing.ChannelSMS)
	}
	return string(c)
}

// OrderByKey implements billing.Tx.
func (t *txImpl) OrderByKey(ctx context.Context, key string) (billing.Order, error) {
	o, err := scanOrder(t.tx.QueryRowContext(ctx, `SELECT `+orderCols+` FROM orders WHERE idempotency_key = ?`, key))
	if err != nil {
		return billing.Order{}, fmt.Errorf("finding the order of a key: %w", domainError(err))
	}
	return o, nil
}

// OrderByMerchantRef implements billing.Tx.
func (t *txImpl) OrderByMerchantRef(ctx context.Context, merchant, ref string) (billing.Order, error) {
	o, err := scanOrder(t.tx.QueryRowContext(ctx, `SELECT `+orderCols+` FROM orders WHERE merchant = ? AND merchant_ref = ?
		ORDER BY id DESC LIMIT 1`, merchant, ref))
	if err != nil {
		return billing.Order{}, fmt.Errorf("finding the order of a merchant reference: %w", domainError(err))
	}
	return o, nil
}

// CountPendingOrders implements billing.Tx.
func (t *txImpl) CountPendingOrders(ctx context.Context, msisdn string, now time.Time) (int, error) {
	var n int
	err := t.tx.QueryRowContext(ctx, `SELECT count(*) FROM orders WHERE msisdn = ? AND status = 'pending' AND expires_at > ?`,
		msisdn, ts(now)).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("counting pending orders: %w", domainError(err))
	}
	return n, nil
}

// LockCodeGuard implements billing.Tx (the one writer holds it).
func (t *txImpl) LockCodeGuard(ctx context.Context, msisdn string) (billing.CodeGuard, error) {
	var g billing.CodeGuard
	err := t.tx.QueryRowContext(ctx, `SELECT msisdn, hour, hour_count, day, day_count, month, month_count FROM code_guard
		WHERE msisdn = ?`, msisdn).Scan(&g.MSISDN, &g.Hour, &g.HourCount, &g.Day, &g.DayCount, &g.Month, &g.MonthCount)
	if errors.Is(err, sql.ErrNoRows) { // never a wrong code: zero counters, nothing written
		return billing.CodeGuard{MSISDN: msisdn}, nil
	}
	if err != nil {
		return billing.CodeGuard{}, fmt.Errorf("reading the code guard: %w", domainError(err))
	}
	return g, nil
}

// SaveCodeGuard implements billing.Tx.
func (t *txImpl) SaveCodeGuard(ctx context.Context, g billing.CodeGuard) error {
	// The single writer: nobody created the row since LockCodeGuard looked.
	_, err := t.tx.ExecContext(ctx, `INSERT INTO code_guard (msisdn, hour, hour_count, day, day_count, month, month_count)
		VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (msisdn) DO UPDATE SET hour = excluded.hour, hour_count = excluded.hour_count, day = excluded.day,
			day_count = excluded.day_count, month = excluded.month, month_count = excluded.month_count`,
		g.MSISDN, g.Hour, g.HourCount, g.Day, g.DayCount, g.Month, g.MonthCount)
	if err != nil {
		return fmt.Errorf("saving the code guard: %w", domainError(err))
	}
	return nil
}
