package postgres

import "context"

// NotificationBacklog implements billing.NotifyStore (the operations
// metrics read it on every scrape: the partial index notifications_due).
func (s *Store) NotificationBacklog(ctx context.Context) (pending, failing int64, err error) {
	err = s.pool.QueryRow(ctx, `SELECT COUNT(*)::bigint, COUNT(*) FILTER (WHERE last_error IS NOT NULL)::bigint
		FROM notifications WHERE delivered_at IS NULL AND failed_at IS NULL`).Scan(&pending, &failing)
	return pending, failing, mapErr(err)
}
