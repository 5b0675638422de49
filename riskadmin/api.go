// Package riskadmin is the operator's side of the risk rules (issue 15):
// the actions shared by `carrierbill risk`, the admin API and the console
// (Operator: block and allow lists, held payments, decisions), and the
// admin HTTP API that serves them beside the card admin API, on
// admin.listen and on the operations endpoint, behind the admin bearer
// token:
//
//	GET  /admin/risk/lists[?list=block|allow][&all=true]     list entries (active unless all)
//	POST /admin/risk/block    {"number"|"prefix"|"merchant", "for", "note", "by"}   (201)
//	POST /admin/risk/allow    {"number"|"merchant", "for", "note", "by"}            (201)
//	POST /admin/risk/unblock  {"number"|"prefix"|"merchant"} or {"id"}
//	POST /admin/risk/unallow  {"number"|"merchant"} or {"id"}
//	GET  /admin/risk/holds                                   held payments waiting
//	POST /admin/risk/holds/release  {"order", "by"}          charge a held payment
//	POST /admin/risk/holds/refuse   {"order", "by"}          refuse it (risk_refused)
//	GET  /admin/risk/decisions[?since&until&rule&action&number&merchant&waiting&limit]
//
// Like package cardadmin it is a transport and nothing more: it decodes a
// request strictly (one JSON object of at most MaxBody bytes, known fields
// only, nothing after it; known query parameters once each), calls the
// Operator, and maps the outcome to an HTTP status through one table
// (statusTable). Errors are JSON {"error": code, "message": text}. The
// HTTP shell (authentication, routes, strict decoding, the error answer)
// is internal/adminhttp's, shared with package cardadmin.
//
// It must never decide a payment (the engine does), log or show a phone
// number in clear (numbers are masked in every answer and log line: an
// entry is unlisted by its id), or log the bearer token.
package riskadmin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/internal/adminhttp"
	"github.com/carrierbill/carrierbill/redact"
)

// Options configure the API.
type Options struct {
	Operator *Operator
	// Token is the bearer token (at least MinTokenLength characters).
	Token  string
	Logger *slog.Logger
	// Location shows times in the operator's zone and reads since/until.
	Location *time.Location
}

// Limits on what a request may carry.
const (
	MinTokenLength = adminhttp.MinTokenLength
	MaxBody        = 4 << 10 // bytes of a request body
	maxBy          = 64      // characters of the operator's name
	maxLimit       = 5000    // decisions one listing returns
)

// API is the risk admin HTTP handler.
type API struct {
	*adminhttp.Handler
	op  *Operator
	log *slog.Logger
	loc *time.Location
}

// operation handles one route once the request is authenticated; it
// answers a status and a JSON value, or an error for the table.
type operation func(ctx context.Context, r *http.Request, body *request) (int, any, error)

// New returns the API, or an error when the Operator is missing or the
// token is too short.
func New(o Options) (*API, error) {
	if o.Operator == nil || o.Operator.Engine == nil || o.Operator.Store == nil || o.Operator.Clock == nil {
		return nil, errors.New("risk admin: an Operator with an Engine, a Store and a Clock is required")
	}
	a := &API{op: o.Operator, log: o.Logger, loc: o.Location}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.loc == nil {
		a.loc = time.Local
	}
	h, err := adminhttp.New(adminhttp.Options{Name: "risk admin", Token: o.Token, Logger: a.log, Statuses: statusTable,
		NoRoute: errNoRoute, Message: func(err error) string { return redact.Text(err.Error()) },
		Routes: map[string]map[string]adminhttp.Operation{
			"/admin/risk/lists":         {http.MethodGet: serve(a.lists)},
			"/admin/risk/block":         {http.MethodPost: serve(a.add(billing.RiskBlockList))},
			"/admin/risk/allow":         {http.MethodPost: serve(a.add(billing.RiskAllowList))},
			"/admin/risk/unblock":       {http.MethodPost: serve(a.remove(billing.RiskBlockList))},
			"/admin/risk/unallow":       {http.MethodPost: serve(a.remove(billing.RiskAllowList))},
			"/admin/risk/holds":         {http.MethodGet: serve(a.holds)},
			"/admin/risk/holds/release": {http.MethodPost: serve(a.resolve(true))},
			"/admin/risk/holds/refuse":  {http.MethodPost: serve(a.resolve(false))},
			"/admin/risk/decisions":     {http.MethodGet: serve(a.decisions)},
		}})
	if err != nil {
		return nil, err
	}
	a.Handler = h
	return a, nil
}

