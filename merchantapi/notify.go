package merchantapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/clock"
)

// The CloudEvent types of the notifications (CAMARA r3.2).
const (
	TypePaymentCompleted = "org.camaraproject.carrier-billing.v0.payment-completed"
	TypePaymentDenied    = "org.camaraproject.carrier-billing.v0.payment-denied"
	TypePaymentCancelled = "org.camaraproject.carrier-billing.v0.payment-cancelled"
	TypeRefundCompleted  = "org.camaraproject.carrier-billing-refund.v0.refund-completed"
	// carrierbill's own: a monthly subscription started by an API payment
	// renewed, or a renewal refused (CAMARA has no subscription events).
	TypeRenewalCompleted = "org.carrierbill.subscription.v1.renewal-completed"
	TypeRenewalDenied    = "org.carrierbill.subscription.v1.renewal-denied"
)

// Notifier writes the merchant API's rows and notifications from the
// engine's events; its Hook is the engine's billing.EventHook.
type Notifier struct {
	source string
	clock  clock.Clock
}

// NewNotifier returns a Notifier whose CloudEvents name source (a URI
// reference naming this gateway, for example its public API URL).
func NewNotifier(source string, clk clock.Clock) *Notifier {
	if source == "" {
		source = "urn:carrierbill"
	}
	return &Notifier{source: source, clock: clk}
}

// eventData is the data of a payment or refund notification (CAMARA's
// BasicEvent and its completed, denied and refund variants).
type eventData struct {
	PaymentID    string `json:"paymentId"`
	RefundID     string `json:"refundId,omitempty"`
	Status       string `json:"status"` // succeeded or failed
	Description  string `json:"description"`
	PaymentDate  string `json:"paymentDate,omitempty"`
	RefundDate   string `json:"refundDate,omitempty"`
	DenialReason string `json:"denialReason,omitempty"`
}

// Hook implements billing.EventHook. It runs in the engine's transaction:
// on the prompt of a new API order it stores the merchant's payment (from
// the request's context); on a refund made through the API it stores the
// merchant's refund; on every outcome of an API payment with a sink it
// enqueues the CloudEvent. Orders of other channels cost nothing.
func (n *Notifier) Hook(ctx context.Context, tx billing.Tx, ev billing.Event) error {
	o := ev.Order
	if o != nil && o.Channel == billing.ChannelSubscription {
		return n.renewal(ctx, tx, ev)
	}
	if o == nil || o.Channel != billing.ChannelAPI {
		return nil
	}
	if ev.Kind == billing.EventPrompt {
		p, ok := ctx.Value(pendingPaymentKey{}).(*billing.APIPayment)
		if !ok || o.IdempotencyKey != engineKey(p.Merchant, p.ReferenceCode) {
			return nil
		}
		row := *p
		row.OrderID = o.ID
		return tx.InsertAPIPayment(ctx, row)
	}
	p, err := tx.APIPaymentOfOrder(ctx, o.ID)
	if errors.Is(err, billing.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading the API payment of order %d: %w", o.ID, err)
	}
	now := n.clock.Now()
	id := strconv.FormatInt(o.ID, 10)
	var (
		typ, eventID = "", ""
		data         = eventData{PaymentID: id}
		sink, token  = p.Sink, p.SinkToken
	)
	switch ev.Kind {
	case billing.EventReceipt:
		typ, eventID = TypePaymentCompleted, "payment-"+id+"-completed"
		data.Status, data.Description, data.PaymentDate = "succeeded", "Payment completed", rfc3339(now)
	case billing.EventCancelled:
		typ, eventID = TypePaymentCancelled, "payment-"+id+"-cancelled"
		data.Status, data.Description = "succeeded", "Payment cancelled"
	case billing.EventExpired:
		typ, eventID = TypePaymentDenied, "payment-"+id+"-denied"
		data.Status, data.Description, data.DenialReason = "failed", "Payment denied: the subscriber did not confirm in time", string(billing.ReasonExpired)
	case billing.EventRefused:
		// Only a refusal that ends the payment (a wrong code leaves it
		// pending, a frequency refusal lets it be confirmed later).
		if o.Status != billing.OrderFailed && o.Status != billing.OrderVoided && o.Status != billing.OrderExpired {
			return nil
		}
		if o.Status == billing.OrderVoided && o.Reason == billing.ReasonCancelled {
			return nil // EventCancelled tells it
		}
		typ, eventID = TypePaymentDenied, "payment-"+id+"-denied"
		data.Status, data.DenialReason = "failed", string(ev.Reason)
		data.Description = "Payment denied: " + reasonError(ev.Reason).Message
	case billing.EventRefunded:
		if ev.Refund == nil {
			return nil
		}
		rid := strconv.FormatInt(ev.Refund.ID, 10)
		if r, ok := ctx.Value(pendingRefundKey{}).(*billing.APIRefund); ok && ev.Refund.IdempotencyKey == refundKey(r.Merchant, r.ReferenceCode) {
			row := *r
			row.RefundID, row.OrderID = ev.Refund.ID, o.ID
			if err := tx.InsertAPIRefund(ctx, row); err != nil {
				return err
			}
		}
		if r, err := tx.APIRefundOf(ctx, ev.Refund.ID); err == nil && r.Sink != "" {
			sink, token = r.Sink, r.SinkToken
		} else if err != nil && !errors.Is(err, billing.ErrNotFound) {
			return fmt.Errorf("reading the API refund %d: %w", ev.Refund.ID, err)
		}
		typ, eventID = TypeRefundCompleted, "refund-"+rid+"-completed"
		data.RefundID, data.Status, data.RefundDate = rid, "succeeded", rfc3339(now)
		data.Description = "Refund of " + ev.Refund.Amount.String() + " CNY completed"
	default:
		return nil
	}
	if sink == "" {
		return nil
	}
	body, err := n.cloudEvent(eventID, typ, now, data)
	if err != nil {
		return err
	}
	_, err = tx.EnqueueNotification(ctx, billing.Notification{EventID: eventID, Merchant: p.Merchant, OrderID: o.ID,
		Sink: sink, SinkToken: token, Body: body, CreatedAt: now, NextAt: now})
	return err
}

