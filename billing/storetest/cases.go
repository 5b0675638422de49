package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/carrierbill/carrierbill/billing"
)

func testPurchaseConfirmReceipt(t *testing.T, open Open) {
	e := newEnv(t, open, nil)
	r, code := e.buy(phoneA, open1, " １０.5元 ")
	o := e.order(r.OrderID)
	if o.Status != billing.OrderPending || o.Amount != 1050 || o.Code != code || o.Merchant != "8001" {
		t.Fatalf("order %+v", o)
	}
	r2 := e.mo(phoneA, open1, code)
	if r2.Outcome != billing.OutcomeCharged || r2.OrderID != r.OrderID {
		t.Fatalf("confirm: %+v", r2)
	}
	receipt := e.lastMT(phoneA)
	wantContains(t, receipt, "游戏中心", "10.50元", fmt.Sprint(r2.ChargeID), "39.50", "89.50")
	if o := e.order(r.OrderID); o.Status != billing.OrderPaid {
		t.Fatalf("order status %s, want paid", o.Status)
	}
	c := e.charge(r.OrderID)
	if c.Status != billing.ChargeSucceeded || c.Amount != 1050 || c.IdempotencyKey != billing.ChargeKey(r.OrderID) || c.ResolvedAt.IsZero() {
		t.Fatalf("charge %+v", c)
	}
	if q := e.quota(phoneA); q.DaySpent != 1050 || q.MonthSpent != 1050 || q.Day != "2026-03-10" || q.Month != "2026-03-01" {
		t.Fatalf("quota %+v", q)
	}
	if n, total := e.charger.Debited(); n != 1 || total != 1050 {
		t.Fatalf("charger debited %d for %s", n, total)
	}
}

func testSamePromptResent(t *testing.T, open Open) {
	e := newEnv(t, open, nil)
	r1, c1 := e.buy(phoneA, open1, "vip")
	r2, c2 := e.buy(phoneA, open1, "VIP")
	if r2.Outcome != billing.OutcomeResent || r2.OrderID != r1.OrderID || c1 != c2 {
		t.Fatalf("second purchase %+v code %s, want the same order %d and code %s resent", r2, c2, r1.OrderID, c1)
	}
	r3, _ := e.buy(phoneA, open1, "15") // same amount, but an open amount: another order
	if r3.OrderID == r1.OrderID {
		t.Fatalf("an open amount reused the product's order")
	}
}

func testWrongCodes(t *testing.T, open Open) {
	e := newEnv(t, open, nil)
	r, code := e.buy(phoneA, open1, "10")
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	wantReason(t, e.mo(phoneA, open1, wrong), billing.ReasonWrongCode)
	wantContains(t, e.lastMT(phoneA), "2")
	wantReason(t, e.mo(phoneA, open1, wrong), billing.ReasonWrongCode)
	wantContains(t, e.lastMT(phoneA), "1")
	wantReason(t, e.mo(phoneA, open1, wrong), billing.ReasonTooManyAttempts)
	if o := e.order(r.OrderID); o.Status != billing.OrderVoided || o.Attempts != 3 {
		t.Fatalf("order %+v, want voided after 3 attempts", o)
	}
	wantReason(t, e.mo(phoneA, open1, code), billing.ReasonTooManyAttempts)
	if n, _ := e.charger.Debited(); n != 0 {
		t.Fatal("a voided order was charged")
	}
}

func testExpired(t *testing.T, open Open) {
	e := newEnv(t, open, nil)
	r, code := e.buy(phoneA, open1, "10")
	e.clock.Advance(10 * time.Minute)
	wantReason(t, e.mo(phoneA, open1, code), billing.ReasonExpired)
	if o := e.order(r.OrderID); o.Status != billing.OrderExpired {
		t.Fatalf("order %s, want expired", o.Status)
	}
	// The sweep expires the untouched ones and tells the subscriber.
	r2, _ := e.buy(phoneB, open1, "VIP")
	e.clock.Advance(9 * time.Minute)
	if n, err := e.engine.ExpireOrders(e.ctx); err != nil || n != 0 {
		t.Fatalf("ExpireOrders early: %d, %v", n, err)
	}
	e.clock.Advance(time.Minute)
	if n, err := e.engine.ExpireOrders(e.ctx); err != nil || n != 1 {
		t.Fatalf("ExpireOrders: %d, %v", n, err)
	}
	wantContains(t, e.lastMT(phoneB), "会员月卡", "15.00元")
	if o := e.order(r2.OrderID); o.Status != billing.OrderExpired {
		t.Fatalf("order %s, want expired", o.Status)
	}
}

