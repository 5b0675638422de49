package settlement_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/clock"
	"github.com/carrierbill/carrierbill/settlement"
	spg "github.com/carrierbill/carrierbill/settlement/postgres"
)

func newRunner(t testing.TB, f *fixture, dir string, clk clock.Clock, mod func(*settlement.Config)) *settlement.Runner {
	t.Helper()
	cfg := settlement.Config{Dir: dir, Location: shanghai, LeaseTTL: time.Minute, Heartbeat: time.Hour,
		Terms: settlement.TermsBook{Default: settlement.Terms{RevenueShareBP: 3000}}}
	if mod != nil {
		mod(&cfg)
	}
	r, err := settlement.NewRunner(spg.New(f.pool), spg.New(f.pool), cfg, clk, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func readFile(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestStatementContent(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c1 := f.pay("8001", "phone", 1500, at(2026, 11, 20, 0, 0, 0), payOpt{msisdn: "8613800000001", ref: "A-1"})
	c2 := f.pay("8001", "card", 600, at(2026, 11, 20, 23, 59, 59), payOpt{msisdn: "13912345678", product: "100金币, \"gold\""})
	f.pay("8001", "phone", 700, at(2026, 11, 19, 23, 59, 59), payOpt{}) // the day before
	f.pay("8001", "phone", 800, at(2026, 11, 21, 0, 0, 0), payOpt{})    // the day after
	f.pay("8002", "phone", 300, at(2026, 11, 20, 12, 0, 0), payOpt{})   // another merchant
	f.refund(c1, 500, at(2026, 11, 20, 10, 0, 0))
	f.failed("8001", 900, at(2026, 11, 20, 11, 0, 0))
	dir := t.TempDir()
	r := newRunner(t, f, dir, clock.NewFake(at(2026, 11, 21, 2, 0, 0)), nil)
	res, err := r.Generate(context.Background(), settlement.JobStatements, "2026-11-20", "")
	if err != nil {
		t.Fatal(err)
	}
	if res.Merchants != 2 || len(res.Files) != 2 {
		t.Fatalf("result %+v, want 2 merchants", res)
	}
	got := readFile(t, filepath.Join(dir, "8001", "statement-8001-2026-11-20.csv"))
	want := "time,transaction_id,merchant_ref,phone,product,type,method,amount,status\n" +
		"2026-11-20 00:00:00," + strconv.FormatInt(c1, 10) + ",A-1,138****0001,月度会员,pay,phone_account,15.00,success\n" +
		"2026-11-20 10:00:00," + strconv.FormatInt(c1, 10) + ",A-1,138****0001,月度会员,refund,phone_account,-5.00,refunded\n" +
		"2026-11-20 23:59:59," + strconv.FormatInt(c2, 10) + ",,139****5678,\"100金币, \"\"gold\"\"\",pay,bank_card,6.00,success\n" +
		"summary,3,21.00,5.00,16.00\n"
	if got != want {
		t.Fatalf("statement:\n%s\nwant:\n%s", got, want)
	}
	sum := readFile(t, filepath.Join(dir, "8001", "statement-8001-2026-11-20.csv.sha256"))
	if !strings.HasSuffix(sum, "  statement-8001-2026-11-20.csv\n") || len(sum) != 64+2+len("statement-8001-2026-11-20.csv")+1 {
		t.Fatalf("checksum file %q", sum)
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "8001"))
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			t.Fatalf("temporary file left behind: %s", e.Name())
		}
	}
}

