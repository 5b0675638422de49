package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
)

// The writer's statement cache keeps single statements and runs them again
// with new arguments; a statement whose rows are open runs uncached beside
// them; a script is never kept.
func TestStatementCache(t *testing.T) {
	ctx := context.Background()
	db, err := sql.Open(cachedDriverName, "file:"+filepath.Join(t.TempDir(), "c.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, "CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT); CREATE TABLE u (x INTEGER);"); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if _, err := db.ExecContext(ctx, "INSERT INTO t (k, v) VALUES (?, ?)", i, string(rune('a'+i))); err != nil {
			t.Fatal(err)
		}
	}
	const sel = "SELECT v FROM t WHERE k >= ? ORDER BY k"
	tx, err := db.BeginTx(ctx, nil) // one connection for the nested query, as the store's writes
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback() //nolint:errcheck
	outer, err := tx.QueryContext(ctx, sel, 3)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for outer.Next() {
		var v string
		if err := outer.Scan(&v); err != nil {
			t.Fatal(err)
		}
		// The same text while its cached statement is busy with outer.
		var first string
		if err := tx.QueryRowContext(ctx, sel, 0).Scan(&first); err != nil || first != "a" {
			t.Fatalf("the same query nested: %q, %v", first, err)
		}
		got = append(got, v)
	}
	if err := outer.Close(); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] != "d" || got[1] != "e" {
		t.Fatalf("rows %v, want [d e]", got)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	// Again, cached, with other arguments.
	var v string
	if err := db.QueryRowContext(ctx, sel, 1).Scan(&v); err != nil || v != "b" {
		t.Fatalf("cached query again: %q, %v", v, err)
	}
	var cached int
	if err := withCachedConn(ctx, db, func(c *cachedConn) {
		cached = len(c.stmts)
		for q := range c.stmts {
			if !single(q) {
				t.Errorf("a script was kept: %q", q)
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	if cached < 2 {
		t.Fatalf("%d statements kept, want the insert and the select at least", cached)
	}
	// A failing statement reports its error through the cache too.
	if _, err := db.ExecContext(ctx, "INSERT INTO t (k, v) VALUES (?, ?)", 1, "dup"); err == nil {
		t.Fatal("a duplicate key was inserted")
	}
}

func withCachedConn(ctx context.Context, db *sql.DB, fn func(*cachedConn)) error {
	c, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	return c.Raw(func(dc any) error {
		fn(dc.(*cachedConn))
		return nil
	})
}
