package loadtest

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
)

// WriteTable prints the report as a table.
func (r *Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, f string, a ...any) { fmt.Fprintf(tw, "%s\t%s\n", k, fmt.Sprintf(f, a...)) }
	what := fmt.Sprintf("%.0f s", r.Setup.Duration)
	if r.Setup.Payments > 0 {
		what = fmt.Sprintf("%d payments", r.Setup.Payments)
	}
	if r.Store == "embedded" {
		row("store", "embedded SQLite, in-process Redis")
	} else {
		row("store", "PostgreSQL %s, Redis", r.Machine.Postgres)
	}
	paced := ""
	if r.Setup.Rate > 0 {
		paced = fmt.Sprintf(", paced at %.0f payments/s", r.Setup.Rate)
	}
	row("run", "%s: %d subscribers, %d in flight%s, %d binds (window %d); %d CPUs, load %s", what,
		r.Setup.Subscribers, r.Setup.InFlight, paced, r.Setup.Binds, r.Setup.Window, r.Machine.CPUs, r.Machine.LoadAvg)
	row("confirmed payments", "%d in %.1f s: %.1f/s", r.Confirmed, r.Seconds, r.PaymentsPerS)
	row("MOs / MTs", "%.1f/s / %.1f/s (%d / %d)", r.MOsPerS, r.MTsPerS, r.MOs, r.MTs)
	row("MO ack p50 / p99 / p99.9", "%.2f / %.2f / %.2f ms (max %.1f)", r.MOAck.P50, r.MOAck.P99, r.MOAck.P999, r.MOAck.Max)
	row("purchase→receipt p50 / p99", "%.1f / %.1f ms", r.PurchaseToRcpt.P50, r.PurchaseToRcpt.P99)
	row("rejections", "%s", rejections(r.Rejections))
	row("lost or odd", "MO errors %d, MO temp failures %d, MT timeouts %d, unexpected MTs %d, unrouted MTs %d, unfinished %d",
		r.MOErrors, r.MOTempFails, r.MTTimeouts, r.OddMTs, r.UnroutedMTs, r.Unfinished)
	row("process CPU (gateway + simulator)", "%.1f s (%.2f ms per payment), max RSS %.0f MB", r.CPUSeconds, r.CPUPerPayment, r.MaxRSSMB)
	if r.Store == "postgres" {
		row("commits per payment", "%.2f (%d)", r.CommitsPerPayment, r.Commits)
		row("WAL flushes per payment", "%.2f (%d wal_sync, whole server), %.0f WAL bytes", r.WALSyncsPerPayment, r.WALSyncs, r.WALBytesPerPayment)
	}
	row("stored MOs", "%d (acked %d)", r.StoredMOs, r.MOs)
	inv := "clean"
	if !r.Invariants.Clean() {
		var bad []string
		for _, v := range r.Invariants.Violations() {
			bad = append(bad, v.Check)
		}
		inv = fmt.Sprintf("%d VIOLATIONS: %s", len(bad), strings.Join(dedup(bad), ", "))
	}
	row("invariants", "%s (%d checks)", inv, len(r.Invariants.Results))
	if r.PGBench.Skipped != "" {
		row("pgbench ceiling", "skipped: %s", r.PGBench.Skipped)
	} else {
		row("pgbench ceiling", "%.1f payments/s (%d clients, 1 commit/payment, %.2f WAL flushes/payment); gateway = %.1f%% of it",
			r.PGBench.TPS, r.PGBench.Clients, r.PGBench.WALSyncsPerPayment, 100*r.OfPGBench)
	}
	if r.SMPP.Skipped != "" {
		row("SMPP ceiling", "skipped: %s", r.SMPP.Skipped)
	} else {
		row("SMPP ceiling", "%.0f MOs/s, ack p50 %.2f / p99 %.2f ms (%d binds, %d senders); gateway MOs = %.1f%% of it",
			r.SMPP.MOsPerS, r.SMPP.Ack.P50, r.SMPP.Ack.P99, r.SMPP.Binds, r.SMPP.Senders, 100*r.OfSMPP)
	}
	for _, n := range r.Notes {
		row("note", "%s", n)
	}
	return tw.Flush()
}

// WriteJSON writes the report as indented JSON to path.
func (r *Report) WriteJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

func rejections(m map[string]int64) string {
	if len(m) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

func dedup(s []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, x := range s {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}