// serve decodes a POST's body for op (a GET reads its query itself).
func serve(op operation) adminhttp.Operation {
	return func(w http.ResponseWriter, r *http.Request) (adminhttp.Reply, error) {
		body := &request{}
		if r.Method == http.MethodPost {
			if err := adminhttp.DecodeStrict(w, r, body, MaxBody, billing.ErrBadRequest); err != nil {
				return adminhttp.Reply{}, err
			}
		}
		status, v, err := op(r.Context(), r, body)
		return adminhttp.Reply{Status: status, Body: v}, err
	}
}

// Request errors of this transport; the shell (errNoRoute) and statusTable
// map them.
var (
	errNoRoute = errors.New("no such risk admin operation")
	errNoEntry = errors.New("no such list entry")
)

// statusTable is the one table from an error to the HTTP status and the
// stable code of the answer, after the shell's own (adminhttp: 401, 404,
// 405, 413); the first match (errors.Is) wins. Anything not in it is 500
// "internal", logged.
var statusTable = []adminhttp.Status{
	{Err: errNoEntry, Status: http.StatusNotFound, Code: "no_such_entry"},
	{Err: billing.ErrBadRequest, Status: http.StatusBadRequest, Code: "bad_request"},
	{Err: billing.ErrRiskListEntryExists, Status: http.StatusConflict, Code: "already_listed"},
	{Err: billing.ErrNotFound, Status: http.StatusNotFound, Code: "not_found"},
	{Err: billing.ErrNotHeld, Status: http.StatusConflict, Code: "not_held"},
}

// request is the body of every POST; each operation says which fields it
// reads.
type request struct {
	Number   string `json:"number"`
	Prefix   string `json:"prefix"`
	Merchant string `json:"merchant"`
	ID       int64  `json:"id"`
	For      string `json:"for"`
	Note     string `json:"note"`
	By       string `json:"by"`
	Order    int64  `json:"order"`
}

// query checks that r's query holds only known parameters, once each.
func query(r *http.Request, known ...string) (url.Values, error) {
	q := r.URL.Query()
	for k, v := range q {
		if !slices.Contains(known, k) {
			return nil, &FieldError{k, "unknown parameter (known: " + strings.Join(known, ", ") + ")"}
		}
		if len(v) != 1 {
			return nil, &FieldError{k, "given more than once"}
		}
	}
	return q, nil
}

// by is who acts: "operator:<name>" ("operator:admin-api" without a name).
func by(name string) (string, error) {
	if name == "" {
		return "operator:admin-api", nil
	}
	if !printable(name, maxBy) || strings.ContainsAny(name, " \t") {
		return "", &FieldError{"by", fmt.Sprintf("at most %d printable characters without blanks", maxBy)}
	}
	return "operator:" + name, nil
}

func boolParam(q url.Values, name string) (bool, error) {
	v := q.Get(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, &FieldError{name, "true or false"}
	}
	return b, nil
}

func (a *API) lists(ctx context.Context, r *http.Request, _ *request) (int, any, error) {
	q, err := query(r, "list", "all")
	if err != nil {
		return 0, nil, err
	}
	list := billing.RiskList(q.Get("list"))
	if list != "" && list != billing.RiskBlockList && list != billing.RiskAllowList {
		return 0, nil, &FieldError{"list", "block or allow"}
	}
	all, err := boolParam(q, "all")
	if err != nil {
		return 0, nil, err
	}
	es, err := a.op.Entries(ctx, list, all)
	if err != nil {
		return 0, nil, err
	}
	now := a.op.Clock.Now()
	out := make([]EntryJSON, 0, len(es))
	for _, e := range es {
		out = append(out, Entry(e, now, a.loc))
	}
	return http.StatusOK, map[string]any{"entries": out}, nil
}

func (a *API) add(list billing.RiskList) operation {
	return func(ctx context.Context, _ *http.Request, req *request) (int, any, error) {
		who, err := by(req.By)
		if err != nil {
			return 0, nil, err
		}
		var d time.Duration
		if req.For != "" {
			if d, err = time.ParseDuration(req.For); err != nil || d <= 0 {
				return 0, nil, &FieldError{"for", "a duration such as 30m, 24h or 720h"}
			}
		}
		if req.ID != 0 || req.Order != 0 {
			return 0, nil, &FieldError{"id", "a list entry is named by number, prefix or merchant"}
		}
		e, err := a.op.List(ctx, ListRequest{List: list, Target: Target{Number: req.Number, Prefix: req.Prefix, Merchant: req.Merchant},
			For: d, Note: req.Note, By: who})
		if err != nil {
			return 0, nil, err
		}
		a.log.Info("risk list entry added", "list", e.List, "subject", e.Subject, "value", shown(e), "until", e.Until, "by", who)
		return http.StatusCreated, Entry(e, a.op.Clock.Now(), a.loc), nil
	}
}

