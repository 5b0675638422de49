package loadtest

import (
	"bytes"
	"context"
	_ "embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/carrierbill/carrierbill/billing/postgres"
)

// PaymentScript is the pgbench script of the database ceiling: the rows of
// one confirmed payment, in one transaction.
//
//go:embed payment.pgbench
var PaymentScript []byte

// PGBenchResult is the database ceiling.
type PGBenchResult struct {
	Skipped      string  `json:"skipped,omitempty"` // why it did not run
	Binary       string  `json:"binary,omitempty"`
	Clients      int     `json:"clients,omitempty"`
	Seconds      float64 `json:"seconds,omitempty"`
	Transactions int64   `json:"transactions,omitempty"`
	TPS          float64 `json:"payments_per_s,omitempty"` // one transaction is one payment
	LatencyMS    float64 `json:"latency_avg_ms,omitempty"`
	// CommitsPerPayment and WALSyncsPerPayment are the same deltas as the
	// gateway's, for comparison.
	CommitsPerPayment  float64 `json:"commits_per_payment,omitempty"`
	WALSyncsPerPayment float64 `json:"wal_syncs_per_payment,omitempty"`
}

// findPGBench returns the pgbench binary: $PATH first, then the Debian
// server package's directory.
func findPGBench(explicit string) (string, error) {
	if explicit != "" {
		return explicit, nil
	}
	if p, err := exec.LookPath("pgbench"); err == nil {
		return p, nil
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pgbench")
	if len(matches) > 0 {
		return matches[len(matches)-1], nil
	}
	return "", fmt.Errorf("pgbench not found (apt-get install postgresql-client, or pass --pgbench)")
}

var (
	reTPS     = regexp.MustCompile(`tps = ([0-9.]+)`)
	reTxns    = regexp.MustCompile(`number of transactions actually processed: ([0-9]+)`)
	reLatency = regexp.MustCompile(`latency average = ([0-9.]+) ms`)
)

// runPGBench runs the payment script for d with clients connections in a
// schema of its own (migrated like the gateway's), then drops the schema.
func runPGBench(ctx context.Context, bin, dbURL string, clients, subscribers int, d time.Duration, stats *pgxpool.Pool) (PGBenchResult, error) {
	res := PGBenchResult{Binary: bin, Clients: clients}
	schema := fmt.Sprintf("bench_ceiling_%d", time.Now().UnixNano()%1e9)
	if _, err := stats.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
		return res, fmt.Errorf("creating the ceiling's schema: %w", err)
	}
	defer stats.Exec(context.WithoutCancel(ctx), "DROP SCHEMA "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
	surl, err := withSearchPath(dbURL, schema)
	if err != nil {
		return res, err
	}
	pool, err := pgxpool.New(ctx, surl)
	if err != nil {
		return res, fmt.Errorf("connecting to the ceiling's schema: %w", err)
	}
	_, err = postgres.Migrate(ctx, pool)
	pool.Close()
	if err != nil {
		return res, fmt.Errorf("migrating the ceiling's schema: %w", err)
	}
	dir, err := os.MkdirTemp("", "carrierbill-pgbench")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	script := filepath.Join(dir, "payment.pgbench")
	if err := os.WriteFile(script, PaymentScript, 0o600); err != nil {
		return res, err
	}
	before, err := readPGCounters(ctx, stats)
	if err != nil {
		return res, err
	}
	secs := max(1, int(d.Round(time.Second)/time.Second))
	libpqURL, err := withoutParam(dbURL, "search_path") // libpq knows no such parameter; PGOPTIONS sets it
	if err != nil {
		return res, err
	}
	cmd := exec.CommandContext(ctx, bin, "-n", "-M", "prepared", "-f", script,
		"-c", strconv.Itoa(clients), "-j", strconv.Itoa(min(clients, 2)), "-T", strconv.Itoa(secs),
		"-D", "subscribers="+strconv.Itoa(max(subscribers, 1)), libpqURL)
	cmd.Env = append(os.Environ(), "PGOPTIONS=-c search_path="+schema)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return res, fmt.Errorf("pgbench: %w: %s", err, lastLines(out.String(), 8))
	}
	after, err := settledPGCounters(ctx, stats)
	if err != nil {
		return res, err
	}
	res.Seconds = float64(secs)
	if m := reTPS.FindStringSubmatch(out.String()); m != nil {
		res.TPS, _ = strconv.ParseFloat(m[1], 64)
	}
	if m := reTxns.FindStringSubmatch(out.String()); m != nil {
		res.Transactions, _ = strconv.ParseInt(m[1], 10, 64)
	}
	if m := reLatency.FindStringSubmatch(out.String()); m != nil {
		res.LatencyMS, _ = strconv.ParseFloat(m[1], 64)
	}
	if res.Transactions > 0 {
		n := float64(res.Transactions)
		res.CommitsPerPayment = float64(after.XactCommit-before.XactCommit) / n
		res.WALSyncsPerPayment = float64(after.WALSync-before.WALSync) / n
	}
	return res, nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
