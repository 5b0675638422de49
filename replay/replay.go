package replay

import (
	"bufio"
	"container/heap"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/clock"
	"github.com/carrierbill/carrierbill/msisdn"
	"github.com/carrierbill/carrierbill/redact"
	"github.com/carrierbill/carrierbill/risk"
	"github.com/carrierbill/carrierbill/smpp"
	"github.com/carrierbill/carrierbill/sms"
	"github.com/carrierbill/carrierbill/trace"
)

// CodePlaceholder is what a trace writes where a subscriber replied with the
// confirmation code it was given; replay puts the code of that phone's
// latest pending order in its place.
const CodePlaceholder = "{{code}}"

// PartTimeout is how long replay waits (in trace time) for the missing parts
// of a multipart MO, as the SMPP layer's default does.
const PartTimeout = 5 * time.Minute

// DefaultCreditLimit is the postpaid credit limit of accounts opened
// automatically, as the configuration's default (accounts.credit_limit).
const DefaultCreditLimit = billing.Money(10000)

// Account is a phone account opened before the replay starts (to reproduce
// a prepaid balance, a suspension, ...). Numbers not listed are opened
// automatically as postpaid accounts unless Options.NoAutoOpen is set.
type Account struct {
	MSISDN      string        `json:"msisdn"`
	Prepaid     bool          `json:"prepaid,omitempty"`
	Balance     billing.Money `json:"balance_fen,omitempty"`      // prepaid
	CreditLimit billing.Money `json:"credit_limit_fen,omitempty"` // postpaid
	Suspended   bool          `json:"suspended,omitempty"`
	// A bank card bound to the number before the first message (all
	// optional; card_pan switches them on). CardPAN is opened at the
	// simulated bank with CardBalance, bound, and the wallet password set
	// to WalletPassword (6 digits, the wallet policy), which the trace
	// writes as PasswordPlaceholder. CardState is CardOpen, CardClosed or
	// CardDecline.
	CardPAN        string        `json:"card_pan,omitempty"`
	CardBalance    billing.Money `json:"card_balance_fen,omitempty"`
	CardState      string        `json:"card_state,omitempty"`
	WalletPassword string        `json:"wallet_password,omitempty"`
}

// Options configure an offline replay.
type Options struct {
	// Config is the engine's configuration (the cmd maps --config onto it).
	Config billing.Config
	// Texts configures the SMS texts (overrides, hotline, expiry notices).
	Texts sms.TextConfig
	// Numbering normalizes every number of the trace and of Accounts to
	// the canonical form, as the gateway's SMS edge does (zero: +86).
	Numbering msisdn.Plan
	// DatabaseURL, when set, replays on PostgreSQL in a scratch schema that
	// is dropped at the end; otherwise the embedded SQLite store is used.
	DatabaseURL string
	// Dir is where the embedded store's temporary directory is made; ""
	// means /dev/shm when it exists (the store is thrown away, fsync on a
	// disk would only slow the replay down), else os.TempDir().
	Dir string
	// Seed fixes the confirmation codes.
	Seed uint64
	// Redact masks phone numbers and codes in the output.
	Redact bool
	// NoAutoOpen declines numbers without an account (unknown_subscriber)
	// instead of opening them as postpaid accounts with CreditLimit.
	NoAutoOpen bool
	// CreditLimit of automatically opened accounts; 0 is DefaultCreditLimit.
	CreditLimit billing.Money
	// Accounts are opened before the first message.
	Accounts []Account
	// RiskRules are the risk rules (issue 15) replay applies, counted in
	// the in-process Redis on the virtual clock; nil: risk.DefaultRules().
	// NoRisk replays without them (the block and allow lists, empty in a
	// throwaway store, are still checked).
	RiskRules *risk.Rules
	NoRisk    bool
	// Charger and Limiter replace the phone-account charger and the
	// embedded Redis limiter (tests of charger and limiter failures).
	Charger billing.Charger
	Limiter billing.Limiter
	// Logger receives the engine's logs; nil discards them.
	Logger *slog.Logger
}

// Event is one line of replay's output.
type Event struct {
	At        string `json:"at"`
	Kind      string `json:"kind"` // mt, charge, reject, hold, fresh_code, expire, unsubscribe
	MSISDN    string `json:"msisdn"`
	From      string `json:"from,omitempty"` // mt: the service address
	Text      string `json:"text,omitempty"` // mt
	AmountFen int64  `json:"amount_fen,omitempty"`
	Merchant  string `json:"merchant,omitempty"`
	Order     int64  `json:"order,omitempty"`
	Reason    string `json:"reason,omitempty"` // reject, hold: the stable code
}

