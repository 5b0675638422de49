package merchantapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/redact"
)

// CAMARA payment statuses.
const (
	StatusProcessing        = "processing"
	StatusPendingValidation = "pending_validation"
	StatusReserved          = "reserved"
	StatusSucceeded         = "succeeded"
	StatusDenied            = "denied"
	StatusCancelled         = "cancelled"
)

var statuses = []string{StatusProcessing, StatusPendingValidation, StatusDenied, StatusReserved, StatusSucceeded, StatusCancelled}

// StatusOf is the CAMARA status of an API payment, from its order:
//
//	pending  → pending_validation (prepare) or processing (one-step create)
//	charging → reserved
//	held (a risk rule holds it for the operator) → processing
//	paid, refunded → succeeded (refunds are their own resources)
//	voided with reason cancelled → cancelled
//	failed, expired, voided otherwise → denied (denialReason: the reason)
func StatusOf(p billing.APIPayment) string {
	switch p.Order.Status {
	case billing.OrderPending:
		if p.Kind == billing.APIOneStep {
			return StatusProcessing
		}
		return StatusPendingValidation
	case billing.OrderCharging:
		return StatusReserved
	case billing.OrderHeld:
		return StatusProcessing
	case billing.OrderPaid, billing.OrderRefunded:
		return StatusSucceeded
	case billing.OrderVoided:
		if p.Order.Reason == billing.ReasonCancelled {
			return StatusCancelled
		}
	}
	return StatusDenied
}

// engineKey is the engine's idempotency key of a merchant's payment: its
// referenceCode, unique per merchant.
func engineKey(merchant, ref string) string { return "api:" + merchant + ":" + ref }

type amountTransactionOut struct {
	amountTransaction
	ResourceURL string `json:"resourceURL,omitempty"`
}

type validationInfo struct {
	Action          string `json:"action"`
	AuthorizationID string `json:"authorizationId"`
}

// paymentView is a payment as CAMARA's Payment (and PaymentCreated,
// BodyAmountReservationTransactionForReserve) shows it. denialReason is
// our extension: the reason code of a denied payment.
type paymentView struct {
	PaymentID           string               `json:"paymentId"`
	AmountTransaction   amountTransactionOut `json:"amountTransaction"`
	PaymentStatus       string               `json:"paymentStatus"`
	PaymentCreationDate string               `json:"paymentCreationDate"`
	PaymentDate         string               `json:"paymentDate,omitempty"`
	ValidationInfo      *validationInfo      `json:"validationInfo,omitempty"`
	Sink                string               `json:"sink,omitempty"`
	DenialReason        string               `json:"denialReason,omitempty"`
}

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func viewOf(p billing.APIPayment) paymentView {
	id := strconv.FormatInt(p.OrderID, 10)
	v := paymentView{PaymentID: id, PaymentStatus: StatusOf(p), PaymentCreationDate: rfc3339(p.CreatedAt), Sink: p.Sink}
	_ = json.Unmarshal(p.Request, &v.AmountTransaction.amountTransaction)
	v.AmountTransaction.ResourceURL = BasePath + "/payments/" + id
	if !p.PaidAt.IsZero() {
		v.PaymentDate = rfc3339(p.PaidAt)
	}
	if v.PaymentStatus == StatusPendingValidation {
		v.ValidationInfo = &validationInfo{Action: "validate", AuthorizationID: id}
	}
	if v.PaymentStatus == StatusDenied {
		v.DenialReason = string(p.Order.Reason)
	}
	return v
}

type pendingPaymentKey struct{}

func (s *Server) preparePayment(w http.ResponseWriter, r *http.Request) {
	s.newPayment(w, r, billing.APITwoStep)
}

func (s *Server) createPayment(w http.ResponseWriter, r *http.Request) {
	s.newPayment(w, r, billing.APIOneStep)
}

