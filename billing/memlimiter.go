package billing

import (
	"context"
	"sync"
	"time"

	"github.com/carrierbill/carrierbill/clock"
)

// MemoryLimiter is a real, in-process Limiter: a sliding window of event
// times per rule and key, on an injected clock. It is for tests, replay and
// a single process only: its counts are not shared between processes and
// die with the process. Production uses the Redis limiter (billing/redis).
type MemoryLimiter struct {
	clock clock.Clock
	mu    sync.Mutex
	seen  map[string][]time.Time
	// Fail, when set, makes every Allow fail with it (a Redis outage).
	fail error
}

// NewMemoryLimiter returns a limiter on clk.
func NewMemoryLimiter(clk clock.Clock) *MemoryLimiter {
	return &MemoryLimiter{clock: clk, seen: map[string][]time.Time{}}
}

// SetFailure makes every later Allow return err (nil restores service), to
// test that callers fail closed.
func (l *MemoryLimiter) SetFailure(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.fail = err
}

// Allow implements Limiter.
func (l *MemoryLimiter) Allow(ctx context.Context, rule Rule, key string) (Decision, error) {
	if err := ctx.Err(); err != nil {
		return Decision{}, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fail != nil {
		return Decision{}, l.fail
	}
	if rule.Limit <= 0 || rule.Period <= 0 {
		return Decision{Allowed: true}, nil
	}
	now := l.clock.Now()
	k := rule.Name + "\x00" + key
	ts := l.seen[k]
	i := 0
	for i < len(ts) && !ts[i].After(now.Add(-rule.Period)) {
		i++
	}
	ts = ts[i:]
	if len(ts) >= rule.Limit {
		l.seen[k] = ts
		return Decision{RetryAfter: ts[0].Add(rule.Period).Sub(now)}, nil
	}
	l.seen[k] = append(ts, now)
	return Decision{Allowed: true}, nil
}
