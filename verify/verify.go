// Package verify checks a carrierbill store against the invariants of
// DESIGN.md §4 that can be read from its tables: the ledger balances and
// every merchant's payable equals its entries; every paid order has one
// charge, one debit at the charger and one receipt in the outbox; no charge
// stays pending past the recovery sweep; the quota counters equal the
// charges and no phone is over a limit on any day or month; no refund
// exceeds its payment; every stored MO was processed or is young; and the
// statements already written equal the ledger.
//
// The checks are SQL, in one place (checks.go), run on PostgreSQL or on the
// embedded SQLite store through the small DB interface; the statements
// check reads the files and the ledger through settlement.Source.
// `carrierbill verify` runs them (and `serve` on a schedule, see Scheduled),
// `carrierbill bench` after a load run, the fault suite (faults/) after
// every scenario. The package only reads: it must never write to a
// store, and it must never print a phone number in clear (subjects that
// name a number are masked by the caller's report, not here: Violation
// keeps what the query returned so an operator can find the row).
package verify

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/carrierbill/carrierbill/settlement"
)

// Dialect is the SQL dialect of a store.
type Dialect int

// The two stores.
const (
	Postgres Dialect = iota
	SQLite
)

// Check is one invariant.
type Check struct {
	Name string // stable, snake_case
	Doc  string // what must hold
	// SQL is the query when both dialects share it; otherwise PostgresSQL
	// and SQLiteSQL. Each returns (subject, detail) text rows, one per
	// violation, at most 100.
	SQL, PostgresSQL, SQLiteSQL string
	// Params names the query's parameters in order ($1…, ?1…): zone,
	// pending_before, mo_before; method, per_payment, daily, monthly make
	// the check run once per payment method of Options.Limits.
	Params []string
	// BuiltinCharge: only meaningful when the built-in phone-account
	// charger (account_debits) does the debits.
	BuiltinCharge bool
}

func (c Check) query(d Dialect) string {
	switch {
	case c.SQL != "":
		return c.SQL
	case d == SQLite:
		return c.SQLiteSQL
	}
	return c.PostgresSQL
}

func (c Check) perMethod() bool {
	for _, p := range c.Params {
		if p == "method" {
			return true
		}
	}
	return false
}

// Checks returns the list of SQL checks, in the order Run runs them; the
// statements check (Options.StatementsDir) runs last.
func Checks() []Check { return append([]Check(nil), checks...) }

// DB runs a read-only query and returns each row's two text columns.
type DB interface {
	Query(ctx context.Context, query string, args ...any) ([][2]string, error)
}

// Limits are the spend limits of one payment method, in fen; 0 is no limit.
type Limits struct {
	PerPayment, Daily, Monthly int64
}

// Options tune Run. Zero values take the defaults in brackets.
type Options struct {
	// Location is the operator's time zone (the quota's days and months)
	// [UTC]. On SQLite its UTC offset at Now is used, which is exact for
	// zones without daylight saving (the default Asia/Shanghai).
	Location *time.Location
	Now      time.Time // [time.Now]
	// PendingFor is how long a charge may stay pending: the engine's
	// RecoverAfter plus a sweep and a charger call [2m30s].
	PendingFor time.Duration
	// MOFor is how long a stored MO may wait unprocessed [5m].
	MOFor time.Duration
	// BuiltinCharge runs the checks of the built-in phone-account charger.
	BuiltinCharge bool
	// Limits are the limits by payment method ("phone", "card") that no
	// phone may have exceeded; none: the limits check is skipped.
	Limits map[string]Limits
	// Statements, when set, compares the statements already written in
	// StatementsDir with the ledger (the "statements" check).
	Statements    settlement.Source
	StatementsDir string
}

// Violation is one row a check returned.
type Violation struct {
	Check   string `json:"check"`
	Subject string `json:"subject"`
	Detail  string `json:"detail"`
}

// Result is the outcome of one check.
type Result struct {
	Check      string      `json:"check"`
	Doc        string      `json:"doc"`
	Violations []Violation `json:"violations,omitempty"` // at most 100
	Seconds    float64     `json:"seconds"`
}

// Report is the outcome of Run.
type Report struct {
	At      time.Time `json:"at"`
	Seconds float64   `json:"seconds"`
	Results []Result  `json:"results"`
}

