package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/internal/dbtest"
	"github.com/carrierbill/carrierbill/ocs"
	"github.com/carrierbill/carrierbill/ocs/ocssim"
)

// These tests boot the real gateway with ocs.enabled against the OCS
// simulator over TCP: MOs in through the SMSC simulator, the money at the
// OCS, MTs out.

// ocsYAML is the ocs section pointing at the simulators, in order.
func ocsYAML(retries int, sims ...*ocssim.Server) string {
	var peers []string
	for _, s := range sims {
		peers = append(peers, fmt.Sprintf("{addr: %q}", s.Addr()))
	}
	return fmt.Sprintf(`ocs:
  enabled: true
  origin_host: gw1.carrierbill.test
  origin_realm: carrierbill.test
  destination_realm: ocs.test
  service_context_id: 32274@3gpp.org
  peers: [%s]
  answer_timeout: 300ms
  retries: %d
  watchdog_interval: 1s
  reconnect_min: 20ms
  reconnect_max: 200ms
  service: {service_identifier: 1, rating_group: 1}
  services: [{merchant: "8001", product: VIP, service_identifier: 8001, rating_group: 80}]
frequency: {min_interval: 0s}
`, strings.Join(peers, ", "), retries)
}

func startOCSSim(t *testing.T) *ocssim.Server {
	t.Helper()
	sim := ocssim.New("ocs1.ocs.test", "ocs.test", nil)
	if err := sim.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	return sim
}

// orderReason is the state of the last order of phone.
func orderState(t *testing.T, h *harness, phone string) (status, reason string) {
	t.Helper()
	err := h.g.pool.QueryRow(context.Background(),
		"SELECT status, COALESCE(reason, '') FROM orders WHERE msisdn IN ($1, '+' || $1) ORDER BY id DESC LIMIT 1", phone).Scan(&status, &reason)
	if err != nil {
		t.Fatal(err)
	}
	return status, reason
}

func TestServeChargesThroughOCS(t *testing.T) {
	t.Parallel()
	sim := startOCSSim(t)
	_, prefix := dbtest.Redis(t)
	h := boot(t, dbtest.Postgres(t), dbtest.RedisURL(), prefix, ocsYAML(2, sim))
	if h.g.OCS == nil {
		t.Fatal("ocs.enabled did not pick the OCS charger")
	}

	// A payment: SMS in, reserved and debited at the OCS, receipt out.
	phone := h.newPhone()
	sim.SetAccount(phone, ocssim.Account{Balance: 5000})
	h.send(phone, "106580088001", "VIP")
	code := codeOf(t, h.reply(phone, 1))
	h.send(phone, "106580088001", code)
	if receipt := h.reply(phone, 2); !strings.Contains(receipt, "15.00") {
		t.Fatalf("receipt %q", receipt)
	}
	if a, _ := sim.Account(phone); a.Balance != 3500 || sim.Debits() != 1 {
		t.Fatalf("OCS balance %d debits %d, want 3500 and 1", a.Balance, sim.Debits())
	}
	if st, _ := orderState(t, h, phone); st != "paid" {
		t.Fatalf("order %s, want paid", st)
	}
	// A refund is a CCR-Event REFUND_ACCOUNT at the OCS.
	var orderID int64
	if err := h.g.pool.QueryRow(context.Background(), "SELECT id FROM orders WHERE msisdn IN ($1, '+' || $1) ORDER BY id DESC LIMIT 1", phone).Scan(&orderID); err != nil {
		t.Fatal(err)
	}
	for range 2 { // the same key twice: refunded once
		if _, err := h.g.Engine.Refund(context.Background(), billing.RefundRequest{Source: billing.Source{Channel: billing.ChannelOperator},
			OrderID: orderID, Amount: 500, Reason: "test", IdempotencyKey: "ocs-refund-1"}); err != nil {
			t.Fatal(err)
		}
	}
	if a, _ := sim.Account(phone); a.Balance != 4000 || sim.Refunds() != 1 {
		t.Fatalf("OCS balance %d refunds %d after a 5.00 refund, want 4000 and 1", a.Balance, sim.Refunds())
	}

	// Refusals: each result code's reason reaches the order, and no
	// credit-control session stays open.
	for _, tc := range []struct {
		account *ocssim.Account
		reason  string
	}{
		{&ocssim.Account{Balance: 100}, "insufficient_balance"},                // 4012
		{&ocssim.Account{Balance: 9000, Suspended: true}, "account_suspended"}, // 4010
		{nil, "unknown_subscriber"},                                            // 5030
	} {
		p := h.newPhone()
		if tc.account != nil {
			sim.SetAccount(p, *tc.account)
		}
		h.send(p, "106580088001", "VIP")
		code := codeOf(t, h.reply(p, 1))
		h.send(p, "106580088001", code)
		mt := h.reply(p, 2)
		if st, reason := orderState(t, h, p); st != "failed" || reason != tc.reason {
			t.Fatalf("%s: order %s %s (MT %q)", tc.reason, st, reason, mt)
		}
		if n := sim.OpenSessions(); n != 0 {
			t.Fatalf("%s: %d credit-control sessions left open", tc.reason, n)
		}
	}
	if sim.Debits() != 1 {
		t.Fatalf("%d debits, want 1", sim.Debits())
	}
}

