package risk

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/carrierbill/carrierbill/billing"
)

// BenchmarkAssess measures one purchase Assess and one confirm Assess (each
// one pipelined round trip) with the default rules and balances, on
// distinct numbers, from parallel goroutines, on the shared Redis and on
// the embedded miniredis.
//
//	go test -run '^$' -bench Assess -benchmem ./risk/
func BenchmarkAssess(b *testing.B) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			r := be.open(b, Options{Rules: DefaultRules(), Location: shanghai, Balances: balances{}})
			var n atomic.Int64
			at := start
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := n.Add(1)
					c := billing.RiskCheck{Stage: billing.RiskPurchase, Channel: billing.ChannelSMS, MSISDN: fmt.Sprintf("+86138%08d", i),
						Merchant: fmt.Sprint(8000 + i%50), Amount: 1000, Method: billing.MethodPhone, At: at}
					if i%2 == 0 {
						c.Stage, c.ByCode, c.PromptedAt, c.OrderID = billing.RiskConfirm, true, at.Add(-30*time.Second), i
					}
					if _, err := r.Assess(context.Background(), c); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
