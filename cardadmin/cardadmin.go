// Package cardadmin is the operator's card admin HTTP API: the same
// operations as `carrierbill card` (register a number's owner, bind,
// unbind, list and choose the default card, unlock a wallet), served on
// admin.listen behind a bearer token.
//
//	POST /admin/owners          {"msisdn","name","id_number"}          register the owner
//	POST /admin/cards/bind      {"msisdn","pan","name","id_number"}    bind (201)
//	POST /admin/cards/unbind    {"msisdn","last4"}
//	POST /admin/cards/default   {"msisdn","last4"}
//	GET  /admin/cards?msisdn=N                                         list
//	POST /admin/wallet/unlock   {"msisdn"}
//
// It is a transport and nothing more: it decodes a request strictly (one
// JSON object of at most MaxBody bytes, known fields only, nothing after
// it, every field bounded), normalizes the phone number, calls billing, and
// maps the outcome to an HTTP status through one table (statusTable).
// Errors are JSON {"error": code, "message": text}. A wrong method on a
// known path is 405 with Allow. A failed authentication is logged (remote
// address, method, path, never the token).
//
// It must never log, echo or store a card number, an ID number or the
// bearer token, never log a phone number in clear, and never decide
// anything about cards itself: the rules live in billing.
package cardadmin

import (
	"context"
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
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/carrierbill/carrierbill/bank"
	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/redact"
)

// Cards is what the API needs of billing's card operations
// (*billing.Cards).
type Cards interface {
	Bind(ctx context.Context, msisdn, pan, holderName, idNumber string) (billing.Card, error)
	Unbind(ctx context.Context, msisdn, last4 string) error
	SetDefault(ctx context.Context, msisdn, last4 string) error
	List(ctx context.Context, msisdn string) ([]billing.Card, error)
	UnlockWallet(ctx context.Context, msisdn string) error
}

// Owners registers the real-name owner of a phone number (the stores'
// SetOwner with the card secrets bound in).
type Owners interface {
	SetOwner(ctx context.Context, msisdn, name, idNumber string) error
}

// OwnersFunc adapts a function to Owners.
type OwnersFunc func(ctx context.Context, msisdn, name, idNumber string) error

// SetOwner implements Owners.
func (f OwnersFunc) SetOwner(ctx context.Context, msisdn, name, idNumber string) error {
	return f(ctx, msisdn, name, idNumber)
}

// Options configure the API.
type Options struct {
	Cards  Cards
	Owners Owners
	// Token is the bearer token (at least MinTokenLength characters).
	Token  string
	Logger *slog.Logger
	// Normalize turns a phone number as the operator typed it into the
	// canonical form every table uses, or refuses it with an error.
	// Default: DigitsOnly.
	Normalize func(raw string) (string, error)
}

// Limits on what a request may carry.
const (
	MinTokenLength = 16
	MaxBody        = 4 << 10 // bytes of a request body
	maxMSISDN      = 32      // characters of a phone number as sent, separators included
	maxName        = 64      // characters of a holder name
	maxIDNumber    = 32      // characters of an ID number
)

// API is the card admin HTTP handler.
type API struct {
	cards     Cards
	owners    Owners
	token     [32]byte // sha256 of the bearer token
	log       *slog.Logger
	normalize func(string) (string, error)
	routes    map[string]map[string]operation // path → method → operation
}

// operation handles one route once the request is authenticated and
// decoded; it answers a status and a JSON value, or an error for the table.
type operation func(ctx context.Context, req *request) (int, any, error)

