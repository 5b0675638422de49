package redis_test

import (
	"context"
	"fmt"
	"time"

	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/billing/redis"
	"github.com/carrierbill/carrierbill/clock"
)

// Replay drives the embedded limiter with a virtual clock: the decisions are
// those the production limiter would give at the trace's instants.
func ExampleNewEmbedded() {
	clk := clock.NewFake(time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC))
	lim, err := redis.NewEmbedded(clk, redis.Options{Prefix: "replay:"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer lim.Close()

	minInterval := billing.Rule{Name: "min_interval", Limit: 1, Period: time.Minute}
	for _, after := range []time.Duration{0, 59 * time.Second, time.Second} {
		clk.Advance(after)
		d, err := lim.Allow(context.Background(), minInterval, "8613800000001")
		if err != nil {
			fmt.Println("service busy:", err)
			continue
		}
		fmt.Printf("%s allowed=%v retry_after=%s\n", clk.Now().Format("15:04:05"), d.Allowed, d.RetryAfter)
	}
	// Output:
	// 10:00:00 allowed=true retry_after=0s
	// 10:00:59 allowed=false retry_after=1s
	// 10:01:00 allowed=true retry_after=0s
}