func testAlreadyPaid(t *testing.T, open Open) {
	e := newEnv(t, open, nil)
	_, code := e.buy(phoneA, open1, "10")
	// The SMSC redelivers the confirmation (lost ack): two stored MOs.
	for range 2 {
		if err := e.sms.Accept(e.ctx, billing.InboundMO{Bind: "b", MSISDN: "+" + phoneA, ServiceAddr: open1, Body: code}); err != nil {
			t.Fatal(err)
		}
	}
	rs, err := e.sms.Drain(e.ctx)
	if err != nil || len(rs) != 2 {
		t.Fatalf("Drain: %v, %v", rs, err)
	}
	if rs[0].Outcome != billing.OutcomeCharged {
		t.Fatalf("first: %+v", rs[0])
	}
	wantReason(t, rs[1], billing.ReasonAlreadyPaid)
	if n, total := e.charger.Debited(); n != 1 || total != 1000 {
		t.Fatalf("debited %d for %s, want once", n, total)
	}
	if q := e.quota(phoneA); q.DaySpent != 1000 {
		t.Fatalf("quota %+v", q)
	}
}

func testOtherNumber(t *testing.T, open Open) {
	e := newEnv(t, open, nil)
	r, code := e.buy(phoneA, open1, "10")
	wantReason(t, e.mo(phoneB, open1, code), billing.ReasonNoPendingOrder)
	if o := e.order(r.OrderID); o.Status != billing.OrderPending || o.Attempts != 0 {
		t.Fatalf("order %+v touched by another number", o)
	}
	if n, _ := e.charger.Debited(); n != 0 {
		t.Fatal("charged")
	}
}

func testRejections(t *testing.T, open Open) {
	e := newEnv(t, open, nil)
	tests := []struct {
		to, text string
		want     billing.Reason
	}{
		{"106580089999", "10", billing.ReasonUnknownMerchant},
		{"10658009", "10", billing.ReasonUnknownMerchant},
		{open1, "NOPE", billing.ReasonUnknownProduct},
		{open1, "30.01", billing.ReasonAmountOutOfRange},
		{open1, "0.09", billing.ReasonAmountOutOfRange},
		{open1, "10.555", billing.ReasonAmountOutOfRange},
		{catalog, "10", billing.ReasonUnknownProduct},
	}
	for _, tt := range tests {
		wantReason(t, e.mo(phoneA, tt.to, tt.text), tt.want)
		if tt.want == billing.ReasonAmountOutOfRange {
			wantContains(t, e.lastMT(phoneA), "0.10", "30.00")
		}
	}
}

func testPerPaymentBoundary(t *testing.T, open Open) {
	e := newEnv(t, open, nil)
	e.pay(phoneA, open1, "30.00")
	wantReason(t, e.mo(phoneB, open1, "BIG"), billing.ReasonPerPaymentLimit) // 30.01, caught at purchase
	wantContains(t, e.lastMT(phoneB), "30.00")
}

func testDailyBoundary(t *testing.T, open Open) {
	e := newEnv(t, open, nil)
	e.pay(phoneA, open1, "30")
	// Pre-check at purchase: 20.01 would make 50.01.
	wantReason(t, e.mo(phoneA, open1, "20.01"), billing.ReasonDailyLimit)
	wantContains(t, e.lastMT(phoneA), "20.00")
	// Two orders pass the pre-check; only the first fits at the charge.
	_, c1 := e.buy(phoneA, open1, "20")
	_, c2 := e.buy(phoneA, open1, "0.10")
	if r := e.mo(phoneA, open1, c1); r.Outcome != billing.OutcomeCharged {
		t.Fatalf("50.00 in a day: %+v", r)
	}
	r := e.mo(phoneA, open1, c2)
	wantReason(t, r, billing.ReasonDailyLimit)
	if o := e.order(r.OrderID); o.Status != billing.OrderFailed || o.Reason != billing.ReasonDailyLimit {
		t.Fatalf("order %+v", o)
	}
	if q := e.quota(phoneA); q.DaySpent != 5000 {
		t.Fatalf("day spent %s", q.DaySpent)
	}
}

