package sqlite

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/clock"
)

// crashChildEnv names the database a re-executed test binary writes to
// until it is killed.
const crashChildEnv = "CARRIERBILL_SQLITE_CRASH_CHILD"

const crashPhone = "8613800000001"

// TestCrash kills a process writing to the store with SIGKILL in the
// middle of its traffic, three times over, and checks after each restart
// that the file is intact, that every transaction the child saw committed
// is there, and that no transaction is there by half (the subscriber's
// balance equals its opening balance minus the debits recorded).
func TestCrash(t *testing.T) {
	if path := os.Getenv(crashChildEnv); path != "" {
		crashChild(path)
		return
	}
	if testing.Short() {
		t.Skip("re-executes the test binary")
	}
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "crash.db")
	copyMigrated(t, path) // durability is tested, not migrating: Open keeps synchronous=FULL
	const opening = billing.Money(1 << 40)
	{
		s, err := Open(ctx, path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := NewAccounts(s, clock.NewFake(time.Unix(0, 0)), billing.AccountsOptions{}).
			Open(ctx, billing.Subscriber{MSISDN: crashPhone, Plan: billing.Prepaid, Balance: opening}); err != nil {
			t.Fatal(err)
		}
		s.Close()
	}
	var committed []string // "key outboxID" the children reported
	for round := range 3 {
		committed = append(committed, runCrashChild(t, path, round)...)

		s, err := Open(ctx, path, nil)
		if err != nil {
			t.Fatalf("round %d: reopening after SIGKILL: %v", round, err)
		}
		if err := s.IntegrityCheck(ctx); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		for _, line := range committed {
			key, id, _ := strings.Cut(line, " ")
			var n int
			if err := s.reader.QueryRowContext(ctx, `SELECT
				(SELECT count(*) FROM account_debits WHERE idempotency_key = ?) +
				(SELECT count(*) FROM outbox WHERE id = ? AND body = ?)`, key, id, key).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != 2 {
				t.Fatalf("round %d: committed transaction %q lost after SIGKILL", round, line)
			}
		}
		var balance, debited, debits, mts int64
		if err := s.reader.QueryRowContext(ctx, `SELECT
			(SELECT balance_fen FROM subscribers WHERE msisdn = ?1),
			(SELECT coalesce(sum(amount_fen), 0) FROM account_debits WHERE msisdn = ?1),
			(SELECT count(*) FROM account_debits),
			(SELECT count(*) FROM outbox)`, crashPhone).Scan(&balance, &debited, &debits, &mts); err != nil {
			t.Fatal(err)
		}
		if balance != int64(opening)-debited || debits != mts {
			t.Fatalf("round %d: half a transaction survived: balance %d, opening %d, debited %d, %d debits, %d MTs",
				round, balance, opening, debited, debits, mts)
		}
		t.Logf("round %d: %d transactions reported committed, %d on disk", round, len(committed), debits)
		s.Close()
	}
}

// runCrashChild starts the child, lets it report at least 200 commits,
// kills it with SIGKILL and returns what it reported.
func runCrashChild(t *testing.T, path string, round int) []string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrash$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+path, "CARRIERBILL_SQLITE_CRASH_ROUND="+strconv.Itoa(round))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var lines []string
	sc := bufio.NewScanner(out)
	killed := false
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "committed ") {
			continue
		}
		lines = append(lines, strings.TrimPrefix(line, "committed "))
		if len(lines) == 200 && !killed {
			if err := cmd.Process.Kill(); err != nil { // SIGKILL
				t.Fatal(err)
			}
			killed = true
		}
	}
	err = cmd.Wait()
	if !killed {
		t.Fatalf("child exited before it was killed: %v", err)
	}
	return lines
}

// crashChild writes transactions from four goroutines until it is killed:
// each debits the phone account under a fresh key and enqueues an MT naming
// that key, in one transaction, and prints the key and the MT id once the
// commit has returned.
func crashChild(path string) {
	ctx := context.Background()
	s, err := Open(ctx, path, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "crash child:", err)
		os.Exit(2)
	}
	round := os.Getenv("CARRIERBILL_SQLITE_CRASH_ROUND")
	clk := clock.NewFake(time.Date(2026, 3, 10, 4, 0, 0, 0, time.UTC))
	var mu sync.Mutex
	w := bufio.NewWriter(os.Stdout)
	deadline := time.Now().Add(time.Minute) // the parent is gone if nobody killed us by then
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Now().Before(deadline); i++ {
				key := fmt.Sprintf("crash:%s:%d:%d", round, g, i)
				var id int64
				err := s.InTx(ctx, func(tx billing.Tx) error {
					st := tx.(*txImpl)
					if _, err := st.tx.ExecContext(ctx, `UPDATE subscribers SET balance_fen = balance_fen - 7 WHERE msisdn = ?`, crashPhone); err != nil {
						return err
					}
					if _, err := st.tx.ExecContext(ctx, `INSERT INTO account_debits (idempotency_key, msisdn, amount_fen, kind, created_at)
						VALUES (?, ?, 7, 'debit', ?)`, key, crashPhone, ts(clk.Now())); err != nil {
						return err
					}
					var err error
					id, err = tx.Enqueue(ctx, billing.OutboxMsg{MSISDN: crashPhone, ServiceAddr: "106580088001", Body: key,
						Kind: billing.OutboxReceipt, CreatedAt: clk.Now(), NextAt: clk.Now()})
					return err
				})
				if err != nil {
					fmt.Fprintln(os.Stderr, "crash child:", err)
					os.Exit(2)
				}
				mu.Lock()
				fmt.Fprintf(w, "committed %s %d\n", key, id)
				w.Flush()
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	os.Exit(3)
}
