package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" database/sql driver

	"github.com/carrierbill/carrierbill/internal/migrations"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// busyTimeout is how long a writer waits for another process's write lock
// before giving up with SQLITE_BUSY.
const busyTimeout = 10 * time.Second

// Store is billing's store on one SQLite database file. It is safe for
// concurrent use.
type Store struct {
	path   string
	writer *sql.DB // exactly one connection; BEGIN IMMEDIATE
	reader *sql.DB // read-only pool
	log    *slog.Logger

	reqs      chan *writeReq // to the group-commit loop (commit.go)
	quit      chan struct{}
	loopDone  chan struct{}
	closeOnce sync.Once
}

// Open opens (creating it if needed) the SQLite database at path, applies
// the embedded migrations not yet applied, and returns the store. The
// directory of path must exist. In-memory databases are refused: the
// writer and the readers must see one file.
func Open(ctx context.Context, path string, logger *slog.Logger) (*Store, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") || strings.ContainsRune(path, '?') {
		return nil, fmt.Errorf("opening sqlite store: %q is not a plain file path", path)
	}
	common := url.Values{}
	common.Add("_pragma", "busy_timeout("+strconv.FormatInt(busyTimeout.Milliseconds(), 10)+")")
	common.Add("_pragma", "foreign_keys(ON)")
	common.Add("_pragma", "synchronous(FULL)")

	w := url.Values{}
	for k, v := range common {
		w[k] = append([]string(nil), v...)
	}
	w.Add("_pragma", "journal_mode(WAL)")
	// Savepoint journals in memory: a group commit (commit.go) opens a
	// savepoint per transaction, and past 64 KiB SQLite spills their
	// sub-journal to a temporary file, one pwrite per page (a fifth of the
	// writer's CPU in the bench's profile). It holds the pages a group
	// changed, so memory stays bounded by the group; durability is the
	// WAL's, which this does not touch.
	w.Add("_pragma", "temp_store(MEMORY)")
	w.Set("_txlock", "immediate")
	writer, err := sql.Open(cachedDriverName, "file:"+path+"?"+w.Encode()) // prepared statements: stmtcache.go
	if err != nil {
		return nil, fmt.Errorf("opening sqlite store %s: %w", path, err)
	}
	writer.SetMaxOpenConns(1)
	writer.SetMaxIdleConns(1)
	writer.SetConnMaxLifetime(0)
	writer.SetConnMaxIdleTime(0)

	// The writer connection sets WAL mode (persistent in the file) before
	// any reader connects.
	var mode string
	if err := writer.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		writer.Close()
		return nil, fmt.Errorf("opening sqlite store %s: %w", path, err)
	}
	if !strings.EqualFold(mode, "wal") {
		writer.Close()
		return nil, fmt.Errorf("opening sqlite store %s: journal mode is %q, want wal (does the file system support shared memory?)", path, mode)
	}

	r := common
	r.Add("_pragma", "query_only(ON)")
	// The readers keep their compiled statements too (stmtcache.go).
	reader, err := sql.Open(cachedDriverName, "file:"+path+"?"+r.Encode())
	if err != nil {
		writer.Close()
		return nil, fmt.Errorf("opening sqlite store %s: %w", path, err)
	}
	n := max(4, runtime.GOMAXPROCS(0))
	reader.SetMaxOpenConns(n)
	reader.SetMaxIdleConns(n)

	s := &Store{path: path, writer: writer, reader: reader, log: logger,
		reqs: make(chan *writeReq), quit: make(chan struct{}), loopDone: make(chan struct{})}
	go s.writeLoop()
	applied, err := s.migrate(ctx)
	if err != nil {
		s.Close()
		return nil, err
	}
	if len(applied) > 0 {
		logger.Info("sqlite store migrated", "path", path, "versions", applied)
	}
	return s, nil
}

// Path returns the database file's path.
func (s *Store) Path() string { return s.path }

// Close closes the database. Transactions still running fail.
func (s *Store) Close() error {
	s.closeOnce.Do(func() { close(s.quit) })
	<-s.loopDone
	return errors.Join(s.reader.Close(), s.writer.Close())
}

// Migration is one numbered schema change.
type Migration = migrations.Migration

// Migrations returns the embedded migrations in version order.
func Migrations() ([]Migration, error) {
	return migrations.Load(migrationFiles, "migrations")
}

// migrate applies every embedded migration not yet applied, all in one
// IMMEDIATE transaction, so that processes opening the file together apply
// each migration once. It returns the versions it applied.
func (s *Store) migrate(ctx context.Context) ([]int, error) {
	ms, err := Migrations()
	if err != nil {
		return nil, err
	}
	var done []int
	err = s.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    INTEGER NOT NULL PRIMARY KEY,
			name       TEXT    NOT NULL,
			applied_at INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000 AS INTEGER) * 1000000)
		) STRICT`); err != nil {
			return fmt.Errorf("creating schema_migrations: %w", err)
		}
		rows, err := tx.QueryContext(ctx, "SELECT version FROM schema_migrations")
		if err != nil {
			return fmt.Errorf("reading schema_migrations: %w", err)
		}
		applied := map[int]bool{}
		for rows.Next() {
			var v int
			if err := rows.Scan(&v); err != nil {
				rows.Close()
				return fmt.Errorf("reading schema_migrations: %w", err)
			}
			applied[v] = true
		}
		if err := rows.Close(); err != nil {
			return fmt.Errorf("reading schema_migrations: %w", err)
		}
		for _, m := range ms {
			if applied[m.Version] {
				continue
			}
			if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
				return fmt.Errorf("applying %s: %w", m.Name, err)
			}
			if _, err := tx.ExecContext(ctx, "INSERT INTO schema_migrations (version, name) VALUES (?, ?)", m.Version, m.Name); err != nil {
				return fmt.Errorf("recording %s: %w", m.Name, err)
			}
			done = append(done, m.Version)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("migrating sqlite store %s: %w", s.path, err)
	}
	return done, nil
}

// IntegrityCheck runs PRAGMA integrity_check and PRAGMA foreign_key_check
// and returns an error describing any problem found.
func (s *Store) IntegrityCheck(ctx context.Context) error {
	rows, err := s.reader.QueryContext(ctx, "PRAGMA integrity_check")
	if err != nil {
		return fmt.Errorf("checking integrity: %w", err)
	}
	var problems []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			rows.Close()
			return fmt.Errorf("checking integrity: %w", err)
		}
		if line != "ok" {
			problems = append(problems, line)
		}
	}
	if err := rows.Close(); err != nil {
		return fmt.Errorf("checking integrity: %w", err)
	}
	fk, err := s.reader.QueryContext(ctx, "PRAGMA foreign_key_check")
	if err != nil {
		return fmt.Errorf("checking foreign keys: %w", err)
	}
	for fk.Next() {
		var table, parent string
		var rowid sql.NullInt64
		var fkid int
		if err := fk.Scan(&table, &rowid, &parent, &fkid); err != nil {
			fk.Close()
			return fmt.Errorf("checking foreign keys: %w", err)
		}
		problems = append(problems, fmt.Sprintf("%s row %d references a missing %s", table, rowid.Int64, parent))
	}
	if err := fk.Close(); err != nil {
		return fmt.Errorf("checking foreign keys: %w", err)
	}
	if len(problems) > 0 {
		return fmt.Errorf("sqlite store %s is damaged: %s", s.path, strings.Join(problems, "; "))
	}
	return nil
}
