package postgres_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/carrierbill/carrierbill/bank"
	"github.com/carrierbill/carrierbill/bank/banksim"
	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/billing/postgres"
	"github.com/carrierbill/carrierbill/clock"
	"github.com/carrierbill/carrierbill/wallet"
)

// Card payments through the engine on PostgreSQL: the SMS commands
// (purchase with a card suffix, code + wallet password, MM, YE), the
// two-phase charge through the simulated bank, and the lockout.

const payAddr = "106580088001"

// lockedBuffer is a log sink safe for concurrent writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type payEnv struct {
	t        *testing.T
	pool     *pgxpool.Pool
	clk      *clock.Fake
	bank     *banksim.Bank
	cards    *billing.Cards
	eng      *billing.Engine
	token    string // panA's bank token
	password string // phone1's initial wallet password
	logs     *lockedBuffer
}

var initialPassword = regexp.MustCompile(`密码([0-9]{6})`)

// newPayEnv binds panA to phone1; mut changes the engine's configuration.
func newPayEnv(t *testing.T, mut ...func(*billing.Config)) *payEnv {
	t.Helper()
	ctx := context.Background()
	pool := migrated(t)
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
	e := &payEnv{t: t, pool: pool, clk: clk, bank: banksim.New(clk), logs: &lockedBuffer{}}
	if e.token, err = e.bank.AddCard(panA, owner, ownID, billing.Yuan(100)); err != nil {
		t.Fatal(err)
	}
	cs := postgres.NewCardStore(pool)
	for _, ph := range []string{phone1, phone2} {
		if err := cs.SetOwner(ctx, secrets, ph, owner, ownID); err != nil {
			t.Fatal(err)
		}
	}
	log := slog.New(slog.NewTextHandler(e.logs, nil))
	e.cards, err = billing.NewCards(billing.CardOptions{
		Store: cs, Bank: bank.ForBilling(e.bank), Secrets: secrets, Hasher: hasher, Clock: clk, Logger: log, ServiceAddr: "10658008",
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg := billing.DefaultConfig()
	cfg.MinInterval = 0
	m := billing.DefaultMerchant("8001", "星辰游戏")
	m.OpenAmount = true
	m.Products = []billing.Product{{Keyword: "VIP", Name: "月度会员", Amount: billing.Yuan(15)}}
	cfg.Merchants = []billing.Merchant{m}
	for _, f := range mut {
		f(&cfg)
	}
	e.eng, err = billing.NewEngine(billing.Options{
		Config: cfg, Store: postgres.NewStore(pool), Limiter: billing.NewMemoryLimiter(clk), Clock: clk, Logger: log,
		Charger:     postgres.NewAccounts(pool, clk, billing.AccountsOptions{AutoOpen: true}),
		CardCharger: cs.Charger(e.bank), CardBank: e.bank, Hasher: hasher, Sealer: sealer,
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.cards.Bind(ctx, phone1, panA, owner, ownID); err != nil {
		t.Fatal(err)
	}
	pw := initialPassword.FindStringSubmatch(e.lastMT(phone1))
	if pw == nil {
		t.Fatalf("no initial password in %q", e.lastMT(phone1))
	}
	e.password = pw[1]
	return e
}

// send stores an MO as the SMPP consumer does and processes it.
func (e *payEnv) send(msisdn, text string) billing.Result {
	e.t.Helper()
	rs, err := e.eng.HandleMO(context.Background(), billing.InboundMO{Bind: "test", MSISDN: msisdn, ServiceAddr: payAddr, Body: text})
	if err != nil {
		e.t.Fatalf("HandleMO(%q): %v", text, err)
	}
	if len(rs) != 1 {
		e.t.Fatalf("HandleMO(%q): %d results", text, len(rs))
	}
	return rs[0]
}

func (e *payEnv) lastMT(msisdn string) string {
	e.t.Helper()
	var body string
	if err := e.pool.QueryRow(context.Background(), `SELECT body FROM outbox WHERE msisdn = $1 ORDER BY id DESC LIMIT 1`, msisdn).Scan(&body); err != nil {
		e.t.Fatalf("last MT to %s: %v", msisdn, err)
	}
	return body
}

var promptCode = regexp.MustCompile(`(^|[^0-9])([0-9]{6})([^0-9]|$)`)

// buy sends a card purchase and returns the order and its code.
func (e *payEnv) buy(text string) (int64, string) {
	e.t.Helper()
	r := e.send(phone1, text)
	if r.Outcome != billing.OutcomePrompted && r.Outcome != billing.OutcomeResent {
		e.t.Fatalf("%q: %+v", text, r)
	}
	prompt := e.lastMT(phone1)
	all := promptCode.FindAllStringSubmatch(prompt, -1)
	if len(all) != 1 || !strings.Contains(prompt, "尾号"+panA[len(panA)-4:]) {
		e.t.Fatalf("card prompt %q: want one 6-digit code and the card's last four digits", prompt)
	}
	return r.OrderID, all[0][2]
}

func (e *payEnv) scalar(q string, args ...any) int64 {
	e.t.Helper()
	var n int64
	if err := e.pool.QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		e.t.Fatalf("%s: %v", q, err)
	}
	return n
}

func TestCardPaymentCharged(t *testing.T) {
	t.Parallel()
	e := newPayEnv(t)
	id, code := e.buy("vip k")
	r := e.send(phone1, code+" "+e.password)
	if r.Outcome != billing.OutcomeCharged {
		t.Fatalf("confirmation: %+v (MT %q)", r, e.lastMT(phone1))
	}
	if n := e.bank.Debits(billing.ChargeKey(id)); n != 1 {
		t.Fatalf("bank debits = %d, want 1", n)
	}
	if bal, _ := e.bank.Balance(context.Background(), e.token); bal != billing.Yuan(85) {
		t.Fatalf("card balance %s, want 85.00", bal)
	}
	if got := e.scalar(`SELECT day_spent_fen FROM quota WHERE msisdn = $1 AND method = 'card'`, phone1); got != 1500 {
		t.Fatalf("card quota day spent %d, want 1500", got)
	}
	if got := e.scalar(`SELECT count(*) FROM quota WHERE msisdn = $1 AND method = 'phone' AND day_spent_fen > 0`, phone1); got != 0 {
		t.Fatalf("the phone quota was charged for a card payment")
	}
	if got := e.scalar(`SELECT count(*) FROM ledger_entries WHERE account = $1`, billing.SubscriberAccount(billing.MethodCard, phone1)); got != 1 {
		t.Fatalf("card ledger entries %d, want 1", got)
	}
	if r := e.send(phone1, "CX"); r.Outcome != billing.OutcomeQueried || !strings.Contains(e.lastMT(phone1), "银行卡今日剩余额度35.00元") {
		t.Fatalf("CX: %+v %q, want the card quota left", r, e.lastMT(phone1))
	}
	// The same reply again: already paid, no second debit.
	if r := e.send(phone1, code+" "+e.password); r.Reason != billing.ReasonAlreadyPaid {
		t.Fatalf("second confirmation: %+v", r)
	}
	if n := e.bank.Debits(billing.ChargeKey(id)); n != 1 {
		t.Fatalf("bank debits after a repeat = %d, want 1", n)
	}
	// The password was never stored: body redacted, sealed box dropped.
	if got := e.scalar(`SELECT count(*) FROM mo_inbox WHERE strpos(body, $1) > 0 OR sealed IS NOT NULL`, e.password); got != 0 {
		t.Fatalf("%d MO rows hold the password or a sealed box after processing", got)
	}
	if strings.Contains(e.logs.String(), e.password) {
		t.Fatalf("the wallet password is in the logs")
	}
	// Refund goes back to the card through the card charger.
	if _, err := e.eng.Refund(context.Background(), id, "test", "refund-1"); err != nil {
		t.Fatalf("Refund: %v", err)
	}
	if bal, _ := e.bank.Balance(context.Background(), e.token); bal != billing.Yuan(100) {
		t.Fatalf("card balance after the refund %s, want 100.00", bal)
	}
}

func TestCardPurchaseRefusals(t *testing.T) {
	t.Parallel()
	e := newPayEnv(t)
	tests := []struct {
		name, msisdn, text string
		want               billing.Reason
	}{
		{"no card bound", phone2, "VIP K", billing.ReasonNoCard},
		{"no card with these digits", phone1, "VIP K9999", billing.ReasonNoCard},
		{"amount over the card limit", phone1, "40 K", billing.ReasonAmountOutOfRange},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if r := e.send(tt.msisdn, tt.text); r.Reason != tt.want {
				t.Fatalf("%q: %+v, want %s", tt.text, r, tt.want)
			}
		})
	}
	// The code alone does not pay a card order; the order stays pending.
	id, code := e.buy("VIP K" + panA[len(panA)-4:])
	if r := e.send(phone1, code); r.Reason != billing.ReasonPasswordRequired {
		t.Fatalf("code without password: %+v", r)
	}
	if r := e.send(phone1, code+"#"+e.password); r.Outcome != billing.OutcomeCharged || r.OrderID != id {
		t.Fatalf("code#password: %+v", r)
	}
}

func TestCardWalletLockout(t *testing.T) {
	t.Parallel()
	e := newPayEnv(t)
	_, code := e.buy("VIP K")
	wrong := "000000"
	if wrong == e.password {
		wrong = "111111"
	}
	for i, want := range []billing.Reason{billing.ReasonWrongPassword, billing.ReasonWrongPassword, billing.ReasonWalletLocked, billing.ReasonWalletLocked} {
		pw := wrong
		if i == 3 { // locked: even the right password is refused
			pw = e.password
		}
		if r := e.send(phone1, code+" "+pw); r.Reason != want {
			t.Fatalf("attempt %d: %+v, want %s", i+1, r, want)
		}
	}
	if mt := e.lastMT(phone1); !strings.Contains(mt, "营业厅") {
		t.Fatalf("the locked MT %q does not say how to unlock", mt)
	}
	if e.bank.Debits(billing.ChargeKey(1)) != 0 || len(e.bank.Ledger()) != 0 {
		t.Fatalf("a locked wallet moved money: %+v", e.bank.Ledger())
	}
	if err := e.cards.UnlockWallet(context.Background(), phone1); err != nil {
		t.Fatal(err)
	}
	if r := e.send(phone1, code+" "+e.password); r.Outcome != billing.OutcomeCharged {
		t.Fatalf("after the unlock: %+v", r)
	}
}

func TestCardPasswordChangeAndBalance(t *testing.T) {
	t.Parallel()
	e := newPayEnv(t)
	const newPW = "502817"
	tests := []struct {
		text string
		want billing.Reason // "" = answered
	}{
		{"MM 1234", billing.ReasonBadPassword},
		{"MM " + e.password + " 123456", billing.ReasonBadPassword}, // policy: a run
		{"MM " + e.password + " " + newPW, ""},
		{"YE", ""},
	}
	for _, tt := range tests {
		r := e.send(phone1, tt.text)
		if r.Reason != tt.want {
			t.Fatalf("%q: %+v, want %q (MT %q)", tt.text, r, tt.want, e.lastMT(phone1))
		}
	}
	if mt := e.lastMT(phone1); !strings.Contains(mt, "100.00") {
		t.Fatalf("YE answered %q, want the balance 100.00", mt)
	}
	_, code := e.buy("VIP K")
	if r := e.send(phone1, code+" "+e.password); r.Reason != billing.ReasonWrongPassword {
		t.Fatalf("the old password still pays: %+v", r)
	}
	if r := e.send(phone1, code+" "+newPW); r.Outcome != billing.OutcomeCharged {
		t.Fatalf("the new password: %+v", r)
	}
	if got := e.scalar(`SELECT count(*) FROM mo_inbox WHERE strpos(body, $1) > 0 OR strpos(body, $2) > 0 OR sealed IS NOT NULL`, e.password, newPW); got != 0 {
		t.Fatalf("%d MO rows hold a password", got)
	}
}

func TestCardBankTimeoutAfterDebitRecovered(t *testing.T) {
	t.Parallel()
	e := newPayEnv(t)
	id, code := e.buy("VIP K")
	e.bank.TimeoutAfterDebit(e.token)
	if r := e.send(phone1, code+" "+e.password); r.Outcome != billing.OutcomePending {
		t.Fatalf("confirmation with a bank timeout: %+v", r)
	}
	e.clk.Advance(3 * time.Minute) // past RecoverAfter
	n, err := e.eng.Recover(context.Background())
	if err != nil || n != 1 {
		t.Fatalf("Recover = %d, %v; want 1", n, err)
	}
	if got := e.bank.Debits(billing.ChargeKey(id)); got != 1 {
		t.Fatalf("bank debits = %d, want exactly 1", got)
	}
	if got := e.scalar(`SELECT count(*) FROM orders WHERE id = $1 AND status = 'paid'`, id); got != 1 {
		t.Fatalf("order %d not paid after recovery", id)
	}
	if mt := e.lastMT(phone1); !strings.Contains(mt, "15.00") {
		t.Fatalf("no receipt after recovery: %q", mt)
	}
}

func TestCardDeclined(t *testing.T) {
	t.Parallel()
	e := newPayEnv(t)
	id, code := e.buy("VIP K")
	e.bank.FailNext(e.token, bank.ErrDeclined)
	r := e.send(phone1, code+" "+e.password)
	if r.Outcome != billing.OutcomeRejected {
		t.Fatalf("declined card: %+v", r)
	}
	if got := e.bank.Debits(billing.ChargeKey(id)); got != 0 {
		t.Fatalf("bank debits = %d, want 0", got)
	}
	if got := e.scalar(`SELECT day_spent_fen FROM quota WHERE msisdn = $1 AND method = 'card'`, phone1); got != 0 {
		t.Fatalf("quota not released after the decline: %d", got)
	}
	if got := e.scalar(`SELECT count(*) FROM orders WHERE id = $1 AND status = 'failed'`, id); got != 1 {
		t.Fatalf("order %d not failed", id)
	}
}

// BenchmarkCardPurchaseConfirm measures one bank-card payment end to end on
// PostgreSQL (purchase MO, then code + wallet password MO: redaction and
// sealing, argon2id verification with the default parameters, two-phase
// charge against the simulated bank). Each iteration is a new phone number.
func BenchmarkCardPurchaseConfirm(b *testing.B) {
	ctx := context.Background()
	pool := migrated(b)
	clk := clock.NewFake(time.Date(2026, 11, 20, 2, 0, 0, 0, time.UTC))
	secrets, _ := wallet.NewSecrets(bytes.Repeat([]byte("k"), 32))
	hasher, err := wallet.NewHasher([]byte("pepper-pepper-pepper"), wallet.DefaultParams)
	if err != nil {
		b.Fatal(err)
	}
	sealer, _ := wallet.NewSealer(bytes.Repeat([]byte("s"), 32))
	bk := banksim.New(clk)
	cs := postgres.NewCardStore(pool)
	cards, err := billing.NewCards(billing.CardOptions{Store: cs, Bank: bank.ForBilling(bk), Secrets: secrets, Hasher: hasher, Clock: clk, ServiceAddr: "10658008"})
	if err != nil {
		b.Fatal(err)
	}
	cfg := billing.DefaultConfig()
	cfg.MinInterval = 0
	m := billing.DefaultMerchant("8001", "星辰游戏")
	m.OpenAmount = true
	cfg.Merchants = []billing.Merchant{m}
	eng, err := billing.NewEngine(billing.Options{
		Config: cfg, Store: postgres.NewStore(pool), Limiter: billing.NewMemoryLimiter(clk), Clock: clk,
		Charger:     postgres.NewAccounts(pool, clk, billing.AccountsOptions{AutoOpen: true}),
		CardCharger: cs.Charger(bk), CardBank: bk, Hasher: hasher, Sealer: sealer,
	})
	if err != nil {
		b.Fatal(err)
	}
	type sub struct{ phone, password string }
	subs := make([]sub, b.N)
	for i := range subs {
		phone := "86137" + strconv.Itoa(10000000+i)
		pan := luhnPAN("62220200" + strconv.Itoa(10000000+i))
		if _, err := bk.AddCard(pan, owner, ownID, billing.Yuan(1000)); err != nil {
			b.Fatal(err)
		}
		if err := cs.SetOwner(ctx, secrets, phone, owner, ownID); err != nil {
			b.Fatal(err)
		}
		if _, err := cards.Bind(ctx, phone, pan, owner, ownID); err != nil {
			b.Fatal(err)
		}
		var body string
		if err := pool.QueryRow(ctx, `SELECT body FROM outbox WHERE msisdn = $1 ORDER BY id DESC LIMIT 1`, phone).Scan(&body); err != nil {
			b.Fatal(err)
		}
		subs[i] = sub{phone, initialPassword.FindStringSubmatch(body)[1]}
	}
	mo := func(phone, text string) billing.Result {
		rs, err := eng.HandleMO(ctx, billing.InboundMO{Bind: "b", MSISDN: phone, ServiceAddr: payAddr, Body: text})
		if err != nil || len(rs) != 1 {
			b.Fatalf("%v %d", err, len(rs))
		}
		return rs[0]
	}
	b.ResetTimer()
	for _, s := range subs {
		mo(s.phone, "10 K")
		var code string
		if err := pool.QueryRow(ctx, `SELECT code FROM orders WHERE msisdn = $1 AND status = 'pending'`, s.phone).Scan(&code); err != nil {
			b.Fatal(err)
		}
		if r := mo(s.phone, code+" "+s.password); r.Outcome != billing.OutcomeCharged {
			b.Fatalf("%+v", r)
		}
	}
}

// luhnPAN appends the Luhn check digit to body.
func luhnPAN(body string) string {
	sum := 0
	for i := len(body) - 1; i >= 0; i-- {
		d := int(body[i] - '0')
		if (len(body)-1-i)%2 == 0 {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return body + strconv.Itoa((10-sum%10)%10)
}

func TestCardFrequencyApartFromPhone(t *testing.T) {
	t.Parallel()
	e := newPayEnv(t, func(c *billing.Config) {
		c.MinInterval = 0
		c.CardFrequency = &billing.Frequency{MinInterval: time.Hour, PurchasesPerHour: 2}
	})
	_, code := e.buy("VIP K")
	if r := e.send(phone1, code+" "+e.password); r.Outcome != billing.OutcomeCharged {
		t.Fatalf("first card payment: %+v", r)
	}
	_, code = e.buy("5 K")
	if r := e.send(phone1, code+" "+e.password); r.Reason != billing.ReasonTooFrequent {
		t.Fatalf("second card payment within the card interval: %+v", r)
	}
	if r := e.send(phone1, "5 K"); r.Reason != billing.ReasonTooFrequent {
		t.Fatalf("third card purchase in the hour: %+v", r)
	}
	// The phone account has its own rules: no interval, its own counter.
	if r := e.send(phone1, "5"); r.Outcome != billing.OutcomePrompted {
		t.Fatalf("phone purchase: %+v", r)
	}
}

// A gateway started without its card key must never send a card refund to
// the phone account.
func TestCardRefundWithCardsOff(t *testing.T) {
	t.Parallel()
	e := newPayEnv(t)
	id, code := e.buy("VIP K")
	if r := e.send(phone1, code+" "+e.password); r.Outcome != billing.OutcomeCharged {
		t.Fatalf("payment: %+v", r)
	}
	off, err := billing.NewEngine(billing.Options{
		Config: e.eng.Config(), Store: postgres.NewStore(e.pool), Limiter: billing.NewMemoryLimiter(e.clk), Clock: e.clk,
		Charger: postgres.NewAccounts(e.pool, e.clk, billing.AccountsOptions{AutoOpen: true}),
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := off.Refund(context.Background(), id, "test", "r-off"); !errors.Is(err, billing.ErrCardsOff) {
		t.Fatalf("Refund with cards off: %v, want ErrCardsOff", err)
	}
	if got := e.scalar(`SELECT count(*) FROM refunds`); got != 0 {
		t.Fatalf("%d refunds recorded", got)
	}
}
