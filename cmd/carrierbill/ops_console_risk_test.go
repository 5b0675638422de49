package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/carrierbill/carrierbill/redact"
)

// The console's risk view in headless Chromium (issue 15): a held payment
// released with its button, the decisions by rule, a number blocked from
// the form and unblocked from the list. With CARRIERBILL_SCREENSHOTS=1 the
// screenshot goes to docs/.
func TestOpsConsoleRiskInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser")
	}
	chrome := chromiumPath(t)
	shots := t.TempDir()
	if os.Getenv("CARRIERBILL_SCREENSHOTS") == "1" {
		shots = filepath.Join("..", "..", "docs")
	}
	yaml := "accounts: {auto_open: true}\nredis: {timeout: 5s}\nops: {listen: \"127.0.0.1:0\"}\n" +
		"risk: {rules: {fast_confirmation: {fresh_codes: 0}}}\n" + testMerchants
	h := bootWith(t, yaml, io.Discard, GatewayOptions{AdminToken: opsTestToken})
	// A trojan's instant answer: held.
	phone := h.newPhone()
	h.send(phone, "106580088001", "VIP")
	h.send(phone, "106580088001", codeOf(t, h.reply(phone, 1)))
	h.reply(phone, 2)

	ctx := chromiumContext(t, chrome)
	base := "http://" + h.g.OpsAddr + "/console/"
	masked := redact.Phone(phone)
	var holds, rules, result string
	var shot []byte
	if err := chromedp.Run(ctx,
		chromedp.Navigate(base),
		chromedp.WaitVisible("#token", chromedp.ByQuery),
		chromedp.SendKeys("#token", opsTestToken, chromedp.ByQuery),
		chromedp.Click("#login-form button[type=submit]", chromedp.ByQuery),
		chromedp.WaitVisible("#binds tbody tr", chromedp.ByQuery),
		chromedp.Navigate(base+"#risk"),
		chromedp.WaitVisible("#holds tbody button.release", chromedp.ByQuery),
		chromedp.Text("#holds tbody", &holds, chromedp.ByQuery),
		chromedp.Text("#risk-rules tbody", &rules, chromedp.ByQuery),
		chromedp.FullScreenshot(&shot, 100),
	); err != nil {
		t.Fatalf("risk view: %v", err)
	}
	if err := os.WriteFile(filepath.Join(shots, "console-risk.png"), shot, 0o644); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(holds, masked) || !strings.Contains(holds, "fast_confirmation") || !strings.Contains(holds, "15.00") {
		t.Errorf("the held payments: %q", holds)
	}
	if strings.Contains(holds, phone[2:]) {
		t.Errorf("the console shows the number in clear: %q", holds)
	}
	if !strings.Contains(rules, "fast_confirmation") {
		t.Errorf("the decisions by rule: %q", rules)
	}

	// Release it with its button: charged, and the list empties.
	if err := chromedp.Run(ctx,
		chromedp.Click("#holds tbody button.release", chromedp.ByQuery),
		chromedp.WaitVisible("#hold-result.ok", chromedp.ByQuery),
		chromedp.Text("#hold-result", &result, chromedp.ByQuery),
		chromedp.Poll(`!document.querySelector("#holds tbody button.release")`, nil, chromedp.WithPollingTimeout(20*time.Second)),
	); err != nil {
		t.Fatalf("release: %v", err)
	}
	if !strings.Contains(result, "charged") {
		t.Errorf("release result %q", result)
	}
	var status string
	if err := h.g.sqlite.Reader().QueryRow(`SELECT status FROM orders WHERE msisdn = '+' || ?`, phone).Scan(&status); err != nil || status != "paid" {
		t.Errorf("the released order is %q (%v)", status, err)
	}

	// Block a number from the form, then unblock it from the list.
	other := h.newPhone()
	var blocks string
	if err := chromedp.Run(ctx,
		chromedp.SetValue("#block-subject", "number", chromedp.ByQuery),
		chromedp.SendKeys("#block-value", other, chromedp.ByQuery),
		chromedp.SendKeys("#block-for", "2h", chromedp.ByQuery),
		chromedp.SendKeys("#block-note", "console test", chromedp.ByQuery),
		chromedp.Click("#block-form button[type=submit]", chromedp.ByQuery),
		chromedp.WaitVisible("#blocks tbody button.unblock", chromedp.ByQuery),
		chromedp.Text("#blocks tbody", &blocks, chromedp.ByQuery),
	); err != nil {
		t.Fatalf("block: %v", err)
	}
	if !strings.Contains(blocks, redact.Phone(other)) || !strings.Contains(blocks, "console test") || !strings.Contains(blocks, "operator:console") {
		t.Errorf("the blocks: %q", blocks)
	}
	if err := chromedp.Run(ctx,
		chromedp.Click("#blocks tbody button.unblock", chromedp.ByQuery),
		chromedp.Poll(`document.querySelector("#blocks tbody").textContent.includes("Nothing is blocked")`, nil, chromedp.WithPollingTimeout(20*time.Second)),
	); err != nil {
		t.Fatalf("unblock: %v", err)
	}
}
