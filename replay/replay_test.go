package replay

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/clock"
	"github.com/carrierbill/carrierbill/internal/dbtest"
	"github.com/carrierbill/carrierbill/risk"
	"github.com/carrierbill/carrierbill/trace"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testConfig is the engine configuration of the golden traces: the defaults
// and two merchants.
func testConfig(t testing.TB) billing.Config {
	t.Helper()
	c := billing.DefaultConfig()
	m := billing.DefaultMerchant("8001", "星辰游戏")
	m.OpenAmount = true
	m.Products = []billing.Product{
		{Keyword: "VIP", Name: "月度会员", Amount: billing.Yuan(15)},
		{Keyword: "BIG", Name: "大礼包", Amount: billing.Yuan(40)},
	}
	music := billing.DefaultMerchant("8002", "云音乐")
	music.Products = []billing.Product{{Keyword: "SONG", Name: "单曲", Amount: 200}}
	c.Merchants = []billing.Merchant{m, music}
	return c
}

// failingLimiter cannot answer for one key, as a Redis outage would.
type failingLimiter struct {
	billing.Limiter
	key string
}

func (l failingLimiter) Allow(ctx context.Context, r billing.Rule, key string) (billing.Decision, error) {
	if key == l.key {
		return billing.Decision{}, errors.New("limiter unreachable")
	}
	return l.Limiter.Allow(ctx, r, key)
}

// decliningCharger refuses every debit without naming a reason.
type decliningCharger struct{}

func (decliningCharger) Debit(context.Context, string, string, billing.Money) error {
	return &billing.Declined{}
}
func (decliningCharger) Refund(context.Context, string, string, string, billing.Money) error {
	return &billing.Declined{}
}
func (decliningCharger) Status(context.Context, string) (billing.DebitStatus, error) {
	return billing.DebitNone, nil
}

type goldenCase struct {
	name   string
	path   string
	format trace.Format
	loc    *time.Location
	opts   func(o *Options)
}

func goldenCases(t testing.TB) []goldenCase {
	return []goldenCase{
		{name: "reasons", path: "testdata/reasons.jsonl"},
		{name: "accounts", path: "testdata/accounts.jsonl", opts: func(o *Options) {
			o.NoAutoOpen = true
			o.Accounts = []Account{
				{MSISDN: "8613900000001", Prepaid: true, Balance: 500},
				{MSISDN: "8613900000002", Suspended: true, CreditLimit: billing.Yuan(100)},
				{MSISDN: "8613900000004", CreditLimit: billing.Yuan(100)},
			}
		}},
		{name: "failures", path: "testdata/failures.jsonl", opts: func(o *Options) {
			o.Limiter = failingLimiter{Limiter: billing.NewMemoryLimiter(clock.NewFake(time.Unix(0, 0))), key: "+8613700000001"}
			o.Charger = decliningCharger{}
		}},
		{name: "cards", path: "testdata/cards.jsonl", opts: func(o *Options) {
			o.Accounts = readAccounts(t, "testdata/cards.accounts.jsonl")
		}},
		{name: "boundaries", path: "testdata/boundaries.jsonl", opts: func(o *Options) {
			o.CreditLimit = billing.Yuan(1000)
			// Its last order is confirmed 0.5 s after its prompt on
			// purpose (the minimum interval's edge, to the second), which
			// fast_confirmation would answer with a fresh code: that rule
			// is off here (risk-trojan tests it).
			rules := risk.DefaultRules()
			rules.FastConfirmation.Enabled = false
			o.RiskRules = &rules
		}},
		{name: "multipart", path: "testdata/multipart.jsonl"},
		{name: "subscriptions", path: "testdata/subscriptions.jsonl", opts: func(o *Options) {
			o.Config.Merchants[1].Products = append(o.Config.Merchants[1].Products,
				billing.Product{Keyword: "YUE", Name: "音乐包月", Amount: billing.Yuan(10), Period: billing.PeriodMonth})
		}},
		{name: "redacted", path: "testdata/reasons.jsonl", opts: func(o *Options) { o.Redact = true }},
		{name: "kannel", path: "../trace/testdata/kannel-access.log", format: trace.Kannel, loc: time.UTC},
		// The small risk traces (risk_test.go generates them).
		{name: "risk-trojan", path: "testdata/risk-trojan.jsonl", opts: func(o *Options) { o.Config = riskConfig(t) }},
		{name: "risk-guesser", path: "testdata/risk-guesser.jsonl", opts: func(o *Options) { o.Config = riskConfig(t) }},
		{name: "pcap", path: "../trace/testdata/smpp-kannel.pcap", format: trace.PCAP},
	}
}

