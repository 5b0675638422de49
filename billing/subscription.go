package billing

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/carrierbill/carrierbill/redact"
)

// Monthly subscriptions (baoyue). A product with Period "month" is a
// subscription: buying it is a purchase like any other (prompt, code,
// charge, receipt), and the charge that pays its first order starts a
// subscription in the same transaction. From then on Renew charges it once
// per period on its renewal day, through the same Purchase (keyed, no
// prompt) and Charge steps as any payment, so the per-payment, day and
// month limits and the two-phase charge hold for renewals exactly as for
// purchases.
//
// The renewal day is the day of the month the subscription started on
// (its anchor), or the last day of a shorter month: started on January 31,
// it renews on February 28 (29) and March 31. Periods are calendar dates in
// the operator's zone.
//
// Crash safety: a renewal attempt is the order with the idempotency key
// sub:<id>:<renewal date>:<attempt>. The charge that pays it advances the
// subscription in the same transaction (resolveLocked → subscriptionPaid),
// and a failed attempt is recorded only for the attempt number it was, so
// running Renew again after a crash, or in two processes at once, finds the
// same order and never charges a subscription twice for one period.

// SubscriptionStatus is where a subscription stands.
type SubscriptionStatus string

// Subscription statuses.
const (
	SubscriptionActive    SubscriptionStatus = "active"    // renews on NextRenewal
	SubscriptionCancelled SubscriptionStatus = "cancelled" // by the subscriber, the merchant or the operator: no more renewals
	SubscriptionLapsed    SubscriptionStatus = "lapsed"    // too many failed renewals
)

// PeriodMonth is the one subscription period (Product.Period).
const PeriodMonth = "month"

// Subscription is one subscriber's monthly subscription to a product.
type Subscription struct {
	ID       int64
	MSISDN   string
	Merchant string
	// MerchantName is the merchant's name from the catalog, filled in
	// for the events (not stored).
	MerchantName string
	Product      string // keyword, upper case
	ProductName  string
	Amount       Money
	Method       Method
	Status       SubscriptionStatus
	// AnchorDay is the day of the month it started on (1–31).
	AnchorDay int
	// NextRenewal is the date ("2006-01-02", operator's zone) of the next
	// charge: the current period is paid up to the day before.
	NextRenewal string
	// Failures counts the failed attempts to renew for NextRenewal;
	// Attempts counts every order made for it (the renewal key's last part).
	Failures int
	Attempts int
	// NextAttemptAt: no renewal attempt before this instant.
	NextAttemptAt time.Time
	// RemindedFor is the NextRenewal the reminder was sent for.
	RemindedFor string
	// ListNo is the number the subscription had in the subscriber's last
	// 0000 listing (at ListedAt); a reply with that number cancels it.
	ListNo       int
	ListedAt     time.Time
	FirstOrderID int64
	LastOrderID  int64
	CreatedAt    time.Time
	UpdatedAt    time.Time
	EndedAt      time.Time
	EndReason    string // cancelled: "subscriber", "merchant", "operator"; lapsed: the last failure's reason
}

// SubscriptionRules are the renewal settings (config `subscriptions:`).
type SubscriptionRules struct {
	// MaxFailures is how many failed renewal attempts of one period are
	// allowed before the subscription lapses (default 3).
	MaxFailures int
	// RetryEvery is the wait between two attempts of one period (default
	// 24 h).
	RetryEvery time.Duration
	// ReminderDays: the reminder SMS goes this many days before a renewal
	// (default 3; 0 sends none).
	ReminderDays int
	// ListValidity is how long a 0000 listing's numbers stay valid for a
	// reply (default 24 h).
	ListValidity time.Duration
}

// DefaultSubscriptionRules are the defaults: 3 failures, a day apart, a
// reminder 3 days ahead, a listing valid for a day.
func DefaultSubscriptionRules() SubscriptionRules {
	return SubscriptionRules{MaxFailures: 3, RetryEvery: 24 * time.Hour, ReminderDays: 3, ListValidity: 24 * time.Hour}
}

