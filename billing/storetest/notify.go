package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/sms"
)

// RunNotify runs the conformance cases of the merchant API's rows and the
// notification outbox (billing/notify.go): rows written by an EventHook in
// the engine's transaction (all or nothing), per-merchant uniqueness,
// event-id deduplication, claims with leases that never overlap, delivery,
// retry and giving up, and the listings.
func RunNotify(t *testing.T, open Open) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, open Open)
	}{
		{"HookWritesInTheTransaction", testHookAtomic},
		{"PerMerchantUniqueness", testAPIUnique},
		{"NotificationLifecycle", testNotificationLifecycle},
		{"ConcurrentClaimsNeverOverlap", testNotificationClaims},
		{"PaymentListing", testAPIPaymentListing},
		{"Refunds", testAPIRefunds},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, open)
		})
	}
}

type apiCtxKey struct{}

// notifyEnv is an engine whose hook records an API payment on the prompt
// of an order made with a payment in its context, and a notification on
// every receipt, refusal and refund of such an order.
type notifyEnv struct {
	*env
	failHook bool
}

func newNotifyEnv(t *testing.T, open Open) *notifyEnv {
	t.Helper()
	n := &notifyEnv{env: newEnv(t, open, nil)}
	eng, ch, err := sms.NewEngine(billing.Options{Config: Config(), Store: n.store, Charger: n.charger, Limiter: n.limiter, Clock: n.clock,
		EventHook: n.hook}, sms.TextConfig{}, sms.Options{})
	if err != nil {
		t.Fatalf("NewEngine: %v", err)
	}
	n.engine, n.sms = eng, ch
	return n
}

func (n *notifyEnv) hook(ctx context.Context, tx billing.Tx, ev billing.Event) error {
	if ev.Order == nil || ev.Order.Channel != billing.ChannelAPI {
		return nil
	}
	if ev.Kind == billing.EventPrompt {
		p, ok := ctx.Value(apiCtxKey{}).(billing.APIPayment)
		if !ok {
			return nil
		}
		p.OrderID = ev.Order.ID
		if err := tx.InsertAPIPayment(ctx, p); err != nil {
			return err
		}
		if n.failHook {
			return errors.New("hook failed")
		}
		return nil
	}
	p, err := tx.APIPaymentOfOrder(ctx, ev.Order.ID)
	if errors.Is(err, billing.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	id := fmt.Sprintf("%d-%s", ev.Order.ID, ev.Kind)
	if ev.Refund != nil {
		id = fmt.Sprintf("refund-%d", ev.Refund.ID)
		if r, ok := ctx.Value(apiCtxKey{}).(billing.APIRefund); ok {
			r.RefundID, r.OrderID = ev.Refund.ID, ev.Order.ID
			if err := tx.InsertAPIRefund(ctx, r); err != nil {
				return err
			}
		}
	}
	now := n.clock.Now()
	_, err = tx.EnqueueNotification(ctx, billing.Notification{EventID: id, Merchant: p.Merchant, OrderID: ev.Order.ID, Sink: p.Sink,
		SinkToken: p.SinkToken, Body: []byte(`{"id":"` + id + `"}`), CreatedAt: now, NextAt: now})
	return err
}

// prepare is a merchant API purchase carrying p to the hook.
func (n *notifyEnv) prepare(p billing.APIPayment, msisdn string, amount billing.Money) (billing.Result, error) {
	return n.prepareKey(p, msisdn, amount, "api:"+p.Merchant+":"+p.ReferenceCode)
}

func (n *notifyEnv) prepareKey(p billing.APIPayment, msisdn string, amount billing.Money, key string) (billing.Result, error) {
	ctx := context.WithValue(n.ctx, apiCtxKey{}, p)
	return n.engine.Purchase(ctx, billing.PurchaseRequest{Source: billing.Source{Channel: billing.ChannelAPI}, MSISDN: msisdn,
		Merchant: p.Merchant, Amount: amount, MerchantRef: p.ReferenceCode, IdempotencyKey: key})
}

// prepare8002 is prepare for merchant 8002, which sells catalog products
// only.
func (n *notifyEnv) prepare8002(correlator, ref, msisdn string) (billing.Result, error) {
	ctx := context.WithValue(n.ctx, apiCtxKey{}, apiPayment("8002", correlator, ref))
	return n.engine.Purchase(ctx, billing.PurchaseRequest{Source: billing.Source{Channel: billing.ChannelAPI}, MSISDN: msisdn,
		Merchant: "8002", Product: "P001", MerchantRef: ref, IdempotencyKey: "api:8002:" + ref})
}

func apiPayment(merchant, correlator, ref string) billing.APIPayment {
	return billing.APIPayment{Merchant: merchant, Kind: billing.APITwoStep, ClientCorrelator: correlator, ReferenceCode: ref,
		RequestHash: "h-" + ref, Request: []byte(`{"referenceCode":"` + ref + `"}`), Sink: "https://sink.example/cb", SinkToken: "tok",
		CreatedAt: time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)}
}