// Summary counts what a replay did.
type Summary struct {
	Records     int // records read from the trace
	MOs         int // MO records (parts counted one by one)
	Parts       int // MO records that were parts of a multipart message
	RecordedMTs int // MT records in the trace (compared in live mode)
	Messages    int // messages handled by the engine (after reassembly)
	Incomplete  int // multipart messages whose parts never all arrived
	MTs         int
	Charges     int
	Total       billing.Money
	ByMerchant  map[string]MerchantTotal
	Rejections  map[billing.Reason]int
	Expired     int
	// Held: orders a risk rule held for an operator (each answer saying
	// so is counted in Rejections as risk_hold: nothing was charged).
	// FreshCodes: confirmations a risk rule answered with a new code
	// instead of a charge.
	Held       int
	FreshCodes int
	Unresolved int            // charges whose outcome the charger did not tell (pending)
	Skipped    map[string]int // broken input skipped, by reason
	Ignored    map[string]int // input that is not a message, by what it is
}

// MerchantTotal is what one merchant charged.
type MerchantTotal struct {
	Charges int
	Amount  billing.Money
}

// WriteTo writes the summary as text, in a stable order.
func (s Summary) WriteTo(w io.Writer) (int64, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "records: %d (MO %d, of which %d parts; recorded MT %d)\n", s.Records, s.MOs, s.Parts, s.RecordedMTs)
	fmt.Fprintf(&b, "messages: %d (incomplete multipart: %d)\n", s.Messages, s.Incomplete)
	fmt.Fprintf(&b, "mts: %d\n", s.MTs)
	fmt.Fprintf(&b, "charges: %d, total %s yuan (%d fen)\n", s.Charges, s.Total, s.Total.Fen())
	for _, m := range sortedKeys(s.ByMerchant) {
		t := s.ByMerchant[m]
		fmt.Fprintf(&b, "  merchant %s: %d charges, %s yuan\n", m, t.Charges, t.Amount)
	}
	rej := 0
	for _, n := range s.Rejections {
		rej += n
	}
	fmt.Fprintf(&b, "rejections: %d\n", rej)
	for _, r := range billing.Reasons {
		if n := s.Rejections[r]; n > 0 {
			fmt.Fprintf(&b, "  %s: %d\n", r, n)
		}
	}
	fmt.Fprintf(&b, "expired: %d\n", s.Expired)
	if s.Held > 0 || s.FreshCodes > 0 {
		fmt.Fprintf(&b, "risk: %d orders held, %d fresh codes\n", s.Held, s.FreshCodes)
	}
	if s.Unresolved > 0 {
		fmt.Fprintf(&b, "charges with an unknown outcome: %d\n", s.Unresolved)
	}
	skipped := 0
	for _, n := range s.Skipped {
		skipped += n
	}
	fmt.Fprintf(&b, "skipped input: %d\n", skipped)
	for _, k := range sortedKeys(s.Skipped) {
		fmt.Fprintf(&b, "  %s: %d\n", k, s.Skipped[k])
	}
	n, err := io.WriteString(w, b.String())
	return int64(n), err
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Run replays the MOs of r offline through a throwaway engine and writes one
// JSON line per event to out. It returns the summary; an error means the
// replay stopped (a strict-mode parse error carries its position).
func Run(ctx context.Context, r trace.Reader, out io.Writer, o Options) (Summary, error) {
	return run(ctx, r, out, o, nil)
}

// run is Run; after, when set, sees the throwaway store once the trace
// is played and before it is removed (tests read the risk decisions).
func run(ctx context.Context, r trace.Reader, out io.Writer, o Options, after func(*env) error) (Summary, error) {
	env, err := openEnv(ctx, o)
	if err != nil {
		return Summary{}, err
	}
	defer env.close()
	p := newPlayer(env, out, o)
	err = p.run(ctx, r)
	if ferr := p.w.Flush(); err == nil && ferr != nil {
		err = fmt.Errorf("writing the output: %w", ferr)
	}
	st := r.Stats()
	p.sum.Skipped, p.sum.Ignored = st.Skipped, st.Ignored
	if err == nil && after != nil {
		err = after(env)
	}
	return p.sum, err
}

