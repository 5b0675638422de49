package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Group commit. Every write transaction of the store runs on the single
// writer connection, one after the other. A durable commit costs an fsync
// of the WAL, which dominates a short transaction, so the write loop runs
// the transactions that are waiting together: one BEGIN IMMEDIATE, each
// caller's function inside its own SAVEPOINT (rolled back alone when it
// returns an error), one COMMIT and one fsync for the group. Every caller
// still gets the outcome of its own function, and nil only once the group's
// commit is durable; the functions see each other's writes exactly as if
// they had committed one after the other. If the group cannot commit, every
// function in it fails and nothing of it is stored.

// maxGroup bounds how many transactions share one commit.
const maxGroup = 64

var errClosed = errors.New("sqlite store is closed")

type writeReq struct {
	ctx      context.Context
	fn       func(*sql.Tx) error
	done     chan error
	panicked any
}

// write runs fn in a write transaction and returns nil once its effects
// are durably committed, fn's error unchanged when fn fails (its effects
// are rolled back), or the error that stopped the commit.
func (s *Store) write(ctx context.Context, fn func(*sql.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r := &writeReq{ctx: ctx, fn: fn, done: make(chan error, 1)}
	select {
	case s.reqs <- r:
	case <-s.quit:
		return errClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	// Once taken, fn runs or has run: wait for it whatever ctx says, since
	// fn writes to the caller's variables.
	err := <-r.done
	if r.panicked != nil {
		panic(r.panicked)
	}
	return err
}

func (s *Store) writeLoop() {
	defer close(s.loopDone)
	for {
		var group []*writeReq
		select {
		case r := <-s.reqs:
			group = append(group, r)
		case <-s.quit:
			return
		}
	more:
		for len(group) < maxGroup {
			select {
			case r := <-s.reqs:
				group = append(group, r)
			default:
				break more
			}
		}
		s.commitGroup(group)
	}
}

func (s *Store) commitGroup(group []*writeReq) {
	results := make([]error, len(group))
	failAll := func(err error) {
		for i, r := range group {
			if r.panicked == nil && results[i] == nil {
				results[i] = err
			}
			r.done <- results[i]
		}
	}
	// The group's own context is not any caller's: a caller whose context
	// ends sees its own statements fail and its function rolled back.
	tx, err := s.writer.BeginTx(context.Background(), nil)
	if err != nil {
		failAll(fmt.Errorf("beginning a write transaction: %w", err))
		return
	}
	ok := make([]bool, len(group))
	for i, r := range group {
		if err := r.ctx.Err(); err != nil {
			results[i] = err
			continue
		}
		if _, err := tx.Exec("SAVEPOINT w"); err != nil {
			_ = tx.Rollback()
			failAll(fmt.Errorf("opening a savepoint: %w", err))
			return
		}
		results[i] = call(r, tx)
		if results[i] != nil {
			if _, err := tx.Exec("ROLLBACK TO w"); err != nil {
				// SQLite rolled the whole transaction back (disk full,
				// I/O error): nothing of the group survives.
				_ = tx.Rollback()
				failAll(fmt.Errorf("rolling back to a savepoint after %v: %w", results[i], err))
				return
			}
		}
		if _, err := tx.Exec("RELEASE w"); err != nil {
			_ = tx.Rollback()
			failAll(fmt.Errorf("releasing a savepoint: %w", err))
			return
		}
		ok[i] = results[i] == nil
	}
	if err := tx.Commit(); err != nil {
		err = fmt.Errorf("committing: %w", err)
		for i := range group {
			if ok[i] {
				results[i] = err
			}
		}
	}
	for i, r := range group {
		r.done <- results[i]
	}
}

// call runs r.fn, turning a panic into an error for the group (the caller
// panics again with the same value).
func call(r *writeReq, tx *sql.Tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			r.panicked = p
			err = fmt.Errorf("panic in a write transaction: %v", p)
		}
	}()
	return r.fn(tx)
}

// Write runs fn in a write transaction through the group-commit writer, as
// the store's own writes do, for the packages that keep their SQL on this
// database apart from billing's (settlement/sqlite writes its job leases
// and download keys with it). fn must not write billing's tables: those
// change only through Tx.
func (s *Store) Write(ctx context.Context, fn func(*sql.Tx) error) error {
	return s.write(ctx, fn)
}

// Reader is the read-only connection pool, for the same packages' reads
// (settlement's snapshots). In WAL mode a read transaction sees the database
// as of its first read.
func (s *Store) Reader() *sql.DB { return s.reader }
