package sqlite

import (
	"testing"
	"time"
)

func TestTimesRoundTripAndSort(t *testing.T) {
	t.Parallel()
	shanghai := time.FixedZone("CST", 8*3600)
	times := []time.Time{
		{},
		time.Date(1600, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 11, 20, 23, 59, 59, 999999999, shanghai),
		time.Date(2026, 11, 21, 0, 0, 0, 0, shanghai),
		time.Date(2262, 4, 11, 0, 0, 0, 0, time.UTC),
		time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	for i, tm := range times {
		got := fromTS(ts(tm))
		inRange := !tm.IsZero() && tm.Year() > 1678 && tm.Year() < 2262
		if (tm.IsZero() && !got.IsZero()) || (inRange && !got.Equal(tm)) {
			t.Errorf("round trip of %v gave %v", tm, got)
		}
		if n := fromNullTS(nullTS(tm)); tm.IsZero() != n.IsZero() {
			t.Errorf("nullable round trip of %v gave %v", tm, n)
		}
		if i > 0 && ts(times[i-1]) >= ts(tm) {
			t.Errorf("%v does not sort before %v", times[i-1], tm)
		}
	}
}
