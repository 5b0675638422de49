package billing

import (
	"context"
	"time"
)

// This file holds the small interfaces billing consumes from the outside
// world besides its store. Adapters live in packages named for their
// dependency (billing/redis, billing/postgres) or beside their consumer.

// Rule is one frequency rule: at most Limit events per Period for one key.
// The minimum interval between two payments is the rule {Limit: 1, Period: 60s}.
type Rule struct {
	Name   string // stable name, used in the limiter's keys: "min_interval", "purchase_per_hour", "confirm_per_order"
	Limit  int
	Period time.Duration
}

// Decision is a limiter's answer.
type Decision struct {
	Allowed    bool
	RetryAfter time.Duration // when not allowed: how long until one event would be
}

// Limiter enforces frequency rules. Implementations fail closed: when they
// cannot answer they return an error, and the engine refuses the payment with
// ReasonServiceBusy and charges nothing.
type Limiter interface {
	// Allow counts one event of rule for key and reports whether it was
	// within the rule. A refused event is not counted.
	Allow(ctx context.Context, rule Rule, key string) (Decision, error)
}

// OutboundSMS is one MT taken from the outbox to be sent.
type OutboundSMS struct {
	ID   int64  // outbox row id; the sender's idempotency handle
	From string // service address, e.g. "106580088001"
	To   string // the subscriber's MSISDN
	Text string
}

// Sender sends MTs drained from the outbox (the SMPP transport in serve, a
// recorder in replay and tests). Send returns a nil error only when the SMSC
// accepted every part, with the bind and message_id of each part in part
// order (the Dispatcher keeps them to match delivery receipts; a sender
// that gets no ids, such as a recorder, returns none). The outbox retries
// on error, and the parts returned with an error are ignored.
type Sender interface {
	Send(ctx context.Context, m OutboundSMS) ([]SentPart, error)
}

// DebitStatus is what a charger knows about a debit key.
type DebitStatus string

// Debit outcomes reported by Charger.Status.
const (
	// DebitDone: the debit happened (money taken).
	DebitDone DebitStatus = "done"
	// DebitNone: the debit did not happen, and the charger guarantees it
	// never will (a later Debit with the key is refused).
	DebitNone DebitStatus = "none"
)

// Declined is a charger's definite refusal: nothing was taken. Any other
// error from Debit leaves the outcome unknown (timeout, connection lost);
// the engine then keeps the charge pending for the recovery sweep.
type Declined struct {
	Reason Reason // insufficient_balance, account_suspended, unknown_subscriber, ...
}

func (d *Declined) Error() string { return "debit declined: " + string(d.Reason) }

// Charger debits and refunds a payment account (the phone account, a bank).
// Every call is keyed: a repeated call with the same key is answered with
// the first call's outcome and never repeated.
type Charger interface {
	// Debit takes amount from msisdn's account under key. nil: taken.
	// *Declined: refused, nothing taken. Other errors: unknown outcome.
	Debit(ctx context.Context, key, msisdn string, amount Money) error
	// Refund gives amount back to msisdn's account under refundKey (not
	// the debit's key) for the debit keyed chargeKey (a bank refunds to the
	// card that paid). *Declined or an error when it cannot.
	Refund(ctx context.Context, refundKey, chargeKey, msisdn string, amount Money) error
	// Status reports whether the debit keyed key happened. When it did
	// not, the key is closed: a Debit with it afterwards is *Declined.
	Status(ctx context.Context, key string) (DebitStatus, error)
}