func testDayRollover(t *testing.T, open Open) {
	e := newEnv(t, open, nil)
	e.clock.Set(time.Date(2026, 3, 10, 23, 59, 30, 0, shanghai))
	_, c1 := e.buy(phoneA, open1, "30")
	_, c2 := e.buy(phoneA, open1, "25")
	e.clock.Set(time.Date(2026, 3, 10, 23, 59, 59, 0, shanghai))
	if r := e.mo(phoneA, open1, c1); r.Outcome != billing.OutcomeCharged {
		t.Fatalf("23:59:59: %+v", r)
	}
	e.clock.Set(time.Date(2026, 3, 11, 0, 0, 0, 0, shanghai))
	if r := e.mo(phoneA, open1, c2); r.Outcome != billing.OutcomeCharged {
		t.Fatalf("00:00:00 next day counts on a new day: %+v", r)
	}
	q := e.quota(phoneA)
	if q.Day != "2026-03-11" || q.DaySpent != 2500 || q.MonthSpent != 5500 {
		t.Fatalf("quota %+v", q)
	}
	// 16:00 UTC is midnight in Shanghai: a UTC day would still be 2026-03-10.
}

func testMonthRollover(t *testing.T, open Open) {
	e := newEnv(t, open, nil)
	for i, day := range []int{28, 29, 30, 31} {
		e.clock.Set(time.Date(2026, 3, day, 12, 0, 0, 0, shanghai))
		e.pay(phoneA, open1, "25")
		_ = i
	}
	e.clock.Set(time.Date(2026, 3, 31, 23, 59, 59, 0, shanghai))
	wantReason(t, e.mo(phoneA, open1, "0.10"), billing.ReasonMonthlyLimit)
	e.clock.Set(time.Date(2026, 4, 1, 0, 0, 0, 0, shanghai))
	e.pay(phoneA, open1, "30")
	if q := e.quota(phoneA); q.Month != "2026-04-01" || q.MonthSpent != 3000 || q.DaySpent != 3000 {
		t.Fatalf("quota %+v", q)
	}
}

func testConcurrentConfirmations(t *testing.T, open Open) {
	e := newEnv(t, open, nil)
	codes := make([]string, 100)
	for i := range codes {
		_, codes[i] = e.buy(phoneA, catalog, fmt.Sprintf("P%03d", i+1))
	}
	var wg sync.WaitGroup
	results := make([]billing.Result, len(codes))
	errs := make([]error, len(codes))
	for i, code := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// ID 0: processed directly, bypassing the per-phone MO queue,
			// so only the quota row lock keeps the limits.
			results[i], errs[i] = e.sms.Handle(e.ctx, billing.InboundMO{MSISDN: phoneA, ServiceAddr: catalog, Body: code})
		}()
	}
	wg.Wait()
	charged := 0
	for i, r := range results {
		if errs[i] != nil {
			t.Fatalf("confirmation %d: %v", i, errs[i])
		}
		switch {
		case r.Outcome == billing.OutcomeCharged:
			charged++
		case r.Outcome == billing.OutcomeRejected && r.Reason == billing.ReasonDailyLimit:
		default:
			t.Errorf("confirmation %d: %+v", i, r)
		}
	}
	if n, total := e.charger.Debited(); charged != 5 || n != 5 || total != 5000 {
		t.Fatalf("charged %d (charger %d for %s), want exactly 5 for 50.00", charged, n, total)
	}
	if q := e.quota(phoneA); q.DaySpent != 5000 || q.MonthSpent != 5000 {
		t.Fatalf("quota %+v", q)
	}
}

