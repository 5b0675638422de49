package cardadmin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/carrierbill/carrierbill/bank"
	"github.com/carrierbill/carrierbill/bank/banksim"
	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/billing/sqlite"
	"github.com/carrierbill/carrierbill/cardadmin"
	"github.com/carrierbill/carrierbill/clock"
	"github.com/carrierbill/carrierbill/redact"
	"github.com/carrierbill/carrierbill/wallet"
)

const (
	token   = "admin-token-admin-token"
	pan     = "6222021234567881234" // Luhn-valid
	owner   = "张三"
	ownerID = "11010119900307123X"
	phone   = "8613900000001"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type env struct {
	t    testing.TB
	srv  *httptest.Server
	logs *lockedBuffer
}

// newEnv serves the API over billing's real card operations on the
// embedded store and the simulated bank.
func newEnv(t testing.TB) *env {
	t.Helper()
	ctx := context.Background()
	logs := &lockedBuffer{}
	log := slog.New(redact.NewHandler(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "carrierbill.db"), log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	secrets, err := wallet.NewSecrets(bytes.Repeat([]byte("k"), 32))
	if err != nil {
		t.Fatal(err)
	}
	hasher, err := wallet.NewHasher([]byte("pepper-pepper-pepper"), wallet.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32})
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := wallet.NewSealer(bytes.Repeat([]byte("s"), 32))
	if err != nil {
		t.Fatal(err)
	}
	b := banksim.New(clock.Real{})
	if _, err := b.AddCard(pan, owner, ownerID, billing.Yuan(100)); err != nil {
		t.Fatal(err)
	}
	cards, err := billing.NewCards(billing.CardOptions{
		Store: st, Bank: bank.ForBilling(b), Secrets: secrets, Hasher: hasher, Sealer: sealer, Clock: clock.Real{}, Logger: log, ServiceAddr: "10658008",
	})
	if err != nil {
		t.Fatal(err)
	}
	api, err := cardadmin.New(cardadmin.Options{
		Cards: cards, Token: token, Logger: log,
		Owners: cardadmin.OwnersFunc(func(ctx context.Context, msisdn, name, id string) error {
			return st.SetOwner(ctx, secrets, msisdn, name, id)
		}),
	})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, srv: httptest.NewServer(api), logs: logs}
	t.Cleanup(e.srv.Close)
	return e
}

func (e *env) do(method, path, tok, body string) (*http.Response, string) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ownerBody := fmt.Sprintf(`{"msisdn":%q,"name":%q,"id_number":%q}`, phone, owner, ownerID)
	bind := fmt.Sprintf(`{"msisdn":"+%s","pan":%q,"name":%q,"id_number":%q}`, phone, pan, owner, ownerID)
	last4 := fmt.Sprintf(`{"msisdn":%q,"last4":%q}`, phone, pan[len(pan)-4:])
	digits1000 := strings.Repeat("1", 1000)
	tests := []struct {
		name, method, path, body string
		status                   int
		code                     string // in the response body
		allow                    string // the Allow header of a 405
	}{
		{"bind before the owner is known", "POST", "/admin/cards/bind", bind, 422, "unknown_owner", ""},
		{"register the owner", "POST", "/admin/owners", ownerBody, 200, "ok", ""},
		{"bind", "POST", "/admin/cards/bind", bind, 201, `"default":true`, ""},
		{"bind again", "POST", "/admin/cards/bind", bind, 409, "card_already_bound", ""},
		{"list", "GET", "/admin/cards?msisdn=" + phone, "", 200, "622202*********1234", ""},
		{"default", "POST", "/admin/cards/default", last4, 200, "ok", ""},
		{"unlock without a wallet", "POST", "/admin/wallet/unlock", `{"msisdn":"8613900000002"}`, 404, "no_wallet", ""},

		// Issue 18.9: wrong methods are 405 with Allow.
		{"GET a POST route", "GET", "/admin/cards/bind", "", 405, "method_not_allowed", "POST"},
		{"DELETE the list", "DELETE", "/admin/cards?msisdn=" + phone, "", 405, "method_not_allowed", "GET"},
		{"PUT an owner", "PUT", "/admin/owners", ownerBody, 405, "method_not_allowed", "POST"},
		{"unknown path", "GET", "/admin/nothing", "", 404, "not_found", ""},
		// Trailing JSON and garbage after the object.
		{"two objects", "POST", "/admin/cards/default", last4 + last4, 400, "bad_request", ""},
		{"garbage after the object", "POST", "/admin/cards/default", last4 + " x", 400, "bad_request", ""},
		{"array", "POST", "/admin/cards/default", "[" + last4 + "]", 400, "bad_request", ""},
		{"empty body", "POST", "/admin/cards/default", "", 400, "bad_request", ""},
		{"unknown field", "POST", "/admin/cards/unbind", `{"msisdn":"8613900000001","pin":"1"}`, 400, "bad_request", ""},
		// Absurd inputs.
		{"1,000-digit msisdn", "POST", "/admin/wallet/unlock", `{"msisdn":"` + digits1000 + `"}`, 400, "bad_request", ""},
		{"1,000-digit msisdn as a number", "POST", "/admin/wallet/unlock", `{"msisdn":` + digits1000 + `}`, 400, "bad_request", ""},
		{"1,000-digit msisdn in the query", "GET", "/admin/cards?msisdn=" + digits1000, "", 400, "bad_request", ""},
		{"letters for a number", "GET", "/admin/cards?msisdn=abc", "", 400, "bad_request", ""},
		{"1,000-digit pan", "POST", "/admin/cards/bind", fmt.Sprintf(`{"msisdn":%q,"pan":%q,"name":%q,"id_number":%q}`, phone, digits1000, owner, ownerID), 400, "bad_request", ""},
		{"over-long name", "POST", "/admin/owners", fmt.Sprintf(`{"msisdn":%q,"name":%q,"id_number":%q}`, phone, strings.Repeat("张", 65), ownerID), 400, "bad_request", ""},
		{"control characters in the name", "POST", "/admin/owners", fmt.Sprintf(`{"msisdn":%q,"name":"a\u0000b","id_number":%q}`, phone, ownerID), 400, "bad_request", ""},
		{"over-long id number", "POST", "/admin/owners", fmt.Sprintf(`{"msisdn":%q,"name":%q,"id_number":%q}`, phone, owner, strings.Repeat("1", 33)), 400, "bad_request", ""},
		{"five-digit last4", "POST", "/admin/cards/unbind", fmt.Sprintf(`{"msisdn":%q,"last4":"12345"}`, phone), 400, "bad_request", ""},
		{"body over 4 KiB", "POST", "/admin/owners", fmt.Sprintf(`{"msisdn":%q,"name":%q,"id_number":%q}`, phone, strings.Repeat("a", 5000), ownerID), 413, "too_large", ""},
		{"a second query parameter", "GET", "/admin/cards?msisdn=" + phone + "&x=1", "", 400, "bad_request", ""},
		{"msisdn twice", "GET", "/admin/cards?msisdn=" + phone + "&msisdn=8613900000002", "", 400, "bad_request", ""},

		{"unbind", "POST", "/admin/cards/unbind", last4, 200, "ok", ""},
		{"list after unbind", "GET", "/admin/cards?msisdn=" + phone, "", 200, "[]", ""},
	}
	for _, tt := range tests {
		resp, body := e.do(tt.method, tt.path, token, tt.body)
		if resp.StatusCode != tt.status || !strings.Contains(body, tt.code) {
			t.Fatalf("%s: %d %s, want %d with %q", tt.name, resp.StatusCode, body, tt.status, tt.code)
		}
		if got := resp.Header.Get("Allow"); got != tt.allow {
			t.Fatalf("%s: Allow %q, want %q", tt.name, got, tt.allow)
		}
		if !json.Valid([]byte(body)) || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
			t.Fatalf("%s: not JSON: %s", tt.name, body)
		}
		if strings.Contains(body, pan) || strings.Contains(body, ownerID) || strings.Contains(body, digits1000) {
			t.Fatalf("%s: the answer echoes the input: %s", tt.name, body)
		}
	}
	for _, secret := range []string{pan, ownerID, token} {
		if strings.Contains(e.logs.String(), secret) {
			t.Errorf("secret %s… in the logs", secret[:2])
		}
	}
}

