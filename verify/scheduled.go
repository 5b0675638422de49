package verify

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/carrierbill/carrierbill/clock"
	"github.com/carrierbill/carrierbill/redact"
)

// Status is the outcome of the latest scheduled run, for a log line and a
// metric (the operations side reads it through Scheduler.Last).
type Status struct {
	Runs       int       // runs finished since the start
	At         time.Time // when the latest run started; zero before the first
	Seconds    float64   // how long it took
	Violations int       // violations it found (each check reports at most 100)
	Failed     []string  // the checks that found some
	Err        error     // the run could not finish (the store did not answer)
}

// Clean reports whether the latest run finished and found nothing.
func (s Status) Clean() bool { return s.Runs > 0 && s.Err == nil && s.Violations == 0 }

// Scheduler runs the checks every interval (serve's verify.every) and
// keeps the latest Status.
type Scheduler struct {
	DB      DB
	Dialect Dialect
	// Options returns the options of one run at now (Now, the bounds).
	Options func(now time.Time) Options
	Clock   clock.Clock
	Logger  *slog.Logger

	mu   sync.Mutex
	last Status
}

// Last returns the latest run's status (zero Runs before the first).
func (s *Scheduler) Last() Status {
	if s == nil {
		return Status{}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

// RunOnce runs the checks now, logs the result and records it.
func (s *Scheduler) RunOnce(ctx context.Context) Status {
	now := s.Clock.Now()
	rep, err := Run(ctx, s.DB, s.Dialect, s.Options(now))
	st := Status{At: now, Seconds: rep.Seconds, Err: err}
	for _, r := range rep.Results {
		if len(r.Violations) > 0 {
			st.Violations += len(r.Violations)
			st.Failed = append(st.Failed, r.Check)
		}
	}
	s.mu.Lock()
	st.Runs = s.last.Runs + 1
	s.last = st
	s.mu.Unlock()
	switch {
	case err != nil:
		s.Logger.Error("verify: the checks could not run", "err", err)
	case st.Violations > 0:
		for _, v := range rep.Violations() {
			v = v.Masked()
			s.Logger.Error("verify: invariant violated", "check", v.Check, "subject", v.Subject, "detail", v.Detail)
		}
		s.Logger.Error("verify: invariants violated", "violations", st.Violations, "checks", strings.Join(st.Failed, ","), "seconds", st.Seconds)
	default:
		s.Logger.Info("verify: every invariant holds", "checks", len(rep.Results), "seconds", st.Seconds)
	}
	return st
}

// Run runs the checks every interval until ctx ends.
func (s *Scheduler) Run(ctx context.Context, every time.Duration) error {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			s.RunOnce(ctx)
		}
	}
}

// Masked returns v with every phone number (a "+" and digits, the
// canonical form the store keeps) masked as redact.Phone does.
func (v Violation) Masked() Violation {
	v.Subject, v.Detail = maskPhones(v.Subject), maskPhones(v.Detail)
	return v
}

func maskPhones(s string) string {
	if !strings.Contains(s, "+") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		if s[i] == '+' {
			j := i + 1
			for j < len(s) && s[j] >= '0' && s[j] <= '9' {
				j++
			}
			if j-i > 7 {
				b.WriteString(redact.Phone(s[i:j]))
				i = j
				continue
			}
		}
		b.WriteByte(s[i])
		i++
	}
	return b.String()
}