func TestRerunIsByteIdentical(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for i := range 50 {
		c := f.pay("800"+strconv.Itoa(i%3), []string{"phone", "card"}[i%2], int64(100+i), at(2026, 11, 20, i%24, i, 0), payOpt{ref: "r" + strconv.Itoa(i)})
		if i%7 == 0 {
			f.refund(c, 50, at(2026, 11, 20, 23, 0, i))
		}
	}
	ctx := context.Background()
	snapshot := func(dir string) map[string]string {
		out := map[string]string{}
		filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				rel, _ := filepath.Rel(dir, p)
				out[rel] = readFile(t, p)
			}
			return nil
		})
		return out
	}
	var runs []map[string]string
	for range 2 {
		dir := t.TempDir()
		r := newRunner(t, f, dir, clock.NewFake(at(2026, 11, 21, 2, 0, 0)), nil)
		for _, job := range []struct{ job, key string }{{settlement.JobStatements, "2026-11-20"}, {settlement.JobDailyBills, "2026-11-20"}, {settlement.JobMonthlyBills, "2026-11"}} {
			if _, err := r.Generate(ctx, job.job, job.key, ""); err != nil {
				t.Fatal(err)
			}
		}
		// A second run over an existing directory replaces files in place.
		if _, err := r.Generate(ctx, settlement.JobStatements, "2026-11-20", ""); err != nil {
			t.Fatal(err)
		}
		runs = append(runs, snapshot(dir))
	}
	if len(runs[0]) != 18 {
		t.Fatalf("%d files, want 3 merchants × 3 files × 2", len(runs[0]))
	}
	for name, b := range runs[0] {
		if runs[1][name] != b {
			t.Fatalf("%s differs between runs", name)
		}
	}
}

func TestMismatchWithLedgerFailsAndPublishesNothing(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		opt  payOpt
	}{
		{"ledger posting off by a fen", payOpt{ledgerDelta: 1}},
		{"payment missing from the ledger", payOpt{noLedger: true}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			f.pay("8001", "phone", 1000, at(2026, 11, 20, 9, 0, 0), payOpt{})
			f.pay("8001", "phone", 1000, at(2026, 11, 20, 10, 0, 0), tc.opt)
			dir := t.TempDir()
			r := newRunner(t, f, dir, clock.NewFake(at(2026, 11, 21, 2, 0, 0)), nil)
			for _, job := range []string{settlement.JobStatements, settlement.JobDailyBills} {
				_, err := r.Generate(context.Background(), job, "2026-11-20", "")
				if !errors.Is(err, settlement.ErrMismatch) {
					t.Fatalf("%s: err = %v, want ErrMismatch", job, err)
				}
			}
			entries, _ := os.ReadDir(filepath.Join(dir, "8001"))
			if len(entries) != 0 {
				t.Fatalf("files published despite the mismatch: %v", entries)
			}
		})
	}
}

