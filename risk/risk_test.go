package risk

import (
	"context"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	goredis "github.com/redis/go-redis/v9"

	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/clock"
	"github.com/carrierbill/carrierbill/internal/dbtest"
)

// backend opens a Risk on one kind of Redis with its own key prefix.
type backend struct {
	name string
	open func(t testing.TB, o Options) *Risk
}

var backends = []backend{
	{"redis", func(t testing.TB, o Options) *Risk {
		t.Helper()
		_, prefix := dbtest.Redis(t)
		o.KeyPrefix = prefix
		return mustOpen(t, dbtest.RedisURL(), o)
	}},
	{"miniredis", func(t testing.TB, o Options) *Risk {
		t.Helper()
		srv := miniredis.NewMiniRedis()
		if err := srv.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(srv.Close)
		o.KeyPrefix = "test:risk:"
		return mustOpen(t, "redis://"+srv.Addr(), o)
	}},
}

func mustOpen(t testing.TB, url string, o Options) *Risk {
	t.Helper()
	if o.Timeout == 0 {
		o.Timeout = 5 * time.Second // -race on a shared machine
	}
	r, err := Open(url, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// start is a Wednesday 10:00 in Shanghai, away from the unusual hours.
var start = time.Date(2026, 3, 4, 10, 0, 0, 0, shanghai)

var shanghai = func() *time.Location {
	l, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		panic(err)
	}
	return l
}()

func TestSmoke(t *testing.T) {
	t.Parallel()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			clk := clock.NewFake(start)
			r := b.open(t, Options{Rules: DefaultRules(), Clock: clk, Location: shanghai})
			ctx := context.Background()
			v, err := r.Assess(ctx, billing.RiskCheck{Stage: billing.RiskPurchase, MSISDN: "+8613800000001", Merchant: "8001", Amount: 1000, Method: billing.MethodPhone, At: clk.Now()})
			if err != nil || len(v.Findings) != 0 {
				t.Fatalf("purchase: %+v %v", v, err)
			}
			v, err = r.Assess(ctx, billing.RiskCheck{Stage: billing.RiskConfirm, Channel: billing.ChannelSMS, MSISDN: "+8613800000001", Merchant: "8001",
				Amount: 1000, Method: billing.MethodPhone, At: clk.Now().Add(time.Second), ByCode: true, PromptedAt: clk.Now()})
			if err != nil || v.Action() != billing.RiskFreshCode {
				t.Fatalf("fast confirm: %+v %v", v, err)
			}
			if err := r.Learn(ctx, billing.RiskOutcome{Kind: billing.RiskOutcomeCharged, MSISDN: "+8613800000001", Merchant: "8001", Amount: 1000, Method: billing.MethodPhone, At: clk.Now()}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

var _ = goredis.Nil
