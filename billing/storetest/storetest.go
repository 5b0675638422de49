// Package storetest is the conformance suite of billing.Store: the same
// tests, driven through the real billing.Engine, run against every store
// (PostgreSQL in billing/postgres, the embedded SQLite store). A store that
// passes keeps the invariants of DESIGN.md §4 that depend on storage:
// orders, limits under concurrency, idempotency, the outbox, the recovery
// sweep, refunds, calendar days and months in Asia/Shanghai, and delivery
// receipts matched to the MTs' parts (delivery.go). RunCards
// adds the bank-card payments (wallet password, lockout, the simulated
// bank's declines and timeouts) for stores that also keep cards.
//
// The charger here is an in-process stand-in for an external account
// system (it is not the store under test); the limiter is
// billing.MemoryLimiter. This package is for tests only and must never be
// imported by production code.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/clock"
	"github.com/carrierbill/carrierbill/sms"
)

// Open returns a fresh, empty, migrated store for one test. It registers
// its own cleanup.
type Open func(t *testing.T) billing.Store

// Run runs the whole suite against the stores open returns.
func Run(t *testing.T, open Open) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, open Open)
	}{
		{"PurchaseConfirmReceipt", testPurchaseConfirmReceipt},
		{"SamePromptResent", testSamePromptResent},
		{"WrongCodes", testWrongCodes},
		{"ExpiredAndSweep", testExpired},
		{"AlreadyPaidAndDuplicates", testAlreadyPaid},
		{"OtherNumberConfirmsNothing", testOtherNumber},
		{"Rejections", testRejections},
		{"PerPaymentBoundary", testPerPaymentBoundary},
		{"DailyBoundary", testDailyBoundary},
		{"DayRolloverShanghai", testDayRollover},
		{"MonthRolloverShanghai", testMonthRollover},
		{"ConcurrentConfirmations", testConcurrentConfirmations},
		{"MinIntervalDatabaseBackstop", testMinIntervalBackstop},
		{"LimiterDownFailsClosed", testLimiterDown},
		{"DeclinedReleasesQuota", testDeclined},
		{"RecoveryNeverDebited", testRecoveryNone},
		{"RecoveryDebited", testRecoveryDone},
		{"Refunds", testRefunds},
		{"MOClaimsKeepPerPhoneOrder", testMOClaims},
		{"Outbox", testOutbox},
		{"Query", testQuery},
		{"DeliveryHexAndDecimal", testDeliveryHexAndDecimal},
		{"DeliveryReceiptBeforeResp", testDeliveryReceiptBeforeResp},
		{"DeliveryPreference", testDeliveryPreference},
		{"DeliveryRace", testDeliveryRace},
		{"DeliveryThroughDispatcher", testDeliveryThroughDispatcher},
		{"PendingCap", testPendingCap},
		{"WrongCodesPerNumber", testWrongCodesPerNumber},
		{"IdempotentPurchase", testIdempotentPurchase},
		{"PartialRefunds", testPartialRefunds},
		{"CancelAndLookup", testCancelAndLookup},
		{"BatchOneBadMOFailsAlone", testGroupOneBadMO},
		{"BatchTwoMOsOfOneNumber", testGroupSameNumber},
		{"BatchPaymentsChargedOnce", testGroupPayments},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, open)
		})
	}
}

// Start is 2026-03-10 12:00 in Shanghai.
var shanghai = mustZone("Asia/Shanghai")

func mustZone(name string) *time.Location {
	l, err := time.LoadLocation(name)
	if err != nil {
		return time.FixedZone("CST", 8*3600)
	}
	return l
}

const (
	phoneA  = "8613800000001"
	phoneB  = "8613800000002"
	open1   = "106580088001" // open amounts 0.10..30.00 and a few products
	catalog = "106580088002" // 100 products of 10.00, for concurrency
)

// Config is the configuration the suite runs with: the defaults, two
// merchants, the minimum interval and the pending-order cap off unless a
// test turns them on.
func Config() billing.Config {
	c := billing.DefaultConfig()
	m := billing.DefaultMerchant("8001", "游戏中心")
	m.OpenAmount = true
	m.Products = []billing.Product{
		{Keyword: "VIP", Name: "会员月卡", Amount: 1500},
		{Keyword: "BIG", Name: "大礼包", Amount: 3001},
	}
	c.Merchants = append(c.Merchants, m)
	cat := billing.DefaultMerchant("8002", "商城")
	for i := 1; i <= 100; i++ {
		cat.Products = append(cat.Products, billing.Product{Keyword: fmt.Sprintf("P%03d", i), Name: fmt.Sprintf("商品%d", i), Amount: 1000})
	}
	c.Merchants = append(c.Merchants, cat)
	c.MinInterval = 0
	c.PurchasesPerHour = 0
	c.MaxPendingOrders = 0 // the concurrency cases open many orders per number; PendingCap tests the cap
	return c
}

