package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/carrierbill/carrierbill/billing"
)

// The delivery-receipt cases (issue 10): the message ids of sent parts,
// receipts matched in hex or decimal, receipts kept until their part is
// recorded, and the deliveries of an order. Run runs them for every store.

// idSender is a Sender that answers like an SMSC: one message id per part
// (parts per MT), written by format from a counter.
type idSender struct {
	mu     sync.Mutex
	next   uint64
	parts  int
	format string // e.g. "%010X" (hex) or "%d"
	sent   map[int64][]billing.SentPart
}

func (s *idSender) Send(_ context.Context, m billing.OutboundSMS) ([]billing.SentPart, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []billing.SentPart
	for range max(s.parts, 1) {
		s.next++
		out = append(out, billing.SentPart{Bind: "b1", MessageID: fmt.Sprintf(s.format, s.next)})
	}
	s.sent[m.ID] = out
	return out, nil
}

// enqueue writes one MT of orderID to the outbox and returns its id.
func enqueue(t *testing.T, store billing.Store, orderID int64, kind billing.OutboxKind, at time.Time) int64 {
	t.Helper()
	var id int64
	err := store.InTx(context.Background(), func(tx billing.Tx) error {
		var err error
		id, err = tx.Enqueue(context.Background(), billing.OutboxMsg{MSISDN: phoneA, ServiceAddr: open1, Body: "mt",
			Kind: kind, OrderID: orderID, CreatedAt: at, NextAt: at})
		return err
	})
	if err != nil {
		t.Fatalf("Enqueue: %v", err)
	}
	return id
}

func deliveries(t *testing.T, store billing.Store, orderID int64) []billing.Delivery {
	t.Helper()
	ds, err := store.OrderDeliveries(context.Background(), orderID)
	if err != nil {
		t.Fatalf("OrderDeliveries(%d): %v", orderID, err)
	}
	return ds
}

func apply(t *testing.T, store billing.Store, bind, id string, st billing.DeliveryState, at time.Time) bool {
	t.Helper()
	m, err := store.ApplyReceipt(context.Background(), billing.DeliveryReceipt{Bind: bind, MessageID: id, State: st, Err: "000", ReceivedAt: at},
		billing.KeysOf(id))
	if err != nil {
		t.Fatalf("ApplyReceipt(%s): %v", id, err)
	}
	return m
}

var t0 = time.Date(2026, 3, 10, 4, 0, 0, 0, time.UTC)

// testDeliveryHexAndDecimal: parts answered in hex match receipts in hex or
// decimal, and parts answered in decimal match receipts in hex; each part
// keeps its own state and the MT is delivered once every part is.
func testDeliveryHexAndDecimal(t *testing.T, open Open) {
	store := open(t)
	ctx := context.Background()
	hexMT := enqueue(t, store, 7, billing.OutboxPrompt, t0)
	decMT := enqueue(t, store, 7, billing.OutboxReceipt, t0)
	if err := store.MarkSentParts(ctx, hexMT, t0, []billing.SentPart{{Bind: "b1", MessageID: "00000000A1"}, {Bind: "b1", MessageID: "00000000a2"}}); err != nil {
		t.Fatal(err)
	}
	if err := store.MarkSentParts(ctx, decMT, t0, []billing.SentPart{{Bind: "b1", MessageID: "100"}}); err != nil {
		t.Fatal(err)
	}
	if d := deliveries(t, store, 7); len(d) != 2 || d[0].State() != billing.DeliveryNone || len(d[0].Parts) != 2 || d[0].SentAt.IsZero() {
		t.Fatalf("before receipts: %+v", d)
	}
	// Part 1 of the hex MT, reported in decimal (0xA1 = 161).
	if !apply(t, store, "b1", "161", billing.DeliveryDelivered, t0.Add(time.Second)) {
		t.Fatal("decimal receipt of a hex id unmatched")
	}
	// Part 2, reported in hex: first en route, then delivered.
	if !apply(t, store, "b1", "A2", billing.DeliveryEnroute, t0.Add(2*time.Second)) {
		t.Fatal("hex receipt unmatched")
	}
	if d := deliveries(t, store, 7)[0]; d.State() != billing.DeliveryEnroute || !d.DeliveredAt().IsZero() {
		t.Fatalf("one part delivered, one en route: %s %+v", d.State(), d.Parts)
	}
	if !apply(t, store, "b1", "00A2", billing.DeliveryDelivered, t0.Add(3*time.Second)) {
		t.Fatal("hex receipt with leading zeros unmatched")
	}
	// A late intermediate receipt never replaces the final state.
	apply(t, store, "b1", "161", billing.DeliveryEnroute, t0.Add(4*time.Second))
	d := deliveries(t, store, 7)
	if d[0].State() != billing.DeliveryDelivered || !d[0].DeliveredAt().Equal(t0.Add(3*time.Second)) {
		t.Fatalf("hex MT: %s at %v, parts %+v", d[0].State(), d[0].DeliveredAt(), d[0].Parts)
	}
	// The decimal MT, reported in hex (100 = 0x64), failed.
	if !apply(t, store, "b1", "64", billing.DeliveryUndeliv, t0.Add(5*time.Second)) {
		t.Fatal("hex receipt of a decimal id unmatched")
	}
	if d := deliveries(t, store, 7)[1]; d.Kind != billing.OutboxReceipt || d.State() != billing.DeliveryUndeliv || d.Parts[0].Err != "000" {
		t.Fatalf("decimal MT: %+v", d)
	}
	if d := deliveries(t, store, 8); len(d) != 0 {
		t.Fatalf("an order without MTs: %+v", d)
	}
}

