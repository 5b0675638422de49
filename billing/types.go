package billing

import "time"

// Method is a payment method. Limits are kept per method.
type Method string

// Payment methods (orders.method, charges.method, quota.method).
const (
	MethodPhone Method = "phone" // the phone account (prepaid balance or postpaid bill)
	MethodCard  Method = "card"  // a bound bank card
)

// OrderStatus is the state of an order. See the state machine in the README:
//
//	pending ──code ok──> charging ──debited──> paid ──refund (all)──> refunded
//	   │                     └──declined / never debited──> failed
//	   ├──code ok, risk hold──> held ──released──> charging
//	   │                          └──refused──> failed (risk_refused)
//	   ├──third wrong code──> voided (too_many_attempts)
//	   ├──cancelled──> voided (cancelled)
//	   └──code validity passed──> expired
//
// A refusal at confirmation that charged nothing (limits, frequency, service
// busy) moves the order to failed with its reason.
type OrderStatus string

// Order states (orders.status).
const (
	OrderPending  OrderStatus = "pending"
	OrderCharging OrderStatus = "charging"
	OrderPaid     OrderStatus = "paid"
	OrderFailed   OrderStatus = "failed"
	OrderVoided   OrderStatus = "voided"
	OrderExpired  OrderStatus = "expired"
	OrderRefunded OrderStatus = "refunded"
	// OrderHeld: a right code came but a risk rule held the payment for
	// an operator (risk.go); nothing is reserved. Release charges it,
	// refuse fails it with risk_refused.
	OrderHeld OrderStatus = "held"
)

// Order is one purchase request (a row of orders).
type Order struct {
	ID          int64
	MSISDN      string
	Merchant    string // merchant code
	Product     string // product keyword; "" for an open amount
	ProductName string
	Amount      Money
	Method      Method
	Status      OrderStatus
	Reason      Reason // set when failed or voided; "" otherwise
	Code        string // the 6-digit confirmation code
	Attempts    int    // wrong codes so far
	MerchantRef string
	// ServiceAddr is the channel's address of the request that created
	// the order (SMS: where the purchase MO was sent; MTs come from here).
	ServiceAddr string
	Channel     Channel
	// IdempotencyKey and RequestHash: the key the order was created with
	// ("" when none) and the fingerprint of that request.
	IdempotencyKey string
	RequestHash    string
	// PromptedAt is when the current code was written to a prompt: the
	// order's creation, or its last fresh code (zero: CreatedAt).
	// FreshCodes counts the fresh codes a risk rule asked for.
	PromptedAt time.Time
	FreshCodes int
	CreatedAt  time.Time
	ExpiresAt  time.Time
	UpdatedAt  time.Time
}

// ChargeStatus is the state of a two-phase charge.
type ChargeStatus string

// Charge states (charges.status).
const (
	ChargePending   ChargeStatus = "pending"
	ChargeSucceeded ChargeStatus = "succeeded"
	ChargeFailed    ChargeStatus = "failed"
)

// Charge is the two-phase external debit of an order, one per order ever.
// ID is the platform transaction id shown on receipts and statements.
type Charge struct {
	ID             int64
	OrderID        int64
	IdempotencyKey string
	MSISDN         string
	Merchant       string
	Amount         Money
	Method         Method
	Status         ChargeStatus
	FailureReason  Reason
	CreatedAt      time.Time // quota reserved
	ResolvedAt     time.Time // zero while pending
}

// Quota is a phone number's spend for one payment method in the current
// calendar day and month of the operator's time zone. Day and Month are
// dates written "2006-01-02" (Month is the first day of the month). The
// store keeps what the engine last saved; the engine rolls a stale day or
// month over to zero.
type Quota struct {
	MSISDN       string
	Method       Method
	Day          string
	DaySpent     Money
	Month        string
	MonthSpent   Money
	LastChargeAt time.Time // zero: never charged
}

// PostingKind is the kind of a ledger transaction.
type PostingKind string

// Ledger kinds (ledger_entries.kind).
const (
	PostingPayment PostingKind = "payment"
	PostingRefund  PostingKind = "refund"
)

// Posting is one ledger entry: debit positive, credit negative. The postings
// of one Txn sum to zero.
type Posting struct {
	Txn       string // "charge:<charge id>" or "refund:<refund id>"
	Kind      PostingKind
	Account   string // "subscriber:phone:<msisdn>", "merchant:<code>:payable"
	Merchant  string
	Amount    Money
	ChargeID  int64
	RefundID  int64 // 0 unless Kind is PostingRefund
	CreatedAt time.Time
}

// Refund is money given back on a charge: a new ledger transaction, never
// an edit.
type Refund struct {
	ID             int64
	ChargeID       int64
	IdempotencyKey string
	Amount         Money
	Reason         string
	CreatedAt      time.Time
}

// InboundMO is one MO stored in mo_inbox.
type InboundMO struct {
	ID          int64
	Bind        string
	MSISDN      string
	ServiceAddr string
	Body        string
	ReceivedAt  time.Time
	Attempts    int // claims so far, this one included
	// Sealed is the original text of an MO that carried a wallet password,
	// encrypted with wallet.Sealer (Body then holds wallet.RedactMO's
	// output). The store keeps it in mo_inbox.sealed until the MO is
	// processed, when the engine clears it in the same transaction. Never
	// log it.
	Sealed []byte
}

// OutboxKind says why an MT was written.
type OutboxKind string

// Outbox kinds (outbox.kind).
const (
	OutboxPrompt  OutboxKind = "prompt"
	OutboxReceipt OutboxKind = "receipt"
	OutboxReject  OutboxKind = "reject"
	OutboxQuery   OutboxKind = "query"
	OutboxExpired OutboxKind = "expired"
	OutboxRefund  OutboxKind = "refund"
	// OutboxSubscription: a subscription listing, cancellation, reminder
	// or lapse notice.
	OutboxSubscription OutboxKind = "subscription"
)

// OutboxMsg is one MT in the outbox.
type OutboxMsg struct {
	ID          int64
	MSISDN      string
	ServiceAddr string
	Body        string
	Kind        OutboxKind
	OrderID     int64 // 0 when the MT is about no order
	CreatedAt   time.Time
	NextAt      time.Time // not before (retry backoff, or the lease of a claim)
	Attempts    int
	SentAt      time.Time // zero while unsent
	LastError   string
	// Sealed is the text of an MT that carries a secret (the initial wallet
	// password), sealed with wallet.Sealer for MSISDN; Body then holds only
	// a placeholder. The Dispatcher opens it just before sending (see
	// sealedmt.go). Nil for every other MT.
	Sealed []byte
}

// Payment is one succeeded charge as the CX query lists it.
type Payment struct {
	ChargeID int64
	OrderID  int64
	Merchant string
	// MerchantName is the merchant's name in the catalog (filled by the
	// engine; "" for a merchant no longer configured).
	MerchantName string
	ProductName  string
	Amount       Money
	Status       OrderStatus // paid or refunded
	At           time.Time   // the charge's resolved_at
}