// Charger is an in-process account system for the suite: it debits
// keyed, can decline a number, and can fail a call (before or after taking
// the money) to exercise recovery.
type Charger struct {
	mu       sync.Mutex
	debited  map[string]billing.Money
	refunded map[string]billing.Money
	closed   map[string]bool
	calls    int
	decline  map[string]billing.Reason
	// failBefore: the next debits fail without taking money; failAfter:
	// the next debits take the money and then fail (a lost answer).
	failBefore, failAfter int
}

// NewCharger returns an empty charger.
func NewCharger() *Charger {
	return &Charger{debited: map[string]billing.Money{}, refunded: map[string]billing.Money{}, closed: map[string]bool{}, decline: map[string]billing.Reason{}}
}

var errLost = errors.New("storetest: charger answer lost")

// Debit implements billing.Charger.
func (c *Charger) Debit(ctx context.Context, key, msisdn string, amount billing.Money) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	if _, ok := c.debited[key]; ok {
		return nil
	}
	if c.closed[key] {
		return &billing.Declined{Reason: billing.ReasonChargeFailed}
	}
	if r, ok := c.decline[msisdn]; ok {
		return &billing.Declined{Reason: r}
	}
	if c.failBefore > 0 {
		c.failBefore--
		return errLost
	}
	c.debited[key] = amount
	if c.failAfter > 0 {
		c.failAfter--
		return errLost
	}
	return nil
}

// Refund implements billing.Charger.
func (c *Charger) Refund(ctx context.Context, key, _, msisdn string, amount billing.Money) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.refunded[key] = amount
	return nil
}

// Status implements billing.Charger.
func (c *Charger) Status(ctx context.Context, key string) (billing.DebitStatus, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.debited[key]; ok {
		return billing.DebitDone, nil
	}
	c.closed[key] = true
	return billing.DebitNone, nil
}

// Debited returns the total debited.
func (c *Charger) Debited() (n int, total billing.Money) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, a := range c.debited {
		n++
		total += a
	}
	return n, total
}

// env is one engine on one fresh store.
type env struct {
	t       *testing.T
	ctx     context.Context
	store   billing.Store
	clock   *clock.Fake
	charger *Charger
	limiter *billing.MemoryLimiter
	engine  *billing.Engine
	sms     *sms.Channel
}

func newEnv(t *testing.T, open Open, tweak func(*billing.Config)) *env {
	t.Helper()
	cfg := Config()
	if tweak != nil {
		tweak(&cfg)
	}
	e := &env{t: t, ctx: context.Background(), store: open(t), clock: clock.NewFake(time.Date(2026, 3, 10, 12, 0, 0, 0, shanghai)), charger: NewCharger()}
	e.limiter = billing.NewMemoryLimiter(e.clock)
	e.engine, e.sms = e.newEngine(cfg, e.limiter)
	return e
}

func (e *env) newEngine(cfg billing.Config, lim billing.Limiter) (*billing.Engine, *sms.Channel) {
	e.t.Helper()
	eng, ch, err := sms.NewEngine(billing.Options{Config: cfg, Store: e.store, Charger: e.charger, Limiter: lim, Clock: e.clock},
		sms.TextConfig{ExpiryNotice: true}, sms.Options{})
	if err != nil {
		e.t.Fatalf("NewEngine: %v", err)
	}
	return eng, ch
}

// mo stores and processes one MO, returning its result.
func (e *env) mo(from, to, text string) billing.Result {
	e.t.Helper()
	rs, err := e.sms.HandleMO(e.ctx, billing.InboundMO{Bind: "test", MSISDN: from, ServiceAddr: to, Body: text, ReceivedAt: e.clock.Now()})
	if err != nil {
		e.t.Fatalf("HandleMO(%q): %v", text, err)
	}
	if len(rs) != 1 {
		e.t.Fatalf("HandleMO(%q): %d results, want 1", text, len(rs))
	}
	return rs[len(rs)-1]
}

// mts takes every due MT from the outbox (marking it sent).
func (e *env) mts() []billing.OutboxMsg {
	e.t.Helper()
	return claimDue(e.t, e.ctx, e.store, e.clock.Now())
}

