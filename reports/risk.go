package reports

import (
	"context"
	"encoding/csv"
	"fmt"
	"html/template"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/redact"
)

// The daily risk report (issue 15): what the risk rules decided in a day,
// from the decisions and list entries the engine recorded (billing's
// RiskStore). It holds counts, masked numbers and merchant codes, never a
// number in clear: the operator looks a number up in the console.

// JobRiskDaily is the risk report's job in the lease table.
const JobRiskDaily = "report_risk_daily"

// TopN is how many numbers and merchants the report ranks.
const TopN = 10

// RuleAction counts one rule's decisions with one action.
type RuleAction struct {
	Rule   string
	Action billing.RiskAction
	Count  int64
}

// KeyCount is a count of one number (masked) or merchant.
type KeyCount struct {
	Key   string
	Count int64
}

// HoldCounts are the payments held in the day by where they stand now.
type HoldCounts struct{ Waiting, Released, Refused, Expired int64 }

// Total is every hold of the day.
func (h HoldCounts) Total() int64 { return h.Waiting + h.Released + h.Refused + h.Expired }

// RiskReport is one day's risk report.
type RiskReport struct {
	Period    Period
	Generated time.Time
	Decisions int64
	// ByRuleAction: every rule and action decided, by rule then action.
	ByRuleAction []RuleAction
	Holds        HoldCounts
	// Blocks are the block-list entries added in the day (by a rule or an
	// operator), oldest first; BlocksAdded their count.
	Blocks      []billing.RiskListEntry
	BlocksAdded int64
	// TopNumbers (masked) and TopMerchants by decisions, most first.
	TopNumbers   []KeyCount
	TopMerchants []KeyCount
	// Rules in order, and each rule's decisions per hour (Period.Buckets).
	Rules  []string
	Hourly map[string][]int64
}

// MakeRisk builds the risk report of day p from store, generated at now.
func MakeRisk(ctx context.Context, store billing.RiskStore, p Period, now time.Time) (*RiskReport, error) {
	if p.Monthly {
		return nil, fmt.Errorf("risk report %s: a risk report is daily", p.Label)
	}
	ds, err := store.RiskDecisions(ctx, billing.RiskDecisionQuery{From: p.From, To: p.To})
	if err != nil {
		return nil, fmt.Errorf("reading the risk decisions of %s: %w", p.Label, err)
	}
	es, err := store.RiskListEntries(ctx, billing.RiskBlockList, now, true)
	if err != nil {
		return nil, fmt.Errorf("reading the block list: %w", err)
	}
	r := &RiskReport{Period: p, Generated: now, Hourly: map[string][]int64{}}
	n := len(p.Buckets())
	byRA := map[RuleAction]int64{}
	numbers, merchants := map[string]int64{}, map[string]int64{}
	holds := map[int64]string{} // held order → its resolution
	for _, d := range ds {
		r.Decisions++
		byRA[RuleAction{Rule: d.Rule, Action: d.Action}]++
		if d.MSISDN != "" {
			numbers[d.MSISDN]++
		}
		if d.Merchant != "" {
			merchants[d.Merchant]++
		}
		h := r.Hourly[d.Rule]
		if h == nil {
			h = make([]int64, n)
			r.Hourly[d.Rule] = h
			r.Rules = append(r.Rules, d.Rule)
		}
		h[bucketOf(p, d.At)]++
		if d.Action == billing.RiskHold {
			holds[d.OrderID] = d.Resolution // oldest first: an order's newest hold wins
		}
	}
	for _, res := range holds {
		switch res {
		case "released":
			r.Holds.Released++
		case "refused":
			r.Holds.Refused++
		case "expired":
			r.Holds.Expired++
		default:
			r.Holds.Waiting++
		}
	}
	for ra, c := range byRA {
		ra.Count = c
		r.ByRuleAction = append(r.ByRuleAction, ra)
	}
	sort.Slice(r.ByRuleAction, func(i, j int) bool {
		a, b := r.ByRuleAction[i], r.ByRuleAction[j]
		if a.Rule != b.Rule {
			return a.Rule < b.Rule
		}
		return a.Action < b.Action
	})
	sort.Strings(r.Rules)
	for _, e := range es {
		if !e.CreatedAt.Before(p.From) && e.CreatedAt.Before(p.To) {
			r.Blocks = append(r.Blocks, e)
		}
	}
	r.BlocksAdded = int64(len(r.Blocks))
	r.TopNumbers = top(numbers, redact.Phone)
	r.TopMerchants = top(merchants, func(s string) string { return s })
	return r, nil
}

// top ranks counts (most first, then by key) and shows the first TopN.
func top(counts map[string]int64, show func(string) string) []KeyCount {
	out := make([]KeyCount, 0, len(counts))
	for k, c := range counts {
		out = append(out, KeyCount{Key: k, Count: c})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Key < out[j].Key
	})
	if len(out) > TopN {
		out = out[:TopN]
	}
	for i := range out {
		out[i].Key = show(out[i].Key)
	}
	return out
}