// New returns the API, or an error when an option is missing or the token
// is too short.
func New(o Options) (*API, error) {
	if o.Cards == nil || o.Owners == nil {
		return nil, errors.New("card admin: Cards and Owners are required")
	}
	if len(o.Token) < MinTokenLength {
		return nil, fmt.Errorf("card admin: the bearer token must be at least %d characters", MinTokenLength)
	}
	a := &API{cards: o.Cards, owners: o.Owners, token: sha256.Sum256([]byte(o.Token)), log: o.Logger, normalize: o.Normalize}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.normalize == nil {
		a.normalize = DigitsOnly
	}
	a.routes = map[string]map[string]operation{
		"/admin/owners":        {http.MethodPost: a.setOwner},
		"/admin/cards/bind":    {http.MethodPost: a.bind},
		"/admin/cards/unbind":  {http.MethodPost: a.unbind},
		"/admin/cards/default": {http.MethodPost: a.setDefault},
		"/admin/cards":         {http.MethodGet: a.list},
		"/admin/wallet/unlock": {http.MethodPost: a.unlock},
	}
	return a, nil
}

// DigitsOnly is the default Normalize: an optional leading "+" and 6 to 15
// digits, returned without the plus.
func DigitsOnly(raw string) (string, error) {
	d := strings.TrimPrefix(raw, "+")
	if len(d) < 6 || len(d) > 15 || !allDigits(d) {
		return "", errors.New("not a phone number")
	}
	return d, nil
}

// Request errors of this transport; statusTable maps them.
var (
	errUnauthorized = errors.New("a valid bearer token is required")
	errNoRoute      = errors.New("no such admin operation")
	errMethod       = errors.New("method not allowed")
	errBadRequest   = errors.New("bad request")
	errTooLarge     = errors.New("request body too large")
)

// statusTable is the one table from an error to the HTTP status and the
// stable code of the answer; the first match (errors.Is) wins. Anything
// not in it is 500 "internal", logged.
var statusTable = []struct {
	err    error
	status int
	code   string
}{
	{errUnauthorized, http.StatusUnauthorized, "unauthorized"},
	{errNoRoute, http.StatusNotFound, "not_found"},
	{errMethod, http.StatusMethodNotAllowed, "method_not_allowed"},
	{errTooLarge, http.StatusRequestEntityTooLarge, "too_large"},
	{errBadRequest, http.StatusBadRequest, "bad_request"},
	{billing.ErrBadCardNumber, http.StatusBadRequest, "bad_card_number"},
	{billing.ErrUnknownOwner, http.StatusUnprocessableEntity, "unknown_owner"},
	{billing.ErrOwnerMismatch, http.StatusUnprocessableEntity, "owner_mismatch"},
	{bank.ErrHolderMismatch, http.StatusUnprocessableEntity, "holder_mismatch"},
	{bank.ErrCardClosed, http.StatusUnprocessableEntity, "card_closed"},
	{bank.ErrCardReplaced, http.StatusUnprocessableEntity, "card_replaced"},
	{bank.ErrUnknownCard, http.StatusUnprocessableEntity, "unknown_card"},
	{bank.ErrDeclined, http.StatusUnprocessableEntity, "bank_declined"},
	{billing.ErrCardBound, http.StatusConflict, "card_bound_elsewhere"},
	{billing.ErrCardBoundHere, http.StatusConflict, "card_already_bound"},
	{billing.ErrAmbiguousCard, http.StatusConflict, "ambiguous_card"},
	{billing.ErrNoSuchCard, http.StatusNotFound, "no_such_card"},
	{billing.ErrWalletNotFound, http.StatusNotFound, "no_wallet"},
	{bank.ErrTimeout, http.StatusGatewayTimeout, "bank_timeout"},
}

// request is the body of every POST (each operation says which fields it
// needs) and, for GET, the query.
type request struct {
	MSISDN   string `json:"msisdn"`
	PAN      string `json:"pan"`
	Name     string `json:"name"`
	IDNumber string `json:"id_number"`
	Last4    string `json:"last4"`
}

// Card is a bound card as the API shows it.
type Card struct {
	ID      int64     `json:"id"`
	Masked  string    `json:"masked"`
	Last4   string    `json:"last4"`
	Status  string    `json:"status"`
	Default bool      `json:"default"`
	BoundAt time.Time `json:"bound_at"`
}

