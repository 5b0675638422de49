package merchantapi

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/carrierbill/carrierbill/billing"
)

// apiError is a CAMARA error answer: {status, code, message}.
type apiError struct {
	Status  int    `json:"status"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message) }

func errorf(status int, code, format string, args ...any) *apiError {
	return &apiError{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// invalid is the 400 INVALID_ARGUMENT naming field.
func invalid(field, format string, args ...any) *apiError {
	return &apiError{Status: http.StatusBadRequest, Code: "INVALID_ARGUMENT", Message: field + ": " + fmt.Sprintf(format, args...)}
}

// CAMARA codes used in more than one place.
const (
	codeInvalidArgument  = "INVALID_ARGUMENT"
	codeAlreadyExists    = "ALREADY_EXISTS"
	codeNotFound         = "NOT_FOUND"
	codePermissionDenied = "PERMISSION_DENIED"
	codeUnauthenticated  = "UNAUTHENTICATED"
	codeTooManyRequests  = "TOO_MANY_REQUESTS"
	codePaymentDenied    = "CARRIER_BILLING.PAYMENT_DENIED"
	codeValidationFailed = "CARRIER_BILLING.VALIDATION_FAILED"
	codeInvalidCode      = "CARRIER_BILLING.INVALID_CODE"
	codeUnauthorizedAmt  = "CARRIER_BILLING.UNAUTHORIZED_AMOUNT"
	codeThreshold        = "CARRIER_BILLING.USER_AMOUNT_THRESHOLD_OVERPASSED"
)

// reasonErrors is the one table from the engine's refusal reasons
// (billing.Reason) to CAMARA's answers. A reason not listed is 403
// CARRIER_BILLING.PAYMENT_DENIED. The reason code itself is always in the
// message, and in a denied payment's denialReason.
var reasonErrors = map[billing.Reason]struct {
	Status int
	Code   string
}{
	billing.ReasonDailyLimit:        {http.StatusUnprocessableEntity, codeThreshold},
	billing.ReasonMonthlyLimit:      {http.StatusUnprocessableEntity, codeThreshold},
	billing.ReasonPerPaymentLimit:   {http.StatusUnprocessableEntity, codeUnauthorizedAmt},
	billing.ReasonAmountOutOfRange:  {http.StatusUnprocessableEntity, codeUnauthorizedAmt},
	billing.ReasonWrongCode:         {http.StatusBadRequest, codeInvalidCode},
	billing.ReasonTooManyAttempts:   {http.StatusBadRequest, codeValidationFailed},
	billing.ReasonExpired:           {http.StatusBadRequest, codeValidationFailed},
	billing.ReasonNoPendingOrder:    {http.StatusBadRequest, codeValidationFailed},
	billing.ReasonCancelled:         {http.StatusConflict, "CARRIER_BILLING.PAYMENT_CANCELLED"},
	billing.ReasonAlreadyPaid:       {http.StatusConflict, "CARRIER_BILLING.PAYMENT_CONFIRMED"},
	billing.ReasonTooFrequent:       {http.StatusTooManyRequests, codeTooManyRequests},
	billing.ReasonTooManyPending:    {http.StatusTooManyRequests, codeTooManyRequests},
	billing.ReasonUnknownMerchant:   {http.StatusForbidden, codePermissionDenied},
	billing.ReasonUnknownProduct:    {http.StatusBadRequest, codeInvalidArgument},
	billing.ReasonServiceBusy:       {http.StatusServiceUnavailable, "UNAVAILABLE"},
	billing.ReasonUnknownSubscriber: {http.StatusNotFound, "IDENTIFIER_NOT_FOUND"},
}

// reasonMessages say in words what a reason means to a merchant.
var reasonMessages = map[billing.Reason]string{
	billing.ReasonDailyLimit:          "the subscriber's daily carrier-billing limit would be exceeded",
	billing.ReasonMonthlyLimit:        "the subscriber's monthly carrier-billing limit would be exceeded",
	billing.ReasonPerPaymentLimit:     "the amount is above the per-payment limit",
	billing.ReasonAmountOutOfRange:    "the amount is outside the merchant's range",
	billing.ReasonWrongCode:           "the code is wrong",
	billing.ReasonTooManyAttempts:     "too many wrong codes: the payment can no longer be validated",
	billing.ReasonExpired:             "the payment's code expired",
	billing.ReasonNoPendingOrder:      "the payment is not waiting for validation",
	billing.ReasonCancelled:           "the payment was cancelled",
	billing.ReasonAlreadyPaid:         "the payment is already confirmed",
	billing.ReasonTooFrequent:         "payments of this subscriber are too frequent; try later",
	billing.ReasonTooManyPending:      "the subscriber has too many payments waiting for confirmation",
	billing.ReasonUnknownMerchant:     "the merchant is not configured",
	billing.ReasonUnknownProduct:      "unknown product",
	billing.ReasonServiceBusy:         "the service is busy; try again",
	billing.ReasonInsufficientBalance: "the subscriber's balance is insufficient",
	billing.ReasonAccountSuspended:    "the subscriber's account is suspended",
	billing.ReasonUnknownSubscriber:   "the phone number is not a subscriber of this operator",
	billing.ReasonBlocked:             "the operator's risk rules block this subscriber or merchant",
	billing.ReasonRiskHold:            "the payment is held for the operator's review",
	billing.ReasonRiskRefused:         "the operator refused the payment after review",
}

// reasonError is the CAMARA answer to a refusal for reason.
func reasonError(reason billing.Reason) *apiError {
	e, ok := reasonErrors[reason]
	if !ok {
		e.Status, e.Code = http.StatusForbidden, codePaymentDenied
	}
	msg := reasonMessages[reason]
	if msg == "" {
		msg = "the payment was denied"
	}
	return &apiError{Status: e.Status, Code: e.Code, Message: fmt.Sprintf("%s (reason %s)", msg, reason)}
}

// validateCodes are the codes validatePayment may answer; any other refusal
// of a validation is 400 CARRIER_BILLING.VALIDATION_FAILED with the reason.
var validateCodes = map[string]bool{
	codeInvalidArgument: true, "CARRIER_BILLING.INVALID_AUTHORIZATION_ID": true, codeInvalidCode: true, codeValidationFailed: true,
	codeUnauthenticated: true, codePermissionDenied: true, codeNotFound: true, codeAlreadyExists: true, codeTooManyRequests: true,
}

// forValidate adapts e to validatePayment's answers.
func forValidate(e *apiError) *apiError {
	if validateCodes[e.Code] {
		return e
	}
	if e.Code == "CARRIER_BILLING.PAYMENT_CONFIRMED" {
		return errorf(http.StatusConflict, codeAlreadyExists, "payment already validated")
	}
	return &apiError{Status: http.StatusBadRequest, Code: codeValidationFailed, Message: e.Message}
}

// writeJSON writes v with status and the echoed x-correlator.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if v != nil {
		_ = json.NewEncoder(w).Encode(v)
	}
}

// writeError writes e as CAMARA's error body.
func writeError(w http.ResponseWriter, e *apiError) {
	if e.Status == http.StatusTooManyRequests && w.Header().Get("Retry-After") == "" {
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, e.Status, e)
}
