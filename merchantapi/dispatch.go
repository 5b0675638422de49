package merchantapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/clock"
)

// RetrySchedule is WeChat Pay's notification schedule: after a failed
// delivery, the next try waits the next of these (15 retries, about 24.5
// hours after the first try); after the last the notification is given up.
var RetrySchedule = []time.Duration{
	15 * time.Second, 15 * time.Second, 30 * time.Second, 3 * time.Minute, 10 * time.Minute, 20 * time.Minute,
	30 * time.Minute, 30 * time.Minute, 30 * time.Minute, 60 * time.Minute, 3 * time.Hour, 3 * time.Hour, 3 * time.Hour,
	6 * time.Hour, 6 * time.Hour,
}

// Dispatcher delivers the notification outbox: it claims due
// notifications (a lease, so another process or a restart never sends one
// twice at once and never loses one), POSTs each to its sink signed with
// the merchant's secret and the bearer sinkCredential, and records the
// outcome: a 2xx is delivered; anything else is retried on Schedule by the
// clock, and given up after the last retry (410 Gone: at once).
type Dispatcher struct {
	Store  billing.NotifyStore
	Clock  clock.Clock
	Client *http.Client // default: 10 s timeout, no redirects
	// Secret returns a merchant's signing secret (MerchantSecret).
	Secret func(merchant string) []byte
	// OperatorSecret signs the operator's own rows (Merchant "": the risk
	// alerts, risk.alert_secret).
	OperatorSecret []byte
	Logger         *slog.Logger
	// Schedule overrides RetrySchedule; Lease (default 1 minute) is how
	// long a claim holds a notification; Batch (default 20) how many one
	// pass claims; Parallel (default 4) how many are sent at once.
	Schedule []time.Duration
	Lease    time.Duration
	Batch    int
	Parallel int
}

func (d *Dispatcher) defaults() {
	if d.Client == nil {
		d.Client = &http.Client{Timeout: 10 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Schedule == nil {
		d.Schedule = RetrySchedule
	}
	if d.Lease <= 0 {
		d.Lease = time.Minute
	}
	if d.Batch <= 0 {
		d.Batch = 20
	}
	if d.Parallel <= 0 {
		d.Parallel = 4
	}
}

// RunOnce delivers the notifications due now, once each, and returns how
// many it tried.
func (d *Dispatcher) RunOnce(ctx context.Context) (int, error) {
	d.defaults()
	now := d.Clock.Now()
	ns, err := d.Store.ClaimNotifications(ctx, now, now.Add(d.Lease), d.Batch)
	if err != nil {
		return 0, fmt.Errorf("claiming notifications: %w", err)
	}
	sem := make(chan struct{}, d.Parallel)
	var wg sync.WaitGroup
	for _, n := range ns {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			d.deliver(ctx, n)
		}()
	}
	wg.Wait()
	return len(ns), nil
}

// Run delivers due notifications every poll until ctx ends.
func (d *Dispatcher) Run(ctx context.Context, poll time.Duration) error {
	if poll <= 0 {
		poll = time.Second
	}
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		for {
			n, err := d.RunOnce(ctx)
			if err != nil && ctx.Err() == nil {
				d.Logger.Error("notification dispatch failed", "err", err)
			}
			if err != nil || n < d.Batch {
				break
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// errGone: the sink answered 410: the merchant no longer takes these.
var errGone = errors.New("sink answered 410 Gone")

func (d *Dispatcher) deliver(ctx context.Context, n billing.Notification) {
	err := d.post(ctx, n)
	if ctx.Err() != nil {
		return // stopping: the lease ends and the next dispatcher sends it again
	}
	now := d.Clock.Now()
	if err == nil {
		if err := d.Store.MarkNotificationDelivered(ctx, n.ID, now); err != nil {
			d.Logger.Error("recording a delivered notification failed; it will be sent again", "notification", n.EventID, "err", err)
			return
		}
		d.Logger.Info("notification delivered", "notification", n.EventID, "merchant", n.Merchant, "attempt", n.Attempts)
		return
	}
	retry := n.Attempts - 1 // the retry this failure schedules
	giveUp := errors.Is(err, errGone) || retry >= len(d.Schedule)
	next := now
	if !giveUp {
		next = now.Add(d.Schedule[retry])
	}
	if merr := d.Store.MarkNotificationFailed(ctx, n.ID, next, truncate(err.Error(), 300), giveUp, now); merr != nil {
		d.Logger.Error("recording a failed notification failed; its lease will expire", "notification", n.EventID, "err", merr)
		return
	}
	if giveUp {
		d.Logger.Error("notification given up", "notification", n.EventID, "merchant", n.Merchant, "attempts", n.Attempts, "err", err)
		return
	}
	d.Logger.Warn("notification failed; will retry", "notification", n.EventID, "merchant", n.Merchant, "attempt", n.Attempts, "next", next, "err", err)
}

func (d *Dispatcher) post(ctx context.Context, n billing.Notification) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.Sink, bytes.NewReader(n.Body))
	if err != nil {
		return fmt.Errorf("building the request: %w", err)
	}
	req.Header.Set("Content-Type", "application/cloudevents+json")
	req.Header.Set("x-correlator", n.EventID)
	secret := d.OperatorSecret
	if n.Merchant == "" && len(secret) == 0 {
		return errors.New("no operator secret to sign an alert with (risk.alert_secret unset)")
	}
	if n.Merchant != "" {
		if d.Secret == nil {
			return errors.New("no merchant secret to sign with (CARRIERBILL_NOTIFY_KEY unset)")
		}
		secret = d.Secret(n.Merchant)
	}
	req.Header.Set(SignatureHeader, Sign(secret, d.Clock.Now(), n.Body))
	if n.SinkToken != "" {
		req.Header.Set("Authorization", "Bearer "+n.SinkToken)
	}
	resp, err := d.Client.Do(req)
	if err != nil {
		return fmt.Errorf("posting to the sink: %w", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return nil
	case resp.StatusCode == http.StatusGone:
		return errGone
	}
	return fmt.Errorf("sink answered %s", resp.Status)
}