// TestFailedAuthenticationIsLogged: a missing or wrong token is 401 and a
// log line that says so, without the token tried.
func TestFailedAuthenticationIsLogged(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const tried = "guess-guess-guess-guess"
	for _, tok := range []string{"", tried} {
		resp, body := e.do("GET", "/admin/cards?msisdn="+phone, tok, "")
		if resp.StatusCode != 401 || !strings.Contains(body, "unauthorized") || resp.Header.Get("WWW-Authenticate") == "" {
			t.Fatalf("token %q: %d %s", tok, resp.StatusCode, body)
		}
	}
	// An unauthenticated caller learns nothing about routes or methods.
	if resp, _ := e.do("DELETE", "/admin/nothing", "", ""); resp.StatusCode != 401 {
		t.Fatalf("unauthenticated DELETE of an unknown path: %d, want 401", resp.StatusCode)
	}
	logs := e.logs.String()
	if n := strings.Count(logs, "authentication failed"); n != 3 {
		t.Fatalf("%d failed authentications logged, want 3:\n%s", n, logs)
	}
	for _, want := range []string{"reason=\"no bearer token\"", "reason=\"wrong token\"", "remote=127.0.0.1"} {
		if !strings.Contains(logs, want) {
			t.Fatalf("the log lacks %s:\n%s", want, logs)
		}
	}
	if strings.Contains(logs, tried) || strings.Contains(logs, token) {
		t.Fatal("a token reached the log")
	}
}

func TestNewRefusesAShortToken(t *testing.T) {
	t.Parallel()
	_, err := cardadmin.New(cardadmin.Options{Token: "short", Cards: &billing.Cards{},
		Owners: cardadmin.OwnersFunc(func(context.Context, string, string, string) error { return nil })})
	if err == nil {
		t.Fatal("a 5-character token was accepted")
	}
}

// FuzzDecode: whatever the body, the API answers JSON and never 500s or
// panics (the stores are never reached with an unchecked field).
func FuzzDecode(f *testing.F) {
	for _, s := range []string{`{"msisdn":"8613900000001","last4":"1234"}`, `{}`, `[]`, `{"msisdn":1}`, `{"msisdn":"+86 139"}{}`, "\x00"} {
		f.Add(s)
	}
	e := newEnv(f)
	f.Fuzz(func(t *testing.T, body string) {
		e.t = t
		resp, out := e.do("POST", "/admin/cards/unbind", token, body)
		if resp.StatusCode >= 500 || !json.Valid([]byte(out)) {
			t.Fatalf("body %q: %d %s", body, resp.StatusCode, out)
		}
	})
}
