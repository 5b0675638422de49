package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/carrierbill/carrierbill/billing"
)

// RunRisk runs the storage cases of the risk rules (issue 15,
// billing.RiskTx and billing.RiskStore) on the store open returns: the
// decisions and every filter of their query, the block and allow lists
// (one active entry, ended and expired entries, the lookup by number,
// prefix and merchant, concurrent adds), fresh codes, holds and their
// resolution, and the orders' new columns through every read.
func RunRisk(t *testing.T, open Open) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, r *riskEnv)
	}{
		{"Decisions", testRiskDecisions},
		{"ListOneActive", testRiskListOneActive},
		{"ListExpiredByTime", testRiskListExpired},
		{"Listed", testRiskListed},
		{"ConcurrentAdds", testRiskConcurrentAdds},
		{"RenewOrderCode", testRenewOrderCode},
		{"HoldDecision", testHoldDecision},
		{"HoldResolvedOnce", testHoldResolvedOnce},
		{"HeldOrders", testHeldOrders},
		{"OrderColumnsEveryRead", testOrderRiskColumns},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, &riskEnv{t: t, ctx: context.Background(), store: open(t)})
		})
	}
}

// riskT0 is the suite's clock: whole seconds, which every store keeps
// exactly.
var riskT0 = time.Date(2026, 3, 10, 4, 0, 0, 0, time.UTC)

type riskEnv struct {
	t     *testing.T
	ctx   context.Context
	store billing.Store
}

// tx runs fn in a transaction and fails the test on an error.
func (r *riskEnv) tx(fn func(tx billing.Tx) error) {
	r.t.Helper()
	if err := r.store.InTx(r.ctx, fn); err != nil {
		r.t.Fatal(err)
	}
}

// order stores an order of msisdn (pending unless status says otherwise)
// and returns it as read back.
func (r *riskEnv) order(msisdn string, status billing.OrderStatus, mod func(*billing.Order)) billing.Order {
	r.t.Helper()
	o := billing.Order{MSISDN: msisdn, Merchant: "8001", Product: "GEM", ProductName: "宝石", Amount: 500,
		Method: billing.MethodPhone, Status: status, Code: "123456", ServiceAddr: "106580088001",
		Channel: billing.ChannelSMS, CreatedAt: riskT0, ExpiresAt: riskT0.Add(10 * time.Minute), UpdatedAt: riskT0}
	if mod != nil {
		mod(&o)
	}
	r.tx(func(tx billing.Tx) error {
		id, err := tx.InsertOrder(r.ctx, o)
		if err != nil {
			return err
		}
		o, err = tx.GetOrder(r.ctx, id)
		return err
	})
	return o
}

func (r *riskEnv) decide(d billing.RiskDecision) billing.RiskDecision {
	r.t.Helper()
	r.tx(func(tx billing.Tx) error {
		var err error
		d.ID, err = tx.InsertRiskDecision(r.ctx, d)
		return err
	})
	return d
}

func (r *riskEnv) add(e billing.RiskListEntry) (int64, error) {
	r.t.Helper()
	var id int64
	err := r.store.InTx(r.ctx, func(tx billing.Tx) error {
		var err error
		id, err = tx.AddRiskListEntry(r.ctx, e)
		return err
	})
	return id, err
}

func (r *riskEnv) listed(msisdn, merchant string, now time.Time) []billing.RiskListEntry {
	r.t.Helper()
	var es []billing.RiskListEntry
	r.tx(func(tx billing.Tx) error {
		var err error
		es, err = tx.RiskListed(r.ctx, msisdn, merchant, now)
		return err
	})
	return es
}

func (r *riskEnv) decisions(q billing.RiskDecisionQuery) []int64 {
	r.t.Helper()
	ds, err := r.store.RiskDecisions(r.ctx, q)
	if err != nil {
		r.t.Fatalf("RiskDecisions(%+v): %v", q, err)
	}
	ids := make([]int64, len(ds))
	for i, d := range ds {
		ids[i] = d.ID
	}
	return ids
}

