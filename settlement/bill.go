package settlement

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"strconv"

	"github.com/carrierbill/carrierbill/billing"
)

// Terms are a merchant's settlement terms (filled from configuration).
type Terms struct {
	Name           string        // shown on the bill; defaults to the code
	RevenueShareBP int64         // the operator's share in basis points (30% = 3000)
	PerMessageFee  billing.Money // charged to the merchant per MT; 0: none
}

// TermsBook gives each merchant its terms; merchants not listed get Default.
type TermsBook struct {
	Merchants map[string]Terms
	Default   Terms
}

// For returns merchant's terms.
func (b TermsBook) For(merchant string) Terms {
	t, ok := b.Merchants[merchant]
	if !ok {
		t = b.Default
	}
	if t.Name == "" {
		t.Name = merchant
	}
	return t
}

// Bill is one merchant's settlement bill for a day or a month.
type Bill struct {
	Merchant       string
	Name           string
	Period         string // "2026-11-20" or "2026-11"
	Totals         Totals
	RevenueShareBP int64
	OperatorShare  billing.Money // the one rounded figure
	Messages       int64
	PerMessageFee  billing.Money
	MessageFees    billing.Money
	NetPayable     billing.Money // Totals.Net() − OperatorShare − MessageFees
}

// ComputeBill applies terms to a period's totals. The revenue share is the
// only rounding: net × bp / 10000, half away from zero, to the fen.
func ComputeBill(merchant, period string, t Totals, messages int64, terms Terms) Bill {
	net := t.Net()
	share := shareOf(net, terms.RevenueShareBP)
	fees := billing.Money(messages) * terms.PerMessageFee
	name := terms.Name
	if name == "" {
		name = merchant
	}
	return Bill{
		Merchant: merchant, Name: name, Period: period, Totals: t,
		RevenueShareBP: terms.RevenueShareBP, OperatorShare: share,
		Messages: messages, PerMessageFee: terms.PerMessageFee, MessageFees: fees,
		NetPayable: net - share - fees,
	}
}

// shareOf returns amount × bp / 10000 rounded half away from zero.
func shareOf(amount billing.Money, bp int64) billing.Money {
	p := int64(amount) * bp
	q, r := p/10000, p%10000
	if r >= 5000 {
		q++
	} else if r <= -5000 {
		q--
	}
	return billing.Money(q)
}

// BillHeader is the bill's header line.
var BillHeader = []string{"merchant", "name", "period", "payments", "refunds", "gross", "refunded", "net_sales",
	"revenue_share_percent", "operator_share", "messages", "per_message_fee", "message_fees", "net_payable"}

// Encode writes the bill as a two-line CSV (header, values).
func (b Bill) Encode() ([]byte, error) {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	w.Write(BillHeader)
	w.Write([]string{b.Merchant, b.Name, b.Period,
		strconv.FormatInt(b.Totals.Payments, 10), strconv.FormatInt(b.Totals.Refunds, 10),
		b.Totals.Paid.String(), b.Totals.Refunded.String(), b.Totals.Net().String(),
		billing.Money(b.RevenueShareBP).String(), b.OperatorShare.String(),
		strconv.FormatInt(b.Messages, 10), b.PerMessageFee.String(), b.MessageFees.String(), b.NetPayable.String()})
	w.Flush()
	if err := w.Error(); err != nil {
		return nil, fmt.Errorf("encoding bill of %s for %s: %w", b.Merchant, b.Period, err)
	}
	return buf.Bytes(), nil
}
