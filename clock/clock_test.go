package clock

import (
	"testing"
	"time"
)

func TestFakeMovesOnlyWhenTold(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 11, 21, 23, 59, 59, 0, time.FixedZone("CST", 8*3600))
	f := NewFake(start)
	if !f.Now().Equal(start) {
		t.Fatalf("Now = %v, want %v", f.Now(), start)
	}
	if got := f.Advance(time.Second); !got.Equal(start.Add(time.Second)) {
		t.Fatalf("Advance = %v", got)
	}
	f.Set(start)
	if !f.Now().Equal(start) {
		t.Fatalf("after Set, Now = %v", f.Now())
	}
}
