package merchantapi

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/go-chi/chi/v5"

	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/redact"
)

// Monthly subscriptions (issue 14), carrierbill's extension under
// SubscriptionsBasePath (openapi/subscriptions.yaml): a merchant reads its
// subscriptions and may cancel one. The subscriber is texted the
// cancellation; the period already paid stays paid.

// subscriptionView is a subscription as the API shows it.
type subscriptionView struct {
	SubscriptionID string `json:"subscriptionId"`
	PhoneNumber    string `json:"phoneNumber"`
	ProductID      string `json:"productId"`
	Description    string `json:"description"`
	Amount         string `json:"amount"`
	Currency       string `json:"currency"`
	Status         string `json:"status"`                // active, cancelled, lapsed
	NextRenewal    string `json:"nextRenewal,omitempty"` // YYYY-MM-DD, operator's zone (active only)
	RenewalDay     int    `json:"renewalDay"`
	CreatedAt      string `json:"createdAt"`
	EndedAt        string `json:"endedAt,omitempty"`
	EndReason      string `json:"endReason,omitempty"`
}

func subscriptionViewOf(s billing.Subscription) subscriptionView {
	v := subscriptionView{SubscriptionID: strconv.FormatInt(s.ID, 10), PhoneNumber: s.MSISDN, ProductID: s.Product,
		Description: s.ProductName, Amount: s.Amount.String(), Currency: "CNY", Status: string(s.Status),
		RenewalDay: s.AnchorDay, CreatedAt: rfc3339(s.CreatedAt), EndReason: s.EndReason}
	if s.Status == billing.SubscriptionActive {
		v.NextRenewal = s.NextRenewal
	}
	if !s.EndedAt.IsZero() {
		v.EndedAt = rfc3339(s.EndedAt)
	}
	return v
}

// maxSubscriptions bounds one listing.
const maxSubscriptions = 100

func (s *Server) listSubscriptions(w http.ResponseWriter, r *http.Request) {
	m := merchantOf(r)
	phone := r.URL.Query().Get("phoneNumber")
	if phone != "" {
		n, err := s.o.Normalize(phone)
		if err != nil || !e164Pattern.MatchString(phone) {
			writeError(w, invalid("phoneNumber", "not an E.164 number"))
			return
		}
		phone = n
	}
	subs, err := s.e.SubscriptionsOfMerchant(r.Context(), m.Code, phone, maxSubscriptions)
	if err != nil {
		s.internal(w, "listing subscriptions", err)
		return
	}
	out := make([]subscriptionView, 0, len(subs))
	for _, sub := range subs {
		out = append(out, subscriptionViewOf(sub))
	}
	writeJSON(w, http.StatusOK, out)
}

// subscriptionOf reads the path's subscription of the request's merchant;
// another merchant's is not found.
func (s *Server) subscriptionOf(r *http.Request) (billing.Subscription, *apiError) {
	raw := chi.URLParam(r, "subscriptionId")
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || id <= 0 || strconv.FormatInt(id, 10) != raw {
		return billing.Subscription{}, errorf(http.StatusNotFound, codeNotFound, "subscriptionId: no subscription %q", truncate(raw, 40))
	}
	sub, err := s.e.SubscriptionOfMerchant(r.Context(), merchantOf(r).Code, id)
	if errors.Is(err, billing.ErrNotFound) {
		return billing.Subscription{}, errorf(http.StatusNotFound, codeNotFound, "subscriptionId: no subscription %d", id)
	}
	if err != nil {
		return billing.Subscription{}, &apiError{Status: http.StatusInternalServerError, Code: "INTERNAL", Message: "internal error while reading the subscription"}
	}
	return sub, nil
}

func (s *Server) getSubscription(w http.ResponseWriter, r *http.Request) {
	sub, e := s.subscriptionOf(r)
	if e != nil {
		writeError(w, e)
		return
	}
	writeJSON(w, http.StatusOK, subscriptionViewOf(sub))
}

// cancelSubscription stops the next renewals (idempotent: a subscription
// no longer active is answered as it stands).
func (s *Server) cancelSubscription(w http.ResponseWriter, r *http.Request) {
	sub, e := s.subscriptionOf(r)
	if e != nil {
		writeError(w, e)
		return
	}
	if sub.Status == billing.SubscriptionActive {
		if _, err := s.e.Unsubscribe(r.Context(), billing.UnsubscribeRequest{Source: billing.Source{Channel: billing.ChannelAPI},
			ID: sub.ID, Merchant: sub.Merchant, By: "merchant"}); err != nil {
			s.internal(w, "cancelling subscription of "+redact.Phone(sub.MSISDN), err)
			return
		}
		if sub, e = s.subscriptionOf(r); e != nil {
			writeError(w, e)
			return
		}
	}
	writeJSON(w, http.StatusOK, subscriptionViewOf(sub))
}
