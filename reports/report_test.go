package reports_test

import (
	"bytes"
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/clock"
	"github.com/carrierbill/carrierbill/internal/dbtest"
	"github.com/carrierbill/carrierbill/ops"
	"github.com/carrierbill/carrierbill/reports"
	reportspg "github.com/carrierbill/carrierbill/reports/postgres"
	reportssqlite "github.com/carrierbill/carrierbill/reports/sqlite"
	"github.com/carrierbill/carrierbill/sms"
	"github.com/carrierbill/carrierbill/stores"
)

var shanghai = func() *time.Location {
	l, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		return time.FixedZone("CST", 8*3600)
	}
	return l
}()

// env is an engine on real stores with the refusal log, on a fake clock.
type env struct {
	t        *testing.T
	ctx      context.Context
	set      *stores.Set
	eng      *billing.Engine
	clk      *clock.Fake
	refusals *ops.RecordRefusals
	maker    *reports.Maker
}

func newEnv(t *testing.T, databaseURL string) *env {
	t.Helper()
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2026, 11, 20, 10, 0, 0, 0, shanghai))
	set, err := stores.Open(ctx, stores.Options{DatabaseURL: databaseURL, DataDir: t.TempDir(), Clock: clk,
		Accounts: billing.AccountsOptions{AutoOpen: true, CreditLimit: billing.Yuan(1000)}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { set.Close() })
	cfg := billing.DefaultConfig()
	cfg.MinInterval = 0
	cfg.Limits[billing.MethodPhone] = billing.Limits{PerPayment: billing.Yuan(30), Daily: billing.Yuan(50), Monthly: billing.Yuan(500)}
	m1 := billing.DefaultMerchant("8001", "星辰游戏")
	m1.OpenAmount = true
	m1.Products = []billing.Product{{Keyword: "VIP", Name: "月度会员", Amount: billing.Yuan(15)}}
	m2 := billing.DefaultMerchant("8002", "云音乐")
	m2.Products = []billing.Product{{Keyword: "GOLD", Name: "黄金会员", Amount: billing.Yuan(30)}}
	cfg.Merchants = []billing.Merchant{m1, m2}
	rec := ops.NewRefusalRecorder(set.Refusals, clk.Now, nil)
	t.Cleanup(rec.Close)
	eng, _, err := sms.NewEngine(billing.Options{Config: cfg, Store: set.Billing, Charger: set.Accounts,
		Limiter: billing.NewMemoryLimiter(clk), Clock: clk, Observer: rec}, sms.TextConfig{}, sms.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, ctx: ctx, set: set, eng: eng, clk: clk, refusals: rec,
		maker: &reports.Maker{Ledger: set.Settlement, Location: shanghai, Merchants: map[string]string{"8001": "星辰游戏", "8002": "云音乐"}, Now: clk.Now}}
	if set.Pool != nil {
		e.maker.Activity = reportspg.New(set.Pool)
	} else {
		e.maker.Activity = reportssqlite.New(set.Embedded)
	}
	return e
}

