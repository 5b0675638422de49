package postgres

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/carrierbill/carrierbill/billing"
)

// Group commit (DESIGN.md §6, issue 11). A durable commit costs a WAL
// flush, which dominates a short transaction, so the write transactions
// of this package that arrive together share one: a group runs one BEGIN,
// each caller's function inside its own SAVEPOINT (rolled back alone when
// it fails), and one COMMIT. Every caller still gets the outcome of its
// own function, and nil only once the group's commit is durable; the
// functions see each other's writes exactly as if they had committed one
// after the other. When the group cannot commit, every function in it
// fails and nothing of it is stored.
//
// Groups form by themselves: nothing waits for a group to fill. A caller
// that finds fewer than maxRunning groups running leads one, taking every
// transaction queued at that moment (at most maxGroup); under light load a
// group holds one transaction and costs what a plain transaction costs.
// There is no background goroutine: a leader hands the queue on to a new
// leader when it finishes, and the last one stops when the queue is empty.
//
// A function that hits a serialization failure or a deadlock is rolled back
// to its savepoint and runs again in a later group, like retryTx.
//
// Only a group that holds no other function's locks waits for a lock
// without bound. Once one function of a group has kept its writes, the
// group holds that function's row locks until its commit, and a later
// function that waited for a row another group holds could close a cycle
// with that group, waiting the same way for one of ours: PostgreSQL finds
// such a deadlock only after deadlock_timeout (1 s by default), and a
// group of many functions on a few hot numbers met one after another,
// outlived groupTimeout and failed whole. So the later functions of a
// group wait at most laterLockWait for a lock (lock_timeout, set for the
// rest of the transaction when the first function is kept); one that
// times out is rolled back to its savepoint and runs again at the head of
// the queue, the first function of the next group, which may wait.
//
// Statements of a group run on the group's own context, never a caller's:
// with pgx a cancelled statement breaks the connection, which would fail
// the whole group for one impatient caller. A caller whose context has
// ended before its function starts gets its context's error; once started,
// its function runs to the end and the caller waits for the commit (the
// function writes to the caller's variables).

// maxGroup bounds how many transactions share one commit. PostgreSQL
// keeps the ids of a transaction's subtransactions in a cache of 64 per
// backend until it ends; past that every snapshot of the server gets
// slower, so a group stays below it.
const maxGroup = 48

// maxLockBusyAttempts bounds the retries of a grouped transaction that
// found a lock it tries (never waits for) taken.
const maxLockBusyAttempts = 50

// laterLockWait bounds the lock waits of a group's functions after the
// first one kept: about what a busy group takes to commit.
const laterLockWait = "20ms"

// groupTimeout bounds one group's transaction.
const groupTimeout = 30 * time.Second

// grouper runs transactions on pool in groups; the zero value is not
// usable (newGrouper).
type grouper struct {
	pool       *pgxpool.Pool
	maxRunning int

	mu      sync.Mutex
	queue   []*groupReq
	running int
}

type groupReq struct {
	ctx      context.Context
	fn       func(pgx.Tx) error
	err      error
	retry    bool // fn hit a serialization failure or deadlock: run it again
	panicked any
	done     chan struct{}
}

// newGrouper returns a grouper on pool that runs at most maxRunning groups
// at once (each holds one connection while it runs).
func newGrouper(pool *pgxpool.Pool, maxRunning int) *grouper {
	return &grouper{pool: pool, maxRunning: max(maxRunning, 1)}
}

// errNotRun marks a request dropped before its function ran.
var errNotRun = errors.New("not run")

