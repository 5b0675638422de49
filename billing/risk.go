package billing

import (
	"context"
	"errors"
	"time"
)

// This file holds what billing owns of the risk rules (issue 15): the
// interface the engine asks on every purchase and confirmation (Risk,
// implemented by package risk), the actions a rule can take, the decision
// record, the operator's block and allow lists, and the storage they need.
//
// The engine asks Risk.Assess at two stages:
//
//	purchase: before an order is made (after the lists are checked)
//	confirm:  after a right code (or a merchant's or renewal charge), before
//	          the reservation, inside the confirmation's transaction
//
// and tells Risk.Learn what happened afterwards (a wrong code, a charge, a
// refusal, a refund), so the rules can count. Risk fails closed: when it
// cannot answer, the engine refuses with service_busy and charges nothing,
// as it does for the frequency rules.
//
// Actions, from mildest:
//
//	allow       nothing seen (Rule "") or a rule noticed and lets it pass
//	            (the decision is recorded and alerted: "flag")
//	fresh_code  confirm stage only: the order gets a new code and a new
//	            prompt; the code that came is not charged
//	hold        the order waits for an operator (OrderHeld); nothing is
//	            reserved; release charges it, refuse fails it (risk_refused)
//	block       the number, its prefix or the merchant is put on the block
//	            list for BlockFor; this payment is refused (blocked)
//
// The block list is checked before the rules: a listed number, number
// prefix or merchant is refused with blocked. The allow list exempts a
// number or merchant from the rules (not from an explicit block).

// RiskStage is where in a payment the rules are asked.
type RiskStage string

// Risk stages.
const (
	RiskPurchase RiskStage = "purchase"
	RiskConfirm  RiskStage = "confirm"
)

// RiskAction is what the rules decided.
type RiskAction string

// Risk actions (risk_decisions.action).
const (
	RiskAllow     RiskAction = "allow"
	RiskFreshCode RiskAction = "fresh_code"
	RiskHold      RiskAction = "hold"
	RiskBlock     RiskAction = "block"
)

// RiskSubject is what a list entry or a block names.
type RiskSubject string

// Subjects of the block and allow lists (risk_lists.subject).
const (
	RiskNumber   RiskSubject = "number"   // one E.164 number (digits as stored on orders)
	RiskPrefix   RiskSubject = "prefix"   // every number starting with these digits
	RiskMerchant RiskSubject = "merchant" // a merchant code
)

// RiskCheck is one step of a payment the rules look at.
type RiskCheck struct {
	Stage    RiskStage
	Channel  Channel
	MSISDN   string
	Merchant string
	Amount   Money
	Method   Method
	At       time.Time // the engine's clock

	// Confirm stage only.
	OrderID int64
	// ByCode: the subscriber confirmed with a code (false: a merchant's
	// confirm, a renewal or a released hold, which no code timing applies to).
	ByCode bool
	// PromptedAt: when the order's current code was written to its
	// prompt (the order's creation, or its last fresh code).
	PromptedAt time.Time
	// FreshCodes: how many fresh codes the order was given already.
	FreshCodes int
}

// RiskFinding is one rule that fired, with what it saw.
type RiskFinding struct {
	Rule     string     // stable rule name: "fast_confirmation", "number_velocity", ...
	Action   RiskAction // what the rule asks for
	Evidence string     // what it saw, for the operator (never a number in clear, never a code)
	// Block: what to put on the block list, and for how long (0: the
	// rule's default). Subject "" blocks the check's number.
	Subject  RiskSubject
	Value    string
	BlockFor time.Duration
}

// RiskVerdict is the rules' answer to one check: the strongest finding
// decides (block > hold > fresh_code > allow); every finding is recorded.
type RiskVerdict struct {
	Findings []RiskFinding
}

// Action is the strongest action of v's findings (allow when none).
func (v RiskVerdict) Action() RiskAction {
	best := RiskAllow
	for _, f := range v.Findings {
		if riskRank(f.Action) > riskRank(best) {
			best = f.Action
		}
	}
	return best
}

// Decisive returns the first finding with the strongest action.
func (v RiskVerdict) Decisive() (RiskFinding, bool) {
	a := v.Action()
	for _, f := range v.Findings {
		if f.Action == a {
			return f, true
		}
	}
	return RiskFinding{}, false
}

func riskRank(a RiskAction) int {
	switch a {
	case RiskFreshCode:
		return 1
	case RiskHold:
		return 2
	case RiskBlock:
		return 3
	}
	return 0
}

// RiskOutcomeKind is what happened to a payment step.
type RiskOutcomeKind string

// Outcomes the engine tells the rules.
const (
	RiskOutcomeWrongCode RiskOutcomeKind = "wrong_code" // a wrong confirmation code
	RiskOutcomeCharged   RiskOutcomeKind = "charged"    // a charge succeeded
	RiskOutcomeFailed    RiskOutcomeKind = "failed"     // a charge was declined or refused at confirmation
	RiskOutcomeRefunded  RiskOutcomeKind = "refunded"   // a refund was made
)

