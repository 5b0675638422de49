// Package adminhttp is the HTTP shell shared by the operator's admin APIs
// (package cardadmin and package riskadmin): bearer-token authentication
// (a constant-time compare of the token's SHA-256), one route table from a
// path and a method to an Operation (405 with Allow for a wrong method on a
// known path), strict JSON body decoding (DecodeStrict), and one table per
// API from an error to the HTTP status and the stable code of the answer
// (JSON {"error": code, "message": text}; anything not in the table is 500
// "internal", logged).
//
// It is a shell and nothing more: each API keeps its own request types,
// its own status table entries and its own rules. It must never log, echo
// or store the bearer token, a phone number in clear, a card number or an
// ID number: it logs only the method, the path, the remote address on a
// failed authentication, the status and the attributes an Operation hands
// it (already masked), and it never quotes a request body.
package adminhttp

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
)

// MinTokenLength is the shortest bearer token New accepts.
const MinTokenLength = 16

// Errors of the shell; every Handler's table maps them first.
var (
	ErrUnauthorized = errors.New("a valid bearer token is required")
	ErrNoRoute      = errors.New("no such admin operation")
	ErrMethod       = errors.New("method not allowed")
	ErrTooLarge     = errors.New("request body too large")
)

// Status maps an error (errors.Is) to the HTTP status and the stable code
// of the answer.
type Status struct {
	Err    error
	Status int
	Code   string
}

// Reply is what an Operation answers: a status and a JSON value. Log holds
// attributes the Handler adds to the request's log line, on success and on
// error alike; they must already be masked (redact.Phone).
type Reply struct {
	Status int
	Body   any
	Log    []any
}

// Operation serves one route of an authenticated request: it decodes what
// it needs (DecodeStrict for a body) and answers a Reply, or an error that
// the Handler answers through its table (the Reply's Log still counts).
type Operation func(w http.ResponseWriter, r *http.Request) (Reply, error)

// Options configure a Handler.
type Options struct {
	// Name names the API in log lines and errors ("card admin").
	Name string
	// Token is the bearer token (at least MinTokenLength characters).
	Token  string
	Logger *slog.Logger
	// Routes maps a path to its methods and their operations.
	Routes map[string]map[string]Operation
	// Statuses are the API's own table entries, tried in order after the
	// shell's (ErrUnauthorized, NoRoute, ErrMethod, ErrTooLarge).
	Statuses []Status
	// NoRoute is the error answered for an unknown path (404 not_found);
	// default ErrNoRoute.
	NoRoute error
	// Message is the text of a known error's answer; default err.Error().
	Message func(error) string
}

// Handler is an admin API's http.Handler.
type Handler struct {
	name    string
	token   [32]byte // sha256 of the bearer token
	log     *slog.Logger
	routes  map[string]map[string]Operation
	table   []Status
	noRoute error
	message func(error) string
}

// New returns the Handler, or an error when the token is too short.
func New(o Options) (*Handler, error) {
	if len(o.Token) < MinTokenLength {
		return nil, fmt.Errorf("%s: the bearer token must be at least %d characters", o.Name, MinTokenLength)
	}
	h := &Handler{name: o.Name, token: sha256.Sum256([]byte(o.Token)), log: o.Logger, routes: o.Routes,
		noRoute: o.NoRoute, message: o.Message}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.noRoute == nil {
		h.noRoute = ErrNoRoute
	}
	if h.message == nil {
		h.message = error.Error
	}
	h.table = append([]Status{
		{ErrUnauthorized, http.StatusUnauthorized, "unauthorized"},
		{h.noRoute, http.StatusNotFound, "not_found"},
		{ErrMethod, http.StatusMethodNotAllowed, "method_not_allowed"},
		{ErrTooLarge, http.StatusRequestEntityTooLarge, "too_large"},
	}, o.Statuses...)
	return h, nil
}

