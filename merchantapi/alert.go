package merchantapi

import (
	"context"
	"strconv"

	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/clock"
	"github.com/carrierbill/carrierbill/redact"
)

// TypeRiskDecision is the CloudEvent type of the operator's risk alerts
// (issue 15): one a decision of a risk rule or of the block list.
const TypeRiskDecision = "org.carrierbill.risk.v1.decision"

// RiskAlerts writes the operator's risk alerts to the notification outbox:
// its Hook is the engine's billing.Options.DecisionHook, so an alert is
// written in the decision's own transaction (never lost, never sent for a
// decision rolled back), and the Dispatcher delivers and retries it like a
// merchant notification, signed with the operator's secret (rows with
// Merchant "", Dispatcher.OperatorSecret).
//
// An alert carries no phone number in clear: the number is masked and the
// evidence scrubbed; the operator looks the number up in the console.
type RiskAlerts struct {
	n    *Notifier
	sink string
}

// NewRiskAlerts returns the alerts to the webhook sink (risk.alert_webhook);
// source names this gateway as NewNotifier's.
func NewRiskAlerts(source, sink string, clk clock.Clock) *RiskAlerts {
	return &RiskAlerts{n: NewNotifier(source, clk), sink: sink}
}

// alertData is the data of a risk alert.
type alertData struct {
	DecisionID int64  `json:"decisionId"`
	At         string `json:"at"`
	Stage      string `json:"stage"`
	Rule       string `json:"rule"`
	Action     string `json:"action"`
	Evidence   string `json:"evidence"`
	Number     string `json:"number"` // masked: 138****0001
	Merchant   string `json:"merchant,omitempty"`
	OrderID    string `json:"orderId,omitempty"`
	Amount     string `json:"amount"` // yuan
}

// Hook enqueues the alert of decision d in the decision's transaction tx.
// It writes nothing when no webhook is configured.
func (a *RiskAlerts) Hook(ctx context.Context, tx billing.Tx, d billing.RiskDecision) error {
	if a == nil || a.sink == "" {
		return nil
	}
	now := a.n.clock.Now()
	data := alertData{DecisionID: d.ID, At: rfc3339(d.At), Stage: string(d.Stage), Rule: d.Rule, Action: string(d.Action),
		Evidence: redact.Text(d.Evidence), Number: redact.Phone(d.MSISDN), Merchant: d.Merchant, Amount: d.Amount.String()}
	if d.OrderID != 0 {
		data.OrderID = strconv.FormatInt(d.OrderID, 10)
	}
	id := "risk-decision-" + strconv.FormatInt(d.ID, 10)
	if d.ID == 0 { // a decision the engine did not number: its time and subject
		id = "risk-decision-" + strconv.FormatInt(d.At.UnixNano(), 36) + "-" + d.Rule + "-" + redact.Phone(d.MSISDN) + "-" + strconv.FormatInt(d.OrderID, 10)
	}
	body, err := a.n.cloudEvent(id, TypeRiskDecision, now, data)
	if err != nil {
		return err
	}
	_, err = tx.EnqueueNotification(ctx, billing.Notification{EventID: id, Merchant: "", OrderID: d.OrderID,
		Sink: a.sink, Body: body, CreatedAt: now, NextAt: now})
	return err
}
