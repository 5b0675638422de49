package risk_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/billing/postgres"
	"github.com/carrierbill/carrierbill/billing/sqlite"
	"github.com/carrierbill/carrierbill/billing/storetest"
	"github.com/carrierbill/carrierbill/clock"
	"github.com/carrierbill/carrierbill/internal/dbtest"
	"github.com/carrierbill/carrierbill/risk"
	"github.com/carrierbill/carrierbill/sms"
)

// The rules evaluated under concurrency keep the limits (issue 15, DESIGN
// §4.3): many goroutines confirming for the same numbers and merchant, with
// the rules on Redis asked inside every confirmation, charge each number
// exactly up to its daily or monthly limit and never twice; and the holds
// the rules make, released concurrently (twice each), still do.

// limitsWorld is one engine with the default rules on the test Redis.
type limitsWorld struct {
	ctx     context.Context
	store   billing.Store
	clock   *clock.Fake
	charger *storetest.Charger
	engine  *billing.Engine
	sms     *sms.Channel
}

var shanghai = billing.DefaultConfig().Location

const catalog = "106580088002" // storetest.Config's merchant of 100 products of 10.00

// newLimitsWorld opens the store, the rules (tweak changes their defaults)
// and the engine with storetest.Config (minimum interval and pending cap
// off, as the limit concurrency tests run) and monthly limit.
func newLimitsWorld(t *testing.T, store billing.Store, monthly billing.Money, tweak func(*risk.Rules)) *limitsWorld {
	t.Helper()
	_, prefix := dbtest.Redis(t)
	w := &limitsWorld{ctx: context.Background(), store: store, clock: clock.NewFake(time.Date(2026, 3, 10, 12, 0, 0, 0, shanghai)),
		charger: storetest.NewCharger()}
	rules := risk.DefaultRules()
	if tweak != nil {
		tweak(&rules)
	}
	rk, err := risk.Open(dbtest.RedisURL(), risk.Options{Rules: rules, KeyPrefix: prefix, Location: shanghai, Clock: w.clock, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rk.Close() })
	cfg := storetest.Config()
	for _, m := range []billing.Method{billing.MethodPhone, billing.MethodCard} {
		l := cfg.Limits[m]
		l.Monthly = monthly
		cfg.Limits[m] = l
	}
	w.engine, w.sms, err = sms.NewEngine(billing.Options{Config: cfg, Store: store, Charger: w.charger,
		Limiter: billing.NewMemoryLimiter(w.clock), Clock: w.clock, Risk: rk}, sms.TextConfig{}, sms.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// buy opens an order of product on catalog for phone and returns its code.
func (w *limitsWorld) buy(t *testing.T, phone, product string) string {
	t.Helper()
	r, err := w.sms.Handle(w.ctx, billing.InboundMO{MSISDN: phone, ServiceAddr: catalog, Body: product, ReceivedAt: w.clock.Now()})
	if err != nil || r.Outcome != billing.OutcomePrompted || r.Order == nil {
		t.Fatalf("buying %s: %+v, %v", product, r, err)
	}
	return r.Order.Code
}

// confirmAll sends every code twice at once, each from its own goroutine
// (ID 0: processed directly, so only the store's locks keep the limits),
// and returns the results.
func (w *limitsWorld) confirmAll(t *testing.T, codes map[string][]string) []billing.Result {
	t.Helper()
	var mu sync.Mutex
	var out []billing.Result
	var wg sync.WaitGroup
	for phone, cs := range codes {
		for _, code := range append(cs, cs...) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, err := w.sms.Handle(w.ctx, billing.InboundMO{MSISDN: phone, ServiceAddr: catalog, Body: code, ReceivedAt: w.clock.Now()})
				if err != nil {
					t.Errorf("confirming: %v", err)
				}
				mu.Lock()
				out = append(out, r)
				mu.Unlock()
			}()
		}
	}
	wg.Wait()
	return out
}

// spent is phone's charges today and this month, from the store.
func (w *limitsWorld) spent(t *testing.T, phone string) (day, month billing.Money) {
	t.Helper()
	q, err := w.engine.Query(w.ctx, billing.QueryRequest{MSISDN: phone})
	if err != nil {
		t.Fatal(err)
	}
	lim := w.engine.Config().Limits[billing.MethodPhone]
	return lim.Daily - q.Phone.Day, lim.Monthly - q.Phone.Month
}

// checkCharged asserts that each phone was charged exactly want[phone]
// payments of 10.00 today and that no order was charged twice.
func (w *limitsWorld) checkCharged(t *testing.T, want map[string]int, results []billing.Result) {
	t.Helper()
	charged := map[int64]int{}
	for _, r := range results {
		if r.Outcome == billing.OutcomeCharged {
			charged[r.OrderID]++
		}
	}
	for id, n := range charged {
		if n > 1 {
			t.Errorf("order %d was charged %d times", id, n)
		}
	}
	for phone, n := range want {
		if day, _ := w.spent(t, phone); day != billing.Money(n)*1000 {
			t.Errorf("%s spent %s today, want %d payments of 10.00", phone[:6], day, n)
		}
	}
}

// checkDebits asserts that the charger took exactly n debits of 10.00.
func (w *limitsWorld) checkDebits(t *testing.T, n int) {
	t.Helper()
	if got, sum := w.charger.Debited(); got != n || sum != billing.Money(n)*1000 {
		t.Errorf("the charger took %d debits for %s, want %d for %d.00", got, sum, n, n*10)
	}
}

