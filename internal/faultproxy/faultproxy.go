// Package faultproxy is a TCP proxy that a test puts between the gateway and
// a server (PostgreSQL, Redis, an SMSC) to break the network on command.
//
// It exists so that fault tests never touch the shared servers: instead of
// stopping the shared PostgreSQL or Redis, a test points the code under test
// at the proxy and makes the proxy misbehave. It is for tests only and must
// never be imported by production code; it must never stop, slow or
// otherwise affect the target server itself.
//
// The proxy has four states, switched at any time from the test goroutine:
//
//   - forwarding (the start state, and after Unblock): bytes flow both ways.
//   - Block: "the server is down". Every existing connection is reset and
//     every new connection is accepted and reset at once, so clients see
//     connection reset / EOF errors. The listening address stays the same,
//     so configuration that names Addr stays valid across Block/Unblock.
//   - Hang: "the server is alive but does not answer". New connections are
//     accepted and existing ones stay open, but no byte is forwarded in
//     either direction; bytes read meanwhile are held and delivered on
//     Unblock, like a network partition that heals. Use it to prove that a
//     per-call timeout fires.
//   - CutAll (an action, not a state): reset every existing connection, keep
//     accepting new ones. "The connection dropped mid-run": pools must notice
//     and redial.
//
// Example, the billing test "Redis stopped → service busy":
//
//	rdb, prefix := dbtest.Redis(t)                 // skips or fails when Redis is absent
//	p := faultproxy.Start(t, rdb.Options().Addr)   // closed at test end
//	lim, err := redis.Open("redis://"+p.Addr(), redis.Options{Prefix: prefix})
//	...
//	p.Block()                                      // Redis is "down"
//	_, err = lim.Allow(ctx, rule, key)             // must be an error: fail closed
//	p.Unblock()                                    // Redis is back
//
// And "Postgres stopped → MOs NACKed with 0x64 and processed once it is back":
//
//	p := faultproxy.Start(t, "127.0.0.1:5432")
//	url := strings.Replace(dbtest.Postgres(t), "127.0.0.1:5432", p.Addr(), 1)
//	... open the pool on url, run traffic, p.Block(), expect 0x64, p.Unblock() ...
//
// Start registers a cleanup that closes the listener and every connection and
// waits for every goroutine the proxy started, so tests may use goleak.
package faultproxy

import (
	"errors"
	"net"
	"sync"
	"testing"
	"time"
)

type mode int

const (
	forwarding mode = iota
	blocked
	hung
)

// Proxy is a controllable TCP proxy. Its methods are safe for concurrent use.
type Proxy struct {
	target string
	ln     net.Listener
	wg     sync.WaitGroup

	mu       sync.Mutex
	mode     mode
	changed  chan struct{} // closed and replaced on every state change
	conns    map[*link]struct{}
	closed   bool
	accepted int
}

// link is one proxied connection: the client side and the target side.
type link struct {
	client net.Conn
	done   chan struct{} // closed when the link is torn down

	mu     sync.Mutex
	server net.Conn // nil until dialed
	torn   bool
}

func (l *link) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.torn {
		return
	}
	l.torn = true
	close(l.done)
	reset(l.client)
	if l.server != nil {
		reset(l.server)
	}
}

// setServer attaches the dialed target connection; it reports false (and
// resets s) when the link was torn down while dialing.
func (l *link) setServer(s net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.torn {
		reset(s)
		return false
	}
	l.server = s
	return true
}

// reset closes c with SO_LINGER 0, so the peer sees a reset rather than an
// orderly close, as when a server process dies.
func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}

// Start listens on 127.0.0.1:0 and forwards every accepted connection to
// target (host:port). The proxy is closed when the test ends.
func Start(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("faultproxy: listening on 127.0.0.1:0: %v", err)
	}
	p := &Proxy{
		target:  target,
		ln:      ln,
		changed: make(chan struct{}),
		conns:   make(map[*link]struct{}),
	}
	p.wg.Add(1)
	go p.acceptLoop()
	t.Cleanup(p.Close)
	return p
}

