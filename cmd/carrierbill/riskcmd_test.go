package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/carrierbill/carrierbill/internal/dbtest"
)

// TestRiskBlockAndReleaseByCommand (issue 15): the operator's `carrierbill
// risk` commands against a running gateway on PostgreSQL and Redis. A
// number blocked by command is refused (blocked) and, unblocked, buys again;
// a payment the rules hold is listed by `risk held`, charged once by `risk
// release` (receipt texted; a second release is refused), and another is
// refused by `risk refuse` (risk_refused texted, nothing charged).
func TestRiskBlockAndReleaseByCommand(t *testing.T) {
	t.Parallel()
	_, prefix := dbtest.Redis(t)
	dbURL := dbtest.Postgres(t)
	// Every code within a minute counts as too fast (min_delay 1m): the
	// first answer to an order gets a fresh code, the second a hold,
	// whatever the machine's speed.
	yaml := fmt.Sprintf("database: {url: %q}\nredis: {url: %q, prefix: %q}\naccounts: {auto_open: true}\n"+
		"risk: {rules: {fast_confirmation: {min_delay: 1m}}}\n%s", dbURL, dbtest.RedisURL(), prefix, testMerchants)
	h := bootWith(t, yaml, io.Discard, GatewayOptions{})
	cfg := filepath.Join(t.TempDir(), "carrierbill.yaml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, "data_dir: %q\n%s", t.TempDir(), yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	risk := func(verb string, args ...string) (int, string, string) {
		t.Helper()
		return runCmd(t, append([]string{"risk", verb, "-config", cfg}, args...)...)
	}
	mustRisk := func(verb string, args ...string) string {
		t.Helper()
		code, out, errs := risk(verb, args...)
		if code != 0 {
			t.Fatalf("risk %s %v exited %d: %s%s", verb, args, code, out, errs)
		}
		return out
	}
	ctx := context.Background()
	phone := h.newPhone()
	mts := 0
	next := func() string {
		t.Helper()
		mts++
		return h.reply(phone, mts)
	}

	// Blocked by command: refused, nothing opened.
	mustRisk("block", "-number", phone, "-for", "1h", "-note", "attack test")
	if out := mustRisk("list"); !strings.Contains(out, phone[len(phone)-4:]) || strings.Contains(out, phone) {
		t.Errorf("risk list shows no masked entry for the number:\n%s", out)
	}
	h.send(phone, "106580088001", "VIP")
	if mt := next(); !strings.Contains(mt, "暂不能办理") {
		t.Fatalf("a blocked number's purchase was answered %q", mt)
	}
	mustRisk("unblock", "-number", phone)

	// held buys VIP, answers the prompt and the fresh code, and returns the
	// order, now held.
	held := func() int64 {
		t.Helper()
		h.send(phone, "106580088001", "VIP")
		h.send(phone, "106580088001", codeOf(t, next()))
		fresh := next()
		if !strings.Contains(fresh, "安全提醒") {
			t.Fatalf("a code within min_delay was answered %q, want a fresh code", fresh)
		}
		h.send(phone, "106580088001", codeOf(t, fresh))
		if mt := next(); !strings.Contains(mt, "人工审核") {
			t.Fatalf("the answer to a fresh code within min_delay was %q, want a hold", mt)
		}
		var id int64
		if err := h.g.pool.QueryRow(ctx, "SELECT id FROM orders WHERE msisdn IN ($1, '+' || $1) AND status = 'held'", phone).Scan(&id); err != nil {
			t.Fatalf("the held order: %v", err)
		}
		if out := mustRisk("held"); !strings.Contains(out, strconv.FormatInt(id, 10)) {
			t.Errorf("risk held does not list order %d:\n%s", id, out)
		}
		return id
	}
	charges := func(id int64) int {
		t.Helper()
		var n int
		if err := h.g.pool.QueryRow(ctx, "SELECT count(*) FROM charges WHERE order_id = $1", id).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	// Released: charged once, the receipt texted; a second release refused.
	first := held()
	mustRisk("release", strconv.FormatInt(first, 10))
	if mt := next(); !strings.Contains(mt, "支付成功") {
		t.Fatalf("after the release the subscriber got %q, want the receipt", mt)
	}
	if code, out, errs := risk("release", strconv.FormatInt(first, 10)); code == 0 {
		t.Errorf("a second release succeeded: %s", out)
	} else if !strings.Contains(errs, "held") {
		t.Errorf("a second release said %q", errs)
	}
	if n := charges(first); n != 1 {
		t.Errorf("the released order has %d charges, want 1", n)
	}

	// Refused: the subscriber is told, nothing charged.
	second := held()
	mustRisk("refuse", strconv.FormatInt(second, 10))
	if mt := next(); !strings.Contains(mt, "未通过") {
		t.Fatalf("after the refusal the subscriber got %q", mt)
	}
	var status, reason string
	if err := h.g.pool.QueryRow(ctx, "SELECT status, coalesce(reason, '') FROM orders WHERE id = $1", second).Scan(&status, &reason); err != nil {
		t.Fatal(err)
	}
	if status != "failed" || reason != "risk_refused" || charges(second) != 0 {
		t.Errorf("the refused order is %s (%s) with %d charges; want failed, risk_refused, none", status, reason, charges(second))
	}
	if out := mustRisk("decisions", "-action", "hold"); !strings.Contains(out, "released") || !strings.Contains(out, "refused") {
		t.Errorf("risk decisions does not show the holds resolved:\n%s", out)
	}
}

// TestReplayRiskFromConfig: `carrierbill replay` applies the risk: section
// of its --config on the virtual clock: the trojan trace (codes within a
// second) is held, not charged; with risk.enabled false the trojan is
// charged.
func TestReplayRiskFromConfig(t *testing.T) {
	t.Parallel()
	replayWith := func(extra string) (string, string) {
		t.Helper()
		cfg := filepath.Join(t.TempDir(), "carrierbill.yaml")
		if err := os.WriteFile(cfg, []byte(testMerchants+extra), 0o644); err != nil {
			t.Fatal(err)
		}
		var stdout, stderr bytes.Buffer
		if err := runReplay(context.Background(), []string{"--config", cfg, "../../replay/testdata/risk-trojan.jsonl"}, &stdout, &stderr); err != nil {
			t.Fatalf("replay: %v\n%s", err, stderr.String())
		}
		return stdout.String(), stderr.String()
	}
	out, sum := replayWith("")
	if strings.Contains(out, `"kind":"charge","msisdn":"+86135`) || !strings.Contains(out, `"kind":"hold"`) ||
		!strings.Contains(sum, "risk: 20 orders held, 20 fresh codes") {
		t.Errorf("with the default rules the trojan was not held:\n%s", sum)
	}
	out, sum = replayWith("risk: {enabled: false}\n")
	if strings.Contains(out, `"kind":"hold"`) || !strings.Contains(out, `"kind":"charge","msisdn":"+8613500000001"`) {
		t.Errorf("with risk.enabled false the trojan was not charged:\n%s", sum)
	}
}
