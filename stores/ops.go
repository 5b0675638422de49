package stores

import (
	"context"
	"errors"
	"fmt"
	"time"
)

var timeZero time.Time

// Ping checks that the database answers: PostgreSQL's pool, or a read of
// the embedded store (the readiness check of operations).
func (s *Set) Ping(ctx context.Context) error {
	switch {
	case s.Pool != nil:
		if err := s.Pool.Ping(ctx); err != nil {
			return fmt.Errorf("pinging PostgreSQL: %w", err)
		}
		return nil
	case s.Backlog != nil:
		_, err := s.Backlog.Backlog(ctx, timeZero)
		return err
	}
	return errors.New("no store open")
}

// PingLimiter checks that the frequency-rule store (Redis) answers.
func (s *Set) PingLimiter(ctx context.Context) error {
	p, ok := s.Limiter.(interface{ Ping(context.Context) error })
	if !ok {
		return errors.New("no frequency-rule store open")
	}
	return p.Ping(ctx)
}
