package riskadmin

import (
	"strconv"
	"time"

	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/redact"
)

// How the API (and the CLI's -json) shows the risk rows: numbers masked
// (138****0001), evidence scrubbed, times in the operator's zone, money
// in yuan.

const timeLayout = "2006-01-02 15:04:05"

func at(t time.Time, loc *time.Location) string {
	if t.IsZero() {
		return ""
	}
	return t.In(loc).Format(timeLayout)
}

// shown is an entry's value as an operator reads it: a number masked.
func shown(e billing.RiskListEntry) string {
	if e.Subject == billing.RiskNumber {
		return redact.Phone(e.Value)
	}
	return e.Value
}

// EntryJSON is a list entry.
type EntryJSON struct {
	ID        int64  `json:"id"`
	List      string `json:"list"`
	Subject   string `json:"subject"`
	Value     string `json:"value"` // a number masked
	Until     string `json:"until"` // "" until removed
	Active    bool   `json:"active"`
	Note      string `json:"note,omitempty"`
	CreatedBy string `json:"created_by"`
	CreatedAt string `json:"created_at"`
}

// Entry shows e at now.
func Entry(e billing.RiskListEntry, now time.Time, loc *time.Location) EntryJSON {
	return EntryJSON{ID: e.ID, List: string(e.List), Subject: string(e.Subject), Value: shown(e), Until: at(e.Until, loc),
		Active: e.Active(now), Note: redact.Text(e.Note), CreatedBy: e.CreatedBy, CreatedAt: at(e.CreatedAt, loc)}
}

// DecisionJSON is a recorded decision.
type DecisionJSON struct {
	ID         int64  `json:"id"`
	At         string `json:"at"`
	Stage      string `json:"stage"`
	Rule       string `json:"rule"`
	Action     string `json:"action"`
	Evidence   string `json:"evidence"`
	Number     string `json:"number"` // masked
	Merchant   string `json:"merchant"`
	Order      int64  `json:"order,omitempty"`
	Amount     string `json:"amount"`
	Resolution string `json:"resolution,omitempty"`
	ResolvedBy string `json:"resolved_by,omitempty"`
	ResolvedAt string `json:"resolved_at,omitempty"`
}

// Decision shows d.
func Decision(d billing.RiskDecision, loc *time.Location) DecisionJSON {
	return DecisionJSON{ID: d.ID, At: at(d.At, loc), Stage: string(d.Stage), Rule: d.Rule, Action: string(d.Action),
		Evidence: redact.Text(d.Evidence), Number: redact.Phone(d.MSISDN), Merchant: d.Merchant, Order: d.OrderID,
		Amount: d.Amount.String(), Resolution: d.Resolution, ResolvedBy: d.ResolvedBy, ResolvedAt: at(d.ResolvedAt, loc)}
}

// HoldJSON is a held payment waiting for the operator.
type HoldJSON struct {
	Order    int64  `json:"order"`
	Number   string `json:"number"` // masked
	Merchant string `json:"merchant"`
	Product  string `json:"product"`
	Amount   string `json:"amount"`
	Method   string `json:"method"`
	Created  string `json:"created"`
	Held     string `json:"held"` // when the rule held it
	Rule     string `json:"rule"`
	Evidence string `json:"evidence"`
}

// HoldOf shows h.
func HoldOf(h Hold, loc *time.Location) HoldJSON {
	o := h.Order
	return HoldJSON{Order: o.ID, Number: redact.Phone(o.MSISDN), Merchant: o.Merchant, Product: o.ProductName, Amount: o.Amount.String(),
		Method: string(o.Method), Created: at(o.CreatedAt, loc), Held: at(h.Decision.At, loc), Rule: h.Decision.Rule,
		Evidence: redact.Text(h.Decision.Evidence)}
}

// ResultJSON is what releasing or refusing a held payment did.
type ResultJSON struct {
	Order   int64  `json:"order"`
	Outcome string `json:"outcome"`
	Reason  string `json:"reason,omitempty"`
	Status  string `json:"status,omitempty"` // the order's, after
	Charge  int64  `json:"charge,omitempty"`
}

// ResultOf shows the engine's answer about order.
func ResultOf(order int64, r billing.Result) ResultJSON {
	out := ResultJSON{Order: order, Outcome: string(r.Outcome), Reason: string(r.Reason), Charge: r.ChargeID}
	if r.Order != nil {
		out.Status = string(r.Order.Status)
	}
	return out
}

// Summary is one line about a released or refused payment.
func (r ResultJSON) Summary() string {
	s := "order " + strconv.FormatInt(r.Order, 10) + ": " + r.Outcome
	if r.Reason != "" {
		s += " (" + r.Reason + ")"
	}
	if r.Status != "" {
		s += ", order " + r.Status
	}
	if r.Charge != 0 {
		s += ", transaction " + strconv.FormatInt(r.Charge, 10)
	}
	return s
}
