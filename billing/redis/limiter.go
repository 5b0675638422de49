// Package redis is the Redis implementation of billing.Limiter: frequency
// rules (minimum interval between payments, purchases per hour, confirmation
// attempts per order) enforced with github.com/go-redis/redis_rate/v10 over
// github.com/redis/go-redis/v9.
//
// It must never answer Allowed when it could not ask Redis: every Redis
// failure — connection refused, timeout, a dropped connection, READONLY on a
// replica, a script error, a reply it does not understand — is returned as
// an error with Decision{Allowed: false}, and the engine refuses the payment
// with service_busy (DESIGN §4.4, "frequency rules fail closed"). It must
// never hang a payment either: every call has a short deadline (Options.Timeout:
// 200 ms by default, 1 s for the in-process server). It never logs the rule's key (a phone number or an
// order id).
//
// # Rule semantics
//
// redis_rate implements GCRA, a token bucket kept as one timestamp per key
// (the "theoretical arrival time", TAT), computed from the Redis server's
// TIME inside one Lua script, so it is atomic across any number of gateway
// processes. A Rule{Limit: N, Period: P} maps to
//
//	redis_rate.Limit{Rate: 1, Period: P, Burst: N}
//
// that is, each allowed event reserves one full Period and at most N
// reservations may be outstanding. This gives, exactly:
//
//   - never more than N allowed events in any window of length P (a cap that
//     holds on a sliding window, not only per calendar hour);
//   - N events may come at once;
//   - after a full burst, capacity comes back one event per P: with
//     {Limit: 5, Period: 1h} and five purchases at 10:00, the sixth is
//     allowed at 11:00 and the seventh at 12:00, unless the subscriber
//     pauses long enough for the bucket to refill (N·P without events).
//   - {Limit: 1, Period: 60s} is exactly a minimum interval: an event 60 s
//     after the last allowed one is allowed, 59.999999 s is not (TIME has
//     microsecond resolution; the arithmetic is exact in a float64 until
//     2048, see redis_rate's script).
//
// The library's own PerHour(N) (Rate N, Burst N) was rejected: it refills
// continuously, so up to 2N-1 events pass in one rolling hour, which breaks
// the Rule contract "at most Limit events per Period".
//
// A refused event is not counted (the script writes only when it allows).
// A request whose reply is lost (the connection drops after Redis ran the
// script) may be counted without being allowed; that errs on the safe side.
//
// # Keys
//
// The Redis key of (rule, key) is Options.Prefix + rule.Name + ":" + the
// hex of the first 16 bytes of HMAC-SHA256(Options.KeySalt, key): every key
// starts with the configured prefix (redis_rate's own "rate:" is taken off
// on the way to Redis) and holds no phone number, so a Redis dump, MONITOR
// or a slow log shows none. Without a KeySalt the hash is SHA-256 of the
// prefix and the key, which hides a number from a glance but not from a
// dictionary of all numbers: production sets a secret salt
// (CARRIERBILL_REDIS_KEY_SALT). Changing the salt or the prefix forgets the
// rules' state, which errs on the permissive side for at most one Period
// (the minimum interval is also enforced in the database). Keys expire by
// themselves when the rule no longer constrains them. Use a Prefix per
// deployment (and per test) to share one Redis; a single key per call keeps
// it Redis Cluster safe.
//
// # Wiring
//
//	lim, err := redis.Open(cfg.RedisURL, redis.Options{Prefix: "cb:", Logger: log})
//	if err != nil { ... }
//	defer lim.Close()
//	d, err := lim.Allow(ctx, billing.Rule{Name: "min_interval", Limit: 1, Period: time.Minute}, msisdn)
//	switch {
//	case err != nil:   // Redis could not answer: refuse with service_busy
//	case !d.Allowed:   // refuse with too_frequent; d.RetryAfter says how long to wait
//	}
//
// With no Redis configured, NewEmbedded runs the same limiter on an
// in-process miniredis whose TIME follows a clock.Clock (see Embedded).
package redis

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/go-redis/redis_rate/v10"
	goredis "github.com/redis/go-redis/v9"

	"github.com/carrierbill/carrierbill/billing"
)

// DefaultTimeout bounds one Allow call when Options.Timeout is zero.
const DefaultTimeout = 200 * time.Millisecond

// Options configure a Limiter.
type Options struct {
	// Prefix is put in front of every key (after redis_rate's "rate:"),
	// for example "cb:prod:". Empty is allowed.
	Prefix string
	// Timeout bounds each Allow call, dial and retries included.
	// Zero means DefaultTimeout.
	Timeout time.Duration
	// KeySalt keys the hash of every rule key (a phone number): a secret
	// per deployment, at least 16 bytes. Empty: an unkeyed hash (see Keys).
	KeySalt []byte
	// Logger receives a warning for every failed call (rule name and
	// error, never the key). Nil discards.
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return o
}

// Limiter is a billing.Limiter backed by Redis. It is safe for concurrent
// use by any number of goroutines and processes.
type Limiter struct {
	rate   *redis_rate.Limiter
	client goredis.UniversalClient
	owned  bool // Close closes client
	opts   Options
}

var _ billing.Limiter = (*Limiter)(nil)

