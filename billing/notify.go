package billing

import (
	"context"
	"errors"
	"time"
)

// This file holds what the merchant API (package merchantapi) keeps beside
// the engine's orders: the merchant's side of a payment and of a refund
// (clientCorrelator, referenceCode, sink), and the durable outbox of the
// merchant notifications. The engine knows none of it: an EventHook writes
// these rows in the transaction of the state change that causes them, so a
// notification is stored exactly when its payment changes, and never
// otherwise.

// EventHook is called with every event the engine writes, inside the same
// transaction and before the Notifier renders it. An error rolls the
// transaction back (the request fails and nothing is stored). It must not
// block or do network I/O: it only writes rows through tx.
type EventHook func(ctx context.Context, tx Tx, ev Event) error

// APIKind says how a merchant API payment was created.
type APIKind string

// Kinds of merchant API payments (api_payments.kind).
const (
	APIOneStep APIKind = "one_step" // POST /payments: charged once the subscriber confirms
	APITwoStep APIKind = "two_step" // POST /payments/prepare: validated, then confirmed
)

// APIPayment is a payment created through the merchant API: the order it
// drives and what the merchant sent with it.
type APIPayment struct {
	OrderID          int64
	Merchant         string
	Kind             APIKind
	ClientCorrelator string // "" when none was sent
	ReferenceCode    string
	// RequestHash fingerprints the whole request body: the same
	// clientCorrelator with another hash is a conflict.
	RequestHash string
	// Request is the merchant's amountTransaction as it was accepted
	// (JSON), echoed back in every answer about the payment.
	Request   []byte
	Sink      string // "" when none
	SinkToken string // the bearer sinkCredential, "" when none; never logged
	CreatedAt time.Time

	// Filled by the reads (not by InsertAPIPayment): the order as it
	// stands and, once it succeeded, when its charge was resolved.
	Order  Order
	PaidAt time.Time
}

// APIRefund is a refund created through the merchant API.
type APIRefund struct {
	RefundID         int64
	OrderID          int64
	Merchant         string
	Kind             string // "total" or "partial"
	ClientCorrelator string
	ReferenceCode    string
	RequestHash      string
	Request          []byte // the merchant's amountTransaction (JSON)
	Reason           string
	Sink             string
	SinkToken        string
	CreatedAt        time.Time

	// Filled by the reads: the refund itself.
	Refund Refund
}

// APIPaymentQuery selects a merchant's payments for a listing.
type APIPaymentQuery struct {
	Merchant string
	From, To time.Time // created_at bounds, inclusive; zero: open
	Asc      bool      // oldest first; default newest first
	Limit    int       // at most this many rows
}

// Notification is one merchant notification (a CloudEvent) in the durable
// outbox.
type Notification struct {
	ID        int64
	EventID   string // the CloudEvent id: unique, a second insert is dropped
	Merchant  string
	OrderID   int64
	Sink      string
	SinkToken string // never logged
	Body      []byte // the CloudEvent, structured JSON, exactly as sent
	CreatedAt time.Time
	NextAt    time.Time // not before (retry backoff, or the lease of a claim)
	Attempts  int       // delivery attempts so far (claims)
	// DeliveredAt is set once the sink answered 2xx; FailedAt once the
	// last retry failed (the dispatcher gave up). Zero otherwise.
	DeliveredAt time.Time
	FailedAt    time.Time
	LastError   string
}

// Errors of the merchant API's rows.
var (
	// ErrDuplicateCorrelator: the merchant already used this
	// clientCorrelator (api_payments_correlator, api_refunds_correlator).
	ErrDuplicateCorrelator = errors.New("billing: clientCorrelator already used by this merchant")
	// ErrDuplicateReference: the merchant already used this referenceCode
	// (api_payments_reference, api_refunds_reference).
	ErrDuplicateReference = errors.New("billing: referenceCode already used by this merchant")
)