// inTx runs fn in a grouped transaction: nil once its effects are durably
// committed, fn's error unchanged when fn failed (its effects rolled back),
// the error that stopped the group otherwise; billing.ErrConflict after
// maxTxAttempts serialization failures or deadlocks.
func (g *grouper) inTx(ctx context.Context, fn func(pgx.Tx) error) error {
	var err error
	attempts := maxTxAttempts
	front := false
	for attempt := 1; attempt <= attempts; attempt++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		r := &groupReq{ctx: ctx, fn: fn, done: make(chan struct{})}
		g.submit(r, front)
		front = false
		<-r.done
		if r.panicked != nil {
			panic(r.panicked)
		}
		if !r.retry {
			return r.err
		}
		err = r.err
		if errors.Is(err, errLockBusy) {
			// Not a conflict: the holder commits with its group soon.
			attempts = maxLockBusyAttempts
		}
		if lockTimedOut(err) {
			// Waited past laterLockWait behind another group: first of
			// the next group, where it may wait as long as it takes.
			attempts = maxLockBusyAttempts
			front = true
			continue
		}
		t := time.NewTimer(time.Duration(rand.Int64N(int64(attempt) * int64(2*time.Millisecond))))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
	return fmt.Errorf("%w: %v", billing.ErrConflict, err)
}

// submit queues r, at the head of the queue when front, and leads a group
// when fewer than maxRunning run.
func (g *grouper) submit(r *groupReq, front bool) {
	g.mu.Lock()
	if front {
		g.queue = append(g.queue, nil)
		copy(g.queue[1:], g.queue)
		g.queue[0] = r
	} else {
		g.queue = append(g.queue, r)
	}
	lead := g.running < g.maxRunning
	if lead {
		g.running++
	}
	g.mu.Unlock()
	if lead {
		g.lead()
	}
}

// lead runs one group, then hands the rest of the queue to a new leader
// (so its own caller returns as soon as its group committed).
func (g *grouper) lead() {
	g.mu.Lock()
	n := min(len(g.queue), maxGroup)
	group := make([]*groupReq, n)
	copy(group, g.queue)
	g.queue = append(g.queue[:0], g.queue[n:]...)
	g.mu.Unlock()
	if n > 0 {
		g.run(group)
	}
	g.mu.Lock()
	if len(g.queue) > 0 {
		g.mu.Unlock()
		go g.lead()
		return
	}
	g.running--
	g.mu.Unlock()
}

// run runs one group and answers each of its callers.
func (g *grouper) run(group []*groupReq) {
	defer func() {
		for _, r := range group {
			close(r.done)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), groupTimeout)
	defer cancel()
	failAll := func(err error) {
		for _, r := range group {
			if r.err == nil || r.err == errNotRun {
				r.err = err
				r.retry = retryable(err)
			}
		}
	}
	live := group[:0:0]
	for _, r := range group {
		if err := r.ctx.Err(); err != nil {
			r.err = err
			continue
		}
		r.err = errNotRun
		live = append(live, r)
	}
	if len(live) == 0 {
		return
	}
	tx, err := g.pool.Begin(ctx)
	if err != nil {
		failAll(fmt.Errorf("beginning a transaction: %w", err))
		return
	}
	defer tx.Rollback(context.Background()) //nolint:errcheck // no-op after Commit
	ctxTx := &groupTx{Tx: tx, ctx: ctx}
	if _, err := tx.Exec(ctx, "SAVEPOINT g"); err != nil {
		failAll(fmt.Errorf("opening a savepoint: %w", err))
		return
	}
	// Savepoint g is open before each function; a function that succeeds
	// releases it and opens the next in the round trip of its last writes
	// (call), one that fails is rolled back to it, which keeps it open.
	ok := 0
	for _, r := range live {
		if r.ctx.Err() != nil { // gave up while the group ran
			r.err = r.ctx.Err()
			continue
		}
		r.err = call(r, ctxTx, ok == 0)
		if r.err == nil {
			ok++
			continue
		}
		ctxTx.pending = nil
		r.retry = retryable(r.err)
		if _, err := tx.Exec(ctx, "ROLLBACK TO SAVEPOINT g"); err != nil {
			// The whole transaction is lost (the connection broke).
			failAll(fmt.Errorf("rolling back to a savepoint after %v: %w", r.err, err))
			return
		}
	}
	if ok == 0 {
		return // nothing to keep: the deferred rollback ends it
	}
	if err := tx.Commit(ctx); err != nil {
		err = fmt.Errorf("committing: %w", err)
		for _, r := range live {
			if r.err == nil {
				r.err, r.retry = err, retryable(err)
			}
		}
	}
}

