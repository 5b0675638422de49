package ocs

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/avp"
	"github.com/fiorix/go-diameter/v4/diam/datatype"
	"github.com/fiorix/go-diameter/v4/diam/dict"
)

// Peer is one Diameter peer (an OCS front end) the client connects to.
type Peer struct {
	// Addr is host:port (3868 is Diameter's port, 5658 over TLS).
	Addr string
	// Host, when set, is the Origin-Host the peer must announce in its CEA.
	Host string
	// TLS, when set, wraps the connection in TLS (RFC 6733 "TLS at
	// connect", not the Inband-Security-Id negotiation).
	TLS *tls.Config
}

// Errors of one exchange with a peer. All leave the outcome unknown.
var (
	errLinkLost      = errors.New("ocs: connection to the peer lost")
	errAnswerTimeout = errors.New("ocs: no answer in time")
	errNoPeer        = errors.New("ocs: no Diameter peer is open")
)

// answer is what comes back for one request: a decoded message, or why
// there is none.
type answer struct {
	m   *diam.Message
	err error
}

// peer is the live side of a Peer: at most one open connection at a time,
// requests in flight by hop-by-hop id, the watchdog.
type peer struct {
	cfg Peer
	c   *Client
	log *slog.Logger

	mu       sync.Mutex
	conn     net.Conn // nil unless open (CEA received)
	host     string   // the peer's Origin-Host, from its CEA
	pending  map[uint32]chan answer
	hopByHop uint32
	wmu      sync.Mutex // one writer at a time

	lastRecv atomic.Int64 // unix nanos of the last message received
	opens    atomic.Int64 // how many times a connection opened (tests)
	dwas     atomic.Int64 // DWAs received (tests, interop)
	dwrs     atomic.Int64 // the peer's DWRs answered
}

// open reports whether the peer has an open connection.
func (p *peer) open() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.conn != nil
}

// run keeps the peer connected until ctx ends: dial, CER/CEA, serve, and
// after a failure wait a backoff that doubles from ReconnectMin up to
// ReconnectMax (reset by every successful capabilities exchange).
func (p *peer) run(ctx context.Context) {
	backoff := p.c.opt.ReconnectMin
	for ctx.Err() == nil {
		conn, err := p.connect(ctx)
		if err == nil {
			backoff = p.c.opt.ReconnectMin
			p.opens.Add(1)
			err = p.serve(ctx, conn)
			if ctx.Err() != nil {
				return
			}
			p.log.Warn("diameter peer connection closed; reconnecting", "err", err, "backoff", backoff)
		} else {
			if ctx.Err() != nil {
				return
			}
			p.log.Warn("diameter peer unreachable; retrying", "err", err, "backoff", backoff)
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(backoff*2, p.c.opt.ReconnectMax)
	}
}

// connect dials the peer and runs the capabilities exchange.
func (p *peer) connect(ctx context.Context) (net.Conn, error) {
	d := net.Dialer{Timeout: p.c.opt.AnswerTimeout}
	var conn net.Conn
	var err error
	if p.cfg.TLS != nil {
		td := tls.Dialer{NetDialer: &d, Config: p.cfg.TLS}
		conn, err = td.DialContext(ctx, "tcp", p.cfg.Addr)
	} else {
		conn, err = d.DialContext(ctx, "tcp", p.cfg.Addr)
	}
	if err != nil {
		return nil, fmt.Errorf("dialing %s: %w", p.cfg.Addr, err)
	}
	host, err := p.exchangeCapabilities(conn)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("capabilities exchange with %s: %w", p.cfg.Addr, err)
	}
	p.mu.Lock()
	p.conn, p.host, p.pending = conn, host, map[uint32]chan answer{}
	p.mu.Unlock()
	p.lastRecv.Store(time.Now().UnixNano())
	p.log.Info("diameter peer open", "peer_host", host)
	p.c.wake()
	return conn, nil
}

