package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/csv"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"
	_ "modernc.org/sqlite"

	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/internal/dbtest"
)

// These tests run `carrierbill demo` as a user would, with no PostgreSQL,
// no Redis and no SMSC: everything is embedded.

// verifyNoLeaks checks, after every other cleanup of t, that t left no
// goroutine running.
func verifyNoLeaks(t *testing.T) {
	t.Helper()
	before := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, before) })
}

func runDemoCmd(t *testing.T, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	if code := run(context.Background(), append([]string{"demo"}, args...), &out, &errb); code != 0 {
		t.Fatalf("carrierbill demo %v exited %d\nstdout:\n%s\nstderr:\n%s", args, code, out.String(), errb.String())
	}
	return out.String()
}

func TestDemoScriptOnly(t *testing.T) {
	verifyNoLeaks(t)
	t.Setenv("DATABASE_URL", "postgres://nowhere.invalid/x") // ignored without --use-env
	t.Setenv("REDIS_URL", "redis://nowhere.invalid:6379")
	dir := t.TempDir()
	out := runDemoCmd(t, "--script-only", "--data-dir", dir)

	for _, want := range []struct{ what, text string }{
		{"the data directory", dir},
		{"the embedded store", "embedded SQLite"},
		{"the prompt", "您正在向星辰游戏购买月度会员，金额25.00元。请在10分钟内回复验证码"},
		{"the wrong-code answer", "验证码错误，还可尝试2次。"},
		{"the receipt", "支付成功：星辰游戏，月度会员，金额25.00元"},
		{"the limit answer", "支付失败：超出每日支付限额50.00元，今日剩余额度25.00元，本次未扣费。"},
		{"the CX answer", "今日剩余额度25.00元，本月剩余额度75.00元。最近支付："},
		{"the masked phone", "→ 138****0001: "},
		{"the statement", "statement-8001-"},
		{"the statement's header", strings.Join([]string{"time", "transaction_id"}, ",")},
		{"the statement's line", ",138****0001,月度会员,pay,phone_account,25.00,success"},
	} {
		if !strings.Contains(out, want.text) {
			t.Errorf("the demo's output lacks %s (%q):\n%s", want.what, want.text, out)
		}
	}

	// The statements add up to the ledger, merchant by merchant.
	files, err := filepath.Glob(filepath.Join(dir, "statements", "*", "statement-*.csv"))
	if err != nil || len(files) != 2 {
		t.Fatalf("statements written: %v (err %v), want one per merchant (2)", files, err)
	}
	fromFiles := map[string]billing.Money{}
	for _, f := range files {
		merchant := filepath.Base(filepath.Dir(f))
		fromFiles[merchant] = statementNet(t, f)
	}
	db := openDemoDB(t, filepath.Join(dir, "carrierbill.db"))
	rows, err := db.Query(`SELECT merchant, -SUM(amount_fen) FROM ledger_entries WHERE account = 'merchant:' || merchant || ':payable' GROUP BY merchant`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	fromLedger := map[string]billing.Money{}
	for rows.Next() {
		var m string
		var fen int64
		if err := rows.Scan(&m, &fen); err != nil {
			t.Fatal(err)
		}
		fromLedger[m] = billing.Money(fen)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	want := map[string]billing.Money{"8001": 2500, "8002": 200}
	for m, w := range want {
		if fromFiles[m] != w || fromLedger[m] != w {
			t.Errorf("merchant %s: statement %s, ledger %s, want %s", m, fromFiles[m], fromLedger[m], w)
		}
	}
	if len(fromLedger) != len(want) {
		t.Errorf("ledger merchants %v, want %v", fromLedger, want)
	}
}

// statementNet sums a statement's lines and checks its summary line.
func statementNet(t *testing.T, path string) billing.Money {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = -1
	recs, err := r.ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(recs) < 2 || recs[len(recs)-1][0] != "summary" {
		t.Fatalf("%s: no summary line: %v", path, recs)
	}
	var sum billing.Money
	for _, rec := range recs[1 : len(recs)-1] {
		sum += parseSigned(t, rec[7])
	}
	summary := recs[len(recs)-1]
	if net := parseSigned(t, summary[len(summary)-1]); net != sum {
		t.Errorf("%s: summary net %s, lines sum to %s", path, net, sum)
	}
	return sum
}

func parseSigned(t *testing.T, s string) billing.Money {
	t.Helper()
	neg := strings.HasPrefix(s, "-")
	m, err := billing.ParseYuan(strings.TrimPrefix(s, "-"))
	if err != nil {
		t.Fatalf("amount %q: %v", s, err)
	}
	if neg {
		return -m
	}
	return m
}

func openDemoDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestDemoInteractive types at the demo's prompt: a purchase to a merchant
// by code, a change of subscriber, an explicit address, help, then EOF.
func TestDemoInteractive(t *testing.T) {
	verifyNoLeaks(t)
	old := demoStdin
	demoStdin = strings.NewReader("8001 GOLD\nfrom 13900000009\nto 106580088002 ZJ\nCX\nfrom 12ab\nhelp\n")
	t.Cleanup(func() { demoStdin = old })
	out := runDemoCmd(t, "--data-dir", t.TempDir())
	for _, want := range []string{
		"📱 13800000001 → 106580088001: GOLD",
		"您正在向星辰游戏购买金币礼包，金额6.00元",
		"📱 13900000009 → 106580088002: ZJ",
		"→ 139****0009: 您正在向悦读小说购买章节包，金额2.00元",
		"📱 13900000009 → 106580088002: CX",
		"from wants a phone number",
		"to 106580088002 ZJ    text ZJ to any address",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the interactive demo's output lacks %q:\n%s", want, out)
		}
	}
}

// TestDemoRerunSameDataDir: a second run on the same directory texts from
// fresh numbers, so the script's answers are the same.
func TestDemoRerunSameDataDir(t *testing.T) {
	dir := t.TempDir()
	runDemoCmd(t, "--script-only", "--data-dir", dir)
	out := runDemoCmd(t, "--script-only", "--data-dir", dir)
	for _, want := range []string{"📱 13800000003 → 106580088001: VIP", "支付失败：超出每日支付限额50.00元，今日剩余额度25.00元"} {
		if !strings.Contains(out, want) {
			t.Errorf("the second run's output lacks %q:\n%s", want, out)
		}
	}
}

var demoLineCases = []struct {
	line string
	want demoLine
}{
	{"", demoLine{Action: demoNothing}},
	{"   ", demoLine{Action: demoNothing}},
	{"help", demoLine{Action: demoHelp}},
	{"?", demoLine{Action: demoHelp}},
	{"QUIT", demoLine{Action: demoQuit}},
	{"exit", demoLine{Action: demoQuit}},
	{"from 13900000009", demoLine{Action: demoFrom, Arg: "13900000009"}},
	{"from 12ab", demoLine{Action: demoBad, Text: "from wants a phone number of 5 to 20 digits, e.g. from 13900000009"}},
	{"from", demoLine{Action: demoBad, Text: "from wants a phone number of 5 to 20 digits, e.g. from 13900000009"}},
	{"to 106580088002 ZJ", demoLine{Action: demoSend, Addr: "106580088002", Text: "ZJ"}},
	{"to 106580088002   10 元 ", demoLine{Action: demoSend, Addr: "106580088002", Text: "10 元"}},
	{"to 106580088002", demoLine{Action: demoBad, Text: "to wants an address and a text, e.g. to 106580088002 ZJ"}},
	{"to x ZJ", demoLine{Action: demoBad, Text: "to wants an address and a text, e.g. to 106580088002 ZJ"}},
	{"8001 VIP", demoLine{Action: demoSend, Addr: "106580088001", Text: "VIP"}},
	{"8002  ZJ", demoLine{Action: demoSend, Addr: "106580088002", Text: "ZJ"}},
	{"8001", demoLine{Action: demoSend, Text: "8001"}},
	{"9999 VIP", demoLine{Action: demoSend, Text: "9999 VIP"}},
	{"123456", demoLine{Action: demoSend, Text: "123456"}},
	{" CX ", demoLine{Action: demoSend, Text: "CX"}},
	{"１０元", demoLine{Action: demoSend, Text: "１０元"}},
}

func demoMerchant(code string) bool { return code == "8001" || code == "8002" }

func TestParseDemoLine(t *testing.T) {
	t.Parallel()
	for _, c := range demoLineCases {
		if got := parseDemoLine(c.line, "10658008", demoMerchant); got != c.want {
			t.Errorf("parseDemoLine(%q) = %+v, want %+v", c.line, got, c.want)
		}
	}
}

// FuzzParseDemoLine: whatever is typed at the prompt, the parser never
// panics and never sends an empty text or to a non-numeric address.
func FuzzParseDemoLine(f *testing.F) {
	for _, c := range demoLineCases {
		f.Add(c.line)
	}
	f.Fuzz(func(t *testing.T, line string) {
		l := parseDemoLine(line, "10658008", demoMerchant)
		if l.Action == demoSend {
			if strings.TrimSpace(l.Text) == "" {
				t.Fatalf("%q: sends an empty text", line)
			}
			if l.Addr != "" && !demoDigits.MatchString(l.Addr) && !strings.HasPrefix(l.Addr, "10658008") {
				t.Fatalf("%q: sends to %q", line, l.Addr)
			}
		}
	})
}

// TestDemoUseEnvPostgres: with --use-env the demo runs the same script on
// PostgreSQL (a fresh schema), and its statements still come out.
func TestDemoUseEnvPostgres(t *testing.T) {
	t.Setenv("DATABASE_URL", dbtest.Postgres(t))
	t.Setenv("REDIS_URL", "")
	out := runDemoCmd(t, "--script-only", "--use-env", "--data-dir", t.TempDir())
	for _, want := range []string{
		"store          : PostgreSQL (DATABASE_URL)",
		"支付成功：星辰游戏，月度会员，金额25.00元",
		"支付失败：超出每日支付限额50.00元，今日剩余额度25.00元，本次未扣费。",
		",138****0001,月度会员,pay,phone_account,25.00,success",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the demo on PostgreSQL lacks %q:\n%s", want, out)
		}
	}
}
