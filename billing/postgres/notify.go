package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/carrierbill/carrierbill/billing"
)

// The merchant API's rows and the notification outbox (billing/notify.go).

const apiPaymentCols = `p.order_id, p.merchant, p.kind, COALESCE(p.client_correlator, ''), p.reference_code, p.request_hash,
	p.request, COALESCE(p.sink, ''), COALESCE(p.sink_token, ''), p.created_at`

// apiPaymentJoinCols add the order and the charge's resolution to
// apiPaymentCols.
const apiPaymentJoinCols = apiPaymentCols + `, o.msisdn, o.product, o.product_name, o.amount_fen, o.method, o.status,
	COALESCE(o.reason, ''), COALESCE(o.merchant_ref, ''), o.service_addr, o.channel, o.created_at, o.expires_at, o.updated_at,
	(SELECT c.resolved_at FROM charges c WHERE c.order_id = o.id AND c.status = 'succeeded')`

const apiPaymentFrom = ` FROM api_payments p JOIN orders o ON o.id = p.order_id `

const apiRefundCols = `a.refund_id, a.order_id, a.merchant, a.kind, COALESCE(a.client_correlator, ''), a.reference_code,
	a.request_hash, a.request, a.reason, COALESCE(a.sink, ''), COALESCE(a.sink_token, ''), a.created_at`

const apiRefundJoinCols = apiRefundCols + `, r.charge_id, r.idempotency_key, r.amount_fen, r.reason, r.created_at`

const notificationCols = `id, event_id, merchant, COALESCE(order_id, 0), sink, COALESCE(sink_token, ''), body, created_at, next_at,
	attempts, delivered_at, failed_at, COALESCE(last_error, '')`

func mapNotifyErr(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" {
		switch pe.ConstraintName {
		case "api_payments_correlator", "api_refunds_correlator":
			return fmt.Errorf("%w (%s)", billing.ErrDuplicateCorrelator, pe.ConstraintName)
		case "api_payments_reference", "api_refunds_reference":
			return fmt.Errorf("%w (%s)", billing.ErrDuplicateReference, pe.ConstraintName)
		}
	}
	return mapErr(err)
}

func scanAPIPayment(r pgx.CollectableRow, joined bool) (billing.APIPayment, error) {
	var p billing.APIPayment
	var req string
	dst := []any{&p.OrderID, &p.Merchant, &p.Kind, &p.ClientCorrelator, &p.ReferenceCode, &p.RequestHash, &req, &p.Sink, &p.SinkToken, &p.CreatedAt}
	var paid *time.Time
	o := &p.Order
	if joined {
		dst = append(dst, &o.MSISDN, &o.Product, &o.ProductName, &o.Amount, &o.Method, &o.Status, &o.Reason, &o.MerchantRef,
			&o.ServiceAddr, &o.Channel, &o.CreatedAt, &o.ExpiresAt, &o.UpdatedAt, &paid)
	}
	if err := r.Scan(dst...); err != nil {
		return p, err
	}
	p.Request = []byte(req)
	if joined {
		o.ID, o.Merchant = p.OrderID, p.Merchant
		p.PaidAt = fromNullTime(paid)
	}
	return p, nil
}

func scanAPIRefund(r pgx.CollectableRow, joined bool) (billing.APIRefund, error) {
	var a billing.APIRefund
	var req string
	dst := []any{&a.RefundID, &a.OrderID, &a.Merchant, &a.Kind, &a.ClientCorrelator, &a.ReferenceCode, &a.RequestHash, &req,
		&a.Reason, &a.Sink, &a.SinkToken, &a.CreatedAt}
	rf := &a.Refund
	if joined {
		dst = append(dst, &rf.ChargeID, &rf.IdempotencyKey, &rf.Amount, &rf.Reason, &rf.CreatedAt)
	}
	if err := r.Scan(dst...); err != nil {
		return a, err
	}
	a.Request = []byte(req)
	rf.ID = a.RefundID
	return a, nil
}

func scanNotification(r pgx.CollectableRow) (billing.Notification, error) {
	var n billing.Notification
	var body string
	var delivered, failed *time.Time
	err := r.Scan(&n.ID, &n.EventID, &n.Merchant, &n.OrderID, &n.Sink, &n.SinkToken, &body, &n.CreatedAt, &n.NextAt,
		&n.Attempts, &delivered, &failed, &n.LastError)
	n.Body = []byte(body)
	n.DeliveredAt, n.FailedAt = fromNullTime(delivered), fromNullTime(failed)
	return n, err
}

type queryer interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

func oneAPIPayment(ctx context.Context, db queryer, joined bool, sql string, args ...any) (billing.APIPayment, error) {
	rows, err := db.Query(ctx, sql, args...)
	if err != nil {
		return billing.APIPayment{}, mapErr(err)
	}
	p, err := pgx.CollectExactlyOneRow(rows, func(r pgx.CollectableRow) (billing.APIPayment, error) { return scanAPIPayment(r, joined) })
	return p, mapErr(err)
}

