package billing

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/carrierbill/carrierbill/clock"
)

func TestDefaultConfigValid(t *testing.T) {
	t.Parallel()
	c := DefaultConfig()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Limits[MethodPhone] != (Limits{3000, 5000, 10000}) || c.ServiceCode != "10658008" || c.CodeValidity != 10*time.Minute {
		t.Fatalf("defaults %+v", c)
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		tweak func(*Config)
		field string
	}{
		{"service code", func(c *Config) { c.ServiceCode = "10x" }, "service_code"},
		{"wrong codes", func(c *Config) { c.MaxWrongCodes = 4 }, "orders.max_wrong_codes"},
		{"daily over monthly", func(c *Config) { c.Limits[MethodCard] = Limits{100, 20000, 10000} }, "limits.card.daily"},
		{"duplicate merchant", func(c *Config) {
			c.Merchants = []Merchant{{Code: "1", Name: "a", OpenAmount: true, MinAmount: 10, MaxAmount: 3000}, {Code: "1", Name: "b", OpenAmount: true, MinAmount: 10, MaxAmount: 3000}}
		}, "merchants[1].code"},
	}
	for _, tt := range tests {
		c := DefaultConfig()
		tt.tweak(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tt.field+":") {
			t.Errorf("%s: Validate() = %v, want an error naming %s", tt.name, err, tt.field)
		}
	}
}

func TestMemoryLimiter(t *testing.T) {
	t.Parallel()
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	l := NewMemoryLimiter(clk)
	r := Rule{Name: "min_interval", Limit: 1, Period: time.Minute}
	ctx := context.Background()
	steps := []struct {
		advance time.Duration
		allowed bool
	}{{0, true}, {0, false}, {59 * time.Second, false}, {time.Second, true}, {time.Second, false}}
	for i, s := range steps {
		clk.Advance(s.advance)
		d, err := l.Allow(ctx, r, "k")
		if err != nil || d.Allowed != s.allowed {
			t.Fatalf("step %d: %+v, %v; want allowed=%v", i, d, err, s.allowed)
		}
		if !d.Allowed && d.RetryAfter <= 0 {
			t.Fatalf("step %d: refused without RetryAfter", i)
		}
	}
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	for attempt, want := range map[int]time.Duration{0: time.Second, 1: time.Second, 2: 2 * time.Second, 4: 8 * time.Second, 30: 5 * time.Minute} {
		if got := Backoff(attempt, 5*time.Minute); got != want {
			t.Errorf("Backoff(%d) = %s, want %s", attempt, got, want)
		}
	}
}
