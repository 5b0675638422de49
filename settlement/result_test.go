package settlement_test

import (
	"context"
	"testing"

	"github.com/carrierbill/carrierbill/clock"
	"github.com/carrierbill/carrierbill/settlement"
)

// Issue 20.7: a run's Result carries each merchant's totals (the figures of
// the statement's summary line) and, for bills, the bills, so `settle` can
// print them.
func TestResultCarriesTheTotals(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c1 := f.pay("8001", "phone", 1500, at(2026, 11, 20, 0, 0, 0), payOpt{msisdn: "8613800000001"})
	f.pay("8001", "card", 600, at(2026, 11, 20, 23, 59, 59), payOpt{msisdn: "13912345678"})
	f.pay("8002", "phone", 300, at(2026, 11, 20, 12, 0, 0), payOpt{})
	f.refund(c1, 500, at(2026, 11, 20, 10, 0, 0))
	r := newRunner(t, f, t.TempDir(), clock.NewFake(at(2026, 11, 21, 2, 0, 0)), nil)
	want := map[string]settlement.Totals{
		"8001": {Payments: 2, Refunds: 1, Paid: 2100, Refunded: 500},
		"8002": {Payments: 1, Paid: 300},
	}
	for _, job := range []string{settlement.JobStatements, settlement.JobDailyBills} {
		res, err := r.Generate(context.Background(), job, "2026-11-20", "")
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Totals) != len(want) {
			t.Fatalf("%s: totals %+v, want %+v", job, res.Totals, want)
		}
		for m, w := range want {
			if res.Totals[m] != w {
				t.Errorf("%s: totals of %s %+v, want %+v", job, m, res.Totals[m], w)
			}
		}
		if job == settlement.JobDailyBills {
			if len(res.Bills) != 2 || res.Bills[0].Merchant != "8001" || res.Bills[0].NetPayable != 1120 {
				t.Errorf("bills %+v: want 8001 first, net payable 16.00 - 30%% = 11.20", res.Bills)
			}
		}
	}
}
