package postgres_test

import (
	"context"
	"testing"

	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/billing/postgres"
	"github.com/carrierbill/carrierbill/billing/storetest"
	"github.com/carrierbill/carrierbill/internal/dbtest"
)

// TestNotifyConformance runs the merchant API rows' and notification
// outbox's conformance cases on PostgreSQL.
func TestNotifyConformance(t *testing.T) {
	t.Parallel()
	storetest.RunNotify(t, func(t *testing.T) billing.Store {
		t.Helper()
		pool := dbtest.Pool(t)
		if _, err := postgres.Migrate(context.Background(), pool); err != nil {
			t.Fatalf("Migrate: %v", err)
		}
		return postgres.NewStore(pool)
	})
}
