package ops

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/clock"
	"github.com/carrierbill/carrierbill/smpp"
)

// Operator is what an operator does to a gateway, shared by the CLI
// (carrierbill lookup, account …), the admin API and the console: look up
// orders and payments, refund, manage phone accounts, suspend and resume
// binds, change the log level, and act as a phone. A nil dependency
// switches its part off (ErrUnavailable).
type Operator struct {
	Engine  *billing.Engine
	Search  billing.OrderSearcher
	Backlog billing.BacklogReader
	// Accounts and AccountStatus are the built-in phone accounts.
	Accounts      Accounts
	AccountStatus billing.AccountStatusStore
	// Binds is the running SMPP client (nil in a CLI process).
	Binds Binds
	// LogLevel is the running logger's level.
	LogLevel *slog.LevelVar
	// Phone hands an MO to the SMS channel as if a subscriber sent it
	// (the console's phone simulator); MTs reads what was written back.
	Phone PhoneMO
	MTs   billing.MTReader
	// Normalize turns what an operator typed into the canonical number.
	Normalize func(raw string) (string, error)
	Clock     clock.Clock
	Log       *slog.Logger
}

// Accounts is the built-in phone-account charger as an operator uses it.
type Accounts interface {
	Open(ctx context.Context, s billing.Subscriber) error
	Get(ctx context.Context, msisdn string) (billing.Subscriber, error)
	TopUp(ctx context.Context, key, msisdn string, amount billing.Money) (billing.Subscriber, error)
}

// Binds is the SMPP client as an operator uses it.
type Binds interface {
	Stats() []smpp.BindStats
	Suspend(name string) (bool, error)
	Resume(name string) (bool, error)
}

// PhoneMO takes an MO as the SMS channel does (sms.Channel.Accept).
type PhoneMO func(ctx context.Context, mo billing.InboundMO) error

// ErrUnavailable: the part of the operator API asked for is not wired in
// this process (no SMPP client in a CLI, no phone accounts configured).
var ErrUnavailable = errors.New("ops: not available here")

func (o *Operator) log() *slog.Logger {
	if o.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return o.Log
}

func (o *Operator) now() time.Time {
	if o.Clock == nil {
		return time.Now()
	}
	return o.Clock.Now()
}

func (o *Operator) number(raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return "", errors.Join(billing.ErrBadRequest, errors.New("a phone number is required"))
	}
	if o.Normalize == nil {
		return raw, nil
	}
	n, err := o.Normalize(raw)
	if err != nil {
		return "", errors.Join(billing.ErrBadRequest, fmt.Errorf("%q is not a phone number: %w", raw, err))
	}
	return n, nil
}

// SearchQuery is what an operator types: one of an order id, a
// transaction id, a merchant reference, or a number (whole or masked).
type SearchQuery struct {
	Order, Txn    int64
	Merchant, Ref string
	Number        string // whole ("13800000001", "+8613800000001") or masked ("138****0001")
	Limit         int
}

// FindOrders searches orders and payments.
func (o *Operator) FindOrders(ctx context.Context, q SearchQuery) ([]billing.OrderHit, error) {
	if o.Search == nil {
		return nil, ErrUnavailable
	}
	bq := billing.OrderQuery{OrderID: q.Order, ChargeID: q.Txn, Merchant: q.Merchant, MerchantRef: q.Ref, Limit: q.Limit}
	if q.Number != "" && q.Order == 0 && q.Txn == 0 && q.Ref == "" {
		if strings.Contains(q.Number, "*") {
			bq.Mask = q.Number
		} else {
			n, err := o.number(q.Number)
			if err != nil {
				return nil, err
			}
			bq.MSISDN = n
		}
	}
	hits, err := o.Search.SearchOrders(ctx, bq)
	if errors.Is(err, billing.ErrBadMask) {
		err = errors.Join(billing.ErrBadRequest, err)
	}
	return hits, err
}

// Order returns one order in full (its charge, refunds and MTs' delivery).
func (o *Operator) Order(ctx context.Context, id int64) (billing.OrderView, error) {
	if o.Engine == nil {
		return billing.OrderView{}, ErrUnavailable
	}
	return o.Engine.Lookup(ctx, billing.LookupRequest{OrderID: id})
}

// RefundRequest is an operator's refund.
type RefundRequest struct {
	Order  int64
	Txn    int64         // or the transaction id of the receipt
	Amount billing.Money // 0: everything not refunded yet
	Reason string
	// Key makes a retried refund answer the first one; default
	// "refund:<order>" (as `carrierbill refund`) for a whole refund,
	// "refund:<order>:<amount>:<reason>" for a part.
	Key string
}

