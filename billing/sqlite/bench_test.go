package sqlite

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/billing/storetest"
	"github.com/carrierbill/carrierbill/clock"
	"github.com/carrierbill/carrierbill/sms"
)

// BenchmarkInsertMO measures one durable write transaction (the MO insert
// that runs before an ack): it is bounded by the fsync of the WAL.
func BenchmarkInsertMO(b *testing.B) {
	s := openTest(b)
	ctx := context.Background()
	mo := billing.InboundMO{Bind: "b", MSISDN: "8613800000001", ServiceAddr: "106580088001", Body: "10", ReceivedAt: time.Unix(1, 0)}
	b.ResetTimer()
	for b.Loop() {
		if _, err := s.InsertMO(ctx, mo); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkConfirmedPayment measures confirmed payments through the real
// engine on SQLite: per op, a purchase MO (stored, prompted, prompt MT in
// the outbox) and the confirmation MO (stored, quota reserved, phone account debited on the same
// database, finalized with ledger and receipt). Run in parallel by
// 4×GOMAXPROCS goroutines (serve runs 8 engine workers on this 2-core
// machine), each paying from its own numbers.
func BenchmarkConfirmedPayment(b *testing.B) {
	s := openTest(b)
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2026, 3, 10, 12, 0, 0, 0, time.FixedZone("CST", 8*3600)))
	_, ch, err := sms.NewEngine(billing.Options{
		Config:  storetest.Config(),
		Store:   s,
		Charger: NewAccounts(s, clk, billing.AccountsOptions{AutoOpen: true, CreditLimit: billing.Yuan(1_000_000)}),
		Limiter: billing.NewMemoryLimiter(clk),
		Clock:   clk,
	}, sms.TextConfig{ExpiryNotice: true}, sms.Options{})
	if err != nil {
		b.Fatal(err)
	}
	var next atomic.Int64
	// Each MO is stored durably (what runs before the ack) and processed
	// by id, as a worker does after its claim; the claim itself (one more
	// short write transaction per MO in serve) is not in the figure.
	handle := func(mo billing.InboundMO) billing.Result {
		id, err := s.InsertMO(ctx, mo)
		if err != nil {
			b.Fatal(err)
		}
		mo.ID = id
		r, err := ch.Handle(ctx, mo)
		if err != nil {
			b.Fatalf("Process(%q): %v", mo.Body, err)
		}
		return r
	}
	b.SetParallelism(4)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			// A new number every payment: the limits stay out of the way.
			phone := fmt.Sprintf("86139%08d", next.Add(1))
			mo := billing.InboundMO{Bind: "bench", MSISDN: phone, ServiceAddr: "106580088001", Body: "10", ReceivedAt: clk.Now()}
			r := handle(mo)
			if r.Outcome != billing.OutcomePrompted {
				b.Fatalf("purchase: %+v", r)
			}
			var code string
			if err := s.InTx(ctx, func(tx billing.Tx) error {
				o, err := tx.GetOrder(ctx, r.OrderID)
				code = o.Code
				return err
			}); err != nil {
				b.Fatal(err)
			}
			mo.Body = code
			if r := handle(mo); r.Outcome != billing.OutcomeCharged {
				b.Fatalf("confirmation: %+v", r)
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "payments/s")
}
