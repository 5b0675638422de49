package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/carrierbill/carrierbill/clock"
	"github.com/carrierbill/carrierbill/config"
	"github.com/carrierbill/carrierbill/stores"
	"github.com/carrierbill/carrierbill/verify"
)

func init() {
	register(command{
		name:    "verify",
		summary: "check the store's invariants (ledger, charges, receipts, quota, limits, MOs, statements): verify [-json] (exit 3: violations)",
		run:     runVerify,
	})
}

func runVerify(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("verify", stderr)
	path := fs.String("config", os.Getenv("CARRIERBILL_CONFIG"), "configuration file (YAML): store, time zone, limits, statements directory; env CARRIERBILL_CONFIG")
	dbURL := fs.String("database-url", "", "PostgreSQL URL (default: $DATABASE_URL, then the configuration; none: the embedded store under data_dir)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	list := fs.Bool("list", false, "list the checks and exit")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments %v", errUsage, fs.Args())
	}
	if *list {
		for _, c := range verify.Checks() {
			fmt.Fprintf(stdout, "%-22s %s\n", c.Name, c.Doc)
		}
		fmt.Fprintf(stdout, "%-22s %s\n", "statements", verify.StatementsDoc)
		return nil
	}
	c, err := config.Load(*path)
	if err != nil {
		return err
	}
	log := NewZonedLogger(stderr, config.Log{Level: "warn"}, c.Location())
	o := StoreOptions(c, clock.Real{}, log)
	// verify reads what serve wrote: never a new, empty embedded store,
	// never a migration.
	o.MustExist, o.NoMigrate, o.Limiter = true, true, false
	if *dbURL != "" {
		o.DatabaseURL = *dbURL
	}
	set, err := stores.Open(ctx, o)
	if errors.Is(err, stores.ErrNoStore) {
		return fmt.Errorf("%w: no database: pass --database-url, set DATABASE_URL, or run where %s exists", errUsage, filepath.Join(c.DataDir, stores.EmbeddedFile))
	}
	if err != nil {
		return err
	}
	defer set.Close()
	db, dialect := verifyDB(set)
	rep, err := verify.Run(ctx, db, dialect, verifyOptions(c, set, time.Now()))
	if err != nil {
		return err
	}
	for i := range rep.Results {
		for j := range rep.Results[i].Violations {
			rep.Results[i].Violations[j] = rep.Results[i].Violations[j].Masked()
		}
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		printVerify(stdout, set.Description, rep)
	}
	if n := len(rep.Violations()); n > 0 {
		return &findings{code: exitDiscrepancy, msg: fmt.Sprintf("%d invariant violations; exit code %d", n, exitDiscrepancy)}
	}
	return nil
}

// printVerify writes one line per check, then each violation under its
// check.
func printVerify(w io.Writer, store string, rep verify.Report) {
	fmt.Fprintf(w, "verify: %s, %d checks in %.1fs\n", store, len(rep.Results), rep.Seconds)
	for _, r := range rep.Results {
		if len(r.Violations) == 0 {
			fmt.Fprintf(w, "ok    %-22s %5.1fs  %s\n", r.Check, r.Seconds, r.Doc)
			continue
		}
		more := ""
		if len(r.Violations) >= 100 {
			more = " (the first 100)"
		}
		fmt.Fprintf(w, "FAIL  %-22s %5.1fs  %d violations%s: %s\n", r.Check, r.Seconds, len(r.Violations), more, r.Doc)
		for _, v := range r.Violations {
			fmt.Fprintf(w, "      %s: %s\n", v.Subject, v.Detail)
		}
	}
}

// verifyDB is the open store as the checks query it.
func verifyDB(set *stores.Set) (verify.DB, verify.Dialect) {
	if set.Pool != nil {
		return verify.Pgx(set.Pool), verify.Postgres
	}
	return verify.SQL(set.Embedded.Reader()), verify.SQLite
}

// verifyOptions are the checks' options from the configuration: the time
// zone, the limits, the bounds, the statements written so far.
func verifyOptions(c *config.Config, set *stores.Set, now time.Time) verify.Options {
	o := verify.Options{
		Location: c.Location(), Now: now,
		PendingFor: c.Verify.PendingAge.D(), MOFor: c.Verify.MOAge.D(),
		BuiltinCharge: !c.OCS.Enabled, // with the OCS charging, the phone money is not in account_debits
		Limits:        map[string]verify.Limits{},
		Statements:    set.Settlement, StatementsDir: c.StatementsDir(),
	}
	for m, l := range c.Limits {
		o.Limits[m] = verify.Limits{PerPayment: int64(l.PerPayment.Money), Daily: int64(l.Daily.Money), Monthly: int64(l.Monthly.Money)}
	}
	return o
}

// newVerifyScheduler is serve's scheduled verify (verify.every), nil when
// off. Each run logs its result; g.Verify.Last keeps it for the metrics.
func newVerifyScheduler(g *Gateway) *verify.Scheduler {
	if g.Config.Verify.Every <= 0 || g.stores == nil {
		return nil
	}
	db, dialect := verifyDB(g.stores)
	set := g.stores
	return &verify.Scheduler{DB: db, Dialect: dialect, Clock: g.Clock, Logger: g.Log.With("component", "verify"),
		Options: func(now time.Time) verify.Options { return verifyOptions(g.Config, set, now) }}
}
