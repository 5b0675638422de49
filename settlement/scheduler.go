package settlement

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/robfig/cron/v3"

	"github.com/carrierbill/carrierbill/clock"
)

// Schedules are cron specs (minute hour day-of-month month day-of-week) in
// the operator's zone. Empty fields take the defaults.
type Schedules struct {
	Statements   string // default "0 2 * * *": statements for the previous day
	DailyBills   string // default "30 2 * * *": bills for the previous day
	MonthlyBills string // default "0 3 1 * *": bills for the previous month
}

func (s Schedules) withDefaults() Schedules {
	if s.Statements == "" {
		s.Statements = "0 2 * * *"
	}
	if s.DailyBills == "" {
		s.DailyBills = "30 2 * * *"
	}
	if s.MonthlyBills == "" {
		s.MonthlyBills = "0 3 1 * *"
	}
	return s
}

// Scheduler triggers the Runner's jobs from cron. Cron is only the trigger:
// each firing catches up its job (every closed, not yet done run, oldest
// first), and the lease makes each run happen once across processes.
type Scheduler struct {
	runner *Runner
	clk    clock.Clock
	log    *slog.Logger
	cron   *cron.Cron

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// NewScheduler returns a Scheduler for runner on the given schedules, in the
// runner's zone. It validates the schedules; nothing runs before Start.
func NewScheduler(runner *Runner, sched Schedules, clk clock.Clock, log *slog.Logger) (*Scheduler, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	sched = sched.withDefaults()
	cl := cronLogger{log}
	c := cron.New(
		cron.WithLocation(runner.Location()),
		// v3.0.1: SkipIfStillRunning must come before Recover, or one panic
		// leaves the job's "running" token taken and it is skipped forever.
		cron.WithChain(cron.SkipIfStillRunning(cl), cron.Recover(cl)),
		cron.WithLogger(cl),
	)
	ctx, cancel := context.WithCancel(context.Background())
	s := &Scheduler{runner: runner, clk: clk, log: log, cron: c, ctx: ctx, cancel: cancel}
	for _, j := range []struct{ spec, job string }{
		{sched.Statements, JobStatements},
		{sched.DailyBills, JobDailyBills},
		{sched.MonthlyBills, JobMonthlyBills},
	} {
		job := j.job
		if _, err := c.AddFunc(j.spec, func() { s.catchUp(job) }); err != nil {
			cancel()
			return nil, fmt.Errorf("settlement schedule %q for %s: %w", j.spec, job, err)
		}
	}
	return s, nil
}

func (s *Scheduler) catchUp(job string) {
	if err := s.runner.CatchUpJob(s.ctx, job, s.clk.Now()); err != nil && s.ctx.Err() == nil {
		s.log.Error("settlement job failed", "job", job, "err", err)
	}
}

// Start starts cron and, in the background, one catch-up of every job (runs
// missed while no process was up).
func (s *Scheduler) Start() {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for _, job := range []string{JobStatements, JobDailyBills, JobMonthlyBills} {
			if s.ctx.Err() != nil {
				return
			}
			s.catchUp(job)
		}
	}()
	s.cron.Start()
}

// Stop stops triggering, cancels running jobs (their leases expire and
// another process takes them over) and waits for them to return or for ctx
// to end.
func (s *Scheduler) Stop(ctx context.Context) error {
	cronDone := s.cron.Stop()
	s.cancel()
	waited := make(chan struct{})
	go func() {
		s.wg.Wait()
		<-cronDone.Done()
		close(waited)
	}()
	select {
	case <-waited:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("stopping the settlement scheduler: %w", ctx.Err())
	}
}

// cronLogger adapts slog to cron.Logger.
type cronLogger struct{ log *slog.Logger }

func (l cronLogger) Info(msg string, kv ...any) { l.log.Debug("cron: "+msg, kv...) }
func (l cronLogger) Error(err error, msg string, kv ...any) {
	l.log.Error("cron: "+msg, append(kv, "err", err)...)
}
