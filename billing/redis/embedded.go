package redis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
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
// and replay. It decides exactly as redis_rate's script does, computed in
// Go on the server's keys (gcraLocked: no Lua state per call); its TIME is
// the clock given to NewEmbedded, read and set (miniredis SetTime) before
// every call, so replay on a clock.Fake gets exactly the decisions the real
// clock would have given at those instants. There is no separate SyncTime: the clock is
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
	lim  *Limiter
	srv  *miniredis.Miniredis
	addr string
	clk  clock.Clock

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
	inProcess.Store(srv.Addr(), srv) // this process's clients dial it through memory (memconn.go)
	lim, err := Open("redis://"+srv.Addr(), opts)
	if err != nil {
		inProcess.Delete(srv.Addr())
		srv.Close()
		return nil, fmt.Errorf("connecting to the embedded Redis: %w", err)
	}
	now := clk.Now()
	srv.SetTime(now)
	return &Embedded{lim: lim, srv: srv, addr: srv.Addr(), clk: clk, lastSweep: now}, nil
}

// Allow syncs the server's TIME to the clock and decides as redis_rate's
// script would (gcraLocked); see Limiter.Allow.
func (e *Embedded) Allow(ctx context.Context, rule billing.Rule, key string) (billing.Decision, error) {
	if err := validate(rule); err != nil {
		return billing.Decision{}, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	err := ctx.Err() // a call given up on is refused, as the network client refuses it
	var d billing.Decision
	if err == nil {
		now := e.clk.Now()
		e.syncLocked(now)
		d, err = e.gcraLocked(rule, key, now)
	}
	if err != nil {
		e.lim.opts.Logger.Warn("frequency rule check failed; refusing (fail closed)",
			slog.String("rule", rule.Name), slog.String("error", err.Error()))
		return billing.Decision{}, fmt.Errorf("checking frequency rule %s in the embedded Redis: %w", rule.Name, err)
	}
	return d, nil
}

// redisRateEpoch is the epoch of redis_rate's script (2017-01-01 UTC):
// its times are seconds since then, as doubles.
const redisRateEpoch = 1483228800

// gcraLocked is redis_rate's GCRA script (go-redis/redis_rate v10,
// lua.go, allowN with a cost of 1) in Go, on the same key and value of the
// embedded server through miniredis's direct API: the same doubles in the
// same order, so the same decisions and retry times to the bit (tested
// against the script, TestEmbeddedDecidesAsTheScript), but no Lua state
// per call. miniredis builds a new Lua interpreter for every EVAL: 475–753
// µs and 212 KB a call, where this takes a few microseconds (issue 11,
// "embedded mode builds no Lua state per call"). Real Redis keeps running
// the script (Limiter): there it is cheap and atomic across processes.
func (e *Embedded) gcraLocked(rule billing.Rule, key string, at time.Time) (billing.Decision, error) {
	k := e.lim.Key(rule, key)
	lim := Limit(rule)
	emission := lim.Period.Seconds() / float64(lim.Rate)
	increment := emission * 1
	burstOffset := emission * float64(lim.Burst)
	nanos := at.UnixNano() // what TIME answers: whole seconds and microseconds
	now := float64(nanos/1_000_000_000-redisRateEpoch) + float64((nanos/1_000)%1_000_000)/1000000
	tat := now
	switch v, err := e.srv.Get(k); {
	case errors.Is(err, miniredis.ErrKeyNotFound):
	case err != nil:
		return billing.Decision{}, err
	default:
		if tat, err = strconv.ParseFloat(v, 64); err != nil {
			return billing.Decision{}, fmt.Errorf("the value of a rate key does not parse: %w", err)
		}
	}
	tat = math.Max(tat, now)
	newTat := tat + increment
	allowAt := newTat - burstOffset
	diff := now - allowAt
	if remaining := diff / emission; remaining < 0 {
		return billing.Decision{Allowed: false, RetryAfter: time.Duration(-diff * float64(time.Second))}, nil
	}
	if resetAfter := newTat - now; resetAfter > 0 {
		// The script's SET … EX: Lua writes the number as Go's %v does.
		if err := e.srv.Set(k, strconv.FormatFloat(newTat, 'g', -1, 64)); err != nil {
			return billing.Decision{}, err
		}
		e.srv.SetTTL(k, time.Duration(math.Ceil(resetAfter))*time.Second)
	}
	return billing.Decision{Allowed: true}, nil
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
func (e *Embedded) Addr() string { return e.addr }

// Close closes the client and stops the server.
func (e *Embedded) Close() error {
	err := e.lim.Close()
	inProcess.Delete(e.addr)
	e.srv.Close()
	return err
}
