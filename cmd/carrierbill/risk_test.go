package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/carrierbill/carrierbill/internal/dbtest"
	"github.com/carrierbill/carrierbill/merchantapi"
	"github.com/carrierbill/carrierbill/redact"
)

// The operator's risk tools on a running gateway: a payment confirmed
// faster than a person reads is held, the operator gets a signed alert,
// lists it, releases it, blocks and unblocks a number, reads the decisions
// and writes the day's risk report, all by `carrierbill risk`.
func TestRiskCommands(t *testing.T) {
	t.Parallel()
	const secret = "risk-alert-secret-0123456789"
	alerts := make(chan map[string]any, 16)
	sink := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := merchantapi.Verify([]byte(secret), r.Header.Get(merchantapi.SignatureHeader), body, time.Now(), 0); err != nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var ev map[string]any
		_ = json.Unmarshal(body, &ev)
		alerts <- ev
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(sink.Close)
	_, prefix := dbtest.Redis(t)
	dbURL := dbtest.Postgres(t)
	yaml := fmt.Sprintf("database: {url: %q}\nredis: {url: %q, prefix: %q}\naccounts: {auto_open: true}\napi: {notify_poll: 50ms}\n"+
		"risk: {alert_webhook: %q, alert_secret: %q, rules: {fast_confirmation: {fresh_codes: 0}}}\n%s",
		dbURL, dbtest.RedisURL(), prefix, sink.URL+"/alerts", secret, testMerchants)
	h := bootWith(t, yaml, io.Discard, GatewayOptions{NotifyClient: sink.Client()})
	cfg := filepath.Join(t.TempDir(), "carrierbill.yaml")
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	risk := func(wantCode int, args ...string) string {
		t.Helper()
		var out, errb strings.Builder
		if code := run(ctx, append([]string{"risk", args[0], "--config", cfg}, args[1:]...), &out, &errb); code != wantCode {
			t.Fatalf("risk %v exited %d, want %d: %s%s", args, code, wantCode, out.String(), errb.String())
		}
		return out.String() + errb.String()
	}

	// A trojan's instant answer is held; the operator is alerted.
	phone := h.newPhone()
	h.send(phone, "106580088001", "VIP")
	h.send(phone, "106580088001", codeOf(t, h.reply(phone, 1)))
	h.reply(phone, 2)
	select {
	case ev := <-alerts:
		data, _ := json.Marshal(ev["data"])
		if ev["type"] != merchantapi.TypeRiskDecision || !strings.Contains(string(data), `"action":"hold"`) ||
			!strings.Contains(string(data), redact.Phone(phone)) || strings.Contains(string(data), phone[2:]) {
			t.Fatalf("alert %v", ev)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no signed alert for the hold")
	}
	var order int64
	if err := h.g.pool.QueryRow(ctx, "SELECT id FROM orders WHERE msisdn = '+' || $1 AND status = 'held'", phone).Scan(&order); err != nil {
		t.Fatal(err)
	}
	out := risk(0, "held")
	if !strings.Contains(out, fmt.Sprint(order)) || !strings.Contains(out, redact.Phone(phone)) || !strings.Contains(out, "fast_confirmation") {
		t.Fatalf("risk held:\n%s", out)
	}
	if out = risk(0, "release", fmt.Sprint(order)); !strings.Contains(out, "charged") {
		t.Fatalf("risk release: %s", out)
	}
	if out = risk(1, "release", fmt.Sprint(order)); !strings.Contains(out, "not held") {
		t.Fatalf("risk release again: %s", out)
	}
	if out = risk(0, "decisions", "--action", "hold"); !strings.Contains(out, "released by operator:") {
		t.Fatalf("risk decisions:\n%s", out)
	}

	// Block by command: the number's next purchase is refused; unblocked,
	// it goes through.
	other := h.newPhone()
	if out = risk(0, "block", "--number", other, "--for", "1h", "--note", "chargebacks"); !strings.Contains(out, redact.Phone(other)) {
		t.Fatalf("risk block: %s", out)
	}
	if out = risk(0, "list"); !strings.Contains(out, redact.Phone(other)) || !strings.Contains(out, "chargebacks") || strings.Contains(out, other[2:]) {
		t.Fatalf("risk list:\n%s", out)
	}
	h.send(other, "106580088001", "VIP")
	if reply := h.reply(other, 1); sixDigits.MatchString(reply) {
		t.Fatalf("a blocked number got a prompt: %q", reply)
	}
	if out = risk(0, "unblock", "--number", other); !strings.Contains(out, "ended 1") {
		t.Fatalf("risk unblock: %s", out)
	}
	h.send(other, "106580088001", "VIP")
	codeOf(t, h.reply(other, 2))

	// What the operator typed wrong is named.
	for _, c := range []struct {
		args []string
		flag string
	}{
		{[]string{"block", "--number", "12"}, "--number"},
		{[]string{"block", "--prefix", "1x"}, "--prefix"},
		{[]string{"block", "--merchant", "9999"}, "--merchant"},
		{[]string{"block", "--number", other, "--merchant", "8001"}, "exactly one"},
		{[]string{"decisions", "--since", "yesterday"}, "--since"},
		{[]string{"decisions", "--action", "panic"}, "--action"},
		{[]string{"release", "x"}, "ORDER"},
		{[]string{"report"}, "--day"},
	} {
		if out = risk(2, c.args...); !strings.Contains(out, c.flag) {
			t.Errorf("risk %v: %q does not name %s", c.args, out, c.flag)
		}
	}

	// The day's risk report.
	dir := t.TempDir()
	today := h.g.Clock.Now().In(h.g.Config.Location()).Format("2006-01-02")
	if out = risk(0, "report", "--day", today, "--dir", dir); !strings.Contains(out, "1 holds") {
		t.Fatalf("risk report: %s", out)
	}
	page, err := os.ReadFile(filepath.Join(dir, "risk-"+today+".html"))
	if err != nil || !strings.Contains(string(page), `aria-label="risk decisions chart"`) || !strings.Contains(string(page), "fast_confirmation") {
		t.Fatalf("the report page: %v", err)
	}
}
