package ussd

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/redact"
	"github.com/carrierbill/carrierbill/smpp"
	"github.com/carrierbill/carrierbill/sms"
	"github.com/carrierbill/carrierbill/wallet"
)

// Ops are the ussd_service_op values of the SMSC (vendor variants).
type Ops struct {
	Open     []byte // a new dialog (SMPP 3.4: 1, PSSR indication)
	Answer   []byte // the subscriber's answer (18, USSR confirm)
	Abort    []byte // the network or the subscriber ended the dialog (vendor: 0x81)
	Continue byte   // our screen that waits for an answer (2, USSR request)
	Close    byte   // our last screen (17, PSSR response)
}

// DefaultOps are SMPP 3.4's, with 0x81 as the user abort.
func DefaultOps() Ops {
	return Ops{Open: []byte{smpp.USSDPSSRIndication}, Answer: []byte{smpp.USSDUSSRConfirm}, Abort: []byte{0x81},
		Continue: smpp.USSDUSSRRequest, Close: smpp.USSDPSSRResponse}
}

// Session keys of SMPP dialogs.
const (
	KeyItsSessionInfo = "its_session_info"       // source_addr + its_session_info's session number
	KeyUserMessageRef = "user_message_reference" // source_addr + user_message_reference
)

// Subscriptions is what menu 6 needs of the subscriptions feature. The
// menu shows 6 only when a provider is configured.
type Subscriptions interface {
	// List returns msisdn's active subscriptions.
	List(ctx context.Context, msisdn string) ([]Subscription, error)
	// Cancel ends msisdn's subscription id (no later renewal charges).
	Cancel(ctx context.Context, msisdn, id string) error
}

// Subscription is one subscription as menu 6 lists it.
type Subscription struct {
	ID     string
	Name   string
	Amount billing.Money
	Period string // as the subscriber reads it: "月"
}

// Options wire a Service. Engine, Refusals and Sessions are required.
type Options struct {
	Engine *billing.Engine
	// Cards lists a number's cards and changes the default (menu 4); nil
	// hides menu 4. Card purchases and menu 5 need Engine.CardsOn and
	// Sealer.
	Cards *billing.Cards
	// Refusals renders refusal reasons: the SMS channel's texts, so both
	// channels give the same reason.
	Refusals *sms.Texts
	// Texts overrides screen texts by name (see DefaultTexts).
	Texts    map[string]string
	Sessions Sessions
	// Salt keys the hash of transport session keys.
	Salt []byte
	// Intake stores answers in group commits; nil stores each alone.
	Intake *billing.Intake
	// Sealer seals secret answers (passwords, codes) before they are
	// stored, and the old password between two screens.
	Sealer *wallet.Sealer
	// Normalize turns a subscriber address into the canonical number
	// (package msisdn); required.
	Normalize func(addr string, ton, npi byte) (string, error)
	// Subscriptions, when set, adds menu 6.
	Subscriptions Subscriptions
	// Reply sends a screen to an SMPP dialog (the gateway's SMPP client);
	// nil drops SMPP screens (HTTP only).
	Reply func(ctx context.Context, r smpp.USSDReply) error
	Ops   Ops
	// Key is how SMPP dialogs are keyed: KeyItsSessionInfo (default) or
	// KeyUserMessageRef.
	Key string
	// ServiceType goes into every USSD submit_sm ("USSD" where the SMSC
	// wants it).
	ServiceType string
	// Timeout: a dialog idle longer has timed out (default 2 minutes).
	Timeout time.Duration
	// HTTPWait bounds how long an HTTP callback waits for its screen
	// (default 10s).
	HTTPWait time.Duration
	// History is how many payments menu 3 lists (default 10).
	History int
	Logger  *slog.Logger
}

// Service is the USSD channel: it stores every USSD message before it is
// acknowledged (ConsumeUSSD, the HTTP handler), then the SMS channel's
// workers hand it back (Divert) in arrival order per number, and the menu
// drives the billing engine's typed API.
type Service struct {
	o     Options
	e     *billing.Engine
	t     texts
	log   *slog.Logger
	wmu   sync.Mutex
	waits map[string]chan struct{} // HTTP callbacks waiting for a session's screen
}

