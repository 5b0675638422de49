package ocs_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/ocs"
	"github.com/carrierbill/carrierbill/ocs/ocssim"
)

const (
	payer     = "+8613800138000"
	suspended = "+8613800138001"
	poor      = "+8613800138002"
	stranger  = "+8613800138009"
)

// charges is a Describer over a map, like the gateway's over orders.
type charges struct {
	mu sync.Mutex
	m  map[string]ocs.ChargeInfo
}

func (c *charges) add(key string, info ocs.ChargeInfo) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]ocs.ChargeInfo{}
	}
	c.m[key] = info
}

func (c *charges) describe(_ context.Context, key string) (ocs.ChargeInfo, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	info, ok := c.m[key]
	if !ok {
		return ocs.ChargeInfo{}, fmt.Errorf("no charge %s", key)
	}
	return info, nil
}

// newSim starts a simulator with the test accounts.
func newSim(t *testing.T) *ocssim.Server {
	t.Helper()
	s := ocssim.New("ocs1.sim.test", "sim.test", nil)
	s.SetAccount(payer, ocssim.Account{Balance: 10000})
	s.SetAccount(suspended, ocssim.Account{Balance: 10000, Suspended: true})
	s.SetAccount(poor, ocssim.Account{Balance: 50})
	if err := s.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

type setup struct {
	retries   int
	answer    time.Duration
	watchdog  time.Duration
	tls       *tls.Config
	peerHosts []string
}

// newCharger connects a charger to the simulators, in preference order.
func newCharger(t *testing.T, cs *charges, st setup, sims ...*ocssim.Server) *ocs.Charger {
	t.Helper()
	if st.answer == 0 {
		st.answer = 300 * time.Millisecond
	}
	if st.watchdog == 0 {
		st.watchdog = 10 * time.Second
	}
	var peers []ocs.Peer
	for i, s := range sims {
		p := ocs.Peer{Addr: s.Addr(), TLS: st.tls}
		if i < len(st.peerHosts) {
			p.Host = st.peerHosts[i]
		}
		peers = append(peers, p)
	}
	retries := st.retries
	ch, err := ocs.New(ocs.Options{
		Client: ocs.ClientOptions{
			OriginHost: "gw1.carrierbill.test", OriginRealm: "carrierbill.test", DestinationRealm: "sim.test",
			Peers: peers, AnswerTimeout: st.answer, Retries: &retries, WatchdogInterval: st.watchdog,
			ReconnectMin: 20 * time.Millisecond, ReconnectMax: 200 * time.Millisecond,
		},
		ServiceContextID: "32274@3gpp.org",
		Default:          ocs.Service{Identifier: 1, RatingGroup: 1},
		Rules:            []ocs.ServiceRule{{Merchant: "8001", Service: ocs.Service{Identifier: 8001, RatingGroup: 80}}},
		Describe:         cs.describe,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ch.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := ch.Client().WaitOpen(ctx); err != nil {
		t.Fatal(err)
	}
	return ch
}

func balance(t *testing.T, s *ocssim.Server, msisdn string) int64 {
	t.Helper()
	a, ok := s.Account(msisdn)
	if !ok {
		t.Fatalf("no account %s", msisdn)
	}
	return a.Balance
}

func ctx5(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond) // polling with a deadline, not waiting for an event
	}
}

func TestDebitReservesThenDebits(t *testing.T) {
	t.Parallel()
	sim := newSim(t)
	cs := &charges{}
	cs.add("order:1", ocs.ChargeInfo{MSISDN: payer, Amount: 300, Merchant: "8001", Product: "VIP"})
	ch := newCharger(t, cs, setup{}, sim)
	if err := ch.Debit(ctx5(t), "order:1", payer, 300); err != nil {
		t.Fatal(err)
	}
	if got := balance(t, sim, payer); got != 9700 {
		t.Fatalf("balance %d, want 9700", got)
	}
	if sim.Debits() != 1 || sim.OpenSessions() != 0 {
		t.Fatalf("debits %d open sessions %d, want 1 and 0", sim.Debits(), sim.OpenSessions())
	}
	// The same key again is a duplicate: the OCS answers the first
	// outcome (same Session-Id and request numbers) and debits nothing.
	if err := ch.Debit(ctx5(t), "order:1", payer, 300); err != nil {
		t.Fatalf("second debit with the key: %v, want the first outcome", err)
	}
	if got := balance(t, sim, payer); got != 9700 {
		t.Fatalf("balance %d after a repeated key, want 9700", got)
	}
	if st, err := ch.Status(ctx5(t), "order:1"); err != nil || st != billing.DebitDone {
		t.Fatalf("status %v %v, want done", st, err)
	}
}

// Each result code the OCS answers maps to its reason (or to an unknown
// outcome), and no refused payment leaves a credit-control session open.
func TestResultCodes(t *testing.T) {
	t.Parallel()
	sim := newSim(t)
	cs := &charges{}
	ch := newCharger(t, cs, setup{}, sim)
	for i, tc := range []struct {
		msisdn string
		amount billing.Money
		faults ocssim.Faults
		reason billing.Reason // "" : unknown outcome
	}{
		{msisdn: poor, amount: 100, reason: billing.ReasonInsufficientBalance},             // 4012
		{msisdn: suspended, amount: 100, reason: billing.ReasonAccountSuspended},           // 4010
		{msisdn: stranger, amount: 100, reason: billing.ReasonUnknownSubscriber},           // 5030
		{msisdn: payer, amount: 100, faults: ocssim.Faults{TooBusy: true}, reason: ""},     // 3004
		{msisdn: payer, amount: 100, faults: ocssim.Faults{NoAnswer: true}, reason: ""},    // timeout
		{msisdn: payer, amount: 100, faults: ocssim.Faults{Malformed: true}, reason: ""},   // malformed answer
		{msisdn: payer, amount: 100, faults: ocssim.Faults{Silent: false}, reason: "none"}, // 2001
	} {
		key := fmt.Sprintf("order:%d", 100+i)
		cs.add(key, ocs.ChargeInfo{MSISDN: tc.msisdn, Amount: tc.amount, Merchant: "8001"})
		sim.SetFaults(tc.faults)
		before := sim.Debits()
		err := ch.Debit(ctx5(t), key, tc.msisdn, tc.amount)
		sim.SetFaults(ocssim.Faults{})
		var d *billing.Declined
		switch tc.reason {
		case "none":
			if err != nil {
				t.Fatalf("%s: %v", key, err)
			}
		case "":
			if err == nil || errors.As(err, &d) {
				t.Fatalf("%s %+v: %v, want an unknown outcome", key, tc.faults, err)
			}
			continue
		default:
			if !errors.As(err, &d) || d.Reason != tc.reason {
				t.Fatalf("%s: %v, want declined %s", key, err, tc.reason)
			}
			if sim.Debits() != before {
				t.Fatalf("%s: a refused payment debited", key)
			}
			if n := sim.OpenSessions(); n != 0 {
				t.Fatalf("%s: %d credit-control sessions left open after a refusal", key, n)
			}
			// A refused key resolves to "not debited".
			if st, err := ch.Status(ctx5(t), key); err != nil || st != billing.DebitNone {
				t.Fatalf("%s: status %v %v, want none", key, st, err)
			}
		}
	}
}

// A grant smaller than the amount cannot pay: released, declined, nothing
// debited, no session left open.
func TestPartialGrantReleased(t *testing.T) {
	t.Parallel()
	sim := newSim(t)
	sim.SetFaults(ocssim.Faults{PartialGrant: true})
	cs := &charges{}
	cs.add("order:50", ocs.ChargeInfo{MSISDN: payer, Amount: 1000})
	ch := newCharger(t, cs, setup{}, sim)
	var d *billing.Declined
	if err := ch.Debit(ctx5(t), "order:50", payer, 1000); !errors.As(err, &d) || d.Reason != billing.ReasonInsufficientBalance {
		t.Fatalf("partial grant: %v, want insufficient_balance", err)
	}
	if sim.Debits() != 0 || sim.OpenSessions() != 0 || balance(t, sim, payer) != 10000 {
		t.Fatalf("debits %d open %d balance %d", sim.Debits(), sim.OpenSessions(), balance(t, sim, payer))
	}
}

// An unknown outcome is resolved by the recovery sweep's Status: a busy
// OCS processed nothing (none, and the key is spent), a silent one held
// a reservation (Status completes it: done, debited once).
func TestStatusResolvesUnknownOutcomes(t *testing.T) {
	t.Parallel()
	sim := newSim(t)
	cs := &charges{}
	ch := newCharger(t, cs, setup{retries: 1}, sim)

	cs.add("order:busy", ocs.ChargeInfo{MSISDN: payer, Amount: 100})
	sim.SetFaults(ocssim.Faults{TooBusy: true})
	if err := ch.Debit(ctx5(t), "order:busy", payer, 100); err == nil {
		t.Fatal("debit with a busy OCS succeeded")
	}
	sim.SetFaults(ocssim.Faults{})
	if st, err := ch.Status(ctx5(t), "order:busy"); err != nil || st != billing.DebitNone {
		t.Fatalf("status %v %v, want none", st, err)
	}
	var d *billing.Declined
	if err := ch.Debit(ctx5(t), "order:busy", payer, 100); !errors.As(err, &d) {
		t.Fatalf("debit after status none: %v, want declined (the key is closed)", err)
	}

	cs.add("order:silent", ocs.ChargeInfo{MSISDN: payer, Amount: 200})
	sim.SetFaults(ocssim.Faults{NoAnswer: true})
	if err := ch.Debit(ctx5(t), "order:silent", payer, 200); err == nil {
		t.Fatal("debit with a silent OCS succeeded")
	}
	sim.SetFaults(ocssim.Faults{})
	for range 2 { // asking twice never debits twice
		if st, err := ch.Status(ctx5(t), "order:silent"); err != nil || st != billing.DebitDone {
			t.Fatalf("status %v %v, want done", st, err)
		}
	}
	if got := balance(t, sim, payer); got != 9800 || sim.Debits() != 1 {
		t.Fatalf("balance %d debits %d, want 9800 and 1", got, sim.Debits())
	}
	if sim.OpenSessions() != 0 {
		t.Fatalf("%d sessions open", sim.OpenSessions())
	}
}

// The OCS debits, then drops the connection before answering: the debit's
// outcome is unknown, and the recovery sweep finds it done — one debit.
func TestDropAfterDebitRecoveredOnce(t *testing.T) {
	t.Parallel()
	sim := newSim(t)
	cs := &charges{}
	ch := newCharger(t, cs, setup{retries: 0}, sim)
	cs.add("order:7", ocs.ChargeInfo{MSISDN: payer, Amount: 500})
	sim.SetFaults(ocssim.Faults{DropAfterDebit: 1})
	err := ch.Debit(ctx5(t), "order:7", payer, 500)
	var d *billing.Declined
	if err == nil || errors.As(err, &d) {
		t.Fatalf("debit: %v, want an unknown outcome", err)
	}
	eventually(t, "the reconnect", func() bool { return len(ch.Client().OpenPeers()) == 1 })
	st, err := ch.Status(ctx5(t), "order:7")
	if err != nil || st != billing.DebitDone {
		t.Fatalf("status %v %v, want done", st, err)
	}
	if got := balance(t, sim, payer); got != 9500 || sim.Debits() != 1 {
		t.Fatalf("balance %d debits %d, want 9500 and exactly 1", got, sim.Debits())
	}

	// With retries, the charger itself sends the CCR-T again on the new
	// connection and the OCS answers the duplicate: still one debit.
	ch2 := newCharger(t, cs, setup{retries: 2}, sim)
	cs.add("order:8", ocs.ChargeInfo{MSISDN: payer, Amount: 500})
	sim.SetFaults(ocssim.Faults{DropAfterDebit: 1})
	if err := ch2.Debit(ctx5(t), "order:8", payer, 500); err != nil {
		t.Fatal(err)
	}
	if got := balance(t, sim, payer); got != 9000 || sim.Debits() != 2 {
		t.Fatalf("balance %d debits %d, want 9000 and 2", got, sim.Debits())
	}
}

// Some OCS peers silently drop the first request after the CEA: it is
// sent again with the same Session-Id and CC-Request-Number.
func TestRequestAfterCEARetried(t *testing.T) {
	t.Parallel()
	sim := newSim(t)
	sim.SetFaults(ocssim.Faults{DropFirstAfterCEA: true})
	cs := &charges{}
	cs.add("order:9", ocs.ChargeInfo{MSISDN: payer, Amount: 100})
	ch := newCharger(t, cs, setup{retries: 2, answer: 200 * time.Millisecond}, sim)
	if err := ch.Debit(ctx5(t), "order:9", payer, 100); err != nil {
		t.Fatal(err)
	}
	if sim.Requests() != 3 || sim.Debits() != 1 {
		t.Fatalf("requests %d debits %d, want 3 (one dropped) and 1", sim.Requests(), sim.Debits())
	}
}

// A late answer within the answer timeout is taken; a later one leaves
// the outcome unknown.
func TestLateAnswer(t *testing.T) {
	t.Parallel()
	sim := newSim(t)
	cs := &charges{}
	cs.add("order:10", ocs.ChargeInfo{MSISDN: payer, Amount: 100})
	cs.add("order:11", ocs.ChargeInfo{MSISDN: payer, Amount: 100})
	ch := newCharger(t, cs, setup{answer: 400 * time.Millisecond}, sim)
	sim.SetFaults(ocssim.Faults{Delay: 50 * time.Millisecond})
	if err := ch.Debit(ctx5(t), "order:10", payer, 100); err != nil {
		t.Fatal(err)
	}
	sim.SetFaults(ocssim.Faults{Delay: time.Second})
	if err := ch.Debit(ctx5(t), "order:11", payer, 100); err == nil {
		t.Fatal("an answer past the timeout was taken")
	}
}

// A malformed answer (go-diameter v4.1.0 panics decoding it) is an
// unknown outcome and the connection survives it.
func TestMalformedAnswerKeepsConnection(t *testing.T) {
	t.Parallel()
	sim := newSim(t)
	cs := &charges{}
	cs.add("order:12", ocs.ChargeInfo{MSISDN: payer, Amount: 100})
	cs.add("order:13", ocs.ChargeInfo{MSISDN: payer, Amount: 100})
	ch := newCharger(t, cs, setup{}, sim)
	sim.SetFaults(ocssim.Faults{Malformed: true})
	if err := ch.Debit(ctx5(t), "order:12", payer, 100); !errors.Is(err, ocs.ErrMalformed) {
		t.Fatalf("debit: %v, want ErrMalformed", err)
	}
	sim.SetFaults(ocssim.Faults{})
	if err := ch.Debit(ctx5(t), "order:13", payer, 100); err != nil {
		t.Fatal(err)
	}
	if n := ch.Client().Stats().Opens; n != 1 {
		t.Fatalf("the connection opened %d times, want 1 (it survived)", n)
	}
}

// The watchdog closes a connection to a peer that stopped answering, and
// requests fail over to the second peer.
func TestWatchdogTimeoutAndFailover(t *testing.T) {
	t.Parallel()
	sim1, sim2 := newSim(t), newSim(t)
	cs := &charges{}
	ch := newCharger(t, cs, setup{watchdog: 100 * time.Millisecond, retries: 2, answer: 300 * time.Millisecond}, sim1, sim2)
	eventually(t, "both peers open", func() bool { return len(ch.Client().OpenPeers()) == 2 })

	cs.add("order:20", ocs.ChargeInfo{MSISDN: payer, Amount: 100})
	if err := ch.Debit(ctx5(t), "order:20", payer, 100); err != nil {
		t.Fatal(err)
	}
	if sim1.Debits() != 1 || sim2.Debits() != 0 {
		t.Fatalf("debits %d/%d, want the first peer preferred", sim1.Debits(), sim2.Debits())
	}

	// The first peer hangs: no DWA, the watchdog gives up on it.
	sim1.SetFaults(ocssim.Faults{Silent: true})
	eventually(t, "the watchdog to close the silent peer", func() bool {
		p := ch.Client().OpenPeers()
		return len(p) == 1 && p[0] == sim2.Addr()
	})
	cs.add("order:21", ocs.ChargeInfo{MSISDN: payer, Amount: 100})
	if err := ch.Debit(ctx5(t), "order:21", payer, 100); err != nil {
		t.Fatal(err)
	}
	if sim1.Debits() != 1 || sim2.Debits() != 1 {
		t.Fatalf("debits %d/%d, want the second through the second peer", sim1.Debits(), sim2.Debits())
	}

	// It comes back: the client reconnects and prefers it again.
	sim1.SetFaults(ocssim.Faults{})
	eventually(t, "the first peer to reconnect", func() bool { return len(ch.Client().OpenPeers()) == 2 })
}

// A peer answering 3004 DIAMETER_TOO_BUSY: the request goes to the next
// peer, same Session-Id.
func TestTooBusyTriesNextPeer(t *testing.T) {
	t.Parallel()
	sim1, sim2 := newSim(t), newSim(t)
	cs := &charges{}
	ch := newCharger(t, cs, setup{retries: 1}, sim1, sim2)
	eventually(t, "both peers open", func() bool { return len(ch.Client().OpenPeers()) == 2 })
	sim1.SetFaults(ocssim.Faults{TooBusy: true})
	cs.add("order:23", ocs.ChargeInfo{MSISDN: payer, Amount: 100})
	if err := ch.Debit(ctx5(t), "order:23", payer, 100); err != nil {
		t.Fatal(err)
	}
	if sim1.Debits() != 0 || sim2.Debits() != 1 {
		t.Fatalf("debits %d/%d, want the second peer", sim1.Debits(), sim2.Debits())
	}
}

// A request in flight on a peer that goes silent fails over to the next
// peer with the same Session-Id (the T bit set).
func TestInFlightFailover(t *testing.T) {
	t.Parallel()
	sim1, sim2 := newSim(t), newSim(t)
	cs := &charges{}
	ch := newCharger(t, cs, setup{retries: 1, answer: 200 * time.Millisecond}, sim1, sim2)
	eventually(t, "both peers open", func() bool { return len(ch.Client().OpenPeers()) == 2 })
	sim1.SetFaults(ocssim.Faults{Silent: true})
	cs.add("order:22", ocs.ChargeInfo{MSISDN: payer, Amount: 100})
	if err := ch.Debit(ctx5(t), "order:22", payer, 100); err != nil {
		t.Fatal(err)
	}
	if sim2.Debits() != 1 || sim1.Debits() != 0 {
		t.Fatalf("debits %d/%d, want the second peer", sim1.Debits(), sim2.Debits())
	}
}

func TestRefund(t *testing.T) {
	t.Parallel()
	sim := newSim(t)
	cs := &charges{}
	cs.add("order:30", ocs.ChargeInfo{MSISDN: payer, Amount: 1000, Merchant: "8001"})
	ch := newCharger(t, cs, setup{}, sim)
	if err := ch.Debit(ctx5(t), "order:30", payer, 1000); err != nil {
		t.Fatal(err)
	}
	for range 2 { // a retried refund is a duplicate: refunded once
		if err := ch.Refund(ctx5(t), "refund:30:1", "order:30", payer, 400); err != nil {
			t.Fatal(err)
		}
	}
	if got := balance(t, sim, payer); got != 9400 || sim.Refunds() != 1 {
		t.Fatalf("balance %d refunds %d, want 9400 and 1", got, sim.Refunds())
	}
	var d *billing.Declined
	if err := ch.Refund(ctx5(t), "refund:x", "order:30", stranger, 100); !errors.As(err, &d) || d.Reason != billing.ReasonUnknownSubscriber {
		t.Fatalf("refund to an unknown number: %v", err)
	}
}

func TestTLS(t *testing.T) {
	t.Parallel()
	cert, pool := selfSigned(t)
	sim := ocssim.New("ocs1.sim.test", "sim.test", nil)
	sim.SetAccount(payer, ocssim.Account{Balance: 1000})
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	sim.Serve(ln)
	t.Cleanup(func() { sim.Close() })
	cs := &charges{}
	cs.add("order:40", ocs.ChargeInfo{MSISDN: payer, Amount: 100})
	ch := newCharger(t, cs, setup{tls: &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}, peerHosts: []string{"ocs1.sim.test"}}, sim)
	if err := ch.Debit(ctx5(t), "order:40", payer, 100); err != nil {
		t.Fatal(err)
	}
	if got := balance(t, sim, payer); got != 900 {
		t.Fatalf("balance %d", got)
	}
}

