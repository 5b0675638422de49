package redis

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/alicebob/miniredis/v2"

	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/clock"
)

// sweepEvery is how much clock time passes between two expiry sweeps of the
// embedded server. miniredis only expires keys when told to; a key that
// outlives its TTL a little is harmless (GCRA treats a TAT in the past like
// no key), so a sweep a minute keeps memory bounded at O(keys) work a minute.
const sweepEvery = time.Minute

// Embedded is the same Limiter running on an in-process miniredis
// (github.com/alicebob/miniredis/v2), for `serve` without REDIS_URL, the demo
// and replay. redis_rate's script runs unchanged; its TIME is the clock
// given to NewEmbedded, read and set (miniredis SetTime) before every call,
// so replay on a clock.Fake gets exactly the decisions the real clock would
// have given at those instants. There is no separate SyncTime: the clock is
// the one source of time, and moving the clock is how a caller syncs. State lives in memory only: a restart forgets every rule's
// history, which is why the minimum interval is also backed by the database
// (DESIGN §4.4).
//
// Example, replay on a virtual clock:
//
//	clk := clock.NewFake(firstEventTime)
//	lim, err := redis.NewEmbedded(clk, redis.Options{})
//	if err != nil { ... }
//	defer lim.Close()
//	for _, ev := range trace {
//		clk.Set(ev.Time)  // the next Allow runs at ev.Time
//		d, err := lim.Allow(ctx, rule, ev.Phone)
//		...
//	}
type Embedded struct {
	lim *Limiter
	srv *miniredis.Miniredis
	clk clock.Clock

	// mu serializes "set TIME, run the script" so that concurrent calls
	// each run at the time they read from the clock.
	mu        sync.Mutex
	lastSweep time.Time
}

var _ billing.Limiter = (*Embedded)(nil)

// DefaultEmbeddedTimeout bounds one embedded Allow when Options.Timeout is
// zero. It is much longer than DefaultTimeout because the server is
// in-process (it cannot hang on the network, only starve for CPU: failing
// closed sooner protects nothing) and miniredis is about ten times slower
// than Redis per script (it builds a Lua state per EVAL); 1s was missed by
// the first payment on a loaded machine under -race.
const DefaultEmbeddedTimeout = 5 * time.Second

// NewEmbedded starts an in-process miniredis on a free 127.0.0.1 port and
// returns a Limiter on it whose Redis TIME follows clk (nil means the wall
// clock). Close stops the server.
func NewEmbedded(clk clock.Clock, opts Options) (*Embedded, error) {
	if clk == nil {
		clk = clock.Real{}
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultEmbeddedTimeout
	}
	srv := miniredis.NewMiniRedis()
	if err := srv.Start(); err != nil {
		return nil, fmt.Errorf("starting the embedded Redis: %w", err)
	}
	lim, err := Open("redis://"+srv.Addr(), opts)
	if err != nil {
		srv.Close()
		return nil, fmt.Errorf("connecting to the embedded Redis: %w", err)
	}
	now := clk.Now()
	srv.SetTime(now)
	return &Embedded{lim: lim, srv: srv, clk: clk, lastSweep: now}, nil
}

// Allow syncs the server's TIME to the clock and runs the limiter; see
// Limiter.Allow.
func (e *Embedded) Allow(ctx context.Context, rule billing.Rule, key string) (billing.Decision, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.syncLocked(e.clk.Now())
	return e.lim.Allow(ctx, rule, key)
}

func (e *Embedded) syncLocked(now time.Time) {
	e.srv.SetTime(now)
	switch elapsed := now.Sub(e.lastSweep); {
	case elapsed < 0: // the clock went back (replay restarted): start over
		e.lastSweep = now
	case elapsed >= sweepEvery:
		e.srv.FastForward(elapsed)
		e.lastSweep = now
	}
}

// Addr is the embedded server's address, for diagnostics (redis-cli -p).
func (e *Embedded) Addr() string { return e.srv.Addr() }

// Close closes the client and stops the server.
func (e *Embedded) Close() error {
	err := e.lim.Close()
	e.srv.Close()
	return err
}
