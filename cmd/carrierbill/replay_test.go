package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/carrierbill/carrierbill/replay"
)

// TestReplayLive drives a gateway booted as serve boots it (embedded store
// and limiter: no PostgreSQL or Redis needed) through the simulator's HTTP
// control endpoint, and checks the answers, the latency report and the
// comparison with the recorded MTs.
//
// Not parallel: the goroutine-leak check must see only its own goroutines.
func TestReplayLive(t *testing.T) {
	before := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, before) })
	h := boot(t, "", "", "", "")
	ctl := httptest.NewServer(h.sim.Handler())
	t.Cleanup(ctl.Close)

	phone := h.newPhone()
	lines := []string{
		`{"at":"2026-11-21T10:00:00+08:00","from":"` + phone + `","to":"106580088001","text":"VIP"}`,
		`{"at":"2026-11-21T10:00:00.1+08:00","kind":"mt","from":"106580088001","to":"` + phone + `","text":"您正在向星辰游戏购买月度会员，金额15.00元。请在10分钟内回复验证码123456确认支付，不购买请忽略。"}`,
		`{"at":"2026-11-21T10:00:01+08:00","from":"` + phone + `","to":"106580088001","text":"{{code}}"}`,
		`{"at":"2026-11-21T10:00:02+08:00","from":"` + phone + `","to":"106580088001","text":"CX"}`,
	}
	path := filepath.Join(t.TempDir(), "live.jsonl")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	err := runReplay(ctx, []string{"--smsc", ctl.URL, "--speed", "20", "--wait", "20s", path}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("replay --smsc: %v\n%s", err, stderr.String())
	}
	var texts []string
	for _, line := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		var e replay.Event
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("output line %q: %v", line, err)
		}
		if e.Kind != "mt" || e.MSISDN != phone {
			t.Errorf("unexpected event %+v", e)
		}
		texts = append(texts, e.Text)
	}
	if len(texts) != 3 {
		t.Fatalf("got %d MTs, want prompt, receipt and query answer: %q\n%s", len(texts), texts, stderr.String())
	}
	// The receipt and the answer to CX may be sent in either order.
	if !strings.Contains(texts[1]+texts[2], "支付成功") {
		t.Errorf("no receipt among %q: {{code}} was not replaced by the prompt's code", texts[1:])
	}
	rep := stderr.String()
	for _, want := range []string{"sent: 3 MOs (failed 0)", "3 MOs answered", "latency MO sent → first MT: p50", "recorded MTs: 1, matching 1"} {
		if !strings.Contains(rep, want) {
			t.Errorf("report lacks %q:\n%s", want, rep)
		}
	}
}

