package postgres

import (
	"context"
	"sync"
	"testing"

	"github.com/carrierbill/carrierbill/internal/dbtest"
)

func TestMigrateOnceUnderConcurrency(t *testing.T) {
	t.Parallel()
	pool := dbtest.Pool(t)
	ctx := context.Background()
	ms, err := Migrations()
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	total := make([]int, 3)
	for i := range total {
		wg.Add(1)
		go func() {
			defer wg.Done()
			done, err := Migrate(ctx, pool)
			if err != nil {
				t.Errorf("Migrate: %v", err)
			}
			total[i] = len(done)
		}()
	}
	wg.Wait()
	if sum := total[0] + total[1] + total[2]; sum != len(ms) {
		t.Fatalf("applied %d migrations across three racing processes, want %d", sum, len(ms))
	}
}
