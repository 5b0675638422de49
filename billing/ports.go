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
// recorder in replay and tests). Send returns nil only when the SMSC accepted
// every part; the outbox retries on error.
type Sender interface {
	Send(ctx context.Context, m OutboundSMS) error
}
