package billing

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// MOBatchStore stores MOs in batches: group commit of MO intake (DESIGN.md
// §6, issue 11). Both stores implement it.
type MOBatchStore interface {
	// InsertMOs durably stores every MO of mos in mo_inbox in ONE
	// transaction and returns their ids, in the order of mos. All or
	// nothing: when it returns an error none of them is stored (a
	// failure, a cancelled context or a crash mid-batch rolls the whole
	// batch back).
	// Text that is not valid UTF-8 or holds a NUL byte is refused (the
	// SMPP layer always decodes to UTF-8; PostgreSQL cannot store NUL).
	InsertMOs(ctx context.Context, mos []InboundMO) ([]int64, error)
}

// IntakeOptions tune an Intake. Zero values take the defaults.
type IntakeOptions struct {
	// MaxBatch bounds how many MOs share one commit (default 256).
	MaxBatch int
	// Flushers is how many batches may be committing at once (default 2):
	// while one commits, the next fills.
	Flushers int
	// Timeout bounds one batch's transaction (default 10s). The batch
	// does not run on any one caller's context: a caller that gives up
	// gets its context's error at once, and its MO may still be stored
	// (it was not acknowledged, so the SMSC redelivers it; duplicates are
	// the engine's to recognize, as for any redelivery).
	Timeout time.Duration
	Logger  *slog.Logger
}

// Intake is the group commit of MO intake: Insert hands an MO to a
// collector that stores the MOs of every bind waiting at that moment in
// one transaction, and returns only once that transaction committed, so a
// caller acknowledges its deliver_sm after its MO is durable, exactly as
// with Store.InsertMO, at a fraction of the commits.
//
// Batches form by themselves: nothing waits for a batch to fill. A flusher
// takes every MO queued when it becomes free (up to MaxBatch); under light
// load a batch holds one MO and costs what InsertMO costs.
//
// When a batch fails, its MOs are stored one by one, so one bad MO fails
// alone and the others are still stored and acknowledged; a batch that
// cannot be stored at all (the database is down) fails every caller, and
// nothing of it is stored.
type Intake struct {
	store MOBatchStore
	opt   IntakeOptions
	log   *slog.Logger
	reqs  chan *intakeReq

	mu     sync.RWMutex
	closed bool
	wg     sync.WaitGroup
}

type intakeReq struct {
	ctx  context.Context
	mo   InboundMO
	done chan intakeResult
}

type intakeResult struct {
	id  int64
	err error
}

// CheckMOText refuses MO text a store cannot keep as it is: not valid
// UTF-8, or holding a NUL byte.
func CheckMOText(mo InboundMO) error {
	for _, f := range []string{mo.Bind, mo.MSISDN, mo.ServiceAddr, mo.Body} {
		if !utf8.ValidString(f) || strings.IndexByte(f, 0) >= 0 {
			return errors.New("billing: MO text is not valid UTF-8 or holds a NUL byte")
		}
	}
	return nil
}

// ErrIntakeClosed is returned by Insert after Close.
var ErrIntakeClosed = errors.New("billing: MO intake is closed")

// NewIntake starts the collector on store; Close stops it.
func NewIntake(store MOBatchStore, o IntakeOptions) *Intake {
	if o.MaxBatch <= 0 {
		o.MaxBatch = 256
	}
	if o.Flushers <= 0 {
		o.Flushers = 2
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	in := &Intake{store: store, opt: o, log: o.Logger, reqs: make(chan *intakeReq, o.MaxBatch*o.Flushers)}
	if in.log == nil {
		in.log = slog.New(slog.DiscardHandler)
	}
	for range o.Flushers {
		in.wg.Add(1)
		go in.flusher()
	}
	return in
}

// Insert stores mo and returns its id once the batch holding it committed.
// An error means it is not known to be stored: answer the SMSC with a
// temporary error so it redelivers.
func (in *Intake) Insert(ctx context.Context, mo InboundMO) (int64, error) {
	r := &intakeReq{ctx: ctx, mo: mo, done: make(chan intakeResult, 1)}
	in.mu.RLock()
	if in.closed {
		in.mu.RUnlock()
		return 0, ErrIntakeClosed
	}
	select {
	case in.reqs <- r:
	case <-ctx.Done():
		in.mu.RUnlock()
		return 0, ctx.Err()
	}
	in.mu.RUnlock()
	select {
	case res := <-r.done:
		return res.id, res.err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// Close stores what was handed in and stops the collector.
func (in *Intake) Close() {
	in.mu.Lock()
	if in.closed {
		in.mu.Unlock()
		return
	}
	in.closed = true
	close(in.reqs)
	in.mu.Unlock()
	in.wg.Wait()
}

func (in *Intake) flusher() {
	defer in.wg.Done()
	batch := make([]*intakeReq, 0, in.opt.MaxBatch)
	for first := range in.reqs {
		batch = append(batch[:0], first)
	fill:
		for len(batch) < in.opt.MaxBatch {
			select {
			case r, ok := <-in.reqs:
				if !ok {
					break fill
				}
				batch = append(batch, r)
			default:
				break fill
			}
		}
		in.flush(batch)
	}
}

// flush stores one batch and answers every caller in it.
func (in *Intake) flush(batch []*intakeReq) {
	live := batch[:0:0]
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil { // the caller gave up: not stored, not acked
			r.done <- intakeResult{err: err}
			continue
		}
		live = append(live, r)
	}
	if len(live) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), in.opt.Timeout)
	defer cancel()
	mos := make([]InboundMO, len(live))
	for i, r := range live {
		mos[i] = r.mo
	}
	ids, err := in.store.InsertMOs(ctx, mos)
	if err == nil && len(ids) != len(live) {
		err = fmt.Errorf("storing %d MOs: the store returned %d ids", len(live), len(ids))
	}
	if err == nil {
		for i, r := range live {
			r.done <- intakeResult{id: ids[i]}
		}
		return
	}
	if len(live) == 1 {
		live[0].done <- intakeResult{err: fmt.Errorf("storing MO: %w", err)}
		return
	}
	// Nothing of the batch was stored: one by one, so a bad MO fails alone.
	in.log.Warn("an MO batch failed; storing its MOs one by one", "mos", len(live), "err", err)
	for _, r := range live {
		ids, err := in.store.InsertMOs(ctx, []InboundMO{r.mo})
		switch {
		case err != nil:
			r.done <- intakeResult{err: fmt.Errorf("storing MO: %w", err)}
		case len(ids) != 1:
			r.done <- intakeResult{err: fmt.Errorf("storing MO: the store returned %d ids", len(ids))}
		default:
			r.done <- intakeResult{id: ids[0]}
		}
	}
}