// New returns the USSD channel.
func New(o Options) (*Service, error) {
	if o.Engine == nil || o.Refusals == nil || o.Sessions == nil || o.Normalize == nil {
		return nil, errors.New("ussd: New needs an Engine, Refusals, Sessions and Normalize")
	}
	if err := CheckTexts(o.Texts); err != nil {
		return nil, err
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if len(o.Ops.Open) == 0 && len(o.Ops.Answer) == 0 && o.Ops.Continue == 0 && o.Ops.Close == 0 {
		o.Ops = DefaultOps()
	}
	if o.Key == "" {
		o.Key = KeyItsSessionInfo
	}
	if o.Key != KeyItsSessionInfo && o.Key != KeyUserMessageRef {
		return nil, fmt.Errorf("ussd: unknown session key %q", o.Key)
	}
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Minute
	}
	if o.HTTPWait <= 0 {
		o.HTTPWait = 10 * time.Second
	}
	if o.History <= 0 {
		o.History = 10
	}
	return &Service{o: o, e: o.Engine, t: texts{over: o.Texts}, log: o.Logger, waits: map[string]chan struct{}{}}, nil
}

// Message kinds of the envelope.
const (
	kindOpen   = "open"
	kindAnswer = "answer"
	kindAbort  = "abort"
)

// envelope is what a stored USSD message says besides its text; it rides
// in mo_inbox.service_addr behind "ussd:" (no schema change, and the SMS
// channel's workers claim it in arrival order with the number's SMS).
type envelope struct {
	Key       string `json:"k"`
	Transport string `json:"t"`
	Kind      string `json:"o"`
	Service   string `json:"s,omitempty"` // the USSD code dialled
	Addr      string `json:"a,omitempty"` // the subscriber's address as sent
	Info      []byte `json:"i,omitempty"`
	UMR       int    `json:"u"`
	N         int    `json:"n,omitempty"` // HTTP: message number (1 opens)
}

const envelopePrefix = "ussd:"

func (env envelope) encode() string {
	b, _ := json.Marshal(env)
	return envelopePrefix + base64.RawURLEncoding.EncodeToString(b)
}

func decodeEnvelope(s string) (envelope, error) {
	var env envelope
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(s, envelopePrefix))
	if err != nil {
		return env, fmt.Errorf("ussd: bad envelope: %w", err)
	}
	if err := json.Unmarshal(b, &env); err != nil {
		return env, fmt.Errorf("ussd: bad envelope: %w", err)
	}
	return env, nil
}

// IsUSSD reports whether a stored MO is a USSD message.
func IsUSSD(mo billing.InboundMO) bool { return strings.HasPrefix(mo.ServiceAddr, envelopePrefix) }

// ConsumeUSSD implements smpp.USSDConsumer: it stores the message (nil:
// stored, acknowledge; error: not stored, answer 0x64). A message from an
// address that is not a number, without a usable session key, or with an
// op code the configuration does not know is logged and acknowledged:
// redelivering it would never help, and nothing is charged.
func (s *Service) ConsumeUSSD(ctx context.Context, m smpp.USSD) error {
	msisdn, err := s.o.Normalize(m.From, m.SourceTON, m.SourceNPI)
	if err != nil {
		s.log.Warn("USSD from an address that is not a phone number: dropped", "bind", m.Bind, "from", redact.Phone(m.From), "err", err)
		return nil
	}
	kind := ""
	switch {
	case hasOp(s.o.Ops.Open, m.Op):
		kind = kindOpen
	case hasOp(s.o.Ops.Answer, m.Op):
		kind = kindAnswer
	case hasOp(s.o.Ops.Abort, m.Op):
		kind = kindAbort
	default:
		s.log.Warn("USSD message with an op code the configuration does not know: dropped", "bind", m.Bind, "msisdn", redact.Phone(msisdn), "op", m.Op)
		return nil
	}
	var tk string
	switch {
	case s.o.Key == KeyUserMessageRef && m.UserMessageRef >= 0:
		tk = "umr:" + m.From + ":" + strconv.Itoa(m.UserMessageRef)
	case s.o.Key == KeyItsSessionInfo && len(m.SessionInfo) > 0:
		tk = "its:" + m.From + ":" + strconv.Itoa(int(m.SessionInfo[0]))
	default: // no key at all: one dialog per number
		tk = "addr:" + m.From
	}
	env := envelope{Key: HashKey(s.o.Salt, "smpp:"+tk), Transport: "smpp", Kind: kind, Service: m.To, Addr: m.From, Info: m.SessionInfo, UMR: m.UserMessageRef}
	return s.store(ctx, billing.InboundMO{Bind: m.Bind, MSISDN: msisdn, Body: m.Text, ReceivedAt: m.ReceivedAt}, env)
}

