// Package httpserver builds every HTTP server of the gateway (the card
// admin API, the merchant download server, the SMSC simulator's inject
// API) with the same hardening: a deadline on the request header, on the
// whole request and on the response, idle keep-alive connections closed
// after a while, and a bound on header bytes. An http.Server built any
// other way has none of these, so a few thousand idle or slow clients hold
// memory and descriptors for ever (issue 18.9).
//
// It only configures servers: it must never pick addresses, log requests
// or touch handlers.
package httpserver

import (
	"net/http"
	"time"
)

// Timeouts of a server; a zero field takes the default below.
type Timeouts struct {
	// ReadHeader bounds reading the request line and headers.
	ReadHeader time.Duration
	// Read bounds reading the whole request, body included.
	Read time.Duration
	// Write bounds writing the response, from the end of the header read.
	Write time.Duration
	// Idle is how long a keep-alive connection may wait for its next
	// request before the server closes it.
	Idle time.Duration
	// MaxHeaderBytes bounds the request header.
	MaxHeaderBytes int
}

// The defaults: generous for an operator or a merchant on a slow link,
// short enough that idle or dribbling connections do not pile up.
const (
	DefaultReadHeader     = 5 * time.Second
	DefaultRead           = 30 * time.Second
	DefaultWrite          = 2 * time.Minute // a large statement over a slow link
	DefaultIdle           = 60 * time.Second
	DefaultMaxHeaderBytes = 16 << 10
)

func (t Timeouts) withDefaults() Timeouts {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&t.ReadHeader, DefaultReadHeader)
	def(&t.Read, DefaultRead)
	def(&t.Write, DefaultWrite)
	def(&t.Idle, DefaultIdle)
	if t.MaxHeaderBytes <= 0 {
		t.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	return t
}

// New returns a server for h with the timeouts t (defaults for zero
// fields).
func New(h http.Handler, t Timeouts) *http.Server {
	t = t.withDefaults()
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: t.ReadHeader,
		ReadTimeout:       t.Read,
		WriteTimeout:      t.Write,
		IdleTimeout:       t.Idle,
		MaxHeaderBytes:    t.MaxHeaderBytes,
	}
}

// Hardened reports whether s has every limit New sets (a test helper for
// the packages that build servers).
func Hardened(s *http.Server) bool {
	return s.ReadHeaderTimeout > 0 && s.ReadTimeout > 0 && s.WriteTimeout > 0 && s.IdleTimeout > 0 && s.MaxHeaderBytes > 0
}
