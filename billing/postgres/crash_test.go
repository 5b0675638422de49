package postgres_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/billing/postgres"
	"github.com/carrierbill/carrierbill/clock"
	"github.com/carrierbill/carrierbill/sms"
)

const crashChildEnv = "CARRIERBILL_CRASH_CHILD_DB"

// stallAfterDebit is the phone-account charger of a process about to die:
// the debit commits, then the process says so and hangs until it is killed,
// before the engine can finalize.
type stallAfterDebit struct{ *billing.Accounts }

func (s stallAfterDebit) Debit(ctx context.Context, key, msisdn string, amount billing.Money) error {
	if err := s.Accounts.Debit(ctx, key, msisdn, amount); err != nil {
		return err
	}
	fmt.Println("debited")
	select {}
}

func crashConfig() billing.Config {
	cfg := billing.DefaultConfig()
	m := billing.DefaultMerchant("8001", "星辰游戏")
	m.OpenAmount = true
	cfg.Merchants = []billing.Merchant{m}
	cfg.MinInterval = 0
	return cfg
}

// TestMain lets the test binary re-exec itself as the process that crashes.
func TestMain(m *testing.M) {
	if url := os.Getenv(crashChildEnv); url != "" {
		crashChild(url)
		os.Exit(0)
	}
	if url := os.Getenv(groupCrashChildEnv); url != "" {
		groupCrashChild(url)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func crashChild(url string) {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	clk := clock.Real{}
	_, ch, err := sms.NewEngine(billing.Options{
		Config: crashConfig(), Store: postgres.NewStore(pool), Clock: clk, Limiter: billing.NewMemoryLimiter(clk),
		Charger: stallAfterDebit{postgres.NewAccounts(pool, clk, billing.AccountsOptions{AutoOpen: true, CreditLimit: 10000})},
	}, sms.TextConfig{ExpiryNotice: true}, sms.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	mo := billing.InboundMO{Bind: "t", MSISDN: "8613800000001", ServiceAddr: "106580088001", Body: "10"}
	if _, err := ch.HandleMO(ctx, mo); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	var code string
	if err := pool.QueryRow(ctx, "SELECT code FROM orders WHERE status = 'pending'").Scan(&code); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	mo.Body = code
	_, _ = ch.HandleMO(ctx, mo) // never returns: the charger hangs after debiting
	os.Exit(4)
}

// TestCrashBetweenDebitAndFinalize kills a real process after the phone
// account was debited and before the engine finalized the charge. The
// recovery sweep of another process must finish the payment: order paid,
// one ledger transaction, one receipt, and the account debited once.
func TestCrashBetweenDebitAndFinalize(t *testing.T) {
	t.Parallel()
	pool := migrated(t)
	url := pool.Config().ConnString()

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+url)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "debited" {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("child never reached the debit: %q %v", line, err)
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL: no deferred cleanup runs
		t.Fatal(err)
	}
	_ = cmd.Wait()

	var status string
	if err := pool.QueryRow(ctx, "SELECT status FROM charges").Scan(&status); err != nil {
		t.Fatal(err)
	}
	if status != "pending" {
		t.Fatalf("after the crash the charge is %q, want pending", status)
	}

	// Another process, later: its sweep asks the charger and finalizes.
	clk := clock.NewFake(time.Now().Add(time.Hour))
	e, _, err := sms.NewEngine(billing.Options{
		Config: crashConfig(), Store: postgres.NewStore(pool), Clock: clk, Limiter: billing.NewMemoryLimiter(clk),
		Charger: postgres.NewAccounts(pool, clk, billing.AccountsOptions{AutoOpen: true, CreditLimit: 10000}),
	}, sms.TextConfig{ExpiryNotice: true}, sms.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := e.Recover(ctx); err != nil || n != 1 {
		t.Fatalf("Recover = %d, %v; want 1 resolved", n, err)
	}
	if n, err := e.Recover(ctx); err != nil || n != 0 {
		t.Fatalf("second Recover = %d, %v; want nothing left", n, err)
	}
	var orderStatus string
	var debits, ledgerTxns, receipts int
	var ledgerSum int64
	if err := pool.QueryRow(ctx, `SELECT
		(SELECT status FROM orders),
		(SELECT count(*) FROM account_debits WHERE kind = 'debit'),
		(SELECT count(DISTINCT txn) FROM ledger_entries),
		(SELECT COALESCE(SUM(amount_fen), 0)::bigint FROM ledger_entries),
		(SELECT count(*) FROM outbox WHERE kind = 'receipt')`).Scan(&orderStatus, &debits, &ledgerTxns, &ledgerSum, &receipts); err != nil {
		t.Fatal(err)
	}
	if orderStatus != "paid" || debits != 1 || ledgerTxns != 1 || ledgerSum != 0 || receipts != 1 {
		t.Fatalf("after recovery: order %s, debits %d, ledger txns %d (sum %d), receipts %d; want paid, 1, 1 (0), 1",
			orderStatus, debits, ledgerTxns, ledgerSum, receipts)
	}
}