// Refund refunds an order (or its transaction) with a reason.
func (o *Operator) Refund(ctx context.Context, r RefundRequest) (billing.Refund, billing.OrderView, error) {
	if o.Engine == nil {
		return billing.Refund{}, billing.OrderView{}, ErrUnavailable
	}
	if strings.TrimSpace(r.Reason) == "" {
		return billing.Refund{}, billing.OrderView{}, errors.Join(billing.ErrBadRequest, errors.New("a refund needs a reason"))
	}
	if r.Order == 0 && r.Txn != 0 {
		hits, err := o.FindOrders(ctx, SearchQuery{Txn: r.Txn, Limit: 1})
		if err != nil {
			return billing.Refund{}, billing.OrderView{}, err
		}
		if len(hits) == 0 {
			return billing.Refund{}, billing.OrderView{}, fmt.Errorf("no transaction %d: %w", r.Txn, billing.ErrNotFound)
		}
		r.Order = hits[0].OrderID
	}
	if r.Order == 0 {
		return billing.Refund{}, billing.OrderView{}, errors.Join(billing.ErrBadRequest, errors.New("give the order or the transaction to refund"))
	}
	if r.Key == "" { // as `carrierbill refund`: a whole refund is one, however often asked
		r.Key = "refund:" + strconv.FormatInt(r.Order, 10)
		if r.Amount != 0 {
			r.Key += ":" + strconv.FormatInt(int64(r.Amount), 10) + ":" + r.Reason
		}
	}
	ref, err := o.Engine.Refund(ctx, billing.RefundRequest{Source: billing.Source{Channel: billing.ChannelOperator},
		OrderID: r.Order, Amount: r.Amount, Reason: r.Reason, IdempotencyKey: r.Key})
	if err != nil {
		return billing.Refund{}, billing.OrderView{}, fmt.Errorf("refunding order %d: %w", r.Order, err)
	}
	o.log().Info("operator refund", "order", r.Order, "refund", ref.ID, "amount", ref.Amount.String(), "reason", r.Reason)
	v, err := o.Order(ctx, r.Order)
	return ref, v, err
}

// Account returns a phone account.
func (o *Operator) Account(ctx context.Context, raw string) (billing.Subscriber, error) {
	if o.Accounts == nil {
		return billing.Subscriber{}, ErrUnavailable
	}
	n, err := o.number(raw)
	if err != nil {
		return billing.Subscriber{}, err
	}
	return o.Accounts.Get(ctx, n)
}

// OpenAccount opens a phone account: prepaid with a balance, or postpaid
// with a credit limit. An existing account is refused (ErrAccountExists):
// opening never overwrites a balance.
func (o *Operator) OpenAccount(ctx context.Context, raw string, plan billing.Plan, balance, creditLimit billing.Money) (billing.Subscriber, error) {
	if o.Accounts == nil {
		return billing.Subscriber{}, ErrUnavailable
	}
	n, err := o.number(raw)
	if err != nil {
		return billing.Subscriber{}, err
	}
	if plan != billing.Prepaid && plan != billing.Postpaid {
		return billing.Subscriber{}, errors.Join(billing.ErrBadRequest, fmt.Errorf("plan %q: want prepaid or postpaid", plan))
	}
	if balance < 0 || creditLimit < 0 {
		return billing.Subscriber{}, errors.Join(billing.ErrBadRequest, errors.New("amounts must not be negative"))
	}
	if _, err := o.Accounts.Get(ctx, n); err == nil {
		return billing.Subscriber{}, ErrAccountExists
	} else if !errors.Is(err, billing.ErrNotFound) {
		return billing.Subscriber{}, err
	}
	s := billing.Subscriber{MSISDN: n, Plan: plan}
	if plan == billing.Prepaid {
		s.Balance = balance
	} else {
		s.CreditLimit = creditLimit
	}
	if err := o.Accounts.Open(ctx, s); err != nil {
		return billing.Subscriber{}, err
	}
	o.log().Info("operator opened a phone account", "plan", string(plan))
	return o.Accounts.Get(ctx, n)
}

// ErrAccountExists: open of a number that has an account.
var ErrAccountExists = errors.New("ops: the number already has an account (use topup, suspend or resume)")

// TopUp adds to a prepaid balance under key (the same key twice adds once).
func (o *Operator) TopUp(ctx context.Context, raw string, amount billing.Money, key string) (billing.Subscriber, error) {
	if o.Accounts == nil {
		return billing.Subscriber{}, ErrUnavailable
	}
	n, err := o.number(raw)
	if err != nil {
		return billing.Subscriber{}, err
	}
	return o.Accounts.TopUp(ctx, key, n, amount)
}