// claimDue takes every MT due at now from the outbox of store, marking it
// sent.
func claimDue(t *testing.T, ctx context.Context, store billing.Store, now time.Time) []billing.OutboxMsg {
	t.Helper()
	ms, err := store.ClaimOutbox(ctx, now, now.Add(time.Minute), 1000)
	if err != nil {
		t.Fatalf("ClaimOutbox: %v", err)
	}
	for _, m := range ms {
		if err := store.MarkSent(ctx, m.ID, now); err != nil {
			t.Fatalf("MarkSent: %v", err)
		}
	}
	return ms
}

// lastMT returns the body of the last due MT to msisdn.
func (e *env) lastMT(msisdn string) string {
	e.t.Helper()
	var last string
	for _, m := range e.mts() {
		if m.MSISDN == msisdn {
			last = m.Body
		}
	}
	if last == "" {
		e.t.Fatalf("no MT to %s", msisdn)
	}
	return last
}

var sixDigits = regexp.MustCompile(`(^|[^0-9])([0-9]{6})([^0-9]|$)`)

// codeIn returns the only run of exactly six digits in a prompt.
func codeIn(t *testing.T, prompt string) string {
	t.Helper()
	all := sixDigits.FindAllStringSubmatch(prompt, -1)
	if len(all) != 1 {
		t.Fatalf("prompt %q has %d runs of six digits, want 1", prompt, len(all))
	}
	return all[0][2]
}

// buy purchases text at to and returns the order's code.
func (e *env) buy(from, to, text string) (billing.Result, string) {
	e.t.Helper()
	r := e.mo(from, to, text)
	if r.Outcome != billing.OutcomePrompted && r.Outcome != billing.OutcomeResent {
		e.t.Fatalf("purchase %q: %+v, want a prompt", text, r)
	}
	return r, codeIn(e.t, e.lastMT(from))
}

// pay buys and confirms, expecting a charge.
func (e *env) pay(from, to, text string) billing.Result {
	e.t.Helper()
	_, code := e.buy(from, to, text)
	r := e.mo(from, to, code)
	if r.Outcome != billing.OutcomeCharged {
		e.t.Fatalf("paying %q: %+v, want charged", text, r)
	}
	return r
}

func (e *env) order(id int64) billing.Order {
	e.t.Helper()
	return getOrder(e.t, e.ctx, e.store, id)
}

func (e *env) charge(orderID int64) billing.Charge {
	e.t.Helper()
	return chargeByOrder(e.t, e.ctx, e.store, orderID)
}

func (e *env) quota(msisdn string) billing.Quota {
	e.t.Helper()
	return lockQuota(e.t, e.ctx, e.store, msisdn, billing.MethodPhone)
}

// getOrder reads the order id from store.
func getOrder(t *testing.T, ctx context.Context, store billing.Store, id int64) billing.Order {
	t.Helper()
	var o billing.Order
	if err := store.InTx(ctx, func(tx billing.Tx) error {
		var err error
		o, err = tx.GetOrder(ctx, id)
		return err
	}); err != nil {
		t.Fatalf("GetOrder(%d): %v", id, err)
	}
	return o
}

// chargeByOrder reads the charge of the order orderID from store.
func chargeByOrder(t *testing.T, ctx context.Context, store billing.Store, orderID int64) billing.Charge {
	t.Helper()
	var c billing.Charge
	if err := store.InTx(ctx, func(tx billing.Tx) error {
		var err error
		c, err = tx.ChargeByOrder(ctx, orderID)
		return err
	}); err != nil {
		t.Fatalf("ChargeByOrder(%d): %v", orderID, err)
	}
	return c
}

// lockQuota returns the quota row of (msisdn, method) as last saved.
func lockQuota(t *testing.T, ctx context.Context, store billing.Store, msisdn string, method billing.Method) billing.Quota {
	t.Helper()
	var q billing.Quota
	if err := store.InTx(ctx, func(tx billing.Tx) error {
		var err error
		q, err = tx.LockQuota(ctx, msisdn, method, "2000-01-01", "2000-01-01")
		return err
	}); err != nil {
		t.Fatalf("LockQuota: %v", err)
	}
	return q
}

func wantReason(t *testing.T, r billing.Result, want billing.Reason) {
	t.Helper()
	if r.Outcome != billing.OutcomeRejected || r.Reason != want {
		t.Fatalf("result %+v, want rejected with %s", r, want)
	}
}

func wantContains(t *testing.T, text string, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(text, s) {
			t.Errorf("MT %q does not contain %q", text, s)
		}
	}
}