// testDeliveryReceiptBeforeResp: a receipt that arrives before the part's
// message id is recorded is kept, and applied when it is, in hex or decimal.
func testDeliveryReceiptBeforeResp(t *testing.T, open Open) {
	store := open(t)
	ctx := context.Background()
	mt := enqueue(t, store, 9, billing.OutboxPrompt, t0)
	if apply(t, store, "b1", "12345", billing.DeliveryEnroute, t0) || apply(t, store, "b1", "12345", billing.DeliveryDelivered, t0.Add(time.Second)) {
		t.Fatal("a receipt matched before any part was recorded")
	}
	if apply(t, store, "b1", "FF", billing.DeliveryExpired, t0) {
		t.Fatal("a receipt for another id matched")
	}
	// The submit_sm_resp said 0x3039 = 12345.
	if err := store.MarkSentParts(ctx, mt, t0, []billing.SentPart{{Bind: "b1", MessageID: "0000003039"}}); err != nil {
		t.Fatal(err)
	}
	d := deliveries(t, store, 9)
	if len(d) != 1 || d[0].State() != billing.DeliveryDelivered || !d[0].DeliveredAt().Equal(t0.Add(time.Second)) {
		t.Fatalf("kept receipts not applied in order: %+v", d)
	}
	// The matched receipts are gone; the other one is pruned with age.
	if n, err := store.PruneReceipts(ctx, t0.Add(time.Hour)); err != nil || n != 1 {
		t.Fatalf("PruneReceipts: %d, %v; want only the unmatched FF", n, err)
	}
	// Marking the MT sent again (a resend) keeps its parts and state.
	if err := store.MarkSentParts(ctx, mt, t0.Add(time.Minute), []billing.SentPart{{Bind: "b1", MessageID: "99"}}); err != nil {
		t.Fatal(err)
	}
	if d := deliveries(t, store, 9); d[0].Parts[0].MessageID != "3039" || !d[0].SentAt.Equal(t0) {
		t.Fatalf("after a second MarkSentParts: %+v", d)
	}
}