// Open connects to the Redis named by a redis:// or rediss:// URL (as in
// REDIS_URL). The client it creates honours the per-call deadline
// (ContextTimeoutEnabled) and uses Options.Timeout for dial, read, write and
// pool waits. Open does not contact Redis; the first Allow does. Close
// releases the client.
func Open(url string, opts Options) (*Limiter, error) {
	opts = opts.withDefaults()
	c, err := NewClient(url, opts.Timeout)
	if err != nil {
		return nil, err
	}
	l := newLimiter(c, opts)
	l.owned = true
	return l, nil
}

// New wraps an existing client (a single node, Sentinel failover or Cluster
// client). The client must honour context deadlines: New refuses a
// *goredis.Client or *goredis.ClusterClient built without
// ContextTimeoutEnabled. Close does not close a client passed to New.
func New(client goredis.UniversalClient, opts Options) (*Limiter, error) {
	if err := CheckClient(client); err != nil {
		return nil, err
	}
	return newLimiter(client, opts.withDefaults()), nil
}

func newLimiter(client goredis.UniversalClient, opts Options) *Limiter {
	return &Limiter{rate: redis_rate.NewLimiter(rateKeys{client}), client: client, opts: opts}
}

// Close releases the client when Open created it.
func (l *Limiter) Close() error {
	if !l.owned {
		return nil
	}
	if err := l.client.Close(); err != nil {
		return fmt.Errorf("closing the Redis client: %w", err)
	}
	return nil
}

// Limit maps a rule to the redis_rate limit Allow uses (see the package
// documentation for why Rate is 1 and Burst is the rule's Limit).
func Limit(rule billing.Rule) redis_rate.Limit {
	return redis_rate.Limit{Rate: 1, Burst: rule.Limit, Period: rule.Period}
}

// Key is the Redis key that Allow uses for rule and key (see Keys).
func (l *Limiter) Key(rule billing.Rule, key string) string {
	return l.opts.Prefix + rule.Name + ":" + KeyHash(l.opts.KeySalt, l.opts.Prefix, key)
}

// rateKeyPrefix is what redis_rate puts in front of every key it is given.
const rateKeyPrefix = "rate:"

// rateKeys hands redis_rate a client that takes its "rate:" off every key,
// so the keys in Redis are exactly Key's: under the configured prefix.
type rateKeys struct{ goredis.UniversalClient }

func stripRate(keys []string) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = strings.TrimPrefix(k, rateKeyPrefix)
	}
	return out
}

func (c rateKeys) Eval(ctx context.Context, script string, keys []string, args ...any) *goredis.Cmd {
	return c.UniversalClient.Eval(ctx, script, stripRate(keys), args...)
}

func (c rateKeys) EvalSha(ctx context.Context, sha1 string, keys []string, args ...any) *goredis.Cmd {
	return c.UniversalClient.EvalSha(ctx, sha1, stripRate(keys), args...)
}

func (c rateKeys) EvalRO(ctx context.Context, script string, keys []string, args ...any) *goredis.Cmd {
	return c.UniversalClient.EvalRO(ctx, script, stripRate(keys), args...)
}

func (c rateKeys) EvalShaRO(ctx context.Context, sha1 string, keys []string, args ...any) *goredis.Cmd {
	return c.UniversalClient.EvalShaRO(ctx, sha1, stripRate(keys), args...)
}

func (c rateKeys) Del(ctx context.Context, keys ...string) *goredis.IntCmd {
	return c.UniversalClient.Del(ctx, stripRate(keys)...)
}

// Allow counts one event of rule for key and reports whether it was within
// the rule; a refused event is not counted. Any failure to get an answer
// from Redis, or an invalid rule, is an error with Allowed false.
func (l *Limiter) Allow(ctx context.Context, rule billing.Rule, key string) (billing.Decision, error) {
	if err := validate(rule); err != nil {
		return billing.Decision{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, l.opts.Timeout)
	defer cancel()
	res, err := l.allow(ctx, rule, key)
	if err != nil {
		l.opts.Logger.Warn("frequency rule check failed; refusing (fail closed)",
			slog.String("rule", rule.Name), slog.String("error", err.Error()))
		return billing.Decision{}, fmt.Errorf("checking frequency rule %s in Redis: %w", rule.Name, err)
	}
	if res.Allowed > 0 {
		return billing.Decision{Allowed: true}, nil
	}
	retry := res.RetryAfter
	if retry < 0 {
		retry = 0
	}
	return billing.Decision{Allowed: false, RetryAfter: retry}, nil
}

// allow runs redis_rate, turning a panic on a reply it does not understand
// (it type-asserts the script's reply) into an error: fail closed, not crash.
func (l *Limiter) allow(ctx context.Context, rule billing.Rule, key string) (res *redis_rate.Result, err error) {
	defer func() {
		if r := recover(); r != nil {
			res, err = nil, fmt.Errorf("unexpected reply from the rate script: %v", r)
		}
	}()
	res, err = l.rate.Allow(ctx, l.Key(rule, key), Limit(rule))
	if err == nil && res == nil {
		err = errors.New("empty reply from the rate script")
	}
	return res, err
}

func validate(rule billing.Rule) error {
	switch {
	case rule.Name == "":
		return errors.New("frequency rule without a name")
	case rule.Limit < 1:
		return fmt.Errorf("frequency rule %s: limit %d, want at least 1", rule.Name, rule.Limit)
	case rule.Period < time.Millisecond:
		return fmt.Errorf("frequency rule %s: period %s, want at least 1ms", rule.Name, rule.Period)
	}
	return nil
}