// TestReplayOfflineCommand runs the command offline twice on the same trace:
// byte-identical output, and no server needed.
func TestReplayOfflineCommand(t *testing.T) {
	t.Parallel()
	cfg := filepath.Join(t.TempDir(), "carrierbill.yaml")
	if err := os.WriteFile(cfg, []byte(testMerchants), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (string, string) {
		t.Helper()
		var stdout, stderr bytes.Buffer
		if err := runReplay(context.Background(), append([]string{"--config", cfg}, args...), &stdout, &stderr); err != nil {
			t.Fatalf("replay %v: %v\n%s", args, err, stderr.String())
		}
		return stdout.String(), stderr.String()
	}
	trace := "../../replay/testdata/reasons.jsonl"
	a, sa := run(trace)
	b, sb := run(trace)
	if a != b || sa != sb {
		t.Fatalf("two offline replays of the same trace differ")
	}
	if !strings.Contains(a, `"kind":"charge"`) || !strings.Contains(sa, "charges: ") {
		t.Fatalf("no charge in the replay:\n%s\n%s", a, sa)
	}
	red, _ := run("--redact", trace)
	if strings.Contains(red, "8613800000001") {
		t.Fatalf("--redact output has a phone number in clear")
	}
	if _, _, err := func() (string, string, error) {
		var o, e bytes.Buffer
		err := runReplay(context.Background(), []string{"--format", "nope", trace}, &o, &e)
		return o.String(), e.String(), err
	}(); err == nil {
		t.Fatalf("--format nope accepted")
	}
}

var accountsCases = []struct {
	in   string
	want int // accounts; -1 for an error
}{
	{"", 0},
	{"# comment\n\n" + `{"msisdn":"8613900000001","prepaid":true,"balance_fen":500}` + "\n", 1},
	{`{"msisdn":"8613900000002","suspended":true}` + "\n" + `{"msisdn":"8613900000003","credit_limit_fen":10000}`, 2},
	{`{"msisdn":""}`, -1},
	{`{"msisdn":"1","balance_fen":-1}`, -1},
	{`{"msisdn":"1","colour":"red"}`, -1},
	{`{"msisdn":"8613600000001","card_pan":"6222020000000000018","card_balance_fen":10000,"card_state":"decline","wallet_password":"135790"}`, 1},
	{`{"msisdn":"1","card_pan":"6222020000000000018","card_balance_fen":-1}`, -1},
	{`not json`, -1},
}

func TestParseAccounts(t *testing.T) {
	t.Parallel()
	for _, tc := range accountsCases {
		got, err := parseAccounts([]byte(tc.in), "accounts.jsonl")
		switch {
		case tc.want < 0 && err == nil:
			t.Errorf("parseAccounts(%q) accepted %v", tc.in, got)
		case tc.want >= 0 && (err != nil || len(got) != tc.want):
			t.Errorf("parseAccounts(%q) = %d accounts, %v; want %d", tc.in, len(got), err, tc.want)
		}
	}
}

func FuzzParseAccounts(f *testing.F) {
	for _, tc := range accountsCases {
		f.Add([]byte(tc.in))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		accs, err := parseAccounts(b, "fuzz")
		if err == nil {
			for _, a := range accs {
				if a.MSISDN == "" || a.Balance < 0 || a.CreditLimit < 0 {
					t.Fatalf("accepted an invalid account %+v", a)
				}
			}
		}
	})
}

// Issue 20.6: offline replay shows progress on stderr when asked (--progress
// on; auto: when stderr is a terminal), never on stdout, whose events stay
// byte-identical; with stderr not a terminal it stays quiet.
func TestReplayOfflineProgress(t *testing.T) {
	t.Parallel()
	cfg := filepath.Join(t.TempDir(), "carrierbill.yaml")
	if err := os.WriteFile(cfg, []byte(testMerchants), 0o644); err != nil {
		t.Fatal(err)
	}
	// A short trace: a purchase and its confirmation.
	trace := filepath.Join(t.TempDir(), "short.jsonl")
	if err := os.WriteFile(trace, []byte(`{"at":"2026-11-21T10:00:00+08:00","from":"8613800000001","to":"106580088001","text":"VIP"}
{"at":"2026-11-21T10:00:05+08:00","from":"8613800000001","to":"106580088001","text":"{{code}}"}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (string, string) {
		t.Helper()
		var stdout, stderr bytes.Buffer
		if err := runReplay(context.Background(), append([]string{"--config", cfg}, append(args, trace)...), &stdout, &stderr); err != nil {
			t.Fatalf("replay %v: %v\n%s", args, err, stderr.String())
		}
		return stdout.String(), stderr.String()
	}
	quietOut, quietErr := run() // auto, and stderr is no terminal
	barOut, barErr := run("--progress", "on")
	if strings.Contains(quietErr, "replaying") {
		t.Errorf("progress drawn on a stderr that is no terminal:\n%s", quietErr)
	}
	if !strings.Contains(barErr, "replaying "+trace) {
		t.Errorf("--progress on drew no bar on stderr:\n%q", barErr)
	}
	if barOut != quietOut || strings.Contains(barOut, "replaying") {
		t.Errorf("the progress bar changed stdout")
	}
	if !strings.Contains(barErr, "charges: ") {
		t.Errorf("the summary is missing after the bar:\n%s", barErr)
	}
	var o, e bytes.Buffer
	if err := runReplay(context.Background(), []string{"--progress", "sometimes", trace}, &o, &e); err == nil {
		t.Errorf("--progress sometimes accepted")
	}
}
