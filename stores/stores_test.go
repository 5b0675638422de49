package stores_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/internal/dbtest"
	"github.com/carrierbill/carrierbill/stores"
)

// use touches every store of s once, so that a store that is nil or opened
// on the wrong database fails here rather than in a command.
func use(t *testing.T, s *stores.Set) {
	t.Helper()
	ctx := context.Background()
	if err := s.Accounts.Open(ctx, billing.Subscriber{MSISDN: "+8613511112222", Plan: billing.Postpaid, CreditLimit: 10000}); err != nil {
		t.Fatalf("opening an account: %v", err)
	}
	if _, err := s.Accounts.Get(ctx, "+8613511112222"); err != nil {
		t.Fatalf("reading the account back: %v", err)
	}
	if err := s.Billing.InTx(ctx, func(tx billing.Tx) error {
		_, err := tx.GetOrder(ctx, 1)
		if errors.Is(err, billing.ErrNotFound) {
			return nil
		}
		return err
	}); err != nil {
		t.Fatalf("billing store: %v", err)
	}
	snap, err := s.Settlement.Snapshot(ctx)
	if err != nil {
		t.Fatalf("settlement snapshot: %v", err)
	}
	if err := snap.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Keys.ListKeys(ctx, "8001"); err != nil {
		t.Fatalf("merchant keys: %v", err)
	}
	if _, err := s.Cards.TokenForCharge(ctx, "no-such-key", "+8613511112222"); err == nil {
		t.Fatal("a card token for a charge that does not exist")
	}
	if s.Limiter != nil {
		d, err := s.Limiter.Allow(ctx, billing.Rule{Name: "test", Limit: 1, Period: time.Hour}, "k")
		if err != nil || !d.Allowed {
			t.Fatalf("limiter: %+v %v", d, err)
		}
	}
}

func TestEmbeddedCreatesDataDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "not", "yet")
	s, err := stores.Open(context.Background(), stores.Options{DataDir: dir, Limiter: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Embedded == nil || s.Pool != nil {
		t.Fatalf("want the embedded store, got %s", s.Description)
	}
	if s.LimiterDescription != "in-process Redis" {
		t.Errorf("limiter %q", s.LimiterDescription)
	}
	use(t, s)
	if _, err := os.Stat(filepath.Join(dir, stores.EmbeddedFile)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestEmbeddedMustExist(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "missing")
	_, err := stores.Open(context.Background(), stores.Options{DataDir: dir, MustExist: true})
	if !errors.Is(err, stores.ErrNoStore) {
		t.Fatalf("err = %v, want ErrNoStore", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("MustExist created the data directory")
	}
}

func TestPostgresAndRedis(t *testing.T) {
	url := dbtest.Postgres(t)
	_, prefix := dbtest.Redis(t)
	s, err := stores.Open(context.Background(), stores.Options{
		DatabaseURL: url, Limiter: true, RedisURL: dbtest.RedisURL(), RedisPrefix: prefix,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Pool == nil || s.Embedded != nil || s.Description != "PostgreSQL" || s.LimiterDescription != "Redis" {
		t.Fatalf("opened %s / %s", s.Description, s.LimiterDescription)
	}
	if len(s.Applied) == 0 {
		t.Error("a fresh schema was not migrated")
	}
	use(t, s)
}

func TestPostgresUnreachableClosesEverything(t *testing.T) {
	_, err := stores.Open(context.Background(), stores.Options{DatabaseURL: "postgres://nobody@127.0.0.1:1/none?connect_timeout=1", Limiter: true})
	if err == nil {
		t.Fatal("opened an unreachable database")
	}
}