// cloudEvent renders one notification as a structured-mode CloudEvent 1.0.
func (n *Notifier) cloudEvent(id, typ string, at time.Time, data any) ([]byte, error) {
	e := event.New(event.CloudEventsVersionV1)
	e.SetID(id)
	e.SetSource(n.source)
	e.SetType(typ)
	e.SetTime(at.UTC())
	if err := e.SetData(event.ApplicationJSON, data); err != nil {
		return nil, fmt.Errorf("encoding the %s event: %w", typ, err)
	}
	if err := e.Validate(); err != nil {
		return nil, fmt.Errorf("building the %s event: %w", typ, err)
	}
	b, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("encoding the %s event: %w", typ, err)
	}
	return b, nil
}

// renewal enqueues the renewal events of a subscription that an API
// payment started, to that payment's sink.
func (n *Notifier) renewal(ctx context.Context, tx billing.Tx, ev billing.Event) error {
	o := ev.Order
	subID, period, ok := billing.RenewalOf(o.IdempotencyKey)
	if !ok {
		return nil
	}
	var typ string
	data := eventData{PaymentID: strconv.FormatInt(o.ID, 10)}
	now := n.clock.Now()
	switch {
	case ev.Kind == billing.EventReceipt:
		typ = TypeRenewalCompleted
		data.Status, data.PaymentDate = "succeeded", rfc3339(now)
		data.Description = "Subscription " + strconv.FormatInt(subID, 10) + " renewed for the period from " + period
	case ev.Kind == billing.EventRefused && o.Status == billing.OrderFailed:
		typ = TypeRenewalDenied
		data.Status, data.DenialReason = "failed", string(ev.Reason)
		data.Description = "Subscription " + strconv.FormatInt(subID, 10) + " not renewed for the period from " + period + ": " + reasonError(ev.Reason).Message
	default:
		return nil
	}
	sub, err := tx.LockSubscription(ctx, subID)
	if err != nil {
		return fmt.Errorf("reading subscription %d: %w", subID, err)
	}
	p, err := tx.APIPaymentOfOrder(ctx, sub.FirstOrderID)
	if errors.Is(err, billing.ErrNotFound) || (err == nil && p.Sink == "") {
		return nil // started by SMS or without a sink: nobody to tell
	}
	if err != nil {
		return fmt.Errorf("reading the API payment of order %d: %w", sub.FirstOrderID, err)
	}
	eventID := "renewal-" + strconv.FormatInt(o.ID, 10) + "-" + data.Status
	body, err := n.cloudEvent(eventID, typ, now, data)
	if err != nil {
		return err
	}
	_, err = tx.EnqueueNotification(ctx, billing.Notification{EventID: eventID, Merchant: p.Merchant, OrderID: o.ID,
		Sink: p.Sink, SinkToken: p.SinkToken, Body: body, CreatedAt: now, NextAt: now})
	return err
}