// InsertAPIPayment implements billing.NotifyTx.
func (t *tx) InsertAPIPayment(ctx context.Context, p billing.APIPayment) error {
	_, err := t.tx.Exec(ctx, `INSERT INTO api_payments (order_id, merchant, kind, client_correlator, reference_code, request_hash,
		request, sink, sink_token, created_at) VALUES ($1::bigint, $2::text, $3::text, $4::text, $5::text, $6::text, $7::text, $8::text, $9::text, $10::timestamptz)`,
		p.OrderID, p.Merchant, string(p.Kind), nullString(p.ClientCorrelator), p.ReferenceCode, p.RequestHash, string(p.Request),
		nullString(p.Sink), nullString(p.SinkToken), p.CreatedAt)
	return mapNotifyErr(err)
}

// APIPaymentOfOrder implements billing.NotifyTx.
func (t *tx) APIPaymentOfOrder(ctx context.Context, orderID int64) (billing.APIPayment, error) {
	return oneAPIPayment(ctx, t.tx, false, `SELECT `+apiPaymentCols+` FROM api_payments p WHERE p.order_id = $1::bigint`, orderID)
}

// InsertAPIRefund implements billing.NotifyTx.
func (t *tx) InsertAPIRefund(ctx context.Context, r billing.APIRefund) error {
	_, err := t.tx.Exec(ctx, `INSERT INTO api_refunds (refund_id, order_id, merchant, kind, client_correlator, reference_code,
		request_hash, request, reason, sink, sink_token, created_at)
		VALUES ($1::bigint, $2::bigint, $3::text, $4::text, $5::text, $6::text, $7::text, $8::text, $9::text, $10::text, $11::text, $12::timestamptz)`,
		r.RefundID, r.OrderID, r.Merchant, r.Kind, nullString(r.ClientCorrelator), r.ReferenceCode, r.RequestHash, string(r.Request),
		r.Reason, nullString(r.Sink), nullString(r.SinkToken), r.CreatedAt)
	return mapNotifyErr(err)
}

// APIRefundOf implements billing.NotifyTx.
func (t *tx) APIRefundOf(ctx context.Context, refundID int64) (billing.APIRefund, error) {
	rows, err := t.tx.Query(ctx, `SELECT `+apiRefundCols+` FROM api_refunds a WHERE a.refund_id = $1::bigint`, refundID)
	if err != nil {
		return billing.APIRefund{}, mapErr(err)
	}
	a, err := pgx.CollectExactlyOneRow(rows, func(r pgx.CollectableRow) (billing.APIRefund, error) { return scanAPIRefund(r, false) })
	return a, mapErr(err)
}

// EnqueueNotification implements billing.NotifyTx.
func (t *tx) EnqueueNotification(ctx context.Context, n billing.Notification) (bool, error) {
	var orderID *int64
	if n.OrderID != 0 {
		orderID = &n.OrderID
	}
	tag, err := t.tx.Exec(ctx, `INSERT INTO notifications (event_id, merchant, order_id, sink, sink_token, body, created_at, next_at)
		VALUES ($1::text, $2::text, $3::bigint, $4::text, $5::text, $6::text, $7::timestamptz, $8::timestamptz)
		ON CONFLICT (event_id) DO NOTHING`,
		n.EventID, n.Merchant, orderID, n.Sink, nullString(n.SinkToken), string(n.Body), n.CreatedAt, n.NextAt)
	if err != nil {
		return false, mapErr(err)
	}
	return tag.RowsAffected() == 1, nil
}

// APIPayment implements billing.NotifyStore.
func (s *Store) APIPayment(ctx context.Context, merchant string, orderID int64) (billing.APIPayment, error) {
	return oneAPIPayment(ctx, s.pool, true, `SELECT `+apiPaymentJoinCols+apiPaymentFrom+`WHERE p.order_id = $1::bigint AND p.merchant = $2::text`, orderID, merchant)
}

// APIPaymentByCorrelator implements billing.NotifyStore.
func (s *Store) APIPaymentByCorrelator(ctx context.Context, merchant, correlator string) (billing.APIPayment, error) {
	return oneAPIPayment(ctx, s.pool, true, `SELECT `+apiPaymentJoinCols+apiPaymentFrom+`WHERE p.merchant = $1::text AND p.client_correlator = $2::text`, merchant, correlator)
}

// APIPaymentByReference implements billing.NotifyStore.
func (s *Store) APIPaymentByReference(ctx context.Context, merchant, ref string) (billing.APIPayment, error) {
	return oneAPIPayment(ctx, s.pool, true, `SELECT `+apiPaymentJoinCols+apiPaymentFrom+`WHERE p.merchant = $1::text AND p.reference_code = $2::text`, merchant, ref)
}