// recorder is the Sender of offline replay: it keeps what the dispatcher sent.
type recorder struct {
	mu   sync.Mutex
	sent []billing.OutboundSMS
}

func (r *recorder) Send(_ context.Context, m billing.OutboundSMS) ([]billing.SentPart, error) {
	r.mu.Lock()
	r.sent = append(r.sent, m)
	r.mu.Unlock()
	return nil, nil // offline: no SMSC, no message ids
}

func (r *recorder) take() []billing.OutboundSMS {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.sent
	r.sent = nil
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

type pendingOrder struct {
	id      int64
	msisdn  string
	expires time.Time
}

type expiryHeap []pendingOrder

func (h expiryHeap) Len() int { return len(h) }
func (h expiryHeap) Less(i, j int) bool {
	if !h[i].expires.Equal(h[j].expires) {
		return h[i].expires.Before(h[j].expires)
	}
	return h[i].id < h[j].id
}
func (h expiryHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)   { *h = append(*h, x.(pendingOrder)) }
func (h *expiryHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

type player struct {
	env     *env
	o       Options
	w       *bufio.Writer
	enc     *json.Encoder
	sum     Summary
	join    *joiner
	started bool
	// nextRenewal is the virtual instant of the next renewal pass.
	nextRenewal time.Time
	expiry      expiryHeap
	tracked     map[int64]bool     // orders in expiry
	closed      map[int64]bool     // orders known to be no longer pending
	latest      map[string][]int64 // phone → orders prompted, oldest first (pruned)
	held        map[int64]bool     // orders a risk rule held
}

func newPlayer(env *env, out io.Writer, o Options) *player {
	w := bufio.NewWriterSize(out, 64<<10)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return &player{
		env: env, o: o, w: w, enc: enc,
		join:    newJoiner(env.log),
		tracked: map[int64]bool{}, closed: map[int64]bool{}, latest: map[string][]int64{}, held: map[int64]bool{},
		sum: Summary{ByMerchant: map[string]MerchantTotal{}, Rejections: map[billing.Reason]int{}},
	}
}

func (p *player) run(ctx context.Context, r trace.Reader) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("reading the trace: %w", err)
		}
		p.sum.Records++
		if rec.Kind == trace.MT {
			p.sum.RecordedMTs++
			continue
		}
		p.sum.MOs++
		if err := p.advance(ctx, rec.At); err != nil {
			return err
		}
		text, ok := p.join.join(rec, p.env.clock.Now())
		if !ok {
			continue
		}
		if err := p.handle(ctx, rec, text); err != nil {
			return fmt.Errorf("%s: %w", rec.Pos, err)
		}
	}
	p.sum.Parts = p.join.parts
	p.sum.Incomplete = p.join.incomplete + p.join.reasm.Pending()
	return nil
}

// advance moves virtual time to t, expiring on the way the orders whose
// code validity ends at or before t, each at its own instant. Time never
// moves back: a record older than the one before is handled at the later
// time.
func (p *player) advance(ctx context.Context, t time.Time) error {
	clk := p.env.clock
	if !p.started {
		p.started = true
		clk.Set(t)
		p.nextRenewal = nextRenewalRun(t, p.env.engine.Config().Location)
	}
	for !p.nextRenewal.After(t) {
		if err := p.expireUntil(ctx, p.nextRenewal); err != nil {
			return err
		}
		if p.nextRenewal.After(clk.Now()) {
			clk.Set(p.nextRenewal)
		}
		if err := p.renew(ctx); err != nil {
			return err
		}
		p.nextRenewal = nextRenewalRun(p.nextRenewal, p.env.engine.Config().Location)
	}
	if err := p.expireUntil(ctx, t); err != nil {
		return err
	}
	if t.After(clk.Now()) {
		clk.Set(t)
	}
	return nil
}

// RenewalHour is the hour (operator's zone) at which offline replay runs
// the subscription renewal pass each virtual day, as serve's default
// schedule (subscriptions.schedule "0 1 * * *") does.
const RenewalHour = 1

// nextRenewalRun is the first RenewalHour:00 strictly after t.
func nextRenewalRun(t time.Time, loc *time.Location) time.Time {
	l := t.In(loc)
	r := time.Date(l.Year(), l.Month(), l.Day(), RenewalHour, 0, 0, 0, loc)
	if !r.After(t) {
		r = time.Date(l.Year(), l.Month(), l.Day()+1, RenewalHour, 0, 0, 0, loc)
	}
	return r
}

