package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/billing/postgres"
	"github.com/carrierbill/carrierbill/billing/storetest"
	"github.com/carrierbill/carrierbill/clock"
	"github.com/carrierbill/carrierbill/internal/dbtest"
)

// TestAccountsConformance runs the phone-account charger's suite on
// PostgreSQL; a second process is a second pool on the same schema.
func TestAccountsConformance(t *testing.T) {
	t.Parallel()
	storetest.RunAccounts(t, func(t *testing.T, opt billing.AccountsOptions) (*billing.Accounts, func(billing.AccountsOptions) *billing.Accounts) {
		url := dbtest.Postgres(t)
		clk := clock.NewFake(time.Date(2026, 3, 10, 4, 0, 0, 0, time.UTC))
		first := accountsPool(t, url)
		if _, err := postgres.Migrate(context.Background(), first); err != nil {
			t.Fatalf("Migrate: %v", err)
		}
		reopen := func(opt billing.AccountsOptions) *billing.Accounts {
			return postgres.NewAccounts(accountsPool(t, url), clk, opt)
		}
		return postgres.NewAccounts(first, clk, opt), reopen
	})
}

// accountsPool opens a pool on url with every connection already open, so
// that racing calls do meet.
func accountsPool(t *testing.T, url string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatalf("opening pool: %v", err)
	}
	t.Cleanup(pool.Close)
	var conns []*pgxpool.Conn
	for range pool.Config().MaxConns {
		c, err := pool.Acquire(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	for _, c := range conns {
		c.Release()
	}
	return pool
}
