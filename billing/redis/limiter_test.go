package redis

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/clock"
	"github.com/carrierbill/carrierbill/internal/dbtest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var (
	minInterval = billing.Rule{Name: "min_interval", Limit: 1, Period: time.Minute}
	perHour5    = billing.Rule{Name: "purchase_per_hour", Limit: 5, Period: time.Hour}
)

func testRedisURL() string {
	if u := os.Getenv("CARRIERBILL_TEST_REDIS_URL"); u != "" {
		return u
	}
	return dbtest.DefaultRedisURL
}

// backend is one place the same limiter code runs.
type backend struct {
	name string
	// open returns a limiter with its own key space and a raw client on
	// the same server (for tests that write keys behind its back).
	open func(t *testing.T, opts Options) (billing.Limiter, *Limiter, *goredis.Client)
}

var backends = []backend{
	{"redis", openReal},
	{"miniredis", func(t *testing.T, opts Options) (billing.Limiter, *Limiter, *goredis.Client) {
		t.Helper()
		e := openEmbedded(t, clock.Real{}, opts)
		raw := goredis.NewClient(&goredis.Options{Addr: e.Addr()})
		t.Cleanup(func() { raw.Close() })
		return e, e.lim, raw
	}},
}

// openReal opens a limiter on the shared test Redis under a per-test prefix
// (skipped locally, failed under CI=true, when Redis is absent) and deletes
// its keys when the test ends.
func openReal(t *testing.T, opts Options) (billing.Limiter, *Limiter, *goredis.Client) {
	t.Helper()
	opts = generous(opts)
	raw, prefix := dbtest.Redis(t)
	opts.Prefix = prefix + opts.Prefix
	l, err := Open(testRedisURL(), opts)
	if err != nil {
		t.Fatalf("opening the limiter: %v", err)
	}
	t.Cleanup(func() {
		l.Close()
		ctx := context.Background()
		iter := raw.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			raw.Del(ctx, iter.Val())
		}
	})
	return l, l, raw
}

func openEmbedded(t *testing.T, clk clock.Clock, opts Options) *Embedded {
	t.Helper()
	opts = generous(opts)
	e, err := NewEmbedded(clk, opts)
	if err != nil {
		t.Fatalf("starting the embedded limiter: %v", err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// generous gives tests that are not about timeouts a timeout that a loaded
// CI machine running -race meets; the fault tests set their own.
func generous(opts Options) Options {
	if opts.Timeout == 0 {
		opts.Timeout = 5 * time.Second
	}
	return opts
}

func allow(t *testing.T, l billing.Limiter, rule billing.Rule, key string) billing.Decision {
	t.Helper()
	d, err := l.Allow(context.Background(), rule, key)
	if err != nil {
		t.Fatalf("Allow(%s, %s): %v", rule.Name, key, err)
	}
	return d
}

func TestBurstThenCap(t *testing.T) {
	t.Parallel()
	rules := []billing.Rule{
		minInterval,
		{Name: "per_hour_1", Limit: 1, Period: time.Hour},
		{Name: "per_hour_3", Limit: 3, Period: time.Hour},
		perHour5,
		{Name: "per_day_20", Limit: 20, Period: 24 * time.Hour},
	}
	for _, b := range backends {
		for _, rule := range rules {
			t.Run(b.name+"/"+rule.Name, func(t *testing.T) {
				t.Parallel()
				l, _, _ := b.open(t, Options{})
				for i := 0; i < rule.Limit; i++ {
					if d := allow(t, l, rule, "8613800000001"); !d.Allowed {
						t.Fatalf("event %d of %d refused: %+v", i+1, rule.Limit, d)
					}
				}
				d := allow(t, l, rule, "8613800000001")
				if d.Allowed {
					t.Fatalf("event %d allowed past the limit %d", rule.Limit+1, rule.Limit)
				}
				// The first event's reservation ends one Period after it.
				if d.RetryAfter > rule.Period || d.RetryAfter < rule.Period-5*time.Second {
					t.Fatalf("RetryAfter = %s, want about %s", d.RetryAfter, rule.Period)
				}
			})
		}
	}
}

func TestRefusedIsNotCounted(t *testing.T) {
	t.Parallel()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			l, _, _ := b.open(t, Options{})
			rule := billing.Rule{Name: "per_hour_2", Limit: 2, Period: time.Hour}
			allow(t, l, rule, "k")
			allow(t, l, rule, "k")
			first := allow(t, l, rule, "k")
			for i := 0; i < 20; i++ {
				d := allow(t, l, rule, "k")
				if d.Allowed {
					t.Fatalf("refusal %d turned into an allow", i)
				}
				// Counting a refusal would push RetryAfter out by a Period.
				if d.RetryAfter > first.RetryAfter {
					t.Fatalf("RetryAfter grew from %s to %s: a refused event was counted", first.RetryAfter, d.RetryAfter)
				}
			}
		})
	}
}

