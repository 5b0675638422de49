package billing

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
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
	// Codes is the source of confirmation codes; nil means crypto/rand.
	// Replay seeds it to reproduce a trace's codes.
	Codes io.Reader
	// Workers is how many MOs Run processes at once (default 8).
	Workers int
	// Lease is how long a claimed MO or a recovery pass stays leased
	// (default 1 minute).
	Lease time.Duration
	// Poll is how often Run looks for new work when idle (default 50 ms).
	Poll time.Duration

	// Bank-card payments (all optional; CardCharger switches them on and
	// then needs Hasher and Sealer, and a Store whose Tx is a CardPayTx).
	// CardCharger debits cards (bank.NewCharger); the engine picks the
	// charger by the method of the order, also in Recover and Refund.
	CardCharger Charger
	// CardBank answers YE (the default card's balance); nil: YE is refused
	// with service_busy.
	CardBank CardBalancer
	// Hasher verifies and sets wallet passwords.
	Hasher *wallet.Hasher
	// Sealer seals the original text of an MO that carries a password.
	// Without it such an MO is still redacted before it is stored, and its
	// password is lost.
	Sealer *wallet.Sealer
}

// MaxMOAttempts is how many times Run tries an MO before it gives up on it
// (logged as an error and marked processed) so that one bad MO does not
// block its number's later MOs.
const MaxMOAttempts = 10

// Engine is the billing engine every channel drives.
type Engine struct {
	cfg     Config
	store   Store
	charger Charger
	limiter Limiter
	clock   clock.Clock
	log     *slog.Logger
	workers int
	lease   time.Duration
	poll    time.Duration

	codesMu sync.Mutex
	codes   io.Reader

	wake chan struct{}

	cardCharger Charger
	cardBank    CardBalancer
	hasher      *wallet.Hasher
	sealer      *wallet.Sealer
}

// NewEngine validates o.Config and returns an engine.
func NewEngine(o Options) (*Engine, error) {
	if err := o.Config.Validate(); err != nil {
		return nil, fmt.Errorf("billing configuration: %w", err)
	}
	if o.Store == nil || o.Charger == nil || o.Limiter == nil || o.Clock == nil {
		return nil, errors.New("billing: NewEngine needs a Store, a Charger, a Limiter and a Clock")
	}
	e := &Engine{
		cfg: o.Config, store: o.Store, charger: o.Charger, limiter: o.Limiter, clock: o.Clock,
		log: o.Logger, workers: o.Workers, lease: o.Lease, poll: o.Poll, codes: o.Codes,
		wake:        make(chan struct{}, 1),
		cardCharger: o.CardCharger, cardBank: o.CardBank, hasher: o.Hasher, sealer: o.Sealer,
	}
	if o.CardCharger != nil {
		if o.Hasher == nil || o.Sealer == nil {
			return nil, errors.New("billing: card payments (CardCharger) need a Hasher and a Sealer")
		}
		if _, ok := o.Store.(SealedMOStore); !ok {
			return nil, errors.New("billing: card payments need a store that keeps sealed MOs")
		}
	}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	if e.workers <= 0 {
		e.workers = 8
	}
	if e.lease <= 0 {
		e.lease = time.Minute
	}
	if e.poll <= 0 {
		e.poll = 50 * time.Millisecond
	}
	if e.codes == nil {
		e.codes = rand.Reader
	}
	return e, nil
}

// Config returns the engine's configuration.
func (e *Engine) Config() Config { return e.cfg }

// Outcome says what handling an MO did.
type Outcome string

// Outcomes of Process, Purchase and Confirm.
const (
	OutcomePrompted Outcome = "prompted" // a new order and its prompt
	OutcomeResent   Outcome = "resent"   // the pending order's prompt again
	OutcomeCharged  Outcome = "charged"  // paid, receipt written
	OutcomePending  Outcome = "pending"  // debit outcome unknown: the recovery sweep resolves it
	OutcomeRejected Outcome = "rejected" // refused with Reason, nothing charged
	OutcomeQueried  Outcome = "queried"  // CX answered
)

// Result is what handling one MO did: the replay output and tests read it.
type Result struct {
	Outcome  Outcome
	Reason   Reason // when rejected
	OrderID  int64
	ChargeID int64
}

