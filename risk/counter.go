package risk

import (
	"context"
	"fmt"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// Slot widths of the counters Learn feeds, whatever the rules' windows:
// the rules read as many slots as their window needs.
const (
	outcomeSlot = 10 * time.Minute // merchants' outcomes, recent (failure_rate, refund_rate)
	daySlot     = 24 * time.Hour   // merchants' outcomes, usual
	drainSlot   = time.Minute      // numbers' prepaid spend (prepaid_drain)
	hourSlot    = time.Hour        // merchants' spend (merchant_spend), wrong codes per day
)

// window is a sliding window of slots counters of one name: a slot is a
// Redis key per subject and slot index, the index is the time divided by
// the slot's width (from the check's clock, never Redis's).
type window struct {
	name  string
	width time.Duration
	slots int
}

// slotted returns the window of length d cut into n slots.
func slotted(name string, d time.Duration, n int) window {
	return window{name: name, width: d / time.Duration(n), slots: n}
}

func (w window) index(at time.Time) int64 { return at.UnixNano() / int64(w.width) }

// ttl is how long a slot is kept: twice the window and an hour. Only
// cleanup: correctness never depends on a key expiring (replay's clock is
// not Redis's).
func (w window) ttl() time.Duration { return 2*w.width*time.Duration(w.slots) + time.Hour }

// key is the Redis key of subject's slot idx: the braces keep a subject's
// slots in one Redis Cluster hash slot.
func (r *Risk) key(w window, subject string, idx int64) string {
	return r.prefix + "{" + w.name + ":" + subject + "}:" + strconv.FormatInt(idx, 10)
}

// keys are the slot keys of the window ending at at, oldest first.
func (r *Risk) keys(w window, subject string, at time.Time) []string {
	last := w.index(at)
	ks := make([]string, w.slots)
	for i := range ks {
		ks[i] = r.key(w, subject, last-int64(w.slots-1-i))
	}
	return ks
}

// add queues counting n for subject at at; the command answers the
// current slot's count, this n included.
func (r *Risk) add(ctx context.Context, p goredis.Pipeliner, w window, subject string, at time.Time, n int64) *goredis.IntCmd {
	k := r.key(w, subject, w.index(at))
	cmd := p.IncrBy(ctx, k, n)
	p.Expire(ctx, k, w.ttl())
	return cmd
}

// counted is a count taken with add: the current slot's answer plus the
// earlier slots of the window. Each of any number of concurrent adds gets
// its own count (INCRBY is atomic and the earlier slots are closed), so a
// limit on it holds exactly under concurrency.
type counted struct {
	now     *goredis.IntCmd
	earlier *goredis.SliceCmd
}

// count queues adding n for subject at at and reading the window's count.
func (r *Risk) count(ctx context.Context, p goredis.Pipeliner, w window, subject string, at time.Time, n int64) counted {
	ks := r.keys(w, subject, at)
	return counted{now: r.add(ctx, p, w, subject, at, n), earlier: p.MGet(ctx, ks[:len(ks)-1]...)}
}

func (c counted) total() (int64, error) {
	now, err := c.now.Result()
	if err != nil {
		return 0, err
	}
	earlier, err := total(c.earlier)
	return now + earlier, err
}

// sum queues reading subject's window ending at at; total reads the answer.
func (r *Risk) sum(ctx context.Context, p goredis.Pipeliner, w window, subject string, at time.Time) *goredis.SliceCmd {
	return p.MGet(ctx, r.keys(w, subject, at)...)
}

// distinct queues adding member to subject's current slot of a HyperLogLog
// window and counting the distinct members of the whole window.
func (r *Risk) distinct(ctx context.Context, p goredis.Pipeliner, w window, subject, member string, at time.Time) *goredis.IntCmd {
	k := r.key(w, subject, w.index(at))
	p.PFAdd(ctx, k, member)
	p.Expire(ctx, k, w.ttl())
	return p.PFCount(ctx, r.keys(w, subject, at)...)
}

// total adds up an MGET of counters (a missing slot is 0). A value that is
// not a count (a corrupted key) is an error: fail closed.
func total(cmd *goredis.SliceCmd) (int64, error) {
	counts, _, err := each(cmd)
	var n int64
	for _, c := range counts {
		n += c
	}
	return n, err
}

// each returns the counts of an MGET, slot by slot (missing: 0, present
// reports whether the slot existed).
func each(cmd *goredis.SliceCmd) (counts []int64, present []bool, err error) {
	vals, err := cmd.Result()
	if err != nil {
		return nil, nil, err
	}
	counts, present = make([]int64, len(vals)), make([]bool, len(vals))
	for i, v := range vals {
		if v == nil {
			continue
		}
		s, ok := v.(string)
		if !ok {
			return nil, nil, fmt.Errorf("counter reply %T, want a string", v)
		}
		if counts[i], err = strconv.ParseInt(s, 10, 64); err != nil {
			return nil, nil, fmt.Errorf("counter %q is not a count", s)
		}
		present[i] = true
	}
	return counts, present, nil
}
