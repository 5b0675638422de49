package settlement

import (
	"context"
	"time"

	"github.com/carrierbill/carrierbill/billing"
)

// LineKind says whether a statement line is a payment or a refund.
type LineKind string

// Line kinds as written in the statement's type column.
const (
	KindPay     LineKind = "pay"
	KindRenewal LineKind = "renewal" // a monthly subscription's renewal (counted as a payment)
	KindRefund  LineKind = "refund"
)

// Line is one payment or refund of a merchant's business day.
type Line struct {
	Merchant    string
	At          time.Time // business time: charge resolved_at, refund created_at
	ChargeID    int64     // the platform transaction id
	RefundID    int64     // 0 for a payment
	MerchantRef string    // the merchant's order reference, "" if none
	MSISDN      string    // in clear: mask before writing anywhere
	Product     string    // product name as shown to the subscriber
	Kind        LineKind
	Method      string        // "phone" or "card"
	Amount      billing.Money // always positive; refunds are subtracted by the reader
}

// Totals are the money of one merchant over a period.
type Totals struct {
	Payments int64         // number of payments
	Refunds  int64         // number of refunds
	Paid     billing.Money // sum of payments
	Refunded billing.Money // sum of refunds
}

// Net is Paid − Refunded.
func (t Totals) Net() billing.Money { return t.Paid - t.Refunded }

// Add adds one line to t.
func (t *Totals) Add(l Line) {
	if l.Kind == KindRefund {
		t.Refunds++
		t.Refunded += l.Amount
		return
	}
	t.Payments++
	t.Paid += l.Amount
}

// PhoneCharge is one succeeded phone-account charge, as the carrier billed it.
type PhoneCharge struct {
	ID     int64
	MSISDN string
	Amount billing.Money
	At     time.Time
}

// Source reads the ledger. Implementations: settlement/postgres (pgx) and the
// embedded store. SQL lives only in the implementations.
type Source interface {
	// Snapshot opens a read-only view in which every read sees the same
	// committed state (REPEATABLE READ READ ONLY in Postgres). The caller
	// closes it.
	Snapshot(ctx context.Context) (Snapshot, error)
}

// Snapshot is one consistent, read-only view of the ledger. Periods are
// half-open: [from, to).
type Snapshot interface {
	// Lines streams the payments (succeeded charges resolved in the period)
	// and refunds (created in the period) of merchant, or of every merchant
	// when merchant is "", ordered by merchant, time, payments before
	// refunds, charge id, refund id. Memory must not grow with the number of
	// rows. fn's error stops the stream and is returned.
	Lines(ctx context.Context, merchant string, from, to time.Time, fn func(Line) error) error
	// LedgerTotals sums the ledger's merchant payable postings of the period
	// per merchant (payments by their charge's business time, refunds by the
	// refund's), independently of Lines.
	LedgerTotals(ctx context.Context, from, to time.Time) (map[string]Totals, error)
	// MessageCounts counts the MTs written for each merchant's orders in the
	// period (for per-message fees).
	MessageCounts(ctx context.Context, from, to time.Time) (map[string]int64, error)
	// FirstActivity is the business time of the first succeeded charge; ok
	// is false when there is none.
	FirstActivity(ctx context.Context) (at time.Time, ok bool, err error)
	// PhoneCharges streams the succeeded phone-account charges resolved in
	// the period, ordered by id (the carrier audit).
	PhoneCharges(ctx context.Context, from, to time.Time, fn func(PhoneCharge) error) error
	// Close ends the snapshot.
	Close(ctx context.Context) error
}

// Leases claims single-run jobs. A run is (job, run key); the key is a
// business date "2026-11-20" or month "2026-11".
type Leases interface {
	// Claim takes the run for holder until expires when nobody holds it, it
	// is not done, or its previous holder's lease expired before now. It
	// returns ErrDone when the run is finished and ErrHeld when another
	// holder's lease is live.
	Claim(ctx context.Context, job, key, holder string, now, expires time.Time) error
	// Extend moves holder's lease to expires; ErrLost if holder no longer
	// holds it.
	Extend(ctx context.Context, job, key, holder string, expires time.Time) error
	// Finish marks holder's run done at now; ErrLost if holder no longer
	// holds it.
	Finish(ctx context.Context, job, key, holder string, now time.Time) error
	// Done returns the keys of job's finished runs.
	Done(ctx context.Context, job string) (map[string]bool, error)
}
