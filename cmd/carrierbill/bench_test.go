package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/carrierbill/carrierbill/internal/dbtest"
	"github.com/carrierbill/carrierbill/loadtest"
)

// runTinyBench runs `carrierbill bench` for 20 payments and returns its
// report. It asserts what a healthy run produces, never a speed.
func runTinyBench(t *testing.T, args ...string) loadtest.Report {
	t.Helper()
	path := filepath.Join(t.TempDir(), "bench.json")
	args = append([]string{"bench", "-payments", "20", "-in-flight", "4", "-subscribers", "8", "-binds", "2",
		"-smpp-ceiling", "300ms", "-json", path}, args...)
	var out, errb strings.Builder
	if code := run(context.Background(), args, &out, &errb); code != 0 {
		t.Fatalf("carrierbill bench exited %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errb.String())
	}
	for _, want := range []string{"confirmed payments", "MO ack p50 / p99 / p99.9", "invariants", "clean", "SMPP ceiling"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the table lacks %q:\n%s", want, out.String())
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rep loadtest.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("the JSON report: %v", err)
	}
	if rep.Confirmed != 20 || len(rep.Rejections) != 0 || rep.MOErrors != 0 || rep.MTTimeouts != 0 || rep.OddMTs != 0 {
		t.Errorf("confirmed %d, rejections %v, MO errors %d, MT timeouts %d, odd MTs %d; want 20 and nothing else",
			rep.Confirmed, rep.Rejections, rep.MOErrors, rep.MTTimeouts, rep.OddMTs)
	}
	if rep.MOs != 40 || rep.StoredMOs < 40 || rep.MTs < 40 || rep.MOAck.N != 40 || rep.PurchaseToRcpt.N != 20 {
		t.Errorf("MOs %d (stored %d), MTs %d, ack samples %d, payment samples %d; want 40, 40, 40, 40, 20",
			rep.MOs, rep.StoredMOs, rep.MTs, rep.MOAck.N, rep.PurchaseToRcpt.N)
	}
	if !rep.Invariants.Clean() || len(rep.Invariants.Results) < 8 {
		t.Errorf("invariants: %+v", rep.Invariants)
	}
	if rep.SMPP.Skipped != "" || rep.SMPP.MOs == 0 {
		t.Errorf("SMPP ceiling: %+v", rep.SMPP)
	}
	if rep.CPUSeconds <= 0 || rep.MaxRSSMB <= 0 {
		t.Errorf("CPU %v s, max RSS %v MB", rep.CPUSeconds, rep.MaxRSSMB)
	}
	return rep
}

func TestBenchEmbedded(t *testing.T) {
	t.Parallel()
	rep := runTinyBench(t, "-embedded")
	if rep.Store != "embedded" || rep.PGBench.Skipped == "" {
		t.Errorf("store %q, pgbench %+v", rep.Store, rep.PGBench)
	}
}

// TestBenchPostgres runs on a test schema (not a fresh database) and runs
// the pgbench ceiling when pgbench is installed.
func TestBenchPostgres(t *testing.T) {
	t.Parallel()
	_, prefix := dbtest.Redis(t)
	rep := runTinyBench(t, "-database-url", dbtest.Postgres(t), "-redis-url", dbtest.RedisURL(), "-redis-prefix", prefix,
		"-fresh-db=false", "-pgbench-clients", "2")
	if rep.Store != "postgres" || rep.Commits <= 0 || rep.CommitsPerPayment <= 0 {
		t.Errorf("store %q, commits %d (%.2f per payment)", rep.Store, rep.Commits, rep.CommitsPerPayment)
	}
	if rep.PGBench.Skipped == "" && rep.PGBench.Transactions == 0 {
		t.Errorf("pgbench ran no payment: %+v", rep.PGBench)
	}
}
