package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/carrierbill/carrierbill/billing"
)

// The typed engine API beyond SMS: the pending-order cap and the
// per-number code guard (issue 18.1), idempotent purchases, partial
// refunds, cancel and lookup.

// A number may hold only MaxPendingOrders pending orders; asking for the
// same purchase again resends it and does not count.
func testPendingCap(t *testing.T, open Open) {
	e := newEnv(t, open, func(c *billing.Config) { c.MaxPendingOrders = 2 })
	e.buy(phoneA, open1, "VIP")
	e.buy(phoneA, open1, "10")
	if r := e.mo(phoneA, open1, "VIP"); r.Outcome != billing.OutcomeResent {
		t.Fatalf("same purchase again: %+v, want resent", r)
	}
	e.mts()
	wantReason(t, e.mo(phoneA, open1, "11"), billing.ReasonTooManyPending)
	wantContains(t, e.lastMT(phoneA), "未确认的订单")
	// Another number is not affected; an expired order frees its place.
	e.buy(phoneB, open1, "11")
	e.clock.Advance(10 * time.Minute)
	e.buy(phoneA, open1, "11")
}

// Wrong codes count per number across its orders, weighted by the pending
// codes each was compared with: two pending orders and two wrong codes
// reach the hourly cap of 3, after which even the right code confirms
// nothing until the hour ends. Before the guard, wrong codes were counted
// per order only, so opening orders bought an attacker more guesses.
func testWrongCodesPerNumber(t *testing.T, open Open) {
	e := newEnv(t, open, nil) // defaults: 3 an hour, 5 a day, 12 a month
	e.clock.Set(time.Date(2026, 3, 10, 12, 0, 0, 0, shanghai))
	_, code1 := e.buy(phoneA, catalog, "P001")
	_, code2 := e.buy(phoneA, catalog, "P002")
	wrong := "000000"
	for wrong == code1 || wrong == code2 {
		wrong = string(rune(wrong[0]+1)) + wrong[1:]
	}
	wantReason(t, e.mo(phoneA, catalog, wrong), billing.ReasonWrongCode) // weight 2
	r := e.mo(phoneA, catalog, wrong)                                    // weight 2: 4 >= 3
	if r.Reason != billing.ReasonTooManyAttempts || r.RetryAfter <= 0 {
		t.Fatalf("second wrong code: %+v, want too_many_attempts with a wait", r)
	}
	r = e.mo(phoneA, catalog, code1)
	if r.Reason != billing.ReasonTooManyAttempts || r.RetryAfter <= 0 || r.RetryAfter > time.Hour {
		t.Fatalf("right code while locked: %+v, want refused until the hour ends", r)
	}
	wantContains(t, e.lastMT(phoneA), "1小时后再试")
	if n, _ := e.charger.Debited(); n != 0 {
		t.Fatal("a locked-out number was charged")
	}
	// Another number is not locked.
	e.pay(phoneB, catalog, "P001")
	// The next hour: the number confirms again (a new order: the old ones expired).
	e.clock.Set(time.Date(2026, 3, 10, 13, 0, 0, 0, shanghai))
	e.pay(phoneA, catalog, "P003")
	// The day cap: one more wrong code (day count 4+1 = 5) locks the number
	// until midnight in Shanghai.
	_, code4 := e.buy(phoneA, catalog, "P004")
	if wrong == code4 {
		wrong = "999999"
	}
	r = e.mo(phoneA, catalog, wrong)
	if r.Reason != billing.ReasonTooManyAttempts || r.RetryAfter != 11*time.Hour {
		t.Fatalf("fifth wrong code of the day: %+v, want locked until midnight (11h)", r)
	}
}