// TestStatementsAndBillsEqualTheLedger is the property test: random
// ledgers, both methods, refunds, entries bunched around midnight and the
// month end; every merchant's statements and bills add up to the ledger.
func TestStatementsAndBillsEqualTheLedger(t *testing.T) {
	t.Parallel()
	for seed := range uint64(3) {
		t.Run("seed"+strconv.FormatUint(seed, 10), func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(seed, 42))
			f := newFixture(t)
			merchants := []string{"8001", "8002", "8003", "m-4"}
			// Payments run to 2026-12-02 02:00, refunds up to 30 hours later.
			days := []string{"2026-11-28", "2026-11-29", "2026-11-30", "2026-12-01", "2026-12-02", "2026-12-03"}
			// Entries from 2026-11-28 22:00 to 2026-12-02 02:00, half of them
			// within two minutes of a midnight.
			start := at(2026, 11, 28, 22, 0, 0)
			randTime := func() time.Time {
				if rng.IntN(2) == 0 {
					mid := at(2026, 11, 29+rng.IntN(3), 0, 0, 0)
					return mid.Add(time.Duration(rng.IntN(240)-120) * time.Second)
				}
				return start.Add(time.Duration(rng.IntN(int((76 * time.Hour).Seconds()))) * time.Second)
			}
			type ev struct {
				merchant string
				when     time.Time
				amount   int64 // negative for refunds
			}
			var evs []ev
			for range 150 + rng.IntN(100) {
				m := merchants[rng.IntN(len(merchants))]
				when := randTime()
				amount := int64(10 + rng.IntN(3000))
				c := f.pay(m, []string{"phone", "card"}[rng.IntN(2)], amount, when, payOpt{})
				evs = append(evs, ev{m, when, amount})
				if rng.IntN(4) == 0 {
					left := amount
					for range 1 + rng.IntN(2) {
						if left == 0 {
							break
						}
						ra := 1 + rng.Int64N(left)
						left -= ra
						rw := when.Add(time.Duration(rng.IntN(30*3600)) * time.Second)
						f.refund(c, ra, rw)
						evs = append(evs, ev{m, rw, -ra})
					}
				}
			}
			want := map[string]int64{} // merchant|period → net
			for _, e := range evs {
				l := e.when.In(shanghai)
				want[e.merchant+"|"+l.Format("2006-01-02")] += e.amount
				want[e.merchant+"|"+l.Format("2006-01")] += e.amount
			}
			// The same, straight from the ledger postings.
			ledger := map[string]int64{}
			rows, err := f.pool.Query(f.ctx, `SELECT le.merchant, COALESCE(r.created_at, c.resolved_at), le.amount_fen
				FROM ledger_entries le JOIN charges c ON c.id = le.charge_id LEFT JOIN refunds r ON r.id = le.refund_id
				WHERE le.account LIKE 'merchant:%:payable'`)
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var m string
				var when time.Time
				var amt int64
				if err := rows.Scan(&m, &when, &amt); err != nil {
					t.Fatal(err)
				}
				l := when.In(shanghai)
				ledger[m+"|"+l.Format("2006-01-02")] -= amt
				ledger[m+"|"+l.Format("2006-01")] -= amt
			}
			rows.Close()
			for k, v := range want {
				if ledger[k] != v {
					t.Fatalf("fixture ledger %s = %d, events say %d", k, ledger[k], v)
				}
			}

			dir := t.TempDir()
			r := newRunner(t, f, dir, clock.NewFake(at(2026, 12, 2, 3, 0, 0)), func(c *settlement.Config) {
				c.Terms = settlement.TermsBook{Merchants: map[string]settlement.Terms{"8001": {RevenueShareBP: 3333}}, Default: settlement.Terms{RevenueShareBP: 2550}}
			})
			ctx := context.Background()
			for _, d := range days {
				for _, job := range []string{settlement.JobStatements, settlement.JobDailyBills} {
					if _, err := r.Generate(ctx, job, d, ""); err != nil {
						t.Fatal(err)
					}
				}
			}
			for _, mo := range []string{"2026-11", "2026-12"} {
				if _, err := r.Generate(ctx, settlement.JobMonthlyBills, mo, ""); err != nil {
					t.Fatal(err)
				}
			}
			for _, m := range merchants {
				monthFromStatements := map[string]int64{}
				for _, d := range days {
					net, paid, refunded := sumStatement(t, filepath.Join(dir, m, settlement.StatementName(m, d)))
					if net != ledger[m+"|"+d] || paid-refunded != net {
						t.Fatalf("%s %s: statement net %d (paid %d refunded %d), ledger %d", m, d, net, paid, refunded, ledger[m+"|"+d])
					}
					bill := readBill(t, filepath.Join(dir, m, settlement.BillName(m, d)))
					checkBill(t, bill, ledger[m+"|"+d])
					monthFromStatements[d[:7]] += net
				}
				for _, mo := range []string{"2026-11", "2026-12"} {
					bill := readBill(t, filepath.Join(dir, m, settlement.BillName(m, mo)))
					checkBill(t, bill, ledger[m+"|"+mo])
				}
				for _, mo := range []string{"2026-11", "2026-12"} {
					if monthFromStatements[mo] != ledger[m+"|"+mo] {
						t.Fatalf("%s %s: statements add up to %d, ledger %d", m, mo, monthFromStatements[mo], ledger[m+"|"+mo])
					}
				}
			}
		})
	}
}