func testMinIntervalBackstop(t *testing.T, open Open) {
	e := newEnv(t, open, func(c *billing.Config) { c.MinInterval = time.Minute })
	_, c1 := e.buy(phoneA, open1, "1")
	_, c2 := e.buy(phoneA, open1, "2")
	_, c3 := e.buy(phoneA, open1, "3")
	if r := e.mo(phoneA, open1, c1); r.Outcome != billing.OutcomeCharged {
		t.Fatalf("%+v", r)
	}
	wantReason(t, e.mo(phoneA, open1, c2), billing.ReasonTooFrequent)
	// A Redis failover lost the limiter's memory: the database still says no.
	e.engine, e.sms = e.newEngine(e.engine.Config(), billing.NewMemoryLimiter(e.clock))
	e.clock.Advance(30 * time.Second)
	wantReason(t, e.mo(phoneA, open1, c2), billing.ReasonTooFrequent)
	e.clock.Advance(30 * time.Second)
	if r := e.mo(phoneA, open1, c3); r.Outcome != billing.OutcomeCharged {
		t.Fatalf("after the interval: %+v", r)
	}
}

func testLimiterDown(t *testing.T, open Open) {
	e := newEnv(t, open, func(c *billing.Config) { c.MinInterval = time.Minute })
	r, code := e.buy(phoneA, open1, "10")
	e.limiter.SetFailure(errors.New("redis: connection refused"))
	wantReason(t, e.mo(phoneA, open1, code), billing.ReasonServiceBusy)
	if n, _ := e.charger.Debited(); n != 0 {
		t.Fatal("charged while the limiter was down")
	}
	if o := e.order(r.OrderID); o.Status != billing.OrderPending {
		t.Fatalf("order %s, want still pending", o.Status)
	}
	e.limiter.SetFailure(nil)
	if r := e.mo(phoneA, open1, code); r.Outcome != billing.OutcomeCharged {
		t.Fatalf("after recovery: %+v", r)
	}
}

func testDeclined(t *testing.T, open Open) {
	e := newEnv(t, open, nil)
	e.charger.decline[phoneA] = billing.ReasonInsufficientBalance
	r, code := e.buy(phoneA, open1, "10")
	wantReason(t, e.mo(phoneA, open1, code), billing.ReasonInsufficientBalance)
	if o := e.order(r.OrderID); o.Status != billing.OrderFailed || o.Reason != billing.ReasonInsufficientBalance {
		t.Fatalf("order %+v", o)
	}
	if c := e.charge(r.OrderID); c.Status != billing.ChargeFailed {
		t.Fatalf("charge %+v", c)
	}
	if q := e.quota(phoneA); q.DaySpent != 0 || q.MonthSpent != 0 {
		t.Fatalf("quota not released: %+v", q)
	}
}

func testRecoveryNone(t *testing.T, open Open) {
	e := newEnv(t, open, nil)
	e.charger.failBefore = 1
	r, code := e.buy(phoneA, open1, "10")
	if res := e.mo(phoneA, open1, code); res.Outcome != billing.OutcomePending {
		t.Fatalf("%+v, want pending", res)
	}
	if n, err := e.engine.Recover(e.ctx); err != nil || n != 0 {
		t.Fatalf("Recover before the threshold: %d, %v", n, err)
	}
	e.clock.Advance(e.engine.Config().RecoverAfter + time.Second)
	if n, err := e.engine.Recover(e.ctx); err != nil || n != 1 {
		t.Fatalf("Recover: %d, %v", n, err)
	}
	if c := e.charge(r.OrderID); c.Status != billing.ChargeFailed {
		t.Fatalf("charge %+v", c)
	}
	if q := e.quota(phoneA); q.DaySpent != 0 {
		t.Fatalf("quota not released: %+v", q)
	}
	// The key is closed: a late debit with it takes nothing.
	if err := e.charger.Debit(e.ctx, billing.ChargeKey(r.OrderID), phoneA, 1000); err == nil {
		t.Fatal("debit after recovery said never: accepted")
	}
}

