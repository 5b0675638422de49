package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/carrierbill/carrierbill/redact"
)

// The operator console in headless Chromium (issue 16): sign in, the live
// status, a payment search by masked number, a refund with a reason, a
// report with its chart, the phone simulator. With
// CARRIERBILL_SCREENSHOTS=1 the screenshots are written to docs/ (the
// README shows them); otherwise to a temporary directory.

// chromiumPath finds Debian's chromium (or another Chrome). Under CI=true
// its absence fails the test: .ci/run installs it.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("no chromium on PATH under CI=true (.ci/run installs Debian's chromium; apt-get install -y chromium)")
	}
	t.Skip("no chromium on PATH (apt-get install -y chromium)")
	return ""
}

// chromiumContext is a headless browser on chrome for the test, closed
// when it ends, each run bounded by 3 minutes.
func chromiumContext(t *testing.T, chrome string) context.Context {
	t.Helper()
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chrome), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.WindowSize(1280, 900))
	// The browser's newer events that this cdproto cannot decode are
	// noise, not failures: they go to the test log only with -v.
	ctx, cancelBrowser := chromedp.NewContext(alloc, chromedp.WithErrorf(func(string, ...any) {}))
	ctx, cancelRun := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(func() { cancelRun(); cancelBrowser(); cancelAlloc() })
	return ctx
}

func TestOpsConsoleInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser")
	}
	chrome := chromiumPath(t)
	shots := t.TempDir()
	if os.Getenv("CARRIERBILL_SCREENSHOTS") == "1" {
		shots = filepath.Join("..", "..", "docs")
	}
	// A generous Redis timeout: on a loaded machine the in-process Redis
	// can miss the default 200ms, and a payment then fails closed.
	yaml := "accounts: {auto_open: true}\nredis: {timeout: 5s}\nops: {listen: \"127.0.0.1:0\"}\n" + testMerchants
	h := bootWith(t, yaml, io.Discard, GatewayOptions{AdminToken: opsTestToken})
	if h.g.OpsAddr == "" {
		t.Fatal("no operations endpoint")
	}
	// Traffic: two payments, so the status, the search and the report
	// have something to show.
	phone := h.newPhone()
	other := h.newPhone()
	for _, p := range []string{phone, other} {
		h.send(p, "106580088001", "VIP")
		h.send(p, "106580088001", codeOf(t, h.reply(p, 1)))
		h.reply(p, 2)
	}
	today := h.g.Clock.Now().In(h.g.Config.Location()).Format("2006-01-02")

	ctx := chromiumContext(t, chrome)

	shot := func(name string) chromedp.Action {
		return chromedp.ActionFunc(func(ctx context.Context) error {
			var buf []byte
			if err := chromedp.FullScreenshot(&buf, 100).Do(ctx); err != nil { // quality 100: PNG (below: JPEG)
				return err
			}
			return os.WriteFile(filepath.Join(shots, name), buf, 0o644)
		})
	}
	base := "http://" + h.g.OpsAddr + "/console/"
	var text string

	// Sign in: a wrong token is refused, the right one opens the status.
	if err := chromedp.Run(ctx,
		chromedp.Navigate(base),
		chromedp.WaitVisible("#token", chromedp.ByQuery),
		chromedp.SendKeys("#token", "wrong", chromedp.ByQuery),
		chromedp.Click("#login-form button[type=submit]", chromedp.ByQuery),
		chromedp.WaitVisible("#login-error", chromedp.ByQuery),
		chromedp.Poll(`document.querySelector("#login-error").textContent.includes("refused")`, nil),
		chromedp.SendKeys("#token", opsTestToken, chromedp.ByQuery),
		chromedp.Click("#login-form button[type=submit]", chromedp.ByQuery),
		chromedp.WaitVisible("#binds tbody tr", chromedp.ByQuery),
		// Two polls: the rates need two snapshots.
		chromedp.Poll(`document.querySelector("#rate-mo").textContent !== "–"`, nil, chromedp.WithPollingTimeout(20*time.Second)),
		chromedp.Text("#binds tbody", &text, chromedp.ByQuery),
	); err != nil {
		t.Fatalf("status page: %v", err)
	}
	if !strings.Contains(text, "simulator") || !strings.Contains(text, "bound") {
		t.Errorf("the status page's binds: %q", text)
	}
	var totals string
	if err := chromedp.Run(ctx, chromedp.Text("#totals", &totals, chromedp.ByQuery), shot("console-status.png")); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(totals, "payments charged 2") {
		t.Errorf("totals %q, want 2 payments charged", totals)
	}

	// Search by the masked number: one order, its detail opens.
	masked := redact.Phone(phone)
	if err := chromedp.Run(ctx,
		chromedp.Navigate(base+"#search"),
		chromedp.WaitVisible("#search-q", chromedp.ByQuery),
		chromedp.SetValue("#search-by", "number", chromedp.ByQuery),
		chromedp.SendKeys("#search-q", masked, chromedp.ByQuery),
		chromedp.Click("#search-form button[type=submit]", chromedp.ByQuery),
		chromedp.WaitVisible("#order", chromedp.ByQuery),
		chromedp.Text("#o-fields", &text, chromedp.ByQuery),
		shot("console-search.png"),
	); err != nil {
		t.Fatalf("payment search: %v", err)
	}
	if !strings.Contains(text, masked) || !strings.Contains(text, "15.00 yuan") || !strings.Contains(text, "paid") {
		t.Errorf("the order found by %s: %q", masked, text)
	}
	if strings.Contains(text, strings.TrimPrefix(phone, "86")) {
		t.Errorf("the console shows the number in clear: %q", text)
	}

	// Refund it with a reason.
	if err := chromedp.Run(ctx,
		chromedp.WaitVisible("#refund-form", chromedp.ByQuery),
		chromedp.SendKeys("#refund-reason", "subscriber complaint #4711", chromedp.ByQuery),
		chromedp.Click("#refund-form button[type=submit]", chromedp.ByQuery),
		chromedp.WaitVisible("#refund-result.ok", chromedp.ByQuery),
		chromedp.Text("#refund-result", &text, chromedp.ByQuery),
		shot("console-refund.png"),
	); err != nil {
		t.Fatalf("refund: %v", err)
	}
	if !strings.Contains(text, "Refunded 15.00 yuan") || !strings.Contains(text, "subscriber complaint #4711") {
		t.Errorf("refund result %q", text)
	}
	var refunds int
	var reason string
	if err := h.g.sqlite.Reader().QueryRow(`SELECT count(*), max(reason) FROM refunds`).Scan(&refunds, &reason); err != nil {
		t.Fatal(err)
	}
	if refunds != 1 || reason != "subscriber complaint #4711" {
		t.Errorf("%d refunds with reason %q after the console's refund", refunds, reason)
	}

	// Today's report, made on demand, with its chart.
	var hasChart bool
	if err := chromedp.Run(ctx,
		chromedp.Navigate(base+"#reports"),
		chromedp.WaitVisible("#report-period", chromedp.ByQuery),
		chromedp.SendKeys("#report-period", today, chromedp.ByQuery),
		chromedp.Click("#report-form button[type=submit]", chromedp.ByQuery),
		chromedp.Poll(`(() => { const d = document.querySelector("#report-view").contentDocument;
			return !!(d && d.querySelector("svg[aria-label='revenue chart']")); })()`, &hasChart, chromedp.WithPollingTimeout(30*time.Second)),
		chromedp.Evaluate(`document.querySelector("#report-view").contentDocument.querySelector("#net").textContent`, &text),
		shot("console-report.png"),
	); err != nil {
		t.Fatalf("report: %v", err)
	}
	if text != "15.00" { // 2 × 15.00 paid, 15.00 refunded
		t.Errorf("the report's net revenue is %q, want 15.00", text)
	}

	// The phone simulator: a purchase as a new number gets its prompt.
	newcomer := h.newPhone()
	if err := chromedp.Run(ctx,
		chromedp.Navigate(base+"#phone"),
		chromedp.WaitVisible("#phone-number", chromedp.ByQuery),
		chromedp.SendKeys("#phone-number", newcomer, chromedp.ByQuery),
		chromedp.SendKeys("#phone-to", "106580088001", chromedp.ByQuery),
		chromedp.SendKeys("#phone-text", "VIP", chromedp.ByQuery),
		chromedp.Click("#phone-form button[type=submit]", chromedp.ByQuery),
		chromedp.WaitVisible(".bubble.mt", chromedp.ByQuery),
		chromedp.Text(".bubble.mt", &text, chromedp.ByQuery),
		shot("console-phone.png"),
	); err != nil {
		t.Fatalf("phone simulator: %v", err)
	}
	if !strings.Contains(text, "15.00") || len(sixDigits.FindAllString(text, -1)) != 1 {
		t.Errorf("the simulator's answer %q is not the prompt", text)
	}
	fmt.Fprintln(io.Discard, today)
}
