package sqlite

import (
	"context"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/carrierbill/carrierbill/billing/postgres"
	"github.com/carrierbill/carrierbill/internal/dbtest"
)

// column is one column as both schemas describe it.
type column struct {
	Type    string // INTEGER, TEXT or BLOB: the SQLite storage of the Postgres type
	NotNull bool
}

// pgStorage is how each Postgres type is stored on SQLite (see doc.go).
var pgStorage = map[string]string{
	"bigint":                   "INTEGER",
	"integer":                  "INTEGER",
	"timestamp with time zone": "INTEGER",
	"text":                     "TEXT",
	"date":                     "TEXT",
	"bytea":                    "BLOB",
}

// extraSQLiteConstraints are SQLite constraints that Postgres enforces by
// its column types instead.
var extraSQLiteConstraints = map[string]bool{
	"quota_day_is_date":   true,
	"quota_month_is_date": true,
}

// TestSchemaMatchesPostgres fails when the two stores' migrations drift
// apart: same tables, same columns with the same nullability and storage,
// the same named constraints, indexes and triggers.
func TestSchemaMatchesPostgres(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := dbtest.Pool(t)
	if _, err := postgres.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	s := openTest(t)

	// Columns.
	pg := map[string]map[string]column{}
	rows, err := pool.Query(ctx, `SELECT table_name, column_name, data_type, is_nullable
		FROM information_schema.columns WHERE table_schema = current_schema()`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var table, col, typ, nullable string
		if err := rows.Scan(&table, &col, &typ, &nullable); err != nil {
			t.Fatal(err)
		}
		st, ok := pgStorage[typ]
		if !ok {
			t.Errorf("%s.%s: Postgres type %q has no SQLite storage rule; add one to pgStorage and doc.go", table, col, typ)
		}
		if pg[table] == nil {
			pg[table] = map[string]column{}
		}
		pg[table][col] = column{Type: st, NotNull: nullable == "NO"}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}

	lite := map[string]map[string]column{}
	for _, table := range sqliteNames(t, s, "table") {
		if table == "sqlite_sequence" {
			continue
		}
		lite[table] = map[string]column{}
		rs, err := s.reader.QueryContext(ctx, "SELECT name, type, \"notnull\" FROM pragma_table_info(?)", table)
		if err != nil {
			t.Fatal(err)
		}
		for rs.Next() {
			var name, typ string
			var notNull bool
			if err := rs.Scan(&name, &typ, &notNull); err != nil {
				t.Fatal(err)
			}
			lite[table][name] = column{Type: typ, NotNull: notNull}
		}
		if err := rs.Close(); err != nil {
			t.Fatal(err)
		}
	}
	for table, cols := range pg {
		if lite[table] == nil {
			t.Errorf("table %s is in Postgres, not in SQLite", table)
			continue
		}
		for name, c := range cols {
			lc, ok := lite[table][name]
			switch {
			case !ok:
				t.Errorf("column %s.%s is in Postgres, not in SQLite", table, name)
			case lc != c:
				t.Errorf("column %s.%s: SQLite %+v, Postgres %+v", table, name, lc, c)
			}
		}
		for name := range lite[table] {
			if _, ok := cols[name]; !ok {
				t.Errorf("column %s.%s is in SQLite, not in Postgres", table, name)
			}
		}
	}
	for table := range lite {
		if pg[table] == nil {
			t.Errorf("table %s is in SQLite, not in Postgres", table)
		}
	}

	// Named CHECK and UNIQUE constraints (primary keys are matched by
	// table in errors.go).
	var pgConstraints []string
	if err := pgStrings(ctx, pool, &pgConstraints, `SELECT c.conname FROM pg_constraint c
		JOIN pg_class r ON r.oid = c.conrelid JOIN pg_namespace n ON n.oid = r.relnamespace
		WHERE n.nspname = current_schema() AND c.contype IN ('c', 'u')`); err != nil {
		t.Fatal(err)
	}
	liteConstraints := map[string]bool{}
	for _, sql := range sqliteSQL(t, s, "table") {
		for _, m := range regexp.MustCompile(`CONSTRAINT\s+(\w+)`).FindAllStringSubmatch(sql, -1) {
			liteConstraints[m[1]] = true
		}
	}
	for _, name := range pgConstraints {
		if !liteConstraints[name] {
			t.Errorf("constraint %s is in Postgres, not in SQLite", name)
		}
		delete(liteConstraints, name)
	}
	for name := range liteConstraints {
		if !strings.HasSuffix(name, "_pkey") && !extraSQLiteConstraints[name] {
			t.Errorf("constraint %s is in SQLite, not in Postgres", name)
		}
	}

	// Indexes other than those behind primary keys and UNIQUE constraints.
	var pgIndexes []string
	if err := pgStrings(ctx, pool, &pgIndexes, `SELECT i.indexname FROM pg_indexes i
		WHERE i.schemaname = current_schema() AND NOT EXISTS (
			SELECT 1 FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
			WHERE n.nspname = current_schema() AND c.conname = i.indexname)`); err != nil {
		t.Fatal(err)
	}
	var liteIndexes []string
	for _, name := range sqliteNames(t, s, "index") {
		if !strings.HasPrefix(name, "sqlite_autoindex_") {
			liteIndexes = append(liteIndexes, name)
		}
	}
	sort.Strings(pgIndexes)
	if strings.Join(pgIndexes, ",") != strings.Join(liteIndexes, ",") {
		t.Errorf("indexes differ:\nPostgres %v\nSQLite   %v", pgIndexes, liteIndexes)
	}

	// Triggers: every Postgres trigger has a namesake on SQLite (SQLite
	// needs one trigger per event, so it may have more).
	var pgTriggers []string
	if err := pgStrings(ctx, pool, &pgTriggers, `SELECT DISTINCT trigger_name::text FROM information_schema.triggers
		WHERE trigger_schema = current_schema()`); err != nil {
		t.Fatal(err)
	}
	liteTriggers := map[string]bool{}
	for _, name := range sqliteNames(t, s, "trigger") {
		liteTriggers[name] = true
	}
	for _, name := range pgTriggers {
		if !liteTriggers[name] {
			t.Errorf("trigger %s is in Postgres, not in SQLite", name)
		}
	}
}

func sqliteNames(t *testing.T, s *Store, typ string) []string {
	t.Helper()
	rows, err := s.reader.Query("SELECT name FROM sqlite_schema WHERE type = ? ORDER BY name", typ)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		names = append(names, n)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return names
}

func sqliteSQL(t *testing.T, s *Store, typ string) []string {
	t.Helper()
	rows, err := s.reader.Query("SELECT sql FROM sqlite_schema WHERE type = ? AND sql IS NOT NULL", typ)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var q string
		if err := rows.Scan(&q); err != nil {
			t.Fatal(err)
		}
		out = append(out, q)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func pgStrings(ctx context.Context, pool *pgxpool.Pool, out *[]string, query string) error {
	rows, err := pool.Query(ctx, query)
	if err != nil {
		return err
	}
	vs, err := pgx.CollectRows(rows, pgx.RowTo[string])
	*out = vs
	return err
}
