package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/carrierbill/carrierbill/clock"
	"github.com/carrierbill/carrierbill/config"
	"github.com/carrierbill/carrierbill/internal/dbtest"
	"github.com/carrierbill/carrierbill/internal/faultproxy"
	"github.com/carrierbill/carrierbill/merchantkey"
	"github.com/carrierbill/carrierbill/settlement"
	settlepg "github.com/carrierbill/carrierbill/settlement/postgres"
	"github.com/carrierbill/carrierbill/smpp/smsc"
)

// These tests boot the real gateway (the code `serve` runs) against real
// PostgreSQL and Redis, with the built-in SMSC simulator as the SMSC, and
// talk to it only as a subscriber would: MOs in, MTs out.

const testMerchants = `
merchants:
  - code: "8001"
    name: 星辰游戏
    open_amount: true
    products:
      - {keyword: VIP, name: 月度会员, amount: "15.00"}
`

var sixDigits = regexp.MustCompile(`(^|[^0-9])([0-9]{6})([^0-9]|$)`)

type harness struct {
	t      *testing.T
	g      *Gateway
	sim    *smsc.Server
	cancel context.CancelFunc
	done   chan error
	phone  atomic.Int64
}

// boot starts a gateway on dbURL and redisURL with extra YAML appended.
func boot(t *testing.T, dbURL, redisURL, prefix, extra string) *harness {
	t.Helper()
	yaml := fmt.Sprintf("database: {url: %q}\nredis: {url: %q, prefix: %q}\naccounts: {auto_open: true}\n%s%s",
		dbURL, redisURL, prefix, testMerchants, extra)
	return bootWith(t, yaml, io.Discard, GatewayOptions{})
}

// bootWith starts the gateway serve would start for the configuration yaml,
// logging to logs, with the built-in simulator on a free port and fast
// sweeps, and waits until it is bound. It stops it when the test ends.
func bootWith(t *testing.T, yaml string, logs io.Writer, o GatewayOptions) *harness {
	t.Helper()
	c, err := config.Parse([]byte(yaml), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	if !strings.Contains(yaml, "fast_confirmation") {
		// The tests' subscribers answer a prompt within milliseconds, which
		// the risk rule takes for an SMS trojan; a test of the rule names it.
		off := false
		c.Risk.Rules.FastConfirmation.Enabled = &off
	}
	c.DataDir = t.TempDir()
	c.Settlement.Dir = t.TempDir()
	log := NewZonedLogger(logs, c.Log, c.Location())
	o.SimulatorAddr, o.SweepEvery, o.OutboxPoll = "127.0.0.1:0", 200*time.Millisecond, 10*time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	g, err := OpenGateway(ctx, c, log, o)
	if err != nil {
		cancel()
		t.Fatalf("OpenGateway: %v", err)
	}
	h := &harness{t: t, g: g, sim: g.Simulator, cancel: cancel, done: make(chan error, 1)}
	h.phone.Store(time.Now().UnixNano() % 1e8)
	go func() { h.done <- g.Run(ctx, o) }()
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	if err := g.Simulator.WaitBound(wctx, 1); err != nil {
		t.Fatalf("gateway never bound to the simulator: %v", err)
	}
	t.Cleanup(h.stop)
	return h
}

func (h *harness) stop() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	select {
	case err := <-h.done:
		if err != nil {
			h.t.Errorf("gateway Run: %v", err)
		}
	case <-time.After(20 * time.Second):
		h.t.Errorf("gateway did not stop within 20s")
	}
	h.cancel = nil
	h.g.Close()
}

// newPhone returns a phone number no other test uses.
func (h *harness) newPhone() string { return fmt.Sprintf("86139%08d", h.phone.Add(1)%1e8) }

// send injects an MO and fails the test unless the gateway acked it with ROK.
func (h *harness) send(from, to, text string) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := h.sim.InjectMO(ctx, smsc.MO{From: from, To: to, Text: text})
	if err != nil {
		h.t.Fatalf("InjectMO %q: %v", text, err)
	}
	for _, s := range st {
		if s != 0 {
			h.t.Fatalf("InjectMO %q acked with status %#x", text, uint32(s))
		}
	}
}

