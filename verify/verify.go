// Package verify checks a carrierbill store against the invariants of
// DESIGN.md §4 that can be read from its tables: the ledger balances, no
// order is charged twice, every charge has its postings and its one debit,
// the quota counters equal the charges, every stored MO was processed.
//
// The checks are SQL, in one place (checks.go), run on PostgreSQL or on the
// embedded SQLite store through the small DB interface. `carrierbill bench`
// runs them after a load run; `carrierbill verify` (issue 17) is meant to
// run the same list. The package only reads: it must never write to a
// store, and it must never print a phone number in clear (subjects that
// name a number are masked by the caller's report, not here: Violation
// keeps what the query returned so an operator can find the row).
package verify

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
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

func (c Check) usesZone() bool { return c.SQL == "" }

// Checks returns the list of checks, in the order Run runs them.
func Checks() []Check { return append([]Check(nil), checks...) }

// DB runs a read-only query and returns each row's two text columns.
type DB interface {
	Query(ctx context.Context, query string, args ...any) ([][2]string, error)
}

// Options tune Run.
type Options struct {
	// Location is the operator's time zone (the quota's days and months).
	// On SQLite its UTC offset at Now is used, which is exact for zones
	// without daylight saving (the default Asia/Shanghai).
	Location *time.Location
	Now      time.Time // for the SQLite offset; zero: time.Now
	// BuiltinCharge runs the checks of the built-in phone-account charger.
	BuiltinCharge bool
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
}

// Report is the outcome of Run.
type Report struct {
	Results []Result `json:"results"`
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
	var zone any = loc.String()
	if d == SQLite {
		_, off := now.In(loc).Zone()
		zone = off
	}
	var rep Report
	for _, c := range checks {
		if c.BuiltinCharge && !o.BuiltinCharge {
			continue
		}
		var args []any
		if c.usesZone() {
			args = []any{zone}
		}
		rows, err := db.Query(ctx, c.query(d), args...)
		if err != nil {
			return rep, fmt.Errorf("verify: check %s: %w", c.Name, err)
		}
		res := Result{Check: c.Name, Doc: c.Doc}
		for _, r := range rows {
			res.Violations = append(res.Violations, Violation{Check: c.Name, Subject: r[0], Detail: r[1]})
		}
		rep.Results = append(rep.Results, res)
	}
	return rep, nil
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
