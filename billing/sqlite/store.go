package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/carrierbill/carrierbill/billing"
)

var _ billing.Store = (*Store)(nil)

// maxBusyRetries bounds how often InTx starts over when another process
// held the write lock past the busy timeout.
const maxBusyRetries = 3

// InTx runs fn in one write transaction (BEGIN IMMEDIATE: it holds the
// database's write lock from the start, so every read in fn sees what no
// other writer can change before the commit). It commits when fn returns
// nil and returns fn's error unchanged otherwise. When another process holds
// the write lock past the busy timeout it starts over, then returns
// billing.ErrConflict.
func (s *Store) InTx(ctx context.Context, fn func(tx billing.Tx) error) error {
	for attempt := 0; ; attempt++ {
		var fnErr error
		err := s.write(ctx, func(t *sql.Tx) error {
			fnErr = fn(&txImpl{tx: t})
			return fnErr
		})
		switch {
		case err == nil:
			return nil
		case fnErr != nil:
			return fnErr
		case isBusy(err) && attempt < maxBusyRetries:
			s.log.Warn("sqlite store busy, retrying the transaction", "attempt", attempt+1)
			continue
		case isBusy(err):
			return fmt.Errorf("%w: %v", billing.ErrConflict, err)
		default:
			return err
		}
	}
}

// InsertMO durably stores mo (committed when it returns nil).
func (s *Store) InsertMO(ctx context.Context, mo billing.InboundMO) (int64, error) {
	var id int64
	err := s.write(ctx, func(t *sql.Tx) error {
		var sealed []byte
		if len(mo.Sealed) > 0 {
			sealed = mo.Sealed
		}
		return t.QueryRowContext(ctx, `INSERT INTO mo_inbox (bind, msisdn, service_addr, body, received_at, sealed)
			VALUES (?, ?, ?, ?, ?, ?) RETURNING id`,
			mo.Bind, mo.MSISDN, mo.ServiceAddr, mo.Body, ts(mo.ReceivedAt), sealed).Scan(&id)
	})
	if err != nil {
		return 0, fmt.Errorf("storing MO: %w", err)
	}
	return id, nil
}

