package ops

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/carrierbill/carrierbill/billing"
)

// RecordRefusals is a billing.Observer that keeps every refusal the
// engine answers in the store's refusal log (the reports' rejections by
// reason and limit hits), in batches off the engine's path: Request only
// queues. A refusal is a count, never money: when the queue is full, or
// the process dies before a flush, a count is lost and nothing else.
type RecordRefusals struct {
	billing.NoObserver
	log   billing.RefusalLog
	now   func() time.Time
	lg    *slog.Logger
	queue chan billing.Refusal
	quit  chan struct{}
	done  chan struct{}
	once  sync.Once
	// Every is how often the queue is written (default 500ms).
	every time.Duration
}

// NewRefusalRecorder starts the writer; Close flushes and stops it.
func NewRefusalRecorder(l billing.RefusalLog, now func() time.Time, lg *slog.Logger) *RecordRefusals {
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	r := &RecordRefusals{log: l, now: now, lg: lg, queue: make(chan billing.Refusal, 4096),
		quit: make(chan struct{}), done: make(chan struct{}), every: 500 * time.Millisecond}
	go r.run()
	return r
}

// Request implements billing.Observer: a refusal is queued.
func (r *RecordRefusals) Request(kind billing.RequestKind, res billing.Result, err error) {
	if err != nil || res.Outcome != billing.OutcomeRejected || res.Reason == "" {
		return
	}
	rf := billing.Refusal{At: r.now(), Request: kind, Reason: res.Reason}
	if res.Order != nil {
		rf.Merchant = res.Order.Merchant
	}
	select {
	case r.queue <- rf:
	default:
		r.lg.Warn("refusal log queue full: a refusal is not counted in the reports")
	}
}

func (r *RecordRefusals) run() {
	defer close(r.done)
	t := time.NewTicker(r.every)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			r.flush()
		case <-r.quit:
			r.flush()
			return
		}
	}
}

func (r *RecordRefusals) flush() {
	var batch []billing.Refusal
	for {
		select {
		case rf := <-r.queue:
			batch = append(batch, rf)
			if len(batch) < 512 {
				continue
			}
		default:
		}
		if len(batch) == 0 {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := r.log.RecordRefusals(ctx, batch)
		cancel()
		if err != nil {
			r.lg.Warn("writing the refusal log failed: these refusals are not counted in the reports", "refusals", len(batch), "err", err)
		}
		batch = batch[:0]
	}
}

// Flush writes what is queued now (tests, the report on demand).
func (r *RecordRefusals) Flush() { r.flush() }

// Close flushes the queue and stops the writer. Safe to call twice.
func (r *RecordRefusals) Close() {
	r.once.Do(func() { close(r.quit); <-r.done })
}

// Observers tells every observer in turn.
type Observers []billing.Observer

var _ billing.Observer = Observers(nil)

// Request implements billing.Observer.
func (os Observers) Request(k billing.RequestKind, res billing.Result, err error) {
	for _, o := range os {
		o.Request(k, res, err)
	}
}

// Debit implements billing.Observer.
func (os Observers) Debit(c string, out billing.DebitOutcome, reason billing.Reason, d time.Duration) {
	for _, o := range os {
		o.Debit(c, out, reason, d)
	}
}

// Sweep implements billing.Observer.
func (os Observers) Sweep(kind string, n int, err error) {
	for _, o := range os {
		o.Sweep(kind, n, err)
	}
}

// MOProcessed implements billing.Observer.
func (os Observers) MOProcessed(err error) {
	for _, o := range os {
		o.MOProcessed(err)
	}
}

// LimiterError implements billing.Observer.
func (os Observers) LimiterError(err error) {
	for _, o := range os {
		o.LimiterError(err)
	}
}
