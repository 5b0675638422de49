package main

import (
	"fmt"
	"io"
	"sort"

	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/settlement"
)

// printSettleResult prints what one settlement run wrote: per merchant the
// payments, refunds and net of the period (the figures of the statement's
// summary line; a bill run adds what the merchant is paid), a total line,
// then the files.
func printSettleResult(w io.Writer, res settlement.Result) {
	fmt.Fprintf(w, "%s %s: %d merchant(s)\n", res.Job, res.Key, res.Merchants)
	if len(res.Totals) > 0 {
		payable := map[string]billing.Money{}
		for _, b := range res.Bills {
			payable[b.Merchant] = b.NetPayable
		}
		bills := len(res.Bills) > 0
		ms := make([]string, 0, len(res.Totals))
		for m := range res.Totals {
			ms = append(ms, m)
		}
		sort.Strings(ms)
		head := fmt.Sprintf("  %-10s %8s %12s %8s %12s %12s", "merchant", "payments", "paid", "refunds", "refunded", "net")
		if bills {
			head += fmt.Sprintf(" %12s", "net_payable")
		}
		fmt.Fprintln(w, head)
		var sum settlement.Totals
		var sumPayable billing.Money
		row := func(name string, t settlement.Totals, p billing.Money) {
			line := fmt.Sprintf("  %-10s %8d %12s %8d %12s %12s", name, t.Payments, t.Paid, t.Refunds, t.Refunded, t.Net())
			if bills {
				line += fmt.Sprintf(" %12s", p)
			}
			fmt.Fprintln(w, line)
		}
		for _, m := range ms {
			t := res.Totals[m]
			row(m, t, payable[m])
			sum.Payments += t.Payments
			sum.Refunds += t.Refunds
			sum.Paid += t.Paid
			sum.Refunded += t.Refunded
			sumPayable += payable[m]
		}
		if len(ms) > 1 {
			row("total", sum, sumPayable)
		}
	}
	for _, f := range res.Files {
		fmt.Fprintf(w, "  %s\n", f)
	}
}
