package merchantapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"

	"github.com/go-chi/chi/v5"

	"github.com/carrierbill/carrierbill/billing"
)

// refundView is a refund as CAMARA's Refund shows it. A refund is recorded
// once the charger paid the money back, so its status is succeeded.
type refundView struct {
	RefundID           string                `json:"refundId"`
	RefundStatus       string                `json:"refundStatus"`
	Type               string                `json:"type"`
	RefundCreationDate string                `json:"refundCreationDate"`
	RefundDate         string                `json:"refundDate"`
	Reason             string                `json:"reason,omitempty"`
	Sink               string                `json:"sink,omitempty"`
	AmountTransaction  refundTransactionView `json:"amountTransaction"`
}

type refundTransactionView struct {
	ClientCorrelator string       `json:"clientCorrelator,omitempty"`
	RefundAmount     refundAmount `json:"refundAmount"`
	ReferenceCode    string       `json:"referenceCode"`
}

func refundViewOf(a billing.APIRefund) refundView {
	v := refundView{RefundID: strconv.FormatInt(a.RefundID, 10), RefundStatus: StatusSucceeded, Type: a.Kind,
		RefundCreationDate: rfc3339(a.CreatedAt), RefundDate: rfc3339(a.Refund.CreatedAt), Reason: a.Reason, Sink: a.Sink}
	var t refundTransaction
	_ = json.Unmarshal(a.Request, &t)
	v.AmountTransaction = refundTransactionView{ClientCorrelator: t.ClientCorrelator, ReferenceCode: t.ReferenceCode}
	if t.RefundAmount != nil {
		v.AmountTransaction.RefundAmount = *t.RefundAmount
	}
	// The amount refunded, also for a total refund (which names none).
	v.AmountTransaction.RefundAmount.ChargingInformation = &chargingInformation{
		Amount: jsonNumber(a.Refund.Amount.String()), Currency: "CNY", Description: describeRefund(t)}
	return v
}

func describeRefund(t refundTransaction) string {
	if t.RefundAmount != nil && t.RefundAmount.ChargingInformation != nil {
		return t.RefundAmount.ChargingInformation.Description
	}
	return "total refund"
}

type pendingRefundKey struct{}

// refundKey is the engine's idempotency key of a merchant's refund.
func refundKey(merchant, ref string) string { return "api:" + merchant + ":refund:" + ref }

func (s *Server) createRefund(w http.ResponseWriter, r *http.Request) {
	m := merchantOf(r)
	p, e := s.paymentOf(r)
	if e != nil {
		writeError(w, e)
		return
	}
	var b refundBody
	if e := decode(r, &b); e != nil {
		writeError(w, e)
		return
	}
	rf, e := checkRefund(b, m.Code)
	if e != nil {
		writeError(w, e)
		return
	}
	at := b.AmountTransaction
	if prior, done, err := s.priorRefund(r.Context(), m.Code, p.OrderID, at, rf.hash); done || err != nil {
		if err != nil {
			s.fail(w, "looking up the refund", err)
			return
		}
		writeJSON(w, http.StatusCreated, refundViewOf(*prior))
		return
	}
	if StatusOf(p) != StatusSucceeded {
		writeError(w, errorf(http.StatusUnprocessableEntity, "CARRIER_BILLING_REFUND.INVALID_PAYMENT_STATUS", "payment %d is %s, not succeeded", p.OrderID, StatusOf(p)))
		return
	}
	reason := b.Reason
	if reason == "" {
		reason = "merchant refund"
	}
	req, _ := json.Marshal(at)
	pending := &billing.APIRefund{OrderID: p.OrderID, Merchant: m.Code, Kind: b.Type, ClientCorrelator: at.ClientCorrelator,
		ReferenceCode: at.ReferenceCode, RequestHash: rf.hash, Request: req, Reason: reason, Sink: b.Sink, SinkToken: rf.sinkToken, CreatedAt: s.clock.Now()}
	ctx := context.WithValue(r.Context(), pendingRefundKey{}, pending)
	done, err := s.e.Refund(ctx, billing.RefundRequest{Source: billing.Source{Channel: billing.ChannelAPI}, OrderID: p.OrderID, Amount: rf.amount,
		Reason: reason, IdempotencyKey: refundKey(m.Code, at.ReferenceCode)})
	const ciField = "amountTransaction.refundAmount.chargingInformation.amount"
	switch {
	case errors.Is(err, billing.ErrRefundTooLarge):
		left := s.remaining(r.Context(), p.OrderID)
		writeError(w, errorf(http.StatusUnprocessableEntity, "CARRIER_BILLING_REFUND.UNAUTHORIZED_AMOUNT", "%s: %s is more than the %s left to refund", ciField, rf.amount, left))
		return
	case errors.Is(err, billing.ErrNotRefundable):
		writeError(w, errorf(http.StatusUnprocessableEntity, "CARRIER_BILLING_REFUND.INVALID_PAYMENT_STATUS", "payment %d has nothing left to refund", p.OrderID))
		return
	case errors.Is(err, billing.ErrIdempotencyConflict), errors.Is(err, billing.ErrDuplicateReference), errors.Is(err, billing.ErrDuplicateCorrelator):
		writeError(w, errorf(http.StatusConflict, codeAlreadyExists, "amountTransaction: the referenceCode or clientCorrelator was already used for another refund"))
		return
	case err != nil:
		var d *billing.Declined
		if errors.As(err, &d) {
			writeError(w, errorf(http.StatusForbidden, "CARRIER_BILLING_REFUND.REFUND_DENIED", "refund denied by the charging system (reason %s)", d.Reason))
			return
		}
		s.internal(w, "refunding", err)
		return
	}
	a, err := s.refundOf(r.Context(), m.Code, p.OrderID, done.ID)
	if err != nil {
		s.fail(w, "reading the refund", err)
		return
	}
	writeJSON(w, http.StatusCreated, refundViewOf(a))
}

