// Package reports makes the operator's daily and monthly reports (issue
// 16): volumes, revenue, the purchase → prompt → confirmation → charge
// funnel, rejections by reason, top merchants, limit hits and delivery
// receipt rates, written as CSV and as one self-contained HTML page whose
// charts are SVG drawn here (no script, no CDN, nothing fetched).
//
// Revenue comes from the ledger: the payments and refunds settlement's
// snapshot streams (the statement lines), summed per merchant and checked
// against the ledger's own totals (LedgerTotals) to the fen before
// anything is written: a report that does not add up is an error, never a
// file. Counts (volumes, funnel, refusals, receipts) come from an Activity
// source (reports/postgres, reports/sqlite).
//
// It only reads. It must never write billing's tables, and never show a
// phone number, a code or a password: a report holds counts and money.
package reports

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/settlement"
)

// Period is a report's business period: a calendar day or month in the
// operator's zone, half-open [From, To).
type Period struct {
	Label    string // "2026-11-20" or "2026-11"
	Monthly  bool
	From, To time.Time
}

// ParsePeriod reads "2026-11-20" (a day) or "2026-11" (a month) in loc.
func ParsePeriod(s string, loc *time.Location) (Period, error) {
	if d, err := time.ParseInLocation("2006-01-02", s, loc); err == nil {
		return Period{Label: s, From: d, To: d.AddDate(0, 0, 1)}, nil
	}
	if m, err := time.ParseInLocation("2006-01", s, loc); err == nil {
		return Period{Label: s, Monthly: true, From: m, To: m.AddDate(0, 1, 0)}, nil
	}
	return Period{}, fmt.Errorf("period %q: want a date 2026-11-20 or a month 2026-11", s)
}

// Buckets are the chart's time slices: hours of a day, days of a month.
func (p Period) Buckets() []time.Time {
	var out []time.Time
	for t := p.From; t.Before(p.To); {
		out = append(out, t)
		if p.Monthly {
			t = t.AddDate(0, 0, 1)
		} else {
			t = t.Add(time.Hour)
		}
	}
	return out
}

// Activity is what happened in a period besides money.
type Activity struct {
	MOsReceived int64 // MOs stored
	MTsWritten  int64 // outbox rows created
	MTsSent     int64 // of those, sent
	// The funnel of the orders created in the period.
	Purchases int64 // orders created
	Prompted  int64 // of those, with a prompt MT
	Confirmed int64 // of those, with a charge (the code was right and the limits held at the reservation)
	Charged   int64 // of those, whose charge succeeded
	Expired   int64 // of those, expired unconfirmed
	// Refusals by reason (and by merchant, "" when none), from the refusal log.
	Refusals map[billing.Reason]int64
	// Receipts: parts of the MTs created in the period, by their state
	// ("" none yet, DELIVRD, UNDELIV, ...).
	Parts map[billing.DeliveryState]int64
	// MOsByBucket counts MOs per chart bucket (index in Period.Buckets).
	MOsByBucket []int64
}

// ActivitySource counts a period's activity. Implementations:
// reports/postgres and reports/sqlite.
type ActivitySource interface {
	Activity(ctx context.Context, p Period) (Activity, error)
}

// MerchantLine is one merchant's money in the period.
type MerchantLine struct {
	Merchant string
	Name     string
	settlement.Totals
}

// Report is one period's report.
type Report struct {
	Period    Period
	Generated time.Time
	Activity
	// Revenue: every merchant's payments and refunds, summed from the
	// statement lines and equal to the ledger's totals.
	Revenue settlement.Totals
	// Merchants by net revenue, largest first.
	Merchants []MerchantLine
	// PaidByBucket and PaymentsByBucket follow Period.Buckets.
	PaidByBucket     []billing.Money
	PaymentsByBucket []int64
}

// LimitReasons are the refusals a report counts as limit hits.
var LimitReasons = []billing.Reason{billing.ReasonPerPaymentLimit, billing.ReasonDailyLimit, billing.ReasonMonthlyLimit,
	billing.ReasonTooFrequent, billing.ReasonTooManyPending}

// LimitHits returns the refusals for a limit, in LimitReasons' order.
func (r *Report) LimitHits() []ReasonCount {
	var out []ReasonCount
	for _, reason := range LimitReasons {
		out = append(out, ReasonCount{reason, r.Refusals[reason]})
	}
	return out
}

// ReasonCount is a count of one reason.
type ReasonCount struct {
	Reason billing.Reason
	Count  int64
}

