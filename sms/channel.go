package sms

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/redact"
	"github.com/carrierbill/carrierbill/smpp"
	"github.com/carrierbill/carrierbill/wallet"
)

// Options wire a Channel. Engine is required.
type Options struct {
	Engine *billing.Engine
	// ServiceCode: a merchant's address is the service code followed by
	// its merchant code ("10658008" + "8001").
	ServiceCode string
	// Sealer seals the original text of an MO that carries a wallet
	// password (it is stored redacted). Without it such an MO is still
	// redacted before it is stored, and its password is lost.
	Sealer *wallet.Sealer
	// Normalize turns the sender's address into the canonical number
	// (package msisdn); nil keeps the digits as sent (spaces and a leading
	// '+' dropped).
	Normalize func(addr string, ton, npi byte) (string, error)
	// Intake, when set, stores MOs in group commits (many MOs of every
	// bind per transaction, each acknowledged only after its batch
	// committed); nil stores each MO in its own transaction.
	Intake *billing.Intake
	// Receipts takes the SMSC's delivery receipts (the outbox dispatcher);
	// nil logs them.
	Receipts func(ctx context.Context, r smpp.DeliveryReceipt) error
	Logger   *slog.Logger
	// Workers is how many MOs Run processes at once (default 64). The
	// store shares commits among the transactions of concurrent workers,
	// so more workers mean fuller groups, not more commits.
	Workers int
	// Lease is how long a claimed MO stays leased (default 1 minute).
	Lease time.Duration
	// Poll is how often Run looks for new MOs when idle (default 50 ms).
	Poll time.Duration
	// Divert, when set, takes the MOs of another channel stored in the
	// same inbox (USSD: ussd.Service.Divert); ok false leaves the MO here.
	Divert func(ctx context.Context, mo billing.InboundMO) (r billing.Result, ok bool, err error)
}

// MaxMOAttempts is how many times Run tries an MO before it gives up on it
// (logged as an error and marked processed) so that one bad MO does not
// block its number's later MOs.
const MaxMOAttempts = 10

// Channel is the SMS channel: it stores MOs before they are acknowledged
// (Accept, the SMPP consumer), reads their text (the grammar in this
// package) and drives the engine's typed API with them. It never decides a
// payment: the engine does.
type Channel struct {
	o    Options
	e    *billing.Engine
	log  *slog.Logger
	wake chan struct{}
}

