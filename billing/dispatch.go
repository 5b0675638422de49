package billing

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/carrierbill/carrierbill/clock"
	"github.com/carrierbill/carrierbill/redact"
)

// Dispatcher drains the outbox through a Sender: it leases due rows (so two
// processes never send the same row at once), sends them, marks them sent
// with the SMSC's message id of each part, and on failure schedules a retry
// with exponential backoff. A crash after the SMSC accepted and before the
// row is marked sent resends once the lease ends: at least once, never lost.
//
// It also matches delivery receipts to the parts it sent (Receipt): a
// receipt that arrives before its part's message id was recorded is kept
// and matched when it is, and kept receipts that never match are pruned
// after ReceiptTTL.
type Dispatcher struct {
	Store  Store
	Sender Sender
	Clock  clock.Clock
	Logger *slog.Logger
	// Lease is how long a claimed row is reserved (default 30 s).
	Lease time.Duration
	// Batch is how many rows one claim takes (default 64); they are sent
	// concurrently.
	Batch int
	// MaxBackoff caps the retry delay (default 5 minutes).
	MaxBackoff time.Duration
	// ReceiptTTL is how long an unmatched receipt is kept waiting for its
	// part (default 48 hours); Run prunes older ones about hourly.
	ReceiptTTL time.Duration
	// Unseal opens an MT stored sealed (OutboxMsg.Sealed: the initial
	// wallet password) just before it is sent; wallet.Sealer.Open. Without
	// it a sealed MT is not sent (ErrSealedMT) and is retried.
	Unseal func(msisdn string, box []byte) (string, error)

	pruneMu   sync.Mutex
	lastPrune time.Time
}

func (d *Dispatcher) defaults() (time.Duration, int, time.Duration, *slog.Logger) {
	lease, batch, maxb, log := d.Lease, d.Batch, d.MaxBackoff, d.Logger
	if lease <= 0 {
		lease = 30 * time.Second
	}
	if batch <= 0 {
		batch = 64
	}
	if maxb <= 0 {
		maxb = 5 * time.Minute
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return lease, batch, maxb, log
}

// Backoff is the delay before the attempt-th retry: 1 s doubling, capped.
func Backoff(attempt int, maxDelay time.Duration) time.Duration {
	d := time.Second
	for i := 1; i < attempt && d < maxDelay; i++ {
		d *= 2
	}
	return min(d, maxDelay)
}

// RunOnce claims one batch of due MTs, sends them and records the outcome.
// It returns how many were sent.
func (d *Dispatcher) RunOnce(ctx context.Context) (int, error) {
	lease, batch, maxb, log := d.defaults()
	now := d.Clock.Now()
	msgs, err := d.Store.ClaimOutbox(ctx, now, now.Add(lease), batch)
	if err != nil {
		return 0, fmt.Errorf("claiming the outbox: %w", err)
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		sent int
		errs []error
	)
	for _, m := range msgs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := d.dispatch(ctx, m, maxb, log)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
			} else if ok {
				sent++
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		return sent, errs[0]
	}
	return sent, nil
}

// dispatch sends one claimed MT and records the outcome: sent reports
// that the SMSC took it, err that the outcome could not be recorded (the
// lease then ends and it is sent again).
func (d *Dispatcher) dispatch(ctx context.Context, m OutboxMsg, maxb time.Duration, log *slog.Logger) (sent bool, err error) {
	text, serr := d.textOf(m) // sealedmt.go
	var parts []SentPart
	if serr == nil {
		parts, serr = d.Sender.Send(ctx, OutboundSMS{ID: m.ID, From: m.ServiceAddr, To: m.MSISDN, Text: text})
	}
	if serr == nil {
		err = d.Store.MarkSentParts(context.WithoutCancel(ctx), m.ID, d.Clock.Now(), parts)
	} else {
		log.Warn("sending MT failed; will retry", "outbox", m.ID, "msisdn", redact.Phone(m.MSISDN), "attempt", m.Attempts, "err", serr)
		err = d.Store.MarkSendFailed(context.WithoutCancel(ctx), m.ID, d.Clock.Now().Add(Backoff(m.Attempts, maxb)), serr.Error())
	}
	if err != nil {
		return false, fmt.Errorf("recording outbox %d: %w", m.ID, err)
	}
	return serr == nil, nil
}

