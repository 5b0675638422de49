package replay

import (
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/carrierbill/carrierbill/trace"
)

// genTrace is a synthetic JSON-lines trace of n MOs: subscribers of a pool
// of phones buy from merchant 8001 (an amount or the VIP keyword) and
// confirm with {{code}} a few seconds later; one in ten asks CX instead.
// Arrivals are 20 ms apart, so the minimum interval, the hourly purchase
// rule, expiry and the daily limits all come into play.
type genTrace struct {
	n, i   int
	phones int
	start  time.Time
	buf    []byte
}

func newGenTrace(n int) *genTrace {
	return &genTrace{n: n, phones: 5000, start: time.Date(2026, 11, 21, 8, 0, 0, 0, time.FixedZone("CST", 8*3600))}
}

func (g *genTrace) Read(p []byte) (int, error) {
	for len(g.buf) < len(p) && g.i < g.n {
		i := g.i
		g.i++
		at := g.start.Add(time.Duration(i) * 20 * time.Millisecond).Format(time.RFC3339Nano)
		// MOs come in pairs for one phone: a purchase, then its confirmation.
		phone := fmt.Sprintf("86138%08d", (i/2)%g.phones)
		var text string
		switch {
		case i%2 == 1:
			text = CodePlaceholder
		case (i/2)%10 == 9:
			text = "CX"
		case (i/2)%3 == 0:
			text = "VIP"
		default:
			text = fmt.Sprintf("%d.%02d", 1+(i/2)%9, (i/2)%100)
		}
		g.buf = fmt.Appendf(g.buf, `{"at":%q,"from":%q,"to":"106580088001","text":%q}`+"\n", at, phone, text)
	}
	if len(g.buf) == 0 {
		return 0, io.EOF
	}
	n := copy(p, g.buf)
	g.buf = g.buf[n:]
	return n, nil
}

// BenchmarkReplayOffline replays a generated trace of b.N messages through
// the offline engine (embedded store and limiter): one op is one MO. Run the
// recorded figure with -benchtime=1000000x (see BENCHMARKS.md).
func BenchmarkReplayOffline(b *testing.B) {
	cfg := testConfig(b)
	r, err := trace.NewReader(newGenTrace(b.N), "generated", trace.JSONL, trace.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	start := time.Now()
	sum, err := Run(context.Background(), r, io.Discard, Options{Config: cfg, Seed: 1, CreditLimit: 1 << 40})
	if err != nil {
		b.Fatal(err)
	}
	el := time.Since(start)
	b.StopTimer()
	if sum.Messages != b.N {
		b.Fatalf("replayed %d messages, want %d", sum.Messages, b.N)
	}
	b.ReportMetric(float64(sum.Messages)/el.Seconds(), "msgs/s")
	b.ReportMetric(float64(sum.Charges), "charges")
}