// renew runs one subscription renewal pass at the clock's now and prints
// what it charged or refused.
func (p *player) renew(ctx context.Context) error {
	rep, err := p.env.engine.Renew(ctx)
	if err != nil {
		return fmt.Errorf("renewing subscriptions: %w", err)
	}
	for _, c := range rep.Charges {
		switch c.Outcome {
		case billing.OutcomeCharged:
			p.sum.Charges++
			p.sum.Total += c.Amount
			mt := p.sum.ByMerchant[c.Merchant]
			mt.Charges++
			mt.Amount += c.Amount
			p.sum.ByMerchant[c.Merchant] = mt
			p.emit(Event{Kind: "charge", MSISDN: c.MSISDN, AmountFen: c.Amount.Fen(), Merchant: c.Merchant, Order: c.OrderID})
		case billing.OutcomeRejected:
			p.sum.Rejections[c.Reason]++
			p.emit(Event{Kind: "reject", MSISDN: c.MSISDN, Order: c.OrderID, Reason: string(c.Reason)})
		case billing.OutcomePending:
			p.sum.Unresolved++
		}
	}
	return p.flushMTs(ctx)
}

// expireUntil expires, each at its own instant, the orders whose code
// validity ends at or before t.
func (p *player) expireUntil(ctx context.Context, t time.Time) error {
	clk := p.env.clock
	for len(p.expiry) > 0 && !p.expiry[0].expires.After(t) {
		at := p.expiry[0].expires
		var due []pendingOrder
		for len(p.expiry) > 0 && p.expiry[0].expires.Equal(at) {
			due = append(due, heap.Pop(&p.expiry).(pendingOrder))
		}
		open := false
		for _, d := range due {
			open = open || !p.closed[d.id]
		}
		if !open {
			// Every order due now was paid or refused: nothing to sweep.
			for _, d := range due {
				delete(p.tracked, d.id)
				delete(p.closed, d.id)
			}
			continue
		}
		if at.After(clk.Now()) {
			clk.Set(at)
		}
		if _, err := p.env.engine.ExpireOrders(ctx); err != nil {
			return fmt.Errorf("expiring orders: %w", err)
		}
		for _, d := range due {
			delete(p.tracked, d.id)
			if p.closed[d.id] {
				delete(p.closed, d.id)
				continue
			}
			o, err := p.env.order(ctx, d.id)
			if err != nil {
				return err
			}
			switch {
			case o.Status == billing.OrderExpired:
				p.sum.Expired++
				p.emit(Event{Kind: "expire", MSISDN: o.MSISDN, Merchant: o.Merchant, Order: o.ID})
			case o.Status == billing.OrderPending && o.ExpiresAt.After(at):
				// A fresh code (risk) gave it a new validity: due then.
				p.tracked[o.ID] = true
				heap.Push(&p.expiry, pendingOrder{id: o.ID, msisdn: o.MSISDN, expires: o.ExpiresAt})
			case o.Status == billing.OrderPending:
				p.env.log.Warn("replay: order still pending after its expiry sweep", "order", o.ID)
			}
		}
		if err := p.flushMTs(ctx); err != nil {
			return err
		}
	}
	return nil
}

// joiner puts multipart MOs back together through smpp.Reassembler, as the
// SMPP session does on a live link.
type joiner struct {
	reasm      *smpp.Reassembler
	log        *slog.Logger
	parts      int
	incomplete int
}

func newJoiner(log *slog.Logger) *joiner {
	return &joiner{reasm: smpp.NewReassembler(PartTimeout, 0), log: log}
}