// reply waits for the n-th MT (1-based) to phone and returns its text.
func (h *harness) reply(phone string, n int) string {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		all := h.sim.MTs()
		var got []string
		for _, mt := range all {
			if samePhone(mt.To, phone) {
				got = append(got, mt.Text)
			}
		}
		if len(got) >= n {
			return got[n-1]
		}
		if _, err := h.sim.WaitMTs(ctx, len(all)+1); err != nil { // any new MT: look again
			h.t.Fatalf("waiting for MT #%d to %s: %v (got %q)", n, phone, err, got)
		}
	}
}

func codeOf(t *testing.T, prompt string) string {
	t.Helper()
	all := sixDigits.FindAllStringSubmatch(prompt, -1)
	if len(all) != 1 {
		t.Fatalf("prompt must carry exactly one run of six digits, has %d: %q", len(all), prompt)
	}
	return all[0][2]
}

func TestServePurchaseConfirmReceipt(t *testing.T) {
	t.Parallel()
	_, prefix := dbtest.Redis(t)
	h := boot(t, dbtest.Postgres(t), dbtest.RedisURL(), prefix, "")
	phone := h.newPhone()

	h.send(phone, "106580088001", "VIP")
	prompt := h.reply(phone, 1)
	for _, want := range []string{"星辰游戏", "月度会员", "15.00元"} {
		if !strings.Contains(prompt, want) {
			t.Errorf("prompt %q does not name %q", prompt, want)
		}
	}
	code := codeOf(t, prompt)

	h.send(phone, "106580088001", code)
	receipt := h.reply(phone, 2)
	for _, want := range []string{"星辰游戏", "月度会员", "15.00"} {
		if !strings.Contains(receipt, want) {
			t.Errorf("receipt %q does not name %q", receipt, want)
		}
	}
	// Remaining quota after 15.00 of 50.00 today and 100.00 this month.
	if !strings.Contains(receipt, "35.00") || !strings.Contains(receipt, "85.00") {
		t.Errorf("receipt %q does not give the remaining day (35.00) and month (85.00) quota", receipt)
	}

	// The same code again: already paid, never a second charge.
	h.send(phone, "106580088001", code)
	again := h.reply(phone, 3)
	if strings.Contains(again, "35.00") && strings.Contains(again, "85.00") && again == receipt {
		t.Errorf("second confirmation produced a second receipt: %q", again)
	}
	var charges int
	if err := h.g.pool.QueryRow(context.Background(), "SELECT count(*) FROM charges WHERE msisdn IN ($1, '+' || $1) AND status = 'succeeded'", phone).Scan(&charges); err != nil {
		t.Fatal(err)
	}
	if charges != 1 {
		t.Fatalf("charges for %s = %d, want exactly 1", phone, charges)
	}
}

func TestServeCodeFromAnotherNumberConfirmsNothing(t *testing.T) {
	t.Parallel()
	_, prefix := dbtest.Redis(t)
	h := boot(t, dbtest.Postgres(t), dbtest.RedisURL(), prefix, "")
	buyer, other := h.newPhone(), h.newPhone()
	h.send(buyer, "106580088001", "10")
	code := codeOf(t, h.reply(buyer, 1))
	h.send(other, "106580088001", code)
	h.reply(other, 1) // told there is nothing to confirm
	var paid int
	if err := h.g.pool.QueryRow(context.Background(), "SELECT count(*) FROM charges").Scan(&paid); err != nil {
		t.Fatal(err)
	}
	if paid != 0 {
		t.Fatalf("a code from another number charged %d time(s)", paid)
	}
}

