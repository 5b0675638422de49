package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/carrierbill/carrierbill/clock"
	"github.com/carrierbill/carrierbill/config"
	"github.com/carrierbill/carrierbill/ops"
	"github.com/carrierbill/carrierbill/reports"
	reportspg "github.com/carrierbill/carrierbill/reports/postgres"
	reportssqlite "github.com/carrierbill/carrierbill/reports/sqlite"
	"github.com/carrierbill/carrierbill/stores"
)

func init() {
	register(command{
		name:    "report",
		summary: "write the operator report of a day or month: report (--date YYYY-MM-DD | --month YYYY-MM) [-out DIR] (CSV + HTML with charts)",
		run:     runReport,
	})
}

// reportClock is the clock of the report command (tests replace it).
var reportClock clock.Clock = clock.Real{}

// reportMaker builds the report maker on open stores.
func reportMaker(c *config.Config, s *stores.Set, clk clock.Clock) *reports.Maker {
	m := &reports.Maker{Ledger: s.Settlement, Location: c.Location(), Merchants: map[string]string{}, Now: clk.Now}
	if s.Pool != nil {
		m.Activity = reportspg.New(s.Pool)
	} else {
		m.Activity = reportssqlite.New(s.Embedded)
	}
	for _, mc := range c.Merchants {
		m.Merchants[mc.Code] = mc.Name
	}
	return m
}

// startReports builds the nightly reports of serve (Run starts them).
func startReports(g *Gateway) error {
	g.reports = &reports.Nightly{Maker: reportMaker(g.Config, g.stores, g.Clock), Leases: g.stores.Settlement,
		Dir: g.Config.ReportsDir(), Clock: g.Clock, Log: g.Log.With("component", "reports"), Observe: g.Metrics.JobRun,
		Risk: g.Store, RiskSchedule: g.Config.Risk.ReportSchedule} // the daily risk report (risk.go)
	return nil
}

// reportService is the reports the console and the admin API list and make
// on demand (the day or month so far included).
func (g *Gateway) reportService() *ops.ReportService {
	if g.reports == nil {
		return nil
	}
	return &ops.ReportService{Dir: g.reports.Dir, Make: func(ctx context.Context, period string) error {
		p, err := reports.ParsePeriod(period, g.Config.Location())
		if err != nil {
			return err
		}
		if g.Refusals != nil {
			g.Refusals.Flush()
		}
		r, err := g.reports.Maker.Make(ctx, p)
		if err != nil {
			return err
		}
		_, _, err = reports.Write(g.reports.Dir, r)
		return err
	}}
}

func runReport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("report", stderr)
	path := fs.String("config", "", "configuration file (YAML)")
	date := fs.String("date", "", "the business day to report, YYYY-MM-DD (in the operator's time zone)")
	month := fs.String("month", "", "the month to report, YYYY-MM")
	out := fs.String("out", "", "where to write report-<period>.csv and .html (default ops.reports_dir: <data_dir>/reports)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	if (*date == "") == (*month == "") {
		return fmt.Errorf("%w: give one of --date YYYY-MM-DD or --month YYYY-MM", errUsage)
	}
	c, err := config.Load(*path)
	if err != nil {
		return err
	}
	period := *date + *month
	p, err := reports.ParsePeriod(period, c.Location())
	if err != nil || (*date != "" && p.Monthly) || (*month != "" && !p.Monthly) {
		return fmt.Errorf("%w: %q is not a %s", errUsage, period, map[bool]string{true: "date YYYY-MM-DD", false: "month YYYY-MM"}[*date != ""])
	}
	o := StoreOptions(c, reportClock, NewZonedLogger(stderr, config.Log{Level: "warn", Format: c.Log.Format}, c.Location()))
	o.Limiter, o.MustExist, o.NoMigrate = false, true, true
	s, err := stores.Open(ctx, o)
	if err != nil {
		return err
	}
	defer s.Close()
	r, err := reportMaker(c, s, reportClock).Make(ctx, p)
	if err != nil {
		return err
	}
	dir := *out
	if dir == "" {
		dir = c.ReportsDir()
	}
	csvPath, htmlPath, err := reports.Write(dir, r)
	if err != nil {
		return err
	}
	if !p.To.Before(reportClock.Now().Add(time.Nanosecond)) {
		fmt.Fprintf(stderr, "note: %s is not over yet in %s: the report covers it so far\n", p.Label, c.Location())
	}
	fmt.Fprintf(stdout, "report %s: %d payments, %s yuan net; %s, %s\n", p.Label, r.Revenue.Payments, r.Revenue.Net(), csvPath, htmlPath)
	return nil
}
