package loadtest

import (
	"context"
	"sync"
	"testing"
	"time"
)

// The bench itself runs end to end in cmd/carrierbill (bench_test.go),
// where the gateway can be booted; these are its small parts.

func TestCodeOf(t *testing.T) {
	for _, tc := range []struct {
		text, code string
		ok         bool
	}{
		{"您正在向星辰游戏购买月度会员，金额1.00元。请在10分钟内回复验证码042917确认支付，不购买请忽略。", "042917", true},
		{"验证码123456", "123456", true},
		{"no code here 12345 1234567", "", false},
		{"two 123456 and 654321", "", false},
	} {
		code, ok := codeOf(tc.text)
		if code != tc.code || ok != tc.ok {
			t.Errorf("codeOf(%q) = %q, %v; want %q, %v", tc.text, code, ok, tc.code, tc.ok)
		}
	}
}

func TestPercentiles(t *testing.T) {
	var l latencies
	if p := l.percentiles(); p.N != 0 {
		t.Fatalf("empty: %+v", p)
	}
	for i := 1; i <= 1000; i++ {
		l.add(time.Duration(i) * time.Millisecond)
	}
	p := l.percentiles()
	if p.N != 1000 || p.P50 != 500 || p.P99 != 990 || p.P999 != 999 || p.Max != 1000 {
		t.Fatalf("got %+v", p)
	}
}

func TestRejectTextsNameEveryReason(t *testing.T) {
	texts := rejectTexts()
	if len(texts) < 10 || texts["daily_limit"] != rejectPrefix+"daily_limit" {
		t.Fatalf("rejectTexts = %v", texts)
	}
}

func TestNumbersAreDistinctE164(t *testing.T) {
	seen := map[string]bool{}
	for _, n := range numbersFor(1796165659, 5000) {
		if len(n) != 14 || n[:3] != "+86" || seen[n] {
			t.Fatalf("bad or repeated number %q", n)
		}
		seen[n] = true
	}
}

// The pacer spaces starts 1/rate apart across callers: 21 starts at 200/s
// take at least 100 ms, and a nil pacer (closed loop) never waits.
func TestPacerSpacesStarts(t *testing.T) {
	p := newPacer(200)
	start := time.Now()
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 7 {
				if !p.wait(context.Background()) {
					t.Error("wait refused with a live context")
				}
			}
		}()
	}
	wg.Wait()
	if el := time.Since(start); el < 100*time.Millisecond {
		t.Fatalf("21 starts at 200/s took %s, want at least 100ms", el)
	}
	var none *pacer
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if !none.wait(ctx) {
		t.Fatal("a nil pacer waited")
	}
	q := newPacer(0.01)
	q.wait(context.Background()) // takes the first slot
	if q.wait(ctx) {
		t.Fatal("a pacer waiting 100 s returned true for a cancelled context")
	}
}
