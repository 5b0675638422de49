package adminhttp

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

const token = "0123456789abcdef-test"

var errBad = errors.New("bad request")

type body struct {
	Name string `json:"name"`
	N    int    `json:"n"`
}

// newHandler serves /echo (POST, PUT: decodes a body and answers it) and
// /boom (GET: an error not in the table). Requests go through
// httptest.NewRecorder on the test's goroutine, so logs needs no lock.
func newHandler(t *testing.T) (*Handler, *bytes.Buffer) {
	t.Helper()
	logs := &bytes.Buffer{}
	echo := func(w http.ResponseWriter, r *http.Request) (Reply, error) {
		var b body
		if err := DecodeStrict(w, r, &b, 64, errBad); err != nil {
			return Reply{Log: []any{"who", "masked"}}, err
		}
		return Reply{Status: http.StatusCreated, Body: b, Log: []any{"who", "masked"}}, nil
	}
	h, err := New(Options{Name: "test admin", Token: token, Logger: slog.New(slog.NewTextHandler(logs, nil)),
		Statuses: []Status{{Err: errBad, Status: http.StatusBadRequest, Code: "bad_request"}},
		Routes: map[string]map[string]Operation{
			"/echo": {http.MethodPost: echo, http.MethodPut: echo},
			"/boom": {http.MethodGet: func(http.ResponseWriter, *http.Request) (Reply, error) {
				return Reply{}, errors.New("disk on fire")
			}},
		}})
	if err != nil {
		t.Fatal(err)
	}
	return h, logs
}

type answer struct {
	status int
	header http.Header
	body   map[string]any
}

func call(t *testing.T, h http.Handler, method, path, auth, reqBody string) answer {
	t.Helper()
	r := httptest.NewRequest(method, path, strings.NewReader(reqBody))
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	a := answer{status: w.Code, header: w.Header()}
	if err := json.Unmarshal(w.Body.Bytes(), &a.body); err != nil {
		t.Fatalf("%s %s: answer %q is not a JSON object: %v", method, path, w.Body.String(), err)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	if cc := w.Header().Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q", cc)
	}
	return a
}

func TestNewRefusesAShortToken(t *testing.T) {
	t.Parallel()
	_, err := New(Options{Name: "test admin", Token: "short"})
	if err == nil || !strings.HasPrefix(err.Error(), "test admin: ") {
		t.Fatalf("err = %v, want a refusal naming the API", err)
	}
}

func TestAuthentication(t *testing.T) {
	t.Parallel()
	h, logs := newHandler(t)
	for _, auth := range []string{"", "Bearer ", "Basic " + token, "Bearer wrong-token-of-some-length", "Bearer " + token + "x"} {
		a := call(t, h, http.MethodPost, "/echo", auth, `{"name":"x"}`)
		if a.status != http.StatusUnauthorized || a.body["error"] != "unauthorized" ||
			a.header.Get("WWW-Authenticate") != `Bearer realm="carrierbill-admin"` {
			t.Errorf("auth %q: %d %v %v, want 401 unauthorized with WWW-Authenticate", auth, a.status, a.body, a.header)
		}
	}
	if a := call(t, h, http.MethodPost, "/echo", "Bearer "+token, `{"name":"x","n":2}`); a.status != http.StatusCreated || a.body["name"] != "x" {
		t.Fatalf("the right token: %d %v, want 201 and the echo", a.status, a.body)
	}
	l := logs.String()
	if n := strings.Count(l, "test admin: authentication failed"); n != 5 {
		t.Errorf("%d failed authentications logged, want 5:\n%s", n, l)
	}
	if strings.Contains(l, token) || strings.Contains(l, "wrong-token") {
		t.Errorf("a token reached the log:\n%s", l)
	}
	if !strings.Contains(l, "who=masked status=201") {
		t.Errorf("the success line lacks the operation's attributes:\n%s", l)
	}
}

func TestRoutes(t *testing.T) {
	t.Parallel()
	h, logs := newHandler(t)
	a := call(t, h, http.MethodGet, "/echo", "Bearer "+token, "")
	if a.status != http.StatusMethodNotAllowed || a.body["error"] != "method_not_allowed" || a.header.Get("Allow") != "POST, PUT" {
		t.Errorf("GET /echo: %d %v Allow=%q, want 405 with Allow: POST, PUT", a.status, a.body, a.header.Get("Allow"))
	}
	a = call(t, h, http.MethodGet, "/nowhere", "Bearer "+token, "")
	if a.status != http.StatusNotFound || a.body["error"] != "not_found" || a.body["message"] != ErrNoRoute.Error() {
		t.Errorf("GET /nowhere: %d %v, want 404 not_found", a.status, a.body)
	}
	a = call(t, h, http.MethodGet, "/boom", "Bearer "+token, "")
	if a.status != http.StatusInternalServerError || a.body["error"] != "internal" || strings.Contains(a.body["message"].(string), "fire") {
		t.Errorf("GET /boom: %d %v, want 500 internal without detail", a.status, a.body)
	}
	if !strings.Contains(logs.String(), "disk on fire") {
		t.Errorf("an unknown error is not logged:\n%s", logs.String())
	}
}

func TestDecodeStrict(t *testing.T) {
	t.Parallel()
	h, logs := newHandler(t)
	secret := "6222021234567891234"
	for _, tc := range []struct {
		name, body      string
		status          int
		code, inMessage string
	}{
		{"empty", "", 400, "bad_request", "empty or truncated"},
		{"truncated", `{"name":"` + secret, 400, "bad_request", "empty or truncated"},
		{"syntax", `{"name":` + secret + `x}`, 400, "bad_request", "syntax error at byte"},
		{"unknown field", `{"pan":"` + secret + `"}`, 400, "bad_request", `unknown field "pan"`},
		{"wrong type", `{"n":"` + secret + `"}`, 400, "bad_request", "field n must be a int"},
		{"two objects", `{"name":"a"}{}`, 400, "bad_request", "data after the object"},
		{"garbage after", `{"name":"a"} x`, 400, "bad_request", "syntax error"},
		{"not an object", `[1]`, 400, "bad_request", "must be a"},
		{"too large", `{"name":"` + strings.Repeat("a", 100) + `"}`, 413, "too_large", "at most 64 bytes"},
	} {
		a := call(t, h, http.MethodPost, "/echo", "Bearer "+token, tc.body)
		msg, _ := a.body["message"].(string)
		if a.status != tc.status || a.body["error"] != tc.code || !strings.Contains(msg, tc.inMessage) {
			t.Errorf("%s: %d %v, want %d %s with %q", tc.name, a.status, a.body, tc.status, tc.code, tc.inMessage)
		}
		if strings.Contains(msg, secret) {
			t.Errorf("%s: the answer quotes the body: %q", tc.name, msg)
		}
	}
	if l := logs.String(); strings.Contains(l, secret) || !strings.Contains(l, "who=masked status=400 error=bad_request") {
		t.Errorf("the log quotes a body or lacks the refusals:\n%s", l)
	}
}