// priorRefund finds the refund a request repeats: the same clientCorrelator
// and body returns it; the same correlator with another body, or the same
// referenceCode, is 409.
func (s *Server) priorRefund(ctx context.Context, merchant string, orderID int64, at *refundTransaction, hash string) (*billing.APIRefund, bool, error) {
	if at.ClientCorrelator != "" {
		a, err := s.store.APIRefundByCorrelator(ctx, merchant, at.ClientCorrelator)
		switch {
		case err == nil && a.RequestHash == hash && a.OrderID == orderID:
			return &a, true, nil
		case err == nil:
			return nil, true, errorf(http.StatusConflict, codeAlreadyExists, "amountTransaction.clientCorrelator: %q was already used for a different refund", truncate(at.ClientCorrelator, 60))
		case !errors.Is(err, billing.ErrNotFound):
			return nil, true, err
		}
	}
	rs, err := s.store.APIRefunds(ctx, merchant, orderID)
	if err != nil {
		return nil, true, err
	}
	for _, a := range rs {
		if a.ReferenceCode == at.ReferenceCode {
			return nil, true, errorf(http.StatusConflict, codeAlreadyExists, "amountTransaction.referenceCode: %q already exists (refund %d)", truncate(at.ReferenceCode, 60), a.RefundID)
		}
	}
	return nil, false, nil
}

func (s *Server) refundOf(ctx context.Context, merchant string, orderID, refundID int64) (billing.APIRefund, error) {
	rs, err := s.store.APIRefunds(ctx, merchant, orderID)
	if err != nil {
		return billing.APIRefund{}, err
	}
	for _, a := range rs {
		if a.RefundID == refundID {
			return a, nil
		}
	}
	return billing.APIRefund{}, errorf(http.StatusNotFound, codeNotFound, "refundId: no refund %d of payment %d", refundID, orderID)
}

// remaining is what is left to refund on a paid order.
func (s *Server) remaining(ctx context.Context, orderID int64) billing.Money {
	v, err := s.e.Lookup(ctx, billing.LookupRequest{OrderID: orderID})
	if err != nil || v.Charge == nil || v.Charge.Status != billing.ChargeSucceeded {
		return 0
	}
	return v.Charge.Amount - v.Refunded
}

func (s *Server) listRefunds(w http.ResponseWriter, r *http.Request) {
	m := merchantOf(r)
	p, e := s.paymentOf(r)
	if e != nil {
		writeError(w, e)
		return
	}
	q, e := parseList(r, s.clock.Now(), "refundCreationDate", "refundStatus", []string{"processing", "succeeded", "denied"}, "CARRIER_BILLING_REFUND")
	if e != nil {
		writeError(w, e)
		return
	}
	if id := r.URL.Query().Get("merchantIdentifier"); id != "" && id != m.Code {
		writeError(w, errorf(http.StatusForbidden, codePermissionDenied, "merchantIdentifier: %q is not the merchant of this API key", truncate(id, 40)))
		return
	}
	rs, err := s.store.APIRefunds(r.Context(), m.Code, p.OrderID)
	if err != nil {
		s.internal(w, "listing refunds", err)
		return
	}
	out := []refundView{}
	for _, a := range rs {
		if (!q.from.IsZero() && a.CreatedAt.Before(q.from)) || (!q.to.IsZero() && a.CreatedAt.After(q.to)) {
			continue
		}
		if len(q.statuses) > 0 && !slices.Contains(q.statuses, StatusSucceeded) {
			continue
		}
		out = append(out, refundViewOf(a))
	}
	if !q.asc {
		slices.Reverse(out)
	}
	from, to := q.pageOf(w, len(out))
	writeJSON(w, http.StatusOK, out[from:to])
}

func (s *Server) getRefund(w http.ResponseWriter, r *http.Request) {
	p, e := s.paymentOf(r)
	if e != nil {
		writeError(w, e)
		return
	}
	raw := chi.URLParam(r, "refundId")
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || id <= 0 {
		writeError(w, errorf(http.StatusNotFound, codeNotFound, "refundId: no refund %q", truncate(raw, 40)))
		return
	}
	a, err := s.refundOf(r.Context(), p.Merchant, p.OrderID, id)
	if err != nil {
		s.fail(w, "reading the refund", err)
		return
	}
	writeJSON(w, http.StatusOK, refundViewOf(a))
}

type remainingView struct {
	Amount      json.Number `json:"amount"`
	Currency    string      `json:"currency"`
	Description string      `json:"description,omitempty"`
}

func (s *Server) remainingAmount(w http.ResponseWriter, r *http.Request) {
	p, e := s.paymentOf(r)
	if e != nil {
		writeError(w, e)
		return
	}
	left := s.remaining(r.Context(), p.OrderID)
	desc := "not yet refunded"
	if StatusOf(p) != StatusSucceeded {
		desc = "the payment did not succeed: nothing to refund"
	}
	writeJSON(w, http.StatusOK, remainingView{Amount: json.Number(left.String()), Currency: "CNY", Description: desc})
}
