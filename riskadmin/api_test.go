package riskadmin_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/billing/storetest"
	"github.com/carrierbill/carrierbill/clock"
	"github.com/carrierbill/carrierbill/internal/dbtest"
	"github.com/carrierbill/carrierbill/riskadmin"
	"github.com/carrierbill/carrierbill/stores"
)

// The risk admin API over the real engine on the real stores (PostgreSQL
// and the embedded one): lists, held payments released and refused,
// decisions, and the strict decoding with its one status table.

const token = "risk-admin-token-0123"

// holdRisk holds every confirmation of the numbers in hold.
type holdRisk struct {
	mu   sync.Mutex
	hold map[string]bool
}

func (r *holdRisk) Assess(_ context.Context, c billing.RiskCheck) (billing.RiskVerdict, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if c.Stage == billing.RiskConfirm && r.hold[c.MSISDN] {
		return billing.RiskVerdict{Findings: []billing.RiskFinding{{Rule: "fast_confirmation", Action: billing.RiskHold, Evidence: "code 0.4s after the prompt (min 3s)"}}}, nil
	}
	return billing.RiskVerdict{}, nil
}

func (r *holdRisk) Learn(context.Context, billing.RiskOutcome) error { return nil }

type env struct {
	t   *testing.T
	ctx context.Context
	eng *billing.Engine
	clk *clock.Fake
	srv *httptest.Server
}

func newEnv(t *testing.T, databaseURL string, hold ...string) *env {
	t.Helper()
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC))
	set, err := stores.Open(ctx, stores.Options{DatabaseURL: databaseURL, DataDir: t.TempDir(), Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { set.Close() })
	cfg := billing.DefaultConfig()
	cfg.MinInterval, cfg.MaxPendingOrders = 0, 0
	m := billing.DefaultMerchant("8001", "游戏中心")
	m.Products = []billing.Product{{Keyword: "VIP", Name: "会员月卡", Amount: 1500}}
	cfg.Merchants = []billing.Merchant{m}
	r := &holdRisk{hold: map[string]bool{}}
	for _, h := range hold {
		r.hold[h] = true
	}
	eng, err := billing.NewEngine(billing.Options{Config: cfg, Store: set.Billing, Charger: storetest.NewCharger(),
		Limiter: billing.NewMemoryLimiter(clk), Clock: clk, Risk: r})
	if err != nil {
		t.Fatal(err)
	}
	api, err := riskadmin.New(riskadmin.Options{Operator: &riskadmin.Operator{Engine: eng, Store: set.Billing, Clock: clk,
		Merchant: func(code string) bool { _, ok := eng.Merchant(code); return ok }}, Token: token, Location: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, ctx: ctx, eng: eng, clk: clk, srv: httptest.NewServer(api)}
	t.Cleanup(e.srv.Close)
	return e
}

// do sends a request with the token and decodes the JSON answer.
func (e *env) do(method, path, body string) (int, map[string]any, http.Header) {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, e.srv.URL+path, rd)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(res.Body).Decode(&m); err != nil {
		e.t.Fatalf("%s %s: %d, not a JSON object: %v", method, path, res.StatusCode, err)
	}
	return res.StatusCode, m, res.Header
}

// want checks a status, and an error code and a message naming what.
func (e *env) want(method, path, body string, status int, code, what string) map[string]any {
	e.t.Helper()
	st, m, _ := e.do(method, path, body)
	if st != status || (code != "" && m["error"] != code) || !strings.Contains(m["message"].(string)+"", what) {
		e.t.Fatalf("%s %s %s: %d %v, want %d %s naming %q", method, path, body, st, m, status, code, what)
	}
	return m
}

// held makes a payment of phone that the rules hold and returns its order.
func (e *env) held(phone string) int64 {
	e.t.Helper()
	p, err := e.eng.Purchase(e.ctx, billing.PurchaseRequest{Source: billing.Source{Channel: billing.ChannelSMS, Origin: "106580088001"},
		MSISDN: phone, Merchant: "8001", Product: "VIP"})
	if err != nil || p.Outcome != billing.OutcomePrompted {
		e.t.Fatalf("purchase: %+v %v", p, err)
	}
	c, err := e.eng.Confirm(e.ctx, billing.ConfirmRequest{Source: billing.Source{Channel: billing.ChannelSMS}, MSISDN: phone, Code: p.Order.Code})
	if err != nil || c.Outcome != billing.OutcomeHeld {
		e.t.Fatalf("confirm: %+v %v", c, err)
	}
	return p.OrderID
}

func (e *env) purchase(phone string) billing.Result {
	e.t.Helper()
	p, err := e.eng.Purchase(e.ctx, billing.PurchaseRequest{Source: billing.Source{Channel: billing.ChannelSMS, Origin: "106580088001"},
		MSISDN: phone, Merchant: "8001", Product: "VIP"})
	if err != nil {
		e.t.Fatal(err)
	}
	return p
}

