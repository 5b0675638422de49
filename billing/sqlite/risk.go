package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/carrierbill/carrierbill/billing"
)

// The risk rules' rows (billing/risk.go): decisions, the block and allow
// lists, and the orders' fresh codes and holds. Writes run on the single
// writer, which serializes them: AddRiskListEntry's check and insert are
// atomic without a lock of their own.

const riskDecisionCols = `id, at, stage, rule, action, evidence, msisdn, merchant, COALESCE(order_id, 0), amount_fen,
	resolution, resolved_by, resolved_at`

const riskListCols = `id, list, subject, value, until, note, created_by, created_at`

// riskListsOneActive is how SQLite names a violation of risk_lists_one_active.
const riskListsOneActive = "risk_lists.list, risk_lists.subject, risk_lists.value"

// riskErr is domainError, plus the one active entry of a list.
func riskErr(err error) error {
	if constraintName(err) == riskListsOneActive {
		return fmt.Errorf("%w (risk_lists_one_active)", billing.ErrRiskListEntryExists)
	}
	return domainError(err)
}

func scanRiskDecision(r scanner) (billing.RiskDecision, error) {
	var d billing.RiskDecision
	var at int64
	var resolved sql.NullInt64
	err := r.Scan(&d.ID, &at, &d.Stage, &d.Rule, &d.Action, &d.Evidence, &d.MSISDN, &d.Merchant, &d.OrderID, &d.Amount,
		&d.Resolution, &d.ResolvedBy, &resolved)
	d.At, d.ResolvedAt = fromTS(at), fromNullTS(resolved)
	return d, err
}

func scanRiskListEntry(r scanner) (billing.RiskListEntry, error) {
	var e billing.RiskListEntry
	var until sql.NullInt64
	var created int64
	err := r.Scan(&e.ID, &e.List, &e.Subject, &e.Value, &until, &e.Note, &e.CreatedBy, &created)
	e.Until, e.CreatedAt = fromNullTS(until), fromTS(created)
	return e, err
}

func nullID(id int64) sql.NullInt64 { return sql.NullInt64{Int64: id, Valid: id != 0} }

// RiskListed implements billing.RiskTx: one statement on
// risk_lists_by_value (the number, its prefixes, the merchant).
func (t *txImpl) RiskListed(ctx context.Context, msisdn, merchant string, now time.Time) ([]billing.RiskListEntry, error) {
	ps := billing.RiskPrefixes(msisdn)
	args := make([]any, 0, len(ps)+3)
	args = append(args, msisdn)
	for _, p := range ps {
		args = append(args, p)
	}
	args = append(args, merchant, ts(now))
	marks := strings.TrimSuffix(strings.Repeat("?, ", len(ps)), ", ")
	if marks == "" {
		marks = "NULL"
	}
	es, err := collect(ctx, t.tx, scanRiskListEntry, `SELECT `+riskListCols+` FROM risk_lists
		WHERE ((subject = 'number' AND value = ?)
		    OR (subject = 'prefix' AND value IN (`+marks+`))
		    OR (subject = 'merchant' AND value = ?))
		  AND (until IS NULL OR until > ?)
		ORDER BY id`, args...)
	if err != nil {
		return nil, fmt.Errorf("reading the risk lists: %w", err)
	}
	return es, nil
}

