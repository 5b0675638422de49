package postgres

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/carrierbill/carrierbill/billing"
)

// maxTxAttempts bounds the retries of a transaction that hit a
// serialization failure (40001) or a deadlock (40P01).
const maxTxAttempts = 8

// Store is billing.Store on a pgx pool. Row locks are per phone number
// (the quota row) and per order; there is no global lock. Its write
// transactions share commits (group.go): InTx's in groups of their own,
// the outbox's sent marks and the delivery receipts in others.
type Store struct {
	pool     *pgxpool.Pool
	engine   *grouper // InTx, ClaimMOs
	delivery *grouper // ClaimOutbox, MarkSent, MarkSentParts, MarkSendFailed, ApplyReceipt, ReleaseMO
	marking  markings // MarkSentParts under way (delivery.go)
}

// engineGroups is how many InTx groups run at most at once: while one
// commits the next runs its functions. More would hold more connections and
// make groups wait on each other's row locks.
const engineGroups = 8

// deliveryGroups is how many groups of sent marks and receipts run at most
// at once.
const deliveryGroups = 6

// groupsFor is how many engine and delivery groups run at once on a pool of
// maxConns connections: half the pool and three eighths of it, at most
// engineGroups and deliveryGroups, so that MO intake, the claims and the
// reads outside the groups always find a connection. On a pool of 8 (the
// default on 2 cores) that is 4 and 3: the bench's MO ack p99 was 55–63 ms
// against 100–113 with 8 and 6 competing for the 8 connections, at the
// same payments per second, and 1.56 WAL flushes per payment against
// 1.89–2.13 (BENCHMARKS.md, issue 11).
func groupsFor(maxConns int32) (engine, delivery int) {
	return min(max(int(maxConns)/2, 1), engineGroups), min(max(int(maxConns)*3/8, 1), deliveryGroups)
}

// NewStore returns a store on pool. The schema must be migrated (Migrate).
func NewStore(pool *pgxpool.Pool) *Store {
	engine, delivery := groupsFor(pool.Config().MaxConns)
	return &Store{pool: pool, engine: newGrouper(pool, engine), delivery: newGrouper(pool, delivery)}
}

var _ billing.Store = (*Store)(nil)

// errLockBusy: an advisory lock a transaction tried to take is held by
// another one; it rolls back and runs again, like after a deadlock.
var errLockBusy = errors.New("postgres: a lock is held by another transaction")

// retryable reports a serialization failure, a deadlock, errLockBusy or a
// lock wait that outlasted lock_timeout (grouper: laterLockWait).
func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.Is(err, errLockBusy) || errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01" || pe.Code == "55P03")
}

// mapErr translates constraint violations to billing's errors by
// constraint name.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return billing.ErrNotFound
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" {
		switch pe.ConstraintName {
		case "orders_one_pending":
			return fmt.Errorf("%w (%s)", billing.ErrDuplicatePending, pe.ConstraintName)
		case "charges_order_id_key", "charges_idempotency_key_key":
			return fmt.Errorf("%w (%s)", billing.ErrChargeExists, pe.ConstraintName)
		case "refunds_idempotency_key_key":
			return fmt.Errorf("%w (%s)", billing.ErrDuplicateRefund, pe.ConstraintName)
		case "orders_idempotency_key":
			return fmt.Errorf("%w (%s)", billing.ErrDuplicateOrderKey, pe.ConstraintName)
		}
	}
	return err
}

// InTx implements billing.Store.
func (s *Store) InTx(ctx context.Context, fn func(tx billing.Tx) error) error {
	return s.engine.inTx(ctx, func(ptx pgx.Tx) error { return fn(&tx{tx: ptx}) })
}

