package billing

import (
	"context"
	"errors"
	"time"
)

// Storage errors. Stores translate their engine's errors to these (a
// constraint violation is recognised by the constraint's name, never by the
// message text) so the engine can branch on them with errors.Is.
var (
	// ErrNotFound: the row asked for does not exist.
	ErrNotFound = errors.New("billing: not found")
	// ErrDuplicatePending: a pending order for the same msisdn, merchant,
	// product, amount and method already exists (orders_one_pending).
	ErrDuplicatePending = errors.New("billing: a pending order for the same purchase exists")
	// ErrChargeExists: the order already has a charge, or the idempotency
	// key is taken (charges.order_id / charges.idempotency_key unique).
	ErrChargeExists = errors.New("billing: the order already has a charge")
	// ErrDuplicateRefund: a refund with this idempotency key exists.
	ErrDuplicateRefund = errors.New("billing: a refund with this idempotency key exists")
	// ErrDuplicateOrderKey: an order with this idempotency key exists
	// (orders_idempotency_key).
	ErrDuplicateOrderKey = errors.New("billing: an order with this idempotency key exists")
	// ErrConflict: the transaction lost a serialization race or a deadlock
	// more times than the store retries; the caller may try again later.
	ErrConflict = errors.New("billing: transaction conflict, retries exhausted")
)

// Store is billing's storage driver. It stores and never decides: every
// rule (limits arithmetic, rollover, code checks, state transitions, texts)
// lives in package billing. Implementations: billing/postgres (production)
// and the embedded SQLite store. billing/storetest is the conformance suite
// every implementation must pass.
//
// All methods are safe for concurrent use, by several goroutines and by
// several processes sharing one database.
type Store interface {
	SubscriptionStore
	RiskStore

	// InTx runs fn in one database transaction and commits when fn returns
	// nil, rolls back otherwise (and returns fn's error unchanged). On a
	// serialization failure or deadlock it rolls back and runs fn again,
	// a bounded number of times, then returns ErrConflict. fn must
	// therefore have no effect outside tx. The Tx must not be used after fn
	// returns.
	InTx(ctx context.Context, fn func(tx Tx) error) error

	// InsertMO durably stores an MO in mo_inbox (committed when it returns
	// nil) and returns its id. It is what runs before an MO is acked. A
	// non-empty mo.Sealed is kept in mo_inbox.sealed until the MO is
	// processed.
	InsertMO(ctx context.Context, mo InboundMO) (int64, error)

	// InsertMOs is InsertMO for many MOs in ONE transaction (group commit:
	// Intake batches the MOs of every bind through it), all or nothing;
	// it returns their ids in the order of mos.
	InsertMOs(ctx context.Context, mos []InboundMO) ([]int64, error)

	// PeekPending lists msisdn's pending orders created since, newest
	// first (OrdersSince's pending ones), outside any transaction and
	// without a lock: what was committed when it ran, which may change
	// before the caller writes. The engine asks the risk rules on what it sees (before the
	// charge's transaction, so that no network call runs while a
	// transaction holds its locks or the embedded store's one writer) and
	// applies the verdict only when the transaction reads the same order.
	PeekPending(ctx context.Context, msisdn string, since time.Time) ([]Order, error)

	// SealedMO returns the sealed box of the unprocessed MO id; nil when
	// there is none (never sealed, or already processed).
	SealedMO(ctx context.Context, id int64) ([]byte, error)

	// ScrubSentSecrets scrubs the sent MTs of kind OutboxSecret (their
	// digits become '*', their kind OutboxSecretSent) and returns how many.
	// The engine's sweep calls it.
	ScrubSentSecrets(ctx context.Context) (int, error)

	// ClaimMOs leases up to limit unprocessed MOs whose lease is free
	// (never leased, or leased until before now) until leaseUntil, counts
	// one attempt on each, and returns them in id order. It claims only the
	// oldest unprocessed MO of each msisdn, so MOs of one phone number are
	// handled one at a time and in arrival order across every process,
	// while different numbers run in parallel. Claims of concurrent callers
	// never overlap (FOR UPDATE SKIP LOCKED or a serialized writer).
	ClaimMOs(ctx context.Context, now, leaseUntil time.Time, limit int) ([]InboundMO, error)

	// ReleaseMO gives a claimed MO back: its lease ends at notBefore
	// (backoff after a failure).
	ReleaseMO(ctx context.Context, id int64, notBefore time.Time) error

	// ClaimOutbox leases up to limit unsent MTs due at now (next_at <= now),
	// oldest first: it sets next_at to leaseUntil and counts an attempt, so
	// no other caller gets them until the lease ends. Claims of concurrent
	// callers never overlap.
	ClaimOutbox(ctx context.Context, now, leaseUntil time.Time, limit int) ([]OutboxMsg, error)

	// MarkSent records that the MT id was accepted by the SMSC at at.
	// Marking a sent MT again is a no-op. ErrNotFound if there is no row.
	MarkSent(ctx context.Context, id int64, at time.Time) error

	// MarkSendFailed records a failed send of an unsent MT: next_at is set
	// to nextAt and last_error to errText. ErrNotFound if there is no row.
	MarkSendFailed(ctx context.Context, id int64, nextAt time.Time, errText string) error

	// MarkSentParts is MarkSent plus the SMSC message id of each part
	// (normalized with NormalizeMessageID, in outbox_parts), in one
	// transaction. A kept unmatched receipt whose keys (KeysOf) include a
	// part's id is applied to that part and removed, oldest first, so a
	// receipt that arrived before its submit_sm_resp was processed still
	// counts. It serializes with ApplyReceipt on the message ids involved
	// (an advisory transaction lock per id on Postgres; the single writer
	// on SQLite), so a receipt racing its part is matched by one of the two.
	// Parts already recorded for the MT are kept (a resend after a lost
	// MarkSentParts records nothing new). ErrNotFound if there is no row.
	MarkSentParts(ctx context.Context, id int64, at time.Time, parts []SentPart) error

	// ApplyReceipt records a delivery receipt on the part it reports on:
	// among the parts whose message id is one of keys, it prefers one
	// without a final state, then keys.Exact over AsHex over AsDec, then
	// one sent on r.Bind, then the newest, and locks it. Its state, err and
	// done_at are set unless it holds a final state and r's is not final.
	// When no part matches it keeps r in unmatched_receipts under its keys
	// and returns matched false. It serializes with MarkSentParts as said
	// there.
	ApplyReceipt(ctx context.Context, r DeliveryReceipt, keys ReceiptKeys) (matched bool, err error)

	// PruneReceipts deletes kept unmatched receipts received before before
	// and returns how many it deleted.
	PruneReceipts(ctx context.Context, before time.Time) (int, error)

	// OrderDeliveries returns the MTs of the order orderID (outbox rows,
	// oldest first) with their parts and delivery states. An order without
	// MTs, or no such order, gives an empty slice. It takes no locks.
	OrderDeliveries(ctx context.Context, orderID int64) ([]Delivery, error)

	NotifyStore // the merchant API's rows and notification outbox (notify.go)
}

