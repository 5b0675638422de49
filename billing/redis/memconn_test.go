package redis

import (
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/carrierbill/carrierbill/clock"
)

// TestInProcessClientsUseMemory: a client of the embedded server made by
// NewClient reaches it through memory, and a pipeline far over the 4 KiB
// that miniredis reads at a time (which would deadlock a net.Pipe) runs.
func TestInProcessClientsUseMemory(t *testing.T) {
	e, err := NewEmbedded(clock.Real{}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewClient("redis://"+e.Addr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if inProcessDialer(e.Addr()) == nil || inProcessDialer("127.0.0.1:1") != nil {
		t.Fatal("the embedded server is not the one dialled through memory")
	}
	big := strings.Repeat("x", 1000)
	p := c.Pipeline()
	for i := range 64 { // about 70 KiB in one write
		p.Set(ctx, "k"+string(rune('A'+i)), big, 0)
	}
	p.DBSize(ctx)
	cmds, err := p.Exec(ctx)
	if err != nil {
		t.Fatalf("a 70 KiB pipeline: %v", err)
	}
	if n := cmds[len(cmds)-1].(interface{ Val() int64 }).Val(); n != 64 {
		t.Fatalf("%d keys, want 64", n)
	}
	// Closing ends the client's connections (an error, not a hang) and
	// forgets the address.
	e.Close()
	if inProcessDialer(e.Addr()) != nil {
		t.Fatal("a closed embedded server is still dialled through memory")
	}
	if err := c.Ping(ctx).Err(); err == nil {
		t.Fatal("ping after the server closed succeeded")
	}
}

// TestMemConn: reads wait for writes, honour their deadline, and see EOF
// after the other end closes and what it wrote is read.
func TestMemConn(t *testing.T) {
	a, b := memPipe()
	if _, err := a.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 3)
	if n, err := b.Read(buf); err != nil || string(buf[:n]) != "hel" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
	if err := b.SetReadDeadline(time.Now().Add(20 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if n, err := b.Read(buf); err != nil || string(buf[:n]) != "lo" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
	if _, err := b.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read past the deadline: %v, want os.ErrDeadlineExceeded", err)
	}
	if err := b.SetReadDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() {
		n, err := b.Read(buf)
		if err == nil && string(buf[:n]) != "x" {
			err = errors.New("read " + string(buf[:n]))
		}
		got <- err
	}()
	if _, err := a.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	if _, err := a.Write([]byte("bye")); err != nil {
		t.Fatal(err)
	}
	a.Close()
	if _, err := a.Write([]byte("more")); !errors.Is(err, io.ErrClosedPipe) {
		t.Fatalf("write after close: %v", err)
	}
	rest, err := io.ReadAll(b)
	if err != nil || string(rest) != "bye" {
		t.Fatalf("after close: %q, %v", rest, err)
	}
}