// TestServePostgresDownNacksThenProcesses: while the database is
// unreachable an MO is answered ESME_RX_T_APPN (0x64) so the SMSC keeps it;
// once the database is back the SMSC's redelivery is stored and answered.
func TestServePostgresDownNacksThenProcesses(t *testing.T) {
	t.Parallel()
	_, prefix := dbtest.Redis(t)
	dbURL := dbtest.Postgres(t)
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	p := faultproxy.Start(t, u.Host)
	u.Host = p.Addr()
	h := boot(t, u.String(), dbtest.RedisURL(), prefix, "")
	phone := h.newPhone()

	p.Block()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st, err := h.sim.InjectMO(ctx, smsc.MO{From: phone, To: "106580088001", Text: "VIP"})
	if err != nil {
		t.Fatalf("InjectMO: %v", err)
	}
	if len(st) != 1 || st[0] != 0x64 {
		t.Fatalf("with PostgreSQL down the MO was acked %v, want [0x64] (ESME_RX_T_APPN)", st)
	}
	p.Unblock()
	// The SMSC redelivers; the pool redials and the MO is stored and answered.
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err = h.sim.InjectMO(ctx, smsc.MO{From: phone, To: "106580088001", Text: "VIP"})
		if err == nil && len(st) == 1 && st[0] == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("redelivery after PostgreSQL came back: %v %v", st, err)
		}
		time.Sleep(100 * time.Millisecond) // the SMSC's redelivery interval, not a wait for an event
	}
	prompt := h.reply(phone, 1)
	codeOf(t, prompt)
}

// TestServeRedisDownFailsClosed: with the frequency rules unreachable no
// payment proceeds and the subscriber is told the service is busy.
func TestServeRedisDownFailsClosed(t *testing.T) {
	t.Parallel()
	rdb, prefix := dbtest.Redis(t)
	p := faultproxy.Start(t, rdb.Options().Addr)
	h := boot(t, dbtest.Postgres(t), "redis://"+p.Addr()+"/0", prefix, "")
	phone := h.newPhone()
	h.send(phone, "106580088001", "VIP")
	code := codeOf(t, h.reply(phone, 1))

	p.Block()
	h.send(phone, "106580088001", code)
	busy := h.reply(phone, 2)
	if strings.Contains(busy, "15.00") && strings.Contains(busy, "35.00") {
		t.Fatalf("a payment went through with Redis down: %q", busy)
	}
	var charged int
	if err := h.g.pool.QueryRow(context.Background(), "SELECT count(*) FROM charges WHERE status <> 'failed'").Scan(&charged); err != nil {
		t.Fatal(err)
	}
	if charged != 0 {
		t.Fatalf("%d charge(s) with Redis down, want 0", charged)
	}
	p.Unblock()
}

// TestServeDuplicateMOAfterLostAck: the SMSC redelivers an MO whose ack it
// lost. A redelivered purchase gets the same prompt (same order, same code);
// a redelivered confirmation is "already paid", never a second charge.
func TestServeDuplicateMOAfterLostAck(t *testing.T) {
	t.Parallel()
	_, prefix := dbtest.Redis(t)
	h := boot(t, dbtest.Postgres(t), dbtest.RedisURL(), prefix, "")
	phone := h.newPhone()
	h.send(phone, "106580088001", "12.50")
	h.send(phone, "106580088001", "12.50") // redelivery
	first, second := h.reply(phone, 1), h.reply(phone, 2)
	if codeOf(t, first) != codeOf(t, second) {
		t.Fatalf("redelivered purchase got a new code: %q vs %q", first, second)
	}
	code := codeOf(t, first)
	h.send(phone, "106580088001", code)
	h.send(phone, "106580088001", code) // redelivery of the confirmation
	h.reply(phone, 4)
	var orders, charges int
	if err := h.g.pool.QueryRow(context.Background(),
		"SELECT (SELECT count(*) FROM orders WHERE msisdn IN ($1, '+' || $1)), (SELECT count(*) FROM charges WHERE msisdn IN ($1, '+' || $1))", phone).Scan(&orders, &charges); err != nil {
		t.Fatal(err)
	}
	if orders != 1 || charges != 1 {
		t.Fatalf("orders %d, charges %d after redeliveries; want 1 and 1", orders, charges)
	}
}

