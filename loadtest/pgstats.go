package loadtest

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// pgCounters are the server's cumulative counters the bench takes deltas of.
type pgCounters struct {
	XactCommit int64 // pg_stat_database.xact_commit of the bench's database
	WALSync    int64 // pg_stat_wal.wal_sync (the whole server)
	WALWrite   int64
	WALBytes   int64
}

func readPGCounters(ctx context.Context, pool *pgxpool.Pool) (pgCounters, error) {
	var c pgCounters
	err := pool.QueryRow(ctx, `SELECT (SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()),
		w.wal_sync, w.wal_write, w.wal_bytes::bigint FROM pg_stat_wal w`).Scan(&c.XactCommit, &c.WALSync, &c.WALWrite, &c.WALBytes)
	if err != nil {
		return c, fmt.Errorf("reading pg_stat_database and pg_stat_wal: %w", err)
	}
	return c, nil
}

// settledPGCounters reads the counters once the backends that ran the
// gateway's transactions have reported them (the statistics collector sees
// a backend's counts when it idles for a second or exits).
func settledPGCounters(ctx context.Context, pool *pgxpool.Pool) (pgCounters, error) {
	select {
	case <-ctx.Done():
		return pgCounters{}, ctx.Err()
	case <-time.After(1500 * time.Millisecond):
	}
	return readPGCounters(ctx, pool)
}

// freshDatabase creates a database of its own on the server of baseURL and
// returns its URL and a function that drops it.
func freshDatabase(ctx context.Context, baseURL, name string) (string, func(context.Context) error, error) {
	conn, err := pgx.Connect(ctx, baseURL)
	if err != nil {
		return "", nil, fmt.Errorf("connecting to %s: %w", redactURL(baseURL), err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", nil, fmt.Errorf("creating database %s: %w", name, err)
	}
	u, err := url.Parse(baseURL)
	if err != nil {
		return "", nil, fmt.Errorf("database url: %w", err)
	}
	u.Path = "/" + name
	drop := func(ctx context.Context) error {
		c, err := pgx.Connect(ctx, baseURL)
		if err != nil {
			return err
		}
		defer c.Close(ctx)
		_, err = c.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
		return err
	}
	return u.String(), drop, nil
}

// redactURL hides a password in a database URL.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxx")
	}
	return u.String()
}

func withSearchPath(dbURL, schema string) (string, error) {
	u, err := url.Parse(dbURL)
	if err != nil {
		return "", err
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

func dbName(dbURL string) string {
	u, err := url.Parse(dbURL)
	if err != nil {
		return ""
	}
	return strings.TrimPrefix(u.Path, "/")
}

func withoutParam(dbURL, name string) (string, error) {
	u, err := url.Parse(dbURL)
	if err != nil {
		return "", err
	}
	q := u.Query()
	q.Del(name)
	u.RawQuery = q.Encode()
	return u.String(), nil
}