type errorBody struct {
	Error   string `json:"error"`
	Message string `json:"message"`
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if reason := h.authenticate(r); reason != "" {
		h.log.Warn(h.name+": authentication failed", "reason", reason, "method", r.Method,
			"path", r.URL.Path, "remote", r.RemoteAddr)
		w.Header().Set("WWW-Authenticate", `Bearer realm="carrierbill-admin"`)
		h.fail(w, r, nil, ErrUnauthorized)
		return
	}
	methods, found := h.routes[r.URL.Path]
	if !found {
		h.fail(w, r, nil, h.noRoute)
		return
	}
	op, found := methods[r.Method]
	if !found {
		allow := make([]string, 0, len(methods))
		for m := range methods {
			allow = append(allow, m)
		}
		slices.Sort(allow)
		w.Header().Set("Allow", strings.Join(allow, ", "))
		h.fail(w, r, nil, ErrMethod)
		return
	}
	rep, err := op(w, r)
	if err != nil {
		h.fail(w, r, rep.Log, err)
		return
	}
	h.log.Info(h.name, h.attrs(r, rep.Log, "status", rep.Status)...)
	WriteJSON(w, rep.Status, rep.Body)
}

// authenticate returns "" for a valid bearer token, else why not.
func (h *Handler) authenticate(r *http.Request) string {
	got, found := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !found || got == "" {
		return "no bearer token"
	}
	sum := sha256.Sum256([]byte(got))
	if subtle.ConstantTimeCompare(sum[:], h.token[:]) != 1 {
		return "wrong token"
	}
	return ""
}

// fail answers err through the table. A known error's message is
// Message(err); an unknown error is logged and answered 500 without
// detail. A failed authentication is not logged again here.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, log []any, err error) {
	for _, e := range h.table {
		if errors.Is(err, e.Err) {
			if e.Err != ErrUnauthorized {
				h.log.Info(h.name, h.attrs(r, log, "status", e.Status, "error", e.Code)...)
			}
			WriteJSON(w, e.Status, errorBody{Error: e.Code, Message: h.message(err)})
			return
		}
	}
	h.log.Error(h.name+" operation failed", h.attrs(r, log, "err", err)...)
	WriteJSON(w, http.StatusInternalServerError, errorBody{Error: "internal", Message: "the operation failed; see the gateway log"})
}

// attrs is a request's log line: method, path, the Operation's attributes,
// then tail.
func (h *Handler) attrs(r *http.Request, log []any, tail ...any) []any {
	out := make([]any, 0, 4+len(log)+len(tail))
	out = append(out, "method", r.Method, "path", r.URL.Path)
	out = append(out, log...)
	return append(out, tail...)
}

// DecodeStrict reads r's body into v: exactly one JSON object of known
// fields within maxBody bytes and nothing after it. A body too large is an
// error wrapping ErrTooLarge; any other problem wraps bad (the API's
// bad-request error, mapped by its table) and says what is wrong without
// quoting the body (it may carry a card number, an ID number or a phone
// number).
func DecodeStrict(w http.ResponseWriter, r *http.Request, v any, maxBody int64, bad error) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		// Trailing data: a second value, or garbage, after the object.
		if err = dec.Decode(&struct{}{}); err == io.EOF {
			err = nil
		} else if err == nil {
			err = errMoreThanOne
		}
	}
	if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
		return fmt.Errorf("%w: at most %d bytes", ErrTooLarge, maxBody)
	}
	if err != nil {
		return fmt.Errorf("%w: the body must be one JSON object with known fields (%s)", bad, jsonProblem(err))
	}
	return nil
}

var errMoreThanOne = errors.New("more than one JSON value")

// jsonProblem says what is wrong with a body without quoting it.
func jsonProblem(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("syntax error at byte %d", syn.Offset)
	case errors.As(err, &typ):
		return fmt.Sprintf("field %s must be a %s", typ.Field, typ.Type)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "empty or truncated"
	case strings.HasPrefix(err.Error(), "json: unknown field"):
		return strings.TrimPrefix(err.Error(), "json: ")
	case errors.Is(err, errMoreThanOne):
		return "data after the object"
	}
	return "malformed"
}

// WriteJSON answers status with v as JSON, never cached.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
