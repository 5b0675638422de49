package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

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
func (t *tx) OrderByKey(ctx context.Context, key string) (billing.Order, error) {
	return t.one(ctx, scanOrder, sqlOrderByKey, key)
}

// OrderByMerchantRef implements billing.Tx.
func (t *tx) OrderByMerchantRef(ctx context.Context, merchant, ref string) (billing.Order, error) {
	return t.one(ctx, scanOrder, sqlOrderByMerchantRef, merchant, ref)
}

// CountPendingOrders implements billing.Tx.
func (t *tx) CountPendingOrders(ctx context.Context, msisdn string, now time.Time) (int, error) {
	var n int
	err := t.tx.QueryRow(ctx, sqlCountPendingOrders, msisdn, now).Scan(&n)
	return n, mapErr(err)
}

// LockCodeGuard implements billing.Tx: one SELECT … FOR UPDATE; a number
// without a row (it never sent a wrong code) has zero counters, and
// nothing is written.
func (t *tx) LockCodeGuard(ctx context.Context, msisdn string) (billing.CodeGuard, error) {
	var g billing.CodeGuard
	err := t.tx.QueryRow(ctx, sqlLockCodeGuard, msisdn).Scan(&g.MSISDN, &g.Hour, &g.HourCount, &g.Day, &g.DayCount, &g.Month, &g.MonthCount)
	if errors.Is(err, pgx.ErrNoRows) {
		return billing.CodeGuard{MSISDN: msisdn}, nil
	}
	return g, mapErr(err)
}

// SaveCodeGuard implements billing.Tx: it updates the row, or creates it.
// When a concurrent transaction created it since LockCodeGuard found none,
// the counters read were stale: the transaction runs again (errLockBusy),
// and this time LockCodeGuard locks the row, so no wrong code goes
// uncounted.
func (t *tx) SaveCodeGuard(ctx context.Context, g billing.CodeGuard) error {
	args := []any{g.MSISDN, g.Hour, g.HourCount, g.Day, g.DayCount, g.Month, g.MonthCount}
	tag, err := t.tx.Exec(ctx, sqlSaveCodeGuard, args...)
	if err != nil || tag.RowsAffected() > 0 {
		return mapErr(err)
	}
	if tag, err = t.tx.Exec(ctx, sqlCreateCodeGuard, args...); err != nil {
		return mapErr(err)
	}
	if tag.RowsAffected() == 0 {
		return errLockBusy
	}
	return nil
}
