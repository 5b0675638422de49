package ussd

import (
	"context"
	"crypto/subtle"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/carrierbill/carrierbill/redact"
)

// The HTTP aggregator callback, in the style of Africa's Talking: a form
// POST with sessionId, serviceCode, phoneNumber, networkCode and text (""
// on the first request, then every answer so far joined by "*"); the reply
// is text/plain "CON <screen>" to continue or "END <screen>" to finish.
//
// Each request's new answers are stored (mo_inbox, like any MO) before the
// callback waits for the screen they produce; a request the aggregator
// repeats gets the same screen again and is not applied twice.

// HTTPAuth is how callbacks are authenticated: a shared secret (header
// X-USSD-Secret or query parameter "secret"), a list of source addresses,
// or both (then both must pass). With neither every request is refused.
type HTTPAuth struct {
	Secret string
	Allow  []netip.Prefix
}

// Limits of a callback.
const (
	maxSessionID = 128
	maxText      = 2048
	maxAnswers   = 64
)

// Handler returns the callback's HTTP handler.
func (s *Service) Handler(auth HTTPAuth) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", "POST")
			http.Error(w, "POST only", http.StatusMethodNotAllowed)
			return
		}
		if !auth.allows(r) {
			s.log.Warn("USSD callback refused: not authenticated", "remote", r.RemoteAddr)
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
		if err := r.ParseForm(); err != nil {
			http.Error(w, "bad form", http.StatusBadRequest)
			return
		}
		id, phone, text := r.PostForm.Get("sessionId"), r.PostForm.Get("phoneNumber"), r.PostForm.Get("text")
		if id == "" || len(id) > maxSessionID || phone == "" || len(text) > maxText {
			http.Error(w, "sessionId and phoneNumber are required; sessionId at most 128 and text at most 2048 bytes", http.StatusBadRequest)
			return
		}
		screen, end := s.callback(r.Context(), id, phone, r.PostForm.Get("serviceCode"), text)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if end {
			fmt.Fprint(w, "END "+screen)
			return
		}
		fmt.Fprint(w, "CON "+screen)
	})
}

func (a HTTPAuth) allows(r *http.Request) bool {
	if a.Secret == "" && len(a.Allow) == 0 {
		return false
	}
	if a.Secret != "" {
		got := r.Header.Get("X-USSD-Secret")
		if got == "" {
			got = r.URL.Query().Get("secret")
		}
		if subtle.ConstantTimeCompare([]byte(got), []byte(a.Secret)) != 1 {
			return false
		}
	}
	if len(a.Allow) > 0 {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			host = r.RemoteAddr
		}
		ip, err := netip.ParseAddr(host)
		if err != nil {
			return false
		}
		ip = ip.Unmap()
		ok := false
		for _, p := range a.Allow {
			ok = ok || p.Contains(ip)
		}
		return ok
	}
	return true
}

// callback stores the request's new answers and waits for their screen.
func (s *Service) callback(ctx context.Context, id, phone, service, text string) (string, bool) {
	msisdn, err := s.o.Normalize(phone, 0, 0)
	if err != nil {
		s.log.Warn("USSD callback from a number that is not a phone number", "from", redact.Phone(phone), "err", err)
		return s.t.get("ended"), true
	}
	var answers []string
	if text != "" {
		answers = strings.Split(text, "*")
	}
	if len(answers) > maxAnswers {
		return s.t.get("too_long"), true
	}
	want := len(answers) + 1 // messages: the opening, then one per answer
	key := HashKey(s.o.Salt, "http:"+id)
	sess, err := s.o.Sessions.Get(ctx, key)
	if err != nil {
		s.log.Error("USSD callback: reading the session failed", "err", err)
		return s.t.get("busy"), true
	}
	have := 0
	switch {
	case sess == nil && want > 1: // answers to a dialog never seen (or long gone)
		return s.t.get("ended"), true
	case sess != nil && sess.MSISDN != msisdn:
		return s.t.get("ended"), true
	case sess != nil && sess.Handled >= want: // a repeat: the same screen
		if sess.Handled > want {
			return s.t.get("ended"), true
		}
		return sess.Screen()
	case sess != nil && sess.Closed:
		return s.t.get("ended"), true
	case sess != nil:
		have = sess.Handled
	}
	wait := s.waiter(key)
	for n := have + 1; n <= want; n++ {
		env := envelope{Key: key, Transport: "http", Kind: kindAnswer, Service: service, N: n}
		body := ""
		if n == 1 {
			env.Kind = kindOpen
			body = service
		} else {
			body = answers[n-2]
		}
		if err := s.store(ctx, billingMO(msisdn, body), env); err != nil {
			s.log.Error("USSD callback: storing an answer failed", "msisdn", redact.Phone(msisdn), "err", err)
			return s.t.get("busy"), true
		}
	}
	deadline := time.NewTimer(s.o.HTTPWait)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond) // another process may handle it
	defer tick.Stop()
	for {
		select {
		case <-wait:
			wait = s.waiter(key)
		case <-tick.C:
		case <-deadline.C:
			s.log.Warn("USSD callback: no screen in time", "msisdn", redact.Phone(msisdn), "wait", s.o.HTTPWait)
			return s.t.get("busy"), true
		case <-ctx.Done():
			return s.t.get("busy"), true
		}
		sess, err := s.o.Sessions.Get(ctx, key)
		if err != nil {
			continue
		}
		if sess != nil && sess.Handled >= want {
			return sess.Screen()
		}
	}
}