func TestRiskAdminPostgres(t *testing.T) {
	t.Parallel()
	testRiskAdmin(t, dbtest.Postgres(t))
}

func TestRiskAdminEmbedded(t *testing.T) {
	t.Parallel()
	testRiskAdmin(t, "")
}

func testRiskAdmin(t *testing.T, databaseURL string) {
	const held1, held2, blocked = "+8613800000001", "+8613800000002", "+8613900000009"
	e := newEnv(t, databaseURL, held1, held2)

	// Block a number as typed; it shows masked; the same again conflicts.
	st, m, _ := e.do("POST", "/admin/risk/block", `{"number":"139 0000 0009","for":"24h","note":"chargeback ring","by":"li.wei"}`)
	if st != http.StatusCreated || m["value"] != "139****0009" || m["subject"] != "number" || m["created_by"] != "operator:li.wei" || m["until"] != "2026-12-03 10:00:00" {
		t.Fatalf("block: %d %v", st, m)
	}
	id := int64(m["id"].(float64))
	e.want("POST", "/admin/risk/block", `{"number":"+8613900000009"}`, http.StatusConflict, "already_listed", "")
	if r := e.purchase(blocked); r.Outcome != billing.OutcomeRejected || r.Reason != billing.ReasonBlocked {
		t.Fatalf("a blocked number's purchase: %+v", r)
	}
	_, m, _ = e.do("GET", "/admin/risk/lists?list=block", "")
	if es := m["entries"].([]any); len(es) != 1 || es[0].(map[string]any)["value"] != "139****0009" {
		t.Fatalf("lists: %v", m)
	}
	// Unblocked by its id (the console's way: it never sees the number).
	if _, m, _ = e.do("POST", "/admin/risk/unblock", `{"id":`+jsonInt(id)+`}`); m["ended"] != 1.0 {
		t.Fatalf("unblock: %v", m)
	}
	if r := e.purchase(blocked); r.Outcome != billing.OutcomePrompted {
		t.Fatalf("after the unblock: %+v", r)
	}
	e.want("POST", "/admin/risk/unblock", `{"id":`+jsonInt(id)+`}`, http.StatusNotFound, "no_such_entry", "entry")
	_, m, _ = e.do("GET", "/admin/risk/lists?list=block&all=true", "")
	if es := m["entries"].([]any); len(es) != 1 || es[0].(map[string]any)["active"] != false {
		t.Fatalf("history: %v", m)
	}
	// A prefix as the operator types it covers the canonical numbers.
	if st, m, _ = e.do("POST", "/admin/risk/block", `{"prefix":"139"}`); st != http.StatusCreated || m["value"] != "+86139" {
		t.Fatalf("block a prefix: %d %v", st, m)
	}
	if r := e.purchase(blocked); r.Outcome != billing.OutcomeRejected || r.Reason != billing.ReasonBlocked {
		t.Fatalf("a purchase under a blocked prefix: %+v", r)
	}
	if _, m, _ = e.do("POST", "/admin/risk/unblock", `{"prefix":"+86 139"}`); m["ended"] != 1.0 {
		t.Fatalf("unblock the prefix: %v", m)
	}
	// A merchant; an unknown one is refused naming the field.
	if st, m, _ = e.do("POST", "/admin/risk/allow", `{"merchant":"8001"}`); st != http.StatusCreated || m["list"] != "allow" {
		t.Fatalf("allow: %d %v", st, m)
	}
	e.want("POST", "/admin/risk/block", `{"merchant":"9999"}`, http.StatusBadRequest, "bad_request", "merchant")
	if _, m, _ = e.do("POST", "/admin/risk/unallow", `{"merchant":"8001"}`); m["ended"] != 1.0 { // else the rules skip 8001
		t.Fatalf("unallow: %v", m)
	}

	// Held payments: listed with their rule, released (charged) and refused.
	o1, o2 := e.held(held1), e.held(held2)
	_, m, _ = e.do("GET", "/admin/risk/holds", "")
	hs := m["holds"].([]any)
	if len(hs) != 2 {
		t.Fatalf("holds: %v", m)
	}
	h := hs[0].(map[string]any)
	if h["order"] != float64(o1) || h["number"] != "138****0001" || h["rule"] != "fast_confirmation" || h["amount"] != "15.00" {
		t.Fatalf("hold: %v", h)
	}
	if _, m, _ = e.do("POST", "/admin/risk/holds/release", `{"order":`+jsonInt(o1)+`,"by":"li.wei"}`); m["outcome"] != "charged" {
		t.Fatalf("release: %v", m)
	}
	e.want("POST", "/admin/risk/holds/release", `{"order":`+jsonInt(o1)+`}`, http.StatusConflict, "not_held", "held")
	if _, m, _ = e.do("POST", "/admin/risk/holds/refuse", `{"order":`+jsonInt(o2)+`}`); m["reason"] != "risk_refused" || m["status"] != "failed" {
		t.Fatalf("refuse: %v", m)
	}
	e.want("POST", "/admin/risk/holds/refuse", `{"order":999999}`, http.StatusNotFound, "not_found", "")
	if _, m, _ = e.do("GET", "/admin/risk/holds", ""); len(m["holds"].([]any)) != 0 {
		t.Fatalf("holds after: %v", m)
	}
	_, m, _ = e.do("GET", "/admin/risk/decisions?action=hold&since=2026-12-02", "")
	ds := m["decisions"].([]any)
	if len(ds) != 2 {
		t.Fatalf("decisions: %v", m)
	}
	d1, d2 := ds[0].(map[string]any), ds[1].(map[string]any)
	if d1["resolution"] != "released" || d1["resolved_by"] != "operator:li.wei" || d2["resolution"] != "refused" || d2["resolved_by"] != "operator:admin-api" {
		t.Fatalf("resolutions: %v %v", d1, d2)
	}
	if _, m, _ = e.do("GET", "/admin/risk/decisions?rule=list", ""); len(m["decisions"].([]any)) != 2 { // the number's, the prefix's
		t.Fatalf("the block-list refusal's decision: %v", m)
	}
	body, _ := json.Marshal(m)
	if strings.Contains(string(body), "13900000009") {
		t.Fatalf("a number in clear: %s", body)
	}
}

