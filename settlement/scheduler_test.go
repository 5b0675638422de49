package settlement_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/carrierbill/carrierbill/clock"
	"github.com/carrierbill/carrierbill/settlement"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// pgx pools close their background health check asynchronously.
		goleak.IgnoreTopFunction("github.com/jackc/pgx/v5/pgxpool.(*Pool).backgroundHealthCheck"),
		goleak.IgnoreTopFunction("github.com/jackc/puddle/v2.(*Pool).Acquire"),
	)
}

func TestSchedulerRejectsBadSchedules(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	r := newRunner(t, f, t.TempDir(), clock.NewFake(at(2026, 11, 21, 2, 0, 0)), nil)
	if _, err := settlement.NewScheduler(r, settlement.Schedules{Statements: "every night"}, clock.Real{}, nil); err == nil {
		t.Fatal("a bad schedule was accepted")
	}
}

func TestSchedulerCatchesUpAtStartAndOnItsSchedule(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.pay("8001", "phone", 1000, at(2026, 11, 20, 9, 0, 0), payOpt{})
	f.pay("8001", "phone", 1000, at(2026, 11, 21, 9, 0, 0), payOpt{})
	dir := t.TempDir()
	clk := clock.NewFake(at(2026, 11, 21, 2, 0, 0))
	r := newRunner(t, f, dir, clk, nil)
	s, err := settlement.NewScheduler(r, settlement.Schedules{Statements: "@every 1s", DailyBills: "@every 1s", MonthlyBills: "@every 1s"}, clk, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	waitFile(t, filepath.Join(dir, "8001", settlement.StatementName("8001", "2026-11-20")))
	waitFile(t, filepath.Join(dir, "8001", settlement.BillName("8001", "2026-11-20")))
	// The next night: cron's next firing settles the 21st.
	clk.Set(at(2026, 11, 22, 2, 0, 0))
	waitFile(t, filepath.Join(dir, "8001", settlement.StatementName("8001", "2026-11-21")))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
}

func waitFile(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not appear", path)
		}
		<-tick.C
	}
}
