package loadtest

import (
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
