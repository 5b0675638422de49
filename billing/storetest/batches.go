package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/carrierbill/carrierbill/billing"
)

// Batches: both stores run the transactions that arrive together in one
// database transaction, a savepoint each (group commit, issue 11). These
// cases start many transactions at once so that they share groups, and
// check that sharing changes nothing a caller can see.

// batchWidth is how many transactions the cases start together: more
// than one group holds.
const batchWidth = 80

// together runs fn(0..n-1) in n goroutines released at once.
func together(n int, fn func(i int)) {
	var start, done sync.WaitGroup
	start.Add(1)
	for i := range n {
		done.Add(1)
		go func() {
			defer done.Done()
			start.Wait()
			fn(i)
		}()
	}
	start.Done()
	done.Wait()
}

// testGroupOneBadMO: among MOs processed together, one fails (its row
// vanished, so marking it processed fails): that one alone is rolled back;
// every other one commits its order, its prompt and its processed mark.
func testGroupOneBadMO(t *testing.T, open Open) {
	e := newEnv(t, open, nil)
	now := e.clock.Now()
	mos := make([]billing.InboundMO, batchWidth)
	for i := range mos {
		mos[i] = billing.InboundMO{Bind: "b", MSISDN: fmt.Sprintf("86139100%05d", i), ServiceAddr: open1, Body: "VIP", ReceivedAt: now}
		if i == batchWidth/2 {
			mos[i].ID = 1 << 40 // never stored
			continue
		}
		id, err := e.store.InsertMO(e.ctx, mos[i])
		if err != nil {
			t.Fatal(err)
		}
		mos[i].ID = id
	}
	results := make([]billing.Result, batchWidth)
	errs := make([]error, batchWidth)
	together(batchWidth, func(i int) { results[i], errs[i] = e.sms.Handle(e.ctx, mos[i]) })
	for i := range mos {
		bad := i == batchWidth/2
		switch {
		case bad && !errors.Is(errs[i], billing.ErrNotFound):
			t.Errorf("the bad MO: %+v, %v; want ErrNotFound", results[i], errs[i])
		case !bad && (errs[i] != nil || results[i].Outcome != billing.OutcomePrompted):
			t.Errorf("MO %d beside the bad one: %+v, %v; want a prompt", i, results[i], errs[i])
		}
	}
	prompts := map[string]int{}
	for _, m := range e.mts() {
		prompts[m.MSISDN]++
	}
	for i, m := range mos {
		want := 1
		if i == batchWidth/2 {
			want = 0 // its order and prompt were rolled back with it
		}
		if prompts[m.MSISDN] != want {
			t.Errorf("%d prompts to MO %d's number, want %d", prompts[m.MSISDN], i, want)
		}
	}
	if left, err := e.store.ClaimMOs(e.ctx, now, now.Add(time.Minute), 1000); err != nil || len(left) != 0 {
		t.Fatalf("unprocessed MOs after the batch: %d, %v; want none", len(left), err)
	}
	// The bad MO's number has no order: a new purchase gets a new order,
	// not a resent one.
	if r := e.mo(mos[batchWidth/2].MSISDN, open1, "VIP"); r.Outcome != billing.OutcomePrompted {
		t.Fatalf("purchase after the rolled-back one: %+v, want a new prompt", r)
	}
}