// RiskFileName is a risk report's file name: risk-<day>.<ext>.
func RiskFileName(p Period, ext string) string { return "risk-" + p.Label + "." + ext }

// blockValue is a block's value as the report shows it: a number masked.
func blockValue(e billing.RiskListEntry) string {
	if e.Subject == billing.RiskNumber {
		return redact.Phone(e.Value)
	}
	return e.Value
}

func until(e billing.RiskListEntry, loc *time.Location) string {
	if e.Until.IsZero() {
		return "removed"
	}
	return e.Until.In(loc).Format("2006-01-02 15:04")
}

// WriteRiskCSV writes the risk report as CSV, one row
// "section,key,value[,value...]" as the operator report's.
func WriteRiskCSV(w io.Writer, r *RiskReport) error {
	cw := csv.NewWriter(w)
	row := func(f ...string) { _ = cw.Write(f) }
	n := func(v int64) string { return strconv.FormatInt(v, 10) }
	loc := r.Period.From.Location()
	row("section", "key", "value", "value2", "value3")
	row("period", r.Period.Label, r.Period.From.Format(time.RFC3339), r.Period.To.Format(time.RFC3339))
	row("decisions", "total", n(r.Decisions))
	for _, ra := range r.ByRuleAction {
		row("decision", ra.Rule, string(ra.Action), n(ra.Count))
	}
	row("holds", "waiting", n(r.Holds.Waiting))
	row("holds", "released", n(r.Holds.Released))
	row("holds", "refused", n(r.Holds.Refused))
	row("holds", "expired", n(r.Holds.Expired))
	row("blocks", "added", n(r.BlocksAdded))
	for _, e := range r.Blocks {
		row("block", string(e.Subject), blockValue(e), e.CreatedBy, until(e, loc))
	}
	for _, k := range r.TopNumbers {
		row("top_number", k.Key, n(k.Count))
	}
	for _, k := range r.TopMerchants {
		row("top_merchant", k.Key, n(k.Count))
	}
	for i, t := range r.Period.Buckets() {
		for _, rule := range r.Rules {
			if c := r.Hourly[rule][i]; c > 0 {
				row("series", t.Format("2006-01-02T15:04"), rule, n(c))
			}
		}
	}
	cw.Flush()
	return cw.Error()
}

// WriteRiskHTML writes the risk report as one self-contained HTML page with
// an SVG chart of the decisions per hour by rule (no script, nothing
// fetched).
func WriteRiskHTML(w io.Writer, r *RiskReport) error {
	loc := r.Period.From.Location()
	type block struct{ Subject, Value, By, Until, Note string }
	var blocks []block
	for _, e := range r.Blocks {
		blocks = append(blocks, block{string(e.Subject), blockValue(e), e.CreatedBy, until(e, loc), redact.Text(e.Note)})
	}
	return riskPage.Execute(w, map[string]any{
		"R": r, "Blocks": blocks, "Chart": riskChart(r),
		"Generated": r.Generated.In(loc).Format("2006-01-02 15:04:05 MST"),
	})
}

// WriteRisk writes risk-<day>.csv and .html into dir, each atomically, and
// returns their paths.
func WriteRisk(dir string, r *RiskReport) (csvPath, htmlPath string, err error) {
	if csvPath, err = writeFile(dir, RiskFileName(r.Period, "csv"), func(w io.Writer) error { return WriteRiskCSV(w, r) }); err != nil {
		return "", "", err
	}
	htmlPath, err = writeFile(dir, RiskFileName(r.Period, "html"), func(w io.Writer) error { return WriteRiskHTML(w, r) })
	return csvPath, htmlPath, err
}

// ruleColours colour the rules of the chart, in Rules' order (cycled).
var ruleColours = []string{"#3b7dd8", "#c9483c", "#2e9e6a", "#e07b24", "#8a5cc7", "#1aa3a3", "#b5842d", "#d45a9a", "#5c6b7a"}

