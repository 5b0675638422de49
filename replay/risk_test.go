package replay

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/reports"
	"github.com/carrierbill/carrierbill/risk"
	"github.com/carrierbill/carrierbill/trace"
)

var riskTraces = flag.String("risk-traces", "", "TestWriteRiskTraces: write the generated risk traces to this directory")

// riskTrace is one generated trace of issue 15.
type riskTrace struct {
	name string
	gen  func() []byte
	// committed: the trace and its full output are kept in testdata/
	// (small enough to read; goldenCases replays them); the others keep
	// their summary only.
	committed bool
	// check asserts what the rules did.
	check func(t *testing.T, rr riskRun)
}

var riskTraceList = []riskTrace{
	{name: "trojan", gen: trojanTrace, committed: true, check: checkTrojan},
	{name: "guesser", gen: guesserTrace, committed: true, check: checkGuesser},
	{name: "flood", gen: floodTrace, check: checkFlood},
	{name: "normal-day", gen: normalTrace, check: checkNormalDay},
}

// riskConfig is testConfig with the merchants the risk traces use: 8003
// (the flooding merchant) and 8004–8006 (the normal day's others).
func riskConfig(t testing.TB) billing.Config {
	t.Helper()
	c := testConfig(t)
	flood := billing.DefaultMerchant("8003", "闪电商城")
	flood.OpenAmount = true
	books := billing.DefaultMerchant("8004", "书城")
	books.OpenAmount = true
	news := billing.DefaultMerchant("8005", "资讯")
	news.OpenAmount = true
	news.Products = []billing.Product{{Keyword: "TXT", Name: "短信资讯", Amount: 300}}
	tools := billing.DefaultMerchant("8006", "工具箱")
	tools.OpenAmount = true
	c.Merchants = append(c.Merchants, flood, books, news, tools)
	return c
}

// riskRun is what one replay of a risk trace did.
type riskRun struct {
	sum       Summary
	out       []byte
	events    []Event
	decisions []billing.RiskDecision
	report    *reports.RiskReport // the daily risk report of traceDay
}

// charges is how many charges, and how much, went to numbers starting
// with prefix (canonical form, "+86135…").
func (r riskRun) charges(prefix string) (n int, total billing.Money) {
	for _, e := range r.events {
		if e.Kind == "charge" && strings.HasPrefix(e.MSISDN, prefix) {
			n++
			total += billing.Money(e.AmountFen)
		}
	}
	return n, total
}

// count is how many events of kind (and reason, when not "") went to
// numbers starting with prefix.
func (r riskRun) count(prefix, kind, reason string) int {
	n := 0
	for _, e := range r.events {
		if e.Kind == kind && strings.HasPrefix(e.MSISDN, prefix) && (reason == "" || e.Reason == reason) {
			n++
		}
	}
	return n
}

// actions counts the recorded decisions by action.
func (r riskRun) actions() map[billing.RiskAction]int {
	m := map[billing.RiskAction]int{}
	for _, d := range r.decisions {
		m[d.Action]++
	}
	return m
}

// rules counts the recorded decisions of action a by rule.
func (r riskRun) rules(a billing.RiskAction) map[string]int {
	m := map[string]int{}
	for _, d := range r.decisions {
		if d.Action == a {
			m[d.Rule]++
		}
	}
	return m
}