func testRecoveryDone(t *testing.T, open Open) {
	e := newEnv(t, open, nil)
	e.charger.failAfter = 1 // debited, then the answer was lost (or the process died)
	r, code := e.buy(phoneA, open1, "10")
	if res := e.mo(phoneA, open1, code); res.Outcome != billing.OutcomePending {
		t.Fatalf("%+v, want pending", res)
	}
	e.mts()
	e.clock.Advance(e.engine.Config().RecoverAfter + time.Second)
	// Two sweeps at once (two processes) resolve it once.
	var wg sync.WaitGroup
	ns := make([]int, 2)
	for i := range ns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, err := e.engine.Recover(context.Background())
			if err != nil {
				t.Errorf("Recover: %v", err)
			}
			ns[i] = n
		}()
	}
	wg.Wait()
	if ns[0]+ns[1] != 1 {
		t.Fatalf("resolved %v, want once", ns)
	}
	if o := e.order(r.OrderID); o.Status != billing.OrderPaid {
		t.Fatalf("order %s", o.Status)
	}
	wantContains(t, e.lastMT(phoneA), "支付成功")
	if n, _ := e.charger.Debited(); n != 1 {
		t.Fatalf("debited %d", n)
	}
}

func testRefunds(t *testing.T, open Open) {
	e := newEnv(t, open, nil)
	paid := e.pay(phoneA, open1, "12.34")
	other, _ := e.buy(phoneA, open1, "5")
	if _, err := e.engine.Refund(e.ctx, billing.RefundRequest{OrderID: other.OrderID, Reason: "test", IdempotencyKey: "rk-0"}); !errors.Is(err, billing.ErrNotRefundable) {
		t.Fatalf("refund of a pending order: %v", err)
	}
	r1, err := e.engine.Refund(e.ctx, billing.RefundRequest{OrderID: paid.OrderID, Reason: "customer complaint", IdempotencyKey: "rk-1"})
	if err != nil || r1.Amount != 1234 || r1.ChargeID != paid.ChargeID {
		t.Fatalf("Refund: %+v, %v", r1, err)
	}
	r2, err := e.engine.Refund(e.ctx, billing.RefundRequest{OrderID: paid.OrderID, Reason: "customer complaint", IdempotencyKey: "rk-1"})
	if err != nil || r2.ID != r1.ID {
		t.Fatalf("repeated Refund: %+v, %v; want the first", r2, err)
	}
	if _, err := e.engine.Refund(e.ctx, billing.RefundRequest{OrderID: other.OrderID, Reason: "x", IdempotencyKey: "rk-1"}); !errors.Is(err, billing.ErrIdempotencyConflict) {
		t.Fatalf("key reused for another order: %v", err)
	}
	if _, err := e.engine.Refund(e.ctx, billing.RefundRequest{OrderID: paid.OrderID, Reason: "again", IdempotencyKey: "rk-2"}); !errors.Is(err, billing.ErrNotRefundable) {
		t.Fatalf("second refund with a new key: %v", err)
	}
	if o := e.order(paid.OrderID); o.Status != billing.OrderRefunded {
		t.Fatalf("order %s", o.Status)
	}
	wantContains(t, e.lastMT(phoneA), "12.34")
	var total billing.Money
	if err := e.store.InTx(e.ctx, func(tx billing.Tx) error {
		var err error
		total, err = tx.RefundedTotal(e.ctx, paid.ChargeID)
		return err
	}); err != nil || total != 1234 {
		t.Fatalf("RefundedTotal %s, %v", total, err)
	}
}