// replayFile runs one golden case and returns stdout and the summary.
func replayFile(t *testing.T, c goldenCase) (out, summary []byte) {
	t.Helper()
	o := Options{Config: testConfig(t), Seed: 1}
	if c.opts != nil {
		c.opts(&o)
	}
	loc := c.loc
	if loc == nil {
		loc = o.Config.Location
	}
	r, err := trace.Open(c.path, c.format, trace.Options{Location: loc})
	if err != nil {
		t.Fatalf("opening %s: %v", c.path, err)
	}
	defer r.Close()
	var stdout, stderr bytes.Buffer
	sum, err := Run(context.Background(), r, &stdout, o)
	if err != nil {
		t.Fatalf("replaying %s: %v", c.path, err)
	}
	if _, err := sum.WriteTo(&stderr); err != nil {
		t.Fatal(err)
	}
	return stdout.Bytes(), stderr.Bytes()
}

func TestGolden(t *testing.T) {
	for _, c := range goldenCases(t) {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			out, sum := replayFile(t, c)
			checkGolden(t, filepath.Join("testdata", c.name+".out"), out)
			checkGolden(t, filepath.Join("testdata", c.name+".summary"), sum)
			for i, line := range bytes.Split(bytes.TrimSpace(out), []byte("\n")) {
				var e Event
				if err := json.Unmarshal(line, &e); err != nil {
					t.Fatalf("line %d is not JSON: %v", i+1, err)
				}
				if e.At == "" || e.MSISDN == "" || e.Kind == "" {
					t.Errorf("line %d lacks at, kind or msisdn: %s", i+1, line)
				}
				if (e.Kind == "reject" || e.Kind == "hold") && !billing.Reason(e.Reason).Valid() {
					t.Errorf("line %d: reason %q is not a stable code", i+1, e.Reason)
				}
			}
		})
	}
}

// readAccounts reads an accounts file as `carrierbill replay --accounts`
// does: one JSON object per line, # comments and blank lines skipped.
func readAccounts(t testing.TB, path string) []Account {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []Account
	for i, line := range bytes.Split(b, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		var a Account
		if err := json.Unmarshal(line, &a); err != nil {
			t.Fatalf("%s:%d: %v", path, i+1, err)
		}
		out = append(out, a)
	}
	return out
}

// TestEveryReason checks that the golden traces together cover every
// rejection reason the engine emits, bank-card refusals and risk holds
// included. risk_refused is an operator's answer to a hold, which no trace
// can send (cmd/carrierbill's risk tests refuse one).
func TestEveryReason(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range goldenCases(t) {
		b, err := os.ReadFile(filepath.Join("testdata", c.name+".out"))
		if err != nil {
			t.Fatalf("golden output of %s: %v (run go test -update)", c.name, err)
		}
		for _, line := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
			var e Event
			if err := json.Unmarshal(line, &e); err == nil && (e.Kind == "reject" || e.Kind == "hold") {
				seen[e.Reason] = true
			}
		}
	}
	for _, r := range billing.Reasons {
		if !seen[string(r)] && r != billing.ReasonRiskRefused {
			t.Errorf("no golden trace rejects with %s", r)
		}
	}
}

// TestCardSecretsStayOut: the wallet passwords and PANs of the accounts
// file never appear in the output (cards are named by their last four
// digits, as in the MTs a subscriber gets).
func TestCardSecretsStayOut(t *testing.T) {
	t.Parallel()
	var c goldenCase
	for _, x := range goldenCases(t) {
		if x.name == "cards" {
			c = x
		}
	}
	out, sum := replayFile(t, c)
	for _, a := range readAccounts(t, "testdata/cards.accounts.jsonl") {
		for _, secret := range []string{a.CardPAN, a.WalletPassword} {
			if bytes.Contains(out, []byte(secret)) || bytes.Contains(sum, []byte(secret)) {
				t.Errorf("the output carries a secret of %s's account in clear", a.MSISDN[:5])
			}
		}
	}
}