// replayRisk replays a generated trace with the risk rules on (riskConfig,
// seed 1, the embedded store) and reads the decisions it recorded.
func replayRisk(t *testing.T, name string, jsonl []byte) riskRun {
	t.Helper()
	o := Options{Config: riskConfig(t), Seed: 1}
	r, err := trace.NewReader(bytes.NewReader(jsonl), name+".jsonl", trace.JSONL, trace.Options{Strict: true, Location: o.Config.Location})
	if err != nil {
		t.Fatal(err)
	}
	var rr riskRun
	var out bytes.Buffer
	rr.sum, err = run(context.Background(), r, &out, o, func(e *env) error {
		ctx := context.Background()
		var err error
		if rr.decisions, err = e.store.RiskDecisions(ctx, billing.RiskDecisionQuery{}); err != nil {
			return err
		}
		p, err := reports.ParsePeriod(traceDay.Format("2006-01-02"), o.Config.Location)
		if err != nil {
			return err
		}
		rr.report, err = reports.MakeRisk(ctx, e.store, p, e.clock.Now())
		return err
	})
	if err != nil {
		t.Fatalf("replaying %s: %v", name, err)
	}
	rr.out = out.Bytes()
	for i, line := range bytes.Split(bytes.TrimSpace(rr.out), []byte("\n")) {
		var e Event
		if err := json.Unmarshal(line, &e); err != nil {
			t.Fatalf("%s: output line %d: %v", name, i+1, err)
		}
		rr.events = append(rr.events, e)
	}
	return rr
}

// Attack bounds: what each attack may still get charged under the default
// rules (README, "What the attack traces show").
const (
	// A trojan answering within a second is never charged: its first
	// answer gets a fresh code, its second a hold.
	trojanChargeBound = 0
	// A guesser is charged only if a guess hits: 1 in 1,000,000 per guess,
	// and the seed's guesses do not.
	guesserChargeBound = 0
	// A flood is charged only for numbers that confirm slower than
	// fast_confirmation's 3 s before merchant_burst has seen more than 50
	// numbers confirm with the merchant in its minute; while the flood
	// goes on the window stays over it: at most merchant_burst.max_numbers.
	floodChargeBound = 50
)

func TestRiskTraces(t *testing.T) {
	for _, rt := range riskTraceList {
		t.Run(rt.name, func(t *testing.T) {
			t.Parallel()
			jsonl := rt.gen()
			if rt.committed {
				// The generator and the committed trace agree (go test
				// -update rewrites both); TestGolden checks its output.
				checkGolden(t, filepath.Join("testdata", "risk-"+rt.name+".jsonl"), jsonl)
			}
			rr := replayRisk(t, rt.name, jsonl)
			if !rt.committed {
				var sum bytes.Buffer
				if _, err := rr.sum.WriteTo(&sum); err != nil {
					t.Fatal(err)
				}
				checkGolden(t, filepath.Join("testdata", "risk-"+rt.name+".summary"), sum.Bytes())
			}
			rt.check(t, rr)
		})
	}
}

// reported is how many decisions of rule with action the daily report
// counts.
func (r riskRun) reported(rule string, a billing.RiskAction) int64 {
	for _, ra := range r.report.ByRuleAction {
		if ra.Rule == rule && ra.Action == a {
			return ra.Count
		}
	}
	return 0
}

// checkStopped asserts what every attack must show: the attackers
// (prefix) charged at most bound, the bystanders all charged, and the
// decisions the replay recorded are the report's.
func checkStopped(t *testing.T, rr riskRun, prefix string, bound, bystanders int) {
	t.Helper()
	if n, total := rr.charges(prefix); n > bound {
		t.Errorf("attackers %s… were charged %d times (%s yuan), bound %d", prefix, n, total, bound)
	} else {
		t.Logf("attackers %s… charged %d times (%s yuan), bound %d", prefix, n, total, bound)
	}
	if n, _ := rr.charges("+86139"); n != bystanders {
		t.Errorf("bystanders charged %d times, want %d", n, bystanders)
	}
	if rr.report.Decisions != int64(len(rr.decisions)) {
		t.Errorf("the daily report counts %d decisions, the store holds %d", rr.report.Decisions, len(rr.decisions))
	}
	for _, d := range rr.decisions {
		if d.Action != billing.RiskAllow && !strings.HasPrefix(d.MSISDN, prefix) {
			t.Errorf("a %s decision (%s) for a number that is not an attacker's: %s", d.Action, d.Rule, d.Evidence)
		}
	}
	t.Logf("decisions by action %v; holds by rule %v, blocks by rule %v, fresh codes by rule %v, flags by rule %v",
		rr.actions(), rr.rules(billing.RiskHold), rr.rules(billing.RiskBlock), rr.rules(billing.RiskFreshCode), rr.rules(billing.RiskAllow))
}

