package billing

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/carrierbill/carrierbill/clock"
	"github.com/carrierbill/carrierbill/redact"
	"github.com/carrierbill/carrierbill/wallet"
)

// Options wire an Engine. Store, Charger, Limiter and Clock are required.
type Options struct {
	Config  Config
	Store   Store
	Charger Charger
	Limiter Limiter
	Clock   clock.Clock
	Logger  *slog.Logger // nil: discard
	// Notifier renders the events the engine writes to the outbox (the
	// SMS channel's texts); nil texts nothing.
	Notifier Notifier
	// Codes is the source of confirmation codes; nil means crypto/rand.
	// Replay seeds it to reproduce a trace's codes.
	Codes io.Reader
	// Lease is how long a recovery pass holds what it claimed (default 1
	// minute).
	Lease time.Duration

	// Bank-card payments (all optional; CardCharger switches them on and
	// then needs Hasher). CardCharger debits cards (bank.NewCharger); the
	// engine picks the charger by the method of the order, also in Recover
	// and Refund.
	CardCharger Charger
	// CardBank answers balance queries (the default card's balance); nil:
	// they are refused with service_busy.
	CardBank CardBalancer
	// Hasher verifies and sets wallet passwords.
	Hasher *wallet.Hasher
	// Observer is told what the engine did (metrics; observe.go); nil: none.
	Observer Observer

	// EventHook, optional, sees every event inside its transaction (the
	// merchant API's notification outbox; see notify.go).
	EventHook EventHook

	// Risk, optional, are the risk rules asked on every purchase and
	// confirmation (risk.go; package risk). nil: no rules, but the block
	// and allow lists still apply.
	Risk Risk
	// DecisionHook, optional, sees every recorded risk decision inside
	// its transaction (the operator's alerts; riskflow.go).
	DecisionHook DecisionHook
}

// Engine is the billing engine every channel drives, through its typed API
// (Purchase, Confirm, Cancel, Query, Refund, Lookup, Charge) and its sweeps
// (ExpireOrders, Recover). It decides; it holds no subscriber text.
type Engine struct {
	cfg      Config
	store    Store
	charger  Charger
	limiter  Limiter
	clock    clock.Clock
	log      *slog.Logger
	notifier Notifier
	lease    time.Duration

	codesMu sync.Mutex
	codes   io.Reader

	cardCharger  Charger
	cardBank     CardBalancer
	hasher       *wallet.Hasher
	obs          Observer
	hook         EventHook
	risk         Risk
	decisionHook DecisionHook

	holdsMu    sync.Mutex
	holdsSwept time.Time // when Sweep last ran ExpireHolds
}

// NewEngine validates o.Config and returns an engine.
func NewEngine(o Options) (*Engine, error) {
	if err := o.Config.Validate(); err != nil {
		return nil, fmt.Errorf("billing configuration: %w", err)
	}
	if o.Store == nil || o.Charger == nil || o.Limiter == nil || o.Clock == nil {
		return nil, errors.New("billing: NewEngine needs a Store, a Charger, a Limiter and a Clock")
	}
	if o.CardCharger != nil && o.Hasher == nil {
		return nil, errors.New("billing: card payments (CardCharger) need a Hasher")
	}
	e := &Engine{
		cfg: o.Config, store: o.Store, charger: o.Charger, limiter: o.Limiter, clock: o.Clock,
		log: o.Logger, notifier: o.Notifier, lease: o.Lease, codes: o.Codes,
		cardCharger: o.CardCharger, cardBank: o.CardBank, hasher: o.Hasher, obs: o.Observer, hook: o.EventHook,
		risk: o.Risk, decisionHook: o.DecisionHook,
	}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	if e.notifier == nil {
		e.notifier = NoNotifier{}
	}
	if e.lease <= 0 {
		e.lease = time.Minute
	}
	if e.codes == nil {
		e.codes = rand.Reader
	}
	return e, nil
}

// Config returns the engine's configuration.
func (e *Engine) Config() Config { return e.cfg }

// Store returns the engine's store (channels keep their inbox in it).
func (e *Engine) Store() Store { return e.store }

// Clock returns the engine's clock.
func (e *Engine) Clock() clock.Clock { return e.clock }

// CardsOn reports whether the engine takes bank-card payments.
func (e *Engine) CardsOn() bool { return e.cardCharger != nil }