// Subscription errors.
var (
	// ErrNoSubscription: nothing matched an unsubscribe request.
	ErrNoSubscription = errors.New("billing: no such active subscription")
)

// SubscriptionStore is the storage of subscriptions outside a transaction
// (part of Store).
type SubscriptionStore interface {
	// DueSubscriptions returns up to limit active subscriptions with
	// next_renewal on or before today and next_attempt_at at or before
	// now, oldest renewal first. It locks nothing: a renewal is safe to
	// run twice (see the package doc on subscriptions).
	DueSubscriptions(ctx context.Context, today string, now time.Time, limit int) ([]Subscription, error)
	// DueReminders returns up to limit active subscriptions whose
	// next_renewal is after today and on or before until and whose
	// reminded_for is not their next_renewal.
	DueReminders(ctx context.Context, today, until string, limit int) ([]Subscription, error)
	// SubscriptionsByMerchant returns merchant's subscriptions (any
	// status; msisdn "" = every number), newest first, at most limit.
	SubscriptionsByMerchant(ctx context.Context, merchant, msisdn string, limit int) ([]Subscription, error)
}

// SubscriptionTx is the storage of subscriptions inside a transaction
// (part of Tx).
type SubscriptionTx interface {
	// InsertSubscription stores s (its ID is ignored) and returns its id,
	// or 0 when one exists for the same first order or an active one for
	// the same number, merchant and product (nothing is written then).
	InsertSubscription(ctx context.Context, s Subscription) (int64, error)
	// LockSubscription returns the subscription id and locks it.
	// ErrNotFound.
	LockSubscription(ctx context.Context, id int64) (Subscription, error)
	// SaveSubscription writes every mutable field of s (status, next
	// renewal, failures, next attempt, reminded for, list number and time,
	// last order, updated, ended, end reason). ErrNotFound.
	SaveSubscription(ctx context.Context, s Subscription) error
	// ActiveSubscriptions returns msisdn's active subscriptions (merchant
	// "" = all merchants), oldest first, locked.
	ActiveSubscriptions(ctx context.Context, msisdn, merchant string) ([]Subscription, error)
}

// SubscriptionsRequest lists a number's active subscriptions (SMS 0000,
// USSD menu 6). With an SMS source the listing is texted, numbered, and
// the numbers are kept for a reply that cancels.
type SubscriptionsRequest struct {
	Source
	MSISDN   string
	Merchant string // "" = all merchants
}

// UnsubscribeRequest cancels subscriptions of MSISDN: by the numbers of
// its last listing (Numbers), by ID, or by merchant (and product: TD VIP;
// without product: TD, every subscription with that merchant).
type UnsubscribeRequest struct {
	Source
	MSISDN   string
	Numbers  []int
	ID       int64
	Merchant string
	Product  string
	// By says who cancels: "subscriber" (default), "merchant", "operator".
	By string
}

// SubscriptionsResult is what a listing or a cancellation found.
type SubscriptionsResult struct {
	Result
	Subscriptions []Subscription
}

// isSubscription reports whether the product keyword of merchant is a
// monthly subscription.
func (e *Engine) isSubscription(merchant, product string) (Product, bool) {
	m, ok := e.cfg.merchant(merchant)
	if !ok || product == "" {
		return Product{}, false
	}
	for _, p := range m.Products {
		if strings.EqualFold(p.Keyword, product) && p.Period == PeriodMonth {
			return p, true
		}
	}
	return Product{}, false
}

// renewalDate is the renewal day of anchor in the month of t's date
// (the last day of a shorter month).
func renewalDate(year int, month time.Month, anchor int, loc *time.Location) time.Time {
	last := time.Date(year, month+1, 0, 0, 0, 0, 0, loc).Day()
	return time.Date(year, month, min(anchor, last), 0, 0, 0, 0, loc)
}

