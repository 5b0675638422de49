// Package subscriptions runs the renewal job of monthly subscriptions: a
// cron trigger (in the operator's zone) that calls billing.Engine.Renew,
// once when it starts (catching up renewals missed while the gateway was
// down) and at every firing after.
//
// The rules (renewal day, limits, retries, lapse, reminders) live in
// package billing (billing/subscription.go); this package only decides
// when to run them. It needs no lease of its own: a renewal is keyed per
// subscription, period and attempt, so two gateways running the job at
// once, or a run cut short by a crash, never charge a subscription twice
// for one period. It must never charge anything itself.
package subscriptions

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/carrierbill/carrierbill/billing"
)

// Renewer is what the job runs (billing.Engine).
type Renewer interface {
	Renew(ctx context.Context) (billing.RenewalReport, error)
}

// Scheduler triggers renewals on a cron spec.
type Scheduler struct {
	r    Renewer
	log  *slog.Logger
	cron *cron.Cron

	mu     sync.Mutex // one pass at a time
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// NewScheduler validates spec (minute hour day-of-month month day-of-week,
// in loc) and returns a Scheduler; nothing runs before Start.
func NewScheduler(r Renewer, spec string, loc *time.Location, log *slog.Logger) (*Scheduler, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := cron.New(cron.WithLocation(loc))
	ctx, cancel := context.WithCancel(context.Background())
	s := &Scheduler{r: r, log: log, cron: c, ctx: ctx, cancel: cancel}
	if _, err := c.AddFunc(spec, s.fire); err != nil {
		cancel()
		return nil, fmt.Errorf("subscriptions.schedule %q: %w", spec, err)
	}
	return s, nil
}

// Start runs one catch-up pass in the background and starts the cron.
func (s *Scheduler) Start() {
	s.fire()
	s.cron.Start()
}

// fire runs one pass in the background unless one is running.
func (s *Scheduler) fire() {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if !s.mu.TryLock() {
			s.log.Info("renewal pass still running; this firing is skipped")
			return
		}
		defer s.mu.Unlock()
		s.RunOnce(s.ctx)
	}()
}

// RunOnce runs one renewal pass now and logs what it did.
func (s *Scheduler) RunOnce(ctx context.Context) billing.RenewalReport {
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("renewal pass panicked", "panic", fmt.Sprint(p))
		}
	}()
	rep, err := s.r.Renew(ctx)
	if err != nil && ctx.Err() == nil {
		s.log.Error("renewal pass failed; the next firing retries", "err", err)
	}
	if !rep.Empty() {
		s.log.Info("renewal pass", "renewed", rep.Renewed, "failed", rep.Failed, "lapsed", rep.Lapsed,
			"pending", rep.Pending, "deferred", rep.Deferred, "reminded", rep.Reminded)
	}
	return rep
}

// Stop stops the cron and waits (until ctx ends) for a running pass.
func (s *Scheduler) Stop(ctx context.Context) error {
	<-s.cron.Stop().Done()
	s.cancel()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
