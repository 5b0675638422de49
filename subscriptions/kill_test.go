package subscriptions_test

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/clock"
	"github.com/carrierbill/carrierbill/internal/dbtest"
	"github.com/carrierbill/carrierbill/sms"
	"github.com/carrierbill/carrierbill/stores"
)

// The kill test: a renewal pass runs in a child process (the re-executed
// test binary) and is killed with SIGKILL at random moments, then started
// again on the same store, until a pass finishes. Afterwards every
// subscription has exactly one paid renewal for the period, the phone
// accounts were debited exactly once per paid charge, and every
// subscription has moved to its next period.

const (
	childStoreEnv = "CARRIERBILL_RENEWKILL_STORE" // postgres URL, or "dir:" + a data directory
	childAtEnv    = "CARRIERBILL_RENEWKILL_AT"
)

var start = time.Date(2027, time.January, 15, 10, 0, 0, 0, shanghai)
var renewAt = time.Date(2027, time.February, 15, 1, 0, 0, 0, shanghai)

var shanghai = func() *time.Location {
	l, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		return time.FixedZone("CST", 8*3600)
	}
	return l
}()

func config() billing.Config {
	c := billing.DefaultConfig()
	m := billing.DefaultMerchant("8003", "音乐台")
	m.Products = []billing.Product{{Keyword: "YUE", Name: "音乐包月", Amount: 1000, Period: billing.PeriodMonth}}
	c.Merchants = []billing.Merchant{m}
	c.MinInterval, c.PurchasesPerHour, c.MaxPendingOrders = 0, 0, 0
	return c
}

func storeOptions(spec string, clk clock.Clock) stores.Options {
	o := stores.Options{Clock: clk, Accounts: billing.AccountsOptions{AutoOpen: true, CreditLimit: billing.Yuan(1000)}}
	if dir, ok := strings.CutPrefix(spec, "dir:"); ok {
		o.DataDir = dir
	} else {
		o.DatabaseURL = spec
	}
	return o
}

