package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/carrierbill/carrierbill/bank/banksim"
	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/clock"
	"github.com/carrierbill/carrierbill/internal/dbtest"
)

// The operator commands (issue 18.9): migrate, refund, audit, settle, card,
// and serve's answer to SIGHUP.

// runCmd runs one carrierbill command line in-process and returns its exit
// code, stdout and stderr.
func runCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb strings.Builder
	code := run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

// embeddedConfig writes a configuration whose embedded store lives in
// dataDir (which need not exist) and returns its path.
func embeddedConfig(t *testing.T, dataDir string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "carrierbill.yaml")
	yaml := fmt.Sprintf("data_dir: %q\n%s", dataDir, testMerchants)
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestMigrateCreatesDataDir: `migrate` on the embedded store creates a
// data_dir that does not exist yet, as serve does.
func TestMigrateCreatesDataDir(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "var", "lib", "carrierbill")
	cfg := embeddedConfig(t, dir)
	code, out, errs := runCmd(t, "migrate", "-config", cfg)
	if code != 0 {
		t.Fatalf("migrate exited %d: %s", code, errs)
	}
	if _, err := os.Stat(filepath.Join(dir, "carrierbill.db")); err != nil {
		t.Fatalf("no embedded store after migrate (%q): %v", out, err)
	}
	if !strings.Contains(out, "up to date") {
		t.Errorf("migrate said %q", out)
	}
}

// TestRefundByTxnQuiet: refund takes the transaction number (交易号) of the
// receipt as well as the order number, prints one line and no start-up
// log, refunds once whichever it is given, and says what failed once.
func TestRefundByTxnQuiet(t *testing.T) {
	t.Parallel()
	_, prefix := dbtest.Redis(t)
	dbURL := dbtest.Postgres(t)
	h := boot(t, dbURL, dbtest.RedisURL(), prefix, "")
	phone := h.newPhone()
	h.send(phone, "106580088001", "VIP")
	h.send(phone, "106580088001", codeOf(t, h.reply(phone, 1)))
	receipt := h.reply(phone, 2)
	ctx := context.Background()
	var order, txn int64
	if err := h.g.pool.QueryRow(ctx, "SELECT order_id, id FROM charges WHERE msisdn IN ($1, '+' || $1)", phone).Scan(&order, &txn); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(receipt, fmt.Sprint(txn)) {
		t.Fatalf("the receipt %q does not carry transaction %d", receipt, txn)
	}
	cfg := filepath.Join(t.TempDir(), "carrierbill.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf("database: {url: %q}\nredis: {url: %q, prefix: %q}\n%s", dbURL, dbtest.RedisURL(), prefix, testMerchants)), 0o600); err != nil {
		t.Fatal(err)
	}

	code, out, errs := runCmd(t, "refund", "-config", cfg, "-reason", "wrong item", "-txn", fmt.Sprint(txn))
	if code != 0 {
		t.Fatalf("refund -txn exited %d: %s", code, errs)
	}
	if errs != "" {
		t.Errorf("refund wrote to stderr (start-up logs?):\n%s", errs)
	}
	if want := fmt.Sprintf("refunded order %d (transaction %d): 15.00 yuan", order, txn); !strings.HasPrefix(out, want) || strings.Count(out, "\n") != 1 {
		t.Errorf("refund said %q, want one line starting %q", out, want)
	}
	// The same refund by order number: nothing more is refunded.
	if code, _, errs := runCmd(t, "refund", "-config", cfg, "-reason", "wrong item", "-order", fmt.Sprint(order)); code != 0 {
		t.Fatalf("refund -order exited %d: %s", code, errs)
	}
	var refunds int
	if err := h.g.pool.QueryRow(ctx, "SELECT count(*) FROM refunds").Scan(&refunds); err != nil {
		t.Fatal(err)
	}
	if refunds != 1 {
		t.Errorf("%d refunds after -txn then -order of one payment, want 1", refunds)
	}

	missing := order + 1000
	code, _, errs = runCmd(t, "refund", "-config", cfg, "-reason", "x", "-order", fmt.Sprint(missing))
	if code != 1 {
		t.Errorf("refunding a missing order exited %d, want 1", code)
	}
	if n := strings.Count(errs, fmt.Sprintf("refunding order %d", missing)); n != 1 {
		t.Errorf("the error names the order %d times, want once:\n%s", n, errs)
	}
	if code, _, errs := runCmd(t, "refund", "-config", cfg, "-reason", "x", "-txn", fmt.Sprint(txn+1000)); code != 1 || !strings.Contains(errs, "no transaction") {
		t.Errorf("refunding a missing transaction exited %d: %s", code, errs)
	}
	for _, args := range [][]string{
		{"-reason", "x"}, // neither
		{"-reason", "x", "-order", "1", "-txn", "1"}, // both
		{"-order", "1"}, // no reason
		{"-reason", "x", "abc"},
	} {
		if code, _, _ := runCmd(t, append([]string{"refund", "-config", cfg}, args...)...); code != exitUsage {
			t.Errorf("refund %v exited %d, want %d", args, code, exitUsage)
		}
	}
}

