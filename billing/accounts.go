package billing

import "fmt"

// Plan is how a subscriber's phone account pays.
type Plan string

// Plans (subscribers.plan).
const (
	Prepaid  Plan = "prepaid"
	Postpaid Plan = "postpaid"
)

// Subscriber is one phone account, as the phone-account chargers
// (billing/postgres.Accounts, billing/sqlite.Accounts) store it.
type Subscriber struct {
	MSISDN      string
	Plan        Plan
	Balance     Money // prepaid
	Bill        Money // postpaid: charged this cycle
	CreditLimit Money // postpaid
	Suspended   bool
}

// AccountsOptions configure a phone-account charger.
type AccountsOptions struct {
	// AutoOpen opens an unknown subscriber as a postpaid account with
	// CreditLimit at its first debit (labs, demos, replay). Off: an
	// unknown number is declined with ReasonUnknownSubscriber.
	AutoOpen    bool
	CreditLimit Money
}

// OpenUnknown returns the account msisdn, which has none yet, gets at its
// first debit: a postpaid account with an empty bill and o.CreditLimit when
// o.AutoOpen, else a *Declined with ReasonUnknownSubscriber.
func (o AccountsOptions) OpenUnknown(msisdn string) (Subscriber, error) {
	if !o.AutoOpen {
		return Subscriber{}, &Declined{Reason: ReasonUnknownSubscriber}
	}
	return Subscriber{MSISDN: msisdn, Plan: Postpaid, CreditLimit: o.CreditLimit}, nil
}

// Debit returns s after taking amount from it: a prepaid balance shrinks
// (never below zero), a postpaid bill grows (never above the credit limit;
// any plan not Prepaid is billed as postpaid). A suspended account is
// declined with ReasonAccountSuspended, one that cannot pay with
// ReasonInsufficientBalance; then s is returned unchanged. A non-positive
// amount is an error, not a decline.
func (s Subscriber) Debit(amount Money) (Subscriber, error) {
	if amount <= 0 {
		return s, fmt.Errorf("debit of %s: amount must be positive", amount)
	}
	if s.Suspended {
		return s, &Declined{Reason: ReasonAccountSuspended}
	}
	next := s
	if s.Plan == Prepaid {
		if s.Balance < amount {
			return s, &Declined{Reason: ReasonInsufficientBalance}
		}
		next.Balance -= amount
	} else {
		if s.Bill+amount > s.CreditLimit {
			return s, &Declined{Reason: ReasonInsufficientBalance}
		}
		next.Bill += amount
	}
	return next, nil
}

// Refund returns s after giving amount back: a prepaid balance grows, a
// postpaid bill shrinks but not below zero; an account of another plan is
// unchanged. Suspension does not stop a refund. A non-positive amount is an
// error.
func (s Subscriber) Refund(amount Money) (Subscriber, error) {
	if amount <= 0 {
		return s, fmt.Errorf("refund of %s: amount must be positive", amount)
	}
	switch s.Plan {
	case Prepaid:
		s.Balance += amount
	case Postpaid:
		s.Bill = max(s.Bill-amount, 0)
	}
	return s, nil
}
