package main

import (
	"context"
	"testing"
	"time"

	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/internal/dbtest"
	"github.com/carrierbill/carrierbill/smpp/smsc"
)

// TestServeDeliveryReceiptsMatched (issue 10): through the real gateway and
// the simulator, the delivery receipts of an order's prompt and receipt MTs
// are matched to them and show in the order's deliveries, whether the SMSC
// writes message ids in hex or in decimal, answers submit_sm in one base and
// writes receipts in the other, or sends a receipt before the
// submit_sm_resp it reports on.
func TestServeDeliveryReceiptsMatched(t *testing.T) {
	t.Parallel()
	_, prefix := dbtest.Redis(t)
	h := boot(t, dbtest.Postgres(t), dbtest.RedisURL(), prefix, "")
	cases := []struct {
		name           string
		resp, receipts smsc.IDFormat
		receiptFirst   bool
	}{
		{"hex ids", smsc.IDHex, "", false},
		{"decimal ids", smsc.IDDecimal, "", false},
		{"hex resp, decimal receipt", smsc.IDHex, smsc.IDDecimal, false},
		{"decimal resp, hex receipt", smsc.IDDecimal, smsc.IDHex, false},
		{"receipt before the resp", smsc.IDHex, smsc.IDDecimal, true},
	}
	// The cases share one simulator and its knobs: one at a time.
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h.sim.SetMessageIDs(tc.resp, tc.receipts)
			h.sim.ReceiptBeforeResp(tc.receiptFirst)
			phone := h.newPhone()
			h.send(phone, "106580088001", "VIP")
			code := codeOf(t, h.reply(phone, 1))
			h.send(phone, "106580088001", code)
			h.reply(phone, 2)

			var orderID int64
			if err := h.g.pool.QueryRow(context.Background(),
				"SELECT max(id) FROM orders WHERE msisdn IN ($1, '+' || $1)", phone).Scan(&orderID); err != nil {
				t.Fatal(err)
			}
			var ds []billing.Delivery
			waitFor(t, "the prompt's and the receipt's delivery receipts to be matched", func() bool {
				var err error
				ds, err = h.g.Store.OrderDeliveries(context.Background(), orderID)
				if err != nil {
					t.Fatal(err)
				}
				kinds := map[billing.OutboxKind]bool{}
				for _, d := range ds {
					if d.State() == billing.DeliveryDelivered && !d.DeliveredAt().IsZero() {
						kinds[d.Kind] = true
					}
				}
				return kinds[billing.OutboxPrompt] && kinds[billing.OutboxReceipt]
			})
			var unmatched int
			if err := h.g.pool.QueryRow(context.Background(), "SELECT count(*) FROM unmatched_receipts").Scan(&unmatched); err != nil {
				t.Fatal(err)
			}
			if unmatched != 0 {
				t.Fatalf("%d receipt(s) left unmatched", unmatched)
			}
		})
	}
}

// waitFor polls cond until it holds, for at most 20 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	tk := time.NewTicker(10 * time.Millisecond)
	defer tk.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tk.C
	}
}