// Tx is the set of storage operations available inside one transaction.
// Methods that say "locks" take a row lock held until the transaction ends
// (SELECT ... FOR UPDATE on Postgres; the SQLite store serializes writers).
type Tx interface {
	SubscriptionTx
	RiskTx

	// MarkMOProcessed sets processed_at of the MO id. ErrNotFound if there
	// is no such MO.
	MarkMOProcessed(ctx context.Context, id int64, at time.Time) error

	// InsertOrder stores a new order (its ID is ignored) and returns its id.
	// ErrDuplicatePending when an equal pending order exists.
	InsertOrder(ctx context.Context, o Order) (int64, error)

	// GetOrder returns the order id and locks it. ErrNotFound.
	GetOrder(ctx context.Context, id int64) (Order, error)

	// FindPendingOrder returns the pending order of msisdn for exactly this
	// merchant, product, amount and method, and locks it. ErrNotFound.
	FindPendingOrder(ctx context.Context, msisdn, merchant, product string, amount Money, method Method) (Order, error)

	// OrdersSince returns the orders of msisdn created at or after since,
	// newest first, and locks them.
	OrdersSince(ctx context.Context, msisdn string, since time.Time) ([]Order, error)

	// UpdateOrder writes the status, reason, attempts and updated_at of the
	// order o.ID. ErrNotFound.
	UpdateOrder(ctx context.Context, o Order) error

	// DueOrders returns up to limit pending orders whose expires_at is at or
	// before now, oldest first, locked and skipping rows that another
	// transaction holds.
	DueOrders(ctx context.Context, now time.Time, limit int) ([]Order, error)

	// LockQuota returns the quota row of (msisdn, method), creating it with
	// zero spend for day and month when there is none, and locks it. The
	// row returned is what was last saved: its Day and Month may be stale.
	LockQuota(ctx context.Context, msisdn string, method Method, day, month string) (Quota, error)

	// SaveQuota writes q's Day, DaySpent, Month, MonthSpent and LastChargeAt
	// to its row (which LockQuota locked). ErrNotFound.
	SaveQuota(ctx context.Context, q Quota) error

	// InsertCharge stores a new charge (its ID is ignored) and returns its
	// id. ErrChargeExists when the order has one or the key is taken.
	InsertCharge(ctx context.Context, c Charge) (int64, error)

	// GetCharge returns the charge id and locks it. ErrNotFound.
	GetCharge(ctx context.Context, id int64) (Charge, error)

	// ChargeByOrder returns the charge of the order orderID and locks it.
	// ErrNotFound.
	ChargeByOrder(ctx context.Context, orderID int64) (Charge, error)

	// ResolveCharge writes status, failure reason and resolved_at of the
	// charge c.ID. ErrNotFound.
	ResolveCharge(ctx context.Context, c Charge) error

	// StaleCharges returns up to limit pending charges created before
	// before, oldest first, locked and skipping rows another transaction
	// holds (so several recovery sweeps never resolve the same charge).
	StaleCharges(ctx context.Context, before time.Time, limit int) ([]Charge, error)

	// InsertPostings appends ledger entries. The ledger is append only.
	InsertPostings(ctx context.Context, ps []Posting) error

	// InsertRefund stores a refund and returns its id. ErrDuplicateRefund
	// when its idempotency key exists.
	InsertRefund(ctx context.Context, r Refund) (int64, error)

	// RefundByKey returns the refund with this idempotency key. ErrNotFound.
	RefundByKey(ctx context.Context, key string) (Refund, error)

	// RefundedTotal returns the sum of the refunds of the charge chargeID.
	RefundedTotal(ctx context.Context, chargeID int64) (Money, error)

	// Enqueue writes an MT to the outbox and returns its id.
	Enqueue(ctx context.Context, m OutboxMsg) (int64, error)

	// RecentPayments returns the last limit succeeded charges of msisdn,
	// newest first, with the product name and order status.
	RecentPayments(ctx context.Context, msisdn string, limit int) ([]Payment, error)

	// OrderByKey returns the order created with this idempotency key and
	// locks it. ErrNotFound.
	OrderByKey(ctx context.Context, key string) (Order, error)

	// OrderByMerchantRef returns the newest order of merchant with this
	// merchant reference, locked. ErrNotFound.
	OrderByMerchantRef(ctx context.Context, merchant, ref string) (Order, error)

	// CountPendingOrders counts msisdn's pending orders still valid at now.
	CountPendingOrders(ctx context.Context, msisdn string, now time.Time) (int, error)

	// LockCodeGuard returns the wrong-code counters of msisdn and locks
	// its row. A number without a row (it never sent a wrong code) gets
	// zero counters and nothing is written: a right code costs one read.
	LockCodeGuard(ctx context.Context, msisdn string) (CodeGuard, error)

	// SaveCodeGuard writes g to its row, creating it when there is none.
	// When another transaction created the row after LockCodeGuard found
	// none, the counters were read stale: it fails with a retryable
	// conflict, so that InTx runs the function again and the wrong code is
	// counted on top of the other one (the SQLite store's single writer
	// never meets this).
	SaveCodeGuard(ctx context.Context, g CodeGuard) error

	// Bank cards.

	// ActiveCards returns the active cards of msisdn, oldest first, locked.
	ActiveCards(ctx context.Context, msisdn string) ([]Card, error)
	// Wallet returns the wallet of msisdn, locked. ErrNotFound.
	Wallet(ctx context.Context, msisdn string) (Wallet, error)
	// SaveWallet inserts or updates the wallet w.MSISDN.
	SaveWallet(ctx context.Context, w Wallet) error
	// UpdateCard writes Status, Default and EndedAt of c.ID. ErrNotFound.
	UpdateCard(ctx context.Context, c Card) error
	// SetOrderCard records that the order orderID pays with the card cardID
	// (orders.card_id). ErrNotFound.
	SetOrderCard(ctx context.Context, orderID, cardID int64) error
	// OrderCard returns the card the order orderID pays with, whatever its
	// status. ErrNotFound when the order names no card.
	OrderCard(ctx context.Context, orderID int64) (Card, error)
	// ClearSealedMO drops the sealed original text of the MO id.
	ClearSealedMO(ctx context.Context, id int64) error

	NotifyTx // the merchant API's rows and notification outbox (notify.go)
}
