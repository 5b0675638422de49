package billing

import (
	"context"
	"errors"
	"time"
)

// This file is billing's side of operations (issue 16): the Observer the
// engine tells what it did, so that a metrics exporter (package ops, with
// Prometheus) can count it without billing importing any of that, and the
// backlog a store reports on demand. An Observer is told after the fact;
// it must be cheap, must not block and must never change what the engine
// decides. The engine's default is NoObserver.

// RequestKind names a request of the typed API, for an Observer.
type RequestKind string

// The requests an Observer is told about.
const (
	RequestPurchase RequestKind = "purchase"
	RequestConfirm  RequestKind = "confirm"
	RequestCharge   RequestKind = "charge"
	RequestCancel   RequestKind = "cancel"
	RequestReject   RequestKind = "reject"
)

// DebitOutcome is what one charger call came to.
type DebitOutcome string

// Debit outcomes (an Observer's labels).
const (
	DebitOK       DebitOutcome = "ok"       // taken
	DebitDeclined DebitOutcome = "declined" // refused, nothing taken (*Declined)
	DebitUnknown  DebitOutcome = "unknown"  // timeout or lost: the recovery sweep resolves it
)

// Observer is told what the billing side did. Every method is called after
// the fact, outside any transaction, and must return at once.
type Observer interface {
	// Request: a request of the typed API returned res, or err (nothing
	// committed).
	Request(kind RequestKind, res Result, err error)
	// Debit: one Debit call to the charger named charger took d.
	Debit(charger string, outcome DebitOutcome, reason Reason, d time.Duration)
	// Sweep: one run of the sweep named kind ("expiry", "recovery")
	// resolved n and ended with err.
	Sweep(kind string, n int, err error)
	// MOProcessed: a stored MO was handled (err nil) or failed and will be
	// retried (err non-nil).
	MOProcessed(err error)
	// LimiterError: the frequency-rule store (Redis) could not answer; the
	// engine failed closed.
	LimiterError(err error)
}

// NoObserver observes nothing: the engine's default.
type NoObserver struct{}

// Request implements Observer.
func (NoObserver) Request(RequestKind, Result, error) {}

// Debit implements Observer.
func (NoObserver) Debit(string, DebitOutcome, Reason, time.Duration) {}

// Sweep implements Observer.
func (NoObserver) Sweep(string, int, error) {}

// MOProcessed implements Observer.
func (NoObserver) MOProcessed(error) {}

// LimiterError implements Observer.
func (NoObserver) LimiterError(error) {}

// Observer returns the engine's observer (NoObserver when none was given),
// for the channels that hand it what only they see.
func (e *Engine) Observer() Observer {
	if e == nil || e.obs == nil {
		return NoObserver{}
	}
	return e.obs
}

// observe tells the observer what a request returned (called deferred by
// the typed API's methods).
func (e *Engine) observe(kind RequestKind, res *Result, err *error) {
	e.Observer().Request(kind, *res, *err)
}

// ObserveCharger wraps c so that every Debit is timed and its outcome told
// to o under the name charger ("accounts", "bank", "ocs"). Refund and
// Status pass through.
func ObserveCharger(charger string, c Charger, o Observer) Charger {
	if o == nil {
		return c
	}
	return observedCharger{Charger: c, name: charger, o: o}
}

type observedCharger struct {
	Charger
	name string
	o    Observer
}

func (c observedCharger) Debit(ctx context.Context, key, msisdn string, amount Money) error {
	start := time.Now() // a duration for operations, not a business time
	err := c.Charger.Debit(ctx, key, msisdn, amount)
	outcome, reason := DebitOK, Reason("")
	var d *Declined
	switch {
	case errors.As(err, &d):
		outcome, reason = DebitDeclined, d.Reason
	case err != nil:
		outcome = DebitUnknown
	}
	c.o.Debit(c.name, outcome, reason, time.Since(start))
	return err
}

// ObserveLimiter wraps l so that every error (Redis unreachable or too
// slow) is told to o before the engine fails closed on it.
func ObserveLimiter(l Limiter, o Observer) Limiter {
	if o == nil || l == nil {
		return l
	}
	return observedLimiter{l: l, o: o}
}

type observedLimiter struct {
	l Limiter
	o Observer
}

func (l observedLimiter) Allow(ctx context.Context, rule Rule, key string) (Decision, error) {
	d, err := l.l.Allow(ctx, rule, key)
	if err != nil {
		l.o.LimiterError(err)
	}
	return d, err
}

// Backlog is what is waiting in a store at one moment: the levels an
// operator watches. Ages are measured from now; zero when nothing waits.
type Backlog struct {
	// MOs stored and not processed yet, and the age of the oldest.
	UnprocessedMOs int64
	OldestMOAge    time.Duration
	// MTs in the outbox not sent yet, and the age of the oldest.
	OutboxUnsent    int64
	OldestOutboxAge time.Duration
	// Charges reserved whose debit is not resolved yet.
	PendingCharges int64
	// Pending orders waiting for their confirmation code.
	PendingOrders int64
}

// BacklogReader reports a store's Backlog. It must be cheap (indexed
// counts); the metrics exporter calls it on scrape.
type BacklogReader interface {
	Backlog(ctx context.Context, now time.Time) (Backlog, error)
}

// Refusal is one refusal the engine answered, as the operator reports
// count it (table refusals): no phone number.
type Refusal struct {
	At       time.Time
	Request  RequestKind
	Reason   Reason
	Merchant string // "" when the refusal names no merchant
}

// RefusalLog keeps refusals for the reports. Both stores implement it.
type RefusalLog interface {
	// RecordRefusals appends rs in one transaction.
	RecordRefusals(ctx context.Context, rs []Refusal) error
}