type errorBody struct {
	Error   string `json:"error"`
	Message string `json:"message"`
}

var ok = map[string]string{"status": "ok"}

func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if reason := a.authenticate(r); reason != "" {
		a.log.Warn("card admin: authentication failed", "reason", reason, "method", r.Method,
			"path", r.URL.Path, "remote", r.RemoteAddr)
		w.Header().Set("WWW-Authenticate", `Bearer realm="carrierbill-admin"`)
		a.fail(w, r, "", errUnauthorized)
		return
	}
	methods, found := a.routes[r.URL.Path]
	if !found {
		a.fail(w, r, "", errNoRoute)
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
		a.fail(w, r, "", errMethod)
		return
	}
	req, err := a.decode(w, r)
	if err != nil {
		a.fail(w, r, "", err)
		return
	}
	status, v, err := op(r.Context(), req)
	if err != nil {
		a.fail(w, r, req.MSISDN, err)
		return
	}
	a.log.Info("card admin", "method", r.Method, "path", r.URL.Path, "msisdn", redact.Phone(req.MSISDN), "status", status)
	writeJSON(w, status, v)
}

// authenticate returns "" for a valid bearer token, else why not.
func (a *API) authenticate(r *http.Request) string {
	got, found := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !found || got == "" {
		return "no bearer token"
	}
	h := sha256.Sum256([]byte(got))
	if subtle.ConstantTimeCompare(h[:], a.token[:]) != 1 {
		return "wrong token"
	}
	return ""
}

// decode reads the request: for POST exactly one JSON object of known
// fields within MaxBody bytes and nothing after it; for GET only the
// msisdn query parameter. Then it bounds every field and normalizes the
// phone number.
func (a *API) decode(w http.ResponseWriter, r *http.Request) (*request, error) {
	req := &request{}
	switch r.Method {
	case http.MethodPost:
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxBody))
		dec.DisallowUnknownFields()
		err := dec.Decode(req)
		if err == nil {
			// Trailing data: a second value, or garbage, after the object.
			if err = dec.Decode(&struct{}{}); err == io.EOF {
				err = nil
			} else if err == nil {
				err = errors.New("more than one JSON value")
			}
		}
		if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
			return nil, fmt.Errorf("%w: at most %d bytes", errTooLarge, MaxBody)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: the body must be one JSON object with known fields (%s)", errBadRequest, jsonProblem(err))
		}
	case http.MethodGet:
		q := r.URL.Query()
		for k, v := range q {
			if k != "msisdn" || len(v) != 1 {
				return nil, fmt.Errorf("%w: the only query parameter is msisdn, once", errBadRequest)
			}
		}
		req.MSISDN = q.Get("msisdn")
	}
	if err := a.check(req); err != nil {
		return nil, err
	}
	return req, nil
}

// jsonProblem says what is wrong with a body without quoting it (it may
// carry a card or ID number).
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
	case err.Error() == "more than one JSON value":
		return "data after the object"
	}
	return "malformed"
}

// check bounds the fields that are present and normalizes the phone
// number; each operation then says which fields it requires.
func (a *API) check(req *request) error {
	bad := func(msg string) error { return fmt.Errorf("%w: %s", errBadRequest, msg) }
	if req.MSISDN == "" {
		return bad("msisdn is required")
	}
	if len(req.MSISDN) > maxMSISDN {
		return bad("msisdn is not a phone number")
	}
	n, err := a.normalize(req.MSISDN)
	if err != nil {
		return bad("msisdn is not a phone number")
	}
	req.MSISDN = n
	if req.PAN != "" && (len(req.PAN) < 12 || len(req.PAN) > 19 || !allDigits(req.PAN)) {
		return bad("pan must be 12 to 19 digits")
	}
	if req.Name != "" && !printable(req.Name, maxName) {
		return bad(fmt.Sprintf("name must be at most %d printable characters", maxName))
	}
	if req.IDNumber != "" && (len(req.IDNumber) > maxIDNumber || !alnum(req.IDNumber)) {
		return bad(fmt.Sprintf("id_number must be at most %d letters and digits", maxIDNumber))
	}
	if req.Last4 != "" && (len(req.Last4) != 4 || !allDigits(req.Last4)) {
		return bad("last4 must be 4 digits")
	}
	return nil
}