// retryTx runs fn in a transaction on pool and runs it again, after a
// jittered pause so the losers spread out, when it hit a serialization
// failure or a deadlock; after maxTxAttempts it gives up with
// billing.ErrConflict. Every transaction of this package goes through it.
func retryTx(ctx context.Context, pool *pgxpool.Pool, fn func(pgx.Tx) error) error {
	var err error
	for attempt := 1; attempt <= maxTxAttempts; attempt++ {
		err = pgx.BeginFunc(ctx, pool, fn)
		if err == nil || !retryable(err) {
			return err
		}
		t := time.NewTimer(time.Duration(rand.Int64N(int64(attempt) * int64(2*time.Millisecond))))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
	return fmt.Errorf("%w: %v", billing.ErrConflict, err)
}

// InsertMO implements billing.Store.
func (s *Store) InsertMO(ctx context.Context, mo billing.InboundMO) (int64, error) {
	var id int64
	var sealed []byte
	if len(mo.Sealed) > 0 {
		sealed = mo.Sealed
	}
	err := s.pool.QueryRow(ctx, sqlInsertMO, mo.Bind, mo.MSISDN, mo.ServiceAddr, mo.Body, mo.ReceivedAt, sealed).Scan(&id)
	return id, mapErr(err)
}

// ClaimMOs implements billing.Store. The claim shares the commit of an
// engine group (group.go) instead of paying a WAL flush of its own; it
// returns once the leases are durable, like any grouped write.
func (s *Store) ClaimMOs(ctx context.Context, now, leaseUntil time.Time, limit int) ([]billing.InboundMO, error) {
	var mos []billing.InboundMO
	err := s.engine.inTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, sqlClaimMOs, now, leaseUntil, limit)
		if err != nil {
			return err
		}
		mos, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (billing.InboundMO, error) {
			var m billing.InboundMO
			err := r.Scan(&m.ID, &m.Bind, &m.MSISDN, &m.ServiceAddr, &m.Body, &m.ReceivedAt, &m.Attempts)
			return m, err
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(mos, func(a, b billing.InboundMO) int { return int(a.ID - b.ID) })
	return mos, nil
}

// ReleaseMO implements billing.Store.
func (s *Store) ReleaseMO(ctx context.Context, id int64, notBefore time.Time) error {
	return s.delivery.inTx(ctx, func(tx pgx.Tx) error { return exec1(ctx, tx, sqlReleaseMO, id, notBefore) })
}

// ClaimOutbox implements billing.Store. The claim shares the commit of a
// group of sent marks and receipts (group.go).
func (s *Store) ClaimOutbox(ctx context.Context, now, leaseUntil time.Time, limit int) ([]billing.OutboxMsg, error) {
	var ms []billing.OutboxMsg
	err := s.delivery.inTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, sqlClaimOutbox, now, leaseUntil, limit)
		if err != nil {
			return err
		}
		ms, err = pgx.CollectRows(rows, scanOutbox)
		return err
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(ms, func(a, b billing.OutboxMsg) int { return int(a.ID - b.ID) })
	return ms, nil
}

// MarkSent implements billing.Store.
func (s *Store) MarkSent(ctx context.Context, id int64, at time.Time) error {
	return s.delivery.inTx(ctx, func(tx pgx.Tx) error { return exec1(ctx, tx, sqlMarkSent, id, at) })
}

// MarkSendFailed implements billing.Store.
func (s *Store) MarkSendFailed(ctx context.Context, id int64, nextAt time.Time, errText string) error {
	return s.delivery.inTx(ctx, func(tx pgx.Tx) error { return exec1(ctx, tx, sqlMarkSendFailed, id, nextAt, errText) })
}

type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// exec1 runs a statement that must touch a row: ErrNotFound otherwise.
func exec1(ctx context.Context, db execer, sql string, args ...any) error {
	tag, err := db.Exec(ctx, sql, args...)
	if err != nil {
		return mapErr(err)
	}
	if tag.RowsAffected() == 0 {
		return billing.ErrNotFound
	}
	return nil
}

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func nullString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func fromNullTime(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}

func scanOutbox(r pgx.CollectableRow) (billing.OutboxMsg, error) {
	var m billing.OutboxMsg
	var orderID *int64
	var sent *time.Time
	err := r.Scan(&m.ID, &m.MSISDN, &m.ServiceAddr, &m.Body, &m.Kind, &orderID, &m.CreatedAt, &m.NextAt, &m.Attempts, &sent, &m.LastError, &m.Sealed)
	if orderID != nil {
		m.OrderID = *orderID
	}
	m.SentAt = fromNullTime(sent)
	return m, err
}

func scanOrder(r pgx.CollectableRow) (billing.Order, error) {
	var o billing.Order
	var prompted *time.Time
	err := r.Scan(&o.ID, &o.MSISDN, &o.Merchant, &o.Product, &o.ProductName, &o.Amount, &o.Method, &o.Status,
		&o.Reason, &o.Code, &o.Attempts, &o.MerchantRef, &o.ServiceAddr, &o.CreatedAt, &o.ExpiresAt, &o.UpdatedAt,
		&o.Channel, &o.IdempotencyKey, &o.RequestHash, &prompted, &o.FreshCodes)
	o.PromptedAt = fromNullTime(prompted)
	return o, err
}