// Clean reports whether no check found a violation.
func (r Report) Clean() bool {
	for _, x := range r.Results {
		if len(x.Violations) > 0 {
			return false
		}
	}
	return true
}

// Violations returns every violation found.
func (r Report) Violations() []Violation {
	var out []Violation
	for _, x := range r.Results {
		out = append(out, x.Violations...)
	}
	return out
}

// Run runs every check against db and returns what each found. An error
// means a check could not run (the report holds the checks before it).
func Run(ctx context.Context, db DB, d Dialect, o Options) (Report, error) {
	loc := o.Location
	if loc == nil {
		loc = time.UTC
	}
	now := o.Now
	if now.IsZero() {
		now = time.Now()
	}
	if o.PendingFor <= 0 {
		o.PendingFor = 150 * time.Second
	}
	if o.MOFor <= 0 {
		o.MOFor = 5 * time.Minute
	}
	start := time.Now()
	rep := Report{At: now}
	params := map[string]any{"zone": loc.String(), "pending_before": now.Add(-o.PendingFor), "mo_before": now.Add(-o.MOFor)}
	if d == SQLite {
		_, off := now.In(loc).Zone()
		params["zone"] = off
		params["pending_before"] = now.Add(-o.PendingFor).UnixNano()
		params["mo_before"] = now.Add(-o.MOFor).UnixNano()
	}
	methods := make([]string, 0, len(o.Limits))
	for m := range o.Limits {
		methods = append(methods, m)
	}
	sort.Strings(methods)
	for _, c := range checks {
		if c.BuiltinCharge && !o.BuiltinCharge {
			continue
		}
		runs := []string{""}
		if c.perMethod() {
			runs = methods
			if len(runs) == 0 {
				continue
			}
		}
		t0 := time.Now()
		res := Result{Check: c.Name, Doc: c.Doc}
		for _, m := range runs {
			lim := o.Limits[m]
			p := map[string]any{"method": m, "per_payment": orMax(lim.PerPayment), "daily": orMax(lim.Daily), "monthly": orMax(lim.Monthly)}
			args := make([]any, len(c.Params))
			for i, name := range c.Params {
				if v, ok := params[name]; ok {
					args[i] = v
				} else {
					args[i] = p[name]
				}
			}
			rows, err := db.Query(ctx, c.query(d), args...)
			if err != nil {
				return rep, fmt.Errorf("verify: check %s: %w", c.Name, err)
			}
			for _, r := range rows {
				res.Violations = append(res.Violations, Violation{Check: c.Name, Subject: r[0], Detail: r[1]})
			}
		}
		res.Seconds = time.Since(t0).Seconds()
		rep.Results = append(rep.Results, res)
	}
	if o.Statements != nil && o.StatementsDir != "" {
		t0 := time.Now()
		vs, err := Statements(ctx, o.Statements, o.StatementsDir, loc)
		if err != nil {
			return rep, fmt.Errorf("verify: check statements: %w", err)
		}
		rep.Results = append(rep.Results, Result{Check: "statements", Doc: StatementsDoc, Violations: vs, Seconds: time.Since(t0).Seconds()})
	}
	rep.Seconds = time.Since(start).Seconds()
	return rep, nil
}

// orMax is a limit as a query compares it: 0 (no limit) never exceeded.
func orMax(fen int64) int64 {
	if fen <= 0 {
		return math.MaxInt64
	}
	return fen
}

// Pgx adapts a pgx pool.
func Pgx(pool *pgxpool.Pool) DB { return pgxDB{pool} }

type pgxDB struct{ pool *pgxpool.Pool }

func (p pgxDB) Query(ctx context.Context, query string, args ...any) ([][2]string, error) {
	rows, err := p.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out [][2]string
	for rows.Next() {
		var r [2]string
		if err := rows.Scan(&r[0], &r[1]); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// SQL adapts a database/sql handle (the embedded store's file).
func SQL(db *sql.DB) DB { return sqlDB{db} }

type sqlDB struct{ db *sql.DB }

func (s sqlDB) Query(ctx context.Context, query string, args ...any) ([][2]string, error) {
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out [][2]string
	for rows.Next() {
		var r [2]string
		if err := rows.Scan(&r[0], &r[1]); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}
