package main

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/carrierbill/carrierbill/config"
)

// Issue 20.8: log timestamps are in the operator's zone with the offset
// (RFC 3339), in both log formats; the default zone is Asia/Shanghai.
func TestLogTimestampsInOperatorZone(t *testing.T) {
	t.Parallel()
	shanghai, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	offsetRFC3339 := regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+08:00$`)
	for _, tc := range []struct {
		name   string
		format string
		loc    *time.Location
	}{
		{"text", "text", shanghai},
		{"json", "json", shanghai},
		{"default zone", "text", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			NewZonedLogger(&buf, config.Log{Format: tc.format}, tc.loc).Info("hello")
			var ts string
			if tc.format == "json" {
				var rec map[string]any
				if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
					t.Fatalf("json log line %q: %v", buf.String(), err)
				}
				ts, _ = rec["time"].(string)
			} else {
				line := buf.String()
				if !strings.HasPrefix(line, "time=") {
					t.Fatalf("log line %q has no time first", line)
				}
				ts, _, _ = strings.Cut(strings.TrimPrefix(line, "time="), " ")
			}
			if !offsetRFC3339.MatchString(ts) {
				t.Fatalf("time %q: want RFC 3339 with milliseconds and +08:00", ts)
			}
			got, err := time.Parse(time.RFC3339, ts)
			if err != nil {
				t.Fatal(err)
			}
			if d := time.Since(got); d < 0 || d > time.Minute {
				t.Fatalf("time %q is %v away from now", ts, d)
			}
		})
	}
}
