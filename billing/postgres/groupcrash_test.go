package postgres_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/billing/postgres"
	"github.com/carrierbill/carrierbill/clock"
	"github.com/carrierbill/carrierbill/sms"
)

const groupCrashChildEnv = "CARRIERBILL_GROUP_CRASH_CHILD_DB"

// groupCrashPayers is how many numbers confirm at once in the child.
const groupCrashPayers = 40

func groupCrashConfig() billing.Config {
	cfg := crashConfig()
	cfg.CodeValidity = time.Hour
	cfg.RecoverAfter = time.Minute
	return cfg
}

func groupCrashNumber(i int) string { return fmt.Sprintf("86138100%05d", i) }

// hangingLimiter answers every rule, except that the hangAt-th
// confirm_per_order call (made inside the reservation's transaction, so in
// the middle of a group) says so and hangs until the process is killed.
type hangingLimiter struct {
	billing.Limiter
	calls  atomic.Int64
	hangAt int64
}

func (h *hangingLimiter) Allow(ctx context.Context, rule billing.Rule, key string) (billing.Decision, error) {
	if rule.Name == "confirm_per_order" && h.calls.Add(1) == h.hangAt {
		fmt.Println("hung")
		select {}
	}
	return h.Limiter.Allow(ctx, rule, key)
}

// groupCrashChild buys for every number, stores every confirmation as an
// MO and processes them with many workers, so that the reservations share
// groups; one hangs in the middle of its group.
func groupCrashChild(url string) {
	ctx := context.Background()
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		fail(err)
	}
	clk := clock.Real{}
	lim := &hangingLimiter{Limiter: billing.NewMemoryLimiter(clk), hangAt: groupCrashPayers / 2}
	store := postgres.NewStore(pool)
	_, ch, err := sms.NewEngine(billing.Options{
		Config: groupCrashConfig(), Store: store, Clock: clk, Limiter: lim,
		Charger: postgres.NewAccounts(pool, clk, billing.AccountsOptions{AutoOpen: true, CreditLimit: 100000}),
	}, sms.TextConfig{}, sms.Options{Workers: groupCrashPayers})
	if err != nil {
		fail(err)
	}
	var confirms []billing.InboundMO
	for i := range groupCrashPayers {
		mo := billing.InboundMO{Bind: "t", MSISDN: groupCrashNumber(i), ServiceAddr: "106580088001", Body: "10", ReceivedAt: clk.Now()}
		if _, err := ch.HandleMO(ctx, mo); err != nil {
			fail(err)
		}
		if err := pool.QueryRow(ctx, "SELECT code FROM orders WHERE msisdn = $1", mo.MSISDN).Scan(&mo.Body); err != nil {
			fail(err)
		}
		confirms = append(confirms, mo)
	}
	if _, err := store.InsertMOs(ctx, confirms); err != nil {
		fail(err)
	}
	_ = ch.Run(ctx) // never returns: a reservation hangs
	os.Exit(4)
}

// TestCrashMidGroup kills a real process while a group of reservations is
// half run: the group's transaction never commits, so none of its
// members' effects survive, while the groups that committed before keep
// theirs. Another process then processes what is left and recovers what
// was reserved: every payer is paid exactly once (one debit, its quota, its
// ledger, one receipt) or, when the crash came between its reservation and
// its debit, failed with its quota released.
func TestCrashMidGroup(t *testing.T) {
	t.Parallel()
	pool := migrated(t)
	url := pool.Config().ConnString()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), groupCrashChildEnv+"="+url)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "hung" {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("child never hung in a group: %q %v", line, err)
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL mid-group
		t.Fatal(err)
	}
	_ = cmd.Wait()

	// All or nothing per payer: a reservation that survived has its quota,
	// its charge row and its processed MO; one that did not has none.
	rows, err := pool.Query(ctx, `SELECT o.msisdn, o.status,
			(SELECT count(*) FROM charges c WHERE c.order_id = o.id),
			COALESCE((SELECT day_spent_fen FROM quota q WHERE q.msisdn = o.msisdn), 0),
			(SELECT count(*) FROM mo_inbox m WHERE m.msisdn = o.msisdn AND m.processed_at IS NULL)
		FROM orders o ORDER BY o.msisdn`)
	if err != nil {
		t.Fatal(err)
	}
	left := 0
	for rows.Next() {
		var msisdn, status string
		var charges, spent, unprocessed int64
		if err := rows.Scan(&msisdn, &status, &charges, &spent, &unprocessed); err != nil {
			t.Fatal(err)
		}
		switch {
		case status == "pending" && charges == 0 && spent == 0 && unprocessed == 1:
			left++
		case status != "pending" && charges == 1 && spent == 1000 && unprocessed == 0:
		default:
			t.Errorf("%s after the crash: order %s, %d charges, %d spent, %d unprocessed MOs: a group was split", msisdn, status, charges, spent, unprocessed)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if left == 0 {
		t.Fatal("no reservation was lost with the crash: the hung one at least must be")
	}
	t.Logf("%d of %d reservations were in unfinished groups", left, groupCrashPayers)

	// Another process, once the leases ended: it processes what is left
	// and recovers what was reserved but not finalized.
	clk := clock.NewFake(time.Now().Add(5 * time.Minute))
	e, ch, err := sms.NewEngine(billing.Options{
		Config: groupCrashConfig(), Store: postgres.NewStore(pool), Clock: clk, Limiter: billing.NewMemoryLimiter(clk),
		Charger: postgres.NewAccounts(pool, clk, billing.AccountsOptions{AutoOpen: true, CreditLimit: 100000}),
	}, sms.TextConfig{}, sms.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ch.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	// A reservation whose group committed but whose debit the crash
	// prevented is failed by the recovery sweep (never debited: quota
	// released); every other payer is paid exactly once.
	var paid, failed, open, debits, ledgerTxns, receipts, badQuotas int
	var ledgerSum int64
	if err := pool.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM orders WHERE status = 'paid'),
		(SELECT count(*) FROM orders WHERE status = 'failed'),
		(SELECT count(*) FROM orders WHERE status NOT IN ('paid', 'failed')),
		(SELECT count(*) FROM account_debits WHERE kind = 'debit'),
		(SELECT count(DISTINCT txn) FROM ledger_entries),
		(SELECT COALESCE(SUM(amount_fen), 0)::bigint FROM ledger_entries),
		(SELECT count(*) FROM outbox WHERE kind = 'receipt'),
		(SELECT count(*) FROM quota q JOIN orders o ON o.msisdn = q.msisdn
		  WHERE q.day_spent_fen <> CASE o.status WHEN 'paid' THEN 1000 ELSE 0 END)`).Scan(
		&paid, &failed, &open, &debits, &ledgerTxns, &ledgerSum, &receipts, &badQuotas); err != nil {
		t.Fatal(err)
	}
	n := groupCrashPayers
	if open != 0 || paid+failed != n || paid < left || failed > n-left {
		t.Fatalf("after recovery: %d paid, %d failed, %d still open of %d (%d processed afresh)", paid, failed, open, n, left)
	}
	if debits != paid || ledgerTxns != paid || ledgerSum != 0 || receipts != paid || badQuotas != 0 {
		t.Fatalf("after recovery: %d paid but %d debits, %d ledger txns (sum %d), %d receipts, %d quotas not equal to the charges",
			paid, debits, ledgerTxns, ledgerSum, receipts, badQuotas)
	}
}
