package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/carrierbill/carrierbill/bank/banksim"
	"github.com/carrierbill/carrierbill/bank/httpbank/httpbanktest"
	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/clock"
	"github.com/carrierbill/carrierbill/internal/dbtest"
)

// Issue 18.8: card payments through `serve` with a configured bank
// adapter, never the empty built-in simulated bank.

// shiftClock is the wall clock plus an offset the test moves forward (to
// make a pending charge old enough for the recovery sweep).
type shiftClock struct{ d atomic.Int64 }

func (c *shiftClock) Now() time.Time          { return time.Now().Add(time.Duration(c.d.Load())) }
func (c *shiftClock) Advance(d time.Duration) { c.d.Add(int64(d)) }
func canonical(h *harness) string             { return "+" + h.newPhone() }
func issue(t *testing.T, b *banksim.Bank) string {
	issueCard(t, b, testPAN2)
	return issueCard(t, b, testPAN)
}

func issueCard(t *testing.T, b *banksim.Bank, pan string) string {
	t.Helper()
	tok, err := b.AddCard(pan, testOwner, testOwnerID, billing.Yuan(100))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// testPAN2 is a second Luhn-valid card of the test owner.
const testPAN2 = "6222021234567880004"

// adminBind registers phone's owner and binds testPAN2 through the card
// admin API (the bank must know the card), and returns the initial wallet
// password from its SMS.
//
// The admin API stores phone in the canonical form ("+86…"); the SMS path
// (billing.Engine.Accept) still strips the plus until the MO edge
// normalizes with package msisdn, so the payments below go through a
// second card bound in the engine's spelling (h.bind).
func (h *cardHarness) adminBind(phone string) string {
	h.t.Helper()
	if st, body := h.admin("POST", "/admin/owners", testAdminToken,
		fmt.Sprintf(`{"msisdn":%q,"name":%q,"id_number":%q}`, phone, testOwner, testOwnerID)); st != 200 {
		h.t.Fatalf("owner: %d %s", st, body)
	}
	if st, body := h.admin("POST", "/admin/cards/bind", testAdminToken,
		fmt.Sprintf(`{"msisdn":%q,"pan":%q,"name":%q,"id_number":%q}`, phone, testPAN2, testOwner, testOwnerID)); st != 201 {
		h.t.Fatalf("bind through the admin API: %d %s", st, body)
	}
	// The SMPP sender addresses MTs without the plus.
	m := walletPassword.FindStringSubmatch(h.reply(strings.TrimPrefix(phone, "+"), 1))
	if m == nil {
		h.t.Fatal("the binding MT carries no initial password")
	}
	return m[1]
}

// pay buys VIP (15.00) with the default card and returns the receipt, the
// n-th MT after the prompt.
func (h *cardHarness) pay(phone, password string, prompt int) string {
	h.t.Helper()
	h.send(phone, "106580088001", "VIP K")
	code := codeOf(h.t, h.reply(phone, prompt))
	h.send(phone, "106580088001", code+" "+password)
	return h.reply(phone, prompt+1)
}

// TestServeCardsOnTheSimulatedBankFile: serve loads the simulated bank
// from bank.sim_file, so a card issued there binds through the admin API
// (it answered unknown_card before) and pays.
func TestServeCardsOnTheSimulatedBankFile(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "bank.json")
	sim, err := banksim.Open(file, clock.Real{})
	if err != nil {
		t.Fatal(err)
	}
	tok := issue(t, sim)
	yaml := fmt.Sprintf("admin: {listen: \"127.0.0.1:0\"}\nredis: {timeout: 2s}\nbank: {adapter: sim, sim_file: %q}\n%s", file, testMerchants)
	logs := &syncBuffer{}
	h := &cardHarness{harness: bootWith(t, yaml, logs, GatewayOptions{
		CardKey: []byte(testCardKey), WalletPepper: []byte(testPepper), AdminToken: testAdminToken}), logs: logs, token: tok}
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(logs.String())
		}
	})
	h.adminBind(canonical(h.harness))
	phone := h.newPhone()
	password := h.bind(phone)
	if receipt := h.pay(phone, password, 2); !strings.Contains(receipt, "15.00") || !strings.Contains(receipt, "支付成功") {
		t.Fatalf("receipt %q", receipt)
	}
	// The bank that took the money is the file's.
	after, err := banksim.Open(file, clock.Real{})
	if err != nil {
		t.Fatal(err)
	}
	if bal, _ := after.Balance(context.Background(), tok); bal != billing.Yuan(85) {
		t.Fatalf("balance in the bank file %v, want 85.00", bal)
	}
	if !strings.Contains(logs.String(), "simulated bank") {
		t.Fatal("serve does not say it runs on the simulated bank")
	}
}

