package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/carrierbill/carrierbill/billing"
)

// The merchant API's rows and the notification outbox (billing/notify.go),
// in the same shape as billing/postgres/notify.go.

const apiPaymentCols = `p.order_id, p.merchant, p.kind, coalesce(p.client_correlator, ''), p.reference_code, p.request_hash,
	p.request, coalesce(p.sink, ''), coalesce(p.sink_token, ''), p.created_at`

const apiPaymentJoinCols = apiPaymentCols + `, o.msisdn, o.product, o.product_name, o.amount_fen, o.method, o.status,
	coalesce(o.reason, ''), coalesce(o.merchant_ref, ''), o.service_addr, o.channel, o.created_at, o.expires_at, o.updated_at,
	(SELECT c.resolved_at FROM charges c WHERE c.order_id = o.id AND c.status = 'succeeded')`

const apiPaymentFrom = ` FROM api_payments p JOIN orders o ON o.id = p.order_id `

const apiRefundCols = `a.refund_id, a.order_id, a.merchant, a.kind, coalesce(a.client_correlator, ''), a.reference_code,
	a.request_hash, a.request, a.reason, coalesce(a.sink, ''), coalesce(a.sink_token, ''), a.created_at`

const apiRefundJoinCols = apiRefundCols + `, r.charge_id, r.idempotency_key, r.amount_fen, r.reason, r.created_at`

const notificationCols = `id, event_id, merchant, coalesce(order_id, 0), sink, coalesce(sink_token, ''), body, created_at, next_at,
	attempts, delivered_at, failed_at, coalesce(last_error, '')`

// notifyUnique maps the columns SQLite names in a UNIQUE violation of the
// merchant API's tables to the domain error.
var notifyUnique = map[string]error{
	"api_payments.merchant, api_payments.client_correlator": billing.ErrDuplicateCorrelator,
	"api_refunds.merchant, api_refunds.client_correlator":   billing.ErrDuplicateCorrelator,
	"api_payments.merchant, api_payments.reference_code":    billing.ErrDuplicateReference,
	"api_refunds.merchant, api_refunds.reference_code":      billing.ErrDuplicateReference,
}

func notifyError(err error) error {
	if target, ok := notifyUnique[constraintName(err)]; ok {
		return fmt.Errorf("%w (%s)", target, strings.TrimSpace(err.Error()))
	}
	return domainError(err)
}

type scanner interface{ Scan(...any) error }

func scanAPIPayment(r scanner, joined bool) (billing.APIPayment, error) {
	var p billing.APIPayment
	var req string
	var created int64
	dst := []any{&p.OrderID, &p.Merchant, &p.Kind, &p.ClientCorrelator, &p.ReferenceCode, &p.RequestHash, &req, &p.Sink, &p.SinkToken, &created}
	var oCreated, oExpires, oUpdated int64
	var paid sql.NullInt64
	o := &p.Order
	if joined {
		dst = append(dst, &o.MSISDN, &o.Product, &o.ProductName, &o.Amount, &o.Method, &o.Status, &o.Reason, &o.MerchantRef,
			&o.ServiceAddr, &o.Channel, &oCreated, &oExpires, &oUpdated, &paid)
	}
	if err := r.Scan(dst...); err != nil {
		return p, err
	}
	p.Request, p.CreatedAt = []byte(req), fromTS(created)
	if joined {
		o.ID, o.Merchant = p.OrderID, p.Merchant
		o.CreatedAt, o.ExpiresAt, o.UpdatedAt = fromTS(oCreated), fromTS(oExpires), fromTS(oUpdated)
		p.PaidAt = fromNullTS(paid)
	}
	return p, nil
}

func scanAPIRefund(r scanner, joined bool) (billing.APIRefund, error) {
	var a billing.APIRefund
	var req string
	var created, rCreated int64
	dst := []any{&a.RefundID, &a.OrderID, &a.Merchant, &a.Kind, &a.ClientCorrelator, &a.ReferenceCode, &a.RequestHash, &req,
		&a.Reason, &a.Sink, &a.SinkToken, &created}
	rf := &a.Refund
	if joined {
		dst = append(dst, &rf.ChargeID, &rf.IdempotencyKey, &rf.Amount, &rf.Reason, &rCreated)
	}
	if err := r.Scan(dst...); err != nil {
		return a, err
	}
	a.Request, a.CreatedAt = []byte(req), fromTS(created)
	rf.ID = a.RefundID
	if joined {
		rf.CreatedAt = fromTS(rCreated)
	}
	return a, nil
}

func scanNotification(r scanner) (billing.Notification, error) {
	var n billing.Notification
	var body string
	var created, next int64
	var delivered, failed sql.NullInt64
	err := r.Scan(&n.ID, &n.EventID, &n.Merchant, &n.OrderID, &n.Sink, &n.SinkToken, &body, &created, &next,
		&n.Attempts, &delivered, &failed, &n.LastError)
	n.Body = []byte(body)
	n.CreatedAt, n.NextAt = fromTS(created), fromTS(next)
	n.DeliveredAt, n.FailedAt = fromNullTS(delivered), fromNullTS(failed)
	return n, err
}

type sqlQueryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// collect runs query and scans every row with scan.
func collect[T any](ctx context.Context, db sqlQueryer, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, domainError(err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// exactlyOne is collect for one row: billing.ErrNotFound when there is none.
func exactlyOne[T any](ctx context.Context, db sqlQueryer, scan func(scanner) (T, error), query string, args ...any) (T, error) {
	out, err := collect(ctx, db, scan, query, args...)
	var zero T
	switch {
	case err != nil:
		return zero, err
	case len(out) == 0:
		return zero, billing.ErrNotFound
	}
	return out[0], nil
}

func joinedPayment(r scanner) (billing.APIPayment, error) { return scanAPIPayment(r, true) }
func plainPayment(r scanner) (billing.APIPayment, error)  { return scanAPIPayment(r, false) }
func joinedRefund(r scanner) (billing.APIRefund, error)   { return scanAPIRefund(r, true) }
func plainRefund(r scanner) (billing.APIRefund, error)    { return scanAPIRefund(r, false) }

// InsertAPIPayment implements billing.NotifyTx.
func (t *txImpl) InsertAPIPayment(ctx context.Context, p billing.APIPayment) error {
	_, err := t.tx.ExecContext(ctx, `INSERT INTO api_payments (order_id, merchant, kind, client_correlator, reference_code,
		request_hash, request, sink, sink_token, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		p.OrderID, p.Merchant, string(p.Kind), nullString(p.ClientCorrelator), p.ReferenceCode, p.RequestHash, string(p.Request),
		nullString(p.Sink), nullString(p.SinkToken), ts(p.CreatedAt))
	return notifyError(err)
}

// APIPaymentOfOrder implements billing.NotifyTx.
func (t *txImpl) APIPaymentOfOrder(ctx context.Context, orderID int64) (billing.APIPayment, error) {
	return exactlyOne(ctx, t.tx, plainPayment, `SELECT `+apiPaymentCols+` FROM api_payments p WHERE p.order_id = ?`, orderID)
}

// InsertAPIRefund implements billing.NotifyTx.
func (t *txImpl) InsertAPIRefund(ctx context.Context, r billing.APIRefund) error {
	_, err := t.tx.ExecContext(ctx, `INSERT INTO api_refunds (refund_id, order_id, merchant, kind, client_correlator, reference_code,
		request_hash, request, reason, sink, sink_token, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.RefundID, r.OrderID, r.Merchant, r.Kind, nullString(r.ClientCorrelator), r.ReferenceCode, r.RequestHash, string(r.Request),
		r.Reason, nullString(r.Sink), nullString(r.SinkToken), ts(r.CreatedAt))
	return notifyError(err)
}

// APIRefundOf implements billing.NotifyTx.
func (t *txImpl) APIRefundOf(ctx context.Context, refundID int64) (billing.APIRefund, error) {
	return exactlyOne(ctx, t.tx, plainRefund, `SELECT `+apiRefundCols+` FROM api_refunds a WHERE a.refund_id = ?`, refundID)
}

// EnqueueNotification implements billing.NotifyTx.
func (t *txImpl) EnqueueNotification(ctx context.Context, n billing.Notification) (bool, error) {
	var orderID sql.NullInt64
	if n.OrderID != 0 {
		orderID = sql.NullInt64{Int64: n.OrderID, Valid: true}
	}
	res, err := t.tx.ExecContext(ctx, `INSERT INTO notifications (event_id, merchant, order_id, sink, sink_token, body, created_at, next_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (event_id) DO NOTHING`,
		n.EventID, n.Merchant, orderID, n.Sink, nullString(n.SinkToken), string(n.Body), ts(n.CreatedAt), ts(n.NextAt))
	if err != nil {
		return false, domainError(err)
	}
	k, err := res.RowsAffected()
	return k == 1, err
}

// APIPayment implements billing.NotifyStore.
func (s *Store) APIPayment(ctx context.Context, merchant string, orderID int64) (billing.APIPayment, error) {
	return exactlyOne(ctx, s.reader, joinedPayment, `SELECT `+apiPaymentJoinCols+apiPaymentFrom+`WHERE p.order_id = ? AND p.merchant = ?`, orderID, merchant)
}

// APIPaymentByCorrelator implements billing.NotifyStore.
func (s *Store) APIPaymentByCorrelator(ctx context.Context, merchant, correlator string) (billing.APIPayment, error) {
	return exactlyOne(ctx, s.reader, joinedPayment, `SELECT `+apiPaymentJoinCols+apiPaymentFrom+`WHERE p.merchant = ? AND p.client_correlator = ?`, merchant, correlator)
}

// APIPaymentByReference implements billing.NotifyStore.
func (s *Store) APIPaymentByReference(ctx context.Context, merchant, ref string) (billing.APIPayment, error) {
	return exactlyOne(ctx, s.reader, joinedPayment, `SELECT `+apiPaymentJoinCols+apiPaymentFrom+`WHERE p.merchant = ? AND p.reference_code = ?`, merchant, ref)
}

// APIPayments implements billing.NotifyStore.
func (s *Store) APIPayments(ctx context.Context, q billing.APIPaymentQuery) ([]billing.APIPayment, error) {
	order := "DESC"
	if q.Asc {
		order = "ASC"
	}
	return collect(ctx, s.reader, joinedPayment, `SELECT `+apiPaymentJoinCols+apiPaymentFrom+`WHERE p.merchant = ?1
		AND (?2 IS NULL OR p.created_at >= ?2) AND (?3 IS NULL OR p.created_at <= ?3)
		ORDER BY p.created_at `+order+`, p.order_id `+order+` LIMIT ?4`, q.Merchant, nullTS(q.From), nullTS(q.To), q.Limit)
}

// APIRefunds implements billing.NotifyStore.
func (s *Store) APIRefunds(ctx context.Context, merchant string, orderID int64) ([]billing.APIRefund, error) {
	return collect(ctx, s.reader, joinedRefund, `SELECT `+apiRefundJoinCols+` FROM api_refunds a JOIN refunds r ON r.id = a.refund_id
		WHERE a.merchant = ? AND a.order_id = ? ORDER BY a.refund_id`, merchant, orderID)
}

// APIRefundByCorrelator implements billing.NotifyStore.
func (s *Store) APIRefundByCorrelator(ctx context.Context, merchant, correlator string) (billing.APIRefund, error) {
	return exactlyOne(ctx, s.reader, joinedRefund, `SELECT `+apiRefundJoinCols+` FROM api_refunds a JOIN refunds r ON r.id = a.refund_id
		WHERE a.merchant = ? AND a.client_correlator = ?`, merchant, correlator)
}

// ClaimNotifications implements billing.NotifyStore (the single writer
// serializes the claims).
func (s *Store) ClaimNotifications(ctx context.Context, now, leaseUntil time.Time, limit int) ([]billing.Notification, error) {
	// A read first: the dispatcher polls often, and an idle poll must not
	// take the single writer from the gateway.
	var due int
	if err := s.reader.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM notifications
		WHERE delivered_at IS NULL AND failed_at IS NULL AND next_at <= ?)`, ts(now)).Scan(&due); err != nil {
		return nil, fmt.Errorf("looking for due notifications: %w", err)
	}
	if due == 0 {
		return nil, nil
	}
	var out []billing.Notification
	err := s.write(ctx, func(t *sql.Tx) error {
		var err error
		out, err = collect(ctx, t, scanNotification, `SELECT `+notificationCols+` FROM notifications
			WHERE delivered_at IS NULL AND failed_at IS NULL AND next_at <= ? ORDER BY next_at, id LIMIT ?`, ts(now), limit)
		if err != nil {
			return err
		}
		for i := range out {
			if err := execOne(ctx, t, `UPDATE notifications SET next_at = ?, attempts = attempts + 1 WHERE id = ?`, ts(leaseUntil), out[i].ID); err != nil {
				return err
			}
			out[i].NextAt = leaseUntil
			out[i].Attempts++
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("claiming notifications: %w", err)
	}
	return out, nil
}

// MarkNotificationDelivered implements billing.NotifyStore.
func (s *Store) MarkNotificationDelivered(ctx context.Context, id int64, at time.Time) error {
	err := s.write(ctx, func(t *sql.Tx) error {
		return execOne(ctx, t, `UPDATE notifications SET delivered_at = coalesce(delivered_at, ?), last_error = NULL WHERE id = ?`, ts(at), id)
	})
	if err != nil {
		return fmt.Errorf("marking notification %d delivered: %w", id, err)
	}
	return nil
}

// MarkNotificationFailed implements billing.NotifyStore.
func (s *Store) MarkNotificationFailed(ctx context.Context, id int64, nextAt time.Time, errText string, giveUp bool, at time.Time) error {
	var failed sql.NullInt64
	if giveUp {
		failed = nullTS(at)
	}
	err := s.write(ctx, func(t *sql.Tx) error {
		return execOne(ctx, t, `UPDATE notifications SET next_at = ?, last_error = ?, failed_at = ? WHERE id = ? AND delivered_at IS NULL`,
			ts(nextAt), errText, failed, id)
	})
	if err != nil {
		return fmt.Errorf("marking notification %d failed: %w", id, err)
	}
	return nil
}

// NotificationsOfOrder implements billing.NotifyStore.
func (s *Store) NotificationsOfOrder(ctx context.Context, orderID int64) ([]billing.Notification, error) {
	return collect(ctx, s.reader, scanNotification, `SELECT `+notificationCols+` FROM notifications WHERE order_id = ? ORDER BY id`, orderID)
}
