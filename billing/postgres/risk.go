package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/carrierbill/carrierbill/billing"
)

// The risk rules' rows (billing/risk.go): decisions, the block and allow
// lists, and the orders' fresh codes and holds.

const riskDecisionCols = `id, at, stage, rule, action, evidence, msisdn, merchant, COALESCE(order_id, 0), amount_fen,
	resolution, resolved_by, resolved_at`

const riskListCols = `id, list, subject, value, until, note, created_by, created_at`

const (
	// sqlRiskListed runs on every purchase and confirmation: three probes
	// of risk_lists_by_value (the number, its prefixes, the merchant), no
	// lock, no write.
	sqlRiskListed = `SELECT ` + riskListCols + ` FROM risk_lists
		WHERE ((subject = 'number' AND value = $1::text)
		    OR (subject = 'prefix' AND value = ANY($2::text[]))
		    OR (subject = 'merchant' AND value = $3::text))
		  AND (until IS NULL OR until > $4::timestamptz)
		ORDER BY id`

	sqlInsertRiskDecision = `INSERT INTO risk_decisions (at, stage, rule, action, evidence, msisdn, merchant, order_id,
		amount_fen, resolution, resolved_by, resolved_at)
		VALUES ($1::timestamptz, $2::text, $3::text, $4::text, $5::text, $6::text, $7::text, $8::bigint,
		$9::bigint, $10::text, $11::text, $12::timestamptz) RETURNING id`

	// sqlLockRiskList serializes the writers of one list entry (list,
	// subject and value), never waiting: "active" depends on the time, so
	// no index can keep two active entries apart.
	sqlLockRiskList = `SELECT pg_try_advisory_xact_lock(hashtextextended('risk_lists:' || $1::text || ':' || $2::text || ':' || $3::text, 0))`

	// sqlAddRiskListEntry inserts unless an entry is active at the new
	// one's creation.
	sqlAddRiskListEntry = `INSERT INTO risk_lists (list, subject, value, until, note, created_by, created_at)
		SELECT $1::text, $2::text, $3::text, $4::timestamptz, $5::text, $6::text, $7::timestamptz
		WHERE NOT EXISTS (SELECT 1 FROM risk_lists
		                  WHERE list = $1::text AND subject = $2::text AND value = $3::text
		                    AND (until IS NULL OR until > $7::timestamptz))
		RETURNING id`

	sqlEndRiskListEntries = `UPDATE risk_lists SET until = $4::timestamptz
		WHERE list = $1::text AND subject = $2::text AND value = $3::text AND (until IS NULL OR until > $4::timestamptz)`

	sqlRenewOrderCode = `UPDATE orders SET code = $2::text, expires_at = $3::timestamptz, prompted_at = $4::timestamptz,
		fresh_codes = $5::int, updated_at = $6::timestamptz WHERE id = $1::bigint`

	sqlHoldDecision = `SELECT ` + riskDecisionCols + ` FROM risk_decisions
		WHERE order_id = $1::bigint AND action = 'hold' ORDER BY id DESC LIMIT 1 FOR UPDATE`

	sqlResolveRiskDecision = `UPDATE risk_decisions SET resolution = $2::text, resolved_by = $3::text, resolved_at = $4::timestamptz
		WHERE id = $1::bigint`

	sqlHeldOrders = `SELECT ` + orderCols + ` FROM orders WHERE status = 'held' ORDER BY id LIMIT $1::int`
)

// riskErr is mapErr, plus the one active entry of a list.
func riskErr(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" && pe.ConstraintName == "risk_lists_one_active" {
		return fmt.Errorf("%w (%s)", billing.ErrRiskListEntryExists, pe.ConstraintName)
	}
	return mapErr(err)
}

