package postgres_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/billing/postgres"
	"github.com/carrierbill/carrierbill/billing/storetest"
	"github.com/carrierbill/carrierbill/clock"
	"github.com/carrierbill/carrierbill/sms"
)

// BenchmarkPurchaseConfirm measures confirmed payments through the engine
// on Postgres with the phone-account charger: each op is a purchase (order,
// prompt) and a confirmation (quota reservation, debit, finalize, receipt)
// for a distinct phone number, run in parallel.
//
//	go test -run '^$' -bench PurchaseConfirm -benchtime 2000x ./billing/postgres
func BenchmarkPurchaseConfirm(b *testing.B) {
	ctx := context.Background()
	pool := migrated(b)
	clk := clock.NewFake(time.Date(2026, 3, 10, 4, 0, 0, 0, time.UTC))
	store := postgres.NewStore(pool)
	cfg := storetest.Config()
	_, ch, err := sms.NewEngine(billing.Options{Config: cfg, Store: store, Clock: clk, Limiter: billing.NewMemoryLimiter(clk),
		Charger: postgres.NewAccounts(pool, clk, billing.AccountsOptions{AutoOpen: true, CreditLimit: 10000})}, sms.TextConfig{ExpiryNotice: true}, sms.Options{})
	if err != nil {
		b.Fatal(err)
	}
	var n atomic.Int64
	b.SetParallelism(16) // 32 goroutines on 2 cores: the work waits on Postgres
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			phone := fmt.Sprintf("86139%08d", n.Add(1))
			r, err := ch.Handle(ctx, billing.InboundMO{MSISDN: phone, ServiceAddr: "106580088001", Body: "VIP"})
			if err != nil || r.Outcome != billing.OutcomePrompted {
				b.Errorf("purchase: %+v, %v", r, err)
				return
			}
			var code string
			if err := store.InTx(ctx, func(tx billing.Tx) error {
				o, err := tx.GetOrder(ctx, r.OrderID)
				code = o.Code
				return err
			}); err != nil {
				b.Error(err)
				return
			}
			r, err = ch.Handle(ctx, billing.InboundMO{MSISDN: phone, ServiceAddr: "106580088001", Body: code})
			if err != nil || r.Outcome != billing.OutcomeCharged {
				b.Errorf("confirm: %+v, %v", r, err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "payments/s")
}