// call runs r.fn and sends its deferred writes with the release of its
// savepoint and the opening of the next. A function that returned nil
// while leaving the transaction failed (it swallowed a statement's error)
// fails too, and a panic becomes an error for the group (its caller
// panics again with the same value). The first function a group keeps
// also bounds the lock waits of the functions after it (laterLockWait),
// in the same round trip, before the release so that no rollback to the
// next savepoint undoes it.
func call(r *groupReq, tx *groupTx, first bool) (err error) {
	defer func() {
		if p := recover(); p != nil {
			r.panicked = p
			err = fmt.Errorf("panic in a transaction: %v", p)
		}
	}()
	tx.pending, tx.failed = nil, nil
	err = r.fn(tx)
	if tx.failed != nil { // a deferred write failed: that is the cause
		return tx.failed
	}
	if err != nil {
		return err
	}
	if tx.Conn().PgConn().TxStatus() == 'E' {
		return errors.New("a statement of the transaction failed and its error was ignored")
	}
	if first {
		return tx.flush("SET LOCAL lock_timeout = '"+laterLockWait+"'", "RELEASE SAVEPOINT g", "SAVEPOINT g")
	}
	return tx.flush("RELEASE SAVEPOINT g", "SAVEPOINT g")
}

// lockTimedOut reports a lock wait that outlasted lock_timeout.
func lockTimedOut(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "55P03"
}

// groupTx is the pgx.Tx a grouped function sees: its statements run on
// the group's context, whatever context the function passes, and the
// writes queued with later go out in one round trip with the statement
// that follows them (a pipeline: pgx.Batch), or at the function's end.
type groupTx struct {
	pgx.Tx
	ctx     context.Context
	pending []laterExec
	// failed is the error of a deferred write: every later statement of
	// the function fails with it, and so does the function, whatever it
	// made of the error (a read that failed with it may look benign).
	failed error
}

// laterExec is a write whose only answer is whether it worked.
type laterExec struct {
	what string
	sql  string
	args []any
	must bool // it must touch a row, else billing.ErrNotFound (checked by the server: later)
}

// later runs a write that answers nothing but an error: in a group it is
// queued and sent with the next statement of the transaction (its error,
// if any, comes back from that statement, or from the function's end,
// and rolls the function back all the same); otherwise it runs at once.
// must: touching no row is billing.ErrNotFound.
func later(ctx context.Context, q pgx.Tx, what string, must bool, sql string, args ...any) error {
	if g, ok := q.(*groupTx); ok {
		if must {
			// The check runs on the server: the savepoint's release may
			// follow in the same pipeline, and must not run after it.
			sql = `WITH w AS (` + sql + ` RETURNING 1) SELECT 1 / count(*) FROM w`
		}
		g.pending = append(g.pending, laterExec{what: what, sql: sql, args: args, must: must})
		return nil
	}
	if must {
		return exec1(ctx, q, sql, args...)
	}
	_, err := q.Exec(ctx, sql, args...)
	return mapErr(err)
}

// send sends the pending writes and then queue's statements in one
// round trip and checks the writes' answers; on error br is closed.
func (t *groupTx) send(queue func(b *pgx.Batch)) (pgx.BatchResults, error) {
	if t.failed != nil {
		return nil, t.failed
	}
	b := &pgx.Batch{}
	ps := t.pending
	t.pending = nil
	for _, p := range ps {
		b.Queue(p.sql, p.args...)
	}
	queue(b)
	br := t.Tx.SendBatch(t.ctx, b)
	for _, p := range ps {
		_, err := br.Exec()
		var pe *pgconn.PgError
		if p.must && errors.As(err, &pe) && pe.Code == "22012" { // 1 / count(*) of no row
			err = billing.ErrNotFound
		}
		if err != nil {
			_ = br.Close()
			t.failed = fmt.Errorf("%s: %w", p.what, mapErr(err))
			return nil, t.failed
		}
	}
	return br, nil
}

