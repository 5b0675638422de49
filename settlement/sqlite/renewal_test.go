package sqlite_test

import (
	"context"
	"testing"
	"time"

	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/billing/sqlite"
	"github.com/carrierbill/carrierbill/billing/storetest"
	"github.com/carrierbill/carrierbill/clock"
	"github.com/carrierbill/carrierbill/settlement"
	settlesqlite "github.com/carrierbill/carrierbill/settlement/sqlite"
	"github.com/carrierbill/carrierbill/sms"
)

// TestRenewalLines: a monthly subscription's renewal is a statement line
// of type renewal, counted as a payment in the totals.
func TestRenewalLines(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	loc := shanghai(t)
	clk := clock.NewFake(time.Date(2026, 3, 10, 12, 0, 0, 0, loc))
	cfg := storetest.Config()
	m := billing.DefaultMerchant("8003", "音乐台")
	m.Products = []billing.Product{{Keyword: "YUE", Name: "音乐包月", Amount: 1000, Period: billing.PeriodMonth}}
	cfg.Merchants = append(cfg.Merchants, m)
	eng, ch, err := sms.NewEngine(billing.Options{Config: cfg, Store: s,
		Charger: sqlite.NewAccounts(s, clk, billing.AccountsOptions{AutoOpen: true, CreditLimit: billing.Yuan(1000)}),
		Limiter: billing.NewMemoryLimiter(clk), Clock: clk}, sms.TextConfig{}, sms.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e := &payEnv{t: t, ctx: context.Background(), store: s, clock: clk, eng: eng, ch: ch}
	e.pay("8613800000001", "106580088003", "YUE")
	clk.Set(time.Date(2026, 4, 10, 1, 0, 0, 0, loc))
	if rep, err := eng.Renew(e.ctx); err != nil || rep.Renewed != 1 {
		t.Fatalf("Renew: %+v %v", rep, err)
	}
	snap, err := settlesqlite.New(s).Snapshot(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close(e.ctx)
	var lines []settlement.Line
	from := time.Date(2026, 3, 1, 0, 0, 0, 0, loc)
	if err := snap.Lines(e.ctx, "8003", from, from.AddDate(0, 2, 0), func(l settlement.Line) error { lines = append(lines, l); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(lines) != 2 || lines[0].Kind != settlement.KindPay || lines[1].Kind != settlement.KindRenewal || lines[1].Amount != 1000 {
		t.Fatalf("lines %+v, want the subscription then its renewal", lines)
	}
	var tot settlement.Totals
	for _, l := range lines {
		tot.Add(l)
	}
	if tot.Payments != 2 || tot.Paid != 2000 {
		t.Fatalf("totals %+v", tot)
	}
}
