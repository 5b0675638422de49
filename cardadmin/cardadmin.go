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
// address, method, path, never the token). The HTTP shell (authentication,
// routes, strict decoding, the error answer) is internal/adminhttp's,
// shared with package riskadmin.
//
// It must never log, echo or store a card number, an ID number or the
// bearer token, never log a phone number in clear, and never decide
// anything about cards itself: the rules live in billing.
package cardadmin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/carrierbill/carrierbill/bank"
	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/internal/adminhttp"
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
	MinTokenLength = adminhttp.MinTokenLength
	MaxBody        = 4 << 10 // bytes of a request body
	maxMSISDN      = 32      // characters of a phone number as sent, separators included
	maxName        = 64      // characters of a holder name
	maxIDNumber    = 32      // characters of an ID number
)

// API is the card admin HTTP handler.
type API struct {
	*adminhttp.Handler
	cards     Cards
	owners    Owners
	normalize func(string) (string, error)
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
	a := &API{cards: o.Cards, owners: o.Owners, normalize: o.Normalize}
	if a.normalize == nil {
		a.normalize = DigitsOnly
	}
	h, err := adminhttp.New(adminhttp.Options{Name: "card admin", Token: o.Token, Logger: o.Logger, Statuses: statusTable,
		Routes: map[string]map[string]adminhttp.Operation{
			"/admin/owners":        {http.MethodPost: a.serve(a.setOwner)},
			"/admin/cards/bind":    {http.MethodPost: a.serve(a.bind)},
			"/admin/cards/unbind":  {http.MethodPost: a.serve(a.unbind)},
			"/admin/cards/default": {http.MethodPost: a.serve(a.setDefault)},
			"/admin/cards":         {http.MethodGet: a.serve(a.list)},
			"/admin/wallet/unlock": {http.MethodPost: a.serve(a.unlock)},
		}})
	if err != nil {
		return nil, err
	}
	a.Handler = h
	return a, nil
}

// serve decodes the request for op; every log line of the request names
// the phone number masked.
func (a *API) serve(op operation) adminhttp.Operation {
	return func(w http.ResponseWriter, r *http.Request) (adminhttp.Reply, error) {
		req, err := a.decode(w, r)
		if err != nil {
			return adminhttp.Reply{Log: []any{"msisdn", redact.Phone("")}}, err
		}
		status, v, err := op(r.Context(), req)
		return adminhttp.Reply{Status: status, Body: v, Log: []any{"msisdn", redact.Phone(req.MSISDN)}}, err
	}
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

// errBadRequest is a request this transport refuses; statusTable maps it.
var errBadRequest = errors.New("bad request")

// statusTable is the one table from an error to the HTTP status and the
// stable code of the answer, after the shell's own (adminhttp: 401, 404,
// 405, 413); the first match (errors.Is) wins. Anything not in it is 500
// "internal", logged.
var statusTable = []adminhttp.Status{
	{Err: errBadRequest, Status: http.StatusBadRequest, Code: "bad_request"},
	{Err: billing.ErrBadCardNumber, Status: http.StatusBadRequest, Code: "bad_card_number"},
	{Err: billing.ErrUnknownOwner, Status: http.StatusUnprocessableEntity, Code: "unknown_owner"},
	{Err: billing.ErrOwnerMismatch, Status: http.StatusUnprocessableEntity, Code: "owner_mismatch"},
	{Err: bank.ErrHolderMismatch, Status: http.StatusUnprocessableEntity, Code: "holder_mismatch"},
	{Err: bank.ErrCardClosed, Status: http.StatusUnprocessableEntity, Code: "card_closed"},
	{Err: bank.ErrCardReplaced, Status: http.StatusUnprocessableEntity, Code: "card_replaced"},
	{Err: bank.ErrUnknownCard, Status: http.StatusUnprocessableEntity, Code: "unknown_card"},
	{Err: bank.ErrDeclined, Status: http.StatusUnprocessableEntity, Code: "bank_declined"},
	{Err: billing.ErrCardBound, Status: http.StatusConflict, Code: "card_bound_elsewhere"},
	{Err: billing.ErrCardBoundHere, Status: http.StatusConflict, Code: "card_already_bound"},
	{Err: billing.ErrAmbiguousCard, Status: http.StatusConflict, Code: "ambiguous_card"},
	{Err: billing.ErrNoSuchCard, Status: http.StatusNotFound, Code: "no_such_card"},
	{Err: billing.ErrWalletNotFound, Status: http.StatusNotFound, Code: "no_wallet"},
	{Err: bank.ErrTimeout, Status: http.StatusGatewayTimeout, Code: "bank_timeout"},
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

var ok = map[string]string{"status": "ok"}

// decode reads the request: for POST exactly one JSON object of known
// fields within MaxBody bytes and nothing after it; for GET only the
// msisdn query parameter. Then it bounds every field and normalizes the
// phone number.
func (a *API) decode(w http.ResponseWriter, r *http.Request) (*request, error) {
	req := &request{}
	switch r.Method {
	case http.MethodPost:
		if err := adminhttp.DecodeStrict(w, r, req, MaxBody, errBadRequest); err != nil {
			return nil, err
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

func toCard(c billing.Card) Card {
	return Card{ID: c.ID, Masked: c.Masked, Last4: c.Last4, Status: string(c.Status), Default: c.Default, BoundAt: c.BoundAt}
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