// testDeliveryPreference: among parts with the same id, the one still
// awaiting its final receipt wins, then the same bind, then the newest.
func testDeliveryPreference(t *testing.T, open Open) {
	store := open(t)
	ctx := context.Background()
	old := enqueue(t, store, 11, billing.OutboxPrompt, t0)
	other := enqueue(t, store, 12, billing.OutboxPrompt, t0)
	fresh := enqueue(t, store, 13, billing.OutboxPrompt, t0)
	for id, bind := range map[int64]string{old: "b1", other: "b2", fresh: "b1"} {
		if err := store.MarkSentParts(ctx, id, t0, []billing.SentPart{{Bind: bind, MessageID: "77"}}); err != nil {
			t.Fatal(err)
		}
	}
	apply(t, store, "b1", "77", billing.DeliveryDelivered, t0)
	if deliveries(t, store, 13)[0].State() != billing.DeliveryDelivered {
		t.Fatal("the newest part of the receipt's bind was not chosen")
	}
	apply(t, store, "b1", "77", billing.DeliveryDelivered, t0)
	if deliveries(t, store, 11)[0].State() != billing.DeliveryDelivered {
		t.Fatal("a part already delivered took the second receipt over one awaiting it")
	}
	apply(t, store, "b1", "77", billing.DeliveryDelivered, t0)
	if deliveries(t, store, 12)[0].State() != billing.DeliveryDelivered {
		t.Fatal("the part of another bind was not matched when it was the only one awaiting")
	}
}

// testDeliveryRace: receipts racing the recording of their parts are all
// matched, whichever commits first.
func testDeliveryRace(t *testing.T, open Open) {
	store := open(t)
	ctx := context.Background()
	const n = 40
	ids := make([]int64, n)
	for i := range ids {
		ids[i] = enqueue(t, store, 100+int64(i), billing.OutboxPrompt, t0)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	for i, id := range ids {
		hexID, decID := fmt.Sprintf("%08X", 0x5000+i), fmt.Sprintf("%d", 0x5000+i)
		wg.Add(2)
		go func() {
			defer wg.Done()
			errs <- store.MarkSentParts(ctx, id, t0, []billing.SentPart{{Bind: "b1", MessageID: hexID}})
		}()
		go func() {
			defer wg.Done()
			_, err := store.ApplyReceipt(ctx, billing.DeliveryReceipt{Bind: "b1", MessageID: decID, State: billing.DeliveryDelivered, ReceivedAt: t0},
				billing.KeysOf(decID))
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for i := range ids {
		if d := deliveries(t, store, 100+int64(i)); len(d) != 1 || d[0].State() != billing.DeliveryDelivered {
			t.Fatalf("MT %d: receipt lost in the race: %+v", i, d)
		}
	}
	if n, err := store.PruneReceipts(ctx, t0.Add(time.Hour)); err != nil || n != 0 {
		t.Fatalf("%d receipt(s) left unmatched (%v)", n, err)
	}
}

// testDeliveryThroughDispatcher: the Dispatcher records the ids its Sender
// returns and matches receipts to them; an order's lookup then shows its
// prompt delivered.
func testDeliveryThroughDispatcher(t *testing.T, open Open) {
	e := newEnv(t, open, nil)
	r := e.mo(phoneA, open1, "VIP")
	if r.Outcome != billing.OutcomePrompted {
		t.Fatalf("purchase: %+v", r)
	}
	s := &idSender{format: "%010X", parts: 2, sent: map[int64][]billing.SentPart{}}
	d := &billing.Dispatcher{Store: e.store, Sender: s, Clock: e.clock}
	if n, err := d.RunOnce(e.ctx); err != nil || n != 1 {
		t.Fatalf("RunOnce: %d, %v", n, err)
	}
	var parts []billing.SentPart
	for _, ps := range s.sent {
		parts = ps
	}
	// Part 1 in hex as answered, part 2 in decimal; an id-less receipt is
	// ignored, not an error.
	for _, id := range []string{parts[0].MessageID, "2", ""} {
		if err := d.Receipt(e.ctx, billing.DeliveryReceipt{Bind: "b1", MessageID: id, State: billing.DeliveryDelivered, ReceivedAt: e.clock.Now()}); err != nil {
			t.Fatalf("Receipt(%q): %v", id, err)
		}
	}
	ds, err := e.store.OrderDeliveries(e.ctx, r.OrderID)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 1 || ds[0].Kind != billing.OutboxPrompt || ds[0].State() != billing.DeliveryDelivered || len(ds[0].Parts) != 2 {
		t.Fatalf("order %d deliveries: %+v", r.OrderID, ds)
	}
}