func entryIDs(es []billing.RiskListEntry) []int64 {
	ids := make([]int64, len(es))
	for i, e := range es {
		ids[i] = e.ID
	}
	return ids
}

func sameIDs(a, b []int64) bool { return fmt.Sprint(a) == fmt.Sprint(b) }

// sameTime compares times by instant (the stores read back UTC).
func sameTime(a, b time.Time) bool { return a.Equal(b) && a.IsZero() == b.IsZero() }

func testRiskDecisions(t *testing.T, r *riskEnv) {
	o := r.order("+8613800000001", billing.OrderPending, nil)
	d1 := r.decide(billing.RiskDecision{At: riskT0, Stage: billing.RiskPurchase, Rule: "number_velocity", Action: billing.RiskAllow,
		Evidence: "6 purchases in 1m", MSISDN: "+8613800000001", Merchant: "8001", Amount: 500})
	d2 := r.decide(billing.RiskDecision{At: riskT0.Add(time.Minute), Stage: billing.RiskConfirm, Rule: "fast_confirmation",
		Action: billing.RiskHold, Evidence: "confirmed 800ms after the prompt", MSISDN: "+8613800000001", Merchant: "8001",
		OrderID: o.ID, Amount: 500})
	d3 := r.decide(billing.RiskDecision{At: riskT0.Add(2 * time.Minute), Stage: billing.RiskPurchase, Rule: "list",
		Action: billing.RiskBlock, Evidence: "listed: merchant", MSISDN: "+8613800000002", Merchant: "8002"})
	d4 := r.decide(billing.RiskDecision{At: riskT0.Add(3 * time.Minute), Stage: billing.RiskConfirm, Rule: "fast_confirmation",
		Action: billing.RiskHold, MSISDN: "+8613800000002", Merchant: "8002", OrderID: o.ID, Amount: 500,
		Resolution: "refused", ResolvedBy: "operator:li", ResolvedAt: riskT0.Add(4 * time.Minute)})

	all, err := r.store.RiskDecisions(r.ctx, billing.RiskDecisionQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 4 {
		t.Fatalf("%d decisions, want 4", len(all))
	}
	for i, want := range []billing.RiskDecision{d1, d2, d3, d4} {
		got := all[i]
		if !sameTime(got.At, want.At) || !sameTime(got.ResolvedAt, want.ResolvedAt) {
			t.Errorf("decision %d: at %v resolved %v, want %v and %v", i, got.At, got.ResolvedAt, want.At, want.ResolvedAt)
		}
		got.At, got.ResolvedAt, want.At, want.ResolvedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
		if got != want {
			t.Errorf("decision %d read back as\n%+v, want\n%+v", i, got, want)
		}
	}

	for _, c := range []struct {
		name string
		q    billing.RiskDecisionQuery
		want []int64
	}{
		{"all", billing.RiskDecisionQuery{}, []int64{d1.ID, d2.ID, d3.ID, d4.ID}},
		{"from (inclusive)", billing.RiskDecisionQuery{From: riskT0.Add(time.Minute)}, []int64{d2.ID, d3.ID, d4.ID}},
		{"to (exclusive)", billing.RiskDecisionQuery{To: riskT0.Add(2 * time.Minute)}, []int64{d1.ID, d2.ID}},
		{"from and to", billing.RiskDecisionQuery{From: riskT0.Add(time.Minute), To: riskT0.Add(3 * time.Minute)}, []int64{d2.ID, d3.ID}},
		{"action", billing.RiskDecisionQuery{Action: billing.RiskHold}, []int64{d2.ID, d4.ID}},
		{"rule", billing.RiskDecisionQuery{Rule: "list"}, []int64{d3.ID}},
		{"number", billing.RiskDecisionQuery{MSISDN: "+8613800000002"}, []int64{d3.ID, d4.ID}},
		{"merchant", billing.RiskDecisionQuery{Merchant: "8001"}, []int64{d1.ID, d2.ID}},
		{"waiting", billing.RiskDecisionQuery{Waiting: true}, []int64{d2.ID}},
		{"limit", billing.RiskDecisionQuery{Limit: 3}, []int64{d1.ID, d2.ID, d3.ID}},
		{"combined", billing.RiskDecisionQuery{Rule: "fast_confirmation", MSISDN: "+8613800000002"}, []int64{d4.ID}},
		{"none", billing.RiskDecisionQuery{Merchant: "9999"}, []int64{}},
	} {
		if got := r.decisions(c.q); !sameIDs(got, c.want) {
			t.Errorf("%s: decisions %v, want %v", c.name, got, c.want)
		}
	}
}

func testRiskListOneActive(t *testing.T, r *riskEnv) {
	e := billing.RiskListEntry{List: billing.RiskBlockList, Subject: billing.RiskNumber, Value: "+8613800000001",
		Until: riskT0.Add(time.Hour), Note: "fast_confirmation", CreatedBy: "rule:fast_confirmation", CreatedAt: riskT0}
	id, err := r.add(e)
	if err != nil {
		t.Fatal(err)
	}
	forever := e
	forever.Until, forever.CreatedBy, forever.CreatedAt = time.Time{}, "operator:li", riskT0.Add(time.Minute)
	if _, err := r.add(forever); !errors.Is(err, billing.ErrRiskListEntryExists) {
		t.Fatalf("a second active entry: %v, want ErrRiskListEntryExists", err)
	}
	// The same value on the other list, or as another subject, is another entry.
	allow := e
	allow.List = billing.RiskAllowList
	if _, err := r.add(allow); err != nil {
		t.Fatalf("the allow list: %v", err)
	}
	merchant := e
	merchant.Subject, merchant.Value = billing.RiskMerchant, "8001"
	if _, err := r.add(merchant); err != nil {
		t.Fatal(err)
	}

	var n int
	r.tx(func(tx billing.Tx) error {
		var err error
		n, err = tx.EndRiskListEntries(r.ctx, billing.RiskBlockList, billing.RiskNumber, "+8613800000001", riskT0.Add(2*time.Minute))
		return err
	})
	if n != 1 {
		t.Fatalf("ended %d entries, want 1", n)
	}
	r.tx(func(tx billing.Tx) error {
		var err error
		n, err = tx.EndRiskListEntries(r.ctx, billing.RiskBlockList, billing.RiskNumber, "+8613800000001", riskT0.Add(3*time.Minute))
		return err
	})
	if n != 0 {
		t.Fatalf("ended %d entries again, want 0", n)
	}
	forever.CreatedAt = riskT0.Add(3 * time.Minute)
	id2, err := r.add(forever)
	if err != nil {
		t.Fatalf("a new entry after the old one ended: %v", err)
	}
	if _, err := r.add(forever); !errors.Is(err, billing.ErrRiskListEntryExists) {
		t.Fatalf("a second entry without an end: %v, want ErrRiskListEntryExists", err)
	}

	now := riskT0.Add(4 * time.Minute)
	active, err := r.store.RiskListEntries(r.ctx, billing.RiskBlockList, now, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(active) != 2 || active[0].Subject != billing.RiskMerchant || active[1].ID != id2 {
		t.Fatalf("active block entries %+v, want the merchant then %d", active, id2)
	}
	got := active[1]
	if got.List != forever.List || got.Subject != forever.Subject || got.Value != forever.Value || !got.Until.IsZero() ||
		got.Note != forever.Note || got.CreatedBy != forever.CreatedBy || !sameTime(got.CreatedAt, forever.CreatedAt) {
		t.Errorf("entry read back as %+v, want %+v", got, forever)
	}
	history, err := r.store.RiskListEntries(r.ctx, billing.RiskBlockList, now, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(history) != 3 || history[0].ID != id || !sameTime(history[0].Until, riskT0.Add(2*time.Minute)) {
		t.Fatalf("block list history %+v: want 3 entries, the first (%d) ended at %v", history, id, riskT0.Add(2*time.Minute))
	}
	both, err := r.store.RiskListEntries(r.ctx, "", now, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(both) != 3 {
		t.Fatalf("both lists: %d active entries, want 3", len(both))
	}
}

func testRiskListExpired(t *testing.T, r *riskEnv) {
	e := billing.RiskListEntry{List: billing.RiskBlockList, Subject: billing.RiskPrefix, Value: "+86138",
		Until: riskT0.Add(time.Hour), CreatedBy: "rule:prefix_velocity", CreatedAt: riskT0}
	id, err := r.add(e)
	if err != nil {
		t.Fatal(err)
	}
	end := riskT0.Add(time.Hour)
	if got := r.listed("+8613800000001", "", end.Add(-time.Second)); !sameIDs(entryIDs(got), []int64{id}) {
		t.Fatalf("listed a second before the end: %v, want [%d]", entryIDs(got), id)
	}
	if got := r.listed("+8613800000001", "", end); len(got) != 0 {
		t.Fatalf("listed at the end: %v, want none", entryIDs(got))
	}
	if active, err := r.store.RiskListEntries(r.ctx, "", end, false); err != nil || len(active) != 0 {
		t.Fatalf("active entries at the end: %+v, %v", active, err)
	}
	if all, err := r.store.RiskListEntries(r.ctx, "", end, true); err != nil || len(all) != 1 {
		t.Fatalf("all entries at the end: %+v, %v", all, err)
	}
	// An entry that ran out lets a new one in without being ended.
	e.CreatedAt, e.Until = end, end.Add(time.Hour)
	if _, err := r.add(e); err != nil {
		t.Fatalf("a new entry after the old one ran out: %v", err)
	}
	// Ending touches only the active one.
	var n int
	r.tx(func(tx billing.Tx) error {
		n, err = tx.EndRiskListEntries(r.ctx, billing.RiskBlockList, billing.RiskPrefix, "+86138", end.Add(time.Minute))
		return err
	})
	if n != 1 {
		t.Fatalf("ended %d entries, want 1", n)
	}
}

func testRiskListed(t *testing.T, r *riskEnv) {
	const number = "+8613812345678"
	add := func(list billing.RiskList, subject billing.RiskSubject, value string) int64 {
		t.Helper()
		id, err := r.add(billing.RiskListEntry{List: list, Subject: subject, Value: value, CreatedBy: "operator:li", CreatedAt: riskT0})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	if got := r.listed(number, "8001", riskT0); len(got) != 0 {
		t.Fatalf("listed on empty lists: %+v", got)
	}
	num := add(billing.RiskBlockList, billing.RiskNumber, number)
	pre := add(billing.RiskBlockList, billing.RiskPrefix, "+861381")
	whole := add(billing.RiskBlockList, billing.RiskPrefix, number) // a prefix as long as the number
	mer := add(billing.RiskBlockList, billing.RiskMerchant, "8001")
	allow := add(billing.RiskAllowList, billing.RiskNumber, number)
	// Entries that must not match.
	add(billing.RiskBlockList, billing.RiskNumber, "+861381234567")   // a prefix of it, as a number
	add(billing.RiskBlockList, billing.RiskNumber, "+86138123456789") // longer
	add(billing.RiskBlockList, billing.RiskPrefix, "+861382")
	add(billing.RiskBlockList, billing.RiskPrefix, "+86138123456789")
	add(billing.RiskBlockList, billing.RiskMerchant, "8002")
	add(billing.RiskBlockList, billing.RiskMerchant, "+861381") // a merchant named like the prefix
	add(billing.RiskBlockList, billing.RiskNumber, "8001")      // a number named like the merchant
	ended := add(billing.RiskBlockList, billing.RiskPrefix, "+8613")
	r.tx(func(tx billing.Tx) error {
		_, err := tx.EndRiskListEntries(r.ctx, billing.RiskBlockList, billing.RiskPrefix, "+8613", riskT0)
		return err
	})

	got := entryIDs(r.listed(number, "8001", riskT0.Add(time.Second)))
	if want := []int64{num, pre, whole, mer, allow}; !sameIDs(got, want) {
		t.Errorf("listed %v, want %v (not the ended %d)", got, want, ended)
	}
	got = entryIDs(r.listed(number, "", riskT0.Add(time.Second)))
	if want := []int64{num, pre, whole, allow}; !sameIDs(got, want) {
		t.Errorf("listed without a merchant %v, want %v", got, want)
	}
	got = entryIDs(r.listed("+8613912345678", "8003", riskT0.Add(time.Second)))
	if len(got) != 0 {
		t.Errorf("another number and merchant listed %v", got)
	}
	got = entryIDs(r.listed("+8613912345678", "8001", riskT0.Add(time.Second)))
	if !sameIDs(got, []int64{mer}) {
		t.Errorf("another number with the merchant listed %v, want [%d]", got, mer)
	}
}

func testRiskConcurrentAdds(t *testing.T, r *riskEnv) {
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e := billing.RiskListEntry{List: billing.RiskBlockList, Subject: billing.RiskMerchant, Value: "8001",
				Until: riskT0.Add(time.Duration(i+1) * time.Hour), CreatedBy: fmt.Sprintf("rule:r%d", i), CreatedAt: riskT0}
			if i%2 == 0 {
				e.Until = time.Time{}
			}
			errs[i] = r.store.InTx(r.ctx, func(tx billing.Tx) error {
				_, err := tx.AddRiskListEntry(r.ctx, e)
				return err
			})
		}()
	}
	wg.Wait()
	won := 0
	for i, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, billing.ErrRiskListEntryExists):
			t.Errorf("add %d: %v", i, err)
		}
	}
	if won != 1 {
		t.Fatalf("%d concurrent adds of one entry won, want 1", won)
	}
	if es, err := r.store.RiskListEntries(r.ctx, "", riskT0, true); err != nil || len(es) != 1 {
		t.Fatalf("entries after the race: %+v, %v", es, err)
	}
}

