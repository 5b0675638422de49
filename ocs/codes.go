package ocs

import (
	"fmt"

	"github.com/carrierbill/carrierbill/billing"
)

// Outcome is what one credit-control answer means for the money.
type Outcome int

// The outcomes of an answer.
const (
	// Unknown: the OCS may or may not have acted (protocol errors, busy,
	// timeouts, a malformed answer). Never a refusal: the recovery sweep
	// asks again with the same Session-Id and CC-Request-Number.
	Unknown Outcome = iota
	// Granted: the OCS did what was asked (reserved, debited, refunded).
	Granted
	// Refused: the OCS answered and did nothing; Reason says why.
	Refused
	// NoSession: the OCS knows no such session (DIAMETER_UNKNOWN_SESSION_ID):
	// nothing was reserved under it, or the reservation lapsed; no money
	// moved under it.
	NoSession
)

// Result codes this package names (RFC 6733 7.1, RFC 4006 9).
const (
	CodeSuccess               = 2001
	CodeLimitedSuccess        = 2002
	CodeUnableToDeliver       = 3002
	CodeTooBusy               = 3004
	CodeUnknownSessionID      = 5002
	CodeUnableToComply        = 5012
	CodeEndUserServiceDenied  = 4010
	CodeCreditControlNotAppl  = 4011
	CodeCreditLimitReached    = 4012
	CodeUserUnknown           = 5030
	CodeRatingFailed          = 5031
	CodeCommandUnsupported    = 3001
	CodeNoCommonApplication   = 5010
	CodeAuthorizationRejected = 5003
)

// ResultCodes is the one table from a credit-control Result-Code to what
// it means for the money and the reason the subscriber is told. Codes not
// listed fall to their class: 2xxx granted, 3xxx unknown (and tried on
// another peer), 4xxx and 5xxx refused with charge_failed, anything else
// unknown. The README prints this table.
var ResultCodes = []struct {
	Code    uint32
	Name    string
	Outcome Outcome
	Reason  billing.Reason
}{
	{CodeSuccess, "DIAMETER_SUCCESS", Granted, ""},
	{CodeLimitedSuccess, "DIAMETER_LIMITED_SUCCESS", Granted, ""},
	{CodeCreditLimitReached, "DIAMETER_CREDIT_LIMIT_REACHED", Refused, billing.ReasonInsufficientBalance},
	{CodeEndUserServiceDenied, "DIAMETER_END_USER_SERVICE_DENIED", Refused, billing.ReasonAccountSuspended},
	{CodeUserUnknown, "DIAMETER_USER_UNKNOWN", Refused, billing.ReasonUnknownSubscriber},
	// The service would be free of credit control: a payment cannot be.
	{CodeCreditControlNotAppl, "DIAMETER_CREDIT_CONTROL_NOT_APPLICABLE", Refused, billing.ReasonChargeFailed},
	{CodeRatingFailed, "DIAMETER_RATING_FAILED", Refused, billing.ReasonChargeFailed},
	{CodeAuthorizationRejected, "DIAMETER_AUTHORIZATION_REJECTED", Refused, billing.ReasonChargeFailed},
	{CodeUnableToComply, "DIAMETER_UNABLE_TO_COMPLY", Refused, billing.ReasonChargeFailed},
	{CodeUnknownSessionID, "DIAMETER_UNKNOWN_SESSION_ID", NoSession, billing.ReasonChargeFailed},
	{CodeTooBusy, "DIAMETER_TOO_BUSY", Unknown, ""},
	{CodeUnableToDeliver, "DIAMETER_UNABLE_TO_DELIVER", Unknown, ""},
}

// Classify maps a Result-Code to its outcome and, for a refusal, reason.
func Classify(code uint32) (Outcome, billing.Reason) {
	for _, r := range ResultCodes {
		if r.Code == code {
			return r.Outcome, r.Reason
		}
	}
	switch {
	case code >= 2000 && code < 3000:
		return Granted, ""
	case code >= 4000 && code < 6000:
		return Refused, billing.ReasonChargeFailed
	}
	return Unknown, "" // 1xxx informational, 3xxx protocol errors, 0: none
}

// tryAnotherPeer reports whether an answer with code says this peer could
// not handle the request and another may (RFC 6733 7.1.3): the request is
// sent again, same Session-Id and CC-Request-Number, to the next peer.
func tryAnotherPeer(code uint32) bool { return code >= 3000 && code < 4000 }

// CodeName names a Result-Code for logs and errors.
func CodeName(code uint32) string {
	for _, r := range ResultCodes {
		if r.Code == code {
			return fmt.Sprintf("%d %s", code, r.Name)
		}
	}
	return fmt.Sprint(code)
}
