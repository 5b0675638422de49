package risk

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/internal/dbtest"
)

// mustFailClosed asserts that Assess answers an error and no finding.
func mustFailClosed(t *testing.T, r *Risk, c billing.RiskCheck) error {
	t.Helper()
	v, err := r.Assess(context.Background(), c)
	if err == nil {
		t.Fatalf("Assess answered %+v; want an error (fail closed)", v)
	}
	if len(v.Findings) != 0 {
		t.Fatalf("Assess answered findings %+v with error %v", v.Findings, err)
	}
	return err
}

func TestFailClosedOnAClosedClient(t *testing.T) {
	t.Parallel()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, b, DefaultRules(), nil)
			if err := e.r.Close(); err != nil {
				t.Fatal(err)
			}
			for _, c := range []billing.RiskCheck{e.confirmation(num1, "8001", 1000), {Stage: billing.RiskPurchase, MSISDN: num1, Merchant: "8001", At: start}} {
				mustFailClosed(t, e.r, c)
			}
			if err := e.r.Learn(context.Background(), billing.RiskOutcome{Kind: billing.RiskOutcomeWrongCode, MSISDN: num1, At: start}); err == nil {
				t.Fatal("Learn on a closed client: no error")
			}
		})
	}
}

func TestFailClosedWhenRedisIsUnreachable(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	r := mustOpen(t, "redis://"+addr, Options{Rules: DefaultRules()})
	mustFailClosed(t, r, billing.RiskCheck{Stage: billing.RiskPurchase, MSISDN: num1, Merchant: "8001", At: start})
}

func TestFailClosedOnACorruptedCounter(t *testing.T) {
	t.Parallel()
	raw, _ := dbtest.Redis(t)
	for _, tc := range []struct {
		name    string
		corrupt func(ctx context.Context, r *Risk) error
	}{
		{"wrong type", func(ctx context.Context, r *Risk) error {
			return raw.HSet(ctx, r.key(r.numberBuys, r.hash(num1), r.numberBuys.index(start)), "f", "v").Err()
		}},
		{"not a count", func(ctx context.Context, r *Risk) error {
			return raw.Set(ctx, r.key(r.wcHour, r.hash(num1), r.wcHour.index(start)-1), "many", 0).Err()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, backends[0], DefaultRules(), nil)
			if err := tc.corrupt(context.Background(), e.r); err != nil {
				t.Fatal(err)
			}
			mustFailClosed(t, e.r, billing.RiskCheck{Stage: billing.RiskPurchase, MSISDN: num1, Merchant: "8001", At: start})
		})
	}
}

func TestFailClosedOnACanceledContext(t *testing.T) {
	t.Parallel()
	e := newEnv(t, backends[1], DefaultRules(), nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if v, err := e.r.Assess(ctx, e.confirmation(num1, "8001", 1000)); err == nil || len(v.Findings) != 0 {
		t.Fatalf("Assess on a canceled context: %+v, %v", v, err)
	}
}

type brokenBalances struct{}

func (brokenBalances) Balance(context.Context, string) (billing.Money, bool, error) {
	return 0, false, errors.New("the accounts are down")
}

func TestFailClosedWhenTheBalanceCannotBeRead(t *testing.T) {
	t.Parallel()
	e := newEnv(t, backends[1], only(nil, RulePrepaidDrain), brokenBalances{})
	e.learn(billing.RiskOutcomeCharged, num1, "8001", 2000)
	err := mustFailClosed(t, e.r, e.confirmation(num1, "8001", 2000))
	if !strings.Contains(err.Error(), "prepaid balance") {
		t.Fatalf("error %v", err)
	}
}

func TestRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t, backends[1], DefaultRules(), nil)
	mustFailClosed(t, e.r, billing.RiskCheck{Stage: "later", MSISDN: num1})
	if err := e.r.Learn(context.Background(), billing.RiskOutcome{Kind: "lost", MSISDN: num1}); err == nil {
		t.Fatal("Learn of an unknown outcome: no error")
	}
	if _, err := New(goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:1"}), Options{Rules: DefaultRules()}); !errors.Is(err, ErrContextTimeoutDisabled) {
		t.Fatalf("New with a client without context deadlines: %v", err)
	}
	bad := DefaultRules()
	bad.FastConfirmation.MinDelay = 0
	bad.NumberVelocity.Action = billing.RiskHold
	_, err := Open("redis://127.0.0.1:1", Options{Rules: bad})
	if err == nil || !strings.Contains(err.Error(), "fast_confirmation.min_delay") || !strings.Contains(err.Error(), "number_velocity.action") {
		t.Fatalf("Open with bad rules: %v", err)
	}
}
