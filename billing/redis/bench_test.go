package redis

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/clock"
	"github.com/carrierbill/carrierbill/internal/dbtest"
)

// BenchmarkAllow measures one Allow (one EVALSHA round trip) on distinct
// keys, from parallel goroutines, on the shared Redis and on the embedded
// miniredis.
//
//	go test -run '^$' -bench Allow -benchmem ./billing/redis/
func BenchmarkAllow(b *testing.B) {
	rule := billing.Rule{Name: "bench", Limit: 5, Period: time.Hour}
	run := func(b *testing.B, l billing.Limiter) {
		var n atomic.Int64
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				key := fmt.Sprintf("86138%08d", n.Add(1))
				if _, err := l.Allow(context.Background(), rule, key); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	b.Run("redis", func(b *testing.B) {
		_, prefix := dbtest.Redis(b)
		l, err := Open(testRedisURL(), Options{Prefix: prefix, Timeout: time.Second})
		if err != nil {
			b.Fatal(err)
		}
		defer l.Close()
		run(b, l)
		// Keys expire after one hour at most; delete them now.
		b.StopTimer()
		l.client.Eval(context.Background(),
			`for _, k in ipairs(redis.call('KEYS', ARGV[1])) do redis.call('DEL', k) end return 0`,
			nil, prefix+"*")
	})
	b.Run("miniredis", func(b *testing.B) {
		e, err := NewEmbedded(clock.Real{}, Options{Timeout: time.Second})
		if err != nil {
			b.Fatal(err)
		}
		defer e.Close()
		run(b, e)
	})
}