func require(fields ...string) error {
	for i := 0; i < len(fields); i += 2 {
		if fields[i+1] == "" {
			return fmt.Errorf("%w: %s is required", errBadRequest, fields[i])
		}
	}
	return nil
}

func (a *API) setOwner(ctx context.Context, req *request) (int, any, error) {
	if err := require("name", req.Name, "id_number", req.IDNumber); err != nil {
		return 0, nil, err
	}
	if err := a.owners.SetOwner(ctx, req.MSISDN, req.Name, req.IDNumber); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, ok, nil
}

func (a *API) bind(ctx context.Context, req *request) (int, any, error) {
	if err := require("pan", req.PAN, "name", req.Name, "id_number", req.IDNumber); err != nil {
		return 0, nil, err
	}
	c, err := a.cards.Bind(ctx, req.MSISDN, req.PAN, req.Name, req.IDNumber)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, toCard(c), nil
}

func (a *API) unbind(ctx context.Context, req *request) (int, any, error) {
	if err := require("last4", req.Last4); err != nil {
		return 0, nil, err
	}
	if err := a.cards.Unbind(ctx, req.MSISDN, req.Last4); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, ok, nil
}

func (a *API) setDefault(ctx context.Context, req *request) (int, any, error) {
	if err := require("last4", req.Last4); err != nil {
		return 0, nil, err
	}
	if err := a.cards.SetDefault(ctx, req.MSISDN, req.Last4); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, ok, nil
}

func (a *API) list(ctx context.Context, req *request) (int, any, error) {
	cs, err := a.cards.List(ctx, req.MSISDN)
	if err != nil {
		return 0, nil, err
	}
	out := make([]Card, 0, len(cs))
	for _, c := range cs {
		out = append(out, toCard(c))
	}
	return http.StatusOK, out, nil
}

func (a *API) unlock(ctx context.Context, req *request) (int, any, error) {
	if err := a.cards.UnlockWallet(ctx, req.MSISDN); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, ok, nil
}

// fail answers err through statusTable. A known error's message is its
// text (billing names a card by its masked form and a number masked); an
// unknown error is logged and answered 500 without detail.
func (a *API) fail(w http.ResponseWriter, r *http.Request, msisdn string, err error) {
	for _, e := range statusTable {
		if errors.Is(err, e.err) {
			if e.status >= 400 && e.err != errUnauthorized {
				a.log.Info("card admin", "method", r.Method, "path", r.URL.Path, "msisdn", redact.Phone(msisdn),
					"status", e.status, "error", e.code)
			}
			writeJSON(w, e.status, errorBody{Error: e.code, Message: err.Error()})
			return
		}
	}
	a.log.Error("card admin operation failed", "method", r.Method, "path", r.URL.Path, "msisdn", redact.Phone(msisdn), "err", err)
	writeJSON(w, http.StatusInternalServerError, errorBody{Error: "internal", Message: "the operation failed; see the gateway log"})
}

func toCard(c billing.Card) Card {
	return Card{ID: c.ID, Masked: c.Masked, Last4: c.Last4, Status: string(c.Status), Default: c.Default, BoundAt: c.BoundAt}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func alnum(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

// printable: valid UTF-8, at most max runes, no control characters.
func printable(s string, max int) bool {
	if !utf8.ValidString(s) || utf8.RuneCountInString(s) > max {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}