// newPayment is preparePayment and createPayment: the subscriber is texted
// the prompt with its code; the payment waits for the SMS confirmation or
// validate.
func (s *Server) newPayment(w http.ResponseWriter, r *http.Request, kind billing.APIKind) {
	m := merchantOf(r)
	var b paymentBody
	if e := decode(r, &b); e != nil {
		writeError(w, e)
		return
	}
	p, e := checkPayment(b, m, s.o.Normalize)
	if e != nil {
		writeError(w, e)
		return
	}
	at := p.body.AmountTransaction
	hash := string(kind) + ":" + p.hash
	if prior, done, err := s.priorPayment(r.Context(), m.Code, at, hash); done || err != nil {
		s.answerPrior(w, r, prior, err)
		return
	}
	req, _ := json.Marshal(at)
	pending := &billing.APIPayment{Merchant: m.Code, Kind: kind, ClientCorrelator: at.ClientCorrelator, ReferenceCode: at.ReferenceCode,
		RequestHash: hash, Request: req, Sink: b.Sink, SinkToken: p.sinkToken, CreatedAt: s.clock.Now()}
	ctx := context.WithValue(r.Context(), pendingPaymentKey{}, pending)
	res, err := s.e.Purchase(ctx, billing.PurchaseRequest{
		Source: billing.Source{Channel: billing.ChannelAPI}, MSISDN: p.msisdn, Merchant: m.Code, Product: p.product, Amount: p.amount,
		MerchantRef: at.ReferenceCode, IdempotencyKey: engineKey(m.Code, at.ReferenceCode),
	})
	switch {
	case errors.Is(err, billing.ErrDuplicateCorrelator), errors.Is(err, billing.ErrDuplicateReference),
		errors.Is(err, billing.ErrIdempotencyConflict):
		// A concurrent request won the race: answer as if it came first.
		prior, _, perr := s.priorPayment(r.Context(), m.Code, at, hash)
		if perr == nil && prior == nil {
			perr = errorf(http.StatusConflict, codeAlreadyExists, "amountTransaction.referenceCode: %q already exists", truncate(at.ReferenceCode, 60))
		}
		s.answerPrior(w, r, prior, perr)
		return
	case errors.Is(err, billing.ErrBadRequest):
		writeError(w, invalid("amountTransaction", "%v", err))
		return
	case err != nil:
		s.internal(w, "creating the payment", err)
		return
	}
	switch res.Outcome {
	case billing.OutcomeRejected:
		writeError(w, reasonError(res.Reason))
		return
	case billing.OutcomeResent: // the same reference and purchase, raced
		prior, _, perr := s.priorPayment(r.Context(), m.Code, at, hash)
		if perr == nil && prior == nil {
			perr = errorf(http.StatusConflict, codeAlreadyExists, "amountTransaction.referenceCode: %q already exists", truncate(at.ReferenceCode, 60))
		}
		s.answerPrior(w, r, prior, perr)
		return
	}
	ap, err := s.store.APIPayment(r.Context(), m.Code, res.OrderID)
	if err != nil {
		s.internal(w, "reading the new payment", err)
		return
	}
	s.log.Info("API payment created", "merchant", m.Code, "payment", res.OrderID, "kind", string(kind), "msisdn", redact.Phone(p.msisdn), "amount", p.amount.String())
	writeCreated(w, ap)
}

func writeCreated(w http.ResponseWriter, ap billing.APIPayment) {
	v := viewOf(ap)
	w.Header().Set("Location", v.AmountTransaction.ResourceURL)
	writeJSON(w, http.StatusCreated, v)
}

// priorPayment finds the payment a request repeats: by clientCorrelator
// (the same body returns it; another body is 409), else by referenceCode
// (always 409: a reference names one payment). done is false when the
// request is new.
func (s *Server) priorPayment(ctx context.Context, merchant string, at *amountTransaction, hash string) (*billing.APIPayment, bool, error) {
	if at.ClientCorrelator != "" {
		p, err := s.store.APIPaymentByCorrelator(ctx, merchant, at.ClientCorrelator)
		switch {
		case err == nil && p.RequestHash == hash:
			return &p, true, nil
		case err == nil:
			return nil, true, errorf(http.StatusConflict, codeAlreadyExists,
				"amountTransaction.clientCorrelator: %q was already used for a different request (payment %d)", truncate(at.ClientCorrelator, 60), p.OrderID)
		case !errors.Is(err, billing.ErrNotFound):
			return nil, true, fmt.Errorf("looking up the clientCorrelator: %w", err)
		}
	}
	p, err := s.store.APIPaymentByReference(ctx, merchant, at.ReferenceCode)
	switch {
	case err == nil:
		return nil, true, errorf(http.StatusConflict, codeAlreadyExists, "amountTransaction.referenceCode: %q already exists (payment %d)", truncate(at.ReferenceCode, 60), p.OrderID)
	case !errors.Is(err, billing.ErrNotFound):
		return nil, true, fmt.Errorf("looking up the referenceCode: %w", err)
	}
	return nil, false, nil
}