// NextRenewalAfter returns the renewal date that follows date ("2006-01-02")
// for a subscription anchored on anchor.
func NextRenewalAfter(date string, anchor int) (string, error) {
	d, err := time.Parse("2006-01-02", date)
	if err != nil {
		return "", fmt.Errorf("renewal date %q: %w", date, err)
	}
	return renewalDate(d.Year(), d.Month()+1, anchor, time.UTC).Format("2006-01-02"), nil
}

// subscriptionRefusal refuses a purchase of a subscription the number
// already has (inside the purchase's transaction).
func (e *Engine) subscriptionRefusal(ctx context.Context, tx Tx, r PurchaseRequest, m *Merchant, product string) (Reason, error) {
	if r.Channel == ChannelSubscription {
		// A renewal's order is made only for the attempt the subscription
		// is at, and only while it is active (a cancellation committed
		// first wins; one committed after voids the order: Unsubscribe).
		id, date, n, ok := parseRenewalKey(r.IdempotencyKey)
		if !ok {
			return "", badRequest("idempotency_key: a renewal needs its sub:<id>:<date>:<attempt> key")
		}
		s, err := tx.LockSubscription(ctx, id)
		if err != nil {
			return "", fmt.Errorf("locking subscription %d: %w", id, err)
		}
		if s.Status != SubscriptionActive || s.NextRenewal != date || s.Attempts != n {
			return ReasonNoSubscription, nil
		}
		return "", nil
	}
	if _, ok := e.isSubscription(m.Code, product); !ok {
		return "", nil
	}
	subs, err := tx.ActiveSubscriptions(ctx, r.MSISDN, m.Code)
	if err != nil {
		return "", fmt.Errorf("reading the subscriptions: %w", err)
	}
	for _, s := range subs {
		if s.Product == product {
			return ReasonAlreadySubscribed, nil
		}
	}
	return "", nil
}

// subscriptionPaid runs in the transaction that finalizes the charge c of
// order o: the first charge of a subscription product starts the
// subscription; a renewal's charge moves it to the next period. It returns
// the subscription for the receipt (nil: the order is no subscription).
func (e *Engine) subscriptionPaid(ctx context.Context, tx Tx, o Order, now time.Time) (*Subscription, error) {
	if o.Channel == ChannelSubscription {
		id, date, _, ok := parseRenewalKey(o.IdempotencyKey)
		if !ok {
			return nil, nil
		}
		s, err := tx.LockSubscription(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("locking subscription %d: %w", id, err)
		}
		if s.NextRenewal != date { // already moved on (cannot happen twice for one period)
			return &s, nil
		}
		next, err := NextRenewalAfter(date, s.AnchorDay)
		if err != nil {
			return nil, err
		}
		s.NextRenewal, s.Failures, s.Attempts, s.NextAttemptAt, s.LastOrderID, s.UpdatedAt = next, 0, 0, time.Time{}, o.ID, now
		if err := tx.SaveSubscription(ctx, s); err != nil {
			return nil, fmt.Errorf("renewing subscription %d: %w", id, err)
		}
		return &s, nil
	}
	p, ok := e.isSubscription(o.Merchant, o.Product)
	if !ok {
		return nil, nil
	}
	local := now.In(e.cfg.Location)
	anchor := local.Day()
	s := Subscription{
		MSISDN: o.MSISDN, Merchant: o.Merchant, Product: strings.ToUpper(p.Keyword), ProductName: p.Name,
		Amount: o.Amount, Method: o.Method, Status: SubscriptionActive, AnchorDay: anchor,
		NextRenewal:  renewalDate(local.Year(), local.Month()+1, anchor, e.cfg.Location).Format("2006-01-02"),
		FirstOrderID: o.ID, LastOrderID: o.ID, CreatedAt: now, UpdatedAt: now,
	}
	id, err := tx.InsertSubscription(ctx, s)
	if err != nil {
		return nil, fmt.Errorf("starting the subscription of order %d: %w", o.ID, err)
	}
	if id == 0 {
		return nil, nil
	}
	s.ID = id
	return &s, nil
}