// RiskOutcome is one outcome, after its transaction committed.
type RiskOutcome struct {
	Kind     RiskOutcomeKind
	MSISDN   string
	Merchant string // "" when unknown (a wrong code with no order)
	Amount   Money
	Method   Method
	Reason   Reason // failed: why
	At       time.Time
}

// Risk evaluates the risk rules (package risk). Both methods are safe for
// concurrent use by many goroutines and processes.
type Risk interface {
	// Assess counts c in the rules' windows and returns their findings.
	// An error means the rules could not answer: the engine refuses with
	// service_busy and charges nothing (fail closed). It must not write
	// to the database; the engine records the decision.
	Assess(ctx context.Context, c RiskCheck) (RiskVerdict, error)
	// Learn counts an outcome. An error is logged and the payment stands.
	Learn(ctx context.Context, o RiskOutcome) error
}

// RiskDecision is one recorded decision (risk_decisions): the rule, the
// action, the evidence, the time. A hold's decision also records how the
// operator resolved it.
type RiskDecision struct {
	ID       int64
	At       time.Time
	Stage    RiskStage
	Rule     string // the rule; "list" for a block-list refusal
	Action   RiskAction
	Evidence string
	MSISDN   string
	Merchant string
	OrderID  int64 // 0 at the purchase stage
	Amount   Money
	// Resolution of a hold: "released" or "refused", by whom, when ("" and
	// zero while the hold waits, and for other actions).
	Resolution string
	ResolvedBy string
	ResolvedAt time.Time
}

// RiskList names a list.
type RiskList string

// The lists (risk_lists.list).
const (
	RiskBlockList RiskList = "block"
	RiskAllowList RiskList = "allow"
)

// RiskListEntry is one row of the block or allow list.
type RiskListEntry struct {
	ID        int64
	List      RiskList
	Subject   RiskSubject
	Value     string    // digits of a number or prefix, or a merchant code
	Until     time.Time // zero: until removed
	Note      string    // the rule that blocked, or the operator's note
	CreatedBy string    // "rule:<name>" or "operator:<name>"
	CreatedAt time.Time
}

// Active reports whether e is in force at now.
func (e RiskListEntry) Active(now time.Time) bool { return e.Until.IsZero() || e.Until.After(now) }

// ErrRiskListEntryExists: the same list, subject and value is listed and
// active (risk_lists_one_active).
var ErrRiskListEntryExists = errors.New("billing: already on that list")

// RiskTx is the part of Tx the risk rules' decisions and lists use.
type RiskTx interface {
	// RiskListed returns the active entries (Until zero or after now) of
	// both lists that match: the number msisdn exactly, a prefix msisdn
	// starts with, or the merchant code (skipped when merchant is "").
	// It takes no locks.
	RiskListed(ctx context.Context, msisdn, merchant string, now time.Time) ([]RiskListEntry, error)

	// InsertRiskDecision records d (its ID is ignored) and returns its id.
	InsertRiskDecision(ctx context.Context, d RiskDecision) (int64, error)

	// AddRiskListEntry lists e (its ID is ignored) and returns its id.
	// ErrRiskListEntryExists when an active entry with the same list,
	// subject and value exists.
	AddRiskListEntry(ctx context.Context, e RiskListEntry) (int64, error)

	// EndRiskListEntries ends (sets Until to now on) the active entries of
	// list with this subject and value, and returns how many. An entry
	// ended stays in the table as history.
	EndRiskListEntries(ctx context.Context, list RiskList, subject RiskSubject, value string, now time.Time) (int, error)

	// RenewOrderCode writes o's Code, ExpiresAt, PromptedAt, FreshCodes
	// and UpdatedAt (a fresh code). ErrNotFound.
	RenewOrderCode(ctx context.Context, o Order) error

	// HoldDecision returns the newest hold decision of the order orderID
	// and locks it. ErrNotFound.
	HoldDecision(ctx context.Context, orderID int64) (RiskDecision, error)

	// ResolveRiskDecision writes Resolution, ResolvedBy and ResolvedAt of
	// d.ID. ErrNotFound.
	ResolveRiskDecision(ctx context.Context, d RiskDecision) error
}

// RiskDecisionQuery selects decisions for the console, the CLI and the
// daily report.
type RiskDecisionQuery struct {
	From, To time.Time // at bounds: From inclusive, To exclusive; zero: open
	Action   RiskAction
	Rule     string
	MSISDN   string
	Merchant string
	// Waiting: only holds not yet resolved.
	Waiting bool
	Limit   int // 0: no limit
}

// RiskStore is the part of Store the operator's tools read through. Reads
// take no locks.
type RiskStore interface {
	// RiskDecisions returns the decisions q selects, oldest first.
	RiskDecisions(ctx context.Context, q RiskDecisionQuery) ([]RiskDecision, error)
	// RiskListEntries returns the entries of list ("" both), active at now
	// unless all, oldest first.
	RiskListEntries(ctx context.Context, list RiskList, now time.Time, all bool) ([]RiskListEntry, error)
	// HeldOrders returns the orders waiting in OrderHeld, oldest first.
	HeldOrders(ctx context.Context, limit int) ([]Order, error)
}
