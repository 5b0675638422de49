package smpp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fiorix/go-smpp/smpp/pdu"

	"github.com/carrierbill/carrierbill/clock"
)

// Client is the gateway's SMPP side: a pool of binds (several to one SMSC,
// several SMSCs) that reconnect on their own. Submit sends MTs over any
// bound transmitting connection; MOs and receipts go to the Consumer.
type Client struct {
	consumer Consumer
	obs      Observer
	ussd     USSDConsumer
	log      *slog.Logger
	clk      clock.Clock
	binds    []*bind
	links    []*link
	ref      atomic.Uint32 // concatenation references
	rr       atomic.Uint32

	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every link state change
	started bool
	closed  bool

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// bind is one BindConfig: one or two links sharing a throughput cap and a
// reassembler.
type bind struct {
	c     *Client
	cfg   BindConfig
	lim   *limiter
	rmu   sync.Mutex
	reasm *Reassembler
	ctl   *bindControl // operator's suspend/resume (observe.go)
}

// link is one connection role of a bind, reconnecting forever.
type link struct {
	b      *bind
	cfg    BindConfig
	role   pdu.ID // BindTransceiverID, BindTransmitterID or BindReceiverID
	log    *slog.Logger
	maxPDU int
	ctx    context.Context
	stats  *linkStats

	mu  sync.Mutex
	cur *conn
}

// NewClient validates binds and returns a Client; call Start to connect.
func NewClient(binds []BindConfig, consumer Consumer, opts Options) (*Client, error) {
	if len(binds) == 0 {
		return nil, errors.New("smpp: no binds configured")
	}
	if consumer == nil {
		return nil, errors.New("smpp: a Consumer is required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	if opts.MaxPDU <= 0 {
		opts.MaxPDU = DefaultMaxPDU
	}
	c := &Client{consumer: consumer, obs: opts.Observer, ussd: opts.USSD, log: opts.Logger, clk: opts.Clock, changed: make(chan struct{})}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	seen := map[string]bool{}
	for _, bc := range binds {
		if err := bc.Validate(); err != nil {
			return nil, err
		}
		if seen[bc.Name] {
			return nil, fmt.Errorf("smpp bind %q: name used twice", bc.Name)
		}
		seen[bc.Name] = true
		bc = bc.WithDefaults()
		b := &bind{c: c, cfg: bc, reasm: NewReassemblerLimits(bc.PartTimeout, bc.Parts), ctl: newBindControl()}
		if bc.MaxPerSecond > 0 {
			b.lim = &limiter{interval: time.Second / time.Duration(bc.MaxPerSecond)}
		}
		roles := []pdu.ID{pdu.BindTransceiverID}
		if bc.Mode == ModeTxRx {
			roles = []pdu.ID{pdu.BindTransmitterID, pdu.BindReceiverID}
		}
		for _, r := range roles {
			l := &link{b: b, cfg: bc, role: r, maxPDU: opts.MaxPDU, ctx: c.ctx,
				log:   c.log.With("bind", bc.Name, "role", roleName(r), "smsc", bc.Addr),
				stats: newLinkStats(bc.Name, roleName(r), bc.Window)}
			c.links = append(c.links, l)
		}
		c.binds = append(c.binds, b)
	}
	return c, nil
}

func roleName(r pdu.ID) string {
	switch r {
	case pdu.BindTransmitterID:
		return "transmitter"
	case pdu.BindReceiverID:
		return "receiver"
	}
	return "transceiver"
}

// Start connects every bind in the background; it returns at once. Binds
// reconnect with exponential backoff and jitter until Close. ctx only
// bounds Start itself; use Close to stop.
func (c *Client) Start(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	if c.started {
		return errors.New("smpp: client already started")
	}
	c.started = true
	for _, l := range c.links {
		c.wg.Add(1)
		go l.run(c)
	}
	c.wg.Add(1)
	go c.expireLoop()
	return ctx.Err()
}

// expireLoop releases the parts of incomplete MOs once their PartTimeout
// passed (on the session's clock), checking a few times per timeout and at
// least every second, until Close.
func (c *Client) expireLoop() {
	defer c.wg.Done()
	every := time.Second
	for _, b := range c.binds {
		every = min(every, b.cfg.PartTimeout/4)
	}
	t := time.NewTicker(max(every, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
			c.expireParts()
		}
	}
}

func (c *Client) notify() {
	c.mu.Lock()
	close(c.changed)
	c.changed = make(chan struct{})
	c.mu.Unlock()
}

func (l *link) current() *conn {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cur
}

func (l *link) run(c *Client) {
	defer c.wg.Done()
	attempt := 0
	for {
		if l.ctx.Err() != nil || !l.b.ctl.waitActive(l.ctx, l.stats) {
			l.stats.setState("closed")
			return
		}
		l.stats.setState("connecting")
		cn, err := l.dial(l.ctx)
		if err != nil {
			var se *StatusError
			if errors.As(err, &se) {
				l.log.Warn("smpp: bind refused", "status", fmt.Sprintf("%#08x", uint32(se.Status)), "reason", se.Status.Error())
			} else if l.ctx.Err() == nil {
				l.log.Warn("smpp: connect failed", "err", err)
			}
		} else {
			attempt = 0
			l.stats.bound()
			l.log.Info("smpp: bound")
			l.mu.Lock()
			l.cur = cn
			l.mu.Unlock()
			c.notify()
			select {
			case <-cn.dead:
			case <-l.b.ctl.suspended():
				l.stats.setState("unbinding")
				cn.unbind()
			case <-l.ctx.Done():
				l.stats.setState("unbinding")
				cn.unbind()
			}
			l.mu.Lock()
			l.cur = nil
			l.mu.Unlock()
			c.notify()
			cn.kill(ErrClosed)
			cn.wg.Wait()
			if l.ctx.Err() != nil {
				l.stats.setState("closed")
				return
			}
			if l.b.ctl.isSuspended() {
				continue
			}
			l.log.Warn("smpp: link down", "err", cn.deadErr)
		}
		l.stats.setState("backoff")
		d := backoff(l.cfg.ReconnectMin, l.cfg.ReconnectMax, attempt)
		attempt++
		t := time.NewTimer(d)
		select {
		case <-t.C:
			l.stats.reconnect()
		case <-l.ctx.Done():
			t.Stop()
			l.stats.setState("closed")
			return
		}
	}
}

// backoff is min·2^attempt capped at max, with the upper half jittered.
func backoff(lo, hi time.Duration, attempt int) time.Duration {
	d := lo
	for range min(attempt, 30) {
		d *= 2
		if d >= hi {
			d = hi
			break
		}
	}
	return d/2 + rand.N(d/2+1)
}

// sender waits for a bound connection that may submit, round robin.
func (c *Client) sender(ctx context.Context) (*conn, error) {
	for {
		c.mu.Lock()
		ch, closed := c.changed, c.closed
		c.mu.Unlock()
		if closed {
			return nil, ErrClosed
		}
		var up []*conn
		for _, l := range c.links {
			if l.role == pdu.BindReceiverID {
				continue
			}
			if cn := l.current(); cn != nil {
				select {
				case <-cn.dead:
				default:
					up = append(up, cn)
				}
			}
		}
		if len(up) > 0 {
			return up[int(c.rr.Add(1))%len(up)], nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for a bound SMSC link: %w", ctx.Err())
		case <-c.ctx.Done():
			return nil, ErrClosed
		}
	}
}

// Submit sends an MT and returns the SMSC's message_id of each part. It
// blocks while the window is full or the throughput cap is reached, and
// while no bind is up; it never fails because of them. ESME_RTHROTTLED and
// ESME_RMSGQFUL are retried after RetryDelay; any other status is returned
// as a *StatusError. A part whose request was not written is retried on
// another link; a part written but unanswered (timeout, link lost) is an
// error, since the SMSC may have accepted it.
func (c *Client) Submit(ctx context.Context, mt MT) (SubmitResult, error) {
	coding, parts, err := SplitText(mt.Text, uint8(c.ref.Add(1)))
	if err != nil {
		return SubmitResult{}, fmt.Errorf("encoding MT: %w", err)
	}
	res := SubmitResult{MessageIDs: make([]string, 0, len(parts)), Binds: make([]string, 0, len(parts))}
	var cn *conn
	for i, p := range parts {
		sm := &SM{Dst: mt.To, Src: mt.From, DataCoding: coding, ShortMessage: p}
		if len(parts) > 1 {
			sm.ESMClass = 0x40
		}
		for {
			if cn == nil || isDead(cn) {
				if cn, err = c.sender(ctx); err != nil {
					return res, fmt.Errorf("submitting part %d/%d: %w", i+1, len(parts), err)
				}
			}
			cfg := cn.l.cfg
			sm.SrcTON, sm.SrcNPI, sm.DstTON, sm.DstNPI = cfg.SourceTON, cfg.SourceNPI, cfg.DestTON, cfg.DestNPI
			sm.RegisteredDelivery = cfg.RegisteredDelivery
			if mt.RegisteredDelivery && sm.RegisteredDelivery == 0 {
				sm.RegisteredDelivery = 1
			}
			id, sent, err := cn.submit(ctx, sm)
			if err == nil {
				res.MessageIDs = append(res.MessageIDs, id)
				res.Binds = append(res.Binds, cfg.Name)
				break
			}
			var se *StatusError
			switch {
			case errors.As(err, &se) && (se.Status == StatusThrottled || se.Status == StatusMsgQFull):
				c.observer().Throttled(cfg.Name)
				t := time.NewTimer(cfg.RetryDelay)
				select {
				case <-t.C:
				case <-ctx.Done():
					t.Stop()
					return res, fmt.Errorf("submitting part %d/%d after %v: %w", i+1, len(parts), se, ctx.Err())
				}
			case !sent && errors.Is(err, ErrLinkLost):
				cn = nil // not written: safe to send elsewhere
			default:
				return res, fmt.Errorf("submitting part %d/%d: %w", i+1, len(parts), err)
			}
		}
	}
	return res, nil
}

func isDead(cn *conn) bool {
	select {
	case <-cn.dead:
		return true
	default:
		return false
	}
}

// Close unbinds every link gracefully, waits for in-flight MOs to be
// acknowledged and returns when every goroutine has ended.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	c.cancel()
	c.wg.Wait()
	return nil
}

// limiter spaces submits interval apart (burst 1).
type limiter struct {
	mu       sync.Mutex
	interval time.Duration
	next     time.Time
}

func (l *limiter) wait(ctx context.Context) error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	now := time.Now()
	at := l.next
	if at.Before(now) {
		at = now
	}
	l.next = at.Add(l.interval)
	l.mu.Unlock()
	d := at.Sub(now)
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// PDUCount is how many PDUs of one command and status went one way.
type PDUCount struct {
	Command string
	Status  uint32
	Count   uint64
}

// BindStats is a snapshot of one connection role of a bind.
type BindStats struct {
	Name       string
	Role       string // transceiver, transmitter or receiver
	State      string // connecting, bound, backoff, unbinding, closed
	Binds      uint64 // successful binds
	Reconnects uint64
	In, Out    []PDUCount
	WindowUsed int
	WindowSize int
	MOAcked    uint64        // deliver_sm/data_sm answered
	MOAckP50   time.Duration // read to response written, last 4096
	MOAckP99   time.Duration
	// PartialMessages and PartialBytes are the incomplete multipart MOs the
	// bind holds in memory (shared by the links of one bind).
	PartialMessages int
	PartialBytes    int
}

type pduKey struct {
	id pdu.ID
	st pdu.Status
}

type linkStats struct {
	mu         sync.Mutex
	s          BindStats
	in, out    map[pduKey]uint64
	lat        []time.Duration
	latN       int
	windowSize int
}

func newLinkStats(name, role string, window int) *linkStats {
	return &linkStats{s: BindStats{Name: name, Role: role, State: "idle", WindowSize: window},
		in: map[pduKey]uint64{}, out: map[pduKey]uint64{}, lat: make([]time.Duration, 0, 4096)}
}

func (s *linkStats) count(in bool, id pdu.ID, st pdu.Status) {
	s.mu.Lock()
	if in {
		s.in[pduKey{id, st}]++
	} else {
		s.out[pduKey{id, st}]++
	}
	s.mu.Unlock()
}

func (s *linkStats) setState(st string) {
	s.mu.Lock()
	s.s.State = st
	s.mu.Unlock()
}

func (s *linkStats) bound() {
	s.mu.Lock()
	s.s.State = "bound"
	s.s.Binds++
	s.mu.Unlock()
}

func (s *linkStats) reconnect() {
	s.mu.Lock()
	s.s.Reconnects++
	s.mu.Unlock()
}

func (s *linkStats) ackLatency(d time.Duration) {
	s.mu.Lock()
	if len(s.lat) < cap(s.lat) {
		s.lat = append(s.lat, d)
	} else {
		s.lat[s.latN%len(s.lat)] = d
	}
	s.latN++
	s.s.MOAcked++
	s.mu.Unlock()
}

func counts(m map[pduKey]uint64) []PDUCount {
	out := make([]PDUCount, 0, len(m))
	for k, v := range m {
		out = append(out, PDUCount{Command: cmdName(k.id), Status: uint32(k.st), Count: v})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Command != out[j].Command {
			return out[i].Command < out[j].Command
		}
		return out[i].Status < out[j].Status
	})
	return out
}

// Stats returns a snapshot per connection role of every bind, in
// configuration order.
func (c *Client) Stats() []BindStats {
	out := make([]BindStats, 0, len(c.links))
	for _, l := range c.links {
		s := l.stats
		s.mu.Lock()
		bs := s.s
		bs.In, bs.Out = counts(s.in), counts(s.out)
		lat := slices.Clone(s.lat)
		s.mu.Unlock()
		if len(lat) > 0 {
			slices.Sort(lat)
			bs.MOAckP50 = lat[len(lat)*50/100]
			bs.MOAckP99 = lat[min(len(lat)-1, len(lat)*99/100)]
		}
		if cn := l.current(); cn != nil {
			bs.WindowUsed = len(cn.window)
		}
		l.b.rmu.Lock()
		bs.PartialMessages, bs.PartialBytes = l.b.reasm.Pending(), l.b.reasm.Bytes()
		l.b.rmu.Unlock()
		out = append(out, bs)
	}
	return out
}
