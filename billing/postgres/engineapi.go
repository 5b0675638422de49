package postgres

import (
	"context"
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

// LockCodeGuard implements billing.Tx.
func (t *tx) LockCodeGuard(ctx context.Context, msisdn string) (billing.CodeGuard, error) {
	if _, err := t.tx.Exec(ctx, sqlCreateCodeGuard, msisdn); err != nil {
		return billing.CodeGuard{}, mapErr(err)
	}
	var g billing.CodeGuard
	err := t.tx.QueryRow(ctx, sqlLockCodeGuard, msisdn).Scan(&g.MSISDN, &g.Hour, &g.HourCount, &g.Day, &g.DayCount, &g.Month, &g.MonthCount)
	return g, mapErr(err)
}

// SaveCodeGuard implements billing.Tx.
func (t *tx) SaveCodeGuard(ctx context.Context, g billing.CodeGuard) error {
	return exec1(ctx, t.tx, sqlSaveCodeGuard, g.MSISDN, g.Hour, g.HourCount, g.Day, g.DayCount, g.Month, g.MonthCount)
}
