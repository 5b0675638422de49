package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/carrierbill/carrierbill/internal/dbtest"
	"github.com/carrierbill/carrierbill/redact"
)

// The operator commands of issue 16 against a gateway's database: lookup,
// account, report, version; and the same on the admin API.
func TestOpsCommands(t *testing.T) {
	t.Parallel()
	_, prefix := dbtest.Redis(t)
	dbURL := dbtest.Postgres(t)
	h := bootOps(t, dbURL, dbtest.RedisURL(), prefix)
	phone := h.newPhone()
	h.send(phone, "106580088001", "VIP")
	h.send(phone, "106580088001", codeOf(t, h.reply(phone, 1)))
	h.reply(phone, 2)
	cfg := filepath.Join(t.TempDir(), "carrierbill.yaml")
	reports := t.TempDir()
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf("database: {url: %q}\nredis: {url: %q, prefix: %q}\nops: {reports_dir: %q}\n%s",
		dbURL, dbtest.RedisURL(), prefix, reports, testMerchants)), 0o600); err != nil {
		t.Fatal(err)
	}
	masked := redact.Phone(phone)

	// lookup by masked number: one hit, shown in full, the number masked.
	code, out, errs := runCmd(t, "lookup", "-config", cfg, "-number", masked)
	if code != 0 || !strings.Contains(out, "paid") || !strings.Contains(out, "15.00") || !strings.Contains(out, masked) {
		t.Fatalf("lookup -number %s: %d\n%s%s", masked, code, out, errs)
	}
	if strings.Contains(out, phone[2:]) {
		t.Errorf("lookup printed the number in clear:\n%s", out)
	}
	var view struct {
		Order int64 `json:"order"`
		Txn   int64 `json:"txn"`
	}
	if code, out, errs = runCmd(t, "lookup", "-config", cfg, "-number", phone, "-json"); code != 0 || json.Unmarshal([]byte(out), &view) != nil || view.Txn == 0 {
		t.Fatalf("lookup -json: %d %s%s", code, out, errs)
	}
	if code, out, _ = runCmd(t, "lookup", "-config", cfg, "-txn", fmt.Sprint(view.Txn)); code != 0 || !strings.Contains(out, fmt.Sprint(view.Order)) {
		t.Errorf("lookup -txn: %d %s", code, out)
	}
	if code, _, _ = runCmd(t, "lookup", "-config", cfg, "-number", "1*1"); code != exitUsage {
		t.Errorf("a malformed mask exited %d, want %d", code, exitUsage)
	}
	if code, _, errs = runCmd(t, "lookup", "-config", cfg, "-order", "999999"); code != 1 || !strings.Contains(errs, "no order") {
		t.Errorf("lookup of a missing order: %d %s", code, errs)
	}

	// account open, topup (twice with one key: once), suspend, resume, show.
	sub := "13700000042"
	if code, out, errs = runCmd(t, "account", "open", "-config", cfg, "-number", sub, "-balance", "5.00"); code != 0 || !strings.Contains(out, "balance 5.00") {
		t.Fatalf("account open: %d %s%s", code, out, errs)
	}
	if code, _, errs = runCmd(t, "account", "open", "-config", cfg, "-number", sub); code == 0 || !strings.Contains(errs, "already has an account") {
		t.Errorf("opening twice: %d %s", code, errs)
	}
	for range 2 {
		if code, out, errs = runCmd(t, "account", "topup", "-config", cfg, "-number", sub, "-amount", "20.00", "-key", "ticket-1"); code != 0 || !strings.Contains(out, "balance 25.00") {
			t.Fatalf("account topup: %d %s%s", code, out, errs)
		}
	}
	if code, out, _ = runCmd(t, "account", "suspend", "-config", cfg, "-number", sub); code != 0 || !strings.Contains(out, "suspended") {
		t.Errorf("account suspend: %d %s", code, out)
	}
	// A suspended account's purchase is refused at the debit.
	h.send("86"+sub, "106580088001", "VIP")
	h.send("86"+sub, "106580088001", codeOf(t, h.reply("86"+sub, 1)))
	if r := h.reply("86"+sub, 2); strings.Contains(r, "25.00") || strings.Contains(r, "10.00") {
		t.Errorf("a suspended account paid: %q", r)
	}
	if code, out, _ = runCmd(t, "account", "resume", "-config", cfg, "-number", sub); code != 0 || !strings.Contains(out, "active") {
		t.Errorf("account resume: %d %s", code, out)
	}
	if code, out, _ = runCmd(t, "account", "show", "-config", cfg, "-number", sub); code != 0 || !strings.Contains(out, "prepaid  balance 25.00 yuan  active") {
		t.Errorf("account show: %d %q", code, out)
	}
	if code, _, _ = runCmd(t, "account", "topup", "-config", cfg, "-number", sub, "-amount", "1.00"); code != exitUsage {
		t.Errorf("topup without -key exited %d", code)
	}
	// The same on the admin API.
	if st, body := opsDo(t, h, "POST", "/admin/accounts/"+sub+"/topup", `{"amount":"1.50","key":"api-1"}`, true); st != http.StatusOK || !strings.Contains(body, `"balance": "26.50"`) {
		t.Errorf("API topup: %d %s", st, body)
	}
	if st, body := opsDo(t, h, "GET", "/admin/orders?number="+masked, "", true); st != http.StatusOK || !strings.Contains(body, `"status": "paid"`) || strings.Contains(body, phone[2:]) {
		t.Errorf("API search: %d %s", st, body)
	}
	if st, _ := opsDo(t, h, "GET", "/admin/orders?number=12*", "", true); st != http.StatusBadRequest {
		t.Errorf("API search with a bad mask: %d", st)
	}
	if st, body := opsDo(t, h, "POST", "/admin/refunds", fmt.Sprintf(`{"order":%d}`, view.Order), true); st != http.StatusBadRequest {
		t.Errorf("a refund without a reason: %d %s", st, body)
	}
	if st, body := opsDo(t, h, "PUT", "/admin/loglevel", `{"level":"debug"}`, true); st != http.StatusOK || !strings.Contains(body, `"before": "info"`) {
		t.Errorf("log level: %d %s", st, body)
	}

	// report for today (so far) into ops.reports_dir.
	today := h.g.Clock.Now().In(h.g.Config.Location()).Format("2006-01-02")
	code, out, errs = runCmd(t, "report", "-config", cfg, "--date", today)
	if code != 0 || !strings.Contains(out, "1 payments, 15.00 yuan net") {
		t.Fatalf("report: %d %s%s", code, out, errs)
	}
	if _, err := os.Stat(filepath.Join(reports, "report-"+today+".html")); err != nil {
		t.Error(err)
	}
	if code, _, _ = runCmd(t, "report", "-config", cfg, "--date", "2026-13-01"); code != exitUsage {
		t.Errorf("a bad date exited %d", code)
	}

	if code, out, _ = runCmd(t, "version"); code != 0 || !strings.HasPrefix(out, "carrierbill ") {
		t.Errorf("version: %d %q", code, out)
	}
}