// join returns the text of a complete message: rec's own, or the joined
// parts when rec completes a multipart message; ok is false while parts are
// missing. Parts from captures carry their raw user data and are decoded
// after joining; parts from text traces carry decoded text and are joined
// as text.
func (j *joiner) join(rec trace.Record, now time.Time) (string, bool) {
	j.incomplete += j.reasm.Expire(now)
	part, ok := rec.Part()
	if !ok || part.Total <= 1 {
		return rec.Text, true
	}
	j.parts++
	raw := rec.Payload != nil
	data := []byte(rec.Text)
	if raw {
		data = rec.Payload
		if rec.UDH != nil {
			_, ud, err := smpp.ParseUDH(rec.Payload)
			if err != nil {
				j.log.Warn("replay: part with a bad UDH skipped", "pos", rec.Pos.String(), "err", err)
				return "", false
			}
			data = ud
		}
	}
	k := smpp.PartKey{Bind: "replay", From: rec.From, To: rec.To, Ref: part.Ref, Total: int(part.Total)}
	msg, coding, done := j.reasm.Add(k, smpp.Concat{Ref: part.Ref, Total: int(part.Total), Seq: int(part.Seq)}, rec.Coding, data, now)
	if !done {
		return "", false
	}
	j.reasm.Forget(k)
	if !raw {
		return string(msg), true
	}
	text, err := smpp.DecodeText(coding, msg)
	if err != nil {
		j.log.Warn("replay: MO text decoded with errors", "pos", rec.Pos.String(), "coding", coding, "err", err)
	}
	return text, true
}

func (p *player) handle(ctx context.Context, rec trace.Record, text string) error {
	p.sum.Messages++
	phone, err := p.env.plan.Normalize(rec.From, 0, 0)
	if err != nil { // as the gateway: logged, nothing charged
		p.sum.Skipped["not a phone number"]++
		p.env.log.Warn("replay: sender is not a phone number; skipped", "pos", rec.Pos.String(), "err", err)
		return nil
	}
	text = withPassword(text, p.env.passwords, phone)
	if strings.Contains(text, CodePlaceholder) {
		code, err := p.pendingCode(ctx, phone)
		if err != nil {
			return err
		}
		if code != "" {
			text = strings.ReplaceAll(text, CodePlaceholder, code)
		}
	}
	// Replay is a channel that calls the engine directly (an MO with ID 0):
	// the same decisions as for a stored MO, without the inbox round trip
	// the SMPP path needs to acknowledge durably.
	res, err := p.env.sms.Handle(ctx, billing.InboundMO{
		Bind: "replay", MSISDN: phone, ServiceAddr: rec.To, Body: text, ReceivedAt: p.env.clock.Now(), Attempts: 1,
	})
	if err != nil {
		return fmt.Errorf("handling the MO: %w", err)
	}
	if err := p.result(ctx, phone, res); err != nil {
		return err
	}
	return p.flushMTs(ctx)
}

func (p *player) result(ctx context.Context, phone string, r billing.Result) error {
	switch r.Outcome {
	case billing.OutcomePrompted, billing.OutcomeResent:
		if p.tracked[r.OrderID] {
			if r.Outcome == billing.OutcomePrompted {
				// A right code answered with a new prompt: a risk rule
				// asked for a fresh code. The order's new expiry is
				// found when its old one falls due.
				p.sum.FreshCodes++
				p.emit(Event{Kind: "fresh_code", MSISDN: phone, Order: r.OrderID})
			}
			p.touch(phone, r.OrderID)
			return nil
		}
		o, err := p.env.order(ctx, r.OrderID)
		if err != nil {
			return err
		}
		p.tracked[o.ID] = true
		heap.Push(&p.expiry, pendingOrder{id: o.ID, msisdn: o.MSISDN, expires: o.ExpiresAt})
		p.touch(phone, o.ID)
	case billing.OutcomeCharged:
		o, err := p.env.order(ctx, r.OrderID)
		if err != nil {
			return err
		}
		p.markClosed(o.ID)
		p.sum.Charges++
		p.sum.Total += o.Amount
		mt := p.sum.ByMerchant[o.Merchant]
		mt.Charges++
		mt.Amount += o.Amount
		p.sum.ByMerchant[o.Merchant] = mt
		p.emit(Event{Kind: "charge", MSISDN: phone, AmountFen: o.Amount.Fen(), Merchant: o.Merchant, Order: o.ID})
	case billing.OutcomeHeld:
		// A risk rule held it for an operator: never charged nor expired
		// by the replay (no operator releases it here).
		p.markClosed(r.OrderID)
		if !p.held[r.OrderID] {
			p.held[r.OrderID] = true
			p.sum.Held++
		}
		p.sum.Rejections[r.Reason]++
		e := Event{Kind: "hold", MSISDN: phone, Order: r.OrderID, Reason: string(r.Reason)}
		if r.Order != nil {
			e.Merchant, e.AmountFen = r.Order.Merchant, r.Order.Amount.Fen()
		}
		p.emit(e)
	case billing.OutcomeRejected:
		// A refusal may leave the order pending (a wrong code, too_frequent
		// or service_busy at confirmation): its status is read when it is
		// due, never assumed.
		p.sum.Rejections[r.Reason]++
		p.emit(Event{Kind: "reject", MSISDN: phone, Order: r.OrderID, Reason: string(r.Reason)})
	case billing.OutcomeCancelled:
		if r.OrderID == 0 { // subscriptions cancelled (0000 reply, TD): the MT says which
			p.emit(Event{Kind: "unsubscribe", MSISDN: phone})
			return nil
		}
		p.markClosed(r.OrderID)
		p.sum.Rejections[r.Reason]++
		p.emit(Event{Kind: "reject", MSISDN: phone, Order: r.OrderID, Reason: string(r.Reason)})
	case billing.OutcomePending:
		p.sum.Unresolved++
		p.markClosed(r.OrderID)
	}
	return nil
}