// flush sends the pending writes, then the argument-less statements tail.
func (t *groupTx) flush(tail ...string) error {
	if t.failed != nil {
		return t.failed
	}
	if len(t.pending) == 0 && len(tail) == 0 {
		return nil
	}
	br, err := t.send(func(b *pgx.Batch) {
		for _, s := range tail {
			b.Queue(s)
		}
	})
	if err != nil {
		return err
	}
	for range tail {
		if _, err := br.Exec(); err != nil {
			_ = br.Close()
			return err
		}
	}
	return br.Close()
}

func (t *groupTx) Begin(_ context.Context) (pgx.Tx, error) {
	if err := t.flush(); err != nil {
		return nil, err
	}
	return t.Tx.Begin(t.ctx)
}

func (t *groupTx) Exec(_ context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if len(t.pending) == 0 && t.failed == nil {
		return t.Tx.Exec(t.ctx, sql, args...)
	}
	br, err := t.send(func(b *pgx.Batch) { b.Queue(sql, args...) })
	if err != nil {
		return pgconn.CommandTag{}, err
	}
	tag, err := br.Exec()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return tag, err
}

func (t *groupTx) Query(_ context.Context, sql string, args ...any) (pgx.Rows, error) {
	if len(t.pending) == 0 && t.failed == nil {
		return t.Tx.Query(t.ctx, sql, args...)
	}
	br, err := t.send(func(b *pgx.Batch) { b.Queue(sql, args...) })
	if err != nil {
		return nil, err
	}
	rows, err := br.Query()
	if err != nil {
		_ = br.Close()
		return nil, err
	}
	return &batchRows{Rows: rows, br: br}, nil
}

func (t *groupTx) QueryRow(_ context.Context, sql string, args ...any) pgx.Row {
	if len(t.pending) == 0 && t.failed == nil {
		return t.Tx.QueryRow(t.ctx, sql, args...)
	}
	br, err := t.send(func(b *pgx.Batch) { b.Queue(sql, args...) })
	if err != nil {
		return errRow{err}
	}
	return batchRow{row: br.QueryRow(), br: br}
}

func (t *groupTx) SendBatch(_ context.Context, b *pgx.Batch) pgx.BatchResults {
	if err := t.flush(); err != nil {
		return errBatch{err}
	}
	return t.Tx.SendBatch(t.ctx, b)
}

func (t *groupTx) CopyFrom(_ context.Context, name pgx.Identifier, cols []string, src pgx.CopyFromSource) (int64, error) {
	if err := t.flush(); err != nil {
		return 0, err
	}
	return t.Tx.CopyFrom(t.ctx, name, cols, src)
}

func (t *groupTx) Commit(context.Context) error {
	return errors.New("postgres: a grouped transaction commits with its group")
}

func (t *groupTx) Rollback(context.Context) error {
	return errors.New("postgres: a grouped transaction is rolled back by returning an error")
}

// batchRows are the rows of the last statement of a pipeline: closing
// them ends the pipeline.
type batchRows struct {
	pgx.Rows
	br     pgx.BatchResults
	closed bool
	err    error
}

func (r *batchRows) Close() {
	r.Rows.Close()
	if !r.closed {
		r.closed = true
		r.err = r.br.Close()
	}
}

func (r *batchRows) Err() error {
	if err := r.Rows.Err(); err != nil {
		return err
	}
	return r.err
}

type batchRow struct {
	row pgx.Row
	br  pgx.BatchResults
}

func (r batchRow) Scan(dest ...any) error {
	err := r.row.Scan(dest...)
	if cerr := r.br.Close(); err == nil {
		err = cerr
	}
	return err
}

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

type errBatch struct{ err error }

func (b errBatch) Exec() (pgconn.CommandTag, error) { return pgconn.CommandTag{}, b.err }
func (b errBatch) Query() (pgx.Rows, error)         { return nil, b.err }
func (b errBatch) QueryRow() pgx.Row                { return errRow(b) }
func (b errBatch) Close() error                     { return b.err }
func (b errBatch) Tx() pgx.Tx                       { return nil }
