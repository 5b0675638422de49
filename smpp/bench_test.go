package smpp_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/carrierbill/carrierbill/smpp"
	"github.com/carrierbill/carrierbill/smpp/smsc"
)

// BenchmarkSubmit measures MT submits per second through one transceiver
// bind (window 10) to the simulator on loopback.
func BenchmarkSubmit(b *testing.B) {
	sim := newSim(b, smsc.Config{})
	c := newClient(b, newConsumer(), nil, bindCfg(sim.Addr()))
	ctx := context.Background()
	if _, err := c.Submit(ctx, smpp.MT{From: "1065", To: "13800000001", Text: "warm"}); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	work := make(chan struct{})
	for range 32 {
		wg.Go(func() {
			for range work {
				if _, err := c.Submit(ctx, smpp.MT{From: "1065", To: "13800000001", Text: "您的验证码是 123456"}); err != nil {
					b.Error(err)
				}
			}
		})
	}
	for range b.N {
		work <- struct{}{}
	}
	close(work)
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "MT/s")
}

// BenchmarkMOAck measures, per MO, the time from the simulator writing
// deliver_sm to reading deliver_sm_resp (one at a time, through one bind),
// and reports p50/p99.
func BenchmarkMOAck(b *testing.B) {
	sim := newSim(b, smsc.Config{})
	newClient(b, newConsumer(), nil, bindCfg(sim.Addr()))
	ctx := context.Background()
	sm := &smpp.SM{Src: "13800000001", Dst: "106580088001", ShortMessage: []byte("10")}
	if _, err := sim.Deliver(ctx, "", sm, 0); err != nil {
		b.Fatal(err)
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		st, err := sim.Deliver(ctx, "", sm, 0)
		if err != nil || st != 0 {
			b.Fatal(st, err)
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)*50/100].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[min(len(lat)-1, len(lat)*99/100)].Microseconds()), "p99-µs")
}
