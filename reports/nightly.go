package reports

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/clock"
	"github.com/carrierbill/carrierbill/settlement"
)

// The nightly reports run like settlement's jobs: cron triggers, a lease
// row (settlement.Leases) makes each run happen once across processes, and
// each firing catches up the closed days (the last CatchUpDays) and month
// not reported yet.

// Jobs in the lease table.
const (
	JobDaily   = "report_daily"
	JobMonthly = "report_monthly"
)

// CatchUpDays is how many closed days a firing looks back for a missing
// daily report.
const CatchUpDays = 7

// Nightly writes the reports of closed periods into Dir.
type Nightly struct {
	Maker  *Maker
	Leases settlement.Leases
	Dir    string
	Clock  clock.Clock
	Log    *slog.Logger
	// Observe, when set, is told each run (operations metrics).
	Observe func(job string, took time.Duration, err error)
	// Grace is how long after midnight a day counts as closed (default 30
	// minutes, as settlement's).
	Grace time.Duration
	// Risk, when set, is what the daily risk reports read (JobRiskDaily:
	// risk-<day>.csv and .html in Dir), caught up like the daily reports
	// on RiskSchedule (default: the reports' schedule).
	Risk         billing.RiskStore
	RiskSchedule string

	holder string
	cron   *cron.Cron
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func (n *Nightly) log() *slog.Logger {
	if n.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return n.Log
}

// Run writes the report of p once across processes: false when it is done
// already or another process holds it.
func (n *Nightly) Run(ctx context.Context, job string, p Period) (bool, error) {
	return n.run(ctx, job, p, func() error {
		r, err := n.Maker.Make(ctx, p)
		if err == nil {
			_, _, err = Write(n.Dir, r)
		}
		return err
	})
}

// RunRisk writes the risk report of day p once across processes, as Run.
func (n *Nightly) RunRisk(ctx context.Context, p Period) (bool, error) {
	return n.run(ctx, JobRiskDaily, p, func() error {
		r, err := MakeRisk(ctx, n.Risk, p, n.Clock.Now())
		if err == nil {
			_, _, err = WriteRisk(n.Dir, r)
		}
		return err
	})
}

// run makes and writes (write) the report job of p under its lease.
func (n *Nightly) run(ctx context.Context, job string, p Period, write func() error) (bool, error) {
	if n.holder == "" {
		host, _ := os.Hostname()
		n.holder = host + "-" + strconv.Itoa(os.Getpid()) + "-reports"
	}
	now := n.Clock.Now()
	switch err := n.Leases.Claim(ctx, job, p.Label, n.holder, now, now.Add(30*time.Minute)); {
	case errors.Is(err, settlement.ErrDone), errors.Is(err, settlement.ErrHeld):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("claiming %s %s: %w", job, p.Label, err)
	}
	start := time.Now() // a duration for operations, not a business time
	err := write()
	if n.Observe != nil {
		n.Observe(job, time.Since(start), err)
	}
	if err != nil {
		return true, fmt.Errorf("report %s: %w", p.Label, err)
	}
	if err := n.Leases.Finish(ctx, job, p.Label, n.holder, n.Clock.Now()); err != nil {
		return true, fmt.Errorf("finishing %s %s: %w", job, p.Label, err)
	}
	n.log().Info("operator report written", "job", job, "period", p.Label, "dir", n.Dir)
	return true, nil
}

// today is the first day not closed yet, in the reports' zone.
func (n *Nightly) today() time.Time {
	loc := n.Maker.Location
	grace := n.Grace
	if grace <= 0 {
		grace = 30 * time.Minute
	}
	closed := n.Clock.Now().Add(-grace).In(loc)
	return time.Date(closed.Year(), closed.Month(), closed.Day(), 0, 0, 0, 0, loc)
}

// CatchUpRisk writes every missing risk report of the last CatchUpDays
// closed days, oldest first.
func (n *Nightly) CatchUpRisk(ctx context.Context) error {
	if n.Risk == nil {
		return nil
	}
	today := n.today()
	var errs []error
	for d := CatchUpDays; d >= 1; d-- {
		p, _ := ParsePeriod(today.AddDate(0, 0, -d).Format("2006-01-02"), n.Maker.Location)
		if _, err := n.RunRisk(ctx, p); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// CatchUp writes every missing report of the last CatchUpDays closed days
// and of the last closed month, oldest first.
func (n *Nightly) CatchUp(ctx context.Context) error {
	loc := n.Maker.Location
	today := n.today()
	var errs []error
	for d := CatchUpDays; d >= 1; d-- {
		day := today.AddDate(0, 0, -d)
		p, _ := ParsePeriod(day.Format("2006-01-02"), loc)
		if _, err := n.Run(ctx, JobDaily, p); err != nil {
			errs = append(errs, err)
		}
	}
	month := time.Date(today.Year(), today.Month(), 1, 0, 0, 0, 0, loc).AddDate(0, -1, 0)
	p, _ := ParsePeriod(month.Format("2006-01"), loc)
	if _, err := n.Run(ctx, JobMonthly, p); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Start runs CatchUp now (in the background) and on schedule (a cron spec
// in the Maker's zone) until Stop.
func (n *Nightly) Start(schedule string) error {
	n.ctx, n.cancel = context.WithCancel(context.Background())
	n.cron = cron.New(cron.WithLocation(n.Maker.Location), cron.WithChain(cron.SkipIfStillRunning(cron.DiscardLogger), cron.Recover(cron.DiscardLogger)))
	if _, err := n.cron.AddFunc(schedule, n.fire); err != nil {
		return fmt.Errorf("report schedule %q: %w", schedule, err)
	}
	if n.Risk != nil {
		rs := n.RiskSchedule
		if rs == "" {
			rs = schedule
		}
		if _, err := n.cron.AddFunc(rs, n.fireRisk); err != nil {
			return fmt.Errorf("risk report schedule %q: %w", rs, err)
		}
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		n.fire()
		n.fireRisk()
	}()
	n.cron.Start()
	return nil
}

func (n *Nightly) fire() {
	if err := n.CatchUp(n.ctx); err != nil && n.ctx.Err() == nil {
		n.log().Error("operator reports failed", "err", err)
	}
}

func (n *Nightly) fireRisk() {
	if err := n.CatchUpRisk(n.ctx); err != nil && n.ctx.Err() == nil {
		n.log().Error("risk reports failed", "err", err)
	}
}

// Stop stops the schedule and waits for a running catch-up.
func (n *Nightly) Stop() {
	if n.cron == nil {
		return
	}
	<-n.cron.Stop().Done()
	n.cancel()
	n.wg.Wait()
}
