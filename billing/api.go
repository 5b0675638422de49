package billing

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"
)

// This file is the engine's typed API: what every channel (SMS, USSD, the
// merchant API, subscriptions, replay, the operator) sends the engine and
// what it gets back. Nothing here is text a subscriber reads: a channel
// parses its own input into these requests and renders its own texts from
// the results and from the events the engine hands its Notifier.

// Channel names where a request came from. The Notifier decides, per
// channel, which events become an MT (an SMS refusal is texted back; the
// merchant API's refusal is its HTTP answer).
type Channel string

// The channels.
const (
	ChannelSMS          Channel = "sms"
	ChannelUSSD         Channel = "ussd"
	ChannelAPI          Channel = "api"
	ChannelSubscription Channel = "subscription"
	ChannelOperator     Channel = "operator"
)

// Source is the channel's part of a request.
type Source struct {
	Channel Channel
	// Origin is the channel's address of the request, opaque to the
	// engine: for SMS the service address the subscriber wrote to. It is
	// kept on a new order (orders.service_addr) and handed back in every
	// Event about it, so MTs come from where the subscriber wrote.
	Origin string
	// MO is the stored inbound message this request handles, or nil. The
	// engine marks it processed (and drops its sealed text) in the same
	// transaction as the request's effects, so an MO is handled exactly
	// once even across crashes.
	MO *InboundMO
}

// PurchaseRequest asks for a new order (or the pending one of the same
// purchase again).
type PurchaseRequest struct {
	Source
	MSISDN   string // canonical E.164, "+8613800000001"
	Merchant string // merchant code; unknown → ReasonUnknownMerchant
	// Product is a product keyword of the merchant's catalog (any case);
	// "" asks for an open amount of Amount.
	Product string
	Amount  Money
	Method  Method // "" means MethodPhone
	// CardLast4 chooses the card of a MethodCard purchase ("" = the
	// default card).
	CardLast4   string
	MerchantRef string // the merchant's own reference, optional
	// IdempotencyKey, optional: the same key with the same request gives
	// the first order back (OutcomeResent); with a different request it is
	// ErrIdempotencyConflict and nothing is created.
	IdempotencyKey string
	// NoPrompt creates the order without a confirmation-code MT (a
	// merchant-confirmed payment or a subscription renewal confirms it by
	// Charge, not by code).
	NoPrompt bool
}

// ConfirmRequest confirms an order with its code: by OrderID and code, or,
// with OrderID 0, by the number and code as SMS does.
type ConfirmRequest struct {
	Source
	MSISDN   string
	OrderID  int64
	Code     string
	Password string // the wallet password of a card order; never logged
	// CodeFromChannel: the channel supplied the code itself (a USSD card
	// payment confirmed by the wallet password typed in the session, no
	// prompt read): the risk rules do not time it as a typed code.
	CodeFromChannel bool
}

// CancelRequest cancels a pending order of MSISDN ("" = any owner: the
// operator, the merchant API after checking the merchant).
type CancelRequest struct {
	Source
	MSISDN  string
	OrderID int64
}

// QueryRequest asks for a number's quota left and its last payments.
type QueryRequest struct {
	Source
	MSISDN string
	Last   int // how many recent payments (default 5)
}

// RefundRequest gives money back on a paid order.
type RefundRequest struct {
	Source
	OrderID int64
	// Amount to refund; 0 refunds everything not refunded yet. The
	// refunds of an order never total more than was paid.
	Amount Money
	Reason string // required: why (kept on the refund)
	// IdempotencyKey is required: the same key and request returns the
	// first refund; the same key for a different order or amount is
	// ErrIdempotencyConflict.
	IdempotencyKey string
}

// LookupRequest finds one order: by ID, by the merchant's reference
// (Merchant and MerchantRef), or by the idempotency key it was created with.
type LookupRequest struct {
	OrderID        int64
	Merchant       string
	MerchantRef    string
	IdempotencyKey string
}

// Outcome says what a request did.
type Outcome string

// Outcomes.
const (
	OutcomePrompted  Outcome = "prompted"  // a new order (and its prompt, unless NoPrompt)
	OutcomeResent    Outcome = "resent"    // the pending order of the same purchase (its prompt again)
	OutcomeCharged   Outcome = "charged"   // paid, receipt written
	OutcomePending   Outcome = "pending"   // debit outcome unknown: the recovery sweep resolves it
	OutcomeRejected  Outcome = "rejected"  // refused with Reason, nothing charged
	OutcomeQueried   Outcome = "queried"   // a query answered
	OutcomeCancelled Outcome = "cancelled" // the order was cancelled
	OutcomeHeld      Outcome = "held"      // a risk rule held the payment for an operator (Reason risk_hold); nothing charged yet
)

// QuotaLeft is what a number can still spend with one method.
type QuotaLeft struct {
	Method Method
	Day    Money
	Month  Money
}

// Result is what a Purchase, Confirm, Cancel or channel-level Reject did.
type Result struct {
	Outcome Outcome
	Reason  Reason // when rejected
	// OrderID and ChargeID name the order and charge concerned (0: none).
	OrderID  int64
	ChargeID int64
	// Order is the order concerned as it stands after the request (nil
	// when none); its Code is for the channel's own use (a USSD screen
	// never shows it) and must never be logged.
	Order *Order
	// Quota is the quota left after a charge or a limit refusal (nil when
	// the request did not read it).
	Quota *QuotaLeft
	// RetryAfter: a too_frequent refusal's wait.
	RetryAfter time.Duration
	// AttemptsLeft: a wrong_code or wrong_password refusal's tries left.
	AttemptsLeft int
}

// QueryResult is a number's quota left and recent payments.
type QueryResult struct {
	Phone    QuotaLeft
	Card     *QuotaLeft // nil when bank-card payments are off
	Payments []Payment  // newest first
}

// OrderView is an order as a lookup shows it.
type OrderView struct {
	Order    Order
	Charge   *Charge // nil until confirmed
	Refunded Money   // refunded so far
	// Messages are the MTs written about the order and their delivery
	// (Delivery.State: whether the prompt and the receipt arrived).
	Messages []Delivery
}

// Request errors, for callers to branch on with errors.Is.
var (
	// ErrIdempotencyConflict: an idempotency key was reused for a
	// different request.
	ErrIdempotencyConflict = errors.New("billing: idempotency key reused for a different request")
	// ErrNotRefundable: the order is not paid, or is fully refunded.
	ErrNotRefundable = errors.New("billing: order is not paid, nothing to refund")
	// ErrRefundTooLarge: the refund asked for more than is left to refund.
	ErrRefundTooLarge = errors.New("billing: refund exceeds what is left to refund")
	// ErrNotCancellable: the order is not pending (or not the number's).
	ErrNotCancellable = errors.New("billing: order is not pending")
	// ErrBadRequest: a request is missing what it needs or holds a value
	// that can never be valid (wrapped with the field).
	ErrBadRequest = errors.New("billing: bad request")
)

func badRequest(what string) error { return errors.Join(ErrBadRequest, errors.New(what)) }

// requestHash is the fingerprint of what a purchase asks for, kept with its
// idempotency key (orders.request_hash): the same key with another hash is a
// conflict.
func (r PurchaseRequest) requestHash() string {
	h := sha256.New()
	for _, s := range []string{r.MSISDN, r.Merchant, strings.ToUpper(r.Product), strconv.FormatInt(int64(r.Amount), 10),
		string(r.method()), r.CardLast4, r.MerchantRef} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

func (r PurchaseRequest) method() Method {
	if r.Method == "" {
		return MethodPhone
	}
	return r.Method
}
