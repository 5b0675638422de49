package merchantapi

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/carrierbill/carrierbill/billing"
)

// Signed requests. A merchant may sign its requests the way carrierbill
// signs its notifications: SignatureHeader "t=<unix seconds>,v1=<hex
// HMAC-SHA256>" over "<t>.<body>", keyed with the merchant's secret
// (`carrierbill merchant secret`). A merchant listed in
// api.signed_requests must sign every request. A signed request is refused
// (401, the error naming the header) when the HMAC does not match, when
// its timestamp is more than DefaultTolerance from now, or when the same
// signature was already used: a replay. Signatures seen are remembered
// for twice the tolerance in Redis (the per-merchant limiter, so every
// gateway sharing Redis refuses the replay; it fails closed like every
// frequency rule), or in this process when the server has no limiter.

// sigGuard remembers signatures in this process (a server with no limiter).
type sigGuard struct {
	mu   sync.Mutex
	seen map[string]time.Time
}

func (g *sigGuard) first(key string, now time.Time, ttl time.Duration) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.seen == nil {
		g.seen = map[string]time.Time{}
	}
	for k, at := range g.seen { // bounded by the requests of one window
		if now.Sub(at) > ttl {
			delete(g.seen, k)
		}
	}
	if _, ok := g.seen[key]; ok {
		return false
	}
	g.seen[key] = now
	return true
}

// signatures checks a request's signature (after authenticate: the
// merchant is known).
func (s *Server) signatures(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m := merchantOf(r)
		h := r.Header.Get(SignatureHeader)
		if h == "" {
			if s.o.Merchants[m.Code].SignedRequests {
				writeError(w, errorf(http.StatusUnauthorized, codeUnauthenticated, "%s: merchant %s must sign its requests", SignatureHeader, m.Code))
				return
			}
			next.ServeHTTP(w, r)
			return
		}
		if s.o.Secret == nil {
			writeError(w, invalid(SignatureHeader, "request signatures are not configured on this gateway"))
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
		if err != nil {
			writeError(w, invalid("body", "could not be read"))
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		now := s.clock.Now()
		switch err := Verify(s.o.Secret(m.Code), h, body, now, DefaultTolerance); {
		case errors.Is(err, ErrStaleSignature):
			writeError(w, errorf(http.StatusUnauthorized, codeUnauthenticated, "%s: the timestamp is more than %s from now (a replayed or delayed request)", SignatureHeader, DefaultTolerance))
			return
		case err != nil:
			writeError(w, errorf(http.StatusUnauthorized, codeUnauthenticated, "%s: does not match the request body", SignatureHeader))
			return
		}
		_, sig, _ := strings.Cut(h, "v1=")
		key := "sig:" + m.Code + ":" + strings.TrimSpace(sig)
		first := true
		if s.o.Limiter != nil {
			d, err := s.o.Limiter.Allow(r.Context(), billing.Rule{Name: "api_signature", Limit: 1, Period: 2 * DefaultTolerance}, key)
			if err != nil {
				s.log.Error("signature replay guard unavailable; refusing", "merchant", m.Code, "err", err)
				writeError(w, errorf(http.StatusServiceUnavailable, "UNAVAILABLE", "the service is busy; try again"))
				return
			}
			first = d.Allowed
		} else {
			first = s.sigs.first(key, now, 2*DefaultTolerance)
		}
		if !first {
			writeError(w, errorf(http.StatusUnauthorized, codeUnauthenticated, "%s: this signature was already used (a replayed request)", SignatureHeader))
			return
		}
		next.ServeHTTP(w, r)
	})
}
