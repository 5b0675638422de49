package dbtest

import (
	"context"
	"testing"
)

func TestPostgresSchemaIsIsolated(t *testing.T) {
	t.Parallel()
	pool := Pool(t)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, "CREATE TABLE probe (x int)"); err != nil {
		t.Fatalf("creating table in test schema: %v", err)
	}
	var schema string
	if err := pool.QueryRow(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
		t.Fatal(err)
	}
	if len(schema) < 3 || schema[:2] != "t_" {
		t.Fatalf("current_schema = %q, want a per-test schema", schema)
	}
}

func TestRedisPrefix(t *testing.T) {
	t.Parallel()
	c, prefix := Redis(t)
	ctx := context.Background()
	if err := c.Set(ctx, prefix+"k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if got := c.Get(ctx, prefix+"k").Val(); got != "v" {
		t.Fatalf("got %q", got)
	}
}