func TestKeysRulesAndPrefixesAreIndependent(t *testing.T) {
	t.Parallel()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			l, lim, raw := b.open(t, Options{})
			other := newLimiter(lim.client, Options{Prefix: lim.opts.Prefix + "other:"}.withDefaults())
			otherRule := billing.Rule{Name: "confirm_per_order", Limit: 1, Period: time.Minute}
			steps := []struct {
				name  string
				lim   billing.Limiter
				rule  billing.Rule
				key   string
				allow bool
			}{
				{"first a", l, minInterval, "a", true},
				{"second a", l, minInterval, "a", false},
				{"first b", l, minInterval, "b", true},
				{"a under another rule", l, otherRule, "a", true},
				{"a under another prefix", other, minInterval, "a", true},
				{"a again", l, minInterval, "a", false},
				{"key that extends another key", l, minInterval, "a:b", true},
			}
			for _, s := range steps {
				if d := allow(t, s.lim, s.rule, s.key); d.Allowed != s.allow {
					t.Fatalf("%s: Allowed = %v, want %v", s.name, d.Allowed, s.allow)
				}
			}
			// Both limiters' keys are where the package doc says.
			ctx := context.Background()
			for _, k := range []string{
				lim.Key(minInterval, "a"),
				other.Key(minInterval, "a"),
			} {
				if n := raw.Exists(ctx, k).Val(); n != 1 {
					t.Fatalf("key %s missing", k)
				}
				if ttl := raw.TTL(ctx, k).Val(); ttl <= 0 || ttl > 61*time.Second {
					t.Fatalf("key %s TTL %s, want at most the rule's period", k, ttl)
				}
			}
			if b.name == "redis" {
				t.Cleanup(func() { raw.Del(context.Background(), other.Key(minInterval, "a")) })
			}
		})
	}
}

func TestConcurrentAllowOfOneKey(t *testing.T) {
	t.Parallel()
	for _, b := range backends {
		for _, limit := range []int{1, 5, 17} {
			t.Run(fmt.Sprintf("%s/limit_%d", b.name, limit), func(t *testing.T) {
				t.Parallel()
				l, _, _ := b.open(t, Options{Timeout: 5 * time.Second})
				rule := billing.Rule{Name: "burst", Limit: limit, Period: time.Hour}
				const workers = 64
				var allowed, refused atomic.Int64
				var wg sync.WaitGroup
				errs := make(chan error, workers)
				start := make(chan struct{})
				for i := 0; i < workers; i++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						<-start
						d, err := l.Allow(context.Background(), rule, "8613800000001")
						switch {
						case err != nil:
							errs <- err
						case d.Allowed:
							allowed.Add(1)
						default:
							refused.Add(1)
						}
					}()
				}
				close(start)
				wg.Wait()
				close(errs)
				for err := range errs {
					t.Fatalf("Allow: %v", err)
				}
				if allowed.Load() != int64(limit) || refused.Load() != int64(workers-limit) {
					t.Fatalf("allowed %d, refused %d; want exactly %d allowed", allowed.Load(), refused.Load(), limit)
				}
			})
		}
	}
}