// New returns the SMS channel.
func New(o Options) (*Channel, error) {
	if o.Engine == nil {
		return nil, errors.New("sms: New needs an Engine")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Workers <= 0 {
		o.Workers = 64
	}
	if o.Lease <= 0 {
		o.Lease = time.Minute
	}
	if o.Poll <= 0 {
		o.Poll = 50 * time.Millisecond
	}
	return &Channel{o: o, e: o.Engine, log: o.Logger, wake: make(chan struct{}, 1)}, nil
}

// ConsumeMO implements smpp.Consumer: it normalizes the sender's number
// and stores the MO durably (Accept). nil lets the session acknowledge it;
// an error makes it answer 0x64 so the SMSC redelivers. A sender that
// cannot be a number is logged and acknowledged (redelivering it would
// never help), and nothing is charged.
func (c *Channel) ConsumeMO(ctx context.Context, mo smpp.MO) error {
	from, err := c.normalize(mo.From, mo.SourceTON, mo.SourceNPI)
	if err != nil {
		c.log.Warn("MO from an address that is not a phone number: dropped", "bind", mo.Bind, "from", redact.Phone(mo.From), "err", err)
		return nil
	}
	return c.Accept(ctx, billing.InboundMO{Bind: mo.Bind, MSISDN: from, ServiceAddr: mo.To, Body: mo.Text, ReceivedAt: mo.ReceivedAt})
}

// ConsumeReceipt implements smpp.Consumer: delivery receipts go to
// Options.Receipts (the outbox), or to the log.
func (c *Channel) ConsumeReceipt(ctx context.Context, r smpp.DeliveryReceipt) error {
	if c.o.Receipts != nil {
		return c.o.Receipts(ctx, r)
	}
	lvl := slog.LevelDebug
	if r.State != "DELIVRD" && r.State != "ACCEPTD" {
		lvl = slog.LevelWarn
	}
	c.log.Log(ctx, lvl, "delivery receipt", "bind", r.Bind, "message_id", r.MessageID, "msisdn", redact.Phone(r.From), "state", r.State, "err", r.Err)
	return nil
}

func (c *Channel) normalize(addr string, ton, npi byte) (string, error) {
	if c.o.Normalize != nil {
		return c.o.Normalize(addr, ton, npi)
	}
	return strings.TrimPrefix(strings.TrimSpace(addr), "+"), nil
}

// Accept durably stores an MO in the inbox: nil means stored (ack
// ESME_ROK), an error means not stored (answer 0x64 so the SMSC
// redelivers). A text that carries a wallet password is stored redacted,
// its original sealed (DESIGN.md §4.9).
func (c *Channel) Accept(ctx context.Context, mo billing.InboundMO) error {
	if mo.ReceivedAt.IsZero() {
		mo.ReceivedAt = c.e.Clock().Now()
	}
	from, err := c.normalize(mo.MSISDN, 0, 0)
	if err != nil {
		c.log.Warn("MO from an address that is not a phone number: dropped", "bind", mo.Bind, "from", redact.Phone(mo.MSISDN), "err", err)
		return nil
	}
	mo.MSISDN = from
	mo, err = c.redact(mo)
	if err != nil {
		return fmt.Errorf("sealing MO from %s: %w", redact.Phone(mo.MSISDN), err)
	}
	if c.o.Intake != nil {
		_, err = c.o.Intake.Insert(ctx, mo)
	} else {
		_, err = c.e.Store().InsertMO(ctx, mo)
	}
	if err != nil {
		return fmt.Errorf("storing MO from %s: %w", redact.Phone(mo.MSISDN), err)
	}
	select {
	case c.wake <- struct{}{}:
	default:
	}
	return nil
}

// redact prepares an MO for storage: a text that carries a password is
// replaced by its redacted form, and the original is sealed when the
// channel can seal (else it is dropped: never stored in clear).
func (c *Channel) redact(mo billing.InboundMO) (billing.InboundMO, error) {
	mo.Sealed = nil
	red, carries := RedactMO(mo.Body)
	if !carries {
		return mo, nil
	}
	if c.o.Sealer != nil {
		box, err := c.o.Sealer.Seal(mo.MSISDN, mo.Body)
		if err != nil {
			return mo, err
		}
		mo.Sealed = box
	}
	mo.Body = red
	return mo, nil
}

// unseal returns the text to handle: the sealed original of a redacted MO
// when there is one, its body otherwise.
func (c *Channel) unseal(ctx context.Context, mo *billing.InboundMO) string {
	if len(mo.Sealed) == 0 && mo.ID != 0 && strings.Contains(mo.Body, "******") {
		box, err := c.e.Store().SealedMO(ctx, mo.ID)
		if err != nil {
			c.log.Warn("reading a sealed MO failed; handling the redacted text", "mo", mo.ID, "err", err)
		}
		mo.Sealed = box
	}
	if len(mo.Sealed) == 0 || c.o.Sealer == nil {
		return mo.Body
	}
	text, err := c.o.Sealer.Open(mo.MSISDN, mo.Sealed)
	if err != nil {
		c.log.Warn("cannot open a sealed MO (key changed?); handling the redacted text", "mo", mo.ID, "err", err)
		return mo.Body
	}
	return text
}

// Handle reads one MO and drives the engine with it; the engine marks the
// MO processed in the same transaction as its effects. An MO with ID 0
// (never stored: tests, replay) is handled the same way and nothing is
// marked. An error means nothing was committed and the MO is retried.
//
// With card payments on, the wallet commands come first: YE, MM old new,
// "<code> <password>", and a purchase with a card suffix (VIP K, VIP
// K1234).
func (c *Channel) Handle(ctx context.Context, mo billing.InboundMO) (billing.Result, error) {
	if c.o.Divert != nil {
		if r, ok, err := c.o.Divert(ctx, mo); ok {
			return r, err
		}
	}
	text := c.unseal(ctx, &mo)
	src := billing.Source{Channel: billing.ChannelSMS, Origin: mo.ServiceAddr, MO: &mo}
	merchant, _ := strings.CutPrefix(mo.ServiceAddr, c.o.ServiceCode)
	if !strings.HasPrefix(mo.ServiceAddr, c.o.ServiceCode) {
		merchant = ""
	}
	if r, ok, err := c.subscription(ctx, src, mo.MSISDN, merchant, text); ok {
		return r, err
	}
	w := ParseWallet(text)
	if c.e.CardsOn() {
		switch w.Kind {
		case WalletBalance:
			r, _, err := c.e.Balance(ctx, billing.BalanceRequest{Source: src, MSISDN: mo.MSISDN})
			return r, err
		case WalletChangePassword, WalletBadChangePassword:
			return c.e.ChangePassword(ctx, billing.PasswordRequest{Source: src, MSISDN: mo.MSISDN, Old: w.Old, New: w.New,
				Malformed: w.Kind == WalletBadChangePassword})
		}
		if base, last4, ok := ParseCardSuffix(text); ok {
			if cmd := ParseMO(base); cmd.Kind == CommandKeyword || cmd.Kind == CommandAmount || cmd.Kind == CommandBadAmount {
				return c.purchase(ctx, src, mo.MSISDN, merchant, cmd, billing.MethodCard, last4)
			}
		}
	}
	if w.Kind == WalletCardConfirm { // without cards the password is ignored
		return c.e.Confirm(ctx, billing.ConfirmRequest{Source: src, MSISDN: mo.MSISDN, Code: w.Code, Password: w.Password})
	}
	cmd := ParseMO(text)
	switch cmd.Kind {
	case CommandCode:
		return c.e.Confirm(ctx, billing.ConfirmRequest{Source: src, MSISDN: mo.MSISDN, Code: cmd.Code})
	case CommandCancel:
		return c.e.Cancel(ctx, billing.CancelRequest{Source: src, MSISDN: mo.MSISDN})
	case CommandQuery:
		if _, err := c.e.Query(ctx, billing.QueryRequest{Source: src, MSISDN: mo.MSISDN}); err != nil {
			return billing.Result{}, err
		}
		return billing.Result{Outcome: billing.OutcomeQueried}, nil
	}
	return c.purchase(ctx, src, mo.MSISDN, merchant, cmd, billing.MethodPhone, "")
}

// purchase turns a purchase text into the engine's request.
func (c *Channel) purchase(ctx context.Context, src billing.Source, msisdn, merchant string, cmd Command, method billing.Method, last4 string) (billing.Result, error) {
	req := billing.PurchaseRequest{Source: src, MSISDN: msisdn, Merchant: merchant, Method: method, CardLast4: last4}
	switch cmd.Kind {
	case CommandAmount:
		req.Amount = cmd.Amount
	case CommandBadAmount:
		if m, ok := c.e.Merchant(merchant); ok && m.OpenAmount {
			return c.e.Reject(ctx, src, msisdn, billing.ReasonAmountOutOfRange, merchant)
		}
		req.Product = cmd.Keyword
	case CommandKeyword:
		req.Product = cmd.Keyword
	default: // empty: show the catalog
		if _, ok := c.e.Merchant(merchant); !ok {
			return c.e.Reject(ctx, src, msisdn, billing.ReasonUnknownMerchant, "")
		}
		return c.e.Reject(ctx, src, msisdn, billing.ReasonUnknownProduct, merchant)
	}
	return c.e.Purchase(ctx, req)
}

// HandleMO is Accept followed by Drain: the synchronous path of replay and
// tests. It returns the results of every MO it handled, the given one
// included, in order.
func (c *Channel) HandleMO(ctx context.Context, mo billing.InboundMO) ([]billing.Result, error) {
	if err := c.Accept(ctx, mo); err != nil {
		return nil, err
	}
	return c.Drain(ctx)
}

// Drain handles claimable MOs one at a time until none is left and returns
// the results. MOs of one number are handled in arrival order.
func (c *Channel) Drain(ctx context.Context) ([]billing.Result, error) {
	var out []billing.Result
	st, clk := c.e.Store(), c.e.Clock()
	for {
		now := clk.Now()
		mos, err := st.ClaimMOs(ctx, now, now.Add(c.o.Lease), 1)
		if err != nil {
			return out, fmt.Errorf("claiming MOs: %w", err)
		}
		if len(mos) == 0 {
			return out, nil
		}
		r, err := c.Handle(ctx, mos[0])
		c.e.Observer().MOProcessed(err)
		if err != nil {
			_ = st.ReleaseMO(ctx, mos[0].ID, clk.Now())
			return out, err
		}
		out = append(out, r)
	}
}

// Run handles stored MOs with Workers goroutines until ctx ends. It
// returns after every goroutine it started has stopped; in-flight MOs
// finish first (their context is not the cancelled one).
func (c *Channel) Run(ctx context.Context) error {
	jobs := make(chan billing.InboundMO)
	var wg sync.WaitGroup
	for range c.o.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for mo := range jobs {
				c.work(context.WithoutCancel(ctx), mo) // finish what was claimed even when stopping
			}
		}()
	}
	st, clk := c.e.Store(), c.e.Clock()
	poll := time.NewTimer(0)
	defer poll.Stop()
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-poll.C:
		case <-c.wake:
		}
		for {
			now := clk.Now()
			mos, err := st.ClaimMOs(ctx, now, now.Add(c.o.Lease), c.o.Workers*4)
			if err != nil {
				if ctx.Err() != nil {
					break loop
				}
				c.log.Error("claiming MOs failed", "err", err)
				break
			}
			for _, mo := range mos {
				select {
				case jobs <- mo:
				case <-ctx.Done():
					// Not handed out: give it back at once.
					_ = st.ReleaseMO(context.WithoutCancel(ctx), mo.ID, now)
				}
			}
			if len(mos) == 0 || ctx.Err() != nil {
				break
			}
		}
		poll.Reset(c.o.Poll)
	}
	close(jobs)
	wg.Wait()
	return nil
}