func (s *Server) answerPrior(w http.ResponseWriter, r *http.Request, prior *billing.APIPayment, err error) {
	if err != nil {
		s.fail(w, "looking up the payment", err)
		return
	}
	writeCreated(w, *prior)
}

// paymentOf finds the path's payment of the request's merchant: 404 when
// there is none or it is another merchant's.
func (s *Server) paymentOf(r *http.Request) (billing.APIPayment, *apiError) {
	raw := chi.URLParam(r, "paymentId")
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || id <= 0 || strconv.FormatInt(id, 10) != raw {
		return billing.APIPayment{}, errorf(http.StatusNotFound, codeNotFound, "paymentId: no payment %q", truncate(raw, 40))
	}
	p, err := s.store.APIPayment(r.Context(), merchantOf(r).Code, id)
	if errors.Is(err, billing.ErrNotFound) {
		return billing.APIPayment{}, errorf(http.StatusNotFound, codeNotFound, "paymentId: no payment %d", id)
	}
	if err != nil {
		return billing.APIPayment{}, &apiError{Status: http.StatusInternalServerError, Code: "INTERNAL", Message: "internal error while reading the payment"}
	}
	return p, nil
}

func (s *Server) getPayment(w http.ResponseWriter, r *http.Request) {
	p, e := s.paymentOf(r)
	if e != nil {
		writeError(w, e)
		return
	}
	writeJSON(w, http.StatusOK, viewOf(p))
}

// validatePayment checks the code the subscriber received and charges.
func (s *Server) validatePayment(w http.ResponseWriter, r *http.Request) {
	p, e := s.paymentOf(r)
	if e != nil {
		writeError(w, e)
		return
	}
	var b validateBody
	if e := decode(r, &b); e != nil {
		writeError(w, e)
		return
	}
	id := strconv.FormatInt(p.OrderID, 10)
	switch {
	case b.AuthorizationID == "":
		writeError(w, invalid("authorizationId", "required"))
		return
	case b.AuthorizationID != id:
		writeError(w, errorf(http.StatusBadRequest, "CARRIER_BILLING.INVALID_AUTHORIZATION_ID", "authorizationId: not the authorization of payment %s", id))
		return
	case len(b.Code) != 6 || strings.Trim(b.Code, "0123456789") != "":
		writeError(w, invalid("code", "want the 6 digits the subscriber received"))
		return
	}
	switch StatusOf(p) {
	case StatusSucceeded, StatusReserved:
		writeError(w, errorf(http.StatusConflict, codeAlreadyExists, "payment %s already validated", id))
		return
	case StatusCancelled, StatusDenied:
		writeError(w, errorf(http.StatusBadRequest, codeValidationFailed, "payment %s is %s (reason %s)", id, StatusOf(p), p.Order.Reason))
		return
	}
	res, err := s.e.Confirm(r.Context(), billing.ConfirmRequest{Source: billing.Source{Channel: billing.ChannelAPI}, MSISDN: p.Order.MSISDN, OrderID: p.OrderID, Code: b.Code})
	if err != nil {
		s.internal(w, "validating the payment", err)
		return
	}
	switch res.Outcome {
	case billing.OutcomeRejected:
		writeError(w, forValidate(reasonError(res.Reason)))
		return
	case billing.OutcomePrompted: // the risk rules had a fresh code sent: this one confirms nothing
		writeError(w, errorf(http.StatusBadRequest, codeValidationFailed,
			"payment %d: for the subscriber's safety a new code was sent by SMS; validate with the new code", p.OrderID))
		return
	}
	w.WriteHeader(http.StatusNoContent) // charged, or held for review (processing)
}

