package postgres_test

import (
	"context"
	"testing"

	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/billing/postgres"
	"github.com/carrierbill/carrierbill/billing/storetest"
	"github.com/carrierbill/carrierbill/internal/dbtest"
)

// TestRisk runs the conformance suite's risk storage cases
// (storetest.RunRisk) on PostgreSQL.
func TestRisk(t *testing.T) {
	t.Parallel()
	storetest.RunRisk(t, openRiskStore)
}

// TestRiskEngine runs the engine's risk cases (storetest.RunRiskEngine:
// lists, fresh codes, holds, blocks, fail closed) on PostgreSQL.
func TestRiskEngine(t *testing.T) {
	t.Parallel()
	storetest.RunRiskEngine(t, openRiskStore)
}

func openRiskStore(t *testing.T) billing.Store {
	t.Helper()
	pool := dbtest.Pool(t)
	if _, err := postgres.Migrate(context.Background(), pool); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return postgres.NewStore(pool)
}