// A hook that fails rolls back the order with its API payment; one that
// succeeds writes both, and the receipt's notification commits with the
// payment.
func testHookAtomic(t *testing.T, open Open) {
	n := newNotifyEnv(t, open)
	n.failHook = true
	if _, err := n.prepare(apiPayment("8001", "c-1", "r-1"), phoneA, 500); err == nil {
		t.Fatal("a failing hook did not fail the purchase")
	}
	if ms := n.mts(); len(ms) != 0 {
		t.Fatalf("a rolled-back purchase left MTs: %+v", ms)
	}
	if _, err := n.store.APIPaymentByReference(n.ctx, "8001", "r-1"); !errors.Is(err, billing.ErrNotFound) {
		t.Fatalf("a rolled-back purchase left its API payment: %v", err)
	}
	n.failHook = false
	r, err := n.prepare(apiPayment("8001", "c-1", "r-1"), phoneA, 500)
	if err != nil || r.Outcome != billing.OutcomePrompted {
		t.Fatalf("prepare: %+v, %v", r, err)
	}
	p, err := n.store.APIPayment(n.ctx, "8001", r.OrderID)
	if err != nil || p.ClientCorrelator != "c-1" || p.Order.Status != billing.OrderPending || p.Order.Amount != 500 ||
		p.Order.MSISDN != phoneA || string(p.Request) != `{"referenceCode":"r-1"}` || !p.PaidAt.IsZero() || p.Kind != billing.APITwoStep {
		t.Fatalf("APIPayment = %+v, %v", p, err)
	}
	if _, err := n.store.APIPayment(n.ctx, "8002", r.OrderID); !errors.Is(err, billing.ErrNotFound) {
		t.Fatalf("another merchant reads the payment: %v", err)
	}
	c, err := n.engine.Confirm(n.ctx, billing.ConfirmRequest{Source: billing.Source{Channel: billing.ChannelAPI}, MSISDN: phoneA, OrderID: r.OrderID, Code: r.Order.Code})
	if err != nil || c.Outcome != billing.OutcomeCharged {
		t.Fatalf("Confirm: %+v, %v", c, err)
	}
	ns, err := n.store.NotificationsOfOrder(n.ctx, r.OrderID)
	if err != nil || len(ns) != 1 || ns[0].Sink != "https://sink.example/cb" || ns[0].SinkToken != "tok" || !ns[0].NextAt.Equal(n.clock.Now()) {
		t.Fatalf("notifications after the receipt: %+v, %v", ns, err)
	}
	if p, _ = n.store.APIPayment(n.ctx, "8001", r.OrderID); p.Order.Status != billing.OrderPaid || !p.PaidAt.Equal(n.clock.Now()) {
		t.Fatalf("paid payment = %+v", p)
	}
}

// clientCorrelator and referenceCode are unique per merchant, not across
// merchants.
func testAPIUnique(t *testing.T, open Open) {
	n := newNotifyEnv(t, open)
	if _, err := n.prepare(apiPayment("8001", "c-1", "r-1"), phoneA, 500); err != nil {
		t.Fatal(err)
	}
	if _, err := n.prepare(apiPayment("8001", "c-1", "r-2"), phoneA, 600); !errors.Is(err, billing.ErrDuplicateCorrelator) {
		t.Fatalf("same correlator, same merchant: %v, want ErrDuplicateCorrelator", err)
	}
	// The same reference under another engine key: the store refuses it.
	if _, err := n.prepareKey(apiPayment("8001", "c-9", "r-1"), phoneA, 800, "other-key"); !errors.Is(err, billing.ErrDuplicateReference) {
		t.Fatalf("same reference, same merchant: %v, want ErrDuplicateReference", err)
	}
	if r, err := n.prepare8002("c-1", "r-1", phoneB); err != nil || r.Outcome != billing.OutcomePrompted {
		t.Fatalf("another merchant's correlator and reference: %+v, %v", r, err)
	}
	if ms := n.mts(); len(ms) != 2 {
		t.Fatalf("prompts: %d, want 2 (the refused purchase wrote none)", len(ms))
	}
}

