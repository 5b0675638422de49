package trace

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// jsonlGen produces a JSON lines trace of n messages on the fly, so a test
// can read a long trace without holding it.
type jsonlGen struct {
	i, n    int
	pending []byte
}

var genTexts = []string{"10", "482913", "CX", "１０元", "10.5", "查询"}

func (g *jsonlGen) line(i int) []byte {
	at := time.Date(2026, 11, 21, 0, 0, 0, 0, cst).Add(time.Duration(i) * 50 * time.Millisecond)
	if i%5 == 4 {
		return fmt.Appendf(nil, `{"kind":"mt","at":%q,"from":"106580088001","to":"86138%08d","text":"Pay 10.00 to merchant 8001? Reply %06d"}`+"\n",
			at.Format(time.RFC3339Nano), i%100000, i%1000000)
	}
	return fmt.Appendf(nil, `{"at":%q,"from":"86138%08d","to":"106580088001","text":%q}`+"\n",
		at.Format(time.RFC3339Nano), i%100000, genTexts[i%len(genTexts)])
}

func (g *jsonlGen) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if len(g.pending) == 0 {
			if g.i == g.n {
				break
			}
			g.pending = g.line(g.i)
			g.i++
		}
		c := copy(p[n:], g.pending)
		g.pending = g.pending[c:]
		n += c
	}
	if n == 0 {
		return 0, io.EOF
	}
	return n, nil
}

// Reading a long trace does not grow the heap: the reader holds one line.
func TestJSONLMemoryIsBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("reads 200,000 lines")
	}
	const n = 200_000
	r, err := NewReader(&jsonlGen{n: n}, "gen.jsonl", JSONL, Options{Strict: true})
	if err != nil {
		t.Fatal(err)
	}
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapInuse
	}
	var early uint64
	for i := 0; ; i++ {
		if i == 20_000 {
			early = heap()
		}
		_, err := r.Next()
		if errors.Is(err, io.EOF) {
			if i != n {
				t.Fatalf("read %d records, want %d", i, n)
			}
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if late := heap(); late > early+4<<20 {
		t.Errorf("heap grew from %d to %d bytes over %d records", early, late, n-20_000)
	}
}

// BenchmarkJSONL1M reads a generated 1,000,000-message JSON lines trace
// from a file, as `carrierbill replay` does, and reports records/s.
//
//	go test -run '^$' -bench JSONL1M -benchtime 3x ./trace
func BenchmarkJSONL1M(b *testing.B) {
	const n = 1_000_000
	path := filepath.Join(b.TempDir(), "1m.jsonl")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriter(f)
	if _, err := io.Copy(w, &jsonlGen{n: n}); err != nil {
		b.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	st, _ := os.Stat(path)
	b.SetBytes(st.Size())
	b.ReportAllocs()
	b.ResetTimer()
	records := 0
	for b.Loop() {
		r, err := Open(path, Auto, Options{Strict: true})
		if err != nil {
			b.Fatal(err)
		}
		for {
			_, err := r.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			records++
		}
		r.Close()
	}
	b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkPCAPSample reads the Kannel capture (19 messages in 84 packets).
func BenchmarkPCAPSample(b *testing.B) {
	data, err := os.ReadFile("testdata/smpp-kannel.pcap")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	records := 0
	for b.Loop() {
		recs, _, _ := readAll(b, data, "sample", PCAP, Options{})
		records += len(recs)
	}
	b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
}