// sumStatement adds up a statement's amount column and checks its summary.
func sumStatement(t *testing.T, path string) (net, paid, refunded int64) {
	t.Helper()
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, 0, 0
	}
	if err != nil {
		t.Fatal(err)
	}
	cr := csv.NewReader(bytes.NewReader(b))
	cr.FieldsPerRecord = -1
	recs, err := cr.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range recs[1 : len(recs)-1] {
		m := money(t, rec[7])
		net += m
		if m > 0 {
			paid += m
		} else {
			refunded -= m
		}
	}
	s := recs[len(recs)-1]
	if s[0] != "summary" || s[1] != strconv.Itoa(len(recs)-2) || money(t, s[2]) != paid || money(t, s[3]) != refunded || money(t, s[4]) != net {
		t.Fatalf("%s: summary %v, lines say count %d paid %d refunded %d net %d", path, s, len(recs)-2, paid, refunded, net)
	}
	return net, paid, refunded
}

func money(t *testing.T, s string) int64 {
	t.Helper()
	neg := strings.HasPrefix(s, "-")
	m, err := billing.ParseYuan(strings.TrimPrefix(s, "-"))
	if err != nil {
		t.Fatalf("amount %q: %v", s, err)
	}
	if neg {
		return -int64(m)
	}
	return int64(m)
}

func readBill(t *testing.T, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil || len(recs) != 2 {
		t.Fatalf("bill %s: %v %v", path, recs, err)
	}
	out := map[string]string{}
	for i, h := range recs[0] {
		out[h] = recs[1][i]
	}
	return out
}

func checkBill(t *testing.T, bill map[string]string, ledgerNet int64) {
	t.Helper()
	if bill == nil {
		if ledgerNet != 0 {
			t.Fatalf("no bill, ledger net %d", ledgerNet)
		}
		return
	}
	net := money(t, bill["net_sales"])
	if net != ledgerNet || money(t, bill["gross"])-money(t, bill["refunded"]) != net {
		t.Fatalf("bill %v: net sales %d, ledger %d", bill, net, ledgerNet)
	}
	share := money(t, bill["operator_share"])
	if money(t, bill["net_payable"]) != net-share-money(t, bill["message_fees"]) {
		t.Fatalf("bill %v does not add up", bill)
	}
}

func TestComputeBillRoundsOnce(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name           string
		paid, refunded int64
		bp, msgs, fee  int64
		share, payable int64
	}{
		{"exact", 10000, 0, 3000, 0, 0, 3000, 7000},
		{"half rounds up", 5, 0, 1000, 0, 0, 1, 4},         // 0.5 fen
		{"below half rounds down", 4, 0, 1000, 0, 0, 0, 4}, // 0.4 fen
		{"negative half rounds away", 0, 5, 1000, 0, 0, -1, -4},
		{"basis points", 333, 0, 3333, 0, 0, 111, 222}, // 110.9889
		{"fees", 1000, 100, 2500, 3, 10, 225, 645},
		{"zero share", 1234, 0, 0, 0, 0, 0, 1234},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := settlement.ComputeBill("8001", "2026-11", settlement.Totals{Paid: billing.Money(tc.paid), Refunded: billing.Money(tc.refunded)},
				tc.msgs, settlement.Terms{RevenueShareBP: tc.bp, PerMessageFee: billing.Money(tc.fee)})
			if int64(b.OperatorShare) != tc.share || int64(b.NetPayable) != tc.payable {
				t.Fatalf("share %d payable %d, want %d %d", b.OperatorShare, b.NetPayable, tc.share, tc.payable)
			}
		})
	}
}

