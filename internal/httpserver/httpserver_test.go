package httpserver_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/carrierbill/carrierbill/internal/httpserver"
)

func serve(t *testing.T, to httpserver.Timeouts) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := httpserver.New(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}), to)
	if !httpserver.Hardened(srv) {
		t.Fatalf("server %+v is not hardened", srv)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// readUntilClosed reads conn until the server closes it and reports how
// long that took; it fails after limit.
func readUntilClosed(t *testing.T, conn net.Conn, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	conn.SetReadDeadline(start.Add(limit))
	_, err := io.Copy(io.Discard, conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the server kept the connection open for %v", limit)
	}
	return time.Since(start)
}

// TestIdleKeepAliveConnectionsAreClosed: a client that sent one request
// and keeps the connection open is cut off after the idle timeout.
func TestIdleKeepAliveConnectionsAreClosed(t *testing.T) {
	t.Parallel()
	addr := serve(t, httpserver.Timeouts{Idle: 200 * time.Millisecond})
	conns := make([]net.Conn, 20)
	for i := range conns {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprint(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.Close {
			t.Fatal("the server closed a keep-alive connection at once")
		}
		conns[i] = c
	}
	for _, c := range conns {
		readUntilClosed(t, c, 10*time.Second)
	}
}

// TestSlowHeadersAreCut: a client that dribbles its header is cut off
// after the header timeout (slowloris).
func TestSlowHeadersAreCut(t *testing.T) {
	t.Parallel()
	addr := serve(t, httpserver.Timeouts{ReadHeader: 200 * time.Millisecond})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprint(c, "GET / HTTP/1.1\r\nHost: x\r\n") // never ends the header
	readUntilClosed(t, c, 10*time.Second)
}

// TestHugeHeaderRefused: a header over MaxHeaderBytes is 431.
func TestHugeHeaderRefused(t *testing.T) {
	t.Parallel()
	addr := serve(t, httpserver.Timeouts{MaxHeaderBytes: 1 << 10})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\n\r\n", strings.Repeat("a", 64<<10))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("status %d, want 431", resp.StatusCode)
	}
}

func TestDefaults(t *testing.T) {
	s := httpserver.New(http.NotFoundHandler(), httpserver.Timeouts{})
	if s.ReadHeaderTimeout != httpserver.DefaultReadHeader || s.IdleTimeout != httpserver.DefaultIdle ||
		s.WriteTimeout != httpserver.DefaultWrite || s.ReadTimeout != httpserver.DefaultRead || s.MaxHeaderBytes != httpserver.DefaultMaxHeaderBytes {
		t.Fatalf("defaults: %+v", s)
	}
}