// riskChart draws the decisions per hour as bars stacked by rule.
func riskChart(r *RiskReport) template.HTML {
	buckets := r.Period.Buckets()
	n := len(buckets)
	var most int64 = 1
	for i := range n {
		var sum int64
		for _, rule := range r.Rules {
			sum += r.Hourly[rule][i]
		}
		most = max(most, sum)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg viewBox="0 0 %d %d" width="100%%" role="img" aria-label="risk decisions chart" xmlns="http://www.w3.org/2000/svg" font-family="sans-serif" font-size="11">`, chartW, chartH+16*((len(r.Rules)+3)/4))
	plotW, plotH := float64(chartW-padL-8), float64(chartH-padB-12)
	bw := plotW / float64(max(n, 1))
	for k := 0; k <= 4; k++ {
		y := 12 + plotH - plotH*float64(k)/4
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#ddd"/><text x="%d" y="%.1f" text-anchor="end" fill="#555">%d</text>`,
			padL, chartW-8, y, y, padL-6, y+4, most*int64(k)/4)
	}
	for i := range n {
		x := float64(padL) + bw*float64(i)
		base := 12 + plotH
		for j, rule := range r.Rules {
			c := r.Hourly[rule][i]
			if c == 0 {
				continue
			}
			h := plotH * float64(c) / float64(most)
			base -= h
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s %s: %d</title></rect>`,
				x+bw*0.1, base, bw*0.8, h, ruleColours[j%len(ruleColours)], label(r.Period, i), template.HTMLEscapeString(rule), c)
		}
		if step := max(n/12, 1); i%step == 0 {
			fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" fill="#555">%s</text>`, x+bw/2, chartH-10, label(r.Period, i))
		}
	}
	for j, rule := range r.Rules { // the legend, four a line
		fmt.Fprintf(&b, `<text x="%d" y="%d" fill="%s">■ %s</text>`, padL+(j%4)*165, chartH+6+16*(j/4), ruleColours[j%len(ruleColours)], template.HTMLEscapeString(rule))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) //nolint:gosec // numbers and rule names (escaped) only
}

var riskPage = template.Must(template.New("risk").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>carrierbill risk report {{.R.Period.Label}}</title>
<style>
body{font-family:-apple-system,"Segoe UI",Roboto,"Noto Sans CJK SC",sans-serif;margin:24px auto;max-width:780px;color:#222}
h1{font-size:22px;margin-bottom:2px}h2{font-size:16px;margin-top:28px;border-bottom:1px solid #ddd;padding-bottom:4px}
table{border-collapse:collapse;width:100%}td,th{padding:4px 8px;border-bottom:1px solid #eee;text-align:left}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}.muted{color:#777}.cards{display:flex;gap:12px;flex-wrap:wrap}
.card{flex:1;min-width:150px;border:1px solid #ddd;border-radius:6px;padding:10px}.card b{display:block;font-size:20px}
</style></head><body>
<h1>Daily risk report — {{.R.Period.Label}}</h1>
<p class="muted">Period {{.R.Period.From.Format "2006-01-02 15:04"}} to {{.R.Period.To.Format "2006-01-02 15:04 MST"}}; generated {{.Generated}}. Numbers are masked: look one up in the console.</p>
<div class="cards">
<div class="card">Decisions<b id="decisions">{{.R.Decisions}}</b>by the risk rules and the lists</div>
<div class="card">Holds<b id="holds">{{.R.Holds.Total}}</b>{{.R.Holds.Waiting}} waiting, {{.R.Holds.Released}} released, {{.R.Holds.Refused}} refused, {{.R.Holds.Expired}} expired</div>
<div class="card">Blocks added<b id="blocks">{{.R.BlocksAdded}}</b>numbers, prefixes and merchants</div>
</div>
<h2>Decisions per hour by rule</h2>
{{.Chart}}
<h2>Decisions by rule and action</h2>
<table id="by-rule"><tr><th>Rule</th><th>Action</th><th class="n">Decisions</th></tr>
{{range .R.ByRuleAction}}<tr><td>{{.Rule}}</td><td>{{.Action}}</td><td class="n">{{.Count}}</td></tr>
{{else}}<tr><td colspan="3" class="muted">No decisions.</td></tr>{{end}}</table>
<h2>Holds</h2>
<table id="holds-table"><tr><th>Held in the day</th><th class="n">Payments</th></tr>
<tr><td>waiting</td><td class="n">{{.R.Holds.Waiting}}</td></tr>
<tr><td>released</td><td class="n">{{.R.Holds.Released}}</td></tr>
<tr><td>refused</td><td class="n">{{.R.Holds.Refused}}</td></tr>
<tr><td>expired</td><td class="n">{{.R.Holds.Expired}}</td></tr></table>
<h2>Blocks added</h2>
<table id="blocks-table"><tr><th>Subject</th><th>Value</th><th>By</th><th>Until</th><th>Note</th></tr>
{{range .Blocks}}<tr><td>{{.Subject}}</td><td>{{.Value}}</td><td>{{.By}}</td><td>{{.Until}}</td><td>{{.Note}}</td></tr>
{{else}}<tr><td colspan="5" class="muted">No blocks added.</td></tr>{{end}}</table>
<h2>Top numbers</h2>
<table id="top-numbers"><tr><th>Number</th><th class="n">Decisions</th></tr>
{{range .R.TopNumbers}}<tr><td>{{.Key}}</td><td class="n">{{.Count}}</td></tr>
{{else}}<tr><td colspan="2" class="muted">None.</td></tr>{{end}}</table>
<h2>Top merchants</h2>
<table id="top-merchants"><tr><th>Merchant</th><th class="n">Decisions</th></tr>
{{range .R.TopMerchants}}<tr><td>{{.Key}}</td><td class="n">{{.Count}}</td></tr>
{{else}}<tr><td colspan="2" class="muted">None.</td></tr>{{end}}</table>
</body></html>
`))