// Accept durably stores an MO in the inbox. It is all the SMPP consumer
// does before acknowledging: nil means stored (ack ESME_ROK), an error means
// not stored (answer 0x64 so the SMSC redelivers). A leading '+' of the
// number is dropped.
func (e *Engine) Accept(ctx context.Context, mo InboundMO) error {
	mo.MSISDN = strings.TrimPrefix(strings.TrimSpace(mo.MSISDN), "+")
	if mo.ReceivedAt.IsZero() {
		mo.ReceivedAt = e.clock.Now()
	}
	// A wallet password is never stored in clear (DESIGN.md §4.7).
	mo, err := e.redactMO(mo)
	if err != nil {
		return fmt.Errorf("sealing MO from %s: %w", redact.Phone(mo.MSISDN), err)
	}
	if ss, ok := e.store.(SealedMOStore); ok && len(mo.Sealed) > 0 {
		_, err = ss.InsertSealedMO(ctx, mo)
	} else {
		mo.Sealed = nil
		_, err = e.store.InsertMO(ctx, mo)
	}
	if err != nil {
		return fmt.Errorf("storing MO from %s: %w", redact.Phone(mo.MSISDN), err)
	}
	select {
	case e.wake <- struct{}{}:
	default:
	}
	return nil
}

// HandleMO is Accept followed by Drain: the synchronous path of replay and
// tests. It returns the results of every MO it processed, the given one
// included, in processing order.
func (e *Engine) HandleMO(ctx context.Context, mo InboundMO) ([]Result, error) {
	if err := e.Accept(ctx, mo); err != nil {
		return nil, err
	}
	return e.Drain(ctx)
}

// Drain processes claimable MOs one at a time until none is left and
// returns the results. MOs of one number are processed in arrival order.
func (e *Engine) Drain(ctx context.Context) ([]Result, error) {
	var out []Result
	for {
		now := e.clock.Now()
		mos, err := e.store.ClaimMOs(ctx, now, now.Add(e.lease), 1)
		if err != nil {
			return out, fmt.Errorf("claiming MOs: %w", err)
		}
		if len(mos) == 0 {
			return out, nil
		}
		r, err := e.Process(ctx, mos[0])
		if err != nil {
			_ = e.store.ReleaseMO(ctx, mos[0].ID, e.clock.Now())
			return out, err
		}
		out = append(out, r)
	}
}

// Run processes stored MOs with Workers goroutines until ctx ends, and
// runs the expiry and recovery sweeps every sweep interval. It returns
// after every goroutine it started has stopped; in-flight MOs finish first
// (their context is not the cancelled one).
func (e *Engine) Run(ctx context.Context, sweepEvery time.Duration) error {
	if sweepEvery <= 0 {
		sweepEvery = 5 * time.Second
	}
	jobs := make(chan InboundMO)
	var wg sync.WaitGroup
	for range e.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for mo := range jobs {
				// Finish what was claimed even when shutting down.
				wctx := context.WithoutCancel(ctx)
				if _, err := e.Process(wctx, mo); err != nil {
					if mo.Attempts >= MaxMOAttempts {
						// A poison MO must not block its number's queue forever.
						e.log.Error("giving up on MO", "mo", mo.ID, "msisdn", redact.Phone(mo.MSISDN), "attempts", mo.Attempts, "err", err)
						if ss, ok := e.store.(SealedMOStore); ok { // drop a sealed password with it
							mo.Sealed, _ = ss.SealedMO(wctx, mo.ID)
						}
						if err := e.store.InTx(wctx, func(tx Tx) error { return markMO(wctx, tx, mo, e.clock.Now()) }); err == nil {
							continue
						}
					}
					e.log.Error("processing MO failed; retried later", "mo", mo.ID, "msisdn", redact.Phone(mo.MSISDN), "err", err)
					backoff := min(time.Duration(mo.Attempts)*time.Second, time.Minute)
					if err := e.store.ReleaseMO(wctx, mo.ID, e.clock.Now().Add(backoff)); err != nil {
						e.log.Error("releasing MO failed", "mo", mo.ID, "err", err)
					}
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(sweepEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if _, err := e.ExpireOrders(ctx); err != nil && ctx.Err() == nil {
				e.log.Error("expiry sweep failed", "err", err)
			}
			if _, err := e.Recover(ctx); err != nil && ctx.Err() == nil {
				e.log.Error("recovery sweep failed", "err", err)
			}
			if ss, ok := e.store.(SecretScrubber); ok {
				if _, err := ss.ScrubSentSecrets(ctx); err != nil && ctx.Err() == nil {
					e.log.Error("scrubbing sent secret MTs failed", "err", err)
				}
			}
		}
	}()
	poll := time.NewTimer(0)
	defer poll.Stop()
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-poll.C:
		case <-e.wake:
		}
		for {
			now := e.clock.Now()
			mos, err := e.store.ClaimMOs(ctx, now, now.Add(e.lease), e.workers*4)
			if err != nil {
				if ctx.Err() != nil {
					break loop
				}
				e.log.Error("claiming MOs failed", "err", err)
				break
			}
			for _, mo := range mos {
				select {
				case jobs <- mo:
				case <-ctx.Done():
					// Not handed out: give it back at once.
					_ = e.store.ReleaseMO(context.WithoutCancel(ctx), mo.ID, now)
				}
			}
			if len(mos) == 0 || ctx.Err() != nil {
				break
			}
		}
		poll.Reset(e.poll)
	}
	close(jobs)
	wg.Wait()
	return nil
}

