package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/carrierbill/carrierbill/settlement"
)

func init() {
	register(command{
		name:    "audit",
		summary: "check a month against the operator's billing file: audit --month 2026-11 --carrier-file FILE (exit 3: discrepancies)",
		run:     runAudit,
	})
}

func runAudit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("audit", stderr)
	month := fs.String("month", "", "business month to audit, YYYY-MM")
	file := fs.String("carrier-file", "", "the operator's billing records: CSV phone,charge_ref,amount,time")
	out := fs.String("out", "", "report file (default: <statements dir>/audit/audit-<month>.csv)")
	sf := addSettleFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *month == "" || *file == "" {
		return fmt.Errorf("%w: --month YYYY-MM and --carrier-file FILE are required", errUsage)
	}
	if _, err := time.Parse("2006-01", *month); err != nil {
		return fmt.Errorf("%w: --month %q is not YYYY-MM", errUsage, *month)
	}
	env, err := sf.open(ctx, stderr)
	if err != nil {
		return err
	}
	defer env.Close()
	f, err := os.Open(*file)
	if err != nil {
		return fmt.Errorf("opening the carrier file: %w", err)
	}
	recs, err := settlement.ParseCarrierFile(f, env.loc)
	f.Close()
	if err != nil {
		return fmt.Errorf("%s: %w", *file, err)
	}
	rep, err := settlement.Audit(ctx, env.store, env.loc, *month, recs)
	if err != nil {
		return err
	}
	path := *out
	if path == "" {
		path = filepath.Join(env.cfg.StatementsDir(), "audit", "audit-"+*month+".csv")
	}
	if err := rep.WriteFile(path); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "audit %s: %d our charges (%s), %d carrier records (%s), %d matched\n",
		rep.Month, rep.OurCharges, rep.OurTotal, rep.TheirRecords, rep.TheirTotal, rep.Matched)
	for _, k := range []string{settlement.OursNotTheirs, settlement.TheirsNotOurs, settlement.AmountDiffers, settlement.Duplicated} {
		fmt.Fprintf(stdout, "  %-16s %d (%s)\n", k, rep.CountsByKind[k], rep.AmountsByKind[k])
	}
	fmt.Fprintf(stdout, "report: %s\n", path)
	if n := discrepancies(rep); n > 0 {
		return &findings{code: exitDiscrepancy, msg: fmt.Sprintf("audit %s: %d discrepancies (see %s); exit code %d", rep.Month, n, path, exitDiscrepancy)}
	}
	return nil
}

// discrepancies counts the report's lines of every kind that is not a match.
func discrepancies(rep *settlement.AuditReport) int64 {
	var n int64
	for _, k := range []string{settlement.OursNotTheirs, settlement.TheirsNotOurs, settlement.AmountDiffers, settlement.Duplicated} {
		n += rep.CountsByKind[k]
	}
	return n
}