func hasOp(ops []byte, op byte) bool {
	for _, o := range ops {
		if o == op {
			return true
		}
	}
	return false
}

// store durably stores one USSD message. An answer given on a screen that
// asks for a secret, or that holds a run of six digits, is sealed and
// stored as "******".
func (s *Service) store(ctx context.Context, mo billing.InboundMO, env envelope) error {
	if mo.ReceivedAt.IsZero() {
		mo.ReceivedAt = s.e.Clock().Now()
	}
	mo.ServiceAddr = env.encode()
	// Text no store can keep is kept as a character the menu refuses.
	mo.Body = strings.ReplaceAll(strings.ToValidUTF8(mo.Body, "\uFFFD"), "\x00", "\uFFFD")
	if env.Kind == kindAnswer {
		sess, err := s.o.Sessions.Get(ctx, env.Key)
		if err != nil {
			return err
		}
		// A password is never stored in clear (without a Sealer it is
		// lost, as the SMS channel loses it); a code or a run of six
		// digits is sealed when there is a Sealer.
		password := sess != nil && (sess.State == StateCardPassword || sess.State == StatePasswordOld || sess.State == StatePasswordNew)
		if password || (s.o.Sealer != nil && (looksSecret(mo.Body) || (sess != nil && sess.State.secret()))) {
			if s.o.Sealer != nil {
				box, err := s.o.Sealer.Seal(mo.MSISDN, mo.Body)
				if err != nil {
					return fmt.Errorf("sealing a USSD answer: %w", err)
				}
				mo.Sealed = box
			}
			mo.Body = redacted
		}
	}
	if err := billing.CheckMOText(mo); err != nil {
		s.log.Warn("USSD message with text no store can keep: dropped", "msisdn", redact.Phone(mo.MSISDN), "err", err)
		return nil
	}
	var err error
	if s.o.Intake != nil {
		_, err = s.o.Intake.Insert(ctx, mo)
	} else {
		_, err = s.e.Store().InsertMO(ctx, mo)
	}
	if err != nil {
		return fmt.Errorf("storing a USSD message from %s: %w", redact.Phone(mo.MSISDN), err)
	}
	return nil
}

// redacted is the stored body of a sealed answer.
const redacted = "******"

// looksSecret: a run of six or more digits (a code or a password typed
// where the menu did not expect one).
func looksSecret(s string) bool {
	n := 0
	for _, r := range wallet.FoldWidth(s) {
		if r >= '0' && r <= '9' {
			n++
			if n >= 6 {
				return true
			}
			continue
		}
		n = 0
	}
	return false
}

// Divert is the SMS channel's hook (sms.Options.Divert): a claimed MO that
// is a USSD message is handled here; ok false leaves every other MO to the
// SMS channel.
func (s *Service) Divert(ctx context.Context, mo billing.InboundMO) (billing.Result, bool, error) {
	if !IsUSSD(mo) {
		return billing.Result{}, false, nil
	}
	return billing.Result{Outcome: billing.OutcomeQueried}, true, s.Handle(ctx, mo)
}

// Handle runs one stored USSD message through the menu: the session is
// read, the answer applied (driving the engine), the session saved and
// the screen sent (SMPP) or handed to the waiting callback (HTTP). The MO
// is marked processed with the engine's own transaction where the answer
// drove one, else at the end. An error means nothing was saved: the MO is
// retried.
func (s *Service) Handle(ctx context.Context, mo billing.InboundMO) error {
	env, err := decodeEnvelope(mo.ServiceAddr)
	if err != nil { // never written by us: drop it
		s.log.Error("USSD message with an unreadable envelope: dropped", "mo", mo.ID, "err", err)
		return s.e.DropMO(ctx, mo)
	}
	text := s.unseal(ctx, &mo)
	t := &turn{mo: &mo}
	sess, reply, err := s.apply(ctx, t, env, text)
	if err != nil {
		return err
	}
	if sess != nil {
		if err := s.o.Sessions.Put(ctx, sess); err != nil {
			return err
		}
	}
	if !t.marked {
		if err := s.e.DropMO(ctx, mo); err != nil {
			return fmt.Errorf("marking a USSD message processed: %w", err)
		}
	}
	s.wake(env.Key)
	if reply != nil && s.o.Reply != nil {
		if err := s.o.Reply(ctx, *reply); err != nil {
			s.log.Warn("sending a USSD screen failed", "msisdn", redact.Phone(mo.MSISDN), "err", err)
		}
	}
	return nil
}