func jsonInt(n int64) string { b, _ := json.Marshal(n); return string(b) }

// The transport: token, routes, methods, strict bodies and queries, each
// refusal naming what is wrong.
func TestRiskAdminRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "")
	res, err := http.Post(e.srv.URL+"/admin/risk/holds/release", "application/json", strings.NewReader(`{"order":1}`))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized || res.Header.Get("WWW-Authenticate") == "" {
		t.Fatalf("no token: %d", res.StatusCode)
	}
	if st, _, hdr := e.do("GET", "/admin/risk/block", ""); st != http.StatusMethodNotAllowed || hdr.Get("Allow") != "POST" {
		t.Fatalf("GET block: %d %v", st, hdr)
	}
	for _, c := range []struct{ method, path, body, code, what string }{
		{"GET", "/admin/risk/nothing", "", "not_found", ""},
		{"POST", "/admin/risk/block", `{"number":"12"}`, "bad_request", "number"},
		{"POST", "/admin/risk/block", `{"number":"13800000001","merchant":"8001"}`, "bad_request", "exactly one"},
		{"POST", "/admin/risk/block", `{}`, "bad_request", "exactly one"},
		{"POST", "/admin/risk/block", `{"prefix":"17a"}`, "bad_request", "prefix"},
		{"POST", "/admin/risk/allow", `{"prefix":"170"}`, "bad_request", "prefix"},
		{"POST", "/admin/risk/block", `{"number":"13800000001","for":"soon"}`, "bad_request", "for"},
		{"POST", "/admin/risk/block", `{"number":"13800000001","note":"` + strings.Repeat("x", 201) + `"}`, "bad_request", "note"},
		{"POST", "/admin/risk/block", `{"number":"13800000001","colour":"red"}`, "bad_request", "unknown field \"colour\""},
		{"POST", "/admin/risk/block", `{"number":"13800000001"} {}`, "bad_request", "data after the object"},
		{"POST", "/admin/risk/block", `{"number":13800000001}`, "bad_request", "field number must be a string"},
		{"POST", "/admin/risk/block", `{"number":"13800000001","by":"two words"}`, "bad_request", "by"},
		{"POST", "/admin/risk/holds/release", `{"order":0}`, "bad_request", "order"},
		{"POST", "/admin/risk/holds/refuse", `{"order":1,"number":"13800000001"}`, "bad_request", "order"},
		{"GET", "/admin/risk/decisions?colour=red", "", "bad_request", "colour"},
		{"GET", "/admin/risk/decisions?since=yesterday", "", "bad_request", "since"},
		{"GET", "/admin/risk/decisions?action=panic", "", "bad_request", "action"},
		{"GET", "/admin/risk/decisions?limit=0", "", "bad_request", "limit"},
		{"GET", "/admin/risk/decisions?since=2026-12-02&until=2026-12-01", "", "bad_request", "until"},
		{"GET", "/admin/risk/lists?list=grey", "", "bad_request", "list"},
		{"GET", "/admin/risk/lists?all=maybe", "", "bad_request", "all"},
	} {
		status := map[string]int{"not_found": http.StatusNotFound, "bad_request": http.StatusBadRequest}[c.code]
		m := e.want(c.method, c.path, c.body, status, c.code, c.what)
		if strings.Contains(m["message"].(string), "13800000001") {
			t.Errorf("%s %s: the answer quotes the number: %v", c.method, c.path, m)
		}
	}
	res, err = http.DefaultClient.Do(mustReq(t, "POST", e.srv.URL+"/admin/risk/block", strings.Repeat(" ", riskadmin.MaxBody+1)))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("a large body: %d", res.StatusCode)
	}
}

func mustReq(t *testing.T, method, url, body string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	return req
}
