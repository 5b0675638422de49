package main

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/carrierbill/carrierbill/config"
	"github.com/carrierbill/carrierbill/smpp/smsc"
)

// The kill test: the embedded gateway (SQLite, in-process Redis) runs in a
// child process, the re-executed test binary, bound to a simulator in this
// process. Subscribers buy and confirm through the simulator as an SMSC
// would deliver them: an MO not acknowledged with ESME_ROK is sent again.
// Mid-traffic the child is killed with SIGKILL and started again on the same
// data directory. Then every acknowledged MO must have been processed, no
// order charged twice, the ledger and the accounts must agree, and every
// acknowledged confirmation must end paid or with a reason.

const (
	childDirEnv    = "CARRIERBILL_KILLTEST_DIR"
	childSMSCEnv   = "CARRIERBILL_KILLTEST_SMSC"
	childOffsetEnv = "CARRIERBILL_KILLTEST_CLOCK_OFFSET"
)

// offsetClock is the wall clock moved by a fixed offset.
type offsetClock struct{ d time.Duration }

func (c offsetClock) Now() time.Time { return time.Now().Add(c.d) }

// TestEmbeddedGatewayChild is the child of TestEmbeddedGatewayKilledMidTraffic:
// the embedded gateway, serving until killed, until its stdin closes (the
// parent died) or for ten minutes at most.
func TestEmbeddedGatewayChild(t *testing.T) {
	dir := os.Getenv(childDirEnv)
	if dir == "" {
		t.Skip("runs only as the child process of TestEmbeddedGatewayKilledMidTraffic")
	}
	env := map[string]string{
		"CARRIERBILL_SMSC_ADDR":      os.Getenv(childSMSCEnv),
		"CARRIERBILL_SMSC_SYSTEM_ID": "carrierbill",
		"CARRIERBILL_SMSC_PASSWORD":  "sim",
	}
	cfg, err := config.Parse(demoCatalog, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	cfg.DataDir = dir
	offset, err := time.ParseDuration(os.Getenv(childOffsetEnv))
	if err != nil {
		t.Fatal(err)
	}
	logf, err := os.OpenFile(filepath.Join(dir, "gateway.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o640)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	log := NewLogger(logf, config.Log{Level: "info"})

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	o := GatewayOptions{Clock: offsetClock{offset}, SweepEvery: 100 * time.Millisecond, OutboxPoll: 10 * time.Millisecond}
	g, err := OpenGateway(ctx, cfg, log, o)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if err := g.Run(ctx, o); err != nil {
		t.Fatal(err)
	}
}

func TestEmbeddedGatewayKilledMidTraffic(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two gateway processes")
	}
	t.Parallel()
	dir := t.TempDir()
	sim := smsc.New(smsc.Config{SystemID: "carrierbill", Password: "sim", AutoReceipt: true,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := sim.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })

	// The waits below are backstops against a hung test, not what is
	// tested: generous, since the children start slowly on a loaded machine
	// under -race. A child that exits fails the wait at once.
	start := func(n int, offset time.Duration) (*exec.Cmd, <-chan struct{}) {
		t.Helper()
		cmd := exec.Command(os.Args[0], "-test.run=^TestEmbeddedGatewayChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), childDirEnv+"="+dir, childSMSCEnv+"="+sim.Addr(), childOffsetEnv+"="+offset.String())
		out, err := os.Create(filepath.Join(dir, fmt.Sprintf("child-%d.out", n)))
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stdout, cmd.Stderr = out, out
		stdin, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() {
			_ = cmd.Wait()
			close(exited)
		}()
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			<-exited
			_ = stdin.Close()
			out.Close()
			if t.Failed() {
				b, _ := os.ReadFile(out.Name())
				t.Logf("child %d output:\n%s", n, b)
			}
		})
		return cmd, exited
	}
	waitBound := func(n int, exited <-chan struct{}) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		bound := make(chan error, 1)
		go func() { bound <- sim.WaitBound(ctx, n) }()
		select {
		case err := <-bound:
			if err != nil {
				t.Fatalf("gateway child never bound (%d binds): %v", sim.Binds(), err)
			}
		case <-exited:
			cancel()
			<-bound
			t.Fatalf("gateway child %d exited before it bound", n)
		}
	}

	child1, exited1 := start(1, 0)
	waitBound(1, exited1)

	const (
		phones  = 48
		workers = 12
		killAt  = 12 // confirmations acknowledged before the kill
	)
	var (
		mu        sync.Mutex
		acked     = map[[2]string]int{} // (msisdn, text) → acknowledged deliveries
		confirmed []string
		nConfirm  atomic.Int32
		redeliver atomic.Int32
		killNow   = make(chan struct{})
		killOnce  sync.Once
	)
	deadline := time.Now().Add(5 * time.Minute)
	// deliver sends one MO until the gateway acknowledges it with ESME_ROK,
	// as an SMSC redelivers an MO whose ack was an error or never came.
	deliver := func(phone, text string) error {
		for time.Now().Before(deadline) {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			st, err := sim.InjectMO(ctx, smsc.MO{From: phone, To: "106580088001", Text: text})
			cancel()
			if err == nil && len(st) == 1 && st[0] == 0 {
				mu.Lock()
				acked[[2]string{phone, text}]++
				mu.Unlock()
				return nil
			}
			redeliver.Add(1)
			wctx, wcancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			<-wctx.Done() // a short pause before the redelivery
			wcancel()
		}
		return fmt.Errorf("MO %q from %s never acknowledged", text, phone)
	}
	var wg sync.WaitGroup
	errs := make(chan error, phones)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < phones; i += workers {
				phone := fmt.Sprintf("1390000%04d", i)
				if err := deliver(phone, "GOLD"); err != nil {
					errs <- err
					return
				}
				ctx, cancel := context.WithDeadline(context.Background(), deadline)
				mt, err := sim.WaitMT(ctx, func(mt smsc.MT) bool {
					_, ok := codeIn(mt.Text)
					return samePhone(mt.To, phone) && ok
				})
				cancel()
				if err != nil {
					errs <- fmt.Errorf("no prompt to %s: %w", phone, err)
					return
				}
				code, _ := codeIn(mt.Text)
				if err := deliver(phone, code); err != nil {
					errs <- err
					return
				}
				mu.Lock()
				confirmed = append(confirmed, phone)
				mu.Unlock()
				if nConfirm.Add(1) == killAt {
					killOnce.Do(func() { close(killNow) })
				}
			}
		}()
	}

	select {
	case <-killNow:
	case <-time.After(3 * time.Minute):
		t.Fatalf("only %d confirmations acknowledged in 3m", nConfirm.Load())
	}
	if err := child1.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-exited1
	killedAt := nConfirm.Load()
	// The restart comes, as far as the gateway can tell, three minutes
	// later: charges the kill left between reserve and finalize are past
	// billing's RecoverAfter (2 min) and the first sweep resolves them.
	_, exited2 := start(2, 3*time.Minute)
	waitBound(2, exited2)

	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		t.FailNow()
	}
	if killedAt >= phones {
		t.Fatalf("the kill came after all the traffic")
	}

	// Wait until the restarted gateway has processed everything.
	db := openDemoDB(t, filepath.Join(dir, "carrierbill.db"))
	var settled bool
	var left string
	for time.Now().Before(deadline.Add(30 * time.Second)) {
		var unprocessed, pending, charging, unsent int
		err := db.QueryRow(`SELECT
			(SELECT count(*) FROM mo_inbox WHERE processed_at IS NULL),
			(SELECT count(*) FROM charges WHERE status = 'pending'),
			(SELECT count(*) FROM orders WHERE status = 'charging'),
			(SELECT count(*) FROM outbox WHERE sent_at IS NULL)`).Scan(&unprocessed, &pending, &charging, &unsent)
		if err == nil && unprocessed+pending+charging+unsent == 0 {
			settled = true
			break
		}
		left = fmt.Sprintf("unprocessed MOs %d, pending charges %d, orders charging %d, unsent MTs %d (err %v)", unprocessed, pending, charging, unsent, err)
		pctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		<-pctx.Done()
		cancel()
	}
	if !settled {
		t.Fatalf("the restarted gateway did not finish: %s", left)
	}

	// Every acknowledged MO is stored and processed.
	for k, n := range acked {
		var stored, done int
		if err := db.QueryRow(`SELECT count(*), count(processed_at) FROM mo_inbox WHERE msisdn = ? AND body = ?`, canonicalNumber(k[0]), k[1]).Scan(&stored, &done); err != nil {
			t.Fatal(err)
		}
		if stored < n || done != stored {
			t.Errorf("MO %q from %s: acknowledged %d time(s), stored %d, processed %d", k[1], k[0], n, stored, done)
		}
	}
	// No order charged twice, no phone charged twice (one order each).
	for _, q := range []struct{ what, sql string }{
		{"orders with more than one charge", `SELECT count(*) FROM (SELECT order_id FROM charges GROUP BY order_id HAVING count(*) > 1)`},
		{"phones with more than one successful charge", `SELECT count(*) FROM (SELECT msisdn FROM charges WHERE status = 'succeeded' GROUP BY msisdn HAVING count(*) > 1)`},
		{"phones with more than one debit", `SELECT count(*) FROM (SELECT msisdn FROM account_debits WHERE kind = 'debit' GROUP BY msisdn HAVING count(*) > 1)`},
		{"debits without a successful charge", `SELECT count(*) FROM account_debits d LEFT JOIN charges c ON c.idempotency_key = d.idempotency_key AND c.status = 'succeeded' WHERE c.id IS NULL`},
		{"successful charges without a debit", `SELECT count(*) FROM charges c LEFT JOIN account_debits d ON d.idempotency_key = c.idempotency_key WHERE c.status = 'succeeded' AND d.idempotency_key IS NULL`},
		{"ledger transactions that do not balance", `SELECT count(*) FROM (SELECT charge_id FROM ledger_entries GROUP BY charge_id HAVING SUM(amount_fen) <> 0)`},
		{"successful charges whose ledger entry differs", `SELECT count(*) FROM charges c WHERE c.status = 'succeeded' AND c.amount_fen <> (SELECT COALESCE(SUM(amount_fen), 0) FROM ledger_entries l WHERE l.charge_id = c.id AND l.amount_fen > 0)`},
		{"ledger entries of charges that did not succeed", `SELECT count(*) FROM ledger_entries l JOIN charges c ON c.id = l.charge_id WHERE c.status <> 'succeeded'`},
		{"paid orders without a successful charge", `SELECT count(*) FROM orders o WHERE o.status = 'paid' AND NOT EXISTS (SELECT 1 FROM charges c WHERE c.order_id = o.id AND c.status = 'succeeded')`},
	} {
		var n int
		if err := db.QueryRow(q.sql).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q.what, err)
		}
		if n != 0 {
			t.Errorf("%s: %d", q.what, n)
		}
	}
	var charged, billed int64
	if err := db.QueryRow(`SELECT COALESCE(SUM(amount_fen), 0) FROM charges WHERE status = 'succeeded'`).Scan(&charged); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(`SELECT COALESCE(SUM(bill_fen), 0) FROM subscribers`).Scan(&billed); err != nil {
		t.Fatal(err)
	}
	if charged != billed {
		t.Errorf("successful charges total %d fen, subscribers were billed %d fen", charged, billed)
	}

	// Every acknowledged confirmation ends paid or with a reason.
	var paid int
	reasons := map[string]int{}
	for _, phone := range confirmed {
		var status string
		var reason sql.NullString
		err := db.QueryRow(`SELECT status, reason FROM orders WHERE msisdn = ? ORDER BY id DESC LIMIT 1`, canonicalNumber(phone)).Scan(&status, &reason)
		if err != nil {
			t.Fatalf("the order of %s: %v", phone, err)
		}
		switch {
		case status == "paid":
			paid++
		case reason.String != "":
			reasons[status+":"+reason.String]++
		default:
			t.Errorf("the order of %s ended %q without a reason", phone, status)
		}
	}
	if len(confirmed) != phones {
		t.Errorf("%d confirmations acknowledged, want %d", len(confirmed), phones)
	}
	var stored, recovered int
	if err := db.QueryRow(`SELECT count(*) FROM mo_inbox`).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "gateway.log")); err == nil {
		recovered = strings.Count(string(b), `msg="recovered charge"`)
	}
	t.Logf("killed after %d of %d confirmations; %d orders paid, %d ended with a reason %v; %d MOs acknowledged, %d stored, %d deliveries repeated; %d recovery log lines",
		killedAt, phones, paid, len(confirmed)-paid, reasons, len(acked), stored, redeliver.Load(), recovered)
	if paid == 0 {
		t.Errorf("no order was paid")
	}
}