// unseal returns the answer: the sealed original of a redacted one.
func (s *Service) unseal(ctx context.Context, mo *billing.InboundMO) string {
	if mo.Body != redacted {
		return mo.Body
	}
	if len(mo.Sealed) == 0 && mo.ID != 0 {
		box, err := s.e.Store().SealedMO(ctx, mo.ID)
		if err != nil {
			s.log.Warn("reading a sealed USSD answer failed", "mo", mo.ID, "err", err)
		}
		mo.Sealed = box
	}
	if len(mo.Sealed) == 0 || s.o.Sealer == nil {
		return ""
	}
	text, err := s.o.Sealer.Open(mo.MSISDN, mo.Sealed)
	if err != nil {
		s.log.Warn("cannot open a sealed USSD answer (key changed?)", "mo", mo.ID, "err", err)
		return ""
	}
	return text
}

// turn is one message being handled: the engine call that commits first
// marks the MO.
type turn struct {
	mo     *billing.InboundMO
	marked bool
}

// source is the Source of an engine call of this turn; origin is the
// address MTs about it come from.
func (t *turn) source(origin string) billing.Source {
	src := billing.Source{Channel: billing.ChannelUSSD, Origin: origin}
	if !t.marked {
		src.MO = t.mo
	}
	return src
}

// done records that an engine call with t.source succeeded (it marked the MO).
func (t *turn) done(src billing.Source) {
	if src.MO != nil {
		t.marked = true
	}
}

// apply handles one message and returns the session to save (nil: none)
// and the SMPP screen to send (nil: none).
func (s *Service) apply(ctx context.Context, t *turn, env envelope, text string) (*Session, *smpp.USSDReply, error) {
	now := s.e.Clock().Now()
	sess, err := s.o.Sessions.Get(ctx, env.Key)
	if err != nil {
		return nil, nil, err
	}
	if sess != nil && sess.MSISDN != t.mo.MSISDN { // a key collision or a forged id: not this number's dialog
		sess = nil
		if env.Kind == kindOpen {
			return nil, s.direct(env, t.mo.MSISDN, s.t.get("ended"), true), nil
		}
	}
	if sess != nil && env.N > 0 && env.N <= sess.Handled { // an HTTP retry already handled
		return nil, nil, nil
	}
	switch env.Kind {
	case kindAbort:
		if sess == nil || sess.Closed {
			return nil, nil, nil
		}
		s.log.Info("USSD dialog aborted by the network", "msisdn", redact.Phone(sess.MSISDN), "state", string(sess.State))
		s.close(ctx, t, sess, now)
		return sess, nil, nil
	case kindOpen:
		if sess != nil && !sess.Closed && sess.Handled > 0 && env.Transport == "smpp" {
			// The SMSC sent the opening again (its ack was lost): the
			// same screen again.
			return nil, s.replyOf(sess), nil
		}
		if err := s.takeOver(ctx, t, t.mo.MSISDN, env.Key, now); err != nil {
			return nil, nil, err
		}
		sess = &Session{Key: env.Key, MSISDN: t.mo.MSISDN, Transport: env.Transport, Started: now}
		sess.route(env, t.mo.Bind)
		s.home(ctx, sess)
		sess.Handled, sess.Last = max(env.N, 1), now
		s.log.Info("USSD dialog opened", "transport", env.Transport, "msisdn", redact.Phone(sess.MSISDN))
		return sess, s.replyOf(sess), nil
	}
	// An answer.
	if sess == nil {
		return nil, s.direct(env, t.mo.MSISDN, s.t.get("ended"), true), nil
	}
	sess.route(env, t.mo.Bind)
	if sess.Closed {
		sess.Pages, sess.PageAt, sess.Final = []string{s.t.get("ended")}, 0, true
		if env.N > 0 { // HTTP: the callback waits for this message's screen
			sess.Handled = max(sess.Handled+1, env.N)
			return sess, nil, nil
		}
		return nil, s.replyOf(sess), nil
	}
	if now.Sub(sess.Last) > s.o.Timeout {
		s.log.Info("USSD dialog timed out", "msisdn", redact.Phone(sess.MSISDN), "state", string(sess.State))
		s.close(ctx, t, sess, now)
		sess.Pages, sess.PageAt = []string{s.t.get("timeout")}, 0
		sess.Handled = max(sess.Handled+1, env.N)
		return sess, s.replyOf(sess), nil
	}
	if err := s.step(ctx, t, sess, text); err != nil {
		return nil, nil, err
	}
	sess.Handled, sess.Last = max(sess.Handled+1, env.N), now
	if _, end := sess.Screen(); end {
		sess.Closed = true
	}
	return sess, s.replyOf(sess), nil
}

