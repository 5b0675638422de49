package ocs_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/carrierbill/carrierbill/ocs"
	"github.com/carrierbill/carrierbill/ocs/ocssim"
)

// BenchmarkCharge measures whole charges (CCR-I reserve + CCR-T debit,
// two round trips over TCP) through the OCS simulator, from 32 concurrent
// payers on one Diameter connection. It reports charges/s.
//
//	go test -run '^$' -bench BenchmarkCharge -benchtime 20000x -count 5 ./ocs/
func BenchmarkCharge(b *testing.B) {
	sim := ocssim.New("ocs1.sim.test", "sim.test", nil)
	sim.SetAutoOpen(1 << 40)
	if err := sim.Listen("127.0.0.1:0"); err != nil {
		b.Fatal(err)
	}
	defer sim.Close()
	retries := 0
	ch, err := ocs.New(ocs.Options{
		Client: ocs.ClientOptions{OriginHost: "gw1.carrierbill.test", OriginRealm: "carrierbill.test", DestinationRealm: "sim.test",
			Peers: []ocs.Peer{{Addr: sim.Addr()}}, AnswerTimeout: 5 * time.Second, Retries: &retries},
		ServiceContextID: "32274@3gpp.org",
		Default:          ocs.Service{Identifier: 1, RatingGroup: 1},
	})
	if err != nil {
		b.Fatal(err)
	}
	defer ch.Close()
	ctx := context.Background()
	if err := ch.Client().WaitOpen(ctx); err != nil {
		b.Fatal(err)
	}
	var seq atomic.Int64
	b.SetParallelism(16) // × GOMAXPROCS goroutines
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			n := seq.Add(1)
			if err := ch.Debit(ctx, fmt.Sprintf("bench:%d", n), fmt.Sprintf("+86139%08d", n%1000), 100); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "charges/s")
	if sim.Debits() != b.N {
		b.Fatalf("%d debits for %d charges", sim.Debits(), b.N)
	}
}