func scanCharge(r pgx.CollectableRow) (billing.Charge, error) {
	var c billing.Charge
	var resolved *time.Time
	err := r.Scan(&c.ID, &c.OrderID, &c.IdempotencyKey, &c.MSISDN, &c.Merchant, &c.Amount, &c.Method, &c.Status,
		&c.FailureReason, &c.CreatedAt, &resolved)
	c.ResolvedAt = fromNullTime(resolved)
	return c, err
}

// tx is billing.Tx on one pgx transaction.
type tx struct {
	tx pgx.Tx
}

func (t *tx) one(ctx context.Context, scan pgx.RowToFunc[billing.Order], sql string, args ...any) (billing.Order, error) {
	rows, err := t.tx.Query(ctx, sql, args...)
	if err != nil {
		return billing.Order{}, err
	}
	o, err := pgx.CollectExactlyOneRow(rows, scan)
	return o, mapErr(err)
}

func (t *tx) MarkMOProcessed(ctx context.Context, id int64, at time.Time) error {
	return later(ctx, t.tx, "marking MO processed", true, sqlMarkMOProcessed, id, at)
}

func (t *tx) InsertOrder(ctx context.Context, o billing.Order) (int64, error) {
	var id int64
	err := t.tx.QueryRow(ctx, sqlInsertOrder, o.MSISDN, o.Merchant, o.Product, o.ProductName, int64(o.Amount), string(o.Method),
		string(o.Status), nullString(string(o.Reason)), o.Code, o.Attempts, nullString(o.MerchantRef), o.ServiceAddr,
		o.CreatedAt, o.ExpiresAt, o.UpdatedAt, channelOf(o.Channel), nullString(o.IdempotencyKey), nullString(o.RequestHash),
		nullTime(o.PromptedAt), o.FreshCodes).Scan(&id)
	return id, mapErr(err)
}

func (t *tx) GetOrder(ctx context.Context, id int64) (billing.Order, error) {
	return t.one(ctx, scanOrder, sqlGetOrder, id)
}

func (t *tx) FindPendingOrder(ctx context.Context, msisdn, merchant, product string, amount billing.Money, method billing.Method) (billing.Order, error) {
	return t.one(ctx, scanOrder, sqlFindPendingOrder, msisdn, merchant, product, int64(amount), string(method))
}

func (t *tx) OrdersSince(ctx context.Context, msisdn string, since time.Time) ([]billing.Order, error) {
	rows, err := t.tx.Query(ctx, sqlOrdersSince, msisdn, since)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, scanOrder)
}

// PeekPending implements billing.Store: one statement on the pool, outside
// the group commits.
func (s *Store) PeekPending(ctx context.Context, msisdn string, since time.Time) ([]billing.Order, error) {
	rows, err := s.pool.Query(ctx, sqlPeekPending, msisdn, since)
	if err != nil {
		return nil, fmt.Errorf("peeking at recent orders: %w", mapErr(err))
	}
	os, err := pgx.CollectRows(rows, scanOrder)
	if err != nil {
		return nil, fmt.Errorf("peeking at recent orders: %w", mapErr(err))
	}
	return os, nil
}

func (t *tx) UpdateOrder(ctx context.Context, o billing.Order) error {
	return later(ctx, t.tx, "updating the order", true, sqlUpdateOrder, o.ID, string(o.Status), nullString(string(o.Reason)), o.Attempts, o.UpdatedAt)
}

func (t *tx) DueOrders(ctx context.Context, now time.Time, limit int) ([]billing.Order, error) {
	rows, err := t.tx.Query(ctx, sqlDueOrders, now, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, scanOrder)
}

// LockQuota implements billing.Tx: one SELECT … FOR UPDATE when the row
// exists (every payment after a number's first purchase), else it is
// created first.
func (t *tx) LockQuota(ctx context.Context, msisdn string, method billing.Method, day, month string) (billing.Quota, error) {
	lock := func() (billing.Quota, error) {
		var q billing.Quota
		var last *time.Time
		err := t.tx.QueryRow(ctx, sqlLockQuota, msisdn, string(method)).Scan(&q.MSISDN, &q.Method, &q.Day, &q.DaySpent, &q.Month, &q.MonthSpent, &last)
		q.LastChargeAt = fromNullTime(last)
		return q, err
	}
	q, err := lock()
	if !errors.Is(err, pgx.ErrNoRows) {
		return q, mapErr(err)
	}
	if _, err := t.tx.Exec(ctx, sqlCreateQuota, msisdn, string(method), day, month); err != nil {
		return billing.Quota{}, mapErr(err)
	}
	q, err = lock()
	return q, mapErr(err)
}

func (t *tx) SaveQuota(ctx context.Context, q billing.Quota) error {
	return later(ctx, t.tx, "saving the quota", true, sqlSaveQuota, q.MSISDN, string(q.Method), q.Day, int64(q.DaySpent), q.Month, int64(q.MonthSpent), nullTime(q.LastChargeAt))
}