// NotifyTx is the part of Tx the merchant API's EventHook writes through.
type NotifyTx interface {
	// InsertAPIPayment stores p (Order and PaidAt are ignored).
	// ErrDuplicateCorrelator or ErrDuplicateReference.
	InsertAPIPayment(ctx context.Context, p APIPayment) error

	// APIPaymentOfOrder returns the API payment of the order orderID
	// (without Order and PaidAt). ErrNotFound when the order was not
	// created through the API.
	APIPaymentOfOrder(ctx context.Context, orderID int64) (APIPayment, error)

	// InsertAPIRefund stores r (Refund is ignored).
	// ErrDuplicateCorrelator or ErrDuplicateReference.
	InsertAPIRefund(ctx context.Context, r APIRefund) error

	// APIRefundOf returns the API refund refundID (without Refund).
	// ErrNotFound when the refund was not made through the API.
	APIRefundOf(ctx context.Context, refundID int64) (APIRefund, error)

	// EnqueueNotification writes n to the notification outbox unless a
	// notification with its EventID exists; it reports whether it wrote.
	EnqueueNotification(ctx context.Context, n Notification) (bool, error)
}

// NotifyStore is the part of Store the merchant API reads through and its
// notification dispatcher works on. Reads take no locks.
type NotifyStore interface {
	// NotificationBacklog counts the notifications not yet delivered nor
	// given up (pending), and of those the ones whose last delivery
	// failed (failing); both read the outbox's partial index of due rows.
	NotificationBacklog(ctx context.Context) (pending, failing int64, err error)

	// APIPayment returns merchant's payment of the order orderID, with the
	// order. ErrNotFound when there is none or it is another merchant's.
	APIPayment(ctx context.Context, merchant string, orderID int64) (APIPayment, error)

	// APIPaymentByCorrelator and APIPaymentByReference find merchant's
	// payment by its clientCorrelator or referenceCode, with the order.
	// ErrNotFound.
	APIPaymentByCorrelator(ctx context.Context, merchant, correlator string) (APIPayment, error)
	APIPaymentByReference(ctx context.Context, merchant, ref string) (APIPayment, error)

	// APIPayments lists the payments q selects, with their orders, by
	// created_at then order id (newest first unless q.Asc).
	APIPayments(ctx context.Context, q APIPaymentQuery) ([]APIPayment, error)

	// APIRefunds lists merchant's refunds of the order orderID with the
	// refunds, oldest first.
	APIRefunds(ctx context.Context, merchant string, orderID int64) ([]APIRefund, error)

	// APIRefundByCorrelator finds merchant's refund by clientCorrelator,
	// with the refund. ErrNotFound.
	APIRefundByCorrelator(ctx context.Context, merchant, correlator string) (APIRefund, error)

	// ClaimNotifications leases up to limit undelivered notifications due
	// at now (next_at <= now, not given up), oldest first: next_at becomes
	// leaseUntil and attempts grows by one, so no other caller gets them
	// until the lease ends (a dispatcher that dies mid-delivery leaves them
	// to the next). Claims of concurrent callers never overlap.
	ClaimNotifications(ctx context.Context, now, leaseUntil time.Time, limit int) ([]Notification, error)

	// MarkNotificationDelivered records that the sink took notification id
	// at at. Marking it again is a no-op. ErrNotFound.
	MarkNotificationDelivered(ctx context.Context, id int64, at time.Time) error

	// MarkNotificationFailed records a failed delivery: next_at becomes
	// nextAt and last_error errText; with giveUp, failed_at becomes at and
	// it is never claimed again. ErrNotFound.
	MarkNotificationFailed(ctx context.Context, id int64, nextAt time.Time, errText string, giveUp bool, at time.Time) error

	// NotificationsOfOrder returns the notifications about the order
	// orderID (and its refunds), oldest first.
	NotificationsOfOrder(ctx context.Context, orderID int64) ([]Notification, error)
}