// TestEdgesOnVirtualTime runs on the embedded server with a fake clock, the
// way replay does, so the edges are exact to the microsecond.
func TestEdgesOnVirtualTime(t *testing.T) {
	t.Parallel()
	// Shanghai time, with microseconds, near the end of a month.
	t0 := time.Date(2026, 3, 31, 23, 59, 30, 123456000, time.FixedZone("CST", 8*3600))
	type step struct {
		at      time.Duration // since t0
		allowed bool
		retry   time.Duration // checked when refused
	}
	tests := []struct {
		name  string
		rule  billing.Rule
		steps []step
	}{
		{"min interval 60s", minInterval, []step{
			{0, true, 0},
			{59*time.Second + 999*time.Millisecond, false, time.Millisecond},
			{59*time.Second + 999999*time.Microsecond, false, time.Microsecond},
			{60 * time.Second, true, 0}, // exactly 60 s after the last allowed
			{60*time.Second + time.Microsecond, false, 60*time.Second - time.Microsecond},
			{119 * time.Second, false, time.Second},
			{180 * time.Second, true, 0}, // refusals in between did not count
		}},
		{"5 per hour", perHour5, []step{
			{0, true, 0}, {0, true, 0}, {time.Minute, true, 0}, {2 * time.Minute, true, 0}, {3 * time.Minute, true, 0},
			{4 * time.Minute, false, 56 * time.Minute},
			{59*time.Minute + 59*time.Second, false, time.Second},
			{time.Hour, true, 0}, // one slot back an hour after the first event
			{time.Hour, false, time.Hour},
			{2 * time.Hour, true, 0},
			{10 * time.Hour, true, 0}, // idle long enough: the full burst is back
			{10 * time.Hour, true, 0}, {10 * time.Hour, true, 0}, {10 * time.Hour, true, 0}, {10 * time.Hour, true, 0},
			{10 * time.Hour, false, time.Hour},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clk := clock.NewFake(t0)
			e := openEmbedded(t, clk, Options{})
			for i, s := range tt.steps {
				clk.Set(t0.Add(s.at))
				d := allow(t, e, tt.rule, "8613800000001")
				if d.Allowed != s.allowed {
					t.Fatalf("step %d (t0+%s): Allowed = %v, want %v", i, s.at, d.Allowed, s.allowed)
				}
				if !s.allowed {
					if diff := d.RetryAfter - s.retry; diff < -time.Microsecond || diff > time.Microsecond {
						t.Fatalf("step %d (t0+%s): RetryAfter = %s, want %s", i, s.at, d.RetryAfter, s.retry)
					}
				}
			}
		})
	}
}

// TestNeverMoreThanLimitInAnyWindow drives random traffic on virtual time and
// checks the Rule contract against a sliding window, and every decision
// against a reference model of the mapping.
func TestNeverMoreThanLimitInAnyWindow(t *testing.T) {
	t.Parallel()
	for _, rule := range []billing.Rule{minInterval, perHour5, {Name: "per_10m_3", Limit: 3, Period: 10 * time.Minute}} {
		t.Run(rule.Name, func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(uint64(rule.Limit), uint64(rule.Period)))
			t0 := time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)
			clk := clock.NewFake(t0)
			e := openEmbedded(t, clk, Options{})
			var allowedAt []time.Time
			tat := t0 // reference model: GCRA with emission = Period, burst = Limit
			now := t0
			for i := 0; i < 400; i++ {
				now = now.Add(time.Duration(rng.Int64N(int64(rule.Period) / int64(rule.Limit) * 2)))
				now = now.Truncate(time.Microsecond) // Redis TIME resolution
				clk.Set(now)
				d := allow(t, e, rule, "k")
				base := tat
				if now.After(base) {
					base = now
				}
				want := !now.Before(base.Add(rule.Period).Add(-time.Duration(rule.Limit) * rule.Period))
				if want {
					tat = base.Add(rule.Period)
				}
				if d.Allowed != want {
					t.Fatalf("event %d at t0+%s: Allowed = %v, reference model says %v", i, now.Sub(t0), d.Allowed, want)
				}
				if d.Allowed {
					allowedAt = append(allowedAt, now)
				}
			}
			for i := rule.Limit; i < len(allowedAt); i++ {
				if gap := allowedAt[i].Sub(allowedAt[i-rule.Limit]); gap < rule.Period {
					t.Fatalf("%d events within %s (< %s)", rule.Limit+1, gap, rule.Period)
				}
			}
			if len(allowedAt) < 50 {
				t.Fatalf("only %d events allowed; the traffic does not exercise the rule", len(allowedAt))
			}
		})
	}
}