func TestMessageFeesOnTheBill(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := f.pay("8001", "phone", 1000, at(2026, 11, 20, 9, 0, 0), payOpt{})
	f.mt(c, at(2026, 11, 20, 9, 0, 0))
	f.mt(c, at(2026, 11, 20, 9, 0, 1))
	f.mt(c, at(2026, 11, 21, 0, 0, 0)) // next day
	dir := t.TempDir()
	r := newRunner(t, f, dir, clock.NewFake(at(2026, 11, 21, 3, 0, 0)), func(c *settlement.Config) {
		c.Terms = settlement.TermsBook{Merchants: map[string]settlement.Terms{"8001": {Name: "星辰游戏", RevenueShareBP: 3000, PerMessageFee: 5}}}
	})
	if _, err := r.Generate(context.Background(), settlement.JobDailyBills, "2026-11-20", ""); err != nil {
		t.Fatal(err)
	}
	got := readFile(t, filepath.Join(dir, "8001", "bill-8001-2026-11-20.csv"))
	want := "merchant,name,period,payments,refunds,gross,refunded,net_sales,revenue_share_percent,operator_share,messages,per_message_fee,message_fees,net_payable\n" +
		"8001,星辰游戏,2026-11-20,1,0,10.00,0.00,10.00,30.00,3.00,2,0.05,0.10,6.90\n"
	if got != want {
		t.Fatalf("bill:\n%s\nwant:\n%s", got, want)
	}
}

func TestTwoRunnersRacingRunOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.pay("8001", "phone", 1000, at(2026, 11, 20, 9, 0, 0), payOpt{})
	clk := clock.NewFake(at(2026, 11, 21, 2, 0, 0))
	dir := t.TempDir()
	var (
		wg  sync.WaitGroup
		ran [8]bool
		err [8]error
	)
	for i := range ran {
		r := newRunner(t, f, dir, clk, func(c *settlement.Config) { c.Holder = "proc-" + strconv.Itoa(i) })
		wg.Add(1)
		go func() {
			defer wg.Done()
			ran[i], err[i] = r.RunDate(context.Background(), settlement.JobStatements, at(2026, 11, 20, 0, 0, 0))
		}()
	}
	wg.Wait()
	n := 0
	for i := range ran {
		if err[i] != nil {
			t.Fatalf("runner %d: %v", i, err[i])
		}
		if ran[i] {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d runs, want 1", n)
	}
	done, e := spg.New(f.pool).Done(context.Background(), settlement.JobStatements)
	if e != nil || !done["2026-11-20"] {
		t.Fatalf("run not marked done: %v %v", done, e)
	}
}

// blockingSource wraps the real source; its snapshot's Lines blocks until
// release is closed or the context ends, standing in for a process that
// dies in the middle of a run.
type blockingSource struct {
	settlement.Source
	started chan struct{}
}

type blockingSnapshot struct {
	settlement.Snapshot
	started chan struct{}
}

func (s blockingSource) Snapshot(ctx context.Context) (settlement.Snapshot, error) {
	snap, err := s.Source.Snapshot(ctx)
	return blockingSnapshot{snap, s.started}, err
}

func (s blockingSnapshot) Lines(ctx context.Context, m string, from, to time.Time, fn func(settlement.Line) error) error {
	close(s.started)
	<-ctx.Done()
	return ctx.Err()
}

