package storetest

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/carrierbill/carrierbill/bank"
	"github.com/carrierbill/carrierbill/bank/banksim"
	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/clock"
	"github.com/carrierbill/carrierbill/sms"
	"github.com/carrierbill/carrierbill/wallet"
)

// CardEnv is what the bank-card scenarios need from one fresh, migrated
// store: the engine's store and the card store on the same database, the
// store's phone-account charger and card charger, a way to register a
// phone number's owner, and a few read-only counts the store API does not
// offer (they are how the suite checks that no secret was kept).
type CardEnv struct {
	// Store is the engine's store; its Tx must be a billing.CardPayTx and
	// it must implement ScrubSentSecrets.
	Store billing.Store
	// Cards stores cards and wallets in the same database as Store.
	Cards billing.CardStore
	// Accounts returns the store's phone-account charger (AutoOpen).
	Accounts func(clk clock.Clock) billing.Charger
	// CardCharger returns the card charger with the store's token resolver.
	CardCharger func(a bank.Adapter) billing.Charger
	// SetOwner registers the owner of msisdn (the operator's real-name
	// record).
	SetOwner func(ctx context.Context, secrets *wallet.Secrets, msisdn, name, idNumber string) error
	// MOHolding counts the stored MOs whose body contains one of secrets
	// or that still keep a sealed box.
	MOHolding func(ctx context.Context, secrets ...string) (int, error)
	// OutboxHolding counts the outbox rows whose body contains secret.
	OutboxHolding func(ctx context.Context, secret string) (int, error)
	// LedgerEntries counts the ledger entries of account.
	LedgerEntries func(ctx context.Context, account string) (int, error)
}

// OpenCards returns a CardEnv on a fresh, empty, migrated store for one
// test. It registers its own cleanup.
type OpenCards func(t *testing.T) CardEnv

// RunCards runs the bank-card payment scenarios (SMS purchase with a card
// suffix, code + wallet password, MM, YE, CX, the lockout, the bank's
// refusals and timeouts, refunds to the card) against the stores open
// returns, through the real engine and the simulated bank.
func RunCards(t *testing.T, open OpenCards) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, open OpenCards)
	}{
		{"Charged", testCardCharged},
		{"PurchaseRefusals", testCardRefusals},
		{"WalletLockout", testCardLockout},
		{"PasswordChangeAndBalance", testCardPasswordChange},
		{"BankTimeoutAfterDebitRecovered", testCardTimeoutRecovered},
		{"Declined", testCardDeclined},
		{"FrequencyApartFromPhone", testCardFrequency},
		{"RefundWithCardsOff", testCardRefundCardsOff},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, open)
		})
	}
}

const (
	cardPAN   = "6222021234567881234" // Luhn-valid
	cardOwner = "张三"
	cardOwnID = "11010119900307123X"
	cardAddr  = "106580088001"
)

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

// cardEnv is one engine with cards on one fresh store; phoneA owns
// cardPAN, bound, and phoneB has the same owner and no card.
type cardEnv struct {
	t        *testing.T
	ctx      context.Context
	st       CardEnv
	clk      *clock.Fake
	bank     *banksim.Bank
	cards    *billing.Cards
	eng      *billing.Engine
	sms      *sms.Channel
	token    string // cardPAN's bank token
	password string // phoneA's initial wallet password
	sealer   *wallet.Sealer
	logs     *lockedBuffer
	last     map[string]string // the last MT body per number
}

var initialPassword = regexp.MustCompile(`密码([0-9]{6})`)

