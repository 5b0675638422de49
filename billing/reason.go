package billing

// Reason is a stable rejection reason code. The codes are shared by the MT
// texts, the replay output, reports and the merchant API: never rename one.
type Reason string

// The rejection reasons, defined once (DESIGN.md §5).
const (
	ReasonPerPaymentLimit     Reason = "per_payment_limit"
	ReasonDailyLimit          Reason = "daily_limit"
	ReasonMonthlyLimit        Reason = "monthly_limit"
	ReasonTooFrequent         Reason = "too_frequent"
	ReasonAmountOutOfRange    Reason = "amount_out_of_range"
	ReasonUnknownMerchant     Reason = "unknown_merchant"
	ReasonUnknownProduct      Reason = "unknown_product"
	ReasonExpired             Reason = "expired"
	ReasonWrongCode           Reason = "wrong_code"
	ReasonTooManyAttempts     Reason = "too_many_attempts"
	ReasonInsufficientBalance Reason = "insufficient_balance"
	ReasonAccountSuspended    Reason = "account_suspended"
	ReasonServiceBusy         Reason = "service_busy"
	ReasonAlreadyPaid         Reason = "already_paid"
	ReasonNoPendingOrder      Reason = "no_pending_order"
	ReasonUnknownSubscriber   Reason = "unknown_subscriber"
	ReasonChargeFailed        Reason = "charge_failed"      // the charger refused for a reason it did not name
	ReasonTooManyPending      Reason = "too_many_pending"   // the number has as many pending orders as allowed
	ReasonCancelled           Reason = "cancelled"          // the order was cancelled (by the subscriber, merchant or operator)
	ReasonAlreadySubscribed   Reason = "already_subscribed" // a subscription product the number already subscribes to
	ReasonNoSubscription      Reason = "no_subscription"    // an unsubscribe request that matched no active subscription
	ReasonRiskHold            Reason = "risk_hold"          // a risk rule held the payment for review (nothing charged yet)
	ReasonRiskRefused         Reason = "risk_refused"       // an operator refused a held payment
	ReasonBlocked             Reason = "blocked"            // the number, its prefix or the merchant is blocked (risk)

	// Bank cards (issue 7).
	ReasonNoCard           Reason = "no_card"           // no active bound card (or none with those last four digits)
	ReasonPasswordRequired Reason = "password_required" // a card order confirmed with the code alone
	ReasonWrongPassword    Reason = "wrong_password"    // the wallet password did not match
	ReasonWalletLocked     Reason = "wallet_locked"     // three wrong passwords: an operator must unlock
	ReasonBadPassword      Reason = "bad_password"      // MM: malformed, or the new password breaks the policy
	ReasonCardDeclined     Reason = "card_declined"     // the bank refused the debit
	ReasonCardClosed       Reason = "card_closed"       // the bank reports the card closed or replaced: bind again
)

// Reasons lists every reason code in a stable order (README, reports).
var Reasons = []Reason{
	ReasonPerPaymentLimit, ReasonDailyLimit, ReasonMonthlyLimit, ReasonTooFrequent,
	ReasonAmountOutOfRange, ReasonUnknownMerchant, ReasonUnknownProduct, ReasonExpired,
	ReasonWrongCode, ReasonTooManyAttempts, ReasonInsufficientBalance, ReasonAccountSuspended,
	ReasonServiceBusy, ReasonAlreadyPaid, ReasonNoPendingOrder, ReasonUnknownSubscriber,
	ReasonChargeFailed, ReasonTooManyPending, ReasonCancelled, ReasonAlreadySubscribed, ReasonNoSubscription,
	ReasonRiskHold, ReasonRiskRefused, ReasonBlocked,
	ReasonNoCard, ReasonPasswordRequired, ReasonWrongPassword, ReasonWalletLocked, ReasonBadPassword,
	ReasonCardDeclined, ReasonCardClosed,
}

// Valid reports whether r is one of Reasons.
func (r Reason) Valid() bool {
	for _, x := range Reasons {
		if r == x {
			return true
		}
	}
	return false
}