// checkTrojan: every confirmation within a second gets a fresh code, the
// trojan's answer to it a hold; the held payments wait in the report.
func checkTrojan(t *testing.T, rr riskRun) {
	checkStopped(t, rr, "+86135", trojanChargeBound, 3)
	orders := trojanPhones * trojanPurchases
	if n := rr.count("+86135", "fresh_code", ""); n != orders {
		t.Errorf("%d fresh codes, want one per order (%d)", n, orders)
	}
	if rr.sum.Held != orders {
		t.Errorf("%d orders held, want every order (%d)", rr.sum.Held, orders)
	}
	if n := rr.reported(risk.RuleFastConfirmation, billing.RiskHold); n != int64(orders) {
		t.Errorf("the report counts %d fast_confirmation holds, want %d", n, orders)
	}
	if rr.report.Holds.Waiting != int64(orders) {
		t.Errorf("the report has %d holds waiting, want %d", rr.report.Holds.Waiting, orders)
	}
}

// checkGuesser: the guessers' wrong codes block them; they open no order
// after it and nothing is charged.
func checkGuesser(t *testing.T, rr riskRun) {
	checkStopped(t, rr, "+86137", guesserChargeBound, 1)
	if n := rr.count("+86137", "reject", string(billing.ReasonBlocked)); n == 0 {
		t.Error("no guesser was refused as blocked")
	}
	if n := rr.reported(risk.RuleWrongCodes, billing.RiskBlock); n != guessers {
		t.Errorf("the report counts %d wrong_codes blocks, want one per guesser (%d)", n, guessers)
	}
	if rr.report.BlocksAdded != guessers {
		t.Errorf("the report lists %d blocks added, want %d", rr.report.BlocksAdded, guessers)
	}
}

// checkFlood: the flood's quick codes get fresh codes, its slower ones are
// held once more than 50 numbers confirm with the merchant in a minute;
// what gets through is bounded by the burst threshold per minute.
func checkFlood(t *testing.T, rr riskRun) {
	checkStopped(t, rr, "+86136", floodChargeBound, 5)
	if rr.reported(risk.RuleMerchantBurst, billing.RiskHold) == 0 {
		t.Error("the report has no merchant_burst hold")
	}
	if rr.report.Holds.Waiting == 0 {
		t.Error("the report has no hold waiting")
	}
}

// checkNormalDay: people paying as people do are never held, blocked nor
// asked for a fresh code; the rules may flag (allow with a finding) only.
func checkNormalDay(t *testing.T, rr riskRun) {
	if rr.sum.Held != 0 || rr.sum.FreshCodes != 0 || rr.sum.Rejections[billing.ReasonBlocked] != 0 {
		t.Errorf("the normal day had %d holds, %d fresh codes, %d blocked refusals; want none",
			rr.sum.Held, rr.sum.FreshCodes, rr.sum.Rejections[billing.ReasonBlocked])
	}
	flags := map[string]int{}
	for _, d := range rr.decisions {
		if d.Action != billing.RiskAllow {
			t.Errorf("a %s decision on the normal day: %s (%s)", d.Action, d.Rule, d.Evidence)
			continue
		}
		flags[d.Rule]++
	}
	if rr.report.Holds.Total() != 0 || rr.report.BlocksAdded != 0 {
		t.Errorf("the report has %d holds and %d blocks", rr.report.Holds.Total(), rr.report.BlocksAdded)
	}
	t.Logf("normal day: %d charges, %d flags by rule %v", rr.sum.Charges, len(rr.decisions), flags)
}

// TestWriteRiskTraces writes the generated traces to -risk-traces DIR for
// `carrierbill replay` (skipped without the flag).
func TestWriteRiskTraces(t *testing.T) {
	if *riskTraces == "" {
		t.Skip("no -risk-traces DIR")
	}
	for _, rt := range riskTraceList {
		if err := os.WriteFile(filepath.Join(*riskTraces, "risk-"+rt.name+".jsonl"), rt.gen(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