func scanRiskDecision(r pgx.CollectableRow) (billing.RiskDecision, error) {
	var d billing.RiskDecision
	var resolved *time.Time
	err := r.Scan(&d.ID, &d.At, &d.Stage, &d.Rule, &d.Action, &d.Evidence, &d.MSISDN, &d.Merchant, &d.OrderID, &d.Amount,
		&d.Resolution, &d.ResolvedBy, &resolved)
	d.ResolvedAt = fromNullTime(resolved)
	return d, err
}

func scanRiskListEntry(r pgx.CollectableRow) (billing.RiskListEntry, error) {
	var e billing.RiskListEntry
	var until *time.Time
	err := r.Scan(&e.ID, &e.List, &e.Subject, &e.Value, &until, &e.Note, &e.CreatedBy, &e.CreatedAt)
	e.Until = fromNullTime(until)
	return e, err
}

func nullID(id int64) *int64 {
	if id == 0 {
		return nil
	}
	return &id
}

// RiskListed implements billing.RiskTx: one statement, no lock.
func (t *tx) RiskListed(ctx context.Context, msisdn, merchant string, now time.Time) ([]billing.RiskListEntry, error) {
	rows, err := t.tx.Query(ctx, sqlRiskListed, msisdn, billing.RiskPrefixes(msisdn), merchant, now)
	if err != nil {
		return nil, riskErr(err)
	}
	es, err := pgx.CollectRows(rows, scanRiskListEntry)
	if err != nil {
		return nil, fmt.Errorf("reading the risk lists: %w", riskErr(err))
	}
	return es, nil
}

// InsertRiskDecision implements billing.RiskTx.
func (t *tx) InsertRiskDecision(ctx context.Context, d billing.RiskDecision) (int64, error) {
	var id int64
	err := t.tx.QueryRow(ctx, sqlInsertRiskDecision, d.At, string(d.Stage), d.Rule, string(d.Action), d.Evidence, d.MSISDN,
		d.Merchant, nullID(d.OrderID), int64(d.Amount), d.Resolution, d.ResolvedBy, nullTime(d.ResolvedAt)).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("recording a risk decision: %w", riskErr(err))
	}
	return id, nil
}

// AddRiskListEntry implements billing.RiskTx. The entry's advisory lock is
// tried, never waited for: when another transaction holds it this one
// runs again (errLockBusy) and then sees that one's entry. The check runs
// in a statement after the lock, so its snapshot has every entry
// committed before.
func (t *tx) AddRiskListEntry(ctx context.Context, e billing.RiskListEntry) (int64, error) {
	var got bool
	if err := t.tx.QueryRow(ctx, sqlLockRiskList, string(e.List), string(e.Subject), e.Value).Scan(&got); err != nil {
		return 0, fmt.Errorf("locking the risk list entry: %w", riskErr(err))
	}
	if !got {
		return 0, errLockBusy
	}
	var id int64
	err := t.tx.QueryRow(ctx, sqlAddRiskListEntry, string(e.List), string(e.Subject), e.Value, nullTime(e.Until), e.Note,
		e.CreatedBy, e.CreatedAt).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, billing.ErrRiskListEntryExists
	}
	if err != nil {
		return 0, fmt.Errorf("adding a risk list entry: %w", riskErr(err))
	}
	return id, nil
}

// EndRiskListEntries implements billing.RiskTx.
func (t *tx) EndRiskListEntries(ctx context.Context, list billing.RiskList, subject billing.RiskSubject, value string, now time.Time) (int, error) {
	tag, err := t.tx.Exec(ctx, sqlEndRiskListEntries, string(list), string(subject), value, now)
	if err != nil {
		return 0, fmt.Errorf("ending risk list entries: %w", riskErr(err))
	}
	return int(tag.RowsAffected()), nil
}

// RenewOrderCode implements billing.RiskTx.
func (t *tx) RenewOrderCode(ctx context.Context, o billing.Order) error {
	return later(ctx, t.tx, "renewing the order's code", true, sqlRenewOrderCode, o.ID, o.Code, o.ExpiresAt,
		nullTime(o.PromptedAt), o.FreshCodes, o.UpdatedAt)
}