// route keeps where the dialog's screens go (the latest its_session_info).
func (sess *Session) route(env envelope, bind string) {
	if env.Transport != "smpp" {
		return
	}
	sess.Bind, sess.ServiceAddr, sess.Addr, sess.SessionInfo, sess.UMR = bind, env.Service, env.Addr, env.Info, env.UMR
}

// takeOver closes msisdn's other open dialog before a new one opens: a
// phone has one dialog at a time, so a new one means the old one was
// dropped on the way. Its card order is cancelled; a phone order stays
// pending (its SMS code still confirms it, as the SMS said).
func (s *Service) takeOver(ctx context.Context, t *turn, msisdn, key string, now time.Time) error {
	old, err := s.o.Sessions.Owner(ctx, msisdn)
	if err != nil || old == "" || old == key {
		return err
	}
	prev, err := s.o.Sessions.Get(ctx, old)
	if err != nil || prev == nil || prev.Closed {
		return err
	}
	s.log.Info("USSD dialog replaced by a new one from the same number", "msisdn", redact.Phone(msisdn), "state", string(prev.State))
	s.close(ctx, t, prev, now)
	return s.o.Sessions.Put(ctx, prev)
}

// close ends a dialog that did not end on its own (timeout, abort, taken
// over): a card order waiting for its password is cancelled.
func (s *Service) close(ctx context.Context, t *turn, sess *Session, now time.Time) {
	if sess.State == StateCardPassword {
		s.cancelOrder(ctx, t, sess)
	}
	sess.Closed, sess.Final, sess.Last = true, true, now
}

// replyOf is the SMPP screen of a session (nil for HTTP).
func (s *Service) replyOf(sess *Session) *smpp.USSDReply {
	if sess.Transport != "smpp" {
		return nil
	}
	text, end := sess.Screen()
	op := s.o.Ops.Continue
	info := sess.SessionInfo
	if end {
		op = s.o.Ops.Close
		if len(info) >= 2 { // its_session_info: bit 0 of the second octet ends the session
			info = append([]byte(nil), info...)
			info[1] |= 1
		}
	}
	return &smpp.USSDReply{Bind: sess.Bind, From: sess.ServiceAddr, To: sess.Addr, ServiceType: s.o.ServiceType, Op: op, Text: text,
		SessionInfo: info, UserMessageRef: sess.UMR}
}

// direct is a closing screen for a message with no usable session.
func (s *Service) direct(env envelope, msisdn, text string, end bool) *smpp.USSDReply {
	if env.Transport != "smpp" {
		return nil
	}
	sess := &Session{MSISDN: msisdn, Transport: "smpp", Pages: []string{text}, Final: end}
	sess.route(env, "")
	return s.replyOf(sess)
}

// wake tells a waiting HTTP callback that key's session changed.
func (s *Service) wake(key string) {
	s.wmu.Lock()
	if ch, ok := s.waits[key]; ok {
		close(ch)
		delete(s.waits, key)
	}
	s.wmu.Unlock()
}

// waiter returns a channel closed at the next change of key's session.
func (s *Service) waiter(key string) <-chan struct{} {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	ch, ok := s.waits[key]
	if !ok {
		ch = make(chan struct{})
		s.waits[key] = ch
	}
	return ch
}

func billingMO(msisdn, body string) billing.InboundMO {
	return billing.InboundMO{Bind: "ussd-http", MSISDN: msisdn, Body: body}
}
