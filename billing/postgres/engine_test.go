package postgres_test

import (
	"context"
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
