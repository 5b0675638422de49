package settlement_test

import (
	"context"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/carrierbill/carrierbill/clock"
	"github.com/carrierbill/carrierbill/settlement"
)

// BenchmarkStatements writes one day's statements for 1,000 merchants. The
// data (payments spread over the day, 1% of them partly refunded, with
// their ledger postings) is generated in SQL before the timer starts.
// Reported: ns/op for the whole day and peak-heap-MB, the highest Go heap
// in use sampled every 5ms during the runs; compare the two sizes to see
// that memory does not grow with the number of payments.
//
//	go test -run '^$' -bench BenchmarkStatements -benchtime 1x ./settlement/
func BenchmarkStatements(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		b.Run("payments="+strconv.Itoa(n), func(b *testing.B) { benchStatements(b, n) })
	}
}

func benchStatements(b *testing.B, payments int) {
	f := newFixture(b)
	ctx := context.Background()
	day := at(2026, 11, 20, 0, 0, 0)
	setup := []string{
		`INSERT INTO orders (msisdn, merchant, product, product_name, amount_fen, method, status, code, merchant_ref, service_addr, created_at, expires_at, updated_at)
		 SELECT '86138' || lpad(i::text, 8, '0'), 'M' || lpad((i % 1000)::text, 4, '0'), 'VIP', '月度会员', 100 + i % 2900,
		        CASE WHEN i % 3 = 0 THEN 'card' ELSE 'phone' END, 'paid', '123456', 'ref-' || i, '1', ts, ts, ts
		   FROM (SELECT i, $1::timestamptz + i * interval '86 milliseconds' AS ts FROM generate_series(1, $2::int) i) s`,
		`INSERT INTO charges (order_id, idempotency_key, msisdn, merchant, amount_fen, method, status, created_at, resolved_at)
		 SELECT id, 'k' || id, msisdn, merchant, amount_fen, method, 'succeeded', created_at, created_at FROM orders`,
		`INSERT INTO ledger_entries (txn, kind, account, merchant, amount_fen, charge_id, created_at)
		 SELECT 'charge:' || id, 'payment', 'subscriber:' || method || ':' || msisdn, merchant, amount_fen, id, resolved_at FROM charges
		 UNION ALL
		 SELECT 'charge:' || id, 'payment', 'merchant:' || merchant || ':payable', merchant, -amount_fen, id, resolved_at FROM charges`,
		`INSERT INTO refunds (charge_id, idempotency_key, amount_fen, reason, created_at)
		 SELECT id, 'r' || id, 50, 'customer', resolved_at + interval '1 minute' FROM charges WHERE id % 100 = 0 AND resolved_at < $1::timestamptz + interval '23 hours'`,
		`INSERT INTO ledger_entries (txn, kind, account, merchant, amount_fen, charge_id, refund_id, created_at)
		 SELECT 'refund:' || r.id, 'refund', 'merchant:' || c.merchant || ':payable', c.merchant, r.amount_fen, c.id, r.id, r.created_at FROM refunds r JOIN charges c ON c.id = r.charge_id
		 UNION ALL
		 SELECT 'refund:' || r.id, 'refund', 'subscriber:' || c.method || ':' || c.msisdn, c.merchant, -r.amount_fen, c.id, r.id, r.created_at FROM refunds r JOIN charges c ON c.id = r.charge_id`,
		`ANALYZE`,
	}
	for i, q := range setup {
		var args []any
		switch i {
		case 0:
			args = []any{day, payments}
		case 3:
			args = []any{day}
		}
		if _, err := f.pool.Exec(ctx, q, args...); err != nil {
			b.Fatalf("generating the day: %v", err)
		}
	}
	r := newRunner(b, f, b.TempDir(), clock.NewFake(at(2026, 11, 21, 2, 0, 0)), nil)

	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	runtime.GC()
	b.ResetTimer()
	for b.Loop() {
		res, err := r.Generate(ctx, settlement.JobStatements, "2026-11-20", "")
		if err != nil {
			b.Fatal(err)
		}
		if res.Merchants != 1000 {
			b.Fatalf("%d merchants", res.Merchants)
		}
	}
	b.StopTimer()
	close(stop)
	wg.Wait()
	b.ReportMetric(float64(peak.Load())/(1<<20), "peak-heap-MB")
	b.ReportMetric(float64(payments), "payments")
}