// TestBadCardAccounts: card fields that cannot be set up stop the replay
// before the first message.
func TestBadCardAccounts(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		a    Account
	}{
		{"bad pan", Account{MSISDN: "8613600000001", CardPAN: "6222020000000000019", WalletPassword: "135790"}},
		{"weak password", Account{MSISDN: "8613600000001", CardPAN: "6222020000000000018", WalletPassword: "123456"}},
		{"no password", Account{MSISDN: "8613600000001", CardPAN: "6222020000000000018"}},
		{"unknown state", Account{MSISDN: "8613600000001", CardPAN: "6222020000000000018", WalletPassword: "135790", CardState: "frozen"}},
		{"card fields without a pan", Account{MSISDN: "8613600000001", WalletPassword: "135790"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := trace.NewReader(strings.NewReader(""), "empty.jsonl", trace.JSONL, trace.Options{})
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			_, err = Run(context.Background(), r, &out, Options{Config: testConfig(t), Accounts: []Account{tc.a}})
			if err == nil {
				t.Fatal("Run accepted the account")
			}
			for _, secret := range []string{tc.a.CardPAN, tc.a.WalletPassword} {
				if secret != "" && strings.Contains(err.Error(), secret) {
					t.Errorf("the error %q carries a secret in clear", err)
				}
			}
		})
	}
}

// TestDeterministic replays the same trace twice: byte-identical output.
// A different seed gives different codes.
func TestDeterministic(t *testing.T) {
	t.Parallel()
	c := goldenCases(t)[0]
	a, sa := replayFile(t, c)
	b, sb := replayFile(t, c)
	if !bytes.Equal(a, b) || !bytes.Equal(sa, sb) {
		t.Fatalf("two replays of the same trace differ")
	}
	c.opts = func(o *Options) { o.Seed = 2 }
	d, _ := replayFile(t, c)
	if bytes.Equal(a, d) {
		t.Fatalf("seed 2 gave the same output as seed 1")
	}
}

func TestStrictStopsAtBrokenInput(t *testing.T) {
	t.Parallel()
	in := `{"at":"2026-11-21T10:00:00+08:00","from":"8613800000001","to":"106580088001","text":"10"}
not json
{"at":"2026-11-21T10:00:10+08:00","from":"8613800000001","to":"106580088001","text":"{{code}}"}
`
	for _, strict := range []bool{false, true} {
		r, err := trace.NewReader(strings.NewReader(in), "broken.jsonl", trace.JSONL, trace.Options{Strict: strict})
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		sum, err := Run(context.Background(), r, &out, Options{Config: testConfig(t), Seed: 1})
		var pe *trace.ParseError
		switch {
		case strict && !errors.As(err, &pe):
			t.Fatalf("strict: err = %v, want a ParseError", err)
		case strict && pe.Pos.Line != 2:
			t.Fatalf("strict: error at %s, want line 2", pe.Pos)
		case !strict && err != nil:
			t.Fatalf("lenient: %v", err)
		case !strict && (sum.Charges != 1 || sum.Skipped[trace.ReasonBadJSON] != 1):
			t.Fatalf("lenient: charges %d, skipped %v; want 1 charge and 1 bad_json", sum.Charges, sum.Skipped)
		}
	}
}

func TestMaskText(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"回复验证码123456确认", "回复验证码******确认"},
		{"金额15.00元，交易号12", "金额15.00元，交易号12"},
		{"8613800000001", "861****0001"},
		{"1234567 123456 12345", "123****4567 ****** 12345"},
	} {
		got := MaskText(tc.in)
		if tc.in == "8613800000001" || strings.HasPrefix(tc.in, "1234567") {
			// Phone masking is redact.Phone's; only check the code and
			// that the digits are not in clear.
			if strings.Contains(got, "8613800000001") || strings.Contains(got, "1234567") {
				t.Errorf("MaskText(%q) = %q leaves the number in clear", tc.in, got)
			}
			continue
		}
		if got != tc.want {
			t.Errorf("MaskText(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading %s: %v (run go test -update to create it)", path, err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the replay's output:\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// TestPostgresReplaysLikeEmbedded replays golden traces on PostgreSQL
// (--database-url, in a scratch schema): the output is the embedded store's.
func TestPostgresReplaysLikeEmbedded(t *testing.T) {
	t.Parallel()
	url := dbtest.Postgres(t)
	for _, c := range goldenCases(t) {
		if c.name != "reasons" && c.name != "cards" {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			opts := c.opts
			c.opts = func(o *Options) {
				if opts != nil {
					opts(o)
				}
				o.DatabaseURL = url
			}
			out, sum := replayFile(t, c)
			checkGolden(t, filepath.Join("testdata", c.name+".out"), out)
			checkGolden(t, filepath.Join("testdata", c.name+".summary"), sum)
		})
	}
}
