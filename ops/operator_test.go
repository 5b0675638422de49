package ops

import (
	"log/slog"
	"testing"

	"github.com/carrierbill/carrierbill/billing"
)

func TestMaskPattern(t *testing.T) {
	for in, want := range map[string]string{"138****0001": "%138____0001", "+86138****0001": "%86138____0001", "13**5678": "%13__5678"} {
		got, err := billing.MaskPattern(in)
		if err != nil || got != want {
			t.Errorf("MaskPattern(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"13800000001", "1*1", "13a****0001", "138**x*0001", "*", "%1****0001", "138_***0001"} {
		if _, err := billing.MaskPattern(bad); err == nil {
			t.Errorf("MaskPattern(%q) accepted", bad)
		}
	}
}

func FuzzMaskPattern(f *testing.F) {
	for _, s := range []string{"138****0001", "+86138****0001", "1*1", "%_*"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := billing.MaskPattern(s)
		if err != nil {
			return
		}
		for _, r := range p[1:] {
			if r != '_' && (r < '0' || r > '9') {
				t.Fatalf("MaskPattern(%q) = %q: only digits and _ after the leading %%", s, p)
			}
		}
	})
}

func TestSetLogLevel(t *testing.T) {
	lv := new(slog.LevelVar)
	o := &Operator{LogLevel: lv}
	before, err := o.SetLogLevel("debug")
	if err != nil || before != "info" || lv.Level() != slog.LevelDebug {
		t.Fatalf("SetLogLevel(debug) = %q, %v; level %v", before, err, lv.Level())
	}
	if _, err := o.SetLogLevel("loud"); err == nil || lv.Level() != slog.LevelDebug {
		t.Errorf("SetLogLevel(loud) = %v, level %v", err, lv.Level())
	}
}
