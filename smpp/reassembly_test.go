package smpp

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

// TestReassemblerByteCaps (issue 18.4): memory is capped by bytes per part,
// per source and in total, not only by message count, and expiry gives the
// bytes back.
func TestReassemblerByteCaps(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	lim := ReassemblyLimits{MaxPartBytes: 100, MaxSourceBytes: 10000, MaxTotalBytes: 15000}
	r := NewReassemblerLimits(time.Minute, lim)
	part := bytes.Repeat([]byte{'x'}, 100)
	key := func(from string, ref uint16) PartKey {
		return PartKey{Bind: "b", From: from, To: "1065", Ref: ref, Total: 255}
	}

	if _, _, _, err := r.Put(key("A", 1), Concat{1, 255, 1}, 0, append(part, 'y'), t0); !errors.Is(err, ErrPartTooLarge) {
		t.Fatalf("a 101-byte part: %v, want ErrPartTooLarge", err)
	}
	if r.Bytes() != 0 || r.Pending() != 0 {
		t.Fatalf("a refused part is held: %d bytes, %d messages", r.Bytes(), r.Pending())
	}
	// Source A fills its share; the refusal leaves what it held unchanged.
	var err error
	n := 0
	for seq := 1; seq < 255 && err == nil; seq++ {
		_, _, _, err = r.Put(key("A", 1), Concat{1, 255, seq}, 0, part, t0)
		if err == nil {
			n++
		}
	}
	if !errors.Is(err, ErrSourceFull) || r.Bytes() > lim.MaxSourceBytes || n == 0 {
		t.Fatalf("source A after %d parts: %v, %d bytes held (cap %d)", n, err, r.Bytes(), lim.MaxSourceBytes)
	}
	held := r.Bytes()
	// A redelivered part of the same size costs nothing more.
	if _, _, _, err := r.Put(key("A", 1), Concat{1, 255, 1}, 0, part, t0); err != nil || r.Bytes() != held {
		t.Fatalf("redelivered part: %v, %d bytes (was %d)", err, r.Bytes(), held)
	}
	// Source B may still hold parts, until the total cap.
	err = nil
	for seq := 1; seq < 255 && err == nil; seq++ {
		_, _, _, err = r.Put(key("B", 1), Concat{1, 255, seq}, 0, part, t0)
	}
	if !errors.Is(err, ErrReassemblyFull) || r.Bytes() > lim.MaxTotalBytes {
		t.Fatalf("source B: %v, %d bytes held (total cap %d)", err, r.Bytes(), lim.MaxTotalBytes)
	}
	// A short message from a third source completes once there is room.
	r.Forget(key("B", 1))
	k := PartKey{Bind: "b", From: "C", To: "1065", Ref: 9, Total: 2}
	r.Put(k, Concat{9, 2, 1}, 0, []byte("he"), t0)
	if msg, _, done, err := r.Put(k, Concat{9, 2, 2}, 0, []byte("llo"), t0); err != nil || !done || string(msg) != "hello" {
		t.Fatalf("C: %q %v %v", msg, done, err)
	}
	r.Forget(k)
	// After the part timeout everything is released.
	if n := r.Expire(t0.Add(time.Minute)); n != 1 || r.Bytes() != 0 || r.Pending() != 0 {
		t.Fatalf("expired %d, %d bytes and %d messages left", n, r.Bytes(), r.Pending())
	}
}