// Merchant returns the merchant with this code.
func (e *Engine) Merchant(code string) (Merchant, bool) {
	m, ok := e.cfg.merchant(code)
	if !ok {
		return Merchant{}, false
	}
	return *m, true
}

// Run runs the expiry, recovery and secret-scrubbing sweeps every
// sweepEvery (default 5 s) until ctx ends. Safe to run in several
// processes at once.
func (e *Engine) Run(ctx context.Context, sweepEvery time.Duration) error {
	if sweepEvery <= 0 {
		sweepEvery = 5 * time.Second
	}
	t := time.NewTicker(sweepEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		e.Sweep(ctx)
	}
}

// Sweep runs each sweep once and logs what failed.
func (e *Engine) Sweep(ctx context.Context) {
	n, err := e.ExpireOrders(ctx)
	if e.Observer().Sweep("expiry", n, err); err != nil && ctx.Err() == nil {
		e.log.Error("expiry sweep failed", "err", err)
	}
	n, err = e.Recover(ctx)
	if e.Observer().Sweep("recovery", n, err); err != nil && ctx.Err() == nil {
		e.log.Error("recovery sweep failed", "err", err)
	}
	if e.holdsDue() {
		n, err = e.ExpireHolds(ctx)
		if e.Observer().Sweep("hold_expiry", n, err); err != nil && ctx.Err() == nil {
			e.log.Error("hold expiry sweep failed", "err", err)
		}
	}
	if _, err := e.store.ScrubSentSecrets(ctx); err != nil && ctx.Err() == nil {
		e.log.Error("scrubbing sent secret MTs failed", "err", err)
	}
}

// holdsDue reports whether Sweep runs ExpireHolds now: at most once a
// minute of the engine's clock (it reads every held order; a hold is
// refused at most that late, against a hold_expiry of a minute or more).
func (e *Engine) holdsDue() bool {
	now := e.clock.Now()
	e.holdsMu.Lock()
	defer e.holdsMu.Unlock()
	if !e.holdsSwept.IsZero() && now.Sub(e.holdsSwept) < time.Minute {
		return false
	}
	e.holdsSwept = now
	return true
}

// Reject tells the subscriber no for a reason the channel found before the
// engine could decide anything (an unreadable amount, an unknown command):
// the refusal event goes to the Notifier and src.MO is marked processed, in
// one transaction.
func (e *Engine) Reject(ctx context.Context, src Source, msisdn string, reason Reason, merchant string) (res Result, err error) {
	defer e.observe(RequestReject, &res, &err)
	ev := Event{Kind: EventRefused, Reason: reason}
	if m, ok := e.cfg.merchant(merchant); ok {
		ev.Merchant = m
	}
	return e.refuse(ctx, src, msisdn, ev)
}

// refuse writes ev (a refusal) and marks the MO processed in one
// transaction.
func (e *Engine) refuse(ctx context.Context, src Source, msisdn string, ev Event) (Result, error) {
	err := e.store.InTx(ctx, func(tx Tx) error {
		return e.refuseTx(ctx, tx, src, msisdn, ev)
	})
	if err != nil {
		return Result{}, fmt.Errorf("refusing (%s) %s: %w", ev.Reason, redact.Phone(msisdn), err)
	}
	e.log.Info("refused", "channel", string(src.Channel), "msisdn", redact.Phone(msisdn), "reason", string(ev.Reason))
	return resultOf(ev), nil
}

func (e *Engine) refuseTx(ctx context.Context, tx Tx, src Source, msisdn string, ev Event) error {
	ev.Kind, ev.Channel, ev.MSISDN = EventRefused, src.Channel, msisdn
	if ev.Origin == "" {
		ev.Origin = src.Origin
	}
	if err := e.notify(ctx, tx, ev); err != nil {
		return err
	}
	return markMO(ctx, tx, src.MO, e.clock.Now())
}

// resultOf is the Result of a refusal event.
func resultOf(ev Event) Result {
	r := Result{Outcome: OutcomeRejected, Reason: ev.Reason, Order: ev.Order, Quota: ev.Quota,
		RetryAfter: ev.RetryAfter, AttemptsLeft: ev.AttemptsLeft}
	if ev.Order != nil {
		r.OrderID = ev.Order.ID
	}
	if ev.Charge != nil {
		r.ChargeID = ev.Charge.ID
	}
	return r
}

