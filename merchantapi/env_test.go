package merchantapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/billing/postgres"
	"github.com/carrierbill/carrierbill/billing/storetest"
	"github.com/carrierbill/carrierbill/clock"
	"github.com/carrierbill/carrierbill/internal/dbtest"
	"github.com/carrierbill/carrierbill/merchantapi"
	"github.com/carrierbill/carrierbill/merchantkey"
	"github.com/carrierbill/carrierbill/msisdn"
	"github.com/carrierbill/carrierbill/sms"
)

// The tests drive the real engine on a real PostgreSQL through the HTTP
// API, as a merchant would, and receive notifications on a TLS test sink.
// Every request and response goes through a transport that validates it
// against CAMARA's OpenAPI documents (kin-openapi's openapi3filter).

const (
	phoneA = "+8613800000001"
	phoneB = "+8613800000002"
)

var notifyKey = []byte("test-notify-key-0123456789")

func testConfig() billing.Config {
	c := billing.DefaultConfig()
	m := billing.DefaultMerchant("8001", "游戏中心")
	m.OpenAmount, m.MaxAmount = true, billing.Yuan(100)
	m.Products = []billing.Product{{Keyword: "VIP", Name: "会员月卡", Amount: 1500},
		{Keyword: "YUE", Name: "音乐包月", Amount: 1000, Period: billing.PeriodMonth}}
	other := billing.DefaultMerchant("8002", "商城")
	other.OpenAmount = true
	c.Merchants = append(c.Merchants, m, other)
	c.MinInterval, c.PurchasesPerHour, c.MaxPendingOrders = 0, 0, 0
	return c
}

type env struct {
	t       *testing.T
	ctx     context.Context
	pool    *pgxpool.Pool
	store   billing.Store
	clock   *clock.Fake
	charger *storetest.Charger
	engine  *billing.Engine
	sms     *sms.Channel
	keys    merchantkey.Store
	api     *merchantapi.Server
	srv     *httptest.Server
	client  *http.Client
	sink    *sink
	disp    *merchantapi.Dispatcher
	// key8001 and key8002 are the merchants' API keys.
	key8001, key8002 string
}

type envOptions struct {
	rate      merchantapi.Rate
	limiter   billing.Limiter
	merchants map[string]merchantapi.MerchantOptions
}

func newEnv(t *testing.T, o envOptions) *env {
	t.Helper()
	e := &env{t: t, ctx: context.Background(), clock: clock.NewFake(time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)), charger: storetest.NewCharger()}
	e.pool = dbtest.Pool(t)
	if _, err := postgres.Migrate(e.ctx, e.pool); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	e.keys = merchantkey.NewPostgres(e.pool)
	e.key8001, e.key8002 = e.issueKey("8001"), e.issueKey("8002")
	e.sink = newSink(t, e.clock)
	e.open(o)
	return e
}

// open (re)builds everything above the database: a restarted gateway.
func (e *env) open(o envOptions) {
	t := e.t
	e.store = postgres.NewStore(e.pool)
	notifier := merchantapi.NewNotifier("https://gateway.example/carrier-billing/v0.5", e.clock)
	var err error
	e.engine, e.sms, err = sms.NewEngine(billing.Options{Config: testConfig(), Store: e.store, Charger: e.charger,
		Limiter: billing.NewMemoryLimiter(e.clock), Clock: e.clock, EventHook: notifier.Hook}, sms.TextConfig{}, sms.Options{Normalize: msisdn.DefaultPlan().Normalize})
	if err != nil {
		t.Fatalf("NewEngine: %v", err)
	}
	e.api, err = merchantapi.New(merchantapi.Options{Engine: e.engine, Keys: e.keys, Limiter: o.limiter, Rate: o.rate, Merchants: o.merchants,
		Secret: func(m string) []byte { return merchantapi.MerchantSecret(notifyKey, m) }})
	if err != nil {
		t.Fatal(err)
	}
	if e.srv != nil {
		e.srv.Close()
	}
	e.srv = httptest.NewServer(e.api)
	t.Cleanup(e.srv.Close)
	e.client = &http.Client{Transport: newValidator(t, e.srv.URL)}
	e.disp = &merchantapi.Dispatcher{Store: e.store, Clock: e.clock, Client: e.sink.srv.Client(),
		Secret: func(m string) []byte { return merchantapi.MerchantSecret(notifyKey, m) }}
}

