package privateserver

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestRedisStopStart(t *testing.T) {
	t.Parallel()
	srv := StartRedis(t)
	ctx := context.Background()
	c := goredis.NewClient(&goredis.Options{Addr: srv.Addr(), MaxRetries: -1, DialTimeout: time.Second})
	t.Cleanup(func() { c.Close() })

	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("SET on a fresh server: %v", err)
	}
	srv.Stop()
	if err := c.Ping(ctx).Err(); err == nil {
		t.Fatal("PING succeeded on a stopped server")
	}
	if _, err := net.DialTimeout("tcp", srv.Addr(), time.Second); err == nil {
		t.Fatal("dial succeeded on a stopped server")
	}
	srv.Start()
	if err := c.Ping(ctx).Err(); err != nil {
		// The pool may hand out one dead connection first.
		if err := c.Ping(ctx).Err(); err != nil {
			t.Fatalf("PING after restart: %v", err)
		}
	}
	if n := c.Exists(ctx, "k").Val(); n != 0 {
		t.Fatalf("key survived a restart of a server that saves nothing")
	}
	srv.Stop()
	srv.Stop() // idempotent
}

func TestRedisExtraArgsMakeAReadOnlyReplica(t *testing.T) {
	t.Parallel()
	primary := StartRedis(t)
	replica := StartRedis(t, "--replicaof", "127.0.0.1", strconv.Itoa(primary.Port()))
	c := goredis.NewClient(&goredis.Options{Addr: replica.Addr()})
	t.Cleanup(func() { c.Close() })
	err := c.Set(context.Background(), "k", "v", 0).Err()
	if err == nil || !goredis.HasErrorPrefix(err, "READONLY") {
		t.Fatalf("SET on a replica: got %v, want READONLY", err)
	}
}

func TestPostgresCrashAndRecover(t *testing.T) {
	t.Parallel()
	pg := StartPostgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	conn, err := pgx.Connect(ctx, pg.URL())
	if err != nil {
		t.Fatalf("connecting to the private cluster: %v", err)
	}
	if _, err := conn.Exec(ctx, "CREATE TABLE kept (x int); INSERT INTO kept VALUES (42)"); err != nil {
		t.Fatalf("writing: %v", err)
	}
	pg.Stop()
	if _, err := conn.Exec(ctx, "SELECT 1"); err == nil {
		t.Fatal("query succeeded on a stopped server")
	}
	conn.Close(ctx)
	if _, err := pgx.Connect(ctx, pg.URL()); err == nil {
		t.Fatal("connect succeeded on a stopped server")
	}
	pg.Start()
	conn, err = pgx.Connect(ctx, pg.URL())
	if err != nil {
		t.Fatalf("connecting after restart: %v", err)
	}
	defer conn.Close(ctx)
	var x int
	if err := conn.QueryRow(ctx, "SELECT x FROM kept").Scan(&x); err != nil || x != 42 {
		t.Fatalf("after crash recovery: x=%d, err=%v; want 42", x, err)
	}
}