// TestServeCardBoundWithTheCLIPays: a card issued with `card issue` and
// bound with `card bind -bank-file` (another process, the same bank file
// and database) pays through serve.
func TestServeCardBoundWithTheCLIPays(t *testing.T) {
	t.Setenv(envCardKey, testCardKey)
	t.Setenv(envWalletPepper, testPepper)
	dir := t.TempDir()
	file := filepath.Join(dir, "bank.json")
	_, prefix := dbtest.Redis(t)
	cfgYAML := fmt.Sprintf("database: {url: %q}\nredis: {url: %q, prefix: %q}\nbank: {adapter: sim, sim_file: %q}\n%s",
		dbtest.Postgres(t), dbtest.RedisURL(), prefix, file, testMerchants)
	cfgPath := filepath.Join(dir, "carrierbill.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfgYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	cli := func(args ...string) string {
		t.Helper()
		var out, errs bytes.Buffer
		if err := commands["card"].run(context.Background(), append(args, "-config", cfgPath), &out, &errs); err != nil {
			t.Fatalf("card %v: %v\n%s", args[0], err, errs.String())
		}
		return out.String()
	}
	if out := cli("issue", "-pan", testPAN, "-name", testOwner, "-id", testOwnerID, "-balance", "50.00"); strings.Contains(out, testPAN) {
		t.Fatalf("card issue prints the card number: %s", out)
	}
	logs := &syncBuffer{}
	h := &cardHarness{harness: bootWith(t, cfgYAML, logs, GatewayOptions{}), logs: logs}
	if h.g.Cards == nil {
		t.Fatal("card payments are off")
	}
	phone := "+" + h.newPhone()
	cli("owner", "-msisdn", phone, "-name", testOwner, "-id", testOwnerID)
	cli("bind", "-msisdn", phone[3:], "-pan", testPAN, "-name", testOwner, "-id", testOwnerID, "-bank-file", file)
	// The CLI normalized the national spelling; serve sees the binding
	// (and its initial-password MT), and serve's bank knows the card.
	if m := walletPassword.FindStringSubmatch(h.reply(phone[1:], 1)); m == nil {
		t.Fatal("the binding MT carries no initial password")
	}
	cs, err := h.g.Cards.List(context.Background(), phone)
	if err != nil || len(cs) != 1 {
		t.Fatalf("cards of %s seen by serve: %v, %v", phone, cs, err)
	}
	if bal, err := h.g.Bank.Balance(context.Background(), cs[0].Token); err != nil || bal != billing.Yuan(50) {
		t.Fatalf("serve's bank on the CLI's card: %v, %v", bal, err)
	}
	if err := h.g.Bank.Debit(context.Background(), "cli-card-charge", cs[0].Token, 1500); err != nil {
		t.Fatalf("serve's bank cannot debit the CLI's card: %v", err)
	}
}

// TestServeCardsOnTheHTTPBank: serve with bank.adapter http against a bank
// gateway that verifies every signature: bind through the admin API, pay,
// a decline, and a debit whose answer never comes (unknown outcome) that
// the recovery sweep resolves without debiting twice.
func TestServeCardsOnTheHTTPBank(t *testing.T) {
	t.Parallel()
	key := []byte("bank-key-bank-key-bank-key-bank-key!")
	sim := banksim.New(clock.Real{})
	tok := issue(t, sim)
	gw := httpbanktest.New(sim, "carrierbill", key, clock.Real{})
	t.Cleanup(gw.Close)
	yaml := fmt.Sprintf("admin: {listen: \"127.0.0.1:0\"}\nbank: {adapter: http, url: %q, timeout: 500ms}\nredis: {timeout: 2s}\nfrequency: {min_interval: 0s}\n%s",
		gw.URL, testMerchants)
	logs := &syncBuffer{}
	clk := &shiftClock{}
	h := &cardHarness{harness: bootWith(t, yaml, logs, GatewayOptions{Clock: clk, BankKey: key,
		CardKey: []byte(testCardKey), WalletPepper: []byte(testPepper), AdminToken: testAdminToken}), logs: logs, token: tok}
	h.adminBind(canonical(h.harness))
	phone := h.newPhone()
	password := h.bind(phone)
	if gw.Requests("bind") != 2 {
		t.Fatalf("%d bind requests reached the bank", gw.Requests("bind"))
	}

	// 1. A payment.
	if receipt := h.pay(phone, password, 2); !strings.Contains(receipt, "支付成功") {
		t.Fatalf("receipt %q", receipt)
	}
	// 2. A decline: the card cannot cover 15.00.
	if err := sim.SetBalance(tok, 100); err != nil {
		t.Fatal(err)
	}
	if mt := h.pay(phone, password, 4); !strings.Contains(mt, "余额不足") {
		t.Fatalf("insufficient funds answered %q", mt)
	}
	if err := sim.SetBalance(tok, billing.Yuan(50)); err != nil {
		t.Fatal(err)
	}
	// 3. The bank debits and the answer never comes: the charge is left
	// for recovery; once it is old enough the sweep asks the bank (Status
	// says debited), finalizes it and sends the receipt.
	gw.StallNext("debit", true)
	h.send(phone, "106580088001", "VIP K")
	code := codeOf(t, h.reply(phone, 6))
	h.send(phone, "106580088001", code+" "+password)
	waitLog(t, logs, "debit outcome unknown")
	clk.Advance(3 * time.Minute)
	if receipt := h.reply(phone, 7); !strings.Contains(receipt, "支付成功") {
		t.Fatalf("after recovery: %q", receipt)
	}
	if gw.Requests("status") == 0 {
		t.Fatal("the recovery sweep never asked the bank")
	}
	if got := sim.Debited(tok); got != billing.Yuan(30) {
		t.Fatalf("debited %v in all, want 30.00 (two payments, none twice)", got)
	}
	if gw.Rejected("bad_signature")+gw.Rejected("stale_timestamp")+gw.Rejected("replayed_nonce") != 0 {
		t.Fatal("the bank rejected a request of the gateway")
	}
	for _, secret := range []string{testPAN, testOwnerID, string(key)} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("secret %s… in the logs", secret[:2])
		}
	}
}

// waitLog waits until the logs contain s (the gateway's own report that
// something happened), failing after 20s.
func waitLog(t *testing.T, logs *syncBuffer, s string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(logs.String(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("the log never said %q", s)
		}
		select {
		case <-time.After(20 * time.Millisecond):
		case <-t.Context().Done():
			return
		}
	}
}