// eachStore runs fn on a fresh embedded store and on PostgreSQL.
func eachStore(t *testing.T, fn func(t *testing.T, store billing.Store)) {
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "carrierbill.db"), nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		fn(t, s)
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		pool := dbtest.Pool(t)
		if _, err := postgres.Migrate(context.Background(), pool); err != nil {
			t.Fatal(err)
		}
		fn(t, postgres.NewStore(pool))
	})
}

// TestRulesUnderConcurrencyKeepLimits: three fresh numbers and three that
// spent 50.00 of an 80.00 month yesterday each confirm ten orders of 10.00
// twice over, all at once, with the rules on: the fresh ones are charged
// exactly five (daily limit), the others exactly three (monthly limit),
// nothing twice; the rules saw every confirmation and held none (the codes
// came 10 s after their prompts, six numbers are no burst).
func TestRulesUnderConcurrencyKeepLimits(t *testing.T) {
	eachStore(t, func(t *testing.T, store billing.Store) {
		w := newLimitsWorld(t, store, 8000, nil)
		fresh := []string{"8613800000001", "8613800000002", "8613800000003"}
		spentMonth := []string{"8613800000011", "8613800000012", "8613800000013"}
		// Yesterday: 5 × 10.00 each for the second group.
		w.clock.Set(time.Date(2026, 3, 9, 12, 0, 0, 0, shanghai))
		yesterday := map[string][]string{}
		for _, p := range spentMonth {
			for i := range 5 {
				yesterday[p] = append(yesterday[p], w.buy(t, p, fmt.Sprintf("P%03d", 90+i)))
			}
		}
		w.clock.Advance(10 * time.Second)
		w.confirmAll(t, yesterday)
		debits, _ := w.charger.Debited()

		w.clock.Set(time.Date(2026, 3, 10, 12, 0, 0, 0, shanghai))
		codes := map[string][]string{}
		for _, p := range append(fresh, spentMonth...) {
			for i := range 10 {
				codes[p] = append(codes[p], w.buy(t, p, fmt.Sprintf("P%03d", i+1)))
			}
		}
		w.clock.Advance(10 * time.Second)
		results := w.confirmAll(t, codes)
		for _, r := range results {
			switch {
			case r.Outcome == billing.OutcomeCharged:
			case r.Outcome == billing.OutcomeRejected && (r.Reason == billing.ReasonDailyLimit ||
				r.Reason == billing.ReasonMonthlyLimit || r.Reason == billing.ReasonAlreadyPaid ||
				r.Reason == billing.ReasonNoPendingOrder): // the duplicate of a code refused by a limit
			default:
				t.Errorf("unexpected %+v", r)
			}
		}
		want := map[string]int{}
		for _, p := range fresh {
			want[p] = 5
		}
		w.checkCharged(t, want, results)
		for _, p := range spentMonth {
			if _, month := w.spent(t, p); month != 8000 {
				t.Errorf("%s spent %s this month, want 80.00", p[:6], month)
			}
		}
		w.checkDebits(t, debits+3*5+3*3)
		held, err := store.RiskDecisions(w.ctx, billing.RiskDecisionQuery{Action: billing.RiskHold})
		if err != nil || len(held) != 0 {
			t.Errorf("holds %v, %v; want none", held, err)
		}
	})
}

// TestHoldsReleasedConcurrentlyKeepLimits: with merchant_burst at two
// numbers a minute, eight numbers confirming ten orders each at once get
// most of them held; every held order is then released by two operators
// at once. Each number ends charged exactly five times (the daily limit,
// applied at release), no order twice, and every hold decision is
// resolved.
func TestHoldsReleasedConcurrentlyKeepLimits(t *testing.T) {
	eachStore(t, func(t *testing.T, store billing.Store) {
		w := newLimitsWorld(t, store, 10000, func(r *risk.Rules) { r.MerchantBurst.MaxNumbers = 2 })
		codes := map[string][]string{}
		want := map[string]int{}
		for n := range 8 {
			p := fmt.Sprintf("86138000001%02d", n)
			want[p] = 5
			for i := range 10 {
				codes[p] = append(codes[p], w.buy(t, p, fmt.Sprintf("P%03d", i+1)))
			}
		}
		w.clock.Advance(10 * time.Second)
		results := w.confirmAll(t, codes)
		held := map[int64]bool{}
		for _, r := range results {
			if r.Outcome == billing.OutcomeHeld {
				held[r.OrderID] = true
			}
		}
		orders, err := store.HeldOrders(w.ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(held) == 0 || len(orders) != len(held) {
			t.Fatalf("%d orders held by the confirmations, %d held in the store; want some, the same", len(held), len(orders))
		}
		var mu sync.Mutex
		var wg sync.WaitGroup
		for _, o := range orders {
			for op := range 2 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					r, err := w.engine.ReleaseHeld(w.ctx, o.ID, fmt.Sprintf("operator:test%d", op))
					if err != nil && !errors.Is(err, billing.ErrNotHeld) {
						t.Errorf("releasing order %d: %v", o.ID, err)
					}
					mu.Lock()
					results = append(results, r)
					mu.Unlock()
				}()
			}
		}
		wg.Wait()
		w.checkCharged(t, want, results)
		w.checkDebits(t, 8*5)
		waiting, err := store.RiskDecisions(w.ctx, billing.RiskDecisionQuery{Action: billing.RiskHold, Waiting: true})
		if err != nil || len(waiting) != 0 {
			t.Errorf("holds still waiting: %d, %v", len(waiting), err)
		}
		if left, err := store.HeldOrders(w.ctx, 0); err != nil || len(left) != 0 {
			t.Errorf("orders still held: %d, %v", len(left), err)
		}
	})
}
