package billing

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode"
)

// TestNoSubscriberTextNoTransport enforces the engine's boundary: no
// non-test file of package billing holds subscriber text (CJK characters)
// or imports a transport or a channel. Channels render their own texts
// from the engine's events (package sms for SMS).
func TestNoSubscriberTextNoTransport(t *testing.T) {
	t.Parallel()
	forbidden := []string{"/smpp", "/sms", "/ussd", "net/http", "/api"}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range string(b) {
			if unicode.Is(unicode.Han, r) {
				line := strings.Count(string(b[:i]), "\n") + 1
				t.Errorf("%s:%d: subscriber text (CJK) in package billing: move it to the channel's texts", f, line)
				break
			}
		}
		af, err := parser.ParseFile(token.NewFileSet(), f, b, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range af.Imports {
			p := strings.Trim(imp.Path.Value, `"`)
			for _, bad := range forbidden {
				if strings.HasSuffix(p, bad) || strings.Contains(p, "carrierbill"+bad) || p == bad {
					t.Errorf("%s imports %s: billing must not import a transport or a channel", f, p)
				}
			}
		}
	}
}

// TestGuessOddsUnderDefaults computes the best blind guesser's odds under
// the default caps: below one in a million a day over a long run, and in
// any 30 days (a window may straddle two calendar months).
func TestGuessOddsUnderDefaults(t *testing.T) {
	t.Parallel()
	c := DefaultConfig()
	if p := c.OddsPerDay(); p >= 1e-6 {
		t.Fatalf("long-run odds per day %.3g, want < 1e-6", p)
	}
	perMonth := c.WrongCodesPerMonth - 1 + c.MaxPendingOrders // comparisons one calendar month allows
	if worst30 := float64(2*perMonth) / 30 / 1e6; worst30 >= 1e-6 {
		t.Fatalf("worst 30-day window: %.3g a day, want < 1e-6", worst30)
	}
	c.WrongCodesPerMonth, c.WrongCodesPerDay, c.MaxPendingOrders = 0, 0, 0
	if p := c.OddsPerDay(); p < 1e-6 {
		t.Fatalf("with no caps the odds %.3g should not pass", p)
	}
}
