package redis

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"

	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/clock"
)

// TestEmbeddedDecidesAsTheScript: the embedded limiter's Go GCRA and
// redis_rate's Lua script (run by miniredis, as the embedded limiter did
// before) give the same decision, the same retry time to the nanosecond,
// the same stored value and the same TTL, call after call, over random
// rules, keys and steps of a virtual clock, bursts and pauses, sub-second
// and past the TTL (with the embedded limiter's expiry sweep mirrored on
// the script's server).
func TestEmbeddedDecidesAsTheScript(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 12, 2, 9, 0, 0, 123456789, time.UTC)
	clk := clock.NewFake(t0)
	native := openEmbedded(t, clk, Options{Prefix: "p:"})
	srv := miniredis.NewMiniRedis()
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	script, err := Open("redis://"+srv.Addr(), generous(Options{Prefix: "p:"}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { script.Close() })

	rules := []billing.Rule{
		minInterval, perHour5,
		{Name: "confirm_per_order", Limit: 3, Period: 10 * time.Minute},
		{Name: "odd", Limit: 7, Period: 1300 * time.Millisecond},
		{Name: "day", Limit: 20, Period: 24 * time.Hour},
	}
	keys := []string{"8613800000001", "8613800000002", "card:8613800000001", "order:42"}
	rng := rand.New(rand.NewPCG(11, 17))
	steps := []time.Duration{0, time.Microsecond, 999 * time.Microsecond, 37 * time.Millisecond, 700 * time.Millisecond,
		time.Second, 7 * time.Second, time.Minute + time.Nanosecond, 13 * time.Minute, 2 * time.Hour}
	refused, lastSweep := 0, t0
	for i := range 5000 {
		clk.Advance(steps[rng.IntN(len(steps))])
		rule, key := rules[rng.IntN(len(rules))], keys[rng.IntN(len(keys))]
		srv.SetTime(clk.Now())
		if el := clk.Now().Sub(lastSweep); el >= sweepEvery { // the embedded limiter's expiry sweep, mirrored
			srv.FastForward(el)
			lastSweep = clk.Now()
		}
		want, err := script.Allow(t.Context(), rule, key)
		if err != nil {
			t.Fatal(err)
		}
		got, err := native.Allow(t.Context(), rule, key)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Fatalf("call %d at %s, %s/%s: Go %+v, script %+v", i, clk.Now().Format(time.RFC3339Nano), rule.Name, key, got, want)
		}
		if !want.Allowed {
			refused++
		}
		k := script.Key(rule, key)
		sv, serr := srv.Get(k)
		nv, nerr := native.srv.Get(k)
		if sv != nv || (serr == nil) != (nerr == nil) || srv.TTL(k) != native.srv.TTL(k) {
			t.Fatalf("call %d: stored %q (ttl %s, %v) by the script, %q (ttl %s, %v) by Go", i, sv, srv.TTL(k), serr, nv, native.srv.TTL(k), nerr)
		}
	}
	if refused < 500 || refused > 4500 {
		t.Fatalf("%d of 5000 refused: the sequence does not test both answers", refused)
	}
}
