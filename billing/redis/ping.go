package redis

import (
	"context"
	"fmt"
)

// Ping asks Redis for PONG, bounded by ctx (the readiness check of
// operations, issue 16, gives it its own deadline rather than the
// payments' short one). It counts nothing.
func (l *Limiter) Ping(ctx context.Context) error {
	if err := l.client.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("pinging Redis: %w", err)
	}
	return nil
}

// Ping is the in-process Redis's readiness check.
func (e *Embedded) Ping(ctx context.Context) error { return e.lim.Ping(ctx) }