func TestDeadRunnerIsTakenOver(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.pay("8001", "phone", 1000, at(2026, 11, 20, 9, 0, 0), payOpt{})
	clk := clock.NewFake(at(2026, 11, 21, 2, 0, 0))
	dir := t.TempDir()
	store := spg.New(f.pool)
	started := make(chan struct{})
	dying, err := settlement.NewRunner(blockingSource{store, started}, store,
		settlement.Config{Dir: dir, Location: shanghai, Holder: "dying", LeaseTTL: time.Minute, Heartbeat: time.Hour}, clk, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, kill := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := dying.RunDate(ctx, settlement.JobStatements, at(2026, 11, 20, 0, 0, 0))
		errc <- err
	}()
	<-started
	other := newRunner(t, f, dir, clk, func(c *settlement.Config) { c.Holder = "other" })
	day := at(2026, 11, 20, 0, 0, 0)
	if ran, err := other.RunDate(context.Background(), settlement.JobStatements, day); ran || err != nil {
		t.Fatalf("ran=%v err=%v while the first holder's lease is live", ran, err)
	}
	kill() // the process dies: no heartbeat, no finish
	if err := <-errc; err == nil {
		t.Fatal("killed run reported success")
	}
	clk.Advance(59 * time.Second)
	if ran, _ := other.RunDate(context.Background(), settlement.JobStatements, day); ran {
		t.Fatal("lease taken before it expired")
	}
	clk.Advance(2 * time.Second)
	if ran, err := other.RunDate(context.Background(), settlement.JobStatements, day); !ran || err != nil {
		t.Fatalf("takeover: ran=%v err=%v", ran, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "8001", settlement.StatementName("8001", "2026-11-20"))); err != nil {
		t.Fatal(err)
	}
}

// recordingLeases is the real lease store, recording the runs it finishes.
type recordingLeases struct {
	settlement.Leases
	mu   sync.Mutex
	runs []string
}

func (l *recordingLeases) Finish(ctx context.Context, job, key, holder string, now time.Time) error {
	l.mu.Lock()
	l.runs = append(l.runs, job+" "+key)
	l.mu.Unlock()
	return l.Leases.Finish(ctx, job, key, holder, now)
}

func TestCatchUpRunsEveryMissedDateOldestFirst(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for d := 27; d <= 30; d++ {
		f.pay("8001", "phone", 1000, at(2026, 11, d, 12, 0, 0), payOpt{})
	}
	f.pay("8001", "phone", 1000, at(2026, 12, 1, 12, 0, 0), payOpt{})
	clk := clock.NewFake(at(2026, 11, 28, 2, 0, 0))
	dir := t.TempDir()
	store := spg.New(f.pool)
	rec := &recordingLeases{Leases: store}
	r, err := settlement.NewRunner(store, rec, settlement.Config{Dir: dir, Location: shanghai, LeaseTTL: time.Minute, Heartbeat: time.Hour}, clk, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// The night of the 28th ran: it settled the 27th.
	if err := r.CatchUp(ctx, clk.Now()); err != nil {
		t.Fatal(err)
	}
	// Down for three nights; back on 2 December at 01:00.
	clk.Set(at(2026, 12, 2, 1, 0, 0))
	if err := r.CatchUp(ctx, clk.Now()); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"settlement.statements 2026-11-27", "settlement.daily-bills 2026-11-27",
		"settlement.statements 2026-11-28", "settlement.statements 2026-11-29", "settlement.statements 2026-11-30", "settlement.statements 2026-12-01",
		"settlement.daily-bills 2026-11-28", "settlement.daily-bills 2026-11-29", "settlement.daily-bills 2026-11-30", "settlement.daily-bills 2026-12-01",
		"settlement.monthly-bills 2026-11",
	}
	if strings.Join(rec.runs, "\n") != strings.Join(want, "\n") {
		t.Fatalf("runs:\n%s\nwant:\n%s", strings.Join(rec.runs, "\n"), strings.Join(want, "\n"))
	}
	// Nothing left to do.
	rec.runs = nil
	if err := r.CatchUp(ctx, clk.Now()); err != nil || len(rec.runs) != 0 {
		t.Fatalf("second catch-up ran %v (err %v)", rec.runs, err)
	}
	var names []string
	entries, _ := os.ReadDir(filepath.Join(dir, "8001"))
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "statement-") && strings.HasSuffix(e.Name(), ".csv") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	if len(names) != 5 {
		t.Fatalf("statements %v", names)
	}
}
