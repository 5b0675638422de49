package risk

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/carrierbill/carrierbill/billing"
)

// TestCountsUnderConcurrency: purchases of one number from many goroutines
// at one instant. Every purchase gets its own count, so exactly the ones
// past the limit are blocked, and the counters add up exactly.
func TestCountsUnderConcurrency(t *testing.T) {
	t.Parallel()
	const workers, each, limit = 20, 25, 100
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, b, only(func(rs *Rules) { rs.NumberVelocity.Max = limit }, RuleNumberVelocity, RuleWrongCodes), nil)
			ctx := context.Background()
			var blocked, wrong atomic.Int64
			var wg sync.WaitGroup
			for w := range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range each {
						v, err := e.r.Assess(ctx, billing.RiskCheck{Stage: billing.RiskPurchase, MSISDN: num1, Merchant: fmt.Sprint(8000 + w), At: start})
						if err != nil {
							t.Error(err)
							return
						}
						if v.Action() == billing.RiskBlock {
							blocked.Add(1)
						}
						if err := e.r.Learn(ctx, billing.RiskOutcome{Kind: billing.RiskOutcomeWrongCode, MSISDN: num2, At: start}); err != nil {
							t.Error(err)
							return
						}
						wrong.Add(1)
					}
				}()
			}
			wg.Wait()
			if got, want := blocked.Load(), int64(workers*each-limit); got != want {
				t.Fatalf("%d purchases blocked, want exactly %d", got, want)
			}
			p := e.r.client.Pipeline()
			buys := e.r.sum(ctx, p, e.r.numberBuys, e.r.hash(num1), start)
			codes := e.r.sum(ctx, p, e.r.wcDay, e.r.hash(num2), start)
			if _, err := p.Exec(ctx); err != nil {
				t.Fatal(err)
			}
			if n, _ := total(buys); n != workers*each {
				t.Fatalf("purchases counted %d, want %d", n, workers*each)
			}
			if n, _ := total(codes); n != wrong.Load() {
				t.Fatalf("wrong codes counted %d, want %d", n, wrong.Load())
			}
		})
	}
}

// TestANormalDayHoldsNoOne replays a synthetic day of people paying: 2,000
// payments from 1,500 numbers (a third of them prepaid) with 8 merchants,
// more by day than by night, codes typed 5 to 60 s after the prompt, one
// code in twenty mistyped first, a few refunds and declines. Under the
// default rules nobody is held, blocked or given a fresh code; only
// unusual_hours may flag (allow).
//
// It runs on the shared Redis only (the rule tests cover miniredis): about
// 6,000 sequential calls, a minute under -race on a loaded machine.
func TestANormalDayHoldsNoOne(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("a day of traffic; not in -short")
	}
	for _, b := range backends[:1] {
		t.Run(b.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(15, 2026))
			bal := balances{}
			numbers := make([]string, 1500)
			for i := range numbers {
				numbers[i] = fmt.Sprintf("+86%d%08d", []int{138, 139, 150, 186}[i%4], rng.IntN(1e8))
				if i%3 == 0 {
					bal[numbers[i]] = billing.Money(5000 + rng.IntN(30000)) // 50.00 to 350.00
				}
			}
			e := newEnv(t, b, DefaultRules(), bal)
			events := normalDay(rng, numbers)
			flags := map[string]int{}
			ctx := context.Background()
			for _, ev := range events {
				e.clk.Set(ev.at)
				if ev.outcome != nil {
					ev.outcome.At = ev.at
					if err := e.r.Learn(ctx, *ev.outcome); err != nil {
						t.Fatal(err)
					}
					continue
				}
				ev.check.At = ev.at
				v := e.assess(*ev.check)
				for _, f := range v.Findings {
					if f.Action != billing.RiskAllow {
						t.Fatalf("a person at %s: %s %s: %s", ev.at.Format("15:04:05"), f.Rule, f.Action, f.Evidence)
					}
					flags[f.Rule]++
				}
			}
			t.Logf("%d events; flags (allow): %v", len(events), flags)
		})
	}
}

type event struct {
	at      time.Time
	check   *billing.RiskCheck
	outcome *billing.RiskOutcome
}

// normalDay makes the events of one day of people paying, in time order.
func normalDay(rng *rand.Rand, numbers []string) []event {
	day := time.Date(2026, 3, 4, 0, 0, 0, 0, shanghai)
	// People pay by day: hour weights from 1 at night to 10 in the evening.
	weights := []int{2, 1, 1, 1, 1, 1, 2, 4, 6, 7, 7, 8, 9, 8, 7, 7, 7, 8, 9, 10, 10, 9, 6, 4}
	var sum int
	for _, w := range weights {
		sum += w
	}
	merchants := []string{"8001", "8001", "8001", "8002", "8002", "8003", "8004", "8005", "8006", "8007", "8008"}
	amounts := []billing.Money{100, 200, 500, 600, 1000, 1500, 2000, 2500, 3000}
	var evs []event
	for range 2000 {
		n := rng.IntN(sum)
		h := 0
		for n >= weights[h] {
			n -= weights[h]
			h++
		}
		at := day.Add(time.Duration(h)*time.Hour + time.Duration(rng.Int64N(int64(time.Hour))))
		msisdn, merchant, amount := numbers[rng.IntN(len(numbers))], merchants[rng.IntN(len(merchants))], amounts[rng.IntN(len(amounts))]
		buy := billing.RiskCheck{Stage: billing.RiskPurchase, Channel: billing.ChannelSMS, MSISDN: msisdn, Merchant: merchant, Amount: amount, Method: billing.MethodPhone}
		evs = append(evs, event{at: at, check: &buy})
		typed := at.Add(5*time.Second + time.Duration(rng.Int64N(int64(55*time.Second))))
		out := func(k billing.RiskOutcomeKind, at time.Time) {
			evs = append(evs, event{at: at, outcome: &billing.RiskOutcome{Kind: k, MSISDN: msisdn, Merchant: merchant, Amount: amount, Method: billing.MethodPhone}})
		}
		if rng.IntN(20) == 0 { // a typo first
			out(billing.RiskOutcomeWrongCode, typed)
			typed = typed.Add(10*time.Second + time.Duration(rng.Int64N(int64(20*time.Second))))
		}
		confirm := buy
		confirm.Stage, confirm.ByCode, confirm.PromptedAt, confirm.OrderID = billing.RiskConfirm, true, at, 1
		evs = append(evs, event{at: typed, check: &confirm})
		switch r := rng.IntN(100); {
		case r < 3:
			out(billing.RiskOutcomeFailed, typed.Add(time.Second))
		case r < 4:
			out(billing.RiskOutcomeCharged, typed.Add(time.Second))
			out(billing.RiskOutcomeRefunded, typed.Add(time.Duration(rng.Int64N(int64(6*time.Hour)))))
		default:
			out(billing.RiskOutcomeCharged, typed.Add(time.Second))
		}
	}
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].at.Before(evs[j].at) })
	return evs
}