// checkPhone checks an optional phoneNumber of confirm and cancel against
// the payment's.
func (s *Server) checkPhone(r *http.Request, p billing.APIPayment) *apiError {
	var b phoneBody
	if e := decode(r, &b); e != nil {
		return e
	}
	if b.PhoneNumber == "" {
		return nil
	}
	if !e164Pattern.MatchString(b.PhoneNumber) {
		return invalid("phoneNumber", "not an E.164 number")
	}
	if n, err := s.o.Normalize(b.PhoneNumber); err != nil || n != p.Order.MSISDN {
		return errorf(http.StatusNotFound, "IDENTIFIER_NOT_FOUND", "phoneNumber: not the number of payment %d", p.OrderID)
	}
	return nil
}

// confirmPayment: a validated (or SMS-confirmed) payment is already
// charged and the confirmation is accepted as it is; one not validated is
// charged only for a merchant allowed to confirm without the code.
func (s *Server) confirmPayment(w http.ResponseWriter, r *http.Request) {
	p, e := s.paymentOf(r)
	if e == nil {
		e = s.checkPhone(r, p)
	}
	if e != nil {
		writeError(w, e)
		return
	}
	switch StatusOf(p) {
	case StatusSucceeded, StatusReserved:
		w.WriteHeader(http.StatusAccepted)
		return
	case StatusCancelled:
		writeError(w, errorf(http.StatusConflict, "CARRIER_BILLING.PAYMENT_CANCELLED", "payment %d was cancelled", p.OrderID))
		return
	case StatusDenied:
		writeError(w, errorf(http.StatusForbidden, codePaymentDenied, "payment %d was denied (reason %s)", p.OrderID, p.Order.Reason))
		return
	}
	if !s.o.Merchants[p.Merchant].ConfirmWithoutCode {
		writeError(w, errorf(http.StatusForbidden, codePaymentDenied,
			"payment %d: the subscriber has not confirmed it yet (by SMS, or validate with the code the subscriber received)", p.OrderID))
		return
	}
	res, err := s.e.Charge(r.Context(), billing.ChargeRequest{Source: billing.Source{Channel: billing.ChannelAPI}, OrderID: p.OrderID})
	switch {
	case errors.Is(err, billing.ErrNotCancellable): // it moved meanwhile
		w.WriteHeader(http.StatusAccepted)
		return
	case err != nil:
		s.internal(w, "confirming the payment", err)
		return
	case res.Outcome == billing.OutcomeRejected:
		writeError(w, reasonError(res.Reason))
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

func (s *Server) cancelPayment(w http.ResponseWriter, r *http.Request) {
	p, e := s.paymentOf(r)
	if e == nil {
		e = s.checkPhone(r, p)
	}
	if e != nil {
		writeError(w, e)
		return
	}
	switch StatusOf(p) {
	case StatusSucceeded, StatusReserved:
		writeError(w, errorf(http.StatusConflict, "CARRIER_BILLING.PAYMENT_CONFIRMED", "payment %d is already confirmed: refund it instead", p.OrderID))
		return
	case StatusCancelled:
		writeError(w, errorf(http.StatusConflict, "CARRIER_BILLING.PAYMENT_CANCELLED", "payment %d is already cancelled", p.OrderID))
		return
	case StatusDenied:
		writeError(w, errorf(http.StatusForbidden, codePermissionDenied, "payment %d was denied (reason %s)", p.OrderID, p.Order.Reason))
		return
	}
	_, err := s.e.Cancel(r.Context(), billing.CancelRequest{Source: billing.Source{Channel: billing.ChannelAPI}, OrderID: p.OrderID})
	switch {
	case errors.Is(err, billing.ErrNotCancellable):
		writeError(w, errorf(http.StatusConflict, "CARRIER_BILLING.PAYMENT_CONFIRMED", "payment %d is no longer pending", p.OrderID))
		return
	case err != nil:
		s.internal(w, "cancelling the payment", err)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

// Listing bounds.
const (
	maxPerPage = 100
	// maxMatches is how many payments one listing may match before it is
	// refused with CARRIER_BILLING.TOO_MANY_MATCHING_RECORDS.
	maxMatches = 10000
)

// listQuery is the paging and filters shared by the two listings.
type listQuery struct {
	page, perPage int
	from, to      time.Time
	asc           bool
	statuses      []string
}

func parseList(r *http.Request, now time.Time, datePrefix, statusParam string, allowed []string, codePrefix string) (listQuery, *apiError) {
	q := listQuery{page: 1, perPage: 10}
	v := r.URL.Query()
	for name, dst := range map[string]*int{"page": &q.page, "perPage": &q.perPage} {
		if s := v.Get(name); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil {
				return q, invalid(name, "want an integer")
			}
			*dst = n
		}
	}
	if q.page < 1 {
		return q, errorf(http.StatusBadRequest, "OUT_OF_RANGE", "page: must be 1 or more")
	}
	if q.perPage < 1 || q.perPage > maxPerPage {
		return q, errorf(http.StatusBadRequest, "OUT_OF_RANGE", "perPage: must be between 1 and %d", maxPerPage)
	}
	var err error
	if s := v.Get(datePrefix + ".gte"); s != "" {
		if q.from, err = time.Parse(time.RFC3339, s); err != nil {
			return q, invalid(datePrefix+".gte", "want an RFC 3339 date-time with a time zone")
		}
		q.to = now
	}
	if s := v.Get(datePrefix + ".lte"); s != "" {
		if q.to, err = time.Parse(time.RFC3339, s); err != nil {
			return q, invalid(datePrefix+".lte", "want an RFC 3339 date-time with a time zone")
		}
	}
	if !q.from.IsZero() && q.to.Before(q.from) {
		return q, errorf(http.StatusBadRequest, codePrefix+".INVALID_DATE_RANGE", "%s.gte is after %s.lte", datePrefix, datePrefix)
	}
	switch v.Get("order") {
	case "", "desc":
	case "asc":
		q.asc = true
	default:
		return q, invalid("order", "want asc or desc")
	}
	for _, raw := range v[statusParam] {
		for _, st := range strings.Split(raw, ",") {
			if !slices.Contains(allowed, st) {
				return q, invalid(statusParam, "%q is not one of %s", truncate(st, 30), strings.Join(allowed, ", "))
			}
			q.statuses = append(q.statuses, st)
		}
	}
	return q, nil
}

// page cuts one page out of n items and sets the paging headers.
func (q listQuery) pageOf(w http.ResponseWriter, n int) (from, to int) {
	from = min((q.page-1)*q.perPage, n)
	to = min(from+q.perPage, n)
	w.Header().Set("X-Total-Count", strconv.Itoa(n))
	if to > from {
		w.Header().Set("Content-Last-Key", strconv.Itoa(to))
	}
	return from, to
}

func (s *Server) listPayments(w http.ResponseWriter, r *http.Request) {
	m := merchantOf(r)
	q, e := parseList(r, s.clock.Now(), "paymentCreationDate", "paymentStatus", statuses, "CARRIER_BILLING")
	if e != nil {
		writeError(w, e)
		return
	}
	if id := r.URL.Query().Get("merchantIdentifier"); id != "" && id != m.Code {
		writeError(w, errorf(http.StatusForbidden, codePermissionDenied, "merchantIdentifier: %q is not the merchant of this API key", truncate(id, 40)))
		return
	}
	ps, err := s.store.APIPayments(r.Context(), billing.APIPaymentQuery{Merchant: m.Code, From: q.from, To: q.to, Asc: q.asc, Limit: maxMatches + 1})
	if err != nil {
		s.internal(w, "listing payments", err)
		return
	}
	if len(ps) > maxMatches {
		writeError(w, errorf(http.StatusBadRequest, "CARRIER_BILLING.TOO_MANY_MATCHING_RECORDS",
			"more than %d payments match: narrow paymentCreationDate.gte and paymentCreationDate.lte", maxMatches))
		return
	}
	out := []paymentView{}
	for _, p := range ps {
		if len(q.statuses) > 0 && !slices.Contains(q.statuses, StatusOf(p)) {
			continue
		}
		out = append(out, viewOf(p))
	}
	from, to := q.pageOf(w, len(out))
	writeJSON(w, http.StatusOK, out[from:to])
}
