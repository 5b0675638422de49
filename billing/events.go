package billing

import (
	"context"
	"fmt"
	"time"
)

// EventKind says what happened that a subscriber may be told.
type EventKind string

// The events the engine hands its Notifier, inside the transaction of the
// state change that causes them.
const (
	EventPrompt          EventKind = "prompt"           // a new order (or the pending one again): Order, Merchant, Card for a card order
	EventReceipt         EventKind = "receipt"          // paid: Order, Charge, Quota
	EventRefused         EventKind = "refused"          // Reason (+ Order, Quota, Limits, RetryAfter, AttemptsLeft as the reason needs)
	EventExpired         EventKind = "expired"          // an order timed out unconfirmed (the expiry sweep)
	EventCancelled       EventKind = "cancelled"        // an order was cancelled on request
	EventRefunded        EventKind = "refunded"         // Order, Charge, Refund
	EventQuota           EventKind = "quota"            // a query: Query
	EventBalance         EventKind = "balance"          // a card balance: Card, Balance
	EventPasswordChanged EventKind = "password_changed" // the wallet password changed
	EventCardBound       EventKind = "card_bound"       // Card; InitialPassword when a wallet was opened
	EventCardUnbound     EventKind = "card_unbound"     // Card; WasDefault
	EventWalletUnlocked  EventKind = "wallet_unlocked"

	// Subscriptions (billing/subscription.go).
	EventSubscriptions      EventKind = "subscriptions"       // a listing: Subscriptions, numbered
	EventUnsubscribed       EventKind = "unsubscribed"        // Subscriptions cancelled
	EventRenewalReminder    EventKind = "renewal_reminder"    // Subscriptions[0] renews soon
	EventSubscriptionLapsed EventKind = "subscription_lapsed" // Subscriptions[0] lapsed after failed renewals; Reason
)

// Event is one thing that happened to a subscriber, handed to the Notifier
// to render. It is typed so that each channel writes its own words; the
// engine holds no subscriber text.
type Event struct {
	Kind    EventKind
	Channel Channel // the channel of the request that caused it ("" for sweeps)
	Origin  string  // the request's (or order's) channel address
	MSISDN  string
	Reason  Reason

	Merchant *Merchant // nil when unknown
	Order    *Order
	Charge   *Charge
	Refund   *Refund
	Card     *Card

	Quota        *QuotaLeft
	Limits       Limits
	Query        *QueryResult
	RetryAfter   time.Duration
	AttemptsLeft int
	Balance      Money
	CodeValidity time.Duration
	WasDefault   bool
	// Subscription is the subscription a receipt started or renewed (nil:
	// the order is no subscription); Subscriptions those a subscription
	// event is about.
	Subscription  *Subscription
	Subscriptions []Subscription
	// FreshCode marks a prompt whose order got a new code because a risk
	// rule asked for one (the old code no longer confirms).
	FreshCode bool
	// wrongCode marks a refusal that counted a wrong code (the risk rules
	// learn of it once the transaction commits).
	wrongCode bool
	// InitialPassword is the wallet password a binding opened with. It is
	// the one secret an event carries: a Notifier puts it only in an MT
	// it returns with Secret set, never in a log.
	InitialPassword string
}

// Message is an MT a Notifier rendered.
type Message struct {
	From string // the address the MT comes from (SMS: the service address)
	Body string
	// Secret marks a body carrying a secret (an initial wallet password):
	// it is filed as OutboxSecret, which the store never keeps in clear
	// once sent.
	Secret bool
}

// Notifier renders events into MTs. It is called inside the engine's
// transaction and must not block or do I/O. ok false means the subscriber
// is not to be texted about this event (the channel answers otherwise, or
// the operator switched the text off).
type Notifier interface {
	Notify(ev Event) (m Message, ok bool)
}

// NoNotifier texts nothing (tests of the engine alone, and channels that
// answer every request themselves).
type NoNotifier struct{}

// Notify implements Notifier.
func (NoNotifier) Notify(Event) (Message, bool) { return Message{}, false }

// outboxKind is the outbox kind an event's MT is filed under.
func outboxKind(k EventKind) OutboxKind {
	switch k {
	case EventPrompt:
		return OutboxPrompt
	case EventReceipt:
		return OutboxReceipt
	case EventExpired, EventCancelled:
		return OutboxExpired
	case EventRefunded:
		return OutboxRefund
	case EventQuota, EventBalance:
		return OutboxQuery
	case EventPasswordChanged, EventCardBound, EventCardUnbound, EventWalletUnlocked:
		return OutboxCard
	case EventSubscriptions, EventUnsubscribed, EventRenewalReminder, EventSubscriptionLapsed:
		return OutboxSubscription
	}
	return OutboxReject
}

// notify renders ev and, when the Notifier has an MT for it, writes it to
// the outbox in tx.
func (e *Engine) notify(ctx context.Context, tx Tx, ev Event) error {
	if ev.Merchant == nil && ev.Order != nil {
		ev.Merchant, _ = e.cfg.merchant(ev.Order.Merchant)
	}
	e.nameSubscriptions(&ev)
	if ev.CodeValidity == 0 {
		ev.CodeValidity = e.cfg.CodeValidity
	}
	if e.hook != nil { // beside the MT: the merchant notification outbox (notify.go)
		if err := e.hook(ctx, tx, ev); err != nil {
			return fmt.Errorf("writing the %s event's hook: %w", ev.Kind, err)
		}
	}
	return enqueueEvent(ctx, tx, e.notifier, e.clock.Now(), ev)
}

// enqueueEvent is notify for the engine and the card service.
func enqueueEvent(ctx context.Context, tx interface {
	Enqueue(ctx context.Context, m OutboxMsg) (int64, error)
}, n Notifier, now time.Time, ev Event) error {
	m, ok := n.Notify(ev)
	if !ok {
		return nil
	}
	if m.From == "" {
		m.From = ev.Origin
	}
	var orderID int64
	if ev.Order != nil {
		orderID = ev.Order.ID
	}
	kind := outboxKind(ev.Kind)
	msg := OutboxMsg{MSISDN: ev.MSISDN, ServiceAddr: m.From, Body: m.Body, Kind: kind, OrderID: orderID, CreatedAt: now, NextAt: now}
	if m.Secret { // scrubbed (or sealed) by the store once sent: see OutboxSecret
		msg.Kind = OutboxSecret
	}
	if _, err := tx.Enqueue(ctx, msg); err != nil {
		return fmt.Errorf("writing %s MT: %w", ev.Kind, err)
	}
	return nil
}