// Rejections returns every reason refused at least once, most frequent
// first (then by billing.Reasons' order).
func (r *Report) Rejections() []ReasonCount {
	var out []ReasonCount
	for _, reason := range billing.Reasons {
		if n := r.Refusals[reason]; n > 0 {
			out = append(out, ReasonCount{reason, n})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Count > out[j].Count })
	return out
}

// DeliveryRate is the delivered share of the parts with a final receipt,
// in per mille (0 when none).
func (r *Report) DeliveryRate() (delivered, final int64, permille int64) {
	for st, n := range r.Parts {
		if st.Final() {
			final += n
			if st == billing.DeliveryDelivered {
				delivered += n
			}
		}
	}
	if final > 0 {
		permille = delivered * 1000 / final
	}
	return delivered, final, permille
}

// Maker makes reports from the ledger (a settlement Source) and an
// ActivitySource.
type Maker struct {
	Ledger    settlement.Source
	Activity  ActivitySource
	Location  *time.Location
	Merchants map[string]string // code → name
	Now       func() time.Time
}

// ErrMismatch: the statement lines do not add up to the ledger's totals.
var ErrMismatch = errors.New("reports: the payments do not add up to the ledger")

// Make builds the report of p.
func (m *Maker) Make(ctx context.Context, p Period) (*Report, error) {
	r := &Report{Period: p, Generated: m.Now()}
	buckets := p.Buckets()
	r.PaidByBucket, r.PaymentsByBucket = make([]billing.Money, len(buckets)), make([]int64, len(buckets))
	snap, err := m.Ledger.Snapshot(ctx)
	if err != nil {
		return nil, fmt.Errorf("opening the ledger: %w", err)
	}
	defer snap.Close(context.WithoutCancel(ctx))
	per := map[string]*settlement.Totals{}
	err = snap.Lines(ctx, "", p.From, p.To, func(l settlement.Line) error {
		t := per[l.Merchant]
		if t == nil {
			t = &settlement.Totals{}
			per[l.Merchant] = t
		}
		t.Add(l)
		r.Revenue.Add(l)
		if l.Kind != settlement.KindRefund { // payments and renewals
			i := bucketOf(p, l.At)
			r.PaidByBucket[i] += l.Amount
			r.PaymentsByBucket[i]++
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading the payments of %s: %w", p.Label, err)
	}
	ledger, err := snap.LedgerTotals(ctx, p.From, p.To)
	if err != nil {
		return nil, fmt.Errorf("reading the ledger totals of %s: %w", p.Label, err)
	}
	for code, lt := range ledger {
		got := settlement.Totals{}
		if t := per[code]; t != nil {
			got = *t
		}
		if got.Paid != lt.Paid || got.Refunded != lt.Refunded || got.Payments != lt.Payments || got.Refunds != lt.Refunds {
			return nil, fmt.Errorf("%w: merchant %s: payments %s (%d) refunds %s (%d), ledger %s (%d) and %s (%d)", ErrMismatch, code,
				got.Paid, got.Payments, got.Refunded, got.Refunds, lt.Paid, lt.Payments, lt.Refunded, lt.Refunds)
		}
	}
	for code, t := range per {
		if _, ok := ledger[code]; !ok && (t.Paid != 0 || t.Refunded != 0) {
			return nil, fmt.Errorf("%w: merchant %s has payments the ledger does not", ErrMismatch, code)
		}
		r.Merchants = append(r.Merchants, MerchantLine{Merchant: code, Name: m.Merchants[code], Totals: *t})
	}
	sort.Slice(r.Merchants, func(i, j int) bool {
		a, b := r.Merchants[i], r.Merchants[j]
		if a.Net() != b.Net() {
			return a.Net() > b.Net()
		}
		return a.Merchant < b.Merchant
	})
	if r.Activity, err = m.Activity.Activity(ctx, p); err != nil {
		return nil, fmt.Errorf("counting the activity of %s: %w", p.Label, err)
	}
	if len(r.MOsByBucket) != len(buckets) {
		r.MOsByBucket = make([]int64, len(buckets))
	}
	return r, nil
}

// bucketOf is the chart bucket of t in p.
func bucketOf(p Period, t time.Time) int {
	t = t.In(p.From.Location())
	n := len(p.Buckets())
	var i int
	if p.Monthly {
		i = t.Day() - 1
	} else {
		i = int(t.Sub(p.From) / time.Hour)
	}
	return min(max(i, 0), n-1)
}

// BucketOf is bucketOf for the activity sources.
func BucketOf(p Period, t time.Time) int { return bucketOf(p, t) }
