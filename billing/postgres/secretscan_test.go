package postgres_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/carrierbill/carrierbill/billing/postgres"
	"github.com/carrierbill/carrierbill/billing/storetest"
)

// TestInitialPasswordNeverOnDisk is issue 18.3 on PostgreSQL: after a first
// card binding sent the initial wallet password and the sweep scrubbed it,
// neither the WAL written meanwhile nor, after a CHECKPOINT, the files of
// this test's tables (dead tuples included) hold the password. Before the
// fix the MT body held it in clear: the WAL kept the insert, the dead tuple
// kept it until VACUUM. Reading server files needs a superuser (the local
// test server's postgres role); without one the test is skipped.
func TestInitialPasswordNeverOnDisk(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := migrated(t)
	var super bool
	if err := pool.QueryRow(ctx, `SELECT rolsuper FROM pg_roles WHERE rolname = current_user`).Scan(&super); err != nil {
		t.Fatal(err)
	}
	if !super {
		t.Skip("reading the server's files needs a superuser")
	}
	var walStart string
	if err := pool.QueryRow(ctx, `SELECT pg_walfile_name(pg_current_wal_lsn())`).Scan(&walStart); err != nil {
		t.Fatal(err)
	}
	cs := postgres.NewCardStore(pool)
	pw := storetest.SendInitialPassword(t, storetest.SecretScanEnv{Store: postgres.NewStore(pool), Cards: cs, SetOwner: cs.SetOwner})

	// The WAL since the binding, read before a checkpoint may recycle it.
	// It is shared with every other test: look for the marked password only.
	var walEnd string
	if err := pool.QueryRow(ctx, `SELECT pg_walfile_name(pg_current_wal_flush_lsn())`).Scan(&walEnd); err != nil {
		t.Fatal(err)
	}
	rows, err := pool.Query(ctx, `SELECT name FROM pg_ls_waldir() WHERE name >= $1 AND name <= $2 AND length(name) = 24 ORDER BY name`, walStart, walEnd)
	if err != nil {
		t.Fatal(err)
	}
	segments, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if len(segments) == 0 {
		t.Fatalf("no WAL segment between %s and %s", walStart, walEnd)
	}
	for _, seg := range segments {
		var data []byte
		if err := pool.QueryRow(ctx, `SELECT pg_read_binary_file('pg_wal/' || $1, 0, (pg_stat_file('pg_wal/' || $1, true)).size, true)`, seg).Scan(&data); err != nil {
			t.Fatal(err)
		}
		if data == nil {
			t.Logf("WAL segment %s was recycled before it was read", seg)
			continue
		}
		if bytes.Contains(data, []byte(storetest.PasswordMarker+pw)) {
			t.Errorf("WAL segment %s holds the initial password", seg)
		}
	}

	// Every relation file of this test's schema (tables, TOAST, indexes),
	// dead tuples and free space included, once written out.
	if _, err := pool.Exec(ctx, `CHECKPOINT`); err != nil {
		t.Fatal(err)
	}
	rows, err = pool.Query(ctx, `SELECT pg_relation_filepath(c.oid) FROM pg_class c
		WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'i', 't')
		UNION SELECT pg_relation_filepath(c.reltoastrelid) FROM pg_class c
		WHERE c.relnamespace = current_schema()::regnamespace AND c.reltoastrelid <> 0`)
	if err != nil {
		t.Fatal(err)
	}
	files, err := pgx.CollectRows(rows, pgx.RowTo[*string])
	if err != nil {
		t.Fatal(err)
	}
	read := 0
	for _, f := range files {
		if f == nil {
			continue
		}
		var data []byte
		if err := pool.QueryRow(ctx, `SELECT pg_read_binary_file($1, 0, (pg_stat_file($1, true)).size, true)`, *f).Scan(&data); err != nil {
			t.Fatal(err)
		}
		read++
		if storetest.HoldsPassword(data, pw) {
			t.Errorf("relation file %s holds the initial password", *f)
		}
	}
	if read < 10 {
		t.Fatalf("read %d relation files, want every table of the schema", read)
	}
}