// exchangeCapabilities sends the CER and waits for the CEA; the peer must
// answer DIAMETER_SUCCESS and support credit control (or relay).
func (p *peer) exchangeCapabilities(conn net.Conn) (string, error) {
	o := p.c.opt
	m := diam.NewMessage(cmdCapabilitiesExchange, flagRequest, 0, p.c.nextEndToEnd(), p.c.nextEndToEnd(), dict.Default)
	m.NewAVP(avp.OriginHost, avp.Mbit, 0, datatype.DiameterIdentity(o.OriginHost))
	m.NewAVP(avp.OriginRealm, avp.Mbit, 0, datatype.DiameterIdentity(o.OriginRealm))
	if ta, ok := conn.LocalAddr().(*net.TCPAddr); ok {
		m.NewAVP(avp.HostIPAddress, avp.Mbit, 0, datatype.Address(ta.IP))
	}
	m.NewAVP(avp.VendorID, avp.Mbit, 0, datatype.Unsigned32(0))
	m.NewAVP(avp.ProductName, 0, 0, datatype.UTF8String("carrierbill"))
	m.NewAVP(avp.OriginStateID, avp.Mbit, 0, datatype.Unsigned32(p.c.stateID))
	m.NewAVP(avp.SupportedVendorID, avp.Mbit, 0, datatype.Unsigned32(VendorTGPP))
	m.NewAVP(avp.AuthApplicationID, avp.Mbit, 0, datatype.Unsigned32(AppCreditControl))
	deadline := time.Now().Add(o.AnswerTimeout)
	_ = conn.SetDeadline(deadline)
	defer conn.SetDeadline(time.Time{})
	if err := writeMsg(conn, m); err != nil {
		return "", fmt.Errorf("writing CER: %w", err)
	}
	for {
		f, err := readFrame(conn)
		if err != nil {
			return "", fmt.Errorf("reading CEA: %w", err)
		}
		if f.code != cmdCapabilitiesExchange || f.request() {
			continue // nothing else is allowed before the CEA; ignore it
		}
		a, err := decode(f)
		if err != nil {
			return "", fmt.Errorf("CEA: %w", err)
		}
		if rc := ResultCode(a); rc != CodeSuccess {
			return "", fmt.Errorf("CEA result %s", CodeName(rc))
		}
		host := Text(Find(a.AVP, avp.OriginHost))
		if p.cfg.Host != "" && host != p.cfg.Host {
			return "", fmt.Errorf("CEA Origin-Host %q, configured %q", host, p.cfg.Host)
		}
		if !supportsCreditControl(a) {
			return "", fmt.Errorf("peer %q announces no credit-control application (Auth-Application-Id 4)", host)
		}
		return host, nil
	}
}

// supportsCreditControl reports whether a CEA announces application 4
// (directly, vendor-specific, or as a relay).
func supportsCreditControl(cea *diam.Message) bool {
	ok := func(avps []*diam.AVP) bool {
		for _, a := range avps {
			if a == nil || (a.Code != avp.AuthApplicationID && a.Code != avp.AcctApplicationID) {
				continue
			}
			if v, _ := Uint(a); v == AppCreditControl || v == 0xffffffff {
				return true
			}
		}
		return false
	}
	if ok(cea.AVP) {
		return true
	}
	for _, a := range cea.AVP {
		if a != nil && a.Code == avp.VendorSpecificApplicationID && ok(Children(a)) {
			return true
		}
	}
	return false
}

// serve reads the open connection until it fails, answering the peer's
// DWR and DPR and routing answers to their requests, while the watchdog
// probes an idle link. It returns why the connection ended; every request
// still waiting on it gets errLinkLost.
func (p *peer) serve(ctx context.Context, conn net.Conn) error {
	done := make(chan struct{})
	var (
		once sync.Once
		why  error
	)
	stop := func(err error) {
		once.Do(func() {
			why = err
			conn.Close()
		})
	}
	wd := make(chan struct{})
	go func() {
		defer close(wd)
		p.watchdog(conn, done, stop)
	}()
	go func() {
		select {
		case <-ctx.Done():
			p.disconnect(conn)
			stop(ctx.Err())
		case <-done:
		}
	}()
	r := bufio.NewReaderSize(conn, 16<<10)
	for {
		f, err := readFrame(r)
		if err != nil {
			stop(err)
			break
		}
		p.lastRecv.Store(time.Now().UnixNano())
		if f.request() {
			if end := p.answerRequest(conn, f); end != nil {
				stop(end)
				break
			}
			continue
		}
		if f.code == cmdDeviceWatchdog {
			p.dwas.Add(1)
		}
		m, derr := decode(f)
		if derr != nil {
			p.log.Warn("malformed diameter answer; its request's outcome is unknown", "cmd", cmdName(f.code), "err", derr)
		}
		p.deliver(f.hopByHop, answer{m: m, err: derr})
	}
	close(done)
	<-wd
	stop(errLinkLost) // no-op when already stopped; makes why safe to read
	err := why
	p.mu.Lock()
	if p.conn == conn {
		p.conn = nil
	}
	pending := p.pending
	p.pending = nil
	p.mu.Unlock()
	for _, ch := range pending {
		ch <- answer{err: errLinkLost}
	}
	p.c.wake()
	return err
}

// watchdog is RFC 3539's device watchdog, simplified: every
// WatchdogInterval, if nothing came from the peer during the interval a
// DWR goes out; if a DWR is still unanswered (nothing at all received since
// it was sent) at the next tick, the connection is declared dead and
// closed, which fails its requests over to the other peers.
func (p *peer) watchdog(conn net.Conn, done <-chan struct{}, stop func(error)) {
	t := time.NewTicker(p.c.opt.WatchdogInterval)
	defer t.Stop()
	var sentAt int64
	for {
		select {
		case <-done:
			return
		case <-t.C:
		}
		last := p.lastRecv.Load()
		if sentAt != 0 {
			if last < sentAt {
				p.log.Warn("diameter watchdog: no DWA; closing the connection", "after", p.c.opt.WatchdogInterval)
				stop(errors.New("watchdog timeout"))
				return
			}
			sentAt = 0
		}
		if time.Since(time.Unix(0, last)) < p.c.opt.WatchdogInterval {
			continue
		}
		m := p.c.baseRequest(cmdDeviceWatchdog, 0)
		m.NewAVP(avp.OriginStateID, avp.Mbit, 0, datatype.Unsigned32(p.c.stateID))
		sentAt = time.Now().UnixNano()
		if _, err := p.send(conn, m, nil); err != nil {
			stop(fmt.Errorf("writing DWR: %w", err))
			return
		}
	}
}