func openEngine(t testing.TB, spec string, clk clock.Clock) (*billing.Engine, *stores.Set) {
	t.Helper()
	ctx := context.Background()
	set, err := stores.Open(ctx, storeOptions(spec, clk))
	if err != nil {
		t.Fatal(err)
	}
	eng, _, err := sms.NewEngine(billing.Options{Config: config(), Store: set.Billing, Charger: set.Accounts,
		Limiter: billing.NewMemoryLimiter(clk), Clock: clk}, sms.TextConfig{ServiceCode: "10658008"}, sms.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return eng, set
}

// TestRenewalChild is the child of TestRenewalKilledMidRun: one renewal
// pass, then DONE.
func TestRenewalChild(t *testing.T) {
	spec := os.Getenv(childStoreEnv)
	if spec == "" {
		t.Skip("runs only as the child process of TestRenewalKilledMidRun")
	}
	at, err := time.Parse(time.RFC3339, os.Getenv(childAtEnv))
	if err != nil {
		t.Fatal(err)
	}
	eng, set := openEngine(t, spec, clock.NewFake(at))
	defer set.Close()
	fmt.Println("READY")
	if _, err := eng.Renew(context.Background()); err != nil {
		t.Fatal(err)
	}
	fmt.Println("DONE")
}

func TestRenewalKilledMidRun(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	for _, store := range []string{"embedded", "postgres"} {
		t.Run(store, func(t *testing.T) {
			t.Parallel()
			spec := "dir:" + t.TempDir()
			if store == "postgres" {
				spec = dbtest.Postgres(t)
			}
			testKilledMidRun(t, spec)
		})
	}
}

func testKilledMidRun(t *testing.T, spec string) {
	const subs = 40
	ctx := context.Background()
	clk := clock.NewFake(start)
	eng, set := openEngine(t, spec, clk)
	phones := make([]string, subs)
	for i := range phones {
		phones[i] = fmt.Sprintf("+861390001%04d", i)
		r, err := eng.Purchase(ctx, billing.PurchaseRequest{Source: billing.Source{Channel: billing.ChannelAPI}, MSISDN: phones[i],
			Merchant: "8003", Product: "YUE", NoPrompt: true})
		if err != nil || r.Outcome != billing.OutcomePrompted {
			t.Fatalf("subscribing %s: %+v %v", phones[i], r, err)
		}
		if c, err := eng.Charge(ctx, billing.ChargeRequest{OrderID: r.OrderID}); err != nil || c.Outcome != billing.OutcomeCharged {
			t.Fatalf("first charge of %s: %+v %v", phones[i], c, err)
		}
	}
	set.Close()

	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	kills := 0
	for run := 1; ; run++ {
		if run > 60 {
			t.Fatalf("no renewal pass finished in %d runs", run-1)
		}
		cmd := exec.Command(os.Args[0], "-test.run=^TestRenewalChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), childStoreEnv+"="+spec, childAtEnv+"="+renewAt.Format(time.RFC3339))
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = cmd.Stdout
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan string, 64)
		go func() {
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		// Kill the first runs at a random moment after the pass started;
		// let the last one finish.
		kill := run <= 6
		var killAfter <-chan time.Time
		done, ready := false, false
		var output []string
	read:
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					break read
				}
				output = append(output, l)
				switch l {
				case "READY":
					ready = true
					if kill {
						killAfter = time.After(time.Duration(rng.IntN(150)) * time.Millisecond)
					}
				case "DONE":
					done = true
				}
			case <-killAfter:
				_ = cmd.Process.Kill()
				killAfter = nil
				if !done {
					kills++
				}
			}
		}
		_ = cmd.Wait()
		if done {
			if !kill || run > 6 {
				break
			}
			continue
		}
		if !ready || !kill {
			t.Fatalf("child run %d failed:\n%s", run, strings.Join(output, "\n"))
		}
	}
	if kills < 3 {
		t.Logf("only %d of the kills landed mid-pass", kills)
	}

	after := clock.NewFake(renewAt.Add(time.Hour))
	eng, set = openEngine(t, spec, after)
	defer set.Close()
	// A kill between the reserve and its resolution leaves a charge
	// pending: the recovery sweep (serve runs it every few seconds)
	// resolves it by asking the charger. Debited: the renewal is
	// finished. Never debited (killed before the debit): the attempt
	// failed (charge_failed) and the next pass, retry_every later, makes a
	// new attempt. Either way each period is charged once.
	if _, err := eng.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	for pass := 0; ; pass++ {
		rep, err := eng.Renew(ctx)
		if err != nil || rep.Pending != 0 || rep.Lapsed != 0 {
			t.Fatalf("pass %d after the kills: %+v %v", pass, rep, err)
		}
		if rep.Empty() {
			break
		}
		if pass == 3 {
			t.Fatalf("still renewing after %d passes: %+v", pass, rep)
		}
		after.Advance(25 * time.Hour)
	}
	subsOf, err := eng.SubscriptionsOfMerchant(ctx, "8003", "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(subsOf) != subs {
		t.Fatalf("%d subscriptions, want %d", len(subsOf), subs)
	}
	for _, s := range subsOf {
		if s.Status != billing.SubscriptionActive || s.NextRenewal != "2027-03-15" {
			t.Errorf("subscription %d: %+v", s.ID, s)
		}
		var paid int
		var total billing.Money
		err := set.Billing.InTx(ctx, func(tx billing.Tx) error {
			orders, err := tx.OrdersSince(ctx, s.MSISDN, time.Time{})
			if err != nil {
				return err
			}
			paid, total = 0, 0
			for _, o := range orders {
				c, err := tx.ChargeByOrder(ctx, o.ID)
				if err != nil {
					continue // never charged (a killed attempt's order)
				}
				if c.Status == billing.ChargeSucceeded {
					paid++
					total += c.Amount
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if paid != 2 {
			t.Errorf("%s: %d paid charges, want 2 (the subscription and one renewal)", s.MSISDN, paid)
		}
		acct, err := set.Accounts.Get(ctx, s.MSISDN)
		if err != nil {
			t.Fatal(err)
		}
		if acct.Bill != total {
			t.Errorf("%s: the account was billed %s, the charges total %s", s.MSISDN, acct.Bill, total)
		}
	}
	t.Logf("%d kills mid-pass", kills)
}