func newCardEnv(t *testing.T, open OpenCards, mut ...func(*billing.Config)) *cardEnv {
	t.Helper()
	ctx := context.Background()
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
	e := &cardEnv{t: t, ctx: ctx, st: open(t), clk: clk, bank: banksim.New(clk), logs: &lockedBuffer{}, last: map[string]string{}, sealer: sealer}
	if e.token, err = e.bank.AddCard(cardPAN, cardOwner, cardOwnID, billing.Yuan(100)); err != nil {
		t.Fatal(err)
	}
	for _, ph := range []string{phoneA, phoneB} {
		if err := e.st.SetOwner(ctx, secrets, ph, cardOwner, cardOwnID); err != nil {
			t.Fatal(err)
		}
	}
	log := slog.New(slog.NewTextHandler(e.logs, nil))
	e.cards, err = billing.NewCards(billing.CardOptions{
		Store: e.st.Cards, Bank: bank.ForBilling(e.bank), Secrets: secrets, Hasher: hasher, Sealer: sealer, Clock: clk, Logger: log, ServiceAddr: "10658008",
		Notifier: sms.Default(),
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
	e.eng, e.sms, err = sms.NewEngine(billing.Options{
		Config: cfg, Store: e.st.Store, Limiter: billing.NewMemoryLimiter(clk), Clock: clk, Logger: log,
		Charger:     e.st.Accounts(clk),
		CardCharger: e.st.CardCharger(e.bank), CardBank: e.bank, Hasher: hasher,
	}, sms.TextConfig{}, sms.Options{Sealer: sealer, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.cards.Bind(ctx, phoneA, cardPAN, cardOwner, cardOwnID); err != nil {
		t.Fatal(err)
	}
	pw := initialPassword.FindStringSubmatch(e.lastMT(phoneA))
	if pw == nil {
		t.Fatalf("no initial password in %q", e.lastMT(phoneA))
	}
	e.password = pw[1]
	// Issue 18.3: the initial password was never written in clear, not
	// even before the MT was sent.
	if n, err := e.st.OutboxHolding(ctx, e.password); err != nil || n != 0 {
		t.Fatalf("%d outbox rows (%v) hold the initial password in clear", n, err)
	}
	return e
}

// send stores an MO as the SMPP consumer does and processes it.
func (e *cardEnv) send(msisdn, text string) billing.Result {
	e.t.Helper()
	rs, err := e.sms.HandleMO(e.ctx, billing.InboundMO{Bind: "test", MSISDN: msisdn, ServiceAddr: cardAddr, Body: text})
	if err != nil {
		e.t.Fatalf("HandleMO(%q): %v", text, err)
	}
	if len(rs) != 1 {
		e.t.Fatalf("HandleMO(%q): %d results", text, len(rs))
	}
	return rs[0]
}

// lastMT returns the body of the last MT queued to msisdn: it takes every
// due MT from the outbox (marking it sent) and remembers the last per
// number.
func (e *cardEnv) lastMT(msisdn string) string {
	e.t.Helper()
	for _, m := range claimDue(e.t, e.ctx, e.st.Store, e.clk.Now()) {
		e.last[m.MSISDN] = m.Body
		if len(m.Sealed) > 0 { // the initial password, as the Dispatcher opens it
			text, err := e.sealer.Open(m.MSISDN, m.Sealed)
			if err != nil {
				e.t.Fatalf("opening a sealed MT: %v", err)
			}
			e.last[m.MSISDN] = text
		}
	}
	body, ok := e.last[msisdn]
	if !ok {
		e.t.Fatalf("no MT to %s", msisdn)
	}
	return body
}

var cardCode = regexp.MustCompile(`验证码([0-9]{6})`)

// buy sends a card purchase from phoneA and returns the order and its code.
func (e *cardEnv) buy(text string) (int64, string) {
	e.t.Helper()
	r := e.send(phoneA, text)
	if r.Outcome != billing.OutcomePrompted {
		e.t.Fatalf("%q: %+v, want a prompt", text, r)
	}
	prompt := e.lastMT(phoneA)
	all := sixDigits.FindAllStringSubmatch(prompt, -1)
	if len(all) != 1 || !strings.Contains(prompt, "尾号"+cardPAN[len(cardPAN)-4:]) {
		e.t.Fatalf("card prompt %q: want one 6-digit code and the card's last four digits", prompt)
	}
	m := cardCode.FindStringSubmatch(prompt)
	if m == nil || m[1] != all[0][2] {
		e.t.Fatalf("card prompt %q: no 验证码 before the code", prompt)
	}
	return r.OrderID, m[1]
}

func (e *cardEnv) order(id int64) billing.Order {
	e.t.Helper()
	return getOrder(e.t, e.ctx, e.st.Store, id)
}

// daySpent returns what was last saved as spent today by msisdn with method.
func (e *cardEnv) daySpent(msisdn string, method billing.Method) billing.Money {
	e.t.Helper()
	return lockQuota(e.t, e.ctx, e.st.Store, msisdn, method).DaySpent
}

// moHolding counts the MOs that keep one of secrets or a sealed box.
func (e *cardEnv) moHolding(secrets ...string) int {
	e.t.Helper()
	n, err := e.st.MOHolding(e.ctx, secrets...)
	if err != nil {
		e.t.Fatalf("MOHolding: %v", err)
	}
	return n
}

func testCardCharged(t *testing.T, open OpenCards) {
	e := newCardEnv(t, open)
	id, code := e.buy("vip k")
	r := e.send(phoneA, code+" "+e.password)
	if r.Outcome != billing.OutcomeCharged {
		t.Fatalf("confirmation: %+v (MT %q)", r, e.lastMT(phoneA))
	}
	if n := e.bank.Debits(billing.ChargeKey(id)); n != 1 {
		t.Fatalf("bank debits = %d, want 1", n)
	}
	if bal, _ := e.bank.Balance(e.ctx, e.token); bal != billing.Yuan(85) {
		t.Fatalf("card balance %s, want 85.00", bal)
	}
	if got := e.daySpent(phoneA, billing.MethodCard); got != 1500 {
		t.Fatalf("card quota day spent %d, want 1500", got)
	}
	if got := e.daySpent(phoneA, billing.MethodPhone); got != 0 {
		t.Fatalf("the phone quota was charged for a card payment: %d", got)
	}
	if got, err := e.st.LedgerEntries(e.ctx, billing.SubscriberAccount(billing.MethodCard, phoneA)); err != nil || got != 1 {
		t.Fatalf("card ledger entries %d (%v), want 1", got, err)
	}
	if r := e.send(phoneA, "CX"); r.Outcome != billing.OutcomeQueried || !strings.Contains(e.lastMT(phoneA), "银行卡今日剩余额度35.00元") {
		t.Fatalf("CX: %+v %q, want the card quota left", r, e.lastMT(phoneA))
	}
	// The same reply again: already paid, no second debit.
	if r := e.send(phoneA, code+" "+e.password); r.Reason != billing.ReasonAlreadyPaid {
		t.Fatalf("second confirmation: %+v", r)
	}
	if n := e.bank.Debits(billing.ChargeKey(id)); n != 1 {
		t.Fatalf("bank debits after a repeat = %d, want 1", n)
	}
	// The password was never stored: body redacted, sealed box dropped.
	if got := e.moHolding(e.password); got != 0 {
		t.Fatalf("%d MO rows hold the password or a sealed box after processing", got)
	}
	if strings.Contains(e.logs.String(), e.password) {
		t.Fatalf("the wallet password is in the logs")
	}
	// Refund goes back to the card through the card charger.
	if _, err := e.eng.Refund(e.ctx, billing.RefundRequest{OrderID: id, Reason: "test", IdempotencyKey: "refund-1"}); err != nil {
		t.Fatalf("Refund: %v", err)
	}
	if bal, _ := e.bank.Balance(e.ctx, e.token); bal != billing.Yuan(100) {
		t.Fatalf("card balance after the refund %s, want 100.00", bal)
	}
	// The sent initial-password MT is scrubbed (lastMT marked every MT sent).
	e.lastMT(phoneA)
	scrub, ok := e.st.Store.(interface {
		ScrubSentSecrets(ctx context.Context) (int, error)
	})
	if !ok {
		t.Fatalf("%T has no ScrubSentSecrets", e.st.Store)
	}
	if _, err := scrub.ScrubSentSecrets(e.ctx); err != nil {
		t.Fatalf("ScrubSentSecrets: %v", err)
	}
	if n, err := e.st.OutboxHolding(e.ctx, e.password); err != nil || n != 0 {
		t.Fatalf("%d outbox rows (%v) still hold the initial password", n, err)
	}
}

func testCardRefusals(t *testing.T, open OpenCards) {
	e := newCardEnv(t, open)
	tests := []struct {
		name, msisdn, text string
		want               billing.Reason
	}{
		{"no card bound", phoneB, "VIP K", billing.ReasonNoCard},
		{"no card with these digits", phoneA, "VIP K9999", billing.ReasonNoCard},
		{"amount over the card limit", phoneA, "40 K", billing.ReasonAmountOutOfRange},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if r := e.send(tt.msisdn, tt.text); r.Reason != tt.want {
				t.Fatalf("%q: %+v, want %s", tt.text, r, tt.want)
			}
		})
	}
	// The code alone does not pay a card order; the order stays pending.
	id, code := e.buy("VIP K" + cardPAN[len(cardPAN)-4:])
	if r := e.send(phoneA, code); r.Reason != billing.ReasonPasswordRequired {
		t.Fatalf("code without password: %+v", r)
	}
	if o := e.order(id); o.Status != billing.OrderPending {
		t.Fatalf("order %+v after the code alone, want pending", o)
	}
	if r := e.send(phoneA, code+"#"+e.password); r.Outcome != billing.OutcomeCharged || r.OrderID != id {
		t.Fatalf("code#password: %+v", r)
	}
}

func testCardLockout(t *testing.T, open OpenCards) {
	e := newCardEnv(t, open)
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
		if r := e.send(phoneA, code+" "+pw); r.Reason != want {
			t.Fatalf("attempt %d: %+v, want %s", i+1, r, want)
		}
	}
	if mt := e.lastMT(phoneA); !strings.Contains(mt, "营业厅") {
		t.Fatalf("the locked MT %q does not say how to unlock", mt)
	}
	if e.bank.Debits(billing.ChargeKey(1)) != 0 || len(e.bank.Ledger()) != 0 {
		t.Fatalf("a locked wallet moved money: %+v", e.bank.Ledger())
	}
	if err := e.cards.UnlockWallet(e.ctx, phoneA); err != nil {
		t.Fatal(err)
	}
	if r := e.send(phoneA, code+" "+e.password); r.Outcome != billing.OutcomeCharged {
		t.Fatalf("after the unlock: %+v", r)
	}
}

func testCardPasswordChange(t *testing.T, open OpenCards) {
	e := newCardEnv(t, open)
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
		r := e.send(phoneA, tt.text)
		if r.Reason != tt.want {
			t.Fatalf("%q: %+v, want %q (MT %q)", tt.text, r, tt.want, e.lastMT(phoneA))
		}
	}
	if mt := e.lastMT(phoneA); !strings.Contains(mt, "100.00") {
		t.Fatalf("YE answered %q, want the balance 100.00", mt)
	}
	_, code := e.buy("VIP K")
	if r := e.send(phoneA, code+" "+e.password); r.Reason != billing.ReasonWrongPassword {
		t.Fatalf("the old password still pays: %+v", r)
	}
	if r := e.send(phoneA, code+" "+newPW); r.Outcome != billing.OutcomeCharged {
		t.Fatalf("the new password: %+v", r)
	}
	if got := e.moHolding(e.password, newPW); got != 0 {
		t.Fatalf("%d MO rows hold a password", got)
	}
}

