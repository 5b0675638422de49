package reports_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/clock"
	"github.com/carrierbill/carrierbill/internal/dbtest"
	"github.com/carrierbill/carrierbill/reports"
)

// The daily risk report on real stores: decisions and list entries as the
// engine writes them, counted per rule and action, holds by resolution,
// blocks added, top numbers masked, the hourly chart.

func TestRiskReportPostgres(t *testing.T) {
	t.Parallel()
	testRiskReport(t, dbtest.Postgres(t))
}

func TestRiskReportEmbedded(t *testing.T) {
	t.Parallel()
	testRiskReport(t, "")
}

func testRiskReport(t *testing.T, databaseURL string) {
	e := newEnv(t, databaseURL)
	day := time.Date(2026, 12, 1, 0, 0, 0, 0, shanghai)
	e.clk.Set(day.Add(9 * time.Hour))
	const (
		trojan = "+8613800000001"
		other  = "+8613900000002"
	)
	// Three held orders: one released, one refused, one waiting.
	var held []int64
	for _, phone := range []string{"+8613700000001", "+8613700000002", "+8613700000003"} {
		r := e.purchase(phone, "8001", "", 100)
		if r.Outcome != billing.OutcomePrompted {
			t.Fatalf("purchase: %+v", r)
		}
		held = append(held, r.OrderID)
	}
	dec := func(at time.Time, rule string, action billing.RiskAction, msisdn, merchant string, order int64) int64 {
		t.Helper()
		var id int64
		err := e.set.Billing.InTx(e.ctx, func(tx billing.Tx) error {
			var err error
			id, err = tx.InsertRiskDecision(e.ctx, billing.RiskDecision{At: at, Stage: billing.RiskConfirm, Rule: rule, Action: action,
				Evidence: "seen", MSISDN: msisdn, Merchant: merchant, OrderID: order, Amount: 100})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	h9, h10 := day.Add(9*time.Hour+5*time.Minute), day.Add(10*time.Hour+30*time.Minute)
	d1 := dec(h9, "fast_confirmation", billing.RiskHold, trojan, "8001", held[0])
	d2 := dec(h9, "fast_confirmation", billing.RiskHold, trojan, "8001", held[1])
	dec(h10, "fast_confirmation", billing.RiskHold, trojan, "8001", held[2])
	dec(h9, "fast_confirmation", billing.RiskFreshCode, trojan, "8001", held[2])
	dec(h10, "merchant_burst", billing.RiskHold, other, "8002", held[2]) // a second hold of the same order counts once
	dec(h10, "unusual_hours", billing.RiskAllow, other, "8002", 0)
	dec(day.Add(-time.Minute), "unusual_hours", billing.RiskAllow, other, "8002", 0) // the day before
	dec(day.Add(24*time.Hour), "unusual_hours", billing.RiskAllow, other, "8002", 0) // the day after
	err := e.set.Billing.InTx(e.ctx, func(tx billing.Tx) error {
		for id, how := range map[int64]string{d1: "released", d2: "refused"} {
			if err := tx.ResolveRiskDecision(e.ctx, billing.RiskDecision{ID: id, Resolution: how, ResolvedBy: "operator:test", ResolvedAt: h10}); err != nil {
				return err
			}
		}
		for _, en := range []billing.RiskListEntry{
			{List: billing.RiskBlockList, Subject: billing.RiskNumber, Value: trojan, Until: h9.Add(24 * time.Hour), Note: "rule fast_confirmation", CreatedBy: "rule:wrong_codes", CreatedAt: h9},
			{List: billing.RiskBlockList, Subject: billing.RiskPrefix, Value: "+86170", CreatedBy: "operator:ops", CreatedAt: h10},
			{List: billing.RiskBlockList, Subject: billing.RiskMerchant, Value: "8002", CreatedBy: "operator:ops", CreatedAt: day.Add(-time.Hour)}, // the day before
			{List: billing.RiskAllowList, Subject: billing.RiskNumber, Value: other, CreatedBy: "operator:ops", CreatedAt: h10},                    // not a block
		} {
			if _, err := tx.AddRiskListEntry(e.ctx, en); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	p, _ := reports.ParsePeriod("2026-12-01", shanghai)
	r, err := reports.MakeRisk(e.ctx, e.set.Billing, p, day.Add(30*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var csv bytes.Buffer
	if err := reports.WriteRiskCSV(&csv, r); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"period,2026-12-01,2026-12-01T00:00:00+08:00,2026-12-02T00:00:00+08:00\n",
		"decisions,total,6\n",
		"decision,fast_confirmation,fresh_code,1\ndecision,fast_confirmation,hold,3\ndecision,merchant_burst,hold,1\ndecision,unusual_hours,allow,1\n",
		"holds,waiting,1\nholds,released,1\nholds,refused,1\nholds,expired,0\n",
		"blocks,added,2\nblock,number,138****0001,rule:wrong_codes,2026-12-02 09:05\nblock,prefix,+86170,operator:ops,removed\n",
		"top_number,138****0001,4\ntop_number,139****0002,2\n",
		"top_merchant,8001,4\ntop_merchant,8002,2\n",
		"series,2026-12-01T09:00,fast_confirmation,3\nseries,2026-12-01T10:00,fast_confirmation,1\nseries,2026-12-01T10:00,merchant_burst,1\nseries,2026-12-01T10:00,unusual_hours,1\n",
	} {
		if !strings.Contains(csv.String(), want) {
			t.Errorf("the CSV lacks\n%s\ngot:\n%s", want, csv.String())
		}
	}
	var html bytes.Buffer
	if err := reports.WriteRiskHTML(&html, r); err != nil {
		t.Fatal(err)
	}
	page := html.String()
	for _, want := range []string{`aria-label="risk decisions chart"`, `<title>09 fast_confirmation: 3</title>`, `<td>fast_confirmation</td><td>hold</td><td class="n">3</td>`,
		`<td>138****0001</td><td class="n">4</td>`, `<td>prefix</td><td>&#43;86170</td>`, `id="holds">3<`, `id="blocks">2<`} {
		if !strings.Contains(page, want) {
			t.Errorf("the HTML lacks %s", want)
		}
	}
	for _, clear := range []string{"13800000001", "13900000002"} {
		if strings.Contains(csv.String()+page, clear) {
			t.Errorf("the report shows %s in clear", clear)
		}
	}

	// Nightly: the risk report of the closed day, once across runs.
	dir := t.TempDir()
	n := &reports.Nightly{Maker: e.maker, Leases: e.set.Settlement, Dir: dir, Clock: clock.NewFake(day.Add(26 * time.Hour)), Risk: e.set.Billing}
	if ran, err := n.RunRisk(e.ctx, p); err != nil || !ran {
		t.Fatalf("RunRisk: %v %v", ran, err)
	}
	if ran, err := n.RunRisk(e.ctx, p); err != nil || ran {
		t.Fatalf("RunRisk again: %v %v", ran, err)
	}
	if err := n.CatchUpRisk(e.ctx); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"risk-2026-12-01.csv", "risk-2026-12-01.html", "risk-2026-11-30.html"} {
		if !fileExists(dir, f) {
			t.Errorf("no %s", f)
		}
	}
}

func fileExists(dir, name string) bool {
	_, err := os.Stat(filepath.Join(dir, name))
	return err == nil
}