// Process handles one stored MO and marks it processed in the same
// transaction as its effects. An MO with ID 0 is one that was never stored
// (another channel calling the engine directly, concurrency tests): it is
// handled the same way and nothing is marked. An error means nothing was committed (or, for
// a charge, only the reservation was, which recovery completes) and the MO
// should be retried.
//
// With card payments on, the wallet commands come first: YE, MM old new,
// "<code> <password>", and a purchase with a card suffix (VIP K, VIP K1234).
// An MO handed in directly (ID 0) with a password in its text is used as
// it is; a stored one was redacted by Accept and its original is unsealed
// here and dropped when the MO is marked processed.
func (e *Engine) Process(ctx context.Context, mo InboundMO) (Result, error) {
	text := e.unseal(ctx, &mo)
	if e.cardsOn() {
		if r, ok, err := e.processCard(ctx, mo, text); ok {
			return r, err
		}
	} else if w := wallet.ParseMO(text); w.Kind == wallet.MOCardConfirm {
		// No cards: the code alone confirms; the password is ignored.
		return e.confirm(ctx, mo, w.Code, "")
	}
	cmd := ParseMO(text)
	switch cmd.Kind {
	case CommandCode:
		return e.confirm(ctx, mo, cmd.Code, "")
	case CommandQuery:
		return e.query(ctx, mo)
	default:
		return e.purchase(ctx, mo, cmd, nil)
	}
}

// reject writes the reason's MT and marks the MO processed.
func (e *Engine) reject(ctx context.Context, mo InboundMO, reason Reason, orderID int64, kv ...string) (Result, error) {
	err := e.store.InTx(ctx, func(tx Tx) error {
		if err := e.enqueue(ctx, tx, mo.MSISDN, mo.ServiceAddr, OutboxReject, orderID, e.cfg.text(string(reason), kv...)); err != nil {
			return err
		}
		return markMO(ctx, tx, mo, e.clock.Now())
	})
	if err != nil {
		return Result{}, fmt.Errorf("rejecting MO %d (%s): %w", mo.ID, reason, err)
	}
	e.log.Info("rejected", "mo", mo.ID, "msisdn", redact.Phone(mo.MSISDN), "reason", string(reason))
	return Result{Outcome: OutcomeRejected, Reason: reason, OrderID: orderID}, nil
}

func (e *Engine) enqueue(ctx context.Context, tx Tx, msisdn, from string, kind OutboxKind, orderID int64, body string) error {
	now := e.clock.Now()
	_, err := tx.Enqueue(ctx, OutboxMsg{MSISDN: msisdn, ServiceAddr: from, Body: body, Kind: kind, OrderID: orderID, CreatedAt: now, NextAt: now})
	if err != nil {
		return fmt.Errorf("writing %s MT: %w", kind, err)
	}
	return nil
}

// merchantOf resolves the merchant from the address an MO was sent to.
func (e *Engine) merchantOf(addr string) (*Merchant, bool) {
	code, ok := strings.CutPrefix(addr, e.cfg.ServiceCode)
	if !ok || code == "" {
		return nil, false
	}
	return e.cfg.merchant(code)
}