// A keyed purchase is created once; the same key with another request is
// a conflict; lookups find it by key and by the merchant's reference.
func testIdempotentPurchase(t *testing.T, open Open) {
	e := newEnv(t, open, nil)
	req := billing.PurchaseRequest{Source: billing.Source{Channel: billing.ChannelAPI}, MSISDN: phoneA, Merchant: "8001",
		Amount: 1234, MerchantRef: "shop-1", IdempotencyKey: "k-1"}
	r1, err := e.engine.Purchase(e.ctx, req)
	if err != nil || r1.Outcome != billing.OutcomePrompted {
		t.Fatalf("Purchase: %+v, %v", r1, err)
	}
	if ms := e.mts(); len(ms) != 1 || ms[0].Kind != billing.OutboxPrompt {
		t.Fatalf("a keyed purchase sends its prompt once: %+v", ms)
	}
	r2, err := e.engine.Purchase(e.ctx, req)
	if err != nil || r2.Outcome != billing.OutcomeResent || r2.OrderID != r1.OrderID {
		t.Fatalf("same key again: %+v, %v; want order %d back", r2, err, r1.OrderID)
	}
	if ms := e.mts(); len(ms) != 0 {
		t.Fatalf("a retried keyed purchase prompted again: %+v", ms)
	}
	other := req
	other.Amount = 999
	if _, err := e.engine.Purchase(e.ctx, other); !errors.Is(err, billing.ErrIdempotencyConflict) {
		t.Fatalf("same key, other amount: %v, want ErrIdempotencyConflict", err)
	}
	for _, lr := range []billing.LookupRequest{{IdempotencyKey: "k-1"}, {Merchant: "8001", MerchantRef: "shop-1"}, {OrderID: r1.OrderID}} {
		v, err := e.engine.Lookup(e.ctx, lr)
		if err != nil || v.Order.ID != r1.OrderID || v.Order.Channel != billing.ChannelAPI || len(v.Messages) != 1 {
			t.Fatalf("Lookup(%+v) = %+v, %v", lr, v, err)
		}
	}
	if _, err := e.engine.Lookup(e.ctx, billing.LookupRequest{IdempotencyKey: "nope"}); !errors.Is(err, billing.ErrNotFound) {
		t.Fatalf("Lookup of an unknown key: %v, want ErrNotFound", err)
	}
	// Confirmed by order and code (the merchant API's validate).
	code := r1.Order.Code
	r3, err := e.engine.Confirm(e.ctx, billing.ConfirmRequest{Source: billing.Source{Channel: billing.ChannelAPI}, MSISDN: phoneA, OrderID: r1.OrderID, Code: code})
	if err != nil || r3.Outcome != billing.OutcomeCharged || r3.Quota == nil || r3.Quota.Day != 5000-1234 {
		t.Fatalf("Confirm by order: %+v, %v", r3, err)
	}
	// A code confirms only by its owner.
	r4, _ := e.engine.Purchase(e.ctx, billing.PurchaseRequest{MSISDN: phoneA, Merchant: "8001", Product: "VIP", Source: billing.Source{Channel: billing.ChannelAPI}})
	r5, err := e.engine.Confirm(e.ctx, billing.ConfirmRequest{MSISDN: phoneB, OrderID: r4.OrderID, Code: r4.Order.Code})
	if err != nil || r5.Outcome != billing.OutcomeRejected {
		t.Fatalf("another number's confirmation: %+v, %v", r5, err)
	}
}

// Refunds: partial, repeated with the same key, never more than was paid.
func testPartialRefunds(t *testing.T, open Open) {
	e := newEnv(t, open, nil)
	paid := e.pay(phoneA, open1, "10")
	refund := func(key string, amount billing.Money) (billing.Refund, error) {
		return e.engine.Refund(e.ctx, billing.RefundRequest{OrderID: paid.OrderID, Amount: amount, Reason: "partial", IdempotencyKey: key})
	}
	r1, err := refund("p-1", 300)
	if err != nil || r1.Amount != 300 {
		t.Fatalf("refund 3.00: %+v, %v", r1, err)
	}
	if again, err := refund("p-1", 300); err != nil || again.ID != r1.ID {
		t.Fatalf("same key again: %+v, %v", again, err)
	}
	if _, err := refund("p-1", 200); !errors.Is(err, billing.ErrIdempotencyConflict) {
		t.Fatalf("same key, other amount: %v", err)
	}
	if _, err := refund("p-2", 800); !errors.Is(err, billing.ErrRefundTooLarge) {
		t.Fatalf("refund beyond what was paid: %v", err)
	}
	if o := e.order(paid.OrderID); o.Status != billing.OrderPaid {
		t.Fatalf("partly refunded order is %s, want paid", o.Status)
	}
	rest, err := refund("p-3", 0)
	if err != nil || rest.Amount != 700 {
		t.Fatalf("refund the rest: %+v, %v", rest, err)
	}
	if o := e.order(paid.OrderID); o.Status != billing.OrderRefunded {
		t.Fatalf("fully refunded order is %s", o.Status)
	}
	if _, err := refund("p-4", 0); !errors.Is(err, billing.ErrNotRefundable) {
		t.Fatalf("refund after everything was refunded: %v", err)
	}
	v, err := e.engine.Lookup(e.ctx, billing.LookupRequest{OrderID: paid.OrderID})
	if err != nil || v.Refunded != 1000 || v.Charge == nil {
		t.Fatalf("Lookup after refunds: %+v, %v", v, err)
	}
}

// QX cancels the newest pending order; its code then confirms nothing.
func testCancelAndLookup(t *testing.T, open Open) {
	e := newEnv(t, open, nil)
	r, code := e.buy(phoneA, open1, "VIP")
	c := e.mo(phoneA, open1, "QX")
	if c.Outcome != billing.OutcomeCancelled || c.OrderID != r.OrderID {
		t.Fatalf("QX: %+v", c)
	}
	wantContains(t, e.lastMT(phoneA), "已取消")
	wantReason(t, e.mo(phoneA, open1, code), billing.ReasonCancelled)
	wantReason(t, e.mo(phoneA, open1, "QX"), billing.ReasonNoPendingOrder)
	if _, err := e.engine.Cancel(e.ctx, billing.CancelRequest{OrderID: r.OrderID}); !errors.Is(err, billing.ErrNotCancellable) {
		t.Fatalf("cancelling a cancelled order: %v", err)
	}
	if n, _ := e.charger.Debited(); n != 0 {
		t.Fatal("a cancelled order was charged")
	}
}
