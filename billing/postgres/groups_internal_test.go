package postgres

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/carrierbill/carrierbill/internal/dbtest"
)

// TestGroupsLeaveConnections: the groups take at most half and three
// eighths of the pool, so that MO intake and the claims find a connection,
// and never more than the fixed caps on a large pool.
func TestGroupsLeaveConnections(t *testing.T) {
	for _, c := range []struct {
		pool             int32
		engine, delivery int
	}{{1, 1, 1}, {4, 2, 1}, {8, 4, 3}, {12, 6, 4}, {16, 8, 6}, {32, 8, 6}, {100, 8, 6}} {
		if e, d := groupsFor(c.pool); e != c.engine || d != c.delivery {
			t.Errorf("pool %d: %d engine and %d delivery groups, want %d and %d", c.pool, e, d, c.engine, c.delivery)
		}
	}
}

// TestGroupsNeverDeadlock: two groups run at once, [lock X, lock Y] and
// [lock Y, lock X], and each first function has its row before either
// second one starts. Waiting for each other's rows would be a deadlock that
// PostgreSQL breaks only after deadlock_timeout, one function at a time
// (with many such functions a group outlived groupTimeout: CI, issue 11);
// the second functions instead give up their waits at laterLockWait, are
// marked to run again, and no function ever sees a deadlock.
func TestGroupsNeverDeadlock(t *testing.T) {
	ctx := context.Background()
	pool := dbtest.Pool(t)
	if _, err := pool.Exec(ctx, `CREATE TABLE rows_ (k text PRIMARY KEY); INSERT INTO rows_ VALUES ('x'), ('y')`); err != nil {
		t.Fatal(err)
	}
	g := newGrouper(pool, 2)
	var locked sync.WaitGroup
	locked.Add(2)
	lock := func(k string, first bool) *groupReq {
		return &groupReq{ctx: ctx, done: make(chan struct{}), fn: func(tx pgx.Tx) error {
			var got string
			err := tx.QueryRow(ctx, `SELECT k FROM rows_ WHERE k = $1 FOR UPDATE`, k).Scan(&got)
			if first {
				locked.Done()
				locked.Wait()
			}
			return err
		}}
	}
	groups := [][]*groupReq{{lock("x", true), lock("y", false)}, {lock("y", true), lock("x", false)}}
	var wg sync.WaitGroup
	for _, group := range groups {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g.run(group)
		}()
	}
	wg.Wait()
	timedOut := 0
	for i, group := range groups {
		if group[0].err != nil {
			t.Errorf("group %d: the first function failed: %v", i, group[0].err)
		}
		var pe *pgconn.PgError
		switch err := group[1].err; {
		case err == nil:
		case errors.As(err, &pe) && pe.Code == "55P03" && group[1].retry:
			timedOut++
		default:
			t.Errorf("group %d: the second function failed with %v (retry %v), want a lock timeout to run again", i, err, group[1].retry)
		}
	}
	if timedOut == 0 {
		t.Error("neither second function waited past laterLockWait: the test did not make the groups cross")
	}
}