func testRenewOrderCode(t *testing.T, r *riskEnv) {
	o := r.order("+8613800000001", billing.OrderPending, nil)
	o.Code, o.ExpiresAt = "654321", riskT0.Add(20*time.Minute)
	o.PromptedAt, o.FreshCodes, o.UpdatedAt = riskT0.Add(5*time.Minute), 1, riskT0.Add(5*time.Minute)
	var got billing.Order
	r.tx(func(tx billing.Tx) error {
		if err := tx.RenewOrderCode(r.ctx, o); err != nil {
			return err
		}
		var err error
		got, err = tx.GetOrder(r.ctx, o.ID)
		return err
	})
	if got.Code != "654321" || got.FreshCodes != 1 || !sameTime(got.PromptedAt, o.PromptedAt) ||
		!sameTime(got.ExpiresAt, o.ExpiresAt) || !sameTime(got.UpdatedAt, o.UpdatedAt) || got.Status != billing.OrderPending {
		t.Fatalf("renewed order read back as %+v", got)
	}
	err := r.store.InTx(r.ctx, func(tx billing.Tx) error {
		missing := o
		missing.ID = o.ID + 1000
		return tx.RenewOrderCode(r.ctx, missing)
	})
	if !errors.Is(err, billing.ErrNotFound) {
		t.Fatalf("renewing a missing order: %v, want ErrNotFound", err)
	}
}