// HoldDecision implements billing.RiskTx: the newest hold of the order,
// locked (FOR UPDATE) through risk_decisions_holds.
func (t *tx) HoldDecision(ctx context.Context, orderID int64) (billing.RiskDecision, error) {
	rows, err := t.tx.Query(ctx, sqlHoldDecision, orderID)
	if err != nil {
		return billing.RiskDecision{}, riskErr(err)
	}
	d, err := pgx.CollectExactlyOneRow(rows, scanRiskDecision)
	return d, riskErr(err)
}

// ResolveRiskDecision implements billing.RiskTx.
func (t *tx) ResolveRiskDecision(ctx context.Context, d billing.RiskDecision) error {
	return later(ctx, t.tx, "resolving the risk decision", true, sqlResolveRiskDecision, d.ID, d.Resolution, d.ResolvedBy,
		nullTime(d.ResolvedAt))
}

// RiskDecisions implements billing.RiskStore.
func (s *Store) RiskDecisions(ctx context.Context, q billing.RiskDecisionQuery) ([]billing.RiskDecision, error) {
	var where []string
	var args []any
	add := func(cond string, arg any) {
		args = append(args, arg)
		where = append(where, strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(args))))
	}
	if !q.From.IsZero() {
		add("at >= ?::timestamptz", q.From)
	}
	if !q.To.IsZero() {
		add("at < ?::timestamptz", q.To)
	}
	if q.Action != "" {
		add("action = ?::text", string(q.Action))
	}
	if q.Rule != "" {
		add("rule = ?::text", q.Rule)
	}
	if q.MSISDN != "" {
		add("msisdn = ?::text", q.MSISDN)
	}
	if q.Merchant != "" {
		add("merchant = ?::text", q.Merchant)
	}
	if q.Waiting {
		where = append(where, "action = 'hold' AND resolution = ''")
	}
	query := `SELECT ` + riskDecisionCols + ` FROM risk_decisions`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, " AND ")
	}
	query += ` ORDER BY at, id`
	if q.Limit > 0 {
		args = append(args, q.Limit)
		query += ` LIMIT $` + strconv.Itoa(len(args)) + `::int`
	}
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("reading risk decisions: %w", riskErr(err))
	}
	ds, err := pgx.CollectRows(rows, scanRiskDecision)
	if err != nil {
		return nil, fmt.Errorf("reading risk decisions: %w", riskErr(err))
	}
	return ds, nil
}

// RiskListEntries implements billing.RiskStore.
func (s *Store) RiskListEntries(ctx context.Context, list billing.RiskList, now time.Time, all bool) ([]billing.RiskListEntry, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+riskListCols+` FROM risk_lists
		WHERE ($1::text = '' OR list = $1::text) AND ($3::bool OR until IS NULL OR until > $2::timestamptz)
		ORDER BY id`, string(list), now, all)
	if err != nil {
		return nil, fmt.Errorf("reading the risk lists: %w", riskErr(err))
	}
	es, err := pgx.CollectRows(rows, scanRiskListEntry)
	if err != nil {
		return nil, fmt.Errorf("reading the risk lists: %w", riskErr(err))
	}
	return es, nil
}

// HeldOrders implements billing.RiskStore, through orders_held (limit 0:
// all).
func (s *Store) HeldOrders(ctx context.Context, limit int) ([]billing.Order, error) {
	var lim *int // NULL: no limit
	if limit > 0 {
		lim = &limit
	}
	rows, err := s.pool.Query(ctx, sqlHeldOrders, lim)
	if err != nil {
		return nil, fmt.Errorf("reading held orders: %w", riskErr(err))
	}
	os, err := pgx.CollectRows(rows, scanOrder)
	if err != nil {
		return nil, fmt.Errorf("reading held orders: %w", riskErr(err))
	}
	return os, nil
}