func testCardTimeoutRecovered(t *testing.T, open OpenCards) {
	e := newCardEnv(t, open)
	id, code := e.buy("VIP K")
	e.bank.TimeoutAfterDebit(e.token)
	if r := e.send(phoneA, code+" "+e.password); r.Outcome != billing.OutcomePending {
		t.Fatalf("confirmation with a bank timeout: %+v", r)
	}
	e.clk.Advance(3 * time.Minute) // past RecoverAfter
	n, err := e.eng.Recover(e.ctx)
	if err != nil || n != 1 {
		t.Fatalf("Recover = %d, %v; want 1", n, err)
	}
	if got := e.bank.Debits(billing.ChargeKey(id)); got != 1 {
		t.Fatalf("bank debits = %d, want exactly 1", got)
	}
	if o := e.order(id); o.Status != billing.OrderPaid {
		t.Fatalf("order %d %s after recovery, want paid", id, o.Status)
	}
	if mt := e.lastMT(phoneA); !strings.Contains(mt, "15.00") {
		t.Fatalf("no receipt after recovery: %q", mt)
	}
}

func testCardDeclined(t *testing.T, open OpenCards) {
	e := newCardEnv(t, open)
	id, code := e.buy("VIP K")
	e.bank.FailNext(e.token, bank.ErrDeclined)
	r := e.send(phoneA, code+" "+e.password)
	if r.Outcome != billing.OutcomeRejected || r.Reason != billing.ReasonCardDeclined {
		t.Fatalf("declined card: %+v, want rejected with %s", r, billing.ReasonCardDeclined)
	}
	if got := e.bank.Debits(billing.ChargeKey(id)); got != 0 {
		t.Fatalf("bank debits = %d, want 0", got)
	}
	if got := e.daySpent(phoneA, billing.MethodCard); got != 0 {
		t.Fatalf("quota not released after the decline: %d", got)
	}
	if o := e.order(id); o.Status != billing.OrderFailed {
		t.Fatalf("order %d %s, want failed", id, o.Status)
	}
}