// nameSubscriptions fills in the merchant names of an event's
// subscriptions (and its merchant, when it is about one subscription).
func (e *Engine) nameSubscriptions(ev *Event) {
	if ev.Subscription != nil {
		s := *ev.Subscription
		if m, ok := e.cfg.merchant(s.Merchant); ok {
			s.MerchantName = m.Name
		}
		ev.Subscription = &s
	}
	if len(ev.Subscriptions) == 0 {
		return
	}
	subs := make([]Subscription, len(ev.Subscriptions))
	for i, s := range ev.Subscriptions {
		if m, ok := e.cfg.merchant(s.Merchant); ok {
			s.MerchantName = m.Name
			if ev.Merchant == nil && len(ev.Subscriptions) == 1 {
				ev.Merchant = m
			}
		}
		subs[i] = s
	}
	ev.Subscriptions = subs
}

// renewalKey is the idempotency key of attempt n to renew s for date.
func renewalKey(id int64, date string, n int) string {
	return "sub:" + strconv.FormatInt(id, 10) + ":" + date + ":" + strconv.Itoa(n)
}

// RenewalOf returns the subscription a renewal order's idempotency key
// names (ok false: the key is no renewal's).
func RenewalOf(key string) (subscription int64, date string, ok bool) {
	id, date, _, ok := parseRenewalKey(key)
	return id, date, ok
}

func parseRenewalKey(k string) (id int64, date string, n int, ok bool) {
	parts := strings.Split(k, ":")
	if len(parts) != 4 || parts[0] != "sub" {
		return 0, "", 0, false
	}
	id, err1 := strconv.ParseInt(parts[1], 10, 64)
	n, err2 := strconv.Atoi(parts[3])
	if err1 != nil || err2 != nil {
		return 0, "", 0, false
	}
	return id, parts[2], n, true
}

// Subscriptions lists r.MSISDN's active subscriptions, numbered 1.. in the
// order they started; with an SMS source the listing is texted and its
// numbers kept for a reply. src.MO is marked processed with it.
func (e *Engine) Subscriptions(ctx context.Context, r SubscriptionsRequest) (SubscriptionsResult, error) {
	if err := checkNumber(r.MSISDN); err != nil {
		return SubscriptionsResult{}, err
	}
	var out []Subscription
	err := e.store.InTx(ctx, func(tx Tx) error {
		now := e.clock.Now()
		subs, err := tx.ActiveSubscriptions(ctx, r.MSISDN, r.Merchant)
		if err != nil {
			return fmt.Errorf("reading the subscriptions: %w", err)
		}
		for i := range subs {
			subs[i].ListNo, subs[i].ListedAt = i+1, now
			if err := tx.SaveSubscription(ctx, subs[i]); err != nil {
				return fmt.Errorf("numbering subscription %d: %w", subs[i].ID, err)
			}
		}
		out = subs
		if err := e.notify(ctx, tx, Event{Kind: EventSubscriptions, Channel: r.Channel, Origin: r.Origin, MSISDN: r.MSISDN, Subscriptions: subs}); err != nil {
			return err
		}
		return markMO(ctx, tx, r.MO, now)
	})
	if err != nil {
		return SubscriptionsResult{}, fmt.Errorf("listing the subscriptions of %s: %w", redact.Phone(r.MSISDN), err)
	}
	return SubscriptionsResult{Result: Result{Outcome: OutcomeQueried}, Subscriptions: out}, nil
}

