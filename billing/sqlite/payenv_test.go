package sqlite

import (
	"context"
	"testing"
	"time"

	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/billing/storetest"
	"github.com/carrierbill/carrierbill/clock"
	"github.com/carrierbill/carrierbill/sms"
)

// payEnv is a real engine on a SQLite store, paying through the phone
// accounts of the same database.
type payEnv struct {
	t     *testing.T
	ctx   context.Context
	store *Store
	clock *clock.Fake
	eng   *billing.Engine
	ch    *sms.Channel
}

func newPayEnv(t *testing.T) *payEnv {
	t.Helper()
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 3, 10, 12, 0, 0, 0, shanghai(t)))
	eng, ch, err := sms.NewEngine(billing.Options{
		Config:  storetest.Config(),
		Store:   s,
		Charger: NewAccounts(s, clk, billing.AccountsOptions{AutoOpen: true, CreditLimit: billing.Yuan(1000)}),
		Limiter: billing.NewMemoryLimiter(clk),
		Clock:   clk,
	}, sms.TextConfig{ExpiryNotice: true}, sms.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return &payEnv{t: t, ctx: context.Background(), store: s, clock: clk, eng: eng, ch: ch}
}

func shanghai(t testing.TB) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func (e *payEnv) handle(from, to, text string) billing.Result {
	e.t.Helper()
	rs, err := e.ch.HandleMO(e.ctx, billing.InboundMO{Bind: "test", MSISDN: from, ServiceAddr: to, Body: text, ReceivedAt: e.clock.Now()})
	if err != nil || len(rs) != 1 {
		e.t.Fatalf("HandleMO(%q): %v, %d results", text, err, len(rs))
	}
	return rs[0]
}