func testMOClaims(t *testing.T, open Open) {
	e := newEnv(t, open, nil)
	now := e.clock.Now()
	var ids []int64
	for i, from := range []string{phoneA, phoneA, phoneB, phoneA} {
		id, err := e.store.InsertMO(e.ctx, billing.InboundMO{Bind: "b", MSISDN: from, ServiceAddr: open1, Body: fmt.Sprint(i + 1), ReceivedAt: now})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	got, err := e.store.ClaimMOs(e.ctx, now, now.Add(time.Minute), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != ids[0] || got[1].ID != ids[2] || got[0].Attempts != 1 {
		t.Fatalf("first claim %+v, want the head of each number", got)
	}
	if again, err := e.store.ClaimMOs(e.ctx, now, now.Add(time.Minute), 10); err != nil || len(again) != 0 {
		t.Fatalf("second claim while leased: %+v, %v", again, err)
	}
	if err := e.store.InTx(e.ctx, func(tx billing.Tx) error { return tx.MarkMOProcessed(e.ctx, ids[0], now) }); err != nil {
		t.Fatal(err)
	}
	next, err := e.store.ClaimMOs(e.ctx, now, now.Add(time.Minute), 10)
	if err != nil || len(next) != 1 || next[0].ID != ids[1] {
		t.Fatalf("after processing the head: %+v, %v", next, err)
	}
	// A lease that ends (a dead worker) lets the MO be claimed again.
	e.clock.Advance(2 * time.Minute)
	later := e.clock.Now()
	re, err := e.store.ClaimMOs(e.ctx, later, later.Add(time.Minute), 10)
	if err != nil || len(re) != 2 || re[0].ID != ids[1] || re[0].Attempts != 2 {
		t.Fatalf("after the lease: %+v, %v", re, err)
	}
	if err := e.store.ReleaseMO(e.ctx, ids[1], later); err != nil {
		t.Fatal(err)
	}
	// Concurrent claimers never get the same MO.
	seen := map[int64]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ms, err := e.store.ClaimMOs(context.Background(), later, later.Add(time.Minute), 10)
			if err != nil {
				t.Errorf("ClaimMOs: %v", err)
			}
			mu.Lock()
			defer mu.Unlock()
			for _, m := range ms {
				seen[m.ID]++
			}
		}()
	}
	wg.Wait()
	if len(seen) != 1 || seen[ids[1]] != 1 {
		t.Fatalf("concurrent claims %v, want MO %d once", seen, ids[1])
	}
}

type flakySender struct {
	mu   sync.Mutex
	fail int
	sent map[int64]int
}

func (s *flakySender) Send(ctx context.Context, m billing.OutboundSMS) ([]billing.SentPart, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail > 0 {
		s.fail--
		return nil, errors.New("smsc: throttled")
	}
	s.sent[m.ID]++
	return nil, nil
}

func testOutbox(t *testing.T, open Open) {
	e := newEnv(t, open, nil)
	e.buy(phoneA, open1, "10")
	e.mo(phoneA, open1, "CX")
	e.mo(phoneB, open1, "VIP")
	s := &flakySender{fail: 1, sent: map[int64]int{}}
	d := &billing.Dispatcher{Store: e.store, Sender: s, Clock: e.clock, Batch: 1}
	// buy() already took the first prompt; two MTs remain.
	if n, err := d.RunOnce(e.ctx); err != nil || n != 0 {
		t.Fatalf("first run (send fails): %d, %v", n, err)
	}
	if n, err := d.RunOnce(e.ctx); err != nil || n != 1 {
		t.Fatalf("second run: %d, %v", n, err)
	}
	if n, err := d.RunOnce(e.ctx); err != nil || n != 0 {
		t.Fatalf("third run, the failed row is backing off: %d, %v", n, err)
	}
	e.clock.Advance(time.Second)
	if n, err := d.RunOnce(e.ctx); err != nil || n != 1 {
		t.Fatalf("after the backoff: %d, %v", n, err)
	}
	if n, err := d.RunOnce(e.ctx); err != nil || n != 0 {
		t.Fatalf("drained: %d, %v", n, err)
	}
	for id, n := range s.sent {
		if n != 1 {
			t.Fatalf("MT %d sent %d times", id, n)
		}
	}
	if len(s.sent) != 2 {
		t.Fatalf("sent %d MTs, want 2", len(s.sent))
	}
}

func testQuery(t *testing.T, open Open) {
	e := newEnv(t, open, nil)
	e.mo(phoneA, open1, "cx")
	wantContains(t, e.lastMT(phoneA), "50.00", "100.00", "无")
	for _, a := range []string{"1", "2", "3", "4", "5", "6"} {
		e.pay(phoneA, open1, a)
	}
	if r := e.mo(phoneA, open1, "ＣＸ"); r.Outcome != billing.OutcomeQueried {
		t.Fatalf("%+v", r)
	}
	q := e.lastMT(phoneA)
	wantContains(t, q, "29.00", "79.00", "6.00元", "2.00元")
	if strings.Contains(q, " 1.00元") {
		t.Errorf("query %q lists more than five payments", q)
	}
}