// TestAuditExitCode: audit exits 3 when the month has discrepancies (cron
// alerts on it) and 0 when it matches.
func TestAuditExitCode(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := embeddedConfig(t, dir)
	if code, _, errs := runCmd(t, "migrate", "-config", cfg); code != 0 {
		t.Fatalf("migrate: %s", errs)
	}
	clean := filepath.Join(dir, "clean.csv")
	dirty := filepath.Join(dir, "dirty.csv")
	if err := os.WriteFile(clean, []byte("phone,charge_ref,amount,time\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dirty, []byte("phone,charge_ref,amount,time\n8613800000001,4242,15.00,2026-11-20 10:00:05\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runCmd(t, "audit", "-config", cfg, "--month", "2026-11", "--carrier-file", clean)
	if code != 0 {
		t.Fatalf("a matching month exited %d: %s%s", code, out, errs)
	}
	code, out, errs = runCmd(t, "audit", "-config", cfg, "--month", "2026-11", "--carrier-file", dirty)
	if code != exitDiscrepancy {
		t.Fatalf("a month with a discrepancy exited %d, want %d: %s%s", code, exitDiscrepancy, out, errs)
	}
	if !strings.Contains(out, "theirs_not_ours") || !strings.Contains(errs, "1 discrepancies") {
		t.Errorf("audit output:\n%s\nstderr:\n%s", out, errs)
	}
}

// TestSettleRefusesUnfinishedPeriod: settle for a day or month not over yet
// in the operator's zone writes nothing where merchants download from;
// --preview writes it elsewhere.
func TestSettleRefusesUnfinishedPeriod(t *testing.T) {
	dir := t.TempDir()
	cfg := embeddedConfig(t, dir)
	if code, _, errs := runCmd(t, "migrate", "-config", cfg); code != 0 {
		t.Fatalf("migrate: %s", errs)
	}
	old := settleClock
	t.Cleanup(func() { settleClock = old })
	// 2026-11-20 23:30 in Shanghai is still 15:30 UTC of the same day.
	settleClock = clock.NewFake(time.Date(2026, 11, 20, 15, 30, 0, 0, time.UTC))
	statements := filepath.Join(dir, "statements")

	for _, args := range [][]string{{"--date", "2026-11-20"}, {"--date", "2026-11-21"}, {"--month", "2026-11"}, {"--date", "2026-11-19", "--month", "2026-11"}} {
		code, _, errs := runCmd(t, append([]string{"settle", "-config", cfg}, args...)...)
		if code != exitUsage || !strings.Contains(errs, "not over yet in Asia/Shanghai") || !strings.Contains(errs, "--preview") {
			t.Errorf("settle %v exited %d: %s", args, code, errs)
		}
	}
	if _, err := os.Stat(statements); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused settle wrote into the statements directory (%v)", err)
	}
	for _, args := range [][]string{{"--date", "2026-11-19"}, {"--month", "2026-10"}, {"--date", "2026-11-20", "--preview", filepath.Join(dir, "preview")}} {
		if code, _, errs := runCmd(t, append([]string{"settle", "-config", cfg}, args...)...); code != 0 {
			t.Errorf("settle %v exited %d: %s", args, code, errs)
		}
	}
	if code, _, errs := runCmd(t, "settle", "-config", cfg, "--date", "2026-11-20", "--preview", filepath.Join(statements, "8001")); code != exitUsage {
		t.Errorf("a preview into the statements directory exited %d: %s", code, errs)
	}
}

// TestCardIDFromStdin: the ID number, like the card number, can be read
// from stdin ("-id -"), so it never shows in ps or the shell history.
func TestCardIDFromStdin(t *testing.T) {
	t.Setenv(envCardKey, testCardKey)
	t.Setenv(envWalletPepper, testPepper)
	dir := t.TempDir()
	cfg := embeddedConfig(t, dir)
	bankFile := filepath.Join(dir, "bank.json")
	b, err := banksim.Open(bankFile, clock.Real{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.AddCard(testPAN, testOwner, testOwnerID, billing.Yuan(100)); err != nil {
		t.Fatal(err)
	}
	old := cardStdin
	t.Cleanup(func() { cardStdin = old })

	cardStdin = strings.NewReader(testOwnerID + "\n")
	if code, _, errs := runCmd(t, "card", "owner", "-config", cfg, "-msisdn", "8613900000001", "-name", testOwner, "-id", "-"); code != 0 {
		t.Fatalf("card owner -id - exited %d: %s", code, errs)
	}
	// A wrong ID read from stdin is the owner mismatch it would be on the
	// command line: the value really comes from stdin.
	cardStdin = strings.NewReader(testPAN + "\n110101199001011234\n")
	if code, _, _ := runCmd(t, "card", "bind", "-config", cfg, "-bank-file", bankFile, "-msisdn", "8613900000001", "-name", testOwner, "-pan", "-", "-id", "-"); code == 0 {
		t.Fatal("bound a card with another person's ID number")
	}
	cardStdin = strings.NewReader(testPAN + "\n" + testOwnerID + "\n")
	code, out, errs := runCmd(t, "card", "bind", "-config", cfg, "-bank-file", bankFile, "-msisdn", "8613900000001", "-name", testOwner, "-pan", "-", "-id", "-")
	if code != 0 || !strings.Contains(out, "bound ") {
		t.Fatalf("card bind -pan - -id - exited %d: %s%s", code, out, errs)
	}
	if strings.Contains(out+errs, testOwnerID) || strings.Contains(out+errs, testPAN) {
		t.Errorf("the ID or card number was echoed: %s%s", out, errs)
	}
}

// The SIGHUP test runs `carrierbill serve` in a child process (this test
// binary again) exactly as main does, signals included.
const hupChildEnv = "CARRIERBILL_HUPTEST_CONFIG"

func TestServeSIGHUPChild(t *testing.T) {
	cfg := os.Getenv(hupChildEnv)
	if cfg == "" {
		t.Skip("runs only as the child process of TestServeSurvivesSIGHUP")
	}
	os.Exit(runMain([]string{"serve", "-config", cfg, "-simulator-addr", "127.0.0.1:0", "-simulator-http", "127.0.0.1:0"}, os.Stdout, os.Stderr))
}

// TestServeSurvivesSIGHUP: a SIGHUP is logged and serve keeps serving; a
// SIGTERM afterwards stops it gracefully with exit 0.
func TestServeSurvivesSIGHUP(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a gateway process")
	}
	t.Parallel()
	cfg := embeddedConfig(t, t.TempDir())
	cmd := exec.Command(os.Args[0], "-test.run=^TestServeSIGHUPChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), hupChildEnv+"="+cfg)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	logs := make(chan string, 1000)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			logs <- sc.Text()
		}
		close(logs)
	}()
	waitLog := func(what string) {
		t.Helper()
		timeout := time.NewTimer(60 * time.Second)
		defer timeout.Stop()
		for {
			select {
			case l, ok := <-logs:
				if !ok {
					t.Fatalf("serve's log ended before %q", what)
				}
				if strings.Contains(l, what) {
					return
				}
			case <-timeout.C:
				t.Fatalf("no %q in serve's log", what)
			}
		}
	}
	// Started: serve logs this once its binds are up.
	waitLog("carrierbill is serving")
	go func() {
		_, _ = bufio.NewReader(stdout).WriteTo(devNull{})
		exited <- cmd.Wait()
	}()
	for range 2 {
		if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		waitLog("SIGHUP received")
	}
	// A configuration file broken meanwhile is reported, and still
	// nothing stops (issue 16).
	if err := os.WriteFile(cfg, []byte("merchants: [oops\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitLog("no longer loads")
	select {
	case err := <-exited:
		t.Fatalf("serve exited after SIGHUP: %v", err)
	default:
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitLog("stopping")
	timeout := time.NewTimer(60 * time.Second)
	defer timeout.Stop()
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("serve after SIGTERM: %v, want exit 0", err)
		}
	case <-timeout.C:
		t.Fatal("serve did not stop on SIGTERM")
	}
}

type devNull struct{}

func (devNull) Write(p []byte) (int, error) { return len(p), nil }
