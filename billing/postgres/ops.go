package postgres

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/carrierbill/carrierbill/billing"
)

// This file holds the queries of operations (issue 16): the backlog the
// metrics exporter reads on scrape and the account status an operator
// changes.

var _ billing.BacklogReader = (*Store)(nil)

// Backlog implements billing.BacklogReader: counts over the partial indexes
// of what is waiting, in one statement.
func (s *Store) Backlog(ctx context.Context, now time.Time) (billing.Backlog, error) {
	var b billing.Backlog
	var oldestMO, oldestMT *time.Time
	err := s.pool.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM mo_inbox WHERE processed_at IS NULL),
		(SELECT min(received_at) FROM mo_inbox WHERE processed_at IS NULL),
		(SELECT count(*) FROM outbox WHERE sent_at IS NULL),
		(SELECT min(created_at) FROM outbox WHERE sent_at IS NULL),
		(SELECT count(*) FROM charges WHERE status = 'pending'),
		(SELECT count(*) FROM orders WHERE status = 'pending')`).Scan(
		&b.UnprocessedMOs, &oldestMO, &b.OutboxUnsent, &oldestMT, &b.PendingCharges, &b.PendingOrders)
	if err != nil {
		return billing.Backlog{}, mapErr(err)
	}
	if oldestMO != nil {
		b.OldestMOAge = max(now.Sub(*oldestMO), 0)
	}
	if oldestMT != nil {
		b.OldestOutboxAge = max(now.Sub(*oldestMT), 0)
	}
	return b, nil
}

var _ billing.AccountStatusStore = (*AccountStore)(nil)

// SetAccountSuspended implements billing.AccountStatusStore in one UPDATE.
func (s *AccountStore) SetAccountSuspended(ctx context.Context, msisdn string, suspended bool) error {
	tag, err := s.pool.Exec(ctx, `UPDATE subscribers SET status = CASE WHEN $2::boolean THEN 'suspended' ELSE 'active' END
		WHERE msisdn = $1::text`, msisdn, suspended)
	if err != nil {
		return mapErr(err)
	}
	if tag.RowsAffected() == 0 {
		return billing.ErrNotFound
	}
	return nil
}

var _ billing.OrderSearcher = (*Store)(nil)

// SearchOrders implements billing.OrderSearcher.
func (s *Store) SearchOrders(ctx context.Context, q billing.OrderQuery) ([]billing.OrderHit, error) {
	where, arg, err := searchWhere(q, func(n int) string { return "$" + strconv.Itoa(n) })
	if err != nil {
		return nil, err
	}
	args := append(arg, q.Cap())
	rows, err := s.pool.Query(ctx, `SELECT o.id, coalesce(c.id, 0), coalesce(c.status, ''), o.msisdn, o.merchant, coalesce(o.merchant_ref, ''),
		o.product_name, o.amount_fen, o.method, o.status, coalesce(o.reason, ''),
		coalesce((SELECT sum(r.amount_fen) FROM refunds r WHERE r.charge_id = c.id), 0)::bigint, o.created_at
		FROM orders o LEFT JOIN charges c ON c.order_id = o.id
		WHERE `+where+` ORDER BY o.id DESC LIMIT $`+strconv.Itoa(len(args))+`::int`, args...)
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	var out []billing.OrderHit
	for rows.Next() {
		var h billing.OrderHit
		if err := rows.Scan(&h.OrderID, &h.ChargeID, &h.ChargeStatus, &h.MSISDN, &h.Merchant, &h.MerchantRef, &h.ProductName,
			&h.Amount, &h.Method, &h.Status, &h.Reason, &h.Refunded, &h.CreatedAt); err != nil {
			return nil, mapErr(err)
		}
		out = append(out, h)
	}
	return out, mapErr(rows.Err())
}

// searchWhere is the condition of a search (shared in shape with the
// embedded store's): ph(n) writes the n-th placeholder.
func searchWhere(q billing.OrderQuery, ph func(int) string) (string, []any, error) {
	switch {
	case q.OrderID != 0:
		return "o.id = " + ph(1) + "::bigint", []any{q.OrderID}, nil
	case q.ChargeID != 0:
		return "c.id = " + ph(1) + "::bigint", []any{q.ChargeID}, nil
	case q.MerchantRef != "" && q.Merchant != "":
		return "o.merchant = " + ph(1) + "::text AND o.merchant_ref = " + ph(2) + "::text", []any{q.Merchant, q.MerchantRef}, nil
	case q.MerchantRef != "":
		return "o.merchant_ref = " + ph(1) + "::text", []any{q.MerchantRef}, nil
	case q.MSISDN != "":
		return "o.msisdn = " + ph(1) + "::text", []any{q.MSISDN}, nil
	case q.Mask != "":
		p, err := billing.MaskPattern(q.Mask)
		if err != nil {
			return "", nil, err
		}
		return "o.msisdn LIKE " + ph(1) + "::text", []any{p}, nil
	}
	return "", nil, errors.Join(billing.ErrBadRequest, errors.New("search: give an order id, a transaction id, a merchant reference or a number"))
}

var _ billing.MTReader = (*Store)(nil)

// MTsTo implements billing.MTReader.
func (s *Store) MTsTo(ctx context.Context, msisdn string, since time.Time, limit int) ([]billing.OutboxMsg, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, msisdn, service_addr, body, kind, coalesce(order_id, 0), created_at, sent_at
		FROM outbox WHERE msisdn = $1::text AND created_at >= $2::timestamptz ORDER BY id LIMIT $3::int`, msisdn, since, limit)
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	var out []billing.OutboxMsg
	for rows.Next() {
		var m billing.OutboxMsg
		var sent *time.Time
		if err := rows.Scan(&m.ID, &m.MSISDN, &m.ServiceAddr, &m.Body, &m.Kind, &m.OrderID, &m.CreatedAt, &sent); err != nil {
			return nil, mapErr(err)
		}
		if sent != nil {
			m.SentAt = *sent
		}
		out = append(out, m)
	}
	return out, mapErr(rows.Err())
}

var _ billing.RefusalLog = (*Store)(nil)

// RecordRefusals implements billing.RefusalLog in one statement.
func (s *Store) RecordRefusals(ctx context.Context, rs []billing.Refusal) error {
	if len(rs) == 0 {
		return nil
	}
	at, req, reason, merchant := make([]time.Time, len(rs)), make([]string, len(rs)), make([]string, len(rs)), make([]string, len(rs))
	for i, r := range rs {
		at[i], req[i], reason[i], merchant[i] = r.At, string(r.Request), string(r.Reason), r.Merchant
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO refusals (at, request, reason, merchant)
		SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[])`, at, req, reason, merchant)
	return mapErr(err)
}