// work handles one claimed MO, backing off on failure and giving up on a
// poison MO after MaxMOAttempts.
func (c *Channel) work(ctx context.Context, mo billing.InboundMO) {
	_, err := c.Handle(ctx, mo)
	c.e.Observer().MOProcessed(err)
	if err == nil {
		return
	}
	if mo.Attempts >= MaxMOAttempts {
		// A poison MO must not block its number's queue forever.
		c.log.Error("giving up on MO", "mo", mo.ID, "msisdn", redact.Phone(mo.MSISDN), "attempts", mo.Attempts, "err", err)
		mo.Sealed, _ = c.e.Store().SealedMO(ctx, mo.ID) // dropped with it
		if err := c.e.DropMO(ctx, mo); err == nil {
			return
		}
	}
	c.log.Error("handling MO failed; retried later", "mo", mo.ID, "msisdn", redact.Phone(mo.MSISDN), "err", err)
	backoff := min(time.Duration(mo.Attempts)*time.Second, time.Minute)
	if err := c.e.Store().ReleaseMO(ctx, mo.ID, c.e.Clock().Now().Add(backoff)); err != nil {
		c.log.Error("releasing MO failed", "mo", mo.ID, "err", err)
	}
}

// CheckCatalog reports product keywords that an SMS could never buy
// because the grammar reads them as something else (an amount, a code,
// CX), naming the field.
func CheckCatalog(ms []billing.Merchant) error {
	var errs []error
	for i, m := range ms {
		for j, p := range m.Products {
			if cmd := ParseMO(p.Keyword); cmd.Kind != CommandKeyword {
				errs = append(errs, fmt.Errorf("merchants[%d].products[%d].keyword: %q reads as an amount, a code or CX", i, j, p.Keyword))
			}
		}
	}
	return errors.Join(errs...)
}

// NewEngine builds the billing engine with the SMS texts (tc) as its
// Notifier, and the SMS channel (co, whose Engine it sets) on it: the
// wiring every SMS-speaking program shares (serve, replay, the demo, the
// store conformance suite).
func NewEngine(eo billing.Options, tc TextConfig, co Options) (*billing.Engine, *Channel, error) {
	if tc.ServiceCode == "" {
		tc.ServiceCode = eo.Config.ServiceCode
	}
	if co.ServiceCode == "" {
		co.ServiceCode = eo.Config.ServiceCode
	}
	if tc.Location == nil {
		tc.Location = eo.Config.Location
	}
	if err := CheckCatalog(eo.Config.Merchants); err != nil {
		return nil, nil, err
	}
	texts, err := NewTexts(tc)
	if err != nil {
		return nil, nil, err
	}
	eo.Notifier = texts
	e, err := billing.NewEngine(eo)
	if err != nil {
		return nil, nil, err
	}
	co.Engine = e
	ch, err := New(co)
	if err != nil {
		return nil, nil, err
	}
	return e, ch, nil
}