func (e *env) issueKey(merchant string) string {
	e.t.Helper()
	key, hash, hint, err := merchantkey.NewKey()
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.keys.IssueKey(e.ctx, merchant, hash, hint, e.clock.Now()); err != nil {
		e.t.Fatal(err)
	}
	return key
}

// resp is one answer of the API.
type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("answer %d is not a JSON object: %s", r.status, r.body)
	}
	return m
}

// wantError checks a CAMARA error answer and that its message names field.
func (r resp) wantError(t *testing.T, status int, code, field string) {
	t.Helper()
	var e struct {
		Status  int    `json:"status"`
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal(r.body, &e); err != nil || r.status != status || e.Status != status || e.Code != code || !strings.Contains(e.Message, field) {
		t.Fatalf("got %d %s, want %d %s naming %q", r.status, r.body, status, code, field)
	}
}

// do sends one request with the merchant's key ("" none).
func (e *env) do(key, method, path, body string, hdr ...string) resp {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := e.client.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{status: res.StatusCode, header: res.Header, body: b}
}

// prepareBody is a preparePayment body.
func prepareBody(phone, correlator, ref, amount string, sink bool) string {
	s := ""
	if sink {
		s = `,"sink":"SINK","sinkCredential":{"credentialType":"ACCESSTOKEN","accessToken":"sink-token","accessTokenExpiresUtc":"2030-01-01T00:00:00Z","accessTokenType":"bearer"}`
	}
	corr := ""
	if correlator != "" {
		corr = `"clientCorrelator":"` + correlator + `",`
	}
	return `{"amountTransaction":{"phoneNumber":"` + phone + `",` + corr + `"referenceCode":"` + ref + `",
		"paymentAmount":{"chargingInformation":{"amount":` + amount + `,"currency":"CNY","description":"金币 100"},
		"chargingMetaData":{"merchantIdentifier":"8001","channel":"web"}}}` + s + `}`
}

// prepare creates a payment for merchant 8001 with the sink and returns
// its id.
func (e *env) prepare(phone, correlator, ref, amount string) string {
	e.t.Helper()
	r := e.do(e.key8001, "POST", merchantapi.BasePath+"/payments/prepare", strings.ReplaceAll(prepareBody(phone, correlator, ref, amount, true), "SINK", e.sink.url()))
	if r.status != http.StatusCreated {
		e.t.Fatalf("prepare: %d %s", r.status, r.body)
	}
	m := r.json(e.t)
	if m["paymentStatus"] != merchantapi.StatusPendingValidation {
		e.t.Fatalf("prepared payment is %v", m["paymentStatus"])
	}
	return m["paymentId"].(string)
}

// codeOf reads the confirmation code of the last prompt to phone from the
// outbox (the SMS channel's rendered MT).
func (e *env) codeOf(phone string) string {
	e.t.Helper()
	ms, err := e.store.ClaimOutbox(e.ctx, e.clock.Now(), e.clock.Now().Add(time.Hour), 100)
	if err != nil {
		e.t.Fatal(err)
	}
	code := ""
	for _, m := range ms {
		if m.MSISDN == phone && m.Kind == billing.OutboxPrompt {
			for _, f := range strings.FieldsFunc(m.Body, func(r rune) bool { return r < '0' || r > '9' }) {
				if len(f) == 6 {
					code = f
				}
			}
		}
	}
	if code == "" {
		e.t.Fatalf("no prompt with a code to %s in %+v", phone, ms)
	}
	return code
}

// payment reads a payment through the API.
func (e *env) payment(key, id string) map[string]any {
	e.t.Helper()
	r := e.do(key, "GET", merchantapi.BasePath+"/payments/"+id, "")
	if r.status != http.StatusOK {
		e.t.Fatalf("GET payment %s: %d %s", id, r.status, r.body)
	}
	return r.json(e.t)
}

// deliver runs the dispatcher once.
func (e *env) deliver() int {
	e.t.Helper()
	n, err := e.disp.RunOnce(e.ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

// sink is a merchant's notification endpoint: it checks the bearer token
// and the signature, refuses replays, and keeps each event once.
type sink struct {
	t     *testing.T
	srv   *httptest.Server
	clock clock.Clock
	mu    sync.Mutex
	fails int // answer 503 to this many more deliveries
	posts int
	bad   []string
	seen  map[string]bool
	got   []map[string]any
}

func newSink(t *testing.T, clk clock.Clock) *sink {
	s := &sink{t: t, clock: clk, seen: map[string]bool{}}
	s.srv = httptest.NewTLSServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *sink) url() string { return s.srv.URL + "/cb" }

func (s *sink) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.posts++
	if s.fails > 0 {
		s.fails--
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	if r.Header.Get("Authorization") != "Bearer sink-token" || r.Header.Get("Content-Type") != "application/cloudevents+json" {
		s.bad = append(s.bad, "headers: "+r.Header.Get("Authorization")+" "+r.Header.Get("Content-Type"))
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var ev map[string]any
	_ = json.Unmarshal(body, &ev)
	if err := merchantapi.Verify(merchantapi.MerchantSecret(notifyKey, "8001"), r.Header.Get(merchantapi.SignatureHeader), body, s.clock.Now(), 0); err != nil {
		s.bad = append(s.bad, fmt.Sprint("signature: ", err))
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	id, _ := ev["id"].(string)
	if !s.seen[id] {
		s.seen[id] = true
		s.got = append(s.got, ev)
	}
	w.WriteHeader(http.StatusNoContent)
}

// events returns the distinct events received, and fails on any bad
// delivery.
func (s *sink) events() []map[string]any {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.bad) > 0 {
		s.t.Fatalf("bad deliveries: %v", s.bad)
	}
	return append([]map[string]any(nil), s.got...)
}

// validator is an http.RoundTripper that checks every request (when the
// answer is a success) and every response against the OpenAPI documents.
type validator struct {
	t      *testing.T
	router routers.Router
}

func newValidator(t *testing.T, base string) *validator {
	t.Helper()
	var rs []*openapi3.T
	for name, b := range merchantapi.OpenAPI() {
		doc, err := openapi3.NewLoader().LoadFromData(b)
		if err != nil {
			t.Fatalf("loading %s: %v", name, err)
		}
		if err := doc.Validate(context.Background()); err != nil {
			t.Fatalf("%s does not validate: %v", name, err)
		}
		path := merchantapi.BasePath
		if strings.Contains(name, "refund") {
			path = merchantapi.RefundBasePath
		}
		if name == "subscriptions.yaml" {
			path = merchantapi.SubscriptionsBasePath
		}
		doc.Servers = openapi3.Servers{{URL: base + path}}
		rs = append(rs, doc)
	}
	return &validator{t: t, router: multiRouter(t, rs)}
}

type routerList []routers.Router

func (rl routerList) FindRoute(req *http.Request) (*routers.Route, map[string]string, error) {
	var last error
	for _, r := range rl {
		route, params, err := r.FindRoute(req)
		if err == nil {
			return route, params, nil
		}
		last = err
	}
	return nil, nil, last
}

func multiRouter(t *testing.T, docs []*openapi3.T) routers.Router {
	var rl routerList
	for _, d := range docs {
		r, err := legacy.NewRouter(d)
		if err != nil {
			t.Fatal(err)
		}
		rl = append(rl, r)
	}
	return rl
}

func (v *validator) RoundTrip(req *http.Request) (*http.Response, error) {
	var reqBody []byte
	if req.Body != nil {
		reqBody, _ = io.ReadAll(req.Body)
		req.Body = io.NopCloser(bytes.NewReader(reqBody))
	}
	res, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	resBody, _ := io.ReadAll(res.Body)
	res.Body.Close()
	res.Body = io.NopCloser(bytes.NewReader(resBody))
	if strings.HasSuffix(req.URL.Path, "/openapi.yaml") {
		return res, nil
	}
	route, params, ferr := v.router.FindRoute(req)
	if ferr != nil {
		if res.StatusCode != http.StatusNotFound && res.StatusCode != http.StatusMethodNotAllowed {
			v.t.Errorf("%s %s is not in the OpenAPI documents: %v", req.Method, req.URL.Path, ferr)
		}
		return res, nil
	}
	ctx := context.Background()
	in := &openapi3filter.RequestValidationInput{Request: req.Clone(ctx), PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, MultiError: true}}
	in.Request.Body = io.NopCloser(bytes.NewReader(reqBody))
	if res.StatusCode < 300 {
		if err := openapi3filter.ValidateRequest(ctx, in); err != nil {
			v.t.Errorf("request %s %s does not validate: %v", req.Method, req.URL.Path, err)
		}
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: res.StatusCode, Header: res.Header,
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true}}
	out.SetBodyBytes(resBody)
	if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
		v.t.Errorf("response %d to %s %s does not validate: %v\n%s", res.StatusCode, req.Method, req.URL.Path, err, resBody)
	}
	return res, nil
}
