package billing

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/carrierbill/carrierbill/redact"
)

// The code guard (DESIGN.md §4.7): wrong confirmation codes are counted
// per phone number, across all of its orders, in the current clock hour,
// calendar day and calendar month of the operator's zone. A number that
// reaches a cap compares no code at all until that period ends (the
// lock-out), so a blind guesser learns nothing while locked. A wrong code
// counts once for every pending order it was compared with, so opening
// several orders buys an attacker nothing; pending orders per number are
// capped too (Config.MaxPendingOrders).
//
// The bound this gives (OddsPerDay) is the best attacker's chance of
// confirming a code it never saw, per day over a long run: at most
// WrongCodesPerMonth-1+MaxPendingOrders comparisons per month, each a one
// in a million chance.

// CodeGuard is a number's wrong-code counters (the code_guard row).
type CodeGuard struct {
	MSISDN     string
	Hour       string // "2006-01-02T15" in the operator's zone
	HourCount  int
	Day        string // "2006-01-02"
	DayCount   int
	Month      string // "2006-01-01"
	MonthCount int
}

// lockGuard locks the number's guard row (a number without one has zero
// counters) and rolls stale periods over.
func (e *Engine) lockGuard(ctx context.Context, tx Tx, msisdn string, now time.Time) (CodeGuard, error) {
	g, err := tx.LockCodeGuard(ctx, msisdn)
	if err != nil {
		return CodeGuard{}, fmt.Errorf("locking the code guard: %w", err)
	}
	hour := now.In(e.cfg.Location).Format("2006-01-02T15")
	day, month := e.periods(now)
	if g.Month != month {
		g.Month, g.MonthCount = month, 0
	}
	if g.Day != day {
		g.Day, g.DayCount = day, 0
	}
	if g.Hour != hour {
		g.Hour, g.HourCount = hour, 0
	}
	return g, nil
}

// guardLocked returns how long the number stays locked out (0: it isn't).
func (e *Engine) guardLocked(g CodeGuard, now time.Time) time.Duration {
	l := now.In(e.cfg.Location)
	var until time.Time
	switch {
	case e.cfg.WrongCodesPerMonth > 0 && g.MonthCount >= e.cfg.WrongCodesPerMonth:
		until = time.Date(l.Year(), l.Month()+1, 1, 0, 0, 0, 0, e.cfg.Location)
	case e.cfg.WrongCodesPerDay > 0 && g.DayCount >= e.cfg.WrongCodesPerDay:
		until = time.Date(l.Year(), l.Month(), l.Day()+1, 0, 0, 0, 0, e.cfg.Location)
	case e.cfg.WrongCodesPerHour > 0 && g.HourCount >= e.cfg.WrongCodesPerHour:
		until = l.Truncate(time.Hour).Add(time.Hour)
	default:
		return 0
	}
	return until.Sub(now)
}

// countWrongCode adds a wrong code compared with n pending codes.
func (e *Engine) countWrongCode(ctx context.Context, tx Tx, g *CodeGuard, n int, now time.Time) error {
	w := max(n, 1)
	g.HourCount += w
	g.DayCount += w
	g.MonthCount += w
	if err := tx.SaveCodeGuard(ctx, *g); err != nil {
		return fmt.Errorf("counting a wrong code: %w", err)
	}
	if e.guardLocked(*g, now) > 0 {
		e.log.Info("wrong confirmation codes: number locked out", "msisdn", redact.Phone(g.MSISDN), "hour", g.HourCount, "day", g.DayCount, "month", g.MonthCount)
	}
	return nil
}

// OddsPerDay is the best blind guesser's chance per day, over a long run,
// of confirming a code it never saw, under c: the most code comparisons a
// number can make in a month (the cap, plus the pending orders a last
// guess may be compared with), in the shortest month, against 10^6 codes.
// With no monthly cap it is the daily bound.
func (c Config) OddsPerDay() float64 {
	pending := max(c.MaxPendingOrders, 1)
	if c.MaxPendingOrders == 0 {
		pending = math.MaxInt32 // uncapped: a guess may meet any number of orders
	}
	perMonth := c.WrongCodesPerMonth
	if perMonth <= 0 {
		perDay := c.WrongCodesPerDay
		if perDay <= 0 {
			return 1
		}
		return float64(perDay-1+pending) / 1e6
	}
	return float64(perMonth-1+pending) / 28 / 1e6
}