// DropMO marks a stored MO processed without acting on it (a channel gives
// up on a message that keeps failing), dropping its sealed text with it.
func (e *Engine) DropMO(ctx context.Context, mo InboundMO) error {
	return e.store.InTx(ctx, func(tx Tx) error { return markMO(ctx, tx, &mo, e.clock.Now()) })
}

// MarkMO marks the MO processed inside tx (nil or unstored: nothing).
func markMO(ctx context.Context, tx Tx, mo *InboundMO, at time.Time) error {
	if mo == nil || mo.ID == 0 {
		return nil
	}
	if err := tx.MarkMOProcessed(ctx, mo.ID, at); err != nil {
		return fmt.Errorf("marking MO %d processed: %w", mo.ID, err)
	}
	if len(mo.Sealed) > 0 {
		if err := tx.ClearSealedMO(ctx, mo.ID); err != nil {
			return fmt.Errorf("dropping the sealed text of MO %d: %w", mo.ID, err)
		}
	}
	return nil
}

// newCode draws a uniform 6-digit code from the code source.
func (e *Engine) newCode() (string, error) {
	e.codesMu.Lock()
	defer e.codesMu.Unlock()
	var b [4]byte
	for {
		if _, err := io.ReadFull(e.codes, b[:]); err != nil {
			return "", fmt.Errorf("drawing a confirmation code: %w", err)
		}
		v := binary.BigEndian.Uint32(b[:])
		if v < 4294000000 { // 4294 * 10^6: reject the tail for uniformity
			return fmt.Sprintf("%06d", v%1000000), nil
		}
	}
}

// periods returns the calendar day and month (first day) of t in the
// operator's zone, as "2006-01-02".
func (e *Engine) periods(t time.Time) (day, month string) {
	l := t.In(e.cfg.Location)
	return l.Format("2006-01-02"), l.Format("2006-01") + "-01"
}

// lockQuota locks the quota row and rolls a stale day or month over.
func (e *Engine) lockQuota(ctx context.Context, tx Tx, msisdn string, method Method, now time.Time) (Quota, error) {
	day, month := e.periods(now)
	q, err := tx.LockQuota(ctx, msisdn, method, day, month)
	if err != nil {
		return Quota{}, fmt.Errorf("locking the quota: %w", err)
	}
	if q.Month != month {
		q.Month, q.MonthSpent = month, 0
	}
	if q.Day != day {
		q.Day, q.DaySpent = day, 0
	}
	return q, nil
}

// checkLimits says whether amount fits the limits given the (rolled over)
// quota q.
func checkLimits(lim Limits, q Quota, amount Money) Reason {
	switch {
	case amount > lim.PerPayment:
		return ReasonPerPaymentLimit
	case q.DaySpent+amount > lim.Daily:
		return ReasonDailyLimit
	case q.MonthSpent+amount > lim.Monthly:
		return ReasonMonthlyLimit
	}
	return ""
}

// left is what can still be spent today and this month.
func left(lim Limits, q Quota) *QuotaLeft {
	month := max(lim.Monthly-q.MonthSpent, 0)
	day := min(max(lim.Daily-q.DaySpent, 0), month)
	return &QuotaLeft{Method: q.Method, Day: day, Month: month}
}

// allow applies one frequency rule through the limiter, failing closed: it
// returns "" when the event is within the rule, else the refusal
// (too_frequent with the wait, or service_busy when the limiter cannot
// answer).
func (e *Engine) allow(ctx context.Context, rule Rule, key string) (Reason, time.Duration) {
	if rule.Limit <= 0 || rule.Period <= 0 {
		return "", 0
	}
	d, err := e.limiter.Allow(ctx, rule, key)
	if err != nil {
		e.log.Warn("limiter unavailable; refusing", "rule", rule.Name, "err", err) // counted by ObserveLimiter
		return ReasonServiceBusy, 0
	}
	if !d.Allowed {
		return ReasonTooFrequent, d.RetryAfter
	}
	return "", 0
}

// rateKey is the limiter key of a number's payments with a method: card
// payments are counted apart from the phone account's.
func rateKey(m Method, msisdn string) string {
	if m == MethodPhone || m == "" {
		return msisdn
	}
	return string(m) + ":" + msisdn
}

// merchantOfCode resolves a merchant code (trimmed).
func (e *Engine) merchantOfCode(code string) (*Merchant, bool) {
	return e.cfg.merchant(strings.TrimSpace(code))
}