func (e *Engine) catalog(m *Merchant) string {
	var parts []string
	for _, p := range m.Products {
		parts = append(parts, fmt.Sprintf("%s（%s，%s元）", p.Keyword, p.Name, p.Amount))
	}
	if m.OpenAmount {
		parts = append(parts, fmt.Sprintf("%s元至%s元的金额", m.MinAmount, m.MaxAmount))
	}
	return strings.Join(parts, "；")
}

// purchase creates (or resends) an order. card is nil for the phone
// account, else the card the purchase names.
func (e *Engine) purchase(ctx context.Context, mo InboundMO, cmd Command, card *cardChoice) (Result, error) {
	m, ok := e.merchantOf(mo.ServiceAddr)
	if !ok {
		return e.reject(ctx, mo, ReasonUnknownMerchant, 0)
	}
	var product, productName string
	var amount Money
	switch cmd.Kind {
	case CommandKeyword:
		found := false
		for _, p := range m.Products {
			if normalizeKeyword(p.Keyword) == cmd.Keyword {
				product, productName, amount, found = normalizeKeyword(p.Keyword), p.Name, p.Amount, true
				break
			}
		}
		if !found {
			return e.reject(ctx, mo, ReasonUnknownProduct, 0, "merchant", m.Name, "products", e.catalog(m))
		}
	case CommandAmount, CommandBadAmount:
		if !m.OpenAmount {
			return e.reject(ctx, mo, ReasonUnknownProduct, 0, "merchant", m.Name, "products", e.catalog(m))
		}
		if cmd.Kind == CommandBadAmount || cmd.Amount < m.MinAmount || cmd.Amount > m.MaxAmount {
			return e.reject(ctx, mo, ReasonAmountOutOfRange, 0, "min", m.MinAmount.String(), "max", m.MaxAmount.String())
		}
		amount, productName = cmd.Amount, m.Name
	default:
		return e.reject(ctx, mo, ReasonUnknownProduct, 0, "merchant", m.Name, "products", e.catalog(m))
	}
	method := MethodPhone
	if card != nil {
		method = MethodCard
	}
	if perHour := e.cfg.frequency(method).PurchasesPerHour; perHour > 0 {
		key := mo.MSISDN // card purchases are counted apart
		if method != MethodPhone {
			key = string(method) + ":" + mo.MSISDN
		}
		d, err := e.limiter.Allow(ctx, Rule{Name: "purchase_per_hour", Limit: perHour, Period: time.Hour}, key)
		if err != nil {
			e.log.Warn("limiter unavailable; refusing", "rule", "purchase_per_hour", "err", err)
			return e.reject(ctx, mo, ReasonServiceBusy, 0)
		}
		if !d.Allowed {
			return e.reject(ctx, mo, ReasonTooFrequent, 0, "retry", seconds(d.RetryAfter))
		}
	}
	lim := e.cfg.Limits[method]
	var res Result
	err := e.store.InTx(ctx, func(tx Tx) error {
		now := e.clock.Now()
		var chosen Card
		if card != nil {
			ct, err := cardTx(tx)
			if err != nil {
				return err
			}
			cards, err := ct.ActiveCards(ctx, mo.MSISDN)
			if err != nil {
				return fmt.Errorf("reading the cards: %w", err)
			}
			var ok bool
			if chosen, ok = chooseCard(cards, card.last4); !ok {
				res = Result{Outcome: OutcomeRejected, Reason: ReasonNoCard}
				if err := e.enqueue(ctx, tx, mo.MSISDN, mo.ServiceAddr, OutboxReject, 0, e.cfg.text(string(ReasonNoCard))); err != nil {
					return err
				}
				return markMO(ctx, tx, mo, now)
			}
		}
		o, err := tx.FindPendingOrder(ctx, mo.MSISDN, m.Code, product, amount, method)
		switch {
		case err == nil && o.ExpiresAt.After(now):
			res = Result{Outcome: OutcomeResent, OrderID: o.ID}
			if card != nil { // the subscriber may have named another card
				if err := tx.(CardPayTx).SetOrderCard(ctx, o.ID, chosen.ID); err != nil {
					return fmt.Errorf("choosing the card of order %d: %w", o.ID, err)
				}
			}
			if err := e.enqueue(ctx, tx, mo.MSISDN, o.ServiceAddr, OutboxPrompt, o.ID, e.promptFor(m, o, chosen)); err != nil {
				return err
			}
			return markMO(ctx, tx, mo, now)
		case err == nil: // pending but past its validity: expire it, then a new order
			if err := e.expire(ctx, tx, o, false); err != nil {
				return err
			}
		case !errors.Is(err, ErrNotFound):
			return fmt.Errorf("looking up the pending order: %w", err)
		}
		// Pre-check the limits so the subscriber learns now, not at the code.
		q, err := e.lockQuota(ctx, tx, mo.MSISDN, method, now)
		if err != nil {
			return err
		}
		if reason, kv := e.checkLimits(lim, q, amount); reason != "" {
			res = Result{Outcome: OutcomeRejected, Reason: reason}
			if err := e.enqueue(ctx, tx, mo.MSISDN, mo.ServiceAddr, OutboxReject, 0, e.cfg.text(string(reason), kv...)); err != nil {
				return err
			}
			return markMO(ctx, tx, mo, now)
		}
		code, err := e.newCode()
		if err != nil {
			return err
		}
		o = Order{
			MSISDN: mo.MSISDN, Merchant: m.Code, Product: product, ProductName: productName,
			Amount: amount, Method: method, Status: OrderPending, Code: code,
			ServiceAddr: mo.ServiceAddr, CreatedAt: now, ExpiresAt: now.Add(e.cfg.CodeValidity), UpdatedAt: now,
		}
		if o.ID, err = tx.InsertOrder(ctx, o); err != nil {
			return fmt.Errorf("creating the order: %w", err)
		}
		if card != nil {
			if err := tx.(CardPayTx).SetOrderCard(ctx, o.ID, chosen.ID); err != nil {
				return fmt.Errorf("recording the card of order %d: %w", o.ID, err)
			}
		}
		res = Result{Outcome: OutcomePrompted, OrderID: o.ID}
		if err := e.enqueue(ctx, tx, mo.MSISDN, mo.ServiceAddr, OutboxPrompt, o.ID, e.promptFor(m, o, chosen)); err != nil {
			return err
		}
		return markMO(ctx, tx, mo, now)
	})
	if err != nil {
		return Result{}, fmt.Errorf("purchase from %s: %w", redact.Phone(mo.MSISDN), err)
	}
	e.log.Info("purchase", "mo", mo.ID, "msisdn", redact.Phone(mo.MSISDN), "merchant", m.Code,
		"amount", amount.String(), "outcome", string(res.Outcome), "reason", string(res.Reason), "order", res.OrderID)
	return res, nil
}

