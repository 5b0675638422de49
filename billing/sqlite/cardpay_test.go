package sqlite

import (
	"bytes"
	"context"
	"log/slog"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/carrierbill/carrierbill/bank"
	"github.com/carrierbill/carrierbill/bank/banksim"
	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/billing/postgres"
	"github.com/carrierbill/carrierbill/clock"
	"github.com/carrierbill/carrierbill/wallet"
)

// Card binding and card payments on the embedded store: the same scenarios
// as billing/postgres/cardpay_test.go.

const (
	cardPAN   = "6222021234567881234" // Luhn-valid
	cardOwner = "张三"
	cardID    = "11010119900307123X"
	cardPhone = "8613800000001"
	cardAddr  = "106580088001"
)

type cardPayEnv struct {
	t        *testing.T
	s        *Store
	clk      *clock.Fake
	bank     *banksim.Bank
	cards    *billing.Cards
	eng      *billing.Engine
	token    string
	password string
	logs     *bytes.Buffer
}

func newCardPayEnv(t *testing.T) *cardPayEnv {
	t.Helper()
	ctx := context.Background()
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 11, 20, 2, 0, 0, 0, time.UTC))
	secrets, err := wallet.NewSecrets(bytes.Repeat([]byte("k"), 32))
	if err != nil {
		t.Fatal(err)
	}
	hasher, err := wallet.NewHasher([]byte("pepper-pepper-pepper"), wallet.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32})
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := wallet.NewSealer(bytes.Repeat([]byte("s"), 32))
	if err != nil {
		t.Fatal(err)
	}
	e := &cardPayEnv{t: t, s: s, clk: clk, bank: banksim.New(clk), logs: &bytes.Buffer{}}
	if e.token, err = e.bank.AddCard(cardPAN, cardOwner, cardID, billing.Yuan(100)); err != nil {
		t.Fatal(err)
	}
	if err := s.SetOwner(ctx, secrets, cardPhone, cardOwner, cardID); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(e.logs, nil))
	e.cards, err = billing.NewCards(billing.CardOptions{
		Store: s, Bank: bank.ForBilling(e.bank), Secrets: secrets, Hasher: hasher, Clock: clk, Logger: log, ServiceAddr: "10658008",
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg := billing.DefaultConfig()
	cfg.MinInterval = 0
	m := billing.DefaultMerchant("8001", "星辰游戏")
	m.Products = []billing.Product{{Keyword: "VIP", Name: "月度会员", Amount: billing.Yuan(15)}}
	cfg.Merchants = []billing.Merchant{m}
	e.eng, err = billing.NewEngine(billing.Options{
		Config: cfg, Store: s, Limiter: billing.NewMemoryLimiter(clk), Clock: clk, Logger: log,
		Charger:     NewAccounts(s, clk, billing.AccountsOptions{AutoOpen: true}),
		CardCharger: postgres.NewCardCharger(e.bank, s.TokenForCharge), CardBank: e.bank, Hasher: hasher, Sealer: sealer,
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.cards.Bind(ctx, cardPhone, cardPAN, cardOwner, cardID); err != nil {
		t.Fatal(err)
	}
	pw := regexp.MustCompile(`密码([0-9]{6})`).FindStringSubmatch(e.lastMT())
	if pw == nil {
		t.Fatalf("no initial password in %q", e.lastMT())
	}
	e.password = pw[1]
	return e
}

func (e *cardPayEnv) send(text string) billing.Result {
	e.t.Helper()
	rs, err := e.eng.HandleMO(context.Background(), billing.InboundMO{Bind: "test", MSISDN: cardPhone, ServiceAddr: cardAddr, Body: text})
	if err != nil || len(rs) != 1 {
		e.t.Fatalf("HandleMO(%q): %v, %d results", text, err, len(rs))
	}
	return rs[0]
}

func (e *cardPayEnv) lastMT() string {
	e.t.Helper()
	var body string
	if err := e.s.reader.QueryRow(`SELECT body FROM outbox WHERE msisdn = ? ORDER BY id DESC LIMIT 1`, cardPhone).Scan(&body); err != nil {
		e.t.Fatal(err)
	}
	return body
}

func (e *cardPayEnv) count(q string, args ...any) int {
	e.t.Helper()
	var n int
	if err := e.s.reader.QueryRow(q, args...).Scan(&n); err != nil {
		e.t.Fatalf("%s: %v", q, err)
	}
	return n
}

func (e *cardPayEnv) buy(text string) (int64, string) {
	e.t.Helper()
	r := e.send(text)
	if r.Outcome != billing.OutcomePrompted {
		e.t.Fatalf("%q: %+v", text, r)
	}
	m := regexp.MustCompile(`验证码([0-9]{6})`).FindStringSubmatch(e.lastMT())
	if m == nil {
		e.t.Fatalf("no code in %q", e.lastMT())
	}
	return r.OrderID, m[1]
}

func TestCardPaymentSQLite(t *testing.T) {
	t.Parallel()
	e := newCardPayEnv(t)
	if r := e.send("VIP K9999"); r.Reason != billing.ReasonNoCard {
		t.Fatalf("unknown card: %+v", r)
	}
	id, code := e.buy("VIP K")
	if r := e.send(code); r.Reason != billing.ReasonPasswordRequired {
		t.Fatalf("code alone: %+v", r)
	}
	if r := e.send(code + " " + e.password); r.Outcome != billing.OutcomeCharged {
		t.Fatalf("confirmation: %+v (%q)", r, e.lastMT())
	}
	if n := e.bank.Debits(billing.ChargeKey(id)); n != 1 {
		t.Fatalf("bank debits %d, want 1", n)
	}
	if n := e.count(`SELECT day_spent_fen FROM quota WHERE msisdn = ? AND method = 'card'`, cardPhone); n != 1500 {
		t.Fatalf("card quota %d, want 1500", n)
	}
	if n := e.count(`SELECT count(*) FROM mo_inbox WHERE instr(body, ?) > 0 OR sealed IS NOT NULL`, e.password); n != 0 {
		t.Fatalf("%d MO rows hold the password", n)
	}
	if strings.Contains(e.logs.String(), e.password) {
		t.Fatal("the password is in the logs")
	}
	if _, err := e.eng.Refund(context.Background(), id, "test", "r1"); err != nil {
		t.Fatalf("Refund: %v", err)
	}
	if bal, _ := e.bank.Balance(context.Background(), e.token); bal != billing.Yuan(100) {
		t.Fatalf("balance after refund %s", bal)
	}
	// The sent initial-password MT is scrubbed.
	ctx, now := context.Background(), e.clk.Now()
	msgs, err := e.s.ClaimOutbox(ctx, now, now.Add(time.Minute), 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		if err := e.s.MarkSent(ctx, m.ID, now); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.s.ScrubSentSecrets(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := e.count(`SELECT count(*) FROM outbox WHERE instr(body, ?) > 0`, e.password); n != 0 {
		t.Fatalf("%d outbox rows still hold the initial password", n)
	}
}

func TestCardWalletLockoutSQLite(t *testing.T) {
	t.Parallel()
	e := newCardPayEnv(t)
	_, code := e.buy("VIP K")
	wrong := "000000"
	if wrong == e.password {
		wrong = "111111"
	}
	for i, want := range []billing.Reason{billing.ReasonWrongPassword, billing.ReasonWrongPassword, billing.ReasonWalletLocked} {
		if r := e.send(code + " " + wrong); r.Reason != want {
			t.Fatalf("attempt %d: %+v, want %s", i+1, r, want)
		}
	}
	if r := e.send(code + " " + e.password); r.Reason != billing.ReasonWalletLocked {
		t.Fatalf("locked wallet, right password: %+v", r)
	}
	if err := e.cards.UnlockWallet(context.Background(), cardPhone); err != nil {
		t.Fatal(err)
	}
	if r := e.send(code + " " + e.password); r.Outcome != billing.OutcomeCharged {
		t.Fatalf("after unlock: %+v", r)
	}
}

func TestCardBankFaultsSQLite(t *testing.T) {
	t.Parallel()
	e := newCardPayEnv(t)
	// Declined: nothing taken, quota released.
	id, code := e.buy("VIP K")
	e.bank.FailNext(e.token, bank.ErrDeclined)
	if r := e.send(code + " " + e.password); r.Reason != billing.ReasonCardDeclined {
		t.Fatalf("declined: %+v", r)
	}
	if e.bank.Debits(billing.ChargeKey(id)) != 0 || e.count(`SELECT day_spent_fen FROM quota WHERE method = 'card'`) != 0 {
		t.Fatal("a declined debit took money or kept quota")
	}
	// Timeout after the debit: the sweep finalizes it, one debit.
	id, code = e.buy("VIP K")
	e.bank.TimeoutAfterDebit(e.token)
	if r := e.send(code + " " + e.password); r.Outcome != billing.OutcomePending {
		t.Fatalf("timeout: %+v", r)
	}
	e.clk.Advance(3 * time.Minute)
	if n, err := e.eng.Recover(context.Background()); err != nil || n != 1 {
		t.Fatalf("Recover = %d, %v", n, err)
	}
	if n := e.bank.Debits(billing.ChargeKey(id)); n != 1 {
		t.Fatalf("bank debits %d, want 1", n)
	}
	if n := e.count(`SELECT count(*) FROM orders WHERE id = ? AND status = 'paid'`, id); n != 1 {
		t.Fatal("order not paid after recovery")
	}
}