func (e *env) purchase(phone, merchant, product string, amount billing.Money) billing.Result {
	e.t.Helper()
	r, err := e.eng.Purchase(e.ctx, billing.PurchaseRequest{Source: billing.Source{Channel: billing.ChannelSMS, Origin: "10658008" + merchant},
		MSISDN: phone, Merchant: merchant, Product: product, Amount: amount})
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

func (e *env) confirm(phone, code string) billing.Result {
	e.t.Helper()
	r, err := e.eng.Confirm(e.ctx, billing.ConfirmRequest{Source: billing.Source{Channel: billing.ChannelSMS}, MSISDN: phone, Code: code})
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

func (e *env) buy(phone, merchant, product string, amount billing.Money) int64 {
	e.t.Helper()
	p := e.purchase(phone, merchant, product, amount)
	if p.Outcome != billing.OutcomePrompted {
		e.t.Fatalf("purchase %s %s: %+v", merchant, product, p)
	}
	c := e.confirm(phone, p.Order.Code)
	if c.Outcome != billing.OutcomeCharged {
		e.t.Fatalf("confirm: %+v", c)
	}
	return p.OrderID
}

// ledgerNet sums the merchants' payable postings of [from, to) straight
// from ledger_entries: what the report must equal to the fen.
func (e *env) ledgerNet(from, to time.Time) (paid, refunded int64) {
	e.t.Helper()
	if e.set.Pool != nil {
		if err := e.set.Pool.QueryRow(e.ctx, `SELECT
			coalesce(sum(-amount_fen) FILTER (WHERE kind = 'payment'), 0)::bigint, coalesce(sum(amount_fen) FILTER (WHERE kind = 'refund'), 0)::bigint
			FROM ledger_entries WHERE account LIKE 'merchant:%' AND created_at >= $1 AND created_at < $2`, from, to).Scan(&paid, &refunded); err != nil {
			e.t.Fatal(err)
		}
		return paid, refunded
	}
	var p, r sql.NullInt64
	if err := e.set.Embedded.Reader().QueryRowContext(e.ctx, `SELECT
		sum(CASE WHEN kind = 'payment' THEN -amount_fen END), sum(CASE WHEN kind = 'refund' THEN amount_fen END)
		FROM ledger_entries WHERE account LIKE 'merchant:%' AND created_at >= ? AND created_at < ?`,
		from.UnixNano(), to.UnixNano()).Scan(&p, &r); err != nil {
		e.t.Fatal(err)
	}
	return p.Int64, r.Int64
}

func TestReportsPostgres(t *testing.T) {
	t.Parallel()
	testReports(t, dbtest.Postgres(t))
}

func TestReportsEmbedded(t *testing.T) {
	t.Parallel()
	testReports(t, "")
}

// testReports drives a day of traffic through the engine and checks the
// day's and the month's report: revenue equal to the ledger to the fen,
// the funnel, rejections and limit hits, top merchants, and the files.
func testReports(t *testing.T, databaseURL string) {
	e := newEnv(t, databaseURL)
	a, b, c, d, w, x := "+8613800000001", "+8613800000002", "+8613800000003", "+8613800000004", "+8613800000005", "+8613800000006"
	e.buy(a, "8001", "VIP", 0)                                                                        // 15.00
	e.clk.Advance(time.Hour)                                                                          // 11:00
	e.buy(b, "8001", "", billing.Money(751))                                                          // 7.51
	order := e.buy(c, "8002", "GOLD", 0)                                                              // 30.00
	if r := e.purchase(d, "8001", "", billing.Yuan(31)); r.Reason != billing.ReasonAmountOutOfRange { // refused, no order
		t.Fatalf("31 yuan: %+v", r)
	}
	wrong := "000000"
	if p := e.purchase(w, "8001", "VIP", 0); p.Order.Code == wrong {
		wrong = "111111"
	}
	if r := e.confirm(w, wrong); r.Reason != billing.ReasonWrongCode {
		t.Fatalf("wrong code: %+v", r)
	}
	e.purchase(x, "8002", "GOLD", 0) // never confirmed: expires
	e.clk.Advance(time.Hour)         // 12:00
	e.buy(a, "8001", "", billing.Yuan(30))
	if r := e.purchase(a, "8001", "VIP", 0); r.Reason != billing.ReasonDailyLimit { // 45 + 15 > 50
		t.Fatalf("over the daily limit: %+v", r)
	}
	if _, err := e.eng.Refund(e.ctx, billing.RefundRequest{Source: billing.Source{Channel: billing.ChannelOperator}, OrderID: order,
		Amount: billing.Yuan(10), Reason: "goodwill", IdempotencyKey: "r1"}); err != nil {
		t.Fatal(err)
	}
	if n, err := e.eng.ExpireOrders(e.ctx); err != nil || n != 2 {
		t.Fatalf("expired %d (%v), want 2", n, err)
	}
	e.clk.Advance(13 * time.Hour) // 2026-11-21 01:00: the next day
	e.buy(b, "8002", "GOLD", 0)
	e.refusals.Flush()

	day, err := reports.ParsePeriod("2026-11-20", shanghai)
	if err != nil {
		t.Fatal(err)
	}
	r, err := e.maker.Make(e.ctx, day)
	if err != nil {
		t.Fatal(err)
	}
	paid, refunded := e.ledgerNet(day.From, day.To)
	if int64(r.Revenue.Paid) != paid || int64(r.Revenue.Refunded) != refunded || paid != 15_00+7_51+30_00+30_00 || refunded != 10_00 {
		t.Fatalf("revenue %s paid, %s refunded; the ledger says %d and %d fen, want 8251 and 1000", r.Revenue.Paid, r.Revenue.Refunded, paid, refunded)
	}
	if r.Revenue.Payments != 4 || r.Revenue.Refunds != 1 || r.Revenue.Net() != billing.Money(72_51) {
		t.Errorf("revenue %+v net %s", r.Revenue, r.Revenue.Net())
	}
	if got := [5]int64{r.Purchases, r.Prompted, r.Confirmed, r.Charged, r.Expired}; got != [5]int64{6, 6, 4, 4, 2} {
		t.Errorf("funnel purchase/prompt/confirmation/charge/expired = %v, want [6 6 4 4 2]", got)
	}
	for reason, want := range map[billing.Reason]int64{billing.ReasonAmountOutOfRange: 1, billing.ReasonWrongCode: 1, billing.ReasonDailyLimit: 1} {
		if r.Refusals[reason] != want {
			t.Errorf("refusals[%s] = %d, want %d (all: %v)", reason, r.Refusals[reason], want, r.Refusals)
		}
	}
	if hits := r.LimitHits(); hits[1].Reason != billing.ReasonDailyLimit || hits[1].Count != 1 {
		t.Errorf("limit hits %v", hits)
	}
	if len(r.Merchants) != 2 || r.Merchants[0].Merchant != "8001" || r.Merchants[0].Net() != billing.Money(52_51) || r.Merchants[1].Net() != billing.Money(20_00) {
		t.Errorf("top merchants %+v", r.Merchants)
	}
	var sum billing.Money
	for _, v := range r.PaidByBucket {
		sum += v
	}
	if sum != r.Revenue.Paid || r.PaidByBucket[10] != billing.Yuan(15) || r.PaidByBucket[11] != billing.Money(37_51) || r.PaidByBucket[12] != billing.Yuan(30) {
		t.Errorf("revenue by hour %v (sum %s)", r.PaidByBucket, sum)
	}

	var csvb, htmlb bytes.Buffer
	if err := reports.WriteCSV(&csvb, r); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"revenue,payments,4,82.51", "revenue,refunds,1,10.00", "revenue,net,,72.51", "funnel,charge,4",
		"limit_hit,daily_limit,1", "merchant,8001,星辰游戏,3,52.51,52.51", "rejection,wrong_code,1"} {
		if !strings.Contains(csvb.String(), want+"\n") {
			t.Errorf("CSV lacks %q:\n%s", want, csvb.String())
		}
	}
	if err := reports.WriteHTML(&htmlb, r); err != nil {
		t.Fatal(err)
	}
	html := htmlb.String()
	for _, want := range []string{"<svg", `aria-label="revenue chart"`, `aria-label="funnel chart"`, `<b id="net">72.51</b>`, "daily_limit"} {
		if !strings.Contains(html, want) {
			t.Errorf("HTML lacks %q", want)
		}
	}
	for _, bad := range []string{"http://", "https://", "<script", "13800000001", "0000001"} {
		if strings.Contains(strings.ReplaceAll(html, `xmlns="http://www.w3.org/2000/svg"`, ""), bad) {
			t.Errorf("HTML holds %q (self-contained, no number)", bad)
		}
	}

	month, _ := reports.ParsePeriod("2026-11", shanghai)
	mr, err := e.maker.Make(e.ctx, month)
	if err != nil {
		t.Fatal(err)
	}
	paid, refunded = e.ledgerNet(month.From, month.To)
	if int64(mr.Revenue.Paid) != paid || int64(mr.Revenue.Refunded) != refunded || paid != 82_51+30_00 {
		t.Errorf("month revenue %s/%s; the ledger says %d/%d", mr.Revenue.Paid, mr.Revenue.Refunded, paid, refunded)
	}
	if mr.PaidByBucket[19] != billing.Money(82_51) || mr.PaidByBucket[20] != billing.Yuan(30) || mr.MOsByBucket == nil {
		t.Errorf("month by day: %v", mr.PaidByBucket)
	}
	csvPath, htmlPath, err := reports.Write(t.TempDir(), mr)
	if err != nil || filepath.Base(csvPath) != "report-2026-11.csv" || filepath.Base(htmlPath) != "report-2026-11.html" {
		t.Errorf("Write: %s %s %v", csvPath, htmlPath, err)
	}
}

// TestNightlyOnce: the nightly run writes each closed period once across
// two runners sharing the lease table, and catches up missed days.
func TestNightlyOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "")
	e.buy("+8613800000001", "8001", "VIP", 0)
	e.clk.Advance(48 * time.Hour) // 2026-11-22 10:00
	dir := t.TempDir()
	runs := 0
	mk := func() *reports.Nightly {
		return &reports.Nightly{Maker: e.maker, Leases: e.set.Settlement, Dir: dir, Clock: e.clk,
			Observe: func(string, time.Duration, error) { runs++ }}
	}
	if err := mk().CatchUp(e.ctx); err != nil {
		t.Fatal(err)
	}
	first := runs
	if err := mk().CatchUp(e.ctx); err != nil {
		t.Fatal(err)
	}
	if first != reports.CatchUpDays+1 || runs != first {
		t.Errorf("runs %d then %d, want %d and no more", first, runs, reports.CatchUpDays+1)
	}
	for _, name := range []string{"report-2026-11-20.html", "report-2026-11-21.csv", "report-2026-10.html"} {
		if _, err := filepath.Glob(filepath.Join(dir, name)); err != nil {
			t.Error(err)
		}
		if m, _ := filepath.Glob(filepath.Join(dir, name)); len(m) != 1 {
			t.Errorf("no %s", name)
		}
	}
}
