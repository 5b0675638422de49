package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/carrierbill/carrierbill/settlement"
)

// Issue 20.7: settle prints per merchant payments, refunds and net (and, for
// bills, what the merchant is paid), a total line, then the files.
func TestSettlePrintsTotalsPerMerchant(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	printSettleResult(&buf, settlement.Result{
		Job: settlement.JobStatements, Key: "2026-11-20", Merchants: 2,
		Files: []string{"st/8001/statement-8001-2026-11-20.csv", "st/8002/statement-8002-2026-11-20.csv"},
		Totals: map[string]settlement.Totals{
			"8002": {Payments: 1, Paid: 300},
			"8001": {Payments: 2, Refunds: 1, Paid: 2100, Refunded: 500},
		},
	})
	want := settlement.JobStatements + ` 2026-11-20: 2 merchant(s)
  merchant   payments         paid  refunds     refunded          net
  8001              2        21.00        1         5.00        16.00
  8002              1         3.00        0         0.00         3.00
  total             3        24.00        1         5.00        19.00
  st/8001/statement-8001-2026-11-20.csv
  st/8002/statement-8002-2026-11-20.csv
`
	if got := buf.String(); got != want {
		t.Fatalf("got:\n%s\nwant:\n%s", got, want)
	}

	buf.Reset()
	printSettleResult(&buf, settlement.Result{
		Job: settlement.JobDailyBills, Key: "2026-11-20", Merchants: 1,
		Totals: map[string]settlement.Totals{"8001": {Payments: 2, Refunds: 1, Paid: 2100, Refunded: 500}},
		Bills:  []settlement.Bill{{Merchant: "8001", NetPayable: 1120}},
	})
	if got := buf.String(); !strings.Contains(got, "net_payable") || !strings.Contains(got, "11.20") || strings.Contains(got, "total") {
		t.Fatalf("bill run:\n%s", got)
	}
}