// InsertRiskDecision implements billing.RiskTx.
func (t *txImpl) InsertRiskDecision(ctx context.Context, d billing.RiskDecision) (int64, error) {
	var id int64
	err := t.tx.QueryRowContext(ctx, `INSERT INTO risk_decisions (at, stage, rule, action, evidence, msisdn, merchant,
		order_id, amount_fen, resolution, resolved_by, resolved_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		ts(d.At), string(d.Stage), d.Rule, string(d.Action), d.Evidence, d.MSISDN, d.Merchant, nullID(d.OrderID),
		int64(d.Amount), d.Resolution, d.ResolvedBy, nullTS(d.ResolvedAt)).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("recording a risk decision: %w", riskErr(err))
	}
	return id, nil
}

// AddRiskListEntry implements billing.RiskTx: the check and the insert run
// in one statement on the single writer.
func (t *txImpl) AddRiskListEntry(ctx context.Context, e billing.RiskListEntry) (int64, error) {
	var id int64
	err := t.tx.QueryRowContext(ctx, `INSERT INTO risk_lists (list, subject, value, until, note, created_by, created_at)
		SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7
		WHERE NOT EXISTS (SELECT 1 FROM risk_lists
		                  WHERE list = ?1 AND subject = ?2 AND value = ?3 AND (until IS NULL OR until > ?7))
		RETURNING id`,
		string(e.List), string(e.Subject), e.Value, nullTS(e.Until), e.Note, e.CreatedBy, ts(e.CreatedAt)).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, billing.ErrRiskListEntryExists
	}
	if err != nil {
		return 0, fmt.Errorf("adding a risk list entry: %w", riskErr(err))
	}
	return id, nil
}

// EndRiskListEntries implements billing.RiskTx.
func (t *txImpl) EndRiskListEntries(ctx context.Context, list billing.RiskList, subject billing.RiskSubject, value string, now time.Time) (int, error) {
	res, err := t.tx.ExecContext(ctx, `UPDATE risk_lists SET until = ?4
		WHERE list = ?1 AND subject = ?2 AND value = ?3 AND (until IS NULL OR until > ?4)`,
		string(list), string(subject), value, ts(now))
	if err != nil {
		return 0, fmt.Errorf("ending risk list entries: %w", riskErr(err))
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// RenewOrderCode implements billing.RiskTx.
func (t *txImpl) RenewOrderCode(ctx context.Context, o billing.Order) error {
	err := execOne(ctx, t.tx, `UPDATE orders SET code = ?, expires_at = ?, prompted_at = ?, fresh_codes = ?, updated_at = ?
		WHERE id = ?`, o.Code, ts(o.ExpiresAt), nullTS(o.PromptedAt), o.FreshCodes, ts(o.UpdatedAt), o.ID)
	if err != nil {
		return fmt.Errorf("renewing the code of order %d: %w", o.ID, err)
	}
	return nil
}

// HoldDecision implements billing.RiskTx (the writer holds the database's
// write lock: the row is locked with everything else).
func (t *txImpl) HoldDecision(ctx context.Context, orderID int64) (billing.RiskDecision, error) {
	d, err := scanRiskDecision(t.tx.QueryRowContext(ctx, `SELECT `+riskDecisionCols+` FROM risk_decisions
		WHERE order_id = ? AND action = 'hold' ORDER BY id DESC LIMIT 1`, orderID))
	if err != nil {
		return billing.RiskDecision{}, fmt.Errorf("reading the hold of order %d: %w", orderID, riskErr(err))
	}
	return d, nil
}

// ResolveRiskDecision implements billing.RiskTx.
func (t *txImpl) ResolveRiskDecision(ctx context.Context, d billing.RiskDecision) error {
	err := execOne(ctx, t.tx, `UPDATE risk_decisions SET resolution = ?, resolved_by = ?, resolved_at = ? WHERE id = ?`,
		d.Resolution, d.ResolvedBy, nullTS(d.ResolvedAt), d.ID)
	if err != nil {
		return fmt.Errorf("resolving risk decision %d: %w", d.ID, err)
	}
	return nil
}

// RiskDecisions implements billing.RiskStore on the read pool.
func (s *Store) RiskDecisions(ctx context.Context, q billing.RiskDecisionQuery) ([]billing.RiskDecision, error) {
	var where []string
	var args []any
	add := func(cond string, arg any) {
		where = append(where, cond)
		args = append(args, arg)
	}
	if !q.From.IsZero() {
		add("at >= ?", ts(q.From))
	}
	if !q.To.IsZero() {
		add("at < ?", ts(q.To))
	}
	if q.Action != "" {
		add("action = ?", string(q.Action))
	}
	if q.Rule != "" {
		add("rule = ?", q.Rule)
	}
	if q.MSISDN != "" {
		add("msisdn = ?", q.MSISDN)
	}
	if q.Merchant != "" {
		add("merchant = ?", q.Merchant)
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
		query += ` LIMIT ?`
		args = append(args, q.Limit)
	}
	ds, err := collect(ctx, s.reader, scanRiskDecision, query, args...)
	if err != nil {
		return nil, fmt.Errorf("reading risk decisions: %w", err)
	}
	return ds, nil
}

// RiskListEntries implements billing.RiskStore on the read pool.
func (s *Store) RiskListEntries(ctx context.Context, list billing.RiskList, now time.Time, all bool) ([]billing.RiskListEntry, error) {
	es, err := collect(ctx, s.reader, scanRiskListEntry, `SELECT `+riskListCols+` FROM risk_lists
		WHERE (?1 = '' OR list = ?1) AND (?3 OR until IS NULL OR until > ?2)
		ORDER BY id`, string(list), ts(now), all)
	if err != nil {
		return nil, fmt.Errorf("reading the risk lists: %w", err)
	}
	return es, nil
}

// HeldOrders implements billing.RiskStore on the read pool, through
// orders_held (limit 0: all).
func (s *Store) HeldOrders(ctx context.Context, limit int) ([]billing.Order, error) {
	if limit <= 0 {
		limit = -1 // SQLite: no limit
	}
	os, err := collect(ctx, s.reader, func(r scanner) (billing.Order, error) { return scanOrder(r) },
		`SELECT `+orderCols+` FROM orders WHERE status = 'held' ORDER BY id LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("reading held orders: %w", err)
	}
	return os, nil
}