// TestMinIntervalEdgeOnRealRedis plants the last event's timestamp relative
// to the real server's TIME, with a margin for the round trip.
func TestMinIntervalEdgeOnRealRedis(t *testing.T) {
	t.Parallel()
	l, lim, raw := openReal(t, Options{})
	ctx := context.Background()
	const jan2017 = 1483228800 // redis_rate's epoch
	tests := []struct {
		name  string
		ago   time.Duration // last allowed event this long before the server's now
		allow bool
	}{
		{"59.9 s ago", 59900 * time.Millisecond, false},
		{"60 s ago", 60 * time.Second, true},
		{"61 s ago", 61 * time.Second, true},
		{"1 s ago", time.Second, false},
	}
	for _, tt := range tests {
		key := strings.ReplaceAll(tt.name, " ", "_")
		// On a loaded machine the round trip between reading TIME and the
		// script's own TIME can exceed the 100 ms margin; such an attempt
		// proves nothing and is made again with a fresh key.
		for attempt := 0; ; attempt++ {
			k := fmt.Sprintf("%s_%d", key, attempt)
			now, err := raw.Time(ctx).Result()
			if err != nil {
				t.Fatalf("TIME: %v", err)
			}
			last := now.Add(-tt.ago)
			tatVal := float64(last.Add(minInterval.Period).UnixMicro()-jan2017*1e6) / 1e6
			if err := raw.Set(ctx, lim.Key(minInterval, k), fmt.Sprint(tatVal), time.Hour).Err(); err != nil {
				t.Fatalf("planting the last event: %v", err)
			}
			d := allow(t, l, minInterval, k)
			after, err := raw.Time(ctx).Result()
			if err != nil {
				t.Fatalf("TIME: %v", err)
			}
			if after.Sub(now) > 50*time.Millisecond && attempt < 20 {
				continue
			}
			if d.Allowed != tt.allow {
				t.Fatalf("%s: Allowed = %v, want %v (%+v)", tt.name, d.Allowed, tt.allow, d)
			}
			break
		}
	}
}

func TestInvalidRulesAreErrors(t *testing.T) {
	t.Parallel()
	e := openEmbedded(t, nil, Options{})
	for _, rule := range []billing.Rule{
		{Name: "", Limit: 1, Period: time.Minute},
		{Name: "zero_limit", Limit: 0, Period: time.Minute},
		{Name: "negative_limit", Limit: -1, Period: time.Minute},
		{Name: "zero_period", Limit: 1},
	} {
		d, err := e.Allow(context.Background(), rule, "k")
		if err == nil || d.Allowed {
			t.Fatalf("rule %+v: got %+v, %v; want an error and no allow", rule, d, err)
		}
	}
}