// TestServeStatementDownload follows a payment from the subscriber's SMS to
// the merchant's statement, fetched from the download server the way the
// README's curl does.
func TestServeStatementDownload(t *testing.T) {
	t.Parallel()
	_, prefix := dbtest.Redis(t)
	h := boot(t, dbtest.Postgres(t), dbtest.RedisURL(), prefix, "settlement: {listen: \"127.0.0.1:0\"}\n")
	phone := h.newPhone()
	h.send(phone, "106580088001", "VIP")
	h.send(phone, "106580088001", codeOf(t, h.reply(phone, 1)))
	h.reply(phone, 2)

	ctx := context.Background()
	c := h.g.Config
	store := settlepg.New(h.g.pool)
	runner, err := settlement.NewRunner(store, store, settlement.Config{Dir: c.StatementsDir(), Location: c.Location(), Terms: termsFromConfig(c)}, clock.Real{}, h.g.Log)
	if err != nil {
		t.Fatal(err)
	}
	day := time.Now().In(c.Location()).Format(time.DateOnly)
	if _, err := runner.Generate(ctx, settlement.JobStatements, day, ""); err != nil {
		t.Fatalf("generating the statement: %v", err)
	}
	key, hash, hint, err := merchantkey.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := merchantkey.NewPostgres(h.g.pool).IssueKey(ctx, "8001", hash, hint, time.Now()); err != nil {
		t.Fatal(err)
	}

	get := func(key string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest("GET", "http://"+h.g.DownloadAddr+"/files/statement-8001-"+day+".csv", nil)
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	if resp, _ := get(""); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("without a key: %s, want 401", resp.Status)
	}
	resp, body := get(key)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("with the key: %s %s", resp.Status, body)
	}
	sum := sha256.Sum256(body)
	if got := resp.Header.Get("X-Checksum-SHA256"); got != hex.EncodeToString(sum[:]) {
		t.Fatalf("X-Checksum-SHA256 = %q, body hashes to %x", got, sum)
	}
	text := string(body)
	if !strings.Contains(text, ",15.00,success") || !strings.Contains(text, "月度会员") || strings.Contains(text, phone) {
		t.Fatalf("statement does not show the payment (masked):\n%s", text)
	}
	if !strings.Contains(text, "139****") {
		t.Fatalf("statement lacks the masked phone:\n%s", text)
	}
}

// TestRefundCommand: the operator refunds a paid order with `carrierbill
// refund`; running the same command again refunds nothing more.
func TestRefundCommand(t *testing.T) {
	t.Parallel()
	_, prefix := dbtest.Redis(t)
	dbURL := dbtest.Postgres(t)
	h := boot(t, dbURL, dbtest.RedisURL(), prefix, "")
	phone := h.newPhone()
	h.send(phone, "106580088001", "VIP")
	h.send(phone, "106580088001", codeOf(t, h.reply(phone, 1)))
	h.reply(phone, 2)
	ctx := context.Background()
	var order int64
	if err := h.g.pool.QueryRow(ctx, "SELECT order_id FROM charges WHERE msisdn IN ($1, '+' || $1)", phone).Scan(&order); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(t.TempDir(), "carrierbill.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf("database: {url: %q}\nredis: {url: %q, prefix: %q}\n%s", dbURL, dbtest.RedisURL(), prefix, testMerchants)), 0o600); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		var out, errb strings.Builder
		if code := run(ctx, []string{"refund", "-config", cfg, "-reason", "duplicate purchase", fmt.Sprint(order)}, &out, &errb); code != 0 {
			t.Fatalf("refund #%d exited %d: %s", i+1, code, errb.String())
		}
		if !strings.Contains(out.String(), "15.00") {
			t.Fatalf("refund #%d said %q", i+1, out.String())
		}
	}
	var refunds int
	var refunded int64
	var status string
	if err := h.g.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM refunds), (SELECT COALESCE(SUM(amount_fen),0)::bigint FROM refunds),
		(SELECT status FROM orders WHERE id = $1)`, order).Scan(&refunds, &refunded, &status); err != nil {
		t.Fatal(err)
	}
	if refunds != 1 || refunded != 1500 || status != "refunded" {
		t.Fatalf("after two refund commands: %d refund(s) of %d fen, order %s; want 1 of 1500, refunded", refunds, refunded, status)
	}
	var out, errb strings.Builder
	if code := run(ctx, []string{"refund", "-config", cfg, "-reason", "x", "not-a-number"}, &out, &errb); code != 2 {
		t.Fatalf("a bad order number exited %d, want 2 (usage)", code)
	}
}