// Addr is the proxy's listening address (127.0.0.1:port); point the code
// under test at it instead of at the target.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Block makes the server look down: existing connections are reset and new
// ones are reset as soon as they are accepted, until Unblock.
func (p *Proxy) Block() {
	p.setMode(blocked)
	p.CutAll()
}

// Hang makes the server look hung: connections stay open (and new ones are
// accepted) but nothing is forwarded in either direction until Unblock.
func (p *Proxy) Hang() { p.setMode(hung) }

// Unblock returns to normal forwarding. Bytes held while hung are delivered.
func (p *Proxy) Unblock() { p.setMode(forwarding) }

// CutAll resets every existing connection; new connections are handled
// according to the current state.
func (p *Proxy) CutAll() {
	p.mu.Lock()
	links := make([]*link, 0, len(p.conns))
	for l := range p.conns {
		links = append(links, l)
	}
	p.mu.Unlock()
	for _, l := range links {
		l.close()
	}
}

// Accepted reports how many client connections the proxy has accepted so
// far, including ones it reset. Tests use it to see that a client redialed.
func (p *Proxy) Accepted() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.accepted
}

// Open reports how many proxied connections are currently open.
func (p *Proxy) Open() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns)
}

// Close stops the listener, resets every connection and waits for the
// proxy's goroutines to end. Start registers it as a test cleanup; calling it
// again is harmless.
func (p *Proxy) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	close(p.changed)
	p.mu.Unlock()
	_ = p.ln.Close()
	p.CutAll()
	p.wg.Wait()
}

func (p *Proxy) setMode(m mode) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.mode == m {
		return
	}
	p.mode = m
	close(p.changed)
	p.changed = make(chan struct{})
}

func (p *Proxy) acceptLoop() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// A transient accept error (for example EMFILE): back off
			// briefly rather than spin; the listener is ours alone.
			time.Sleep(10 * time.Millisecond)
			continue
		}
		p.mu.Lock()
		p.accepted++
		m, closed := p.mode, p.closed
		p.mu.Unlock()
		if closed || m == blocked {
			reset(c)
			continue
		}
		p.wg.Add(1)
		go p.serve(c)
	}
}

func (p *Proxy) serve(c net.Conn) {
	defer p.wg.Done()
	l := &link{client: c, done: make(chan struct{})}
	if !p.track(l) {
		reset(c)
		return
	}
	defer p.untrack(l)
	defer l.close()

	var d net.Dialer
	d.Timeout = 5 * time.Second
	s, err := d.Dial("tcp", p.target)
	if err != nil {
		return // the client sees a reset, as if the server refused
	}
	if !l.setServer(s) {
		return // cut while dialing
	}

	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); p.pipe(l, s, c) }()
	go func() { defer wg.Done(); p.pipe(l, c, s) }()
	wg.Wait()
}

func (p *Proxy) track(l *link) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.mode == blocked { // blocked since this one was accepted
		return false
	}
	p.conns[l] = struct{}{}
	return true
}

func (p *Proxy) untrack(l *link) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.conns, l)
}

// pipe copies src to dst, holding bytes while the proxy hangs. When either
// side ends, the whole link is torn down.
func (p *Proxy) pipe(l *link, dst, src net.Conn) {
	defer l.close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !p.waitForwarding(l) {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return // EOF, reset or closed: either way the link is over
		}
	}
}

// waitForwarding blocks while the proxy hangs. It reports false when the
// link was torn down or the proxy blocked or closed meanwhile.
func (p *Proxy) waitForwarding(l *link) bool {
	for {
		p.mu.Lock()
		m, closed, changed := p.mode, p.closed, p.changed
		p.mu.Unlock()
		switch {
		case closed || m == blocked:
			return false
		case m == forwarding:
			return true
		}
		select {
		case <-changed:
		case <-l.done:
			return false
		}
	}
}
