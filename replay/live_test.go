package replay

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/carrierbill/carrierbill/trace"
)

// TestLiveCountsRefusedMOs: MOs the simulator does not take are counted as
// failed and no answer is waited for.
func TestLiveCountsRefusedMOs(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/mo":
			w.Write([]byte(`{"statuses":[100]}`)) // ESME_RX_T_APPN
		case "/mts":
			w.Write([]byte(`[]`))
		}
	}))
	defer srv.Close()
	in := `{"at":"2026-11-21T10:00:00+08:00","from":"8613800000001","to":"106580088001","text":"10"}
{"at":"2026-11-21T10:00:00.01+08:00","from":"8613800000002","to":"106580088001","text":"10"}
{"at":"2026-11-21T10:00:00.02+08:00","kind":"mt","from":"106580088001","to":"8613800000001","text":"x"}
`
	r, err := trace.NewReader(strings.NewReader(in), "t.jsonl", trace.JSONL, trace.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	start := time.Now()
	rep, err := Live(context.Background(), r, &out, LiveOptions{SMSC: srv.URL, Wait: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Sent != 0 || rep.Failed != 2 || rep.Recorded != 1 || rep.Mismatched != 1 {
		t.Fatalf("report %+v: want 0 sent, 2 failed, 1 recorded MT missing", rep)
	}
	if el := time.Since(start); el > 30*time.Second {
		t.Fatalf("waited %s for answers to MOs that were never injected", el)
	}
	var txt bytes.Buffer
	rep.WriteTo(&txt)
	if !strings.Contains(txt.String(), "sent: 0 MOs (failed 2)") {
		t.Fatalf("report text:\n%s", txt.String())
	}
}

func TestPercentile(t *testing.T) {
	t.Parallel()
	r := LiveReport{Latencies: []time.Duration{5, 1, 4, 2, 3, 6, 7, 8, 9, 10}}
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 5}, {0.9, 9}, {0.99, 10}, {1, 10}, {0, 1}} {
		if got := r.Percentile(tc.q); got != tc.want {
			t.Errorf("Percentile(%v) = %v, want %v", tc.q, got, tc.want)
		}
	}
	if (LiveReport{}).Percentile(0.5) != 0 {
		t.Errorf("Percentile of no latencies is not 0")
	}
}
