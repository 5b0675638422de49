package redis

import (
	"context"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/alicebob/miniredis/v2"
)

// The in-process Redis without sockets (issue 11). The embedded server
// listens on 127.0.0.1 for diagnostics (redis-cli -p), but the clients of
// this process reach it through memory: over loopback TCP every reply
// miniredis flushes (one per command, about 30 a payment with the risk
// rules) was a write system call, 9% of the embedded gateway's CPU.
//
// Why not miniredis's own Dial (net.Pipe): a pipe's Write blocks until
// the other side has read everything, and miniredis reads 4 KiB, then
// answers the first command, and its answer waits for the client, which is
// still writing the rest of its pipeline: a pipeline over 4 KiB would
// deadlock until the deadline. Here a write never blocks (each direction is
// a buffer), as a socket's does not while its buffer has room.

// inProcess maps the address of every embedded server of this process to
// it; NewClient dials those through memory.
var inProcess sync.Map // string → *miniredis.Miniredis

// dialInProcess returns the client's end of a fresh in-memory connection
// to m, whose server end m serves.
func dialInProcess(m *miniredis.Miniredis) net.Conn {
	c, s := memPipe()
	m.Server().ServeConn(s)
	return c
}

// inProcessDialer is the go-redis Dialer of addr when it is an embedded
// server of this process (nil otherwise).
func inProcessDialer(addr string) func(context.Context, string, string) (net.Conn, error) {
	v, ok := inProcess.Load(addr)
	if !ok {
		return nil
	}
	m := v.(*miniredis.Miniredis)
	return func(context.Context, string, string) (net.Conn, error) { return dialInProcess(m), nil }
}

// memPipe returns the two ends of an in-memory connection.
func memPipe() (net.Conn, net.Conn) {
	a, b := newMemBuf(), newMemBuf()
	return &memConn{in: a, out: b}, &memConn{in: b, out: a}
}

// memBuf is one direction: bytes written and not yet read.
type memBuf struct {
	mu       sync.Mutex
	data     []byte
	closed   bool
	deadline time.Time     // the reader's
	wake     chan struct{} // capacity 1: something changed
}

func newMemBuf() *memBuf { return &memBuf{wake: make(chan struct{}, 1)} }

func (b *memBuf) poke() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// memConn is one end: it reads in and writes out.
type memConn struct {
	in, out *memBuf
}

func (c *memConn) Read(p []byte) (int, error) {
	b := c.in
	for {
		b.mu.Lock()
		if len(b.data) > 0 {
			n := copy(p, b.data)
			b.data = b.data[n:]
			if len(b.data) == 0 {
				b.data = nil
			}
			b.mu.Unlock()
			return n, nil
		}
		if b.closed {
			b.mu.Unlock()
			return 0, io.EOF
		}
		deadline := b.deadline
		b.mu.Unlock()
		if deadline.IsZero() {
			<-b.wake
			continue
		}
		wait := time.Until(deadline)
		if wait <= 0 {
			return 0, os.ErrDeadlineExceeded
		}
		t := time.NewTimer(wait)
		select {
		case <-b.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

func (c *memConn) Write(p []byte) (int, error) {
	b := c.out
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return 0, io.ErrClosedPipe
	}
	b.data = append(b.data, p...)
	b.mu.Unlock()
	b.poke()
	return len(p), nil
}

// Close ends both directions: the other end reads what is left, then EOF.
func (c *memConn) Close() error {
	for _, b := range []*memBuf{c.in, c.out} {
		b.mu.Lock()
		b.closed = true
		b.mu.Unlock()
		b.poke()
	}
	return nil
}

func (c *memConn) SetDeadline(t time.Time) error { return c.SetReadDeadline(t) }

// SetReadDeadline bounds Read, as a socket's does (a Read waiting now
// sees the new deadline).
func (c *memConn) SetReadDeadline(t time.Time) error {
	c.in.mu.Lock()
	c.in.deadline = t
	c.in.mu.Unlock()
	c.in.poke()
	return nil
}

// SetWriteDeadline: a write never waits.
func (c *memConn) SetWriteDeadline(time.Time) error { return nil }

func (c *memConn) LocalAddr() net.Addr  { return memAddr{} }
func (c *memConn) RemoteAddr() net.Addr { return memAddr{} }

type memAddr struct{}

func (memAddr) Network() string { return "memory" }
func (memAddr) String() string  { return "in-process" }
