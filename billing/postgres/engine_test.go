package postgres_test

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/goleak"

	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/billing/postgres"
	"github.com/carrierbill/carrierbill/billing/storetest"
	"github.com/carrierbill/carrierbill/clock"
	"github.com/carrierbill/carrierbill/internal/dbtest"
	"github.com/carrierbill/carrierbill/sms"
)

func migrated(t testing.TB) *pgxpool.Pool {
	t.Helper()
	pool := dbtest.Pool(t)
	if _, err := postgres.Migrate(context.Background(), pool); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return pool
}

func TestAccounts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := migrated(t)
	clk := clock.NewFake(time.Date(2026, 3, 10, 4, 0, 0, 0, time.UTC))
	a := postgres.NewAccounts(pool, clk, billing.AccountsOptions{})
	for _, s := range []billing.Subscriber{
		{MSISDN: "1", Plan: billing.Prepaid, Balance: 1000},
		{MSISDN: "2", Plan: billing.Postpaid, CreditLimit: 1500},
		{MSISDN: "3", Plan: billing.Prepaid, Balance: 5000, Suspended: true},
	} {
		if err := a.Open(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		key, msisdn string
		amount      billing.Money
		want        billing.Reason // "" = debited
	}{
		{"k1", "1", 600, ""},
		{"k1", "1", 600, ""}, // retried: answered, not repeated
		{"k2", "1", 600, billing.ReasonInsufficientBalance},
		{"k3", "1", 400, ""},
		{"k4", "2", 1500, ""},
		{"k5", "2", 1, billing.ReasonInsufficientBalance},
		{"k6", "3", 100, billing.ReasonAccountSuspended},
		{"k7", "9", 100, billing.ReasonUnknownSubscriber},
	}
	for _, tt := range tests {
		err := a.Debit(ctx, tt.key, tt.msisdn, tt.amount)
		var d *billing.Declined
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("Debit(%s): %v", tt.key, err)
		case tt.want != "" && (!errors.As(err, &d) || d.Reason != tt.want):
			t.Errorf("Debit(%s) = %v, want declined %s", tt.key, err, tt.want)
		}
	}
	if s, err := a.Get(ctx, "1"); err != nil || s.Balance != 0 {
		t.Fatalf("prepaid after debits: %+v, %v", s, err)
	}
	if s, err := a.Get(ctx, "2"); err != nil || s.Bill != 1500 {
		t.Fatalf("postpaid after debits: %+v, %v", s, err)
	}
	for _, c := range []struct {
		key  string
		want billing.DebitStatus
	}{{"k1", billing.DebitDone}, {"k2", billing.DebitNone}, {"never", billing.DebitNone}} {
		if st, err := a.Status(ctx, c.key); err != nil || st != c.want {
			t.Errorf("Status(%s) = %s, %v; want %s", c.key, st, err, c.want)
		}
	}
	// A closed key never debits, even with money available.
	if err := a.Refund(ctx, "r1", "", "1", 600); err != nil {
		t.Fatal(err)
	}
	if err := a.Refund(ctx, "r1", "", "1", 600); err != nil {
		t.Fatal(err)
	}
	if s, _ := a.Get(ctx, "1"); s.Balance != 600 {
		t.Fatalf("balance after a refund applied twice: %s, want 6.00", s.Balance)
	}
	var d *billing.Declined
	if err := a.Debit(ctx, "never", "1", 100); !errors.As(err, &d) {
		t.Fatalf("debit with a closed key: %v", err)
	}
	// Auto-open.
	auto := postgres.NewAccounts(pool, clk, billing.AccountsOptions{AutoOpen: true, CreditLimit: 10000})
	if err := auto.Debit(ctx, "k8", "8", 2500); err != nil {
		t.Fatal(err)
	}
	if s, err := auto.Get(ctx, "8"); err != nil || s.Plan != billing.Postpaid || s.Bill != 2500 || s.CreditLimit != 10000 {
		t.Fatalf("auto-opened %+v, %v", s, err)
	}
}

// TestConcurrentFirstDebits: issue 18.5 on PostgreSQL: two first debits of
// one new number no longer collide on INSERT INTO subscribers.
func TestConcurrentFirstDebits(t *testing.T) {
	t.Parallel()
	storetest.RunConcurrentFirstDebits(t, func(t *testing.T, credit billing.Money) storetest.AccountsEnv {
		pool := migrated(t)
		warm(t, pool) // connections already open, so the first debits do meet
		a := postgres.NewAccounts(pool, clock.NewFake(time.Date(2026, 3, 10, 4, 0, 0, 0, time.UTC)),
			billing.AccountsOptions{AutoOpen: true, CreditLimit: credit})
		return storetest.AccountsEnv{Charger: a, Get: a.Get}
	})
}

// warm opens every connection of pool up front.
func warm(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	var conns []*pgxpool.Conn
	for range pool.Config().MaxConns {
		c, err := pool.Acquire(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	for _, c := range conns {
		c.Release()
	}
}

type recorder struct {
	out chan billing.OutboundSMS
}

func (r *recorder) Send(ctx context.Context, m billing.OutboundSMS) ([]billing.SentPart, error) {
	select {
	case r.out <- m:
		return nil, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func next(t *testing.T, ch <-chan billing.OutboundSMS) billing.OutboundSMS {
	t.Helper()
	select {
	case m := <-ch:
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no MT within 10 s")
		return billing.OutboundSMS{}
	}
}

// TestRunEndToEnd drives the SMS channel, Engine.Run and Dispatcher.Run together on
// Postgres with the phone-account charger: purchase, prompt, confirm,
// receipt; then a clean shutdown with no goroutine left behind.
func TestRunEndToEnd(t *testing.T) {
	pool := migrated(t)
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ctx, cancel := context.WithCancel(context.Background())
	clk := clock.NewFake(time.Date(2026, 3, 10, 4, 0, 0, 0, time.UTC))
	store := postgres.NewStore(pool)
	eng, ch, err := sms.NewEngine(billing.Options{
		Config: storetest.Config(), Store: store, Clock: clk, Limiter: billing.NewMemoryLimiter(clk),
		Charger: postgres.NewAccounts(pool, clk, billing.AccountsOptions{AutoOpen: true, CreditLimit: 10000}),
	}, sms.TextConfig{ExpiryNotice: true}, sms.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{out: make(chan billing.OutboundSMS)}
	d := &billing.Dispatcher{Store: store, Sender: rec, Clock: clk}
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); _ = eng.Run(ctx, time.Second) }()
	go func() { defer wg.Done(); _ = ch.Run(ctx) }()
	go func() { defer wg.Done(); _ = d.Run(ctx, 10*time.Millisecond) }()

	const phone = "8613800000009"
	if err := ch.Accept(ctx, billing.InboundMO{Bind: "b", MSISDN: phone, ServiceAddr: "106580088001", Body: "12.34"}); err != nil {
		t.Fatal(err)
	}
	prompt := next(t, rec.out)
	code := regexp.MustCompile(`[0-9]{6}`).FindString(prompt.Text)
	if prompt.To != phone || prompt.From != "106580088001" || code == "" {
		t.Fatalf("prompt %+v", prompt)
	}
	if err := ch.Accept(ctx, billing.InboundMO{Bind: "b", MSISDN: phone, ServiceAddr: "106580088001", Body: code}); err != nil {
		t.Fatal(err)
	}
	receipt := next(t, rec.out)
	if !strings.Contains(receipt.Text, "支付成功") || !strings.Contains(receipt.Text, "12.34元") {
		t.Fatalf("receipt %q", receipt.Text)
	}
	cancel()
	wg.Wait()
}
