package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"testing"
)

// TestGroupCommitIsolatesFailures runs many write transactions at once, so
// that they share commits, and checks that each one's failure rolls back
// only its own writes, and that a panic reaches its own caller only.
func TestGroupCommitIsolatesFailures(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openTest(t)
	errOdd := errors.New("odd")
	var wg sync.WaitGroup
	errs := make([]error, 200)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.write(ctx, func(tx *sql.Tx) error {
				if _, err := tx.ExecContext(ctx, `INSERT INTO job_leases (job, run_key, holder, expires_at) VALUES ('g', ?, 'h', 0)`,
					fmt.Sprint(i)); err != nil {
					return err
				}
				if i%2 == 1 {
					return errOdd
				}
				return nil
			})
		}()
	}
	wg.Add(1)
	var recovered any
	go func() {
		defer wg.Done()
		defer func() { recovered = recover() }()
		_ = s.write(ctx, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, `INSERT INTO job_leases (job, run_key, holder, expires_at) VALUES ('g', 'panic', 'h', 0)`); err != nil {
				return err
			}
			panic("boom")
		})
	}()
	wg.Wait()
	if recovered != "boom" {
		t.Errorf("the panicking caller recovered %v, want boom", recovered)
	}
	for i, err := range errs {
		if (i%2 == 1) != errors.Is(err, errOdd) || (i%2 == 0 && err != nil) {
			t.Errorf("write %d: %v", i, err)
		}
	}
	var n, odd int
	if err := s.reader.QueryRowContext(ctx, `SELECT count(*), coalesce(sum(run_key = 'panic' OR CAST(run_key AS INTEGER) % 2 = 1), 0)
		FROM job_leases WHERE job = 'g'`).Scan(&n, &odd); err != nil {
		t.Fatal(err)
	}
	if n != 100 || odd != 0 {
		t.Fatalf("%d rows stored (%d of failed transactions), want the 100 that succeeded", n, odd)
	}
}