// SetSuspended suspends or resumes a phone account.
func (o *Operator) SetSuspended(ctx context.Context, raw string, suspended bool) (billing.Subscriber, error) {
	if o.AccountStatus == nil || o.Accounts == nil {
		return billing.Subscriber{}, ErrUnavailable
	}
	n, err := o.number(raw)
	if err != nil {
		return billing.Subscriber{}, err
	}
	if err := o.AccountStatus.SetAccountSuspended(ctx, n, suspended); err != nil {
		return billing.Subscriber{}, fmt.Errorf("changing the account status: %w", err)
	}
	o.log().Info("operator changed a phone account's status", "suspended", suspended)
	return o.Accounts.Get(ctx, n)
}

// SetBind suspends (on false) or resumes (on true) the bind name.
func (o *Operator) SetBind(name string, on bool) (changed bool, err error) {
	if o.Binds == nil {
		return false, ErrUnavailable
	}
	if on {
		return o.Binds.Resume(name)
	}
	return o.Binds.Suspend(name)
}

// SetLogLevel changes the running logger's level (debug, info, warn,
// error) and returns the level before.
func (o *Operator) SetLogLevel(level string) (before string, err error) {
	if o.LogLevel == nil {
		return "", ErrUnavailable
	}
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return "", errors.Join(billing.ErrBadRequest, fmt.Errorf("log level %q: want debug, info, warn or error", level))
	}
	before = strings.ToLower(o.LogLevel.Level().String())
	o.LogLevel.Set(l)
	o.log().Warn("log level changed by the operator", "from", before, "to", strings.ToLower(l.String()))
	return before, nil
}

// Status is the console's live view.
type Status struct {
	Time     time.Time         `json:"time"`
	Binds    []smpp.BindStats  `json:"binds"`
	Backlog  *billing.Backlog  `json:"backlog,omitempty"`
	Error    string            `json:"error,omitempty"`
	LogLevel string            `json:"log_level,omitempty"`
	Counters map[string]uint64 `json:"counters,omitempty"`
}

// Status reads the binds and the backlog now.
func (o *Operator) Status(ctx context.Context) Status {
	s := Status{Time: o.now()}
	if o.Binds != nil {
		s.Binds = o.Binds.Stats()
	}
	if o.Backlog != nil {
		b, err := o.Backlog.Backlog(ctx, o.now())
		if err != nil {
			s.Error = err.Error()
		} else {
			s.Backlog = &b
		}
	}
	if o.LogLevel != nil {
		s.LogLevel = strings.ToLower(o.LogLevel.Level().String())
	}
	return s
}

// PhoneResult is what the phone simulator shows after sending an MO.
type PhoneResult struct {
	MSISDN string              `json:"msisdn"`
	MTs    []billing.OutboxMsg `json:"mts"`
}

// SendAsPhone stores an MO from raw to the service address to, as if the
// subscriber sent it (it is handled like any other, and real MTs go back
// to that number), then waits up to wait for the answers written since.
func (o *Operator) SendAsPhone(ctx context.Context, raw, to, text string, wait time.Duration) (PhoneResult, error) {
	if o.Phone == nil || o.MTs == nil {
		return PhoneResult{}, ErrUnavailable
	}
	n, err := o.number(raw)
	if err != nil {
		return PhoneResult{}, err
	}
	if strings.TrimSpace(to) == "" || strings.TrimSpace(text) == "" {
		return PhoneResult{}, errors.Join(billing.ErrBadRequest, errors.New("the service address and the text are required"))
	}
	since := o.now().Add(-time.Millisecond)
	if err := o.Phone(ctx, billing.InboundMO{Bind: "console", MSISDN: n, ServiceAddr: to, Body: text, ReceivedAt: o.now()}); err != nil {
		return PhoneResult{}, fmt.Errorf("storing the MO: %w", err)
	}
	res := PhoneResult{MSISDN: n}
	deadline := time.Now().Add(wait)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		mts, err := o.MTs.MTsTo(ctx, n, since, 20)
		if err != nil {
			return res, err
		}
		res.MTs = mts
		if len(mts) > 0 || time.Now().After(deadline) {
			return res, nil
		}
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-tick.C:
		}
	}
}

// PhoneInbox returns the MTs written to raw since since.
func (o *Operator) PhoneInbox(ctx context.Context, raw string, since time.Time) (PhoneResult, error) {
	if o.MTs == nil {
		return PhoneResult{}, ErrUnavailable
	}
	n, err := o.number(raw)
	if err != nil {
		return PhoneResult{}, err
	}
	mts, err := o.MTs.MTsTo(ctx, n, since, 50)
	return PhoneResult{MSISDN: n, MTs: mts}, err
}
