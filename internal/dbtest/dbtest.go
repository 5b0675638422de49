// Package dbtest gives tests a real PostgreSQL database and a real Redis.
//
// Tests never mock the database. Each call to Postgres creates a fresh schema
// on the server named by CARRIERBILL_TEST_DATABASE_URL (default: the local
// `test` database) and drops it when the test ends, so tests run in parallel
// without seeing each other. Redis hands out a client and a key prefix unique
// to the test.
//
// When a server is unreachable the test is skipped with a visible message,
// except under CI=true, where it fails: CI must never pass by skipping.
// This package is for tests only and must never be imported by production code.
package dbtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	goredis "github.com/redis/go-redis/v9"
)

// DefaultPostgresURL is used when CARRIERBILL_TEST_DATABASE_URL is not set.
const DefaultPostgresURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// DefaultRedisURL is used when CARRIERBILL_TEST_REDIS_URL is not set.
const DefaultRedisURL = "redis://127.0.0.1:6379/0"

// PostgresURL returns the server URL tests use.
func PostgresURL() string {
	if u := os.Getenv("CARRIERBILL_TEST_DATABASE_URL"); u != "" {
		return u
	}
	return DefaultPostgresURL
}

// Unavailable skips the test, or fails it under CI=true.
func Unavailable(t testing.TB, what string, err error) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is required in CI and is not reachable: %v", what, err)
	}
	t.Skipf("SKIP: %s not reachable (%v); set CI=true to make this a failure", what, err)
}

// Postgres returns the connection string of a fresh, empty schema (set as the
// connection's search_path) and drops the schema when the test ends. The
// caller runs its own migrations into it.
func Postgres(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	base := PostgresURL()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		Unavailable(t, "PostgreSQL", err)
	}
	defer conn.Close(ctx)
	schema := "t_" + randomHex(8)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("creating test schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, base)
		if err != nil {
			return
		}
		defer c.Close(ctx)
		_, _ = c.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE")
	})
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	return base + sep + "search_path=" + schema
}

// Pool opens a pgx pool on a fresh schema (see Postgres) and closes it when
// the test ends.
func Pool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), Postgres(t))
	if err != nil {
		t.Fatalf("opening pool: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// Redis returns a client on the test Redis and a key prefix unique to this
// test. Keys under the prefix are deleted when the test ends.
func Redis(t testing.TB) (*goredis.Client, string) {
	t.Helper()
	u := os.Getenv("CARRIERBILL_TEST_REDIS_URL")
	if u == "" {
		u = DefaultRedisURL
	}
	opt, err := goredis.ParseURL(u)
	if err != nil {
		t.Fatalf("parsing %s: %v", u, err)
	}
	c := goredis.NewClient(opt)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		c.Close()
		Unavailable(t, "Redis", err)
	}
	prefix := "test:" + randomHex(8) + ":"
	t.Cleanup(func() {
		ctx := context.Background()
		for _, pattern := range []string{prefix + "*", "rate:" + prefix + "*"} { // redis_rate puts "rate:" first
			iter := c.Scan(ctx, 0, pattern, 1000).Iterator()
			for iter.Next(ctx) {
				c.Del(ctx, iter.Val())
			}
		}
		c.Close()
	})
	return c, prefix
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err))
	}
	return hex.EncodeToString(b)
}

// RedisURL returns the test Redis URL (CARRIERBILL_TEST_REDIS_URL or the
// default). Call Redis first so the test skips or fails when it is absent.
func RedisURL() string {
	if u := os.Getenv("CARRIERBILL_TEST_REDIS_URL"); u != "" {
		return u
	}
	return DefaultRedisURL
}
