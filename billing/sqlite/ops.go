package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/carrierbill/carrierbill/billing"
)

// This file holds the queries of operations (issue 16): the backlog the
// metrics exporter reads on scrape and the account status an operator
// changes.

var _ billing.BacklogReader = (*Store)(nil)

// Backlog implements billing.BacklogReader on the read pool.
func (s *Store) Backlog(ctx context.Context, now time.Time) (billing.Backlog, error) {
	var b billing.Backlog
	var oldestMO, oldestMT sql.NullInt64
	err := s.reader.QueryRowContext(ctx, `SELECT
		(SELECT count(*) FROM mo_inbox WHERE processed_at IS NULL),
		(SELECT min(received_at) FROM mo_inbox WHERE processed_at IS NULL),
		(SELECT count(*) FROM outbox WHERE sent_at IS NULL),
		(SELECT min(created_at) FROM outbox WHERE sent_at IS NULL),
		(SELECT count(*) FROM charges WHERE status = 'pending'),
		(SELECT count(*) FROM orders WHERE status = 'pending')`).Scan(
		&b.UnprocessedMOs, &oldestMO, &b.OutboxUnsent, &oldestMT, &b.PendingCharges, &b.PendingOrders)
	if err != nil {
		return billing.Backlog{}, domainError(err)
	}
	if oldestMO.Valid {
		b.OldestMOAge = max(now.Sub(fromTS(oldestMO.Int64)), 0)
	}
	if oldestMT.Valid {
		b.OldestOutboxAge = max(now.Sub(fromTS(oldestMT.Int64)), 0)
	}
	return b, nil
}

var _ billing.AccountStatusStore = (*AccountStore)(nil)

// SetAccountSuspended implements billing.AccountStatusStore in one UPDATE.
func (a *AccountStore) SetAccountSuspended(ctx context.Context, msisdn string, suspended bool) error {
	return a.s.write(ctx, func(t *sql.Tx) error {
		res, err := t.ExecContext(ctx, `UPDATE subscribers SET status = CASE WHEN ? THEN 'suspended' ELSE 'active' END
			WHERE msisdn = ?`, suspended, msisdn)
		if err != nil {
			return domainError(err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			if err != nil {
				return err
			}
			return billing.ErrNotFound
		}
		return nil
	})
}

var _ billing.OrderSearcher = (*Store)(nil)

// SearchOrders implements billing.OrderSearcher on the read pool.
func (s *Store) SearchOrders(ctx context.Context, q billing.OrderQuery) ([]billing.OrderHit, error) {
	var where string
	var args []any
	switch {
	case q.OrderID != 0:
		where, args = "o.id = ?", []any{q.OrderID}
	case q.ChargeID != 0:
		where, args = "c.id = ?", []any{q.ChargeID}
	case q.MerchantRef != "" && q.Merchant != "":
		where, args = "o.merchant = ? AND o.merchant_ref = ?", []any{q.Merchant, q.MerchantRef}
	case q.MerchantRef != "":
		where, args = "o.merchant_ref = ?", []any{q.MerchantRef}
	case q.MSISDN != "":
		where, args = "o.msisdn = ?", []any{q.MSISDN}
	case q.Mask != "":
		p, err := billing.MaskPattern(q.Mask)
		if err != nil {
			return nil, err
		}
		where, args = "o.msisdn LIKE ?", []any{p}
	default:
		return nil, errors.Join(billing.ErrBadRequest, errors.New("search: give an order id, a transaction id, a merchant reference or a number"))
	}
	rows, err := s.reader.QueryContext(ctx, `SELECT o.id, coalesce(c.id, 0), coalesce(c.status, ''), o.msisdn, o.merchant, coalesce(o.merchant_ref, ''),
		o.product_name, o.amount_fen, o.method, o.status, coalesce(o.reason, ''),
		coalesce((SELECT sum(r.amount_fen) FROM refunds r WHERE r.charge_id = c.id), 0), o.created_at
		FROM orders o LEFT JOIN charges c ON c.order_id = o.id
		WHERE `+where+` ORDER BY o.id DESC LIMIT ?`, append(args, q.Cap())...)
	if err != nil {
		return nil, domainError(err)
	}
	defer rows.Close()
	var out []billing.OrderHit
	for rows.Next() {
		var h billing.OrderHit
		var created int64
		if err := rows.Scan(&h.OrderID, &h.ChargeID, &h.ChargeStatus, &h.MSISDN, &h.Merchant, &h.MerchantRef, &h.ProductName,
			&h.Amount, &h.Method, &h.Status, &h.Reason, &h.Refunded, &created); err != nil {
			return nil, domainError(err)
		}
		h.CreatedAt = fromTS(created)
		out = append(out, h)
	}
	return out, domainError(rows.Err())
}

var _ billing.MTReader = (*Store)(nil)

// MTsTo implements billing.MTReader on the read pool.
func (s *Store) MTsTo(ctx context.Context, msisdn string, since time.Time, limit int) ([]billing.OutboxMsg, error) {
	rows, err := s.reader.QueryContext(ctx, `SELECT id, msisdn, service_addr, body, kind, coalesce(order_id, 0), created_at, sent_at
		FROM outbox WHERE msisdn = ? AND created_at >= ? ORDER BY id LIMIT ?`, msisdn, ts(since), limit)
	if err != nil {
		return nil, domainError(err)
	}
	defer rows.Close()
	var out []billing.OutboxMsg
	for rows.Next() {
		var m billing.OutboxMsg
		var created int64
		var sent sql.NullInt64
		if err := rows.Scan(&m.ID, &m.MSISDN, &m.ServiceAddr, &m.Body, &m.Kind, &m.OrderID, &created, &sent); err != nil {
			return nil, domainError(err)
		}
		m.CreatedAt, m.SentAt = fromTS(created), fromNullTS(sent)
		out = append(out, m)
	}
	return out, domainError(rows.Err())
}

var _ billing.RefusalLog = (*Store)(nil)

// RecordRefusals implements billing.RefusalLog in one write transaction.
func (s *Store) RecordRefusals(ctx context.Context, rs []billing.Refusal) error {
	if len(rs) == 0 {
		return nil
	}
	return s.write(ctx, func(t *sql.Tx) error {
		for _, r := range rs {
			if _, err := t.ExecContext(ctx, `INSERT INTO refusals (at, request, reason, merchant) VALUES (?, ?, ?, ?)`,
				ts(r.At), string(r.Request), string(r.Reason), r.Merchant); err != nil {
				return domainError(err)
			}
		}
		return nil
	})
}
