package billing

import (
	"testing"
	"time"

	"github.com/carrierbill/carrierbill/clock"
)

// TestHoldsSweptOnceAMinute: Sweep runs every few seconds, the hold expiry
// (which reads every held order) at most once a minute of the engine's
// clock.
func TestHoldsSweptOnceAMinute(t *testing.T) {
	c := clock.NewFake(time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC))
	e := &Engine{clock: c}
	var got []bool
	for _, step := range []time.Duration{0, 5 * time.Second, 54 * time.Second, time.Second, 59 * time.Second, time.Second} {
		c.Advance(step)
		got = append(got, e.holdsDue())
	}
	want := []bool{true, false, false, true, false, true}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("due at each step: %v, want %v", got, want)
		}
	}
}