func testCardFrequency(t *testing.T, open OpenCards) {
	e := newCardEnv(t, open, func(c *billing.Config) {
		c.MinInterval = 0
		c.CardFrequency = &billing.Frequency{MinInterval: time.Hour, PurchasesPerHour: 2}
	})
	_, code := e.buy("VIP K")
	if r := e.send(phoneA, code+" "+e.password); r.Outcome != billing.OutcomeCharged {
		t.Fatalf("first card payment: %+v", r)
	}
	_, code = e.buy("5 K")
	if r := e.send(phoneA, code+" "+e.password); r.Reason != billing.ReasonTooFrequent {
		t.Fatalf("second card payment within the card interval: %+v", r)
	}
	if r := e.send(phoneA, "5 K"); r.Reason != billing.ReasonTooFrequent {
		t.Fatalf("third card purchase in the hour: %+v", r)
	}
	// The phone account has its own rules: no interval, its own counter.
	if r := e.send(phoneA, "5"); r.Outcome != billing.OutcomePrompted {
		t.Fatalf("phone purchase: %+v", r)
	}
}

// A gateway started without its card key must never send a card refund to
// the phone account.
func testCardRefundCardsOff(t *testing.T, open OpenCards) {
	e := newCardEnv(t, open)
	id, code := e.buy("VIP K")
	if r := e.send(phoneA, code+" "+e.password); r.Outcome != billing.OutcomeCharged {
		t.Fatalf("payment: %+v", r)
	}
	off, err := billing.NewEngine(billing.Options{
		Config: e.eng.Config(), Store: e.st.Store, Limiter: billing.NewMemoryLimiter(e.clk), Clock: e.clk,
		Charger: e.st.Accounts(e.clk),
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := off.Refund(e.ctx, billing.RefundRequest{OrderID: id, Reason: "test", IdempotencyKey: "r-off"}); !errors.Is(err, billing.ErrCardsOff) {
		t.Fatalf("Refund with cards off: %v, want ErrCardsOff", err)
	}
	chargeID := chargeByOrder(t, e.ctx, e.st.Store, id).ID
	var total billing.Money
	err = e.st.Store.InTx(e.ctx, func(tx billing.Tx) error {
		if _, err := tx.RefundByKey(e.ctx, "r-off"); !errors.Is(err, billing.ErrNotFound) {
			return errors.Join(errors.New("a refund r-off was recorded"), err)
		}
		var err error
		total, err = tx.RefundedTotal(e.ctx, chargeID)
		return err
	})
	if err != nil || total != 0 {
		t.Fatalf("refunds after a refused refund: %s recorded (%v), want none", total, err)
	}
}