func (t *tx) InsertCharge(ctx context.Context, c billing.Charge) (int64, error) {
	var id int64
	err := t.tx.QueryRow(ctx, sqlInsertCharge, c.OrderID, c.IdempotencyKey, c.MSISDN, c.Merchant, int64(c.Amount), string(c.Method),
		string(c.Status), nullString(string(c.FailureReason)), c.CreatedAt, nullTime(c.ResolvedAt)).Scan(&id)
	return id, mapErr(err)
}

func (t *tx) charge(ctx context.Context, sql string, arg any) (billing.Charge, error) {
	rows, err := t.tx.Query(ctx, sql, arg)
	if err != nil {
		return billing.Charge{}, err
	}
	c, err := pgx.CollectExactlyOneRow(rows, scanCharge)
	return c, mapErr(err)
}

func (t *tx) GetCharge(ctx context.Context, id int64) (billing.Charge, error) {
	return t.charge(ctx, sqlGetCharge, id)
}

func (t *tx) ChargeByOrder(ctx context.Context, orderID int64) (billing.Charge, error) {
	return t.charge(ctx, sqlChargeByOrder, orderID)
}

func (t *tx) ResolveCharge(ctx context.Context, c billing.Charge) error {
	return later(ctx, t.tx, "resolving the charge", true, sqlResolveCharge, c.ID, string(c.Status), nullString(string(c.FailureReason)), nullTime(c.ResolvedAt))
}

func (t *tx) StaleCharges(ctx context.Context, before time.Time, limit int) ([]billing.Charge, error) {
	rows, err := t.tx.Query(ctx, sqlStaleCharges, before, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, scanCharge)
}

// InsertPostings implements billing.Tx: one statement for them all.
func (t *tx) InsertPostings(ctx context.Context, ps []billing.Posting) error {
	if len(ps) == 0 {
		return nil
	}
	n := len(ps)
	txn, kind, account, merchant := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	amount, charge, refund, at := make([]int64, n), make([]int64, n), make([]*int64, n), make([]time.Time, n)
	for i, p := range ps {
		txn[i], kind[i], account[i], merchant[i] = p.Txn, string(p.Kind), p.Account, p.Merchant
		amount[i], charge[i], at[i] = int64(p.Amount), p.ChargeID, p.CreatedAt
		if p.RefundID != 0 {
			refund[i] = &ps[i].RefundID
		}
	}
	return later(ctx, t.tx, "writing the ledger", false, sqlInsertPostings, txn, kind, account, merchant, amount, charge, refund, at)
}

func (t *tx) InsertRefund(ctx context.Context, r billing.Refund) (int64, error) {
	var id int64
	err := t.tx.QueryRow(ctx, sqlInsertRefund, r.ChargeID, r.IdempotencyKey, int64(r.Amount), r.Reason, r.CreatedAt).Scan(&id)
	return id, mapErr(err)
}

func (t *tx) RefundByKey(ctx context.Context, key string) (billing.Refund, error) {
	var r billing.Refund
	err := t.tx.QueryRow(ctx, sqlRefundByKey, key).Scan(&r.ID, &r.ChargeID, &r.IdempotencyKey, &r.Amount, &r.Reason, &r.CreatedAt)
	return r, mapErr(err)
}

func (t *tx) RefundedTotal(ctx context.Context, chargeID int64) (billing.Money, error) {
	var m billing.Money
	err := t.tx.QueryRow(ctx, sqlRefundedTotal, chargeID).Scan(&m)
	return m, mapErr(err)
}

func (t *tx) Enqueue(ctx context.Context, m billing.OutboxMsg) (int64, error) {
	var orderID *int64
	if m.OrderID != 0 {
		orderID = &m.OrderID
	}
	var id int64
	err := t.tx.QueryRow(ctx, sqlEnqueue, m.MSISDN, m.ServiceAddr, m.Body, string(m.Kind), orderID, m.CreatedAt, m.NextAt, m.Sealed).Scan(&id)
	return id, mapErr(err)
}

func (t *tx) RecentPayments(ctx context.Context, msisdn string, limit int) ([]billing.Payment, error) {
	rows, err := t.tx.Query(ctx, sqlRecentPayments, msisdn, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (billing.Payment, error) {
		var p billing.Payment
		err := r.Scan(&p.ChargeID, &p.OrderID, &p.Merchant, &p.ProductName, &p.Amount, &p.Status, &p.At)
		return p, err
	})
}
