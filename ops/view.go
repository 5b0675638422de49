package ops

import (
	"time"

	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/redact"
)

// MaskNumber is how a number shows anywhere an operator reads it: redact's
// mask, "138****0001", the form the search takes back.
func MaskNumber(msisdn string) string { return redact.Phone(msisdn) }

// viewJSON is one order in full as the API shows it; never its code.
type viewJSON struct {
	orderJSON
	Expires  string        `json:"expires"`
	Channel  string        `json:"channel"`
	Messages []messageJSON `json:"messages"`
}

type messageJSON struct {
	Kind      string `json:"kind"`
	Sent      string `json:"sent,omitempty"`
	Delivery  string `json:"delivery,omitempty"`
	Delivered string `json:"delivered,omitempty"`
}

// ViewJSON is the API's (and `lookup -json`'s) form of an order view.
func ViewJSON(v billing.OrderView, loc *time.Location) viewJSON {
	h := billing.OrderHit{OrderID: v.Order.ID, MSISDN: v.Order.MSISDN, Merchant: v.Order.Merchant, MerchantRef: v.Order.MerchantRef,
		ProductName: v.Order.ProductName, Amount: v.Order.Amount, Method: v.Order.Method, Status: v.Order.Status, Reason: v.Order.Reason,
		Refunded: v.Refunded, CreatedAt: v.Order.CreatedAt}
	if v.Charge != nil {
		h.ChargeID, h.ChargeStatus = v.Charge.ID, v.Charge.Status
	}
	out := viewJSON{orderJSON: hitJSON(h, loc), Expires: v.Order.ExpiresAt.In(loc).Format("2006-01-02 15:04:05"), Channel: string(v.Order.Channel),
		Messages: []messageJSON{}}
	for _, d := range v.Messages {
		m := messageJSON{Kind: string(d.Kind), Delivery: string(d.State())}
		if !d.SentAt.IsZero() {
			m.Sent = d.SentAt.In(loc).Format("2006-01-02 15:04:05")
		}
		if t := d.DeliveredAt(); !t.IsZero() {
			m.Delivered = t.In(loc).Format("2006-01-02 15:04:05")
		}
		out.Messages = append(out.Messages, m)
	}
	return out
}
