package sqlite_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/billing/sqlite"
	"github.com/carrierbill/carrierbill/billing/storetest"
	"github.com/carrierbill/carrierbill/clock"
	"github.com/carrierbill/carrierbill/settlement"
	settlesqlite "github.com/carrierbill/carrierbill/settlement/sqlite"
	"github.com/carrierbill/carrierbill/sms"
)

// payEnv is a real engine on a SQLite store, paying through the phone
// accounts of the same database.
type payEnv struct {
	t     *testing.T
	ctx   context.Context
	store *sqlite.Store
	clock *clock.Fake
	eng   *billing.Engine
	ch    *sms.Channel
}

func newPayEnv(t *testing.T) *payEnv {
	t.Helper()
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 3, 10, 12, 0, 0, 0, shanghai(t)))
	eng, ch, err := sms.NewEngine(billing.Options{
		Config:  storetest.Config(),
		Store:   s,
		Charger: sqlite.NewAccounts(s, clk, billing.AccountsOptions{AutoOpen: true, CreditLimit: billing.Yuan(1000)}),
		Limiter: billing.NewMemoryLimiter(clk),
		Clock:   clk,
	}, sms.TextConfig{ExpiryNotice: true}, sms.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return &payEnv{t: t, ctx: context.Background(), store: s, clock: clk, eng: eng, ch: ch}
}

func shanghai(t testing.TB) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func (e *payEnv) handle(from, to, text string) billing.Result {
	e.t.Helper()
	rs, err := e.ch.HandleMO(e.ctx, billing.InboundMO{Bind: "test", MSISDN: from, ServiceAddr: to, Body: text, ReceivedAt: e.clock.Now()})
	if err != nil || len(rs) != 1 {
		e.t.Fatalf("HandleMO(%q): %v, %d results", text, err, len(rs))
	}
	return rs[0]
}

// pay buys and confirms; it returns the order id.
func (e *payEnv) pay(from, to, text string) int64 {
	e.t.Helper()
	r := e.handle(from, to, text)
	var code string
	if err := e.store.InTx(e.ctx, func(tx billing.Tx) error {
		o, err := tx.GetOrder(e.ctx, r.OrderID)
		code = o.Code
		return err
	}); err != nil {
		e.t.Fatal(err)
	}
	if r := e.handle(from, to, code); r.Outcome != billing.OutcomeCharged {
		e.t.Fatalf("paying %q: %+v", text, r)
	}
	e.clock.Advance(time.Minute)
	return r.OrderID
}