// testGroupSameNumber: transactions of one number that share groups see
// each other's writes in order: no update is lost. The quota row of one
// number is read and written by batchWidth transactions at once, and the
// MOs of one number stored together are processed in arrival order.
func testGroupSameNumber(t *testing.T, open Open) {
	e := newEnv(t, open, nil)
	now := e.clock.Now()
	day, month := now.In(shanghai).Format("2006-01-02"), now.In(shanghai).Format("2006-01")+"-01"
	errs := make([]error, batchWidth)
	together(batchWidth, func(i int) {
		errs[i] = e.store.InTx(e.ctx, func(tx billing.Tx) error {
			q, err := tx.LockQuota(e.ctx, phoneA, billing.MethodPhone, day, month)
			if err != nil {
				return err
			}
			q.Day, q.Month = day, month
			q.DaySpent++
			q.MonthSpent += 2
			return tx.SaveQuota(e.ctx, q)
		})
	})
	for i, err := range errs {
		if err != nil {
			t.Fatalf("transaction %d: %v", i, err)
		}
	}
	if q := e.quota(phoneA); q.DaySpent != batchWidth || q.MonthSpent != 2*batchWidth {
		t.Fatalf("quota after %d increments: day %d month %d, want %d and %d", batchWidth, q.DaySpent, q.MonthSpent, batchWidth, 2*batchWidth)
	}

	// Two MOs of phoneB stored in one intake batch: the purchase is
	// answered before the quota query that follows it.
	bs, ok := e.store.(billing.MOBatchStore)
	if !ok {
		t.Fatalf("%T does not implement billing.MOBatchStore", e.store)
	}
	ids, err := bs.InsertMOs(e.ctx, []billing.InboundMO{
		{Bind: "b", MSISDN: phoneB, ServiceAddr: open1, Body: "VIP", ReceivedAt: now},
		{Bind: "b", MSISDN: phoneB, ServiceAddr: open1, Body: "CX", ReceivedAt: now},
	})
	if err != nil || len(ids) != 2 {
		t.Fatalf("InsertMOs: %v, %v", ids, err)
	}
	rs, err := e.sms.Drain(e.ctx)
	if err != nil || len(rs) != 2 || rs[0].Outcome != billing.OutcomePrompted || rs[1].Outcome != billing.OutcomeQueried {
		t.Fatalf("processing two MOs of one number: %+v, %v; want the prompt, then the query", rs, err)
	}
	ms := e.mts()
	if len(ms) != 2 || ms[0].ID > ms[1].ID || codeIn(t, ms[0].Body) == "" {
		t.Fatalf("MTs %+v, want the prompt first", ms)
	}
}

// testGroupPayments: many numbers buy and confirm at once, so reservations,
// finalizations and their MTs share groups; every payment is charged once,
// the quotas hold what was charged, and a second confirmation of each,
// again all at once, charges nothing more.
func testGroupPayments(t *testing.T, open Open) {
	e := newEnv(t, open, nil)
	now := e.clock.Now()
	n := batchWidth / 2
	number := func(i int) string { return fmt.Sprintf("86139200%05d", i) }
	codes := make([]string, n)
	for i := range n {
		_, codes[i] = e.buy(number(i), open1, "VIP")
	}
	confirm := func() []billing.Result {
		rs := make([]billing.Result, n)
		errs := make([]error, n)
		together(n, func(i int) {
			rs[i], errs[i] = e.sms.Handle(context.Background(), billing.InboundMO{Bind: "b", MSISDN: number(i), ServiceAddr: open1, Body: codes[i], ReceivedAt: now})
		})
		for i, err := range errs {
			if err != nil {
				t.Fatalf("confirmation %d: %v", i, err)
			}
		}
		return rs
	}
	for i, r := range confirm() {
		if r.Outcome != billing.OutcomeCharged {
			t.Fatalf("confirmation %d: %+v, want charged", i, r)
		}
	}
	for i, r := range confirm() {
		if r.Outcome != billing.OutcomeRejected || r.Reason != billing.ReasonAlreadyPaid {
			t.Fatalf("second confirmation %d: %+v, want already_paid", i, r)
		}
	}
	if k, total := e.charger.Debited(); k != n || total != billing.Money(n)*1500 {
		t.Fatalf("debited %d payments, %s; want %d, %s", k, total, n, billing.Money(n)*1500)
	}
	for i := range n {
		if q := e.quota(number(i)); q.DaySpent != 1500 {
			t.Fatalf("quota of payer %d: %s spent today, want 15.00", i, q.DaySpent)
		}
	}
}