// promptFor is the prompt of an order: the card prompt (naming the card's
// last four digits and asking for the wallet password) for a card order.
func (e *Engine) promptFor(m *Merchant, o Order, c Card) string {
	if o.Method != MethodCard {
		return e.promptText(m, o)
	}
	return e.cfg.text("card_prompt", "merchant", m.Name, "product", o.ProductName, "amount", o.Amount.String(),
		"code", o.Code, "last4", c.Last4, "validity", strconv.Itoa(int(e.cfg.CodeValidity.Round(time.Minute)/time.Minute)))
}

func (e *Engine) promptText(m *Merchant, o Order) string {
	return e.cfg.text("prompt", "merchant", m.Name, "product", o.ProductName, "amount", o.Amount.String(),
		"code", o.Code, "validity", strconv.Itoa(int(e.cfg.CodeValidity.Round(time.Minute)/time.Minute)))
}

func seconds(d time.Duration) string {
	s := int64((d + time.Second - 1) / time.Second)
	return strconv.FormatInt(max(s, 1), 10)
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
// quota q, and the placeholders of the refusal text.
func (e *Engine) checkLimits(lim Limits, q Quota, amount Money) (Reason, []string) {
	dayLeft, monthLeft := remaining(lim, q)
	kv := []string{"per_payment", lim.PerPayment.String(), "daily", lim.Daily.String(), "monthly", lim.Monthly.String(),
		"day_left", dayLeft.String(), "month_left", monthLeft.String()}
	switch {
	case amount > lim.PerPayment:
		return ReasonPerPaymentLimit, kv
	case q.DaySpent+amount > lim.Daily:
		return ReasonDailyLimit, kv
	case q.MonthSpent+amount > lim.Monthly:
		return ReasonMonthlyLimit, kv
	}
	return "", nil
}

// remaining is what can still be spent today and this month.
func remaining(lim Limits, q Quota) (day, month Money) {
	month = max(lim.Monthly-q.MonthSpent, 0)
	day = min(max(lim.Daily-q.DaySpent, 0), month)
	return day, month
}

func (e *Engine) query(ctx context.Context, mo InboundMO) (Result, error) {
	lim := e.cfg.Limits[MethodPhone]
	err := e.store.InTx(ctx, func(tx Tx) error {
		now := e.clock.Now()
		q, err := e.lockQuota(ctx, tx, mo.MSISDN, MethodPhone, now)
		if err != nil {
			return err
		}
		ps, err := tx.RecentPayments(ctx, mo.MSISDN, 5)
		if err != nil {
			return fmt.Errorf("reading the last payments: %w", err)
		}
		lines := make([]string, 0, len(ps))
		for _, p := range ps {
			name := p.Merchant
			if m, ok := e.cfg.merchant(p.Merchant); ok {
				name = m.Name
			}
			lines = append(lines, e.cfg.text("query_payment", "date", p.At.In(e.cfg.Location).Format("01-02 15:04"),
				"merchant", name, "product", p.ProductName, "amount", p.Amount.String()))
		}
		list := e.cfg.text("query_none")
		if len(lines) > 0 {
			list = strings.Join(lines, "；")
		}
		day, month := remaining(lim, q)
		body := e.cfg.text("query", "day_left", day.String(), "month_left", month.String(), "payments", list)
		if e.cardsOn() { // the bank-card quota is kept apart
			cq, err := e.lockQuota(ctx, tx, mo.MSISDN, MethodCard, now)
			if err != nil {
				return err
			}
			cday, cmonth := remaining(e.cfg.Limits[MethodCard], cq)
			body += e.cfg.text("query_card", "day_left", cday.String(), "month_left", cmonth.String())
		}
		if err := e.enqueue(ctx, tx, mo.MSISDN, mo.ServiceAddr, OutboxQuery, 0, body); err != nil {
			return err
		}
		return markMO(ctx, tx, mo, now)
	})
	if err != nil {
		return Result{}, fmt.Errorf("query from %s: %w", redact.Phone(mo.MSISDN), err)
	}
	return Result{Outcome: OutcomeQueried}, nil
}

// expire moves a pending order to expired and, if tell, writes the MT.
func (e *Engine) expire(ctx context.Context, tx Tx, o Order, tell bool) error {
	o.Status, o.Reason, o.UpdatedAt = OrderExpired, ReasonExpired, e.clock.Now()
	if err := tx.UpdateOrder(ctx, o); err != nil {
		return fmt.Errorf("expiring order %d: %w", o.ID, err)
	}
	if !tell {
		return nil
	}
	name := o.Merchant
	if m, ok := e.cfg.merchant(o.Merchant); ok {
		name = m.Name
	}
	return e.enqueue(ctx, tx, o.MSISDN, o.ServiceAddr, OutboxExpired, o.ID,
		e.cfg.text("order_expired", "merchant", name, "product", o.ProductName, "amount", o.Amount.String()))
}

// ExpireOrders expires pending orders past their validity and tells the
// subscriber. Safe to run in several processes at once. It returns how
// many it expired.
func (e *Engine) ExpireOrders(ctx context.Context) (int, error) {
	total := 0
	for {
		n := 0
		err := e.store.InTx(ctx, func(tx Tx) error {
			os, err := tx.DueOrders(ctx, e.clock.Now(), 100)
			if err != nil {
				return fmt.Errorf("finding expired orders: %w", err)
			}
			for _, o := range os {
				if err := e.expire(ctx, tx, o, true); err != nil {
					return err
				}
			}
			n = len(os)
			return nil
		})
		if err != nil {
			return total, err
		}
		total += n
		if n < 100 {
			return total, nil
		}
	}
}

func markMO(ctx context.Context, tx Tx, mo InboundMO, at time.Time) error {
	if mo.ID == 0 {
		return nil
	}
	if err := tx.MarkMOProcessed(ctx, mo.ID, at); err != nil {
		return fmt.Errorf("marking MO %d processed: %w", mo.ID, err)
	}
	if len(mo.Sealed) > 0 {
		ct, err := cardTx(tx)
		if err != nil {
			return err
		}
		if err := ct.ClearSealedMO(ctx, mo.ID); err != nil {
			return fmt.Errorf("dropping the sealed text of MO %d: %w", mo.ID, err)
		}
	}
	return nil
}