func (r *riskEnv) holdOf(orderID int64) (billing.RiskDecision, error) {
	var d billing.RiskDecision
	err := r.store.InTx(r.ctx, func(tx billing.Tx) error {
		var err error
		d, err = tx.HoldDecision(r.ctx, orderID)
		return err
	})
	return d, err
}

func testHoldDecision(t *testing.T, r *riskEnv) {
	o := r.order("+8613800000001", billing.OrderHeld, nil)
	other := r.order("+8613800000002", billing.OrderHeld, nil)
	hold := billing.RiskDecision{At: riskT0, Stage: billing.RiskConfirm, Rule: "fast_confirmation", Action: billing.RiskHold,
		MSISDN: o.MSISDN, Merchant: o.Merchant, OrderID: o.ID, Amount: o.Amount}
	r.decide(hold)
	newer := hold
	newer.At, newer.Rule = riskT0.Add(time.Minute), "drain"
	newer = r.decide(newer)
	fresh := hold
	fresh.At, fresh.Action = riskT0.Add(2*time.Minute), billing.RiskFreshCode
	r.decide(fresh)
	elsewhere := hold
	elsewhere.OrderID = other.ID
	elsewhere.At = riskT0.Add(3 * time.Minute)
	r.decide(elsewhere)

	d, err := r.holdOf(o.ID)
	if err != nil {
		t.Fatal(err)
	}
	if d.ID != newer.ID || d.Rule != "drain" || d.Resolution != "" {
		t.Fatalf("HoldDecision = %+v, want the newest hold %d", d, newer.ID)
	}
	if _, err := r.holdOf(o.ID + 1000); !errors.Is(err, billing.ErrNotFound) {
		t.Fatalf("HoldDecision of an order without a hold: %v, want ErrNotFound", err)
	}

	d.Resolution, d.ResolvedBy, d.ResolvedAt = "released", "operator:li", riskT0.Add(time.Hour)
	r.tx(func(tx billing.Tx) error { return tx.ResolveRiskDecision(r.ctx, d) })
	got, err := r.holdOf(o.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Resolution != "released" || got.ResolvedBy != "operator:li" || !sameTime(got.ResolvedAt, d.ResolvedAt) {
		t.Fatalf("resolved hold read back as %+v", got)
	}
	if w := r.decisions(billing.RiskDecisionQuery{Waiting: true}); len(w) != 2 {
		t.Fatalf("waiting holds %v, want the older hold of %d and the hold of %d", w, o.ID, other.ID)
	}
	err = r.store.InTx(r.ctx, func(tx billing.Tx) error {
		missing := d
		missing.ID += 1000
		return tx.ResolveRiskDecision(r.ctx, missing)
	})
	if !errors.Is(err, billing.ErrNotFound) {
		t.Fatalf("resolving a missing decision: %v, want ErrNotFound", err)
	}
}

// testHoldResolvedOnce: operators releasing and refusing one hold at once
// resolve it once (HoldDecision locks it until the transaction ends).
func testHoldResolvedOnce(t *testing.T, r *riskEnv) {
	o := r.order("+8613800000001", billing.OrderHeld, nil)
	r.decide(billing.RiskDecision{At: riskT0, Stage: billing.RiskConfirm, Rule: "fast_confirmation", Action: billing.RiskHold,
		MSISDN: o.MSISDN, Merchant: o.Merchant, OrderID: o.ID, Amount: o.Amount})
	const n = 8
	var wg sync.WaitGroup
	var mu sync.Mutex
	resolved := 0
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := r.store.InTx(r.ctx, func(tx billing.Tx) error {
				d, err := tx.HoldDecision(r.ctx, o.ID)
				if err != nil || d.Resolution != "" {
					return err
				}
				d.Resolution, d.ResolvedBy, d.ResolvedAt = "refused", fmt.Sprintf("operator:%d", i), riskT0.Add(time.Minute)
				if err := tx.ResolveRiskDecision(r.ctx, d); err != nil {
					return err
				}
				mu.Lock()
				resolved++
				mu.Unlock()
				return nil
			})
			if err != nil {
				t.Errorf("operator %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	if resolved != 1 {
		t.Fatalf("the hold was resolved %d times, want once", resolved)
	}
}

func testHeldOrders(t *testing.T, r *riskEnv) {
	past := func(o *billing.Order) { o.ExpiresAt = riskT0.Add(-time.Minute) }
	h1 := r.order("+8613800000001", billing.OrderHeld, past)
	r.order("+8613800000002", billing.OrderPending, func(o *billing.Order) { o.ExpiresAt = riskT0.Add(time.Hour) })
	h2 := r.order("+8613800000003", billing.OrderPending, past)
	h2.Status, h2.UpdatedAt = billing.OrderHeld, riskT0
	r.tx(func(tx billing.Tx) error { return tx.UpdateOrder(r.ctx, h2) })
	due := r.order("+8613800000004", billing.OrderPending, past)

	held, err := r.store.HeldOrders(r.ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(held) != 2 || held[0].ID != h1.ID || held[1].ID != h2.ID || held[1].Status != billing.OrderHeld {
		t.Fatalf("HeldOrders = %+v, want %d then %d", held, h1.ID, h2.ID)
	}
	if held, err := r.store.HeldOrders(r.ctx, 1); err != nil || len(held) != 1 || held[0].ID != h1.ID {
		t.Fatalf("HeldOrders(1) = %+v, %v", held, err)
	}
	// The expiry sweep never takes a held order, however old.
	r.tx(func(tx billing.Tx) error {
		os, err := tx.DueOrders(r.ctx, riskT0, 100)
		if err != nil {
			return err
		}
		if len(os) != 1 || os[0].ID != due.ID {
			t.Errorf("DueOrders = %+v, want only %d", os, due.ID)
		}
		return nil
	})
}

// testOrderRiskColumns: PromptedAt and FreshCodes survive every read of an
// order, and a zero PromptedAt stays zero.
func testOrderRiskColumns(t *testing.T, r *riskEnv) {
	prompted := riskT0.Add(30 * time.Second)
	mod := func(o *billing.Order) {
		o.PromptedAt, o.FreshCodes = prompted, 2
		o.MerchantRef, o.IdempotencyKey, o.RequestHash = "ref-1", "key-1", "hash"
		o.ExpiresAt = riskT0.Add(-time.Second) // due
	}
	o := r.order("+8613800000001", billing.OrderPending, mod)
	plain := r.order("+8613800000002", billing.OrderPending, nil)
	check := func(how string, got billing.Order) {
		t.Helper()
		if got.ID != o.ID || got.FreshCodes != 2 || !sameTime(got.PromptedAt, prompted) {
			t.Errorf("%s: order %d prompted %v, fresh codes %d; want %d, %v, 2", how, got.ID, got.PromptedAt, got.FreshCodes, o.ID, prompted)
		}
	}
	check("InsertOrder+GetOrder", o)
	if !plain.PromptedAt.IsZero() || plain.FreshCodes != 0 {
		t.Errorf("an order without a fresh code read back prompted %v, fresh codes %d", plain.PromptedAt, plain.FreshCodes)
	}
	peek := func(want int) {
		t.Helper()
		os, err := r.store.PeekPending(r.ctx, o.MSISDN, riskT0.Add(-time.Hour))
		if err != nil || len(os) != want {
			t.Fatalf("PeekPending: %d orders, %v; want %d", len(os), err, want)
		}
		if want == 1 {
			check("PeekPending", os[0])
		}
	}
	peek(1)
	r.tx(func(tx billing.Tx) error {
		got, err := tx.FindPendingOrder(r.ctx, o.MSISDN, o.Merchant, o.Product, o.Amount, o.Method)
		if err != nil {
			return err
		}
		check("FindPendingOrder", got)
		os, err := tx.OrdersSince(r.ctx, o.MSISDN, riskT0.Add(-time.Hour))
		if err != nil || len(os) != 1 {
			return fmt.Errorf("OrdersSince: %d orders, %v", len(os), err)
		}
		check("OrdersSince", os[0])
		if got, err = tx.OrderByKey(r.ctx, "key-1"); err != nil {
			return err
		}
		check("OrderByKey", got)
		if got, err = tx.OrderByMerchantRef(r.ctx, o.Merchant, "ref-1"); err != nil {
			return err
		}
		check("OrderByMerchantRef", got)
		os, err = tx.DueOrders(r.ctx, riskT0, 10)
		if err != nil || len(os) != 1 {
			return fmt.Errorf("DueOrders: %d orders, %v", len(os), err)
		}
		check("DueOrders", os[0])
		o.Status, o.UpdatedAt = billing.OrderHeld, riskT0
		return tx.UpdateOrder(r.ctx, o)
	})
	held, err := r.store.HeldOrders(r.ctx, 0)
	if err != nil || len(held) != 1 {
		t.Fatalf("HeldOrders: %+v, %v", held, err)
	}
	check("UpdateOrder+HeldOrders", held[0])
	peek(0) // held is not pending
}
