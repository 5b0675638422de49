package faultproxy

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// echoServer is a target that echoes every line back; it is closed when the
// test ends.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listening: %v", err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatalf("dialing %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// roundTrip writes a line and reads it back within d.
func roundTrip(c net.Conn, line string, d time.Duration) (string, error) {
	if err := c.SetDeadline(time.Now().Add(d)); err != nil {
		return "", err
	}
	if _, err := io.WriteString(c, line+"\n"); err != nil {
		return "", err
	}
	got, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return "", err
	}
	return got[:len(got)-1], nil
}

func mustEcho(t *testing.T, c net.Conn, line string) {
	t.Helper()
	got, err := roundTrip(c, line, 2*time.Second)
	if err != nil {
		t.Fatalf("round trip %q: %v", line, err)
	}
	if got != line {
		t.Fatalf("round trip: got %q, want %q", got, line)
	}
}

// mustFailNew asserts that a new connection to addr is refused or reset,
// either while connecting or at the first round trip.
func mustFailNew(t *testing.T, addr string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		if isTimeout(err) {
			t.Fatalf("dialing %s timed out; want a refusal or reset", addr)
		}
		return
	}
	defer c.Close()
	mustFail(t, c)
}

// mustFail asserts that a round trip fails with something other than a
// timeout (a reset or EOF: "the server is gone").
func mustFail(t *testing.T, c net.Conn) {
	t.Helper()
	_, err := roundTrip(c, "x", 2*time.Second)
	if err == nil {
		t.Fatal("round trip succeeded; want a reset or EOF")
	}
	if isTimeout(err) {
		t.Fatalf("round trip timed out (%v); want a reset or EOF", err)
	}
}

func mustTimeOut(t *testing.T, c net.Conn) {
	t.Helper()
	_, err := roundTrip(c, "held", 150*time.Millisecond)
	if !isTimeout(err) {
		t.Fatalf("round trip: got %v, want a timeout", err)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded)
}

func TestProxyStates(t *testing.T) {
	t.Parallel()
	type step struct {
		name string
		do   func(t *testing.T, p *Proxy, old net.Conn)
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"forwards", []step{
			{"old conn echoes", func(t *testing.T, p *Proxy, old net.Conn) { mustEcho(t, old, "hello") }},
			{"new conn echoes", func(t *testing.T, p *Proxy, _ net.Conn) { mustEcho(t, dial(t, p.Addr()), "again") }},
		}},
		{"block resets old and new, unblock restores new", []step{
			{"block", func(t *testing.T, p *Proxy, _ net.Conn) { p.Block() }},
			{"old conn fails", func(t *testing.T, p *Proxy, old net.Conn) { mustFail(t, old) }},
			{"new conn fails", func(t *testing.T, p *Proxy, _ net.Conn) { mustFailNew(t, p.Addr()) }},
			{"unblock", func(t *testing.T, p *Proxy, _ net.Conn) { p.Unblock() }},
			{"new conn echoes", func(t *testing.T, p *Proxy, _ net.Conn) { mustEcho(t, dial(t, p.Addr()), "back") }},
		}},
		{"cut drops old, keeps accepting", []step{
			{"cut", func(t *testing.T, p *Proxy, _ net.Conn) { p.CutAll() }},
			{"old conn fails", func(t *testing.T, p *Proxy, old net.Conn) { mustFail(t, old) }},
			{"new conn echoes", func(t *testing.T, p *Proxy, _ net.Conn) { mustEcho(t, dial(t, p.Addr()), "new") }},
		}},
		{"hang holds bytes until unblock", []step{
			{"hang", func(t *testing.T, p *Proxy, _ net.Conn) { p.Hang() }},
			{"old conn times out", func(t *testing.T, p *Proxy, old net.Conn) { mustTimeOut(t, old) }},
			{"new conn times out", func(t *testing.T, p *Proxy, _ net.Conn) { mustTimeOut(t, dial(t, p.Addr())) }},
			{"unblock delivers the held line", func(t *testing.T, p *Proxy, old net.Conn) {
				p.Unblock()
				if err := old.SetDeadline(time.Now().Add(2 * time.Second)); err != nil {
					t.Fatal(err)
				}
				got, err := bufio.NewReader(old).ReadString('\n')
				if err != nil || got != "held\n" {
					t.Fatalf("after unblock: got %q, %v; want the held line", got, err)
				}
			}},
		}},
		{"hang then block resets", []step{
			{"hang", func(t *testing.T, p *Proxy, _ net.Conn) { p.Hang() }},
			{"old conn times out", func(t *testing.T, p *Proxy, old net.Conn) { mustTimeOut(t, old) }},
			{"block", func(t *testing.T, p *Proxy, _ net.Conn) { p.Block() }},
			{"old conn fails", func(t *testing.T, p *Proxy, old net.Conn) { mustFail(t, old) }},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := Start(t, echoServer(t))
			old := dial(t, p.Addr())
			mustEcho(t, old, "warm-up")
			for _, s := range tt.steps {
				t.Logf("step: %s", s.name)
				s.do(t, p, old)
			}
		})
	}
}

func TestTargetDownLooksRefused(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	p := Start(t, dead)
	mustFailNew(t, p.Addr())
}

func TestCountsAndCloseIsIdempotent(t *testing.T) {
	t.Parallel()
	p := Start(t, echoServer(t))
	c := dial(t, p.Addr())
	mustEcho(t, c, "one")
	if got := p.Accepted(); got != 1 {
		t.Fatalf("Accepted = %d, want 1", got)
	}
	if got := p.Open(); got != 1 {
		t.Fatalf("Open = %d, want 1", got)
	}
	p.Close()
	p.Close()
	mustFail(t, c)
	if _, err := net.DialTimeout("tcp", p.Addr(), time.Second); err == nil {
		t.Fatal("dialing a closed proxy succeeded")
	}
}
