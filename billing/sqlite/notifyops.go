package sqlite

import (
	"context"
	"fmt"
)

// NotificationBacklog implements billing.NotifyStore (the operations
// metrics read it on every scrape: the partial index notifications_due).
func (s *Store) NotificationBacklog(ctx context.Context) (pending, failing int64, err error) {
	err = s.reader.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(last_error IS NOT NULL), 0)
		FROM notifications WHERE delivered_at IS NULL AND failed_at IS NULL`).Scan(&pending, &failing)
	if err != nil {
		return 0, 0, fmt.Errorf("counting the notification backlog: %w", err)
	}
	return pending, failing, nil
}
