package main

import (
	"io"
	"log/slog"
	"time"

	"github.com/carrierbill/carrierbill/config"
	"github.com/carrierbill/carrierbill/redact"
)

// NewLogger builds the gateway's logger with timestamps in the default
// operator zone (Asia/Shanghai): NewZonedLogger with a nil zone. Callers that
// hold a configuration pass its Location to NewZonedLogger instead.
func NewLogger(w io.Writer, c config.Log) *slog.Logger { return NewZonedLogger(w, c, nil) }

// NewZonedLogger builds the gateway's logger: slog with every line passed
// through redact's handler, so a phone number or code never reaches the log
// in clear, and every timestamp written in loc, the operator's time zone,
// with its offset (2026-11-20T10:00:05.123+08:00), the zone of the
// statements and the texts a person reads beside the log. A nil loc is the
// default operator zone (Asia/Shanghai).
func NewZonedLogger(w io.Writer, c config.Log, loc *time.Location) *slog.Logger {
	return NewLeveledLogger(w, c, loc, new(slog.LevelVar))
}

// NewLeveledLogger is NewZonedLogger whose level lives in lv: it is set
// from c.Level here, and the operator changes it at run time (carrierbill
// loglevel, PUT /admin/loglevel).
func NewLeveledLogger(w io.Writer, c config.Log, loc *time.Location, lv *slog.LevelVar) *slog.Logger {
	lvl := slog.LevelInfo
	_ = lvl.UnmarshalText([]byte(c.Level))
	lv.Set(lvl)
	opts := &slog.HandlerOptions{Level: lv, ReplaceAttr: inZone(loc)}
	var h slog.Handler = slog.NewTextHandler(w, opts)
	if c.Format == "json" {
		h = slog.NewJSONHandler(w, opts)
	}
	return slog.New(redact.NewHandler(h))
}

// logTimeFormat is RFC 3339 with milliseconds and the zone's offset.
const logTimeFormat = "2006-01-02T15:04:05.000Z07:00"

// inZone rewrites a record's time into loc, formatted with logTimeFormat, so
// the text and JSON logs read the same.
func inZone(loc *time.Location) func([]string, slog.Attr) slog.Attr {
	if loc == nil {
		loc = defaultLocation()
	}
	return func(groups []string, a slog.Attr) slog.Attr {
		if len(groups) == 0 && a.Key == slog.TimeKey && a.Value.Kind() == slog.KindTime {
			a.Value = slog.StringValue(a.Value.Time().In(loc).Format(logTimeFormat))
		}
		return a
	}
}

// defaultLocation is the operator's zone of a configuration that names none.
func defaultLocation() *time.Location {
	c, err := config.Parse(nil, func(string) (string, bool) { return "", false })
	if err != nil {
		return time.UTC
	}
	return c.Location()
}
