package sqlite

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// openTest opens a store on a fresh file in a temporary directory and closes
// it when the test ends.
func openTest(t testing.TB) *Store {
	t.Helper()
	return openTestFile(t, filepath.Join(t.TempDir(), "carrierbill.db"))
}

// openTestFile opens a store on path, a copy of the migrated template when
// path does not exist yet, and closes it when the test ends. Several calls
// on one path are several processes on one file.
//
// The store's writer commits with synchronous=NORMAL: these tests check what
// the store does, not that a commit survives a power cut, and an fsync per
// commit (FULL, the product's setting) costs them minutes under -race.
// TestCrash (SIGKILL mid-traffic) and TestDurableByDefault open theirs with
// Open and keep FULL.
func openTestFile(t testing.TB, path string) *Store {
	t.Helper()
	ctx := context.Background()
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		copyMigrated(t, path)
	}
	s, err := Open(ctx, path, nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	// The writer pool keeps its one connection for the store's life.
	if _, err := s.writer.ExecContext(ctx, "PRAGMA synchronous = NORMAL"); err != nil {
		t.Fatalf("PRAGMA synchronous: %v", err)
	}
	return s
}

// migrated is a database file Open has applied every migration to, made once
// per test binary: the tests that do not test migrating start from a copy of
// it (migrating a fresh file costs seconds of CPU under -race). The tests of
// migrating (TestMigrateCanonicalNumbers) open an empty file with Open.
var migrated struct {
	once sync.Once
	db   []byte
	err  error
}

// copyMigrated writes a copy of the migrated template to path.
func copyMigrated(t testing.TB, path string) {
	t.Helper()
	migrated.once.Do(func() { migrated.db, migrated.err = migrateTemplate() })
	if migrated.err != nil {
		t.Fatalf("migrated template: %v", migrated.err)
	}
	if err := os.WriteFile(path, migrated.db, 0o600); err != nil {
		t.Fatal(err)
	}
}

func migrateTemplate() ([]byte, error) {
	dir, err := os.MkdirTemp("", "carrierbill-sqlite-template-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	p := filepath.Join(dir, "template.db")
	s, err := Open(context.Background(), p, nil)
	if err != nil {
		return nil, err
	}
	if err := s.Close(); err != nil { // the last connection checkpoints the WAL into the file
		return nil, err
	}
	if fi, err := os.Stat(p + "-wal"); err == nil && fi.Size() > 0 {
		return nil, errors.New("the WAL was not checkpointed into the file on Close")
	}
	return os.ReadFile(p)
}