func TestNewRefusesClientWithoutContextTimeouts(t *testing.T) {
	t.Parallel()
	c := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:1"})
	defer c.Close()
	if _, err := New(c, Options{}); err != ErrContextTimeoutDisabled {
		t.Fatalf("New: %v, want ErrContextTimeoutDisabled", err)
	}
	c2 := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:1", ContextTimeoutEnabled: true})
	l, err := New(c2, Options{})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("Close of a borrowed client: %v", err)
	}
	if err := c2.Close(); err != nil {
		t.Fatalf("the borrowed client was already closed by the limiter: %v", err)
	}
}

func TestEmbeddedExpiresKeysAsTheClockMoves(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	e := openEmbedded(t, clk, Options{Prefix: "p:"})
	raw := goredis.NewClient(&goredis.Options{Addr: e.Addr()})
	t.Cleanup(func() { raw.Close() })
	ctx := context.Background()
	allow(t, e, minInterval, "old")
	if n := raw.Exists(ctx, e.lim.Key(minInterval, "old")).Val(); n != 1 {
		t.Fatal("key not written")
	}
	clk.Advance(30 * time.Second)
	allow(t, e, minInterval, "other")
	if n := raw.Exists(ctx, e.lim.Key(minInterval, "old")).Val(); n != 1 {
		t.Fatal("key expired before its TTL")
	}
	clk.Advance(2 * time.Minute)
	allow(t, e, minInterval, "other")
	if n := raw.Exists(ctx, e.lim.Key(minInterval, "old")).Val(); n != 0 {
		t.Fatal("key still there two minutes after its TTL")
	}
	// The clock going back (a replay restarted) is not an error.
	clk.Set(t0)
	if d := allow(t, e, minInterval, "old"); !d.Allowed {
		t.Fatalf("after the clock went back: %+v", d)
	}
}

// TestKeysUnderPrefixWithoutNumbers: every key the limiter writes starts
// with the configured prefix (not redis_rate's "rate:") and holds no phone
// number; the salt changes every key (issue 18.9).
func TestKeysUnderPrefixWithoutNumbers(t *testing.T) {
	t.Parallel()
	raw, prefix := dbtest.Redis(t)
	ctx := context.Background()
	open := func(salt string) *Limiter {
		l, err := Open(testRedisURL(), generous(Options{Prefix: prefix, KeySalt: []byte(salt)}))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		return l
	}
	t.Cleanup(func() {
		iter := raw.Scan(context.Background(), 0, prefix+"*", 1000).Iterator()
		for iter.Next(context.Background()) {
			raw.Del(context.Background(), iter.Val())
		}
	})
	a, b := open("salt-one-salt-one"), open("salt-two-salt-two")
	numbers := []string{"+8613511112222", "13511112222:card"}
	for _, n := range numbers {
		allow(t, a, minInterval, n)
		allow(t, b, minInterval, n)
	}
	// Nothing under redis_rate's own prefix, nothing holding a number.
	for _, pattern := range []string{"rate:" + prefix + "*", "*13511112222*"} {
		if keys, err := raw.Keys(ctx, pattern).Result(); err != nil || len(keys) > 0 {
			t.Errorf("keys matching %q: %v %v", pattern, keys, err)
		}
	}
	keys, err := raw.Keys(ctx, prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 4 {
		t.Fatalf("want 4 keys under %s (2 numbers × 2 salts), got %v", prefix, keys)
	}
	for _, n := range numbers {
		ka, kb := a.Key(minInterval, n), b.Key(minInterval, n)
		if ka == kb {
			t.Errorf("two salts gave one key %s", ka)
		}
		if !strings.HasPrefix(ka, prefix+minInterval.Name+":") || strings.Contains(ka, "13511112222") {
			t.Errorf("key %s", ka)
		}
		if raw.Exists(ctx, ka).Val() != 1 {
			t.Errorf("key %s not in Redis", ka)
		}
	}
	// The rule still holds on the hashed key.
	if d := allow(t, a, minInterval, numbers[0]); d.Allowed {
		t.Error("a second event within the minimum interval was allowed")
	}
}