func (p *player) markClosed(id int64) {
	if id != 0 && p.tracked[id] {
		p.closed[id] = true
	}
}

// touch records id as phone's latest prompted order (the last few are kept).
func (p *player) touch(phone string, id int64) {
	ids := p.latest[phone]
	for i, x := range ids {
		if x == id {
			ids = append(ids[:i], ids[i+1:]...)
			break
		}
	}
	ids = append(ids, id)
	if len(ids) > keepOrders {
		ids = append(ids[:0], ids[len(ids)-keepOrders:]...)
	}
	p.latest[phone] = ids
}

// keepOrders is how many of a phone's latest orders {{code}} looks at.
const keepOrders = 8

// pendingCode returns the code {{code}} stands for: that of phone's most
// recently prompted order that is still pending, else that of its most
// recently prompted order (so a late or repeated confirmation replays as
// expired or already_paid), "" when the phone was never prompted.
func (p *player) pendingCode(ctx context.Context, phone string) (string, error) {
	ids := p.latest[phone]
	fallback := ""
	for i := len(ids) - 1; i >= 0; i-- {
		o, err := p.env.order(ctx, ids[i])
		if err != nil {
			return "", err
		}
		if o.Status == billing.OrderPending {
			return o.Code, nil
		}
		if fallback == "" {
			fallback = o.Code
		}
	}
	return fallback, nil
}

// outboxBatch is how many MTs one dispatcher claim takes.
const outboxBatch = 64

// flushMTs sends every due MT of the outbox to the recorder and emits them.
func (p *player) flushMTs(ctx context.Context) error {
	for {
		n, err := p.env.dispatcher.RunOnce(ctx)
		if err != nil {
			return fmt.Errorf("draining the outbox: %w", err)
		}
		if n < outboxBatch {
			break // the claim took every due MT
		}
	}
	for _, m := range p.env.rec.take() {
		p.sum.MTs++
		p.emit(Event{Kind: "mt", MSISDN: m.To, From: m.From, Text: m.Text})
	}
	return nil
}

func (p *player) emit(e Event) {
	e.At = p.env.clock.Now().In(p.o.Config.Location).Format(time.RFC3339Nano)
	if p.o.Redact {
		e.MSISDN = redact.Phone(e.MSISDN)
		e.Text = MaskText(e.Text)
	}
	// Encoding a struct of strings and integers cannot fail; a write
	// error surfaces at Flush.
	_ = p.enc.Encode(e)
}

// MaskText masks what --redact must hide in an MT text: a run of exactly six
// digits (a confirmation code) becomes ******, a run of seven or more (a
// phone number) is masked as redact.Phone does.
func MaskText(s string) string {
	var b strings.Builder
	i := 0
	for i < len(s) {
		if s[i] < '0' || s[i] > '9' {
			b.WriteByte(s[i])
			i++
			continue
		}
		j := i
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		switch run := s[i:j]; {
		case len(run) == 6:
			b.WriteString("******")
		case len(run) >= 7:
			b.WriteString(redact.Phone(run))
		default:
			b.WriteString(run)
		}
		i = j
	}
	return b.String()
}

// codeSource is the seeded source of confirmation codes.
func codeSource(seed uint64) io.Reader {
	var s [32]byte
	binary.LittleEndian.PutUint64(s[:], seed)
	return rand.NewChaCha8(s)
}

var _ clock.Clock = (*clock.Fake)(nil)