// A peer announcing another Origin-Host than configured is not used.
func TestPeerHostChecked(t *testing.T) {
	t.Parallel()
	sim := newSim(t)
	retries := 0
	ch, err := ocs.New(ocs.Options{
		Client: ocs.ClientOptions{OriginHost: "gw", OriginRealm: "r", DestinationRealm: "sim.test",
			Peers: []ocs.Peer{{Addr: sim.Addr(), Host: "someone.else"}}, AnswerTimeout: 200 * time.Millisecond, Retries: &retries,
			ReconnectMin: 10 * time.Millisecond, ReconnectMax: 20 * time.Millisecond},
		ServiceContextID: "x",
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := ch.Client().WaitOpen(ctx); err == nil {
		t.Fatal("opened a peer with the wrong Origin-Host")
	}
}

func TestSessionIDStable(t *testing.T) {
	a, b := ocs.SessionID("carrierbill.test", "order:1"), ocs.SessionID("carrierbill.test", "order:1")
	if a != b || a == ocs.SessionID("carrierbill.test", "order:2") {
		t.Fatalf("session ids %q %q", a, b)
	}
	if want := "carrierbill.test;"; a[:len(want)] != want {
		t.Fatalf("session id %q does not start with the prefix", a)
	}
}

// The merchant and product reach the OCS where it wants them, with the
// Service-Identifier and Rating-Group of the merchant's rule.
func TestMerchantInfoPlacement(t *testing.T) {
	t.Parallel()
	for _, where := range []ocs.MerchantInfo{ocs.InServiceInformation, ocs.InServiceParameterInfo, ocs.Nowhere} {
		sim := newSim(t)
		retries := 0
		ch, err := ocs.New(ocs.Options{
			Client: ocs.ClientOptions{OriginHost: "gw", OriginRealm: "r", DestinationRealm: "sim.test",
				Peers: []ocs.Peer{{Addr: sim.Addr()}}, AnswerTimeout: time.Second, Retries: &retries},
			ServiceContextID: "32274@3gpp.org", MerchantInfo: where,
			Rules: []ocs.ServiceRule{{Merchant: "8001", Service: ocs.Service{Identifier: 8001, RatingGroup: 80}}},
			Describe: func(context.Context, string) (ocs.ChargeInfo, error) {
				return ocs.ChargeInfo{MSISDN: payer, Amount: 100, Merchant: "8001", Product: "VIP"}, nil
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := ch.Debit(ctx5(t), "order:1", payer, 100); err != nil {
			t.Fatal(err)
		}
		ch.Close()
		want := ocssim.Rating{MSISDN: "8613800138000", ServiceIdentifier: 8001, RatingGroup: 80, Merchant: "8001", Product: "VIP"}
		if where == ocs.Nowhere {
			want.Merchant, want.Product = "", ""
		}
		if got := sim.Ratings(); len(got) != 1 || got[0] != want {
			t.Fatalf("%s: rated %+v, want %+v", where, got, want)
		}
	}
}

func TestServiceFor(t *testing.T) {
	o := ocs.Options{Default: ocs.Service{Identifier: 1, RatingGroup: 1}, Rules: []ocs.ServiceRule{
		{Merchant: "8001", Service: ocs.Service{Identifier: 10, RatingGroup: 10}},
		{Merchant: "8001", Product: "VIP", Service: ocs.Service{Identifier: 11, RatingGroup: 11}},
	}}
	for _, tc := range []struct {
		merchant, product string
		want              uint32
	}{{"8001", "VIP", 11}, {"8001", "GOLD", 10}, {"8001", "", 10}, {"8002", "VIP", 1}} {
		if got := o.ServiceFor(tc.merchant, tc.product); got.Identifier != tc.want {
			t.Errorf("%s/%s: %d, want %d", tc.merchant, tc.product, got.Identifier, tc.want)
		}
	}
}

func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ocs1.sim.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"ocs1.sim.test", "ocs.fd.test"}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(c)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

// Closing the charger and the simulator leaves no goroutine behind (not
// parallel: it counts the process's goroutines).
func TestNoGoroutineLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	func() {
		sim := ocssim.New("ocs1.sim.test", "sim.test", nil)
		sim.SetAccount(payer, ocssim.Account{Balance: 1000})
		if err := sim.Listen("127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		defer sim.Close()
		retries := 0
		ch, err := ocs.New(ocs.Options{
			Client: ocs.ClientOptions{OriginHost: "gw", OriginRealm: "r", DestinationRealm: "sim.test",
				Peers: []ocs.Peer{{Addr: sim.Addr()}, {Addr: "127.0.0.1:1"}}, AnswerTimeout: 200 * time.Millisecond, Retries: &retries,
				WatchdogInterval: 50 * time.Millisecond, ReconnectMin: 10 * time.Millisecond, ReconnectMax: 20 * time.Millisecond},
			ServiceContextID: "x",
		})
		if err != nil {
			t.Fatal(err)
		}
		defer ch.Close()
		if err := ch.Debit(ctx5(t), "order:1", payer, 100); err != nil {
			t.Fatal(err)
		}
	}()
	eventually(t, "goroutines to end", func() bool { return runtime.NumGoroutine() <= before })
}
