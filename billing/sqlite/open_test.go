package sqlite

import (
	"context"
	"path/filepath"
	"testing"
)

// TestDurableByDefault: a store opened with Open commits with
// synchronous=FULL in WAL mode, whatever the tests' helper (openTestFile)
// sets on the stores it opens.
func TestDurableByDefault(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "carrierbill.db")
	copyMigrated(t, path) // Open's settings are tested, not its migrations
	s, err := Open(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const full = 2
	var sync int
	var mode string
	if err := s.writer.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&sync); err != nil {
		t.Fatal(err)
	}
	if err := s.writer.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if sync != full || mode != "wal" {
		t.Fatalf("writer: synchronous %d, journal_mode %q; want %d (FULL), wal", sync, mode, full)
	}
	if err := s.reader.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&sync); err != nil {
		t.Fatal(err)
	}
	if sync != full {
		t.Fatalf("reader: synchronous %d, want %d (FULL)", sync, full)
	}
}