// Unsubscribe cancels the subscriptions r names and texts the subscriber
// what was cancelled (or, when nothing matched, refuses with
// no_subscription). The current period stays paid: only the next renewals
// stop. src.MO is marked processed with it.
func (e *Engine) Unsubscribe(ctx context.Context, r UnsubscribeRequest) (SubscriptionsResult, error) {
	if r.MSISDN != "" {
		if err := checkNumber(r.MSISDN); err != nil {
			return SubscriptionsResult{}, err
		}
	}
	if r.MSISDN == "" && r.ID == 0 {
		return SubscriptionsResult{}, badRequest("msisdn: required unless the subscription id is given")
	}
	by := r.By
	if by == "" {
		by = "subscriber"
	}
	var res SubscriptionsResult
	err := e.store.InTx(ctx, func(tx Tx) error {
		now := e.clock.Now()
		targets, err := e.unsubscribeTargets(ctx, tx, r, now)
		if err != nil {
			return err
		}
		if len(targets) == 0 {
			ev := Event{Kind: EventRefused, Channel: r.Channel, Origin: r.Origin, MSISDN: r.MSISDN, Reason: ReasonNoSubscription}
			if m, ok := e.cfg.merchant(r.Merchant); ok {
				ev.Merchant = m
			}
			res = SubscriptionsResult{Result: resultOf(ev)}
			if r.MSISDN == "" {
				return nil
			}
			return e.refuseTx(ctx, tx, r.Source, r.MSISDN, ev)
		}
		for i := range targets {
			if err := e.voidRenewal(ctx, tx, targets[i], now); err != nil {
				return err
			}
			targets[i].Status, targets[i].EndedAt, targets[i].EndReason, targets[i].UpdatedAt = SubscriptionCancelled, now, by, now
			if err := tx.SaveSubscription(ctx, targets[i]); err != nil {
				return fmt.Errorf("cancelling subscription %d: %w", targets[i].ID, err)
			}
		}
		res = SubscriptionsResult{Result: Result{Outcome: OutcomeCancelled}, Subscriptions: targets}
		if err := e.notify(ctx, tx, Event{Kind: EventUnsubscribed, Channel: r.Channel, Origin: r.Origin, MSISDN: targets[0].MSISDN, Subscriptions: targets}); err != nil {
			return err
		}
		return markMO(ctx, tx, r.MO, now)
	})
	if err != nil {
		return SubscriptionsResult{}, fmt.Errorf("unsubscribing %s: %w", redact.Phone(r.MSISDN), err)
	}
	for _, s := range res.Subscriptions {
		e.log.Info("unsubscribed", "subscription", s.ID, "msisdn", redact.Phone(s.MSISDN), "merchant", s.Merchant, "by", by)
	}
	return res, nil
}

// voidRenewal voids the pending order of s's current renewal attempt, if
// one was made and not yet charged, so that a renewal racing the
// cancellation cannot charge after it. A renewal whose charge already
// started (order charging or paid) finishes: it was first.
func (e *Engine) voidRenewal(ctx context.Context, tx Tx, s Subscription, now time.Time) error {
	o, err := tx.OrderByKey(ctx, renewalKey(s.ID, s.NextRenewal, s.Attempts))
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("looking up the renewal order of subscription %d: %w", s.ID, err)
	}
	if o.Status != OrderPending {
		return nil
	}
	return e.endOrder(ctx, tx, o, OrderVoided, ReasonCancelled, now)
}

// unsubscribeTargets resolves what an unsubscribe request names, locked.
func (e *Engine) unsubscribeTargets(ctx context.Context, tx Tx, r UnsubscribeRequest, now time.Time) ([]Subscription, error) {
	if r.ID != 0 {
		s, err := tx.LockSubscription(ctx, r.ID)
		if errors.Is(err, ErrNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("locking subscription %d: %w", r.ID, err)
		}
		if s.Status != SubscriptionActive || (r.MSISDN != "" && s.MSISDN != r.MSISDN) || (r.Merchant != "" && s.Merchant != r.Merchant) {
			return nil, nil
		}
		return []Subscription{s}, nil
	}
	subs, err := tx.ActiveSubscriptions(ctx, r.MSISDN, r.Merchant)
	if err != nil {
		return nil, fmt.Errorf("reading the subscriptions: %w", err)
	}
	var out []Subscription
	switch {
	case len(r.Numbers) > 0:
		want := map[int]bool{}
		for _, n := range r.Numbers {
			want[n] = true
		}
		for _, s := range subs {
			if s.ListNo > 0 && want[s.ListNo] && now.Sub(s.ListedAt) <= e.subRules().ListValidity {
				out = append(out, s)
			}
		}
	case r.Product != "":
		for _, s := range subs {
			if strings.EqualFold(s.Product, r.Product) {
				out = append(out, s)
			}
		}
	case r.Merchant != "":
		out = subs
	}
	return out, nil
}