// APIPayments implements billing.NotifyStore.
func (s *Store) APIPayments(ctx context.Context, q billing.APIPaymentQuery) ([]billing.APIPayment, error) {
	order := "DESC"
	if q.Asc {
		order = "ASC"
	}
	rows, err := s.pool.Query(ctx, `SELECT `+apiPaymentJoinCols+apiPaymentFrom+`WHERE p.merchant = $1::text
		AND ($2::timestamptz IS NULL OR p.created_at >= $2::timestamptz) AND ($3::timestamptz IS NULL OR p.created_at <= $3::timestamptz)
		ORDER BY p.created_at `+order+`, p.order_id `+order+` LIMIT $4::bigint`, q.Merchant, nullTime(q.From), nullTime(q.To), q.Limit)
	if err != nil {
		return nil, mapErr(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (billing.APIPayment, error) { return scanAPIPayment(r, true) })
	return out, mapErr(err)
}

// APIRefunds implements billing.NotifyStore.
func (s *Store) APIRefunds(ctx context.Context, merchant string, orderID int64) ([]billing.APIRefund, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+apiRefundJoinCols+` FROM api_refunds a JOIN refunds r ON r.id = a.refund_id
		WHERE a.merchant = $1::text AND a.order_id = $2::bigint ORDER BY a.refund_id`, merchant, orderID)
	if err != nil {
		return nil, mapErr(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (billing.APIRefund, error) { return scanAPIRefund(r, true) })
	return out, mapErr(err)
}

// APIRefundByCorrelator implements billing.NotifyStore.
func (s *Store) APIRefundByCorrelator(ctx context.Context, merchant, correlator string) (billing.APIRefund, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+apiRefundJoinCols+` FROM api_refunds a JOIN refunds r ON r.id = a.refund_id
		WHERE a.merchant = $1::text AND a.client_correlator = $2::text`, merchant, correlator)
	if err != nil {
		return billing.APIRefund{}, mapErr(err)
	}
	a, err := pgx.CollectExactlyOneRow(rows, func(r pgx.CollectableRow) (billing.APIRefund, error) { return scanAPIRefund(r, true) })
	return a, mapErr(err)
}

// ClaimNotifications implements billing.NotifyStore.
func (s *Store) ClaimNotifications(ctx context.Context, now, leaseUntil time.Time, limit int) ([]billing.Notification, error) {
	var out []billing.Notification
	err := retryTx(ctx, s.pool, func(t pgx.Tx) error {
		rows, err := t.Query(ctx, `UPDATE notifications SET next_at = $2::timestamptz, attempts = attempts + 1
			WHERE id IN (SELECT id FROM notifications WHERE delivered_at IS NULL AND failed_at IS NULL AND next_at <= $1::timestamptz
				ORDER BY next_at, id LIMIT $3::bigint FOR UPDATE SKIP LOCKED)
			RETURNING `+notificationCols, now, leaseUntil, limit)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, scanNotification)
		return err
	})
	if err != nil {
		return nil, mapErr(err)
	}
	sortNotifications(out)
	return out, nil
}

// MarkNotificationDelivered implements billing.NotifyStore.
func (s *Store) MarkNotificationDelivered(ctx context.Context, id int64, at time.Time) error {
	return exec1(ctx, s.pool, `UPDATE notifications SET delivered_at = COALESCE(delivered_at, $2::timestamptz), last_error = NULL
		WHERE id = $1::bigint`, id, at)
}

// MarkNotificationFailed implements billing.NotifyStore.
func (s *Store) MarkNotificationFailed(ctx context.Context, id int64, nextAt time.Time, errText string, giveUp bool, at time.Time) error {
	var failed *time.Time
	if giveUp {
		failed = &at
	}
	return exec1(ctx, s.pool, `UPDATE notifications SET next_at = $2::timestamptz, last_error = $3::text, failed_at = $4::timestamptz
		WHERE id = $1::bigint AND delivered_at IS NULL`, id, nextAt, errText, failed)
}

// NotificationsOfOrder implements billing.NotifyStore.
func (s *Store) NotificationsOfOrder(ctx context.Context, orderID int64) ([]billing.Notification, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+notificationCols+` FROM notifications WHERE order_id = $1::bigint ORDER BY id`, orderID)
	if err != nil {
		return nil, mapErr(err)
	}
	out, err := pgx.CollectRows(rows, scanNotification)
	return out, mapErr(err)
}

// sortNotifications puts claimed rows in id order: RETURNING gives no
// order, and the claim moved next_at.
func sortNotifications(ns []billing.Notification) {
	slices.SortFunc(ns, func(a, b billing.Notification) int { return cmp.Compare(a.ID, b.ID) })
}