// A notification: enqueued once per event id, claimed with a lease,
// retried, delivered once, or given up.
func testNotificationLifecycle(t *testing.T, open Open) {
	n := newNotifyEnv(t, open)
	now := n.clock.Now()
	enqueue := func(id string) bool {
		var wrote bool
		if err := n.store.InTx(n.ctx, func(tx billing.Tx) error {
			var err error
			wrote, err = tx.EnqueueNotification(n.ctx, billing.Notification{EventID: id, Merchant: "8001", Sink: "https://s.example/", Body: []byte("{}"), CreatedAt: now, NextAt: now})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return wrote
	}
	if !enqueue("ev-1") || enqueue("ev-1") || !enqueue("ev-2") {
		t.Fatal("an event id must be enqueued once")
	}
	got, err := n.store.ClaimNotifications(n.ctx, now, now.Add(time.Minute), 10)
	if err != nil || len(got) != 2 || got[0].EventID != "ev-1" || got[0].Attempts != 1 || got[0].OrderID != 0 || string(got[0].Body) != "{}" {
		t.Fatalf("claim: %+v, %v", got, err)
	}
	if again, _ := n.store.ClaimNotifications(n.ctx, now.Add(30*time.Second), now.Add(2*time.Minute), 10); len(again) != 0 {
		t.Fatalf("claimed under a lease: %+v", again)
	}
	if err := n.store.MarkNotificationDelivered(n.ctx, got[0].ID, now); err != nil {
		t.Fatal(err)
	}
	if err := n.store.MarkNotificationDelivered(n.ctx, got[0].ID, now.Add(time.Hour)); err != nil {
		t.Fatalf("marking delivered again: %v", err)
	}
	if err := n.store.MarkNotificationFailed(n.ctx, got[1].ID, now.Add(15*time.Second), "503", false, now); err != nil {
		t.Fatal(err)
	}
	if early, _ := n.store.ClaimNotifications(n.ctx, now.Add(14*time.Second), now.Add(time.Hour), 10); len(early) != 0 {
		t.Fatalf("claimed before its retry time: %+v", early)
	}
	retry, err := n.store.ClaimNotifications(n.ctx, now.Add(15*time.Second), now.Add(time.Hour), 10)
	if err != nil || len(retry) != 1 || retry[0].EventID != "ev-2" || retry[0].Attempts != 2 || retry[0].LastError != "503" {
		t.Fatalf("retry claim: %+v, %v", retry, err)
	}
	if err := n.store.MarkNotificationFailed(n.ctx, retry[0].ID, now.Add(time.Minute), "gone", true, now.Add(15*time.Second)); err != nil {
		t.Fatal(err)
	}
	if after, _ := n.store.ClaimNotifications(n.ctx, now.Add(48*time.Hour), now.Add(49*time.Hour), 10); len(after) != 0 {
		t.Fatalf("claimed a delivered or given-up notification: %+v", after)
	}
	if err := n.store.MarkNotificationDelivered(n.ctx, 1<<40, now); !errors.Is(err, billing.ErrNotFound) {
		t.Fatalf("marking an unknown notification: %v", err)
	}
}

// Concurrent claims never hand one notification to two dispatchers.
func testNotificationClaims(t *testing.T, open Open) {
	n := newNotifyEnv(t, open)
	now := n.clock.Now()
	const total = 40
	if err := n.store.InTx(n.ctx, func(tx billing.Tx) error {
		for i := range total {
			if _, err := tx.EnqueueNotification(n.ctx, billing.Notification{EventID: fmt.Sprint("e", i), Merchant: "8001",
				Sink: "https://s.example/", Body: []byte("{}"), CreatedAt: now, NextAt: now}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	seen := map[int64]int{}
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				got, err := n.store.ClaimNotifications(n.ctx, now, now.Add(time.Hour), 3)
				if err != nil {
					t.Error(err)
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for _, g := range got {
					seen[g.ID]++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(seen) != total {
		t.Fatalf("claimed %d notifications, want %d", len(seen), total)
	}
	for id, k := range seen {
		if k != 1 {
			t.Fatalf("notification %d claimed %d times", id, k)
		}
	}
}

// The listing: one merchant's payments, bounded by creation time, in
// either order, limited.
func testAPIPaymentListing(t *testing.T, open Open) {
	n := newNotifyEnv(t, open)
	var times []time.Time
	for i := range 4 {
		p := apiPayment("8001", fmt.Sprint("c", i), fmt.Sprint("r", i))
		p.CreatedAt = n.clock.Now()
		times = append(times, p.CreatedAt)
		if _, err := n.prepare(p, phoneA, billing.Money(100+i)); err != nil {
			t.Fatal(err)
		}
		n.clock.Advance(time.Minute)
	}
	if r, err := n.prepare8002("x", "y", phoneB); err != nil || r.Outcome != billing.OutcomePrompted {
		t.Fatal(r, err)
	}
	all, err := n.store.APIPayments(n.ctx, billing.APIPaymentQuery{Merchant: "8001", Limit: 10})
	if err != nil || len(all) != 4 || all[0].ReferenceCode != "r3" || all[3].ReferenceCode != "r0" || all[0].Order.Amount != 103 {
		t.Fatalf("newest first: %+v, %v", all, err)
	}
	asc, err := n.store.APIPayments(n.ctx, billing.APIPaymentQuery{Merchant: "8001", Asc: true, From: times[1], To: times[2], Limit: 10})
	if err != nil || len(asc) != 2 || asc[0].ReferenceCode != "r1" || asc[1].ReferenceCode != "r2" {
		t.Fatalf("bounded, oldest first: %+v, %v", asc, err)
	}
	if lim, _ := n.store.APIPayments(n.ctx, billing.APIPaymentQuery{Merchant: "8001", Limit: 1}); len(lim) != 1 {
		t.Fatalf("limit 1 gave %d", len(lim))
	}
	if p, err := n.store.APIPaymentByCorrelator(n.ctx, "8001", "c2"); err != nil || p.ReferenceCode != "r2" {
		t.Fatalf("by correlator: %+v, %v", p, err)
	}
	if _, err := n.store.APIPaymentByCorrelator(n.ctx, "8002", "c2"); !errors.Is(err, billing.ErrNotFound) {
		t.Fatalf("another merchant's correlator: %v", err)
	}
}

// API refunds are written with the engine's refund, listed per payment, and
// their correlator is unique per merchant.
func testAPIRefunds(t *testing.T, open Open) {
	n := newNotifyEnv(t, open)
	r, err := n.prepare(apiPayment("8001", "c-1", "r-1"), phoneA, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if c, err := n.engine.Confirm(n.ctx, billing.ConfirmRequest{Source: billing.Source{Channel: billing.ChannelAPI}, MSISDN: phoneA, OrderID: r.OrderID, Code: r.Order.Code}); err != nil || c.Outcome != billing.OutcomeCharged {
		t.Fatalf("Confirm: %+v, %v", c, err)
	}
	refund := func(corr, ref string, amount billing.Money) (billing.Refund, error) {
		ar := billing.APIRefund{Merchant: "8001", Kind: "partial", ClientCorrelator: corr, ReferenceCode: ref, RequestHash: "h", Request: []byte("{}"),
			Reason: "why", CreatedAt: n.clock.Now()}
		ctx := context.WithValue(n.ctx, apiCtxKey{}, ar)
		return n.engine.Refund(ctx, billing.RefundRequest{Source: billing.Source{Channel: billing.ChannelAPI}, OrderID: r.OrderID, Amount: amount,
			Reason: "why", IdempotencyKey: "api:8001:refund:" + ref})
	}
	if _, err := refund("rc-1", "rr-1", 300); err != nil {
		t.Fatal(err)
	}
	if _, err := refund("rc-1", "rr-2", 200); !errors.Is(err, billing.ErrDuplicateCorrelator) {
		t.Fatalf("a refund correlator used twice: %v", err)
	}
	if _, err := refund("rc-3", "rr-3", 700); err != nil {
		t.Fatal(err)
	}
	rs, err := n.store.APIRefunds(n.ctx, "8001", r.OrderID)
	if err != nil || len(rs) != 2 || rs[0].Refund.Amount != 300 || rs[1].Refund.Amount != 700 || rs[0].ReferenceCode != "rr-1" {
		t.Fatalf("APIRefunds: %+v, %v", rs, err)
	}
	if other, _ := n.store.APIRefunds(n.ctx, "8002", r.OrderID); len(other) != 0 {
		t.Fatalf("another merchant lists the refunds: %+v", other)
	}
	if a, err := n.store.APIRefundByCorrelator(n.ctx, "8001", "rc-3"); err != nil || a.Refund.Amount != 700 {
		t.Fatalf("refund by correlator: %+v, %v", a, err)
	}
	if ns, _ := n.store.NotificationsOfOrder(n.ctx, r.OrderID); len(ns) != 3 {
		t.Fatalf("notifications: %d, want a receipt and two refunds", len(ns))
	}
}
