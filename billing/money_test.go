package billing

import (
	"errors"
	"testing"
)

func TestParseYuan(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want Money
		err  bool
	}{
		{"10", 1000, false},
		{"10.5", 1050, false},
		{"10.50", 1050, false},
		{"0.1", 10, false},
		{".5", 50, false},
		{"30.00", 3000, false},
		{"10.555", 0, true},
		{"10.", 0, true},
		{"", 0, true},
		{".", 0, true},
		{"1e3", 0, true},
		{"-1", 0, true},
		{"1,000", 0, true},
		{"9999999999999", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseYuan(tt.in)
		if tt.err {
			if !errors.Is(err, ErrBadAmount) {
				t.Errorf("ParseYuan(%q) = %v, %v; want ErrBadAmount", tt.in, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseYuan(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func TestMoneyString(t *testing.T) {
	t.Parallel()
	for m, want := range map[Money]string{0: "0.00", 5: "0.05", 1234: "12.34", -5: "-0.05", 3000: "30.00"} {
		if got := m.String(); got != want {
			t.Errorf("Money(%d).String() = %q, want %q", int64(m), got, want)
		}
	}
}

func FuzzParseYuan(f *testing.F) {
	for _, s := range []string{"10", "10.5", "0.01", "", ".", "10.555", "99999999999.99"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseYuan(s)
		if err != nil {
			return
		}
		if m < 0 {
			t.Fatalf("ParseYuan(%q) = %d, negative", s, m)
		}
		back, err := ParseYuan(m.String())
		if err != nil || back != m {
			t.Fatalf("round trip of %q: %v → %q → %v, %v", s, m, m.String(), back, err)
		}
	})
}