func (a *API) remove(list billing.RiskList) operation {
	return func(ctx context.Context, _ *http.Request, req *request) (int, any, error) {
		t := Target{Number: req.Number, Prefix: req.Prefix, Merchant: req.Merchant}
		if req.ID != 0 {
			if t != (Target{}) {
				return 0, nil, &FieldError{"id", "give the entry's id or its number, prefix or merchant, not both"}
			}
			var err error
			if t, err = a.entryTarget(ctx, list, req.ID); err != nil {
				return 0, nil, err
			}
		}
		n, err := a.op.Unlist(ctx, list, t)
		if err != nil {
			return 0, nil, err
		}
		return http.StatusOK, map[string]any{"ended": n}, nil
	}
}

// entryTarget finds the active entry id of list and names its subject.
func (a *API) entryTarget(ctx context.Context, list billing.RiskList, id int64) (Target, error) {
	es, err := a.op.Entries(ctx, list, false)
	if err != nil {
		return Target{}, err
	}
	for _, e := range es {
		if e.ID != id {
			continue
		}
		switch e.Subject {
		case billing.RiskNumber:
			return Target{Number: e.Value}, nil
		case billing.RiskPrefix:
			return Target{Prefix: e.Value}, nil
		}
		return Target{Merchant: e.Value}, nil
	}
	return Target{}, fmt.Errorf("%w: no active %s-list entry %d", errNoEntry, list, id)
}

func (a *API) holds(ctx context.Context, r *http.Request, _ *request) (int, any, error) {
	if _, err := query(r); err != nil {
		return 0, nil, err
	}
	hs, err := a.op.Holds(ctx, 0)
	if err != nil {
		return 0, nil, err
	}
	out := make([]HoldJSON, 0, len(hs))
	for _, h := range hs {
		out = append(out, HoldOf(h, a.loc))
	}
	return http.StatusOK, map[string]any{"holds": out}, nil
}

func (a *API) resolve(release bool) operation {
	return func(ctx context.Context, _ *http.Request, req *request) (int, any, error) {
		who, err := by(req.By)
		if err != nil {
			return 0, nil, err
		}
		if req.Number != "" || req.Prefix != "" || req.Merchant != "" || req.ID != 0 || req.For != "" || req.Note != "" {
			return 0, nil, &FieldError{"order", "a held payment is named by its order only"}
		}
		var res billing.Result
		if release {
			res, err = a.op.Release(ctx, req.Order, who)
		} else {
			res, err = a.op.Refuse(ctx, req.Order, who)
		}
		if err != nil {
			return 0, nil, err
		}
		a.log.Info("held payment resolved", "order", req.Order, "release", release, "outcome", res.Outcome, "reason", res.Reason, "by", who)
		return http.StatusOK, ResultOf(req.Order, res), nil
	}
}

func (a *API) decisions(ctx context.Context, r *http.Request, _ *request) (int, any, error) {
	q, err := query(r, "since", "until", "rule", "action", "number", "merchant", "waiting", "limit")
	if err != nil {
		return 0, nil, err
	}
	now := a.op.Clock.Now()
	var dq billing.RiskDecisionQuery
	if dq.From, err = ParseTime("since", q.Get("since"), now, a.loc); err != nil {
		return 0, nil, err
	}
	if dq.To, err = ParseTime("until", q.Get("until"), now, a.loc); err != nil {
		return 0, nil, err
	}
	dq.Rule, dq.Action, dq.Merchant = q.Get("rule"), billing.RiskAction(q.Get("action")), q.Get("merchant")
	if v := q.Get("number"); v != "" {
		if dq.MSISDN, err = a.op.Plan.Normalize(v, 0, 0); err != nil {
			return 0, nil, &FieldError{"number", err.Error()}
		}
	}
	if dq.Waiting, err = boolParam(q, "waiting"); err != nil {
		return 0, nil, err
	}
	dq.Limit = 500
	if v := q.Get("limit"); v != "" {
		if dq.Limit, err = strconv.Atoi(v); err != nil || dq.Limit <= 0 || dq.Limit > maxLimit {
			return 0, nil, &FieldError{"limit", fmt.Sprintf("1 to %d", maxLimit)}
		}
	}
	ds, err := a.op.Decisions(ctx, dq)
	if err != nil {
		return 0, nil, err
	}
	out := make([]DecisionJSON, 0, len(ds))
	for _, d := range ds {
		out = append(out, Decision(d, a.loc))
	}
	return http.StatusOK, map[string]any{"decisions": out}, nil
}