// The OCS debits and drops the connection before answering: the charge is
// left for recovery, and the sweep (asking with the same Session-Id and
// request number) finds it debited: one receipt, one debit.
func TestServeOCSDropAfterDebitRecovered(t *testing.T) {
	t.Parallel()
	sim := startOCSSim(t)
	_, prefix := dbtest.Redis(t)
	logs := &syncBuffer{}
	clk := &shiftClock{}
	yaml := fmt.Sprintf("database: {url: %q}\nredis: {url: %q, prefix: %q}\n%s%s",
		dbtest.Postgres(t), dbtest.RedisURL(), prefix, testMerchants, ocsYAML(0, sim))
	h := bootWith(t, yaml, logs, GatewayOptions{Clock: clk})
	phone := h.newPhone()
	sim.SetAccount(phone, ocssim.Account{Balance: 5000})
	h.send(phone, "106580088001", "VIP")
	code := codeOf(t, h.reply(phone, 1))
	sim.SetFaults(ocssim.Faults{DropAfterDebit: 1})
	h.send(phone, "106580088001", code)
	waitLog(t, logs, "debit outcome unknown")
	if st, _ := orderState(t, h, phone); st == "paid" {
		t.Fatal("paid before recovery")
	}
	clk.Advance(3 * time.Minute)
	if receipt := h.reply(phone, 2); !strings.Contains(receipt, "15.00") {
		t.Fatalf("after recovery: %q", receipt)
	}
	if a, _ := sim.Account(phone); a.Balance != 3500 || sim.Debits() != 1 {
		t.Fatalf("OCS balance %d debits %d, want 3500 and exactly 1", a.Balance, sim.Debits())
	}
	var n int
	if err := h.g.pool.QueryRow(context.Background(), "SELECT count(*) FROM charges WHERE msisdn IN ($1, '+' || $1) AND status = 'succeeded'", phone).Scan(&n); err != nil || n != 1 {
		t.Fatalf("succeeded charges %d (%v), want 1", n, err)
	}
}

// A watchdog timeout on the first OCS peer fails payments over to the
// second.
func TestServeOCSFailover(t *testing.T) {
	t.Parallel()
	sim1, sim2 := startOCSSim(t), startOCSSim(t)
	_, prefix := dbtest.Redis(t)
	h := boot(t, dbtest.Postgres(t), dbtest.RedisURL(), prefix, ocsYAML(2, sim1, sim2))
	waitFor(t, "both OCS peers open", func() bool { return len(h.g.OCS.Client().OpenPeers()) == 2 })
	sim1.SetFaults(ocssim.Faults{Silent: true})
	waitFor(t, "the watchdog to close the silent peer", func() bool { return len(h.g.OCS.Client().OpenPeers()) == 1 })
	phone := h.newPhone()
	sim1.SetAccount(phone, ocssim.Account{Balance: 5000})
	sim2.SetAccount(phone, ocssim.Account{Balance: 5000})
	h.send(phone, "106580088001", "VIP")
	code := codeOf(t, h.reply(phone, 1))
	h.send(phone, "106580088001", code)
	if receipt := h.reply(phone, 2); !strings.Contains(receipt, "15.00") {
		t.Fatalf("receipt %q", receipt)
	}
	if sim1.Debits() != 0 || sim2.Debits() != 1 {
		t.Fatalf("debits %d/%d, want the second peer", sim1.Debits(), sim2.Debits())
	}
}

// carrierbill ocs serves credit control: a charger connects and debits one
// of its accounts, a suspended one is refused, and on exit it reports.
func TestOCSCommand(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	out, errb := &syncBuffer{}, &syncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"ocs", "-listen", "127.0.0.1:0", "-account", "+8613900000002=20.00", "-suspended", "8613900000003"}, out, errb)
	}()
	var addr string
	waitFor(t, "the simulator to listen", func() bool {
		_, rest, ok := strings.Cut(out.String(), "credit control on ")
		addr, _, _ = strings.Cut(rest, " ")
		return ok && addr != ""
	})
	retries := 0
	ch, err := ocs.New(ocs.Options{
		Client: ocs.ClientOptions{OriginHost: "gw1.carrierbill.test", OriginRealm: "carrierbill.test", DestinationRealm: "ocs.test",
			Peers: []ocs.Peer{{Addr: addr, Host: "ocs1.ocs.test"}}, AnswerTimeout: time.Second, Retries: &retries},
		ServiceContextID: "32274@3gpp.org",
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	if err := ch.Debit(t.Context(), "order:1", "+8613900000002", 1500); err != nil {
		t.Fatal(err)
	}
	var d *billing.Declined
	if err := ch.Debit(t.Context(), "order:2", "+8613900000003", 100); !errors.As(err, &d) || d.Reason != billing.ReasonAccountSuspended {
		t.Fatalf("suspended: %v", err)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if o := out.String(); !strings.Contains(o, "1 debits") || !strings.Contains(o, "balance 5.00") {
		t.Fatalf("report %q", o)
	}
}