func (e *Engine) subRules() SubscriptionRules {
	d := DefaultSubscriptionRules()
	r := e.cfg.Subscriptions
	if r.MaxFailures <= 0 {
		r.MaxFailures = d.MaxFailures
	}
	if r.RetryEvery <= 0 {
		r.RetryEvery = d.RetryEvery
	}
	if r.ListValidity <= 0 {
		r.ListValidity = d.ListValidity
	}
	if r.ReminderDays < 0 {
		r.ReminderDays = 0
	}
	return r
}

// RenewalReport is what one Renew pass did.
type RenewalReport struct {
	Reminded, Renewed, Failed, Lapsed, Pending, Deferred int
	// Charges are the renewals this pass charged or saw refused, in order
	// (replay prints them).
	Charges []RenewalCharge
}

// RenewalCharge is one renewal attempt's outcome.
type RenewalCharge struct {
	Subscription int64
	MSISDN       string
	Merchant     string
	OrderID      int64
	Amount       Money
	Outcome      Outcome // charged, rejected or pending
	Reason       Reason
}

func (r *RenewalReport) add(s Subscription, orderID int64, out Outcome, reason Reason) {
	r.Charges = append(r.Charges, RenewalCharge{Subscription: s.ID, MSISDN: s.MSISDN, Merchant: s.Merchant, OrderID: orderID,
		Amount: s.Amount, Outcome: out, Reason: reason})
}

// Empty reports whether the pass did nothing.
func (r RenewalReport) Empty() bool {
	return r.Reminded+r.Renewed+r.Failed+r.Lapsed+r.Pending+r.Deferred == 0
}

// renewBatch bounds one store read of Renew.
const renewBatch = 200

// Renew runs one renewal pass at the clock's now: reminders for renewals
// within ReminderDays, then every due renewal (catching up any the gateway
// missed while down). Safe to run in several processes at once and to run
// again after a crash: see the package doc on subscriptions.
func (e *Engine) Renew(ctx context.Context) (RenewalReport, error) {
	var rep RenewalReport
	if err := e.remind(ctx, &rep); err != nil {
		return rep, err
	}
	seen := map[int64]bool{}
	for {
		now := e.clock.Now()
		today := now.In(e.cfg.Location).Format("2006-01-02")
		due, err := e.store.DueSubscriptions(ctx, today, now, renewBatch)
		if err != nil {
			return rep, fmt.Errorf("reading due renewals: %w", err)
		}
		progress := false
		for _, s := range due {
			if seen[s.ID] {
				continue
			}
			seen[s.ID], progress = true, true
			if err := e.renewOne(ctx, s, &rep); err != nil {
				if ctx.Err() != nil {
					return rep, ctx.Err()
				}
				e.log.Error("renewal failed; retried on the next pass", "subscription", s.ID, "err", err)
			}
		}
		if !progress {
			return rep, nil
		}
	}
}

// remind texts the reminders due today.
func (e *Engine) remind(ctx context.Context, rep *RenewalReport) error {
	days := e.subRules().ReminderDays
	if days == 0 {
		return nil
	}
	now := e.clock.Now()
	local := now.In(e.cfg.Location)
	today := local.Format("2006-01-02")
	until := time.Date(local.Year(), local.Month(), local.Day()+days, 0, 0, 0, 0, e.cfg.Location).Format("2006-01-02")
	for {
		due, err := e.store.DueReminders(ctx, today, until, renewBatch)
		if err != nil {
			return fmt.Errorf("reading due reminders: %w", err)
		}
		for _, d := range due {
			err := e.store.InTx(ctx, func(tx Tx) error {
				s, err := tx.LockSubscription(ctx, d.ID)
				if err != nil {
					return err
				}
				if s.Status != SubscriptionActive || s.RemindedFor == s.NextRenewal {
					return nil
				}
				s.RemindedFor, s.UpdatedAt = s.NextRenewal, now
				if err := tx.SaveSubscription(ctx, s); err != nil {
					return err
				}
				rep.Reminded++
				return e.notify(ctx, tx, Event{Kind: EventRenewalReminder, Channel: ChannelSubscription, MSISDN: s.MSISDN, Subscriptions: []Subscription{s}})
			})
			if err != nil {
				return fmt.Errorf("reminding subscription %d: %w", d.ID, err)
			}
		}
		if len(due) < renewBatch {
			return nil
		}
	}
}