func TestSettlementSource(t *testing.T) {
	t.Parallel()
	e := newPayEnv(t)
	ctx := e.ctx
	const a, b = "8613800000001", "8613800000002"
	o1 := e.pay(a, "106580088001", "10")
	e.pay(b, "106580088002", "P001")
	e.pay(a, "106580088001", "VIP")
	if _, err := e.eng.Refund(ctx, billing.RefundRequest{OrderID: o1, Reason: "customer complaint", IdempotencyKey: "refund:test:1"}); err != nil {
		t.Fatal(err)
	}
	e.clock.Set(time.Date(2026, 3, 11, 1, 0, 0, 0, shanghai(t)))
	e.pay(b, "106580088001", "5")

	src := settlesqlite.New(e.store)
	snap, err := src.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close(ctx)
	// Committed after the snapshot began: invisible to it.
	e.clock.Set(time.Date(2026, 3, 10, 20, 0, 0, 0, shanghai(t)))
	e.pay(b, "106580088002", "P002")

	from := time.Date(2026, 3, 10, 0, 0, 0, 0, shanghai(t))
	to := from.AddDate(0, 0, 1)
	var lines []settlement.Line
	if err := snap.Lines(ctx, "", from, to, func(l settlement.Line) error { lines = append(lines, l); return nil }); err != nil {
		t.Fatal(err)
	}
	want := []struct {
		merchant string
		kind     settlement.LineKind
		amount   billing.Money
	}{
		{"8001", settlement.KindPay, 1000},
		{"8001", settlement.KindPay, 1500},
		{"8001", settlement.KindRefund, 1000}, // refunded after the second payment
		{"8002", settlement.KindPay, 1000},
	}
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d: %+v", len(lines), len(want), lines)
	}
	totals := map[string]settlement.Totals{}
	for i, l := range lines {
		w := want[i]
		if l.Merchant != w.merchant || l.Kind != w.kind || l.Amount != w.amount || l.Method != "phone" || l.MSISDN == "" || l.Product == "" {
			t.Errorf("line %d: %+v, want %+v", i, l, w)
		}
		if l.At.Before(from) || !l.At.Before(to) {
			t.Errorf("line %d at %v, outside the day", i, l.At)
		}
		tt := totals[l.Merchant]
		tt.Add(l)
		totals[l.Merchant] = tt
	}
	var only []settlement.Line
	if err := snap.Lines(ctx, "8002", from, to, func(l settlement.Line) error { only = append(only, l); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(only) != 1 || only[0].Merchant != "8002" {
		t.Errorf("lines of 8002: %+v", only)
	}
	stop := errors.New("stop")
	if err := snap.Lines(ctx, "", from, to, func(settlement.Line) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("fn's error: got %v", err)
	}

	ledger, err := snap.LedgerTotals(ctx, from, to)
	if err != nil {
		t.Fatal(err)
	}
	if len(ledger) != len(totals) {
		t.Errorf("ledger totals %+v, statement totals %+v", ledger, totals)
	}
	for m, tt := range totals {
		if ledger[m] != tt {
			t.Errorf("merchant %s: ledger %+v, statement %+v", m, ledger[m], tt)
		}
	}
	msgs, err := snap.MessageCounts(ctx, from, to)
	if err != nil {
		t.Fatal(err)
	}
	if msgs["8001"] < 4 || msgs["8002"] < 2 { // a prompt and a receipt per payment, and the refund's MT
		t.Errorf("message counts %v", msgs)
	}
	first, ok, err := snap.FirstActivity(ctx)
	if err != nil || !ok || !first.Equal(time.Date(2026, 3, 10, 12, 0, 0, 0, shanghai(t))) {
		t.Errorf("FirstActivity = %v, %v, %v", first, ok, err)
	}
	var phone []settlement.PhoneCharge
	if err := snap.PhoneCharges(ctx, from, to, func(c settlement.PhoneCharge) error { phone = append(phone, c); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(phone) != 3 || phone[0].ID >= phone[1].ID || phone[1].ID >= phone[2].ID {
		t.Errorf("phone charges %+v", phone)
	}
	if err := snap.Close(ctx); err != nil {
		t.Fatal(err)
	}

	// The settlement runner writes the day's statements from this source,
	// checked against the ledger, byte-identical when run again.
	dir := t.TempDir()
	r, err := settlement.NewRunner(src, src, settlement.Config{Dir: dir, Location: shanghai(t)}, e.clock, nil)
	if err != nil {
		t.Fatal(err)
	}
	res1, err := r.Generate(ctx, settlement.JobStatements, "2026-03-10", "")
	if err != nil {
		t.Fatal(err)
	}
	if res1.Merchants != 2 || len(res1.Files) == 0 {
		t.Fatalf("statements: %+v", res1)
	}
	first1 := readFile(t, res1.Files[0])
	res2, err := r.Generate(ctx, settlement.JobStatements, "2026-03-10", "")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first1, readFile(t, res2.Files[0])) {
		t.Error("re-running the statements changed the file")
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSettlementLeases(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := settlesqlite.New(openTest(t))
	t0 := time.Date(2026, 3, 11, 0, 30, 0, 0, time.UTC)
	const job, key = settlement.JobStatements, "2026-03-10"
	steps := []struct {
		name string
		call func() error
		want error
	}{
		{"first claim", func() error { return st.Claim(ctx, job, key, "a", t0, t0.Add(time.Minute)) }, nil},
		{"held by a", func() error { return st.Claim(ctx, job, key, "b", t0.Add(30*time.Second), t0.Add(2*time.Minute)) }, settlement.ErrHeld},
		{"a reclaims", func() error { return st.Claim(ctx, job, key, "a", t0, t0.Add(time.Minute)) }, nil},
		{"a extends", func() error { return st.Extend(ctx, job, key, "a", t0.Add(2*time.Minute)) }, nil},
		{"b cannot extend", func() error { return st.Extend(ctx, job, key, "b", t0.Add(3*time.Minute)) }, settlement.ErrLost},
		{"b takes over an expired lease", func() error { return st.Claim(ctx, job, key, "b", t0.Add(2*time.Minute), t0.Add(4*time.Minute)) }, nil},
		{"a lost it", func() error { return st.Finish(ctx, job, key, "a", t0.Add(3*time.Minute)) }, settlement.ErrLost},
		{"b finishes", func() error { return st.Finish(ctx, job, key, "b", t0.Add(3*time.Minute)) }, nil},
		{"done", func() error { return st.Claim(ctx, job, key, "c", t0.Add(time.Hour), t0.Add(2*time.Hour)) }, settlement.ErrDone},
	}
	for _, s := range steps {
		if err := s.call(); !errors.Is(err, s.want) || (s.want == nil && err != nil) {
			t.Errorf("%s: %v, want %v", s.name, err, s.want)
		}
	}
	done, err := st.Done(ctx, job)
	if err != nil || len(done) != 1 || !done[key] {
		t.Errorf("Done = %v, %v", done, err)
	}
}

// openTest opens an embedded store on a fresh file and closes it when the
// test ends.
func openTest(t testing.TB) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "carrierbill.db"), nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// TestMain fails the package if a goroutine outlives its test.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