// Receipt records a delivery receipt on the MT part it reports on. Its
// message id may be written in hex or decimal whatever the submit_sm_resp
// used (KeysOf); a receipt that matches no part yet is kept and matched
// when the part's id is recorded. An error means it was not stored (the
// SMPP layer then answers ESME_RX_T_APPN so the SMSC redelivers it).
func (d *Dispatcher) Receipt(ctx context.Context, r DeliveryReceipt) error {
	_, _, _, log := d.defaults()
	keys := KeysOf(r.MessageID)
	if keys.Exact == "" {
		log.Warn("delivery receipt without a message id ignored", "bind", r.Bind, "state", string(r.State))
		return nil
	}
	matched, err := d.Store.ApplyReceipt(ctx, r, keys)
	if err != nil {
		return fmt.Errorf("recording the receipt of message %s: %w", keys.Exact, err)
	}
	lvl := slog.LevelDebug
	if !matched || (r.State.Final() && r.State != DeliveryDelivered) {
		lvl = slog.LevelInfo
	}
	log.Log(ctx, lvl, "delivery receipt", "bind", r.Bind, "message_id", r.MessageID, "state", string(r.State),
		"err", r.Err, "matched", matched)
	return nil
}

// pruneReceipts drops unmatched receipts older than ReceiptTTL, at most
// once an hour on the dispatcher's clock.
func (d *Dispatcher) pruneReceipts(ctx context.Context, log *slog.Logger) {
	ttl := d.ReceiptTTL
	if ttl <= 0 {
		ttl = 48 * time.Hour
	}
	now := d.Clock.Now()
	d.pruneMu.Lock()
	due := now.Sub(d.lastPrune) >= time.Hour
	if due {
		d.lastPrune = now
	}
	d.pruneMu.Unlock()
	if !due {
		return
	}
	n, err := d.Store.PruneReceipts(ctx, now.Add(-ttl))
	switch {
	case err != nil:
		log.Warn("pruning unmatched receipts failed", "err", err)
	case n > 0:
		log.Info("unmatched receipts pruned", "count", n, "older_than", ttl.String())
	}
}

// Run drains the outbox until ctx ends, polling every poll (default 50 ms)
// when idle. It returns after every send it started has finished.
//
// Unlike RunOnce in a loop, Run keeps a pipeline full: up to two batches
// of MTs are under way at once, and it claims again as soon as half a
// batch of them has finished, so one slow send or sent mark holds back
// only itself, not the batch it was claimed with (issue 11: the MT rate
// was bounded by the slowest MT of each batch).
func (d *Dispatcher) Run(ctx context.Context, poll time.Duration) error {
	if poll <= 0 {
		poll = 50 * time.Millisecond
	}
	lease, batch, maxb, log := d.defaults()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		underway int                      // MTs claimed and not finished
		finished = make(chan struct{}, 1) // a wake-up when one finishes
	)
	free := func() int {
		mu.Lock()
		defer mu.Unlock()
		return 2*batch - underway
	}
	defer wg.Wait()
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		d.pruneReceipts(ctx, log)
		for ctx.Err() == nil {
			// Claim when at least half a batch of room is free.
			n := free()
			for n < (batch+1)/2 {
				select {
				case <-ctx.Done():
					return nil
				case <-finished:
				}
				n = free()
			}
			n = min(batch, n)
			now := d.Clock.Now()
			msgs, err := d.Store.ClaimOutbox(ctx, now, now.Add(lease), n)
			if err != nil {
				if ctx.Err() == nil {
					log.Error("outbox dispatch failed", "err", fmt.Errorf("claiming the outbox: %w", err))
				}
				break
			}
			mu.Lock()
			underway += len(msgs)
			mu.Unlock()
			for _, m := range msgs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if _, err := d.dispatch(ctx, m, maxb, log); err != nil {
						log.Error("outbox dispatch failed", "err", err)
					}
					mu.Lock()
					underway--
					mu.Unlock()
					select {
					case finished <- struct{}{}:
					default:
					}
				}()
			}
			if len(msgs) < n {
				break // drained: wait for the poll
			}
		}
		t.Reset(poll)
	}
}