// TransientRenewal reports reasons that say "not now" rather than "no":
// the attempt is retried soon and not counted as a failure, and the
// subscriber is not texted about it (sms texts skip them for renewals).
func TransientRenewal(r Reason) bool {
	switch r {
	case ReasonTooFrequent, ReasonServiceBusy, ReasonTooManyPending, ReasonExpired, ReasonCancelled, ReasonNoSubscription:
		return true
	}
	return false
}

// maxDeferrals bounds the transient refusals of one period: past it they
// count as failures.
const maxDeferrals = 48

// renewOne makes (or finds) the attempt's order and charges it.
func (e *Engine) renewOne(ctx context.Context, s Subscription, rep *RenewalReport) error {
	key := renewalKey(s.ID, s.NextRenewal, s.Attempts)
	src := Source{Channel: ChannelSubscription}
	res, err := e.Purchase(ctx, PurchaseRequest{Source: src, MSISDN: s.MSISDN, Merchant: s.Merchant, Product: s.Product,
		Method: s.Method, IdempotencyKey: key, NoPrompt: true})
	if err != nil {
		return fmt.Errorf("renewal order %s: %w", key, err)
	}
	if res.Outcome == OutcomeRejected { // refused before any order: the limits' pre-check, the catalog, the rules
		if !TransientRenewal(res.Reason) {
			rep.add(s, 0, OutcomeRejected, res.Reason)
		}
		return e.renewalFailed(ctx, s, res.Reason, true, rep)
	}
	o := res.Order
	switch o.Status {
	case OrderPaid, OrderRefunded:
		rep.Renewed++ // paid by an earlier pass: subscriptionPaid moved it on
		return nil
	case OrderCharging, OrderHeld:
		rep.Pending++ // the recovery sweep resolves it, or an operator a risk hold
		return nil
	case OrderFailed, OrderExpired, OrderVoided:
		if !TransientRenewal(o.Reason) {
			rep.add(s, o.ID, OutcomeRejected, o.Reason)
		}
		return e.renewalFailed(ctx, s, o.Reason, true, rep)
	}
	cr, err := e.Charge(ctx, ChargeRequest{Source: src, OrderID: o.ID})
	if errors.Is(err, ErrNotCancellable) { // another pass charged it meanwhile
		rep.Pending++
		return nil
	}
	if err != nil {
		return fmt.Errorf("charging renewal %s: %w", key, err)
	}
	if cr.Outcome != OutcomeRejected || !TransientRenewal(cr.Reason) {
		rep.add(s, o.ID, cr.Outcome, cr.Reason)
	}
	switch cr.Outcome {
	case OutcomeCharged:
		rep.Renewed++
		e.log.Info("renewed", "subscription", s.ID, "msisdn", redact.Phone(s.MSISDN), "period", s.NextRenewal)
		return nil
	case OutcomePending, OutcomeHeld: // recovery, or an operator's review, decides
		rep.Pending++
		return nil
	}
	final := cr.Order == nil || cr.Order.Status != OrderPending
	return e.renewalFailed(ctx, s, cr.Reason, final, rep)
}