// answerRequest answers a request from the peer: DWA to a DWR, DPA to a
// DPR (then the connection ends), DIAMETER_COMMAND_UNSUPPORTED to anything
// else. It returns non-nil when the connection must end.
func (p *peer) answerRequest(conn net.Conn, f frame) error {
	rc := uint32(CodeSuccess)
	flags := uint8(0)
	switch f.code {
	case cmdDeviceWatchdog:
		p.dwrs.Add(1)
	case cmdDisconnectPeer:
	default:
		rc, flags = CodeCommandUnsupported, flagError
	}
	a := diam.NewMessage(f.code, flags, f.app, f.hopByHop, f.endToEnd, dict.Default)
	a.NewAVP(avp.ResultCode, avp.Mbit, 0, datatype.Unsigned32(rc))
	a.NewAVP(avp.OriginHost, avp.Mbit, 0, datatype.DiameterIdentity(p.c.opt.OriginHost))
	a.NewAVP(avp.OriginRealm, avp.Mbit, 0, datatype.DiameterIdentity(p.c.opt.OriginRealm))
	p.wmu.Lock()
	_ = conn.SetWriteDeadline(time.Now().Add(p.c.opt.AnswerTimeout))
	err := writeMsg(conn, a)
	p.wmu.Unlock()
	if err != nil {
		return fmt.Errorf("answering %s: %w", cmdName(f.code), err)
	}
	if f.code == cmdDisconnectPeer {
		return errors.New("the peer sent DPR")
	}
	return nil
}

// disconnect says goodbye with a DPR (best effort, not waiting long).
func (p *peer) disconnect(conn net.Conn) {
	m := p.c.baseRequest(cmdDisconnectPeer, 0)
	m.NewAVP(avp.DisconnectCause, avp.Mbit, 0, datatype.Enumerated(0)) // REBOOTING
	ch := make(chan answer, 1)
	if _, err := p.send(conn, m, ch); err != nil {
		return
	}
	t := time.NewTimer(time.Second)
	defer t.Stop()
	select {
	case <-ch:
	case <-t.C:
	}
}

// send writes request m on conn under a fresh hop-by-hop id; when ch is
// not nil the answer is delivered to it.
func (p *peer) send(conn net.Conn, m *diam.Message, ch chan answer) (uint32, error) {
	p.mu.Lock()
	if p.conn != conn || p.pending == nil {
		p.mu.Unlock()
		return 0, errLinkLost
	}
	p.hopByHop++
	id := p.hopByHop
	if ch != nil {
		p.pending[id] = ch
	}
	p.mu.Unlock()
	m.Header.HopByHopID = id
	p.wmu.Lock()
	_ = conn.SetWriteDeadline(time.Now().Add(p.c.opt.AnswerTimeout))
	err := writeMsg(conn, m)
	p.wmu.Unlock()
	if err != nil {
		p.forget(id)
		conn.Close() // the read loop fails the rest
		return 0, fmt.Errorf("%w: writing %s: %v", errLinkLost, cmdName(m.Header.CommandCode), err)
	}
	return id, nil
}

// deliver hands an answer to the request waiting on hopByHop, if any (an
// answer nobody waits for any more is dropped).
func (p *peer) deliver(hopByHop uint32, a answer) {
	p.mu.Lock()
	ch := p.pending[hopByHop]
	delete(p.pending, hopByHop)
	p.mu.Unlock()
	if ch != nil {
		ch <- a
	}
}

func (p *peer) forget(id uint32) {
	p.mu.Lock()
	delete(p.pending, id)
	p.mu.Unlock()
}

// roundTrip sends m on the open connection and waits for its answer, at
// most timeout.
func (p *peer) roundTrip(ctx context.Context, m *diam.Message, timeout time.Duration) (*diam.Message, error) {
	p.mu.Lock()
	conn := p.conn
	p.mu.Unlock()
	if conn == nil {
		return nil, errLinkLost
	}
	ch := make(chan answer, 1)
	id, err := p.send(conn, m, ch)
	if err != nil {
		return nil, err
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case a := <-ch:
		return a.m, a.err
	case <-t.C:
		p.forget(id)
		return nil, errAnswerTimeout
	case <-ctx.Done():
		p.forget(id)
		return nil, ctx.Err()
	}
}