// ClaimMOs leases the oldest unprocessed MO of each msisdn whose lease is
// free, up to limit, in id order.
func (s *Store) ClaimMOs(ctx context.Context, now, leaseUntil time.Time, limit int) ([]billing.InboundMO, error) {
	var out []billing.InboundMO
	err := s.write(ctx, func(t *sql.Tx) error {
		rows, err := t.QueryContext(ctx, `UPDATE mo_inbox SET lease_until = ?1, attempts = attempts + 1
			WHERE id IN (
				SELECT m.id FROM mo_inbox m
				WHERE m.processed_at IS NULL
				  AND m.id = (SELECT min(h.id) FROM mo_inbox h WHERE h.msisdn = m.msisdn AND h.processed_at IS NULL)
				  AND (m.lease_until IS NULL OR m.lease_until <= ?2)
				ORDER BY m.id LIMIT ?3)
			RETURNING id, bind, msisdn, service_addr, body, received_at, attempts`,
			ts(leaseUntil), ts(now), limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var m billing.InboundMO
			var at int64
			if err := rows.Scan(&m.ID, &m.Bind, &m.MSISDN, &m.ServiceAddr, &m.Body, &at, &m.Attempts); err != nil {
				return err
			}
			m.ReceivedAt = fromTS(at)
			out = append(out, m)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("claiming MOs: %w", err)
	}
	slices.SortFunc(out, func(a, b billing.InboundMO) int { return cmpInt(a.ID, b.ID) })
	return out, nil
}

// ReleaseMO ends the lease of the claimed, unprocessed MO id at notBefore.
func (s *Store) ReleaseMO(ctx context.Context, id int64, notBefore time.Time) error {
	err := s.write(ctx, func(t *sql.Tx) error {
		return execOne(ctx, t, `UPDATE mo_inbox SET lease_until = ? WHERE id = ? AND processed_at IS NULL`, ts(notBefore), id)
	})
	if err != nil {
		return fmt.Errorf("releasing MO %d: %w", id, err)
	}
	return nil
}

// ClaimOutbox leases up to limit unsent MTs due at now, oldest first.
func (s *Store) ClaimOutbox(ctx context.Context, now, leaseUntil time.Time, limit int) ([]billing.OutboxMsg, error) {
	var out []billing.OutboxMsg
	err := s.write(ctx, func(t *sql.Tx) error {
		// One statement leases the batch (a statement per row was two of
		// the writer's statements per payment); RETURNING has no order,
		// so the batch is sorted by id, the order the MTs were written.
		rows, err := t.QueryContext(ctx, `UPDATE outbox SET next_at = ?1, attempts = attempts + 1
			WHERE id IN (SELECT id FROM outbox WHERE sent_at IS NULL AND next_at <= ?2 ORDER BY next_at, id LIMIT ?3)
			RETURNING `+outboxCols, ts(leaseUntil), ts(now), limit)
		if err != nil {
			return err
		}
		for rows.Next() {
			m, err := scanOutbox(rows)
			if err != nil {
				rows.Close()
				return err
			}
			out = append(out, m)
		}
		if err := rows.Close(); err != nil {
			return err
		}
		slices.SortFunc(out, func(a, b billing.OutboxMsg) int { return cmp.Compare(a.ID, b.ID) })
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("claiming outbox: %w", err)
	}
	return out, nil
}

// MarkSent records that the MT id was accepted by the SMSC at at; marking
// it again is a no-op.
func (s *Store) MarkSent(ctx context.Context, id int64, at time.Time) error {
	err := s.write(ctx, func(t *sql.Tx) error {
		return execOne(ctx, t, `UPDATE outbox SET sent_at = coalesce(sent_at, ?), last_error = NULL WHERE id = ?`, ts(at), id)
	})
	if err != nil {
		return fmt.Errorf("marking MT %d sent: %w", id, err)
	}
	return nil
}

// MarkSendFailed records a failed send of the unsent MT id: ErrNotFound
// when there is no unsent MT id.
func (s *Store) MarkSendFailed(ctx context.Context, id int64, nextAt time.Time, errText string) error {
	err := s.write(ctx, func(t *sql.Tx) error {
		return execOne(ctx, t, `UPDATE outbox SET next_at = ?, last_error = ? WHERE id = ? AND sent_at IS NULL`,
			ts(nextAt), errText, id)
	})
	if err != nil {
		return fmt.Errorf("marking MT %d failed: %w", id, err)
	}
	return nil
}

// tx is billing.Tx on one write transaction. Every row it reads is
// "locked" in billing's sense because the transaction holds the database's
// write lock.
type txImpl struct {
	tx *sql.Tx
}

var _ billing.Tx = (*txImpl)(nil)

func (t *txImpl) MarkMOProcessed(ctx context.Context, id int64, at time.Time) error {
	if err := execOne(ctx, t.tx, `UPDATE mo_inbox SET processed_at = ? WHERE id = ?`, ts(at), id); err != nil {
		return fmt.Errorf("marking MO %d processed: %w", id, err)
	}
	return nil
}

const orderCols = `id, msisdn, merchant, product, product_name, amount_fen, method, status, reason, code,
	attempts, merchant_ref, service_addr, created_at, expires_at, updated_at, channel, idempotency_key, request_hash,
	prompted_at, fresh_codes`

func scanOrder(r interface{ Scan(...any) error }) (billing.Order, error) {
	var o billing.Order
	var reason, ref, key, hash sql.NullString
	var created, expires, updated int64
	var prompted sql.NullInt64
	err := r.Scan(&o.ID, &o.MSISDN, &o.Merchant, &o.Product, &o.ProductName, &o.Amount, &o.Method, &o.Status,
		&reason, &o.Code, &o.Attempts, &ref, &o.ServiceAddr, &created, &expires, &updated, &o.Channel, &key, &hash,
		&prompted, &o.FreshCodes)
	o.PromptedAt = fromNullTS(prompted)
	o.IdempotencyKey, o.RequestHash = key.String, hash.String
	o.Reason = billing.Reason(reason.String)
	o.MerchantRef = ref.String
	o.CreatedAt, o.ExpiresAt, o.UpdatedAt = fromTS(created), fromTS(expires), fromTS(updated)
	return o, err
}

func (t *txImpl) InsertOrder(ctx context.Context, o billing.Order) (int64, error) {
	var id int64
	err := t.tx.QueryRowContext(ctx, `INSERT INTO orders (msisdn, merchant, product, product_name, amount_fen,
		method, status, reason, code, attempts, merchant_ref, service_addr, created_at, expires_at, updated_at,
		channel, idempotency_key, request_hash, prompted_at, fresh_codes)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		o.MSISDN, o.Merchant, o.Product, o.ProductName, int64(o.Amount), string(o.Method), string(o.Status),
		nullString(string(o.Reason)), o.Code, o.Attempts, nullString(o.MerchantRef), o.ServiceAddr,
		ts(o.CreatedAt), ts(o.ExpiresAt), ts(o.UpdatedAt), channelOf(o.Channel), nullString(o.IdempotencyKey), nullString(o.RequestHash),
		nullTS(o.PromptedAt), o.FreshCodes).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("inserting order: %w", domainError(err))
	}
	return id, nil
}

func (t *txImpl) GetOrder(ctx context.Context, id int64) (billing.Order, error) {
	o, err := scanOrder(t.tx.QueryRowContext(ctx, `SELECT `+orderCols+` FROM orders WHERE id = ?`, id))
	if err != nil {
		return billing.Order{}, fmt.Errorf("reading order %d: %w", id, domainError(err))
	}
	return o, nil
}

func (t *txImpl) FindPendingOrder(ctx context.Context, msisdn, merchant, product string, amount billing.Money, method billing.Method) (billing.Order, error) {
	o, err := scanOrder(t.tx.QueryRowContext(ctx, `SELECT `+orderCols+` FROM orders
		WHERE msisdn = ? AND merchant = ? AND product = ? AND amount_fen = ? AND method = ? AND status = 'pending'`,
		msisdn, merchant, product, int64(amount), string(method)))
	if err != nil {
		return billing.Order{}, fmt.Errorf("finding a pending order: %w", domainError(err))
	}
	return o, nil
}

const sqlOrdersSince = `SELECT ` + orderCols + ` FROM orders
		WHERE msisdn = ? AND created_at >= ? ORDER BY created_at DESC, id DESC`

func (t *txImpl) OrdersSince(ctx context.Context, msisdn string, since time.Time) ([]billing.Order, error) {
	os, err := queryOrders(ctx, t.tx, sqlOrdersSince, msisdn, ts(since))
	if err != nil {
		return nil, fmt.Errorf("reading recent orders: %w", err)
	}
	return os, nil
}

// PeekPending implements billing.Store: on a reader, never the writer,
// on the pending orders' index (every order of a number that buys often
// costs a read each).
func (s *Store) PeekPending(ctx context.Context, msisdn string, since time.Time) ([]billing.Order, error) {
	// Without statistics the planner takes orders_by_msisdn_created, which
	// reads every order of the number.
	os, err := queryOrders(ctx, s.reader, `SELECT `+orderCols+` FROM orders INDEXED BY orders_pending_by_msisdn
		WHERE msisdn = ? AND status = 'pending' AND created_at >= ? ORDER BY created_at DESC, id DESC`, msisdn, ts(since))
	if err != nil {
		return nil, fmt.Errorf("peeking at recent orders: %w", err)
	}
	return os, nil
}

func (t *txImpl) UpdateOrder(ctx context.Context, o billing.Order) error {
	err := execOne(ctx, t.tx, `UPDATE orders SET status = ?, reason = ?, attempts = ?, updated_at = ? WHERE id = ?`,
		string(o.Status), nullString(string(o.Reason)), o.Attempts, ts(o.UpdatedAt), o.ID)
	if err != nil {
		return fmt.Errorf("updating order %d: %w", o.ID, err)
	}
	return nil
}

func (t *txImpl) DueOrders(ctx context.Context, now time.Time, limit int) ([]billing.Order, error) {
	os, err := t.orders(ctx, `SELECT `+orderCols+` FROM orders
		WHERE status = 'pending' AND expires_at <= ? ORDER BY expires_at, id LIMIT ?`, ts(now), limit)
	if err != nil {
		return nil, fmt.Errorf("reading expired orders: %w", err)
	}
	return os, nil
}

func (t *txImpl) orders(ctx context.Context, query string, args ...any) ([]billing.Order, error) {
	return queryOrders(ctx, t.tx, query, args...)
}

// queryOrders runs a query of orderCols on a transaction or a pool.
func queryOrders(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, query string, args ...any) ([]billing.Order, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []billing.Order
	for rows.Next() {
		o, err := scanOrder(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

func (t *txImpl) LockQuota(ctx context.Context, msisdn string, method billing.Method, day, month string) (billing.Quota, error) {
	// The writer is the lock. The row is read first and created only when
	// missing: a number's first payment, not every one of its statements.
	read := func() (billing.Quota, error) {
		var q billing.Quota
		var last sql.NullInt64
		err := t.tx.QueryRowContext(ctx, `SELECT msisdn, method, day, day_spent_fen, month, month_spent_fen, last_charge_at
			FROM quota WHERE msisdn = ? AND method = ?`, msisdn, string(method)).
			Scan(&q.MSISDN, &q.Method, &q.Day, &q.DaySpent, &q.Month, &q.MonthSpent, &last)
		q.LastChargeAt = fromNullTS(last)
		return q, err
	}
	q, err := read()
	if errors.Is(err, sql.ErrNoRows) {
		if _, err := t.tx.ExecContext(ctx, `INSERT INTO quota (msisdn, method, day, month) VALUES (?, ?, ?, ?)`,
			msisdn, string(method), day, month); err != nil {
			return billing.Quota{}, fmt.Errorf("creating quota row: %w", domainError(err))
		}
		q, err = read()
	}
	if err != nil {
		return billing.Quota{}, fmt.Errorf("reading quota row: %w", domainError(err))
	}
	return q, nil
}

func (t *txImpl) SaveQuota(ctx context.Context, q billing.Quota) error {
	err := execOne(ctx, t.tx, `UPDATE quota SET day = ?, day_spent_fen = ?, month = ?, month_spent_fen = ?, last_charge_at = ?
		WHERE msisdn = ? AND method = ?`,
		q.Day, int64(q.DaySpent), q.Month, int64(q.MonthSpent), nullTS(q.LastChargeAt), q.MSISDN, string(q.Method))
	if err != nil {
		return fmt.Errorf("saving quota: %w", err)
	}
	return nil
}

const chargeCols = `id, order_id, idempotency_key, msisdn, merchant, amount_fen, method, status, failure_reason,
	created_at, resolved_at`

func scanCharge(r interface{ Scan(...any) error }) (billing.Charge, error) {
	var c billing.Charge
	var reason sql.NullString
	var created int64
	var resolved sql.NullInt64
	err := r.Scan(&c.ID, &c.OrderID, &c.IdempotencyKey, &c.MSISDN, &c.Merchant, &c.Amount, &c.Method, &c.Status,
		&reason, &created, &resolved)
	c.FailureReason = billing.Reason(reason.String)
	c.CreatedAt, c.ResolvedAt = fromTS(created), fromNullTS(resolved)
	return c, err
}

func (t *txImpl) InsertCharge(ctx context.Context, c billing.Charge) (int64, error) {
	var id int64
	err := t.tx.QueryRowContext(ctx, `INSERT INTO charges (order_id, idempotency_key, msisdn, merchant, amount_fen,
		method, status, failure_reason, created_at, resolved_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		c.OrderID, c.IdempotencyKey, c.MSISDN, c.Merchant, int64(c.Amount), string(c.Method), string(c.Status),
		nullString(string(c.FailureReason)), ts(c.CreatedAt), nullTS(c.ResolvedAt)).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("inserting charge: %w", domainError(err))
	}
	return id, nil
}

func (t *txImpl) GetCharge(ctx context.Context, id int64) (billing.Charge, error) {
	c, err := scanCharge(t.tx.QueryRowContext(ctx, `SELECT `+chargeCols+` FROM charges WHERE id = ?`, id))
	if err != nil {
		return billing.Charge{}, fmt.Errorf("reading charge %d: %w", id, domainError(err))
	}
	return c, nil
}

func (t *txImpl) ChargeByOrder(ctx context.Context, orderID int64) (billing.Charge, error) {
	c, err := scanCharge(t.tx.QueryRowContext(ctx, `SELECT `+chargeCols+` FROM charges WHERE order_id = ?`, orderID))
	if err != nil {
		return billing.Charge{}, fmt.Errorf("reading the charge of order %d: %w", orderID, domainError(err))
	}
	return c, nil
}

func (t *txImpl) ResolveCharge(ctx context.Context, c billing.Charge) error {
	err := execOne(ctx, t.tx, `UPDATE charges SET status = ?, failure_reason = ?, resolved_at = ? WHERE id = ?`,
		string(c.Status), nullString(string(c.FailureReason)), nullTS(c.ResolvedAt), c.ID)
	if err != nil {
		return fmt.Errorf("resolving charge %d: %w", c.ID, err)
	}
	return nil
}

func (t *txImpl) StaleCharges(ctx context.Context, before time.Time, limit int) ([]billing.Charge, error) {
	rows, err := t.tx.QueryContext(ctx, `SELECT `+chargeCols+` FROM charges
		WHERE status = 'pending' AND created_at < ? ORDER BY created_at, id LIMIT ?`, ts(before), limit)
	if err != nil {
		return nil, fmt.Errorf("reading stale charges: %w", err)
	}
	defer rows.Close()
	var out []billing.Charge
	for rows.Next() {
		c, err := scanCharge(rows)
		if err != nil {
			return nil, fmt.Errorf("reading stale charges: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading stale charges: %w", err)
	}
	return out, nil
}

func (t *txImpl) InsertPostings(ctx context.Context, ps []billing.Posting) error {
	if len(ps) == 0 {
		return nil
	}
	// One statement for a transaction's postings (two for a payment); its
	// text depends only on their count, so it stays compiled.
	args := make([]any, 0, 8*len(ps))
	for _, p := range ps {
		refund := sql.NullInt64{Int64: p.RefundID, Valid: p.RefundID != 0}
		args = append(args, p.Txn, string(p.Kind), p.Account, p.Merchant, int64(p.Amount), p.ChargeID, refund, ts(p.CreatedAt))
	}
	values := strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?, ?, ?, ?), ", len(ps)), ", ")
	if _, err := t.tx.ExecContext(ctx, `INSERT INTO ledger_entries
		(txn, kind, account, merchant, amount_fen, charge_id, refund_id, created_at) VALUES `+values, args...); err != nil {
		return fmt.Errorf("appending to the ledger (%s): %w", ps[0].Txn, domainError(err))
	}
	return nil
}

func (t *txImpl) InsertRefund(ctx context.Context, r billing.Refund) (int64, error) {
	var id int64
	err := t.tx.QueryRowContext(ctx, `INSERT INTO refunds (charge_id, idempotency_key, amount_fen, reason, created_at)
		VALUES (?, ?, ?, ?, ?) RETURNING id`,
		r.ChargeID, r.IdempotencyKey, int64(r.Amount), r.Reason, ts(r.CreatedAt)).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("inserting refund: %w", domainError(err))
	}
	return id, nil
}

func (t *txImpl) RefundByKey(ctx context.Context, key string) (billing.Refund, error) {
	var r billing.Refund
	var created int64
	err := t.tx.QueryRowContext(ctx, `SELECT id, charge_id, idempotency_key, amount_fen, reason, created_at
		FROM refunds WHERE idempotency_key = ?`, key).
		Scan(&r.ID, &r.ChargeID, &r.IdempotencyKey, &r.Amount, &r.Reason, &created)
	if err != nil {
		return billing.Refund{}, fmt.Errorf("reading refund: %w", domainError(err))
	}
	r.CreatedAt = fromTS(created)
	return r, nil
}

func (t *txImpl) RefundedTotal(ctx context.Context, chargeID int64) (billing.Money, error) {
	var total int64
	if err := t.tx.QueryRowContext(ctx, `SELECT coalesce(sum(amount_fen), 0) FROM refunds WHERE charge_id = ?`,
		chargeID).Scan(&total); err != nil {
		return 0, fmt.Errorf("summing the refunds of charge %d: %w", chargeID, err)
	}
	return billing.Money(total), nil
}

const outboxCols = `id, msisdn, service_addr, body, kind, order_id, created_at, next_at, attempts, sent_at, last_error, sealed`

func scanOutbox(r interface{ Scan(...any) error }) (billing.OutboxMsg, error) {
	var m billing.OutboxMsg
	var order, sent sql.NullInt64
	var created, next int64
	var lastErr sql.NullString
	err := r.Scan(&m.ID, &m.MSISDN, &m.ServiceAddr, &m.Body, &m.Kind, &order, &created, &next, &m.Attempts, &sent, &lastErr, &m.Sealed)
	m.OrderID = order.Int64
	m.CreatedAt, m.NextAt, m.SentAt = fromTS(created), fromTS(next), fromNullTS(sent)
	m.LastError = lastErr.String
	return m, err
}

func (t *txImpl) Enqueue(ctx context.Context, m billing.OutboxMsg) (int64, error) {
	var id int64
	err := t.tx.QueryRowContext(ctx, `INSERT INTO outbox (msisdn, service_addr, body, kind, order_id, created_at, next_at, sealed)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		m.MSISDN, m.ServiceAddr, m.Body, string(m.Kind), sql.NullInt64{Int64: m.OrderID, Valid: m.OrderID != 0},
		ts(m.CreatedAt), ts(m.NextAt), m.Sealed).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("enqueueing MT: %w", domainError(err))
	}
	return id, nil
}

func (t *txImpl) RecentPayments(ctx context.Context, msisdn string, limit int) ([]billing.Payment, error) {
	rows, err := t.tx.QueryContext(ctx, `SELECT c.id, c.order_id, c.merchant, o.product_name, c.amount_fen, o.status, c.resolved_at
		FROM charges c JOIN orders o ON o.id = c.order_id
		WHERE c.msisdn = ? AND c.status = 'succeeded'
		ORDER BY c.resolved_at DESC, c.id DESC LIMIT ?`, msisdn, limit)
	if err != nil {
		return nil, fmt.Errorf("reading recent payments: %w", err)
	}
	defer rows.Close()
	var out []billing.Payment
	for rows.Next() {
		var p billing.Payment
		var at int64
		if err := rows.Scan(&p.ChargeID, &p.OrderID, &p.Merchant, &p.ProductName, &p.Amount, &p.Status, &at); err != nil {
			return nil, fmt.Errorf("reading recent payments: %w", err)
		}
		p.At = fromTS(at)
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading recent payments: %w", err)
	}
	return out, nil
}

// execOne runs an UPDATE that must touch a row: billing.ErrNotFound when it
// touched none.
func execOne(ctx context.Context, t *sql.Tx, query string, args ...any) error {
	res, err := t.ExecContext(ctx, query, args...)
	if err != nil {
		return domainError(err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return billing.ErrNotFound
	}
	return nil
}

// domainError translates sql.ErrNoRows and the constraint violations the
// engine branches on into billing's storage errors, keeping the original
// for the message.
func domainError(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return billing.ErrNotFound
	}
	var target error
	switch constraintName(err) {
	case "orders_one_pending":
		target = billing.ErrDuplicatePending
	case "charges_order_id_key", "charges_idempotency_key_key":
		target = billing.ErrChargeExists
	case "refunds_idempotency_key_key":
		target = billing.ErrDuplicateRefund
	case "orders_idempotency_key":
		target = billing.ErrDuplicateOrderKey
	default:
		return err
	}
	return fmt.Errorf("%w (%s)", target, strings.TrimSpace(err.Error()))
}

func nullString(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