// renewalFailed records a refused attempt of s, once per attempt number.
// A transient refusal defers the attempt (a fresh order when the refused
// one is final). Any other refusal counts a failure: the next attempt
// waits RetryEvery, and at MaxFailures the subscription lapses and the
// subscriber is told. The refusal itself was texted by the engine.
func (e *Engine) renewalFailed(ctx context.Context, s Subscription, reason Reason, orderFinal bool, rep *RenewalReport) error {
	if reason == "" {
		reason = ReasonChargeFailed
	}
	rules := e.subRules()
	return e.store.InTx(ctx, func(tx Tx) error {
		now := e.clock.Now()
		cur, err := tx.LockSubscription(ctx, s.ID)
		if err != nil {
			return fmt.Errorf("locking subscription %d: %w", s.ID, err)
		}
		if cur.Status != SubscriptionActive || cur.NextRenewal != s.NextRenewal || cur.Attempts != s.Attempts {
			return nil // another pass recorded it
		}
		if orderFinal {
			cur.Attempts++ // the attempt's order is spent: the next one gets a new key
		}
		cur.UpdatedAt = now
		if TransientRenewal(reason) && cur.Attempts-cur.Failures <= maxDeferrals {
			cur.NextAttemptAt = now.Add(max(e.cfg.CodeValidity, time.Minute))
			rep.Deferred++
			return tx.SaveSubscription(ctx, cur)
		}
		cur.Failures++
		cur.NextAttemptAt = now.Add(rules.RetryEvery)
		if cur.Failures < rules.MaxFailures {
			rep.Failed++
			return tx.SaveSubscription(ctx, cur)
		}
		cur.Status, cur.EndedAt, cur.EndReason = SubscriptionLapsed, now, string(reason)
		rep.Lapsed++
		e.log.Info("subscription lapsed", "subscription", cur.ID, "msisdn", redact.Phone(cur.MSISDN), "reason", string(reason))
		if err := tx.SaveSubscription(ctx, cur); err != nil {
			return err
		}
		return e.notify(ctx, tx, Event{Kind: EventSubscriptionLapsed, Channel: ChannelSubscription, MSISDN: cur.MSISDN, Reason: reason, Subscriptions: []Subscription{cur}})
	})
}

// SubscriptionsOfMerchant returns merchant's subscriptions (msisdn "" =
// all), newest first (the merchant API and the operator).
func (e *Engine) SubscriptionsOfMerchant(ctx context.Context, merchant, msisdn string, limit int) ([]Subscription, error) {
	subs, err := e.store.SubscriptionsByMerchant(ctx, merchant, msisdn, limit)
	if err != nil {
		return nil, fmt.Errorf("reading the subscriptions of merchant %s: %w", merchant, err)
	}
	sort.SliceStable(subs, func(i, j int) bool { return subs[i].ID > subs[j].ID })
	return subs, nil
}

// SubscriptionOfMerchant returns merchant's subscription id (ErrNotFound
// when there is none, or it is another merchant's).
func (e *Engine) SubscriptionOfMerchant(ctx context.Context, merchant string, id int64) (Subscription, error) {
	var s Subscription
	err := e.store.InTx(ctx, func(tx Tx) error {
		var err error
		s, err = tx.LockSubscription(ctx, id)
		return err
	})
	if err == nil && s.Merchant != merchant {
		err = ErrNotFound
	}
	if err != nil {
		return Subscription{}, fmt.Errorf("reading subscription %d: %w", id, err)
	}
	return s, nil
}

// ActiveSubscriptions returns msisdn's active subscriptions (merchant ""
// = all), oldest first, with their merchants' names: a read with no
// effect (USSD menu 6 lists them on screen; SMS 0000 is Subscriptions).
func (e *Engine) ActiveSubscriptions(ctx context.Context, msisdn, merchant string) ([]Subscription, error) {
	var subs []Subscription
	err := e.store.InTx(ctx, func(tx Tx) error {
		var err error
		subs, err = tx.ActiveSubscriptions(ctx, msisdn, merchant)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("reading the subscriptions of %s: %w", redact.Phone(msisdn), err)
	}
	ev := Event{Subscriptions: subs}
	e.nameSubscriptions(&ev)
	return ev.Subscriptions, nil
}
