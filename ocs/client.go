package ocs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/avp"
	"github.com/fiorix/go-diameter/v4/diam/datatype"
	"github.com/fiorix/go-diameter/v4/diam/dict"
)

// ClientOptions configure the Diameter side: who we are, whom we talk to,
// and the transport timing.
type ClientOptions struct {
	// OriginHost and OriginRealm are this gateway's Diameter identity.
	OriginHost, OriginRealm string
	// DestinationRealm is the OCS's realm; DestinationHost (optional) pins
	// requests to one OCS host behind the peers.
	DestinationRealm, DestinationHost string
	// Peers in order of preference: requests go to the first open one and
	// fail over down the list.
	Peers []Peer
	// AnswerTimeout bounds one request on one peer (default 2s); Retries
	// is how many times an unanswered request is sent again, same
	// Session-Id and CC-Request-Number with the T bit, to the next open
	// peer (default 2).
	AnswerTimeout time.Duration
	Retries       *int
	// WatchdogInterval is Tw of RFC 3539 (default 30s): an idle link is
	// probed with a DWR, and one that stays silent a whole interval after
	// it is closed.
	WatchdogInterval time.Duration
	// ReconnectMin and ReconnectMax bound the backoff between attempts to
	// reconnect a peer (defaults 1s and 30s).
	ReconnectMin, ReconnectMax time.Duration
	Logger                     *slog.Logger
}

// Client is a Diameter client over several peers with failover. It keeps
// every peer connected in the background (CER/CEA, DWR/DWA, reconnect with
// backoff) and sends each request to the first open peer in preference
// order.
type Client struct {
	opt     ClientOptions
	peers   []*peer
	stateID uint32
	e2e     atomic.Uint32

	mu      sync.Mutex
	changed chan struct{} // closed and replaced when a peer opens or closes

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// NewClient checks o and starts connecting to the peers; Close stops.
func NewClient(o ClientOptions) (*Client, error) {
	if o.OriginHost == "" || o.OriginRealm == "" || o.DestinationRealm == "" {
		return nil, errors.New("ocs: OriginHost, OriginRealm and DestinationRealm are required")
	}
	if len(o.Peers) == 0 {
		return nil, errors.New("ocs: at least one peer is required")
	}
	if o.AnswerTimeout <= 0 {
		o.AnswerTimeout = 2 * time.Second
	}
	if o.Retries == nil {
		two := 2
		o.Retries = &two
	}
	if o.WatchdogInterval <= 0 {
		o.WatchdogInterval = 30 * time.Second
	}
	if o.ReconnectMin <= 0 {
		o.ReconnectMin = time.Second
	}
	if o.ReconnectMax < o.ReconnectMin {
		o.ReconnectMax = max(30*time.Second, o.ReconnectMin)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	now := time.Now()
	c := &Client{opt: o, stateID: uint32(now.Unix()), changed: make(chan struct{})}
	// End-to-End ids: high 12 bits from the clock, low 20 counting (RFC
	// 6733 3), so a restarted client does not reuse recent ones.
	c.e2e.Store(uint32(now.Unix()) << 20)
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	for _, pc := range o.Peers {
		p := &peer{cfg: pc, c: c, log: o.Logger.With("peer", pc.Addr)}
		c.peers = append(c.peers, p)
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			p.run(ctx)
		}()
	}
	return c, nil
}

// Close disconnects every peer (DPR) and stops reconnecting.
func (c *Client) Close() error {
	c.cancel()
	c.wg.Wait()
	return nil
}

// OpenPeers lists the addresses of the peers with an open connection.
func (c *Client) OpenPeers() []string {
	var out []string
	for _, p := range c.peers {
		if p.open() {
			out = append(out, p.cfg.Addr)
		}
	}
	return out
}

// WaitOpen blocks until at least one peer is open or ctx ends.
func (c *Client) WaitOpen(ctx context.Context) error {
	_, err := c.pick(ctx, nil)
	return err
}

func (c *Client) wake() {
	c.mu.Lock()
	close(c.changed)
	c.changed = make(chan struct{})
	c.mu.Unlock()
}

func (c *Client) nextEndToEnd() uint32 { return c.e2e.Add(1) }

// pick returns the first open peer in preference order, other than avoid
// when another is open; with none open it waits for one until ctx ends.
func (c *Client) pick(ctx context.Context, avoid *peer) (*peer, error) {
	for {
		c.mu.Lock()
		changed := c.changed
		c.mu.Unlock()
		var fallback *peer
		for _, p := range c.peers {
			if !p.open() {
				continue
			}
			if p != avoid {
				return p, nil
			}
			fallback = p
		}
		if fallback != nil {
			return fallback, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: %v", errNoPeer, ctx.Err())
		}
	}
}

// baseRequest starts a request with the identity AVPs every request
// carries (Origin-Host, Origin-Realm; Destination-Realm for credit
// control).
func (c *Client) baseRequest(cmd uint32, app uint32) *diam.Message {
	flags := uint8(flagRequest)
	if app != 0 {
		flags |= flagProxiable
	}
	m := diam.NewMessage(cmd, flags, app, 1, c.nextEndToEnd(), dict.Default)
	m.NewAVP(avp.OriginHost, avp.Mbit, 0, datatype.DiameterIdentity(c.opt.OriginHost))
	m.NewAVP(avp.OriginRealm, avp.Mbit, 0, datatype.DiameterIdentity(c.opt.OriginRealm))
	return m
}

// Exchange sends request m and returns its answer. A request that gets no
// answer (timeout, connection lost, a malformed answer) or a 3xxx answer
// is sent again — the same message, same End-to-End id, with the T bit —
// to the next open peer, at most Retries times, within ctx. The error
// returned leaves the outcome unknown.
func (c *Client) Exchange(ctx context.Context, m *diam.Message) (*diam.Message, error) {
	var last error
	var avoid *peer
	for try := 0; try <= *c.opt.Retries; try++ {
		if try > 0 {
			m.Header.CommandFlags |= flagRetransmit
		}
		p, err := c.pick(ctx, avoid)
		if err != nil {
			if last != nil {
				return nil, fmt.Errorf("%w (after: %v)", err, last)
			}
			return nil, err
		}
		a, err := p.roundTrip(ctx, m, c.opt.AnswerTimeout)
		if err == nil {
			rc := ResultCode(a)
			if !tryAnotherPeer(rc) || try == *c.opt.Retries {
				return a, nil
			}
			err = fmt.Errorf("peer answered %s", CodeName(rc))
		}
		last = fmt.Errorf("%s via %s: %w", cmdName(m.Header.CommandCode), p.cfg.Addr, err)
		c.opt.Logger.Warn("diameter request unanswered; sending again", "try", try+1, "err", last)
		avoid = p
		if ctx.Err() != nil {
			break
		}
	}
	return nil, last
}

// Stats are counters over every peer since the client started.
type Stats struct {
	Opens        int // connections opened (capabilities exchanged)
	DWAs         int // answers to our watchdog requests
	DWRsAnswered int // the peers' watchdog requests we answered
}

// Stats returns the client's counters.
func (c *Client) Stats() Stats {
	var s Stats
	for _, p := range c.peers {
		s.Opens += int(p.opens.Load())
		s.DWAs += int(p.dwas.Load())
		s.DWRsAnswered += int(p.dwrs.Load())
	}
	return s
}
