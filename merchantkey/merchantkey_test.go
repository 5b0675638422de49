package merchantkey_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/carrierbill/carrierbill/billing/postgres"
	"github.com/carrierbill/carrierbill/billing/sqlite"
	"github.com/carrierbill/carrierbill/internal/dbtest"
	"github.com/carrierbill/carrierbill/merchantkey"
)

// The same cases on both databases: issue, look up, rotate, revoke, list.
func TestKeyStores(t *testing.T) {
	t.Parallel()
	open := map[string]func(t *testing.T) merchantkey.Store{
		"postgres": func(t *testing.T) merchantkey.Store {
			pool := dbtest.Pool(t)
			if _, err := postgres.Migrate(context.Background(), pool); err != nil {
				t.Fatal(err)
			}
			return merchantkey.NewPostgres(pool)
		},
		"sqlite": func(t *testing.T) merchantkey.Store {
			st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "cb.db"), nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return merchantkey.NewSQLite(st)
		},
	}
	for name, o := range open {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			testKeys(t, o(t))
		})
	}
}

func testKeys(t *testing.T, s merchantkey.Store) {
	ctx := context.Background()
	now := time.Date(2026, 3, 11, 0, 0, 0, 0, time.UTC)
	issue := func(m string) (string, int64) {
		key, hash, hint, err := merchantkey.NewKey()
		if err != nil || !strings.HasPrefix(key, "cbk_") || !strings.HasPrefix(key, hint) || len(key) < 40 {
			t.Fatalf("NewKey: %q %q %v", key, hint, err)
		}
		id, err := s.IssueKey(ctx, m, hash, hint, now)
		if err != nil {
			t.Fatal(err)
		}
		return key, id
	}
	k1, id1 := issue("8001")
	k2, _ := issue("8001")
	k3, _ := issue("8002")
	for k, want := range map[string]string{k1: "8001", k2: "8001", k3: "8002"} {
		if m, err := s.MerchantForKey(ctx, merchantkey.HashKey(k)); err != nil || m != want {
			t.Fatalf("MerchantForKey = %q, %v; want %s", m, err, want)
		}
	}
	if _, err := s.MerchantForKey(ctx, merchantkey.HashKey("cbk_nope")); !errors.Is(err, merchantkey.ErrUnknownKey) {
		t.Fatalf("unknown key: %v", err)
	}
	if ok, err := s.RevokeKey(ctx, id1, now); !ok || err != nil {
		t.Fatalf("RevokeKey = %v, %v", ok, err)
	}
	if ok, err := s.RevokeKey(ctx, id1, now); ok || err != nil {
		t.Fatalf("second RevokeKey = %v, %v", ok, err)
	}
	if _, err := s.MerchantForKey(ctx, merchantkey.HashKey(k1)); !errors.Is(err, merchantkey.ErrUnknownKey) {
		t.Fatalf("revoked key: %v", err)
	}
	// Rotation: a new key, every other live key of the merchant revoked,
	// other merchants untouched.
	k4, hash4, hint4, _ := merchantkey.NewKey()
	id4, revoked, err := s.RotateKey(ctx, "8001", hash4, hint4, now.Add(time.Hour))
	if err != nil || revoked != 1 || id4 == 0 {
		t.Fatalf("RotateKey = %d, %d, %v", id4, revoked, err)
	}
	if _, err := s.MerchantForKey(ctx, merchantkey.HashKey(k2)); !errors.Is(err, merchantkey.ErrUnknownKey) {
		t.Fatalf("the rotated-out key still works: %v", err)
	}
	for k, want := range map[string]string{k4: "8001", k3: "8002"} {
		if m, err := s.MerchantForKey(ctx, merchantkey.HashKey(k)); err != nil || m != want {
			t.Fatalf("after rotation MerchantForKey = %q, %v; want %s", m, err, want)
		}
	}
	keys, err := s.ListKeys(ctx, "8001")
	if err != nil || len(keys) != 3 || keys[0].RevokedAt == nil || keys[2].RevokedAt != nil || !keys[0].CreatedAt.Equal(now) {
		t.Fatalf("ListKeys = %+v, %v", keys, err)
	}
	if all, _ := s.ListKeys(ctx, ""); len(all) != 4 {
		t.Fatalf("all keys: %d", len(all))
	}
}
