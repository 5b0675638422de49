package merchantapi_test

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

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/billing/postgres"
	"github.com/carrierbill/carrierbill/clock"
	"github.com/carrierbill/carrierbill/internal/dbtest"
	"github.com/carrierbill/carrierbill/merchantapi"
)

// The operator's risk alerts (issue 15): written by the decision hook in
// the decision's transaction, delivered by the notification dispatcher,
// signed with the operator's secret, retried, and not lost by a restart.

var alertSecret = []byte("risk-alert-secret-0123456789")

// alertSink takes alerts, checking the operator's signature.
type alertSink struct {
	srv   *httptest.Server
	clock clock.Clock
	mu    sync.Mutex
	fails int
	posts int
	bad   []string
	got   []map[string]any
}

func newAlertSink(t *testing.T, clk clock.Clock) *alertSink {
	s := &alertSink{clock: clk}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		defer s.mu.Unlock()
		s.posts++
		if s.fails > 0 {
			s.fails--
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		if err := merchantapi.Verify(alertSecret, r.Header.Get(merchantapi.SignatureHeader), body, s.clock.Now(), 0); err != nil {
			s.bad = append(s.bad, err.Error())
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var ev map[string]any
		_ = json.Unmarshal(body, &ev)
		s.got = append(s.got, ev)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *alertSink) state() (posts int, got []map[string]any, bad []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.posts, append([]map[string]any(nil), s.got...), append([]string(nil), s.bad...)
}

type alertEnv struct {
	t     *testing.T
	ctx   context.Context
	store billing.Store
	clock *clock.Fake
	sink  *alertSink
	disp  *merchantapi.Dispatcher
}

func newAlertEnv(t *testing.T) (*alertEnv, *pgxpool.Pool) {
	t.Helper()
	pool := dbtest.Pool(t)
	ctx := context.Background()
	if _, err := postgres.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	e := &alertEnv{t: t, ctx: ctx, clock: clock.NewFake(time.Date(2026, 12, 2, 3, 0, 0, 0, time.UTC))}
	e.sink = newAlertSink(t, e.clock)
	e.restart(pool)
	return e, pool
}

// restart builds the store and the dispatcher anew (a restarted gateway).
func (e *alertEnv) restart(pool *pgxpool.Pool) {
	e.store = postgres.NewStore(pool)
	e.disp = &merchantapi.Dispatcher{Store: e.store, Clock: e.clock, Client: e.sink.srv.Client(), OperatorSecret: alertSecret}
}

// decide runs the hook in a transaction, as the engine does.
func (e *alertEnv) decide(d billing.RiskDecision) {
	e.t.Helper()
	alerts := merchantapi.NewRiskAlerts("urn:carrierbill:test", e.sink.srv.URL+"/alerts", e.clock)
	if err := e.store.InTx(e.ctx, func(tx billing.Tx) error { return alerts.Hook(e.ctx, tx, d) }); err != nil {
		e.t.Fatal(err)
	}
}

func (e *alertEnv) deliver() int {
	e.t.Helper()
	n, err := e.disp.RunOnce(e.ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

func holdDecision(id int64, at time.Time) billing.RiskDecision {
	return billing.RiskDecision{ID: id, At: at, Stage: billing.RiskConfirm, Rule: "fast_confirmation", Action: billing.RiskHold,
		Evidence: "code 0.8s after the prompt to +8613800000001 (min 3s)", MSISDN: "+8613800000001", Merchant: "8001", Amount: 1500}
}

func TestRiskAlertDeliveredSigned(t *testing.T) {
	t.Parallel()
	e, _ := newAlertEnv(t)
	e.decide(holdDecision(41, e.clock.Now()))
	e.decide(holdDecision(41, e.clock.Now())) // the same decision again: one alert
	if n := e.deliver(); n != 1 {
		t.Fatalf("delivered %d, want 1", n)
	}
	posts, got, bad := e.sink.state()
	if len(bad) > 0 || posts != 1 || len(got) != 1 {
		t.Fatalf("posts %d, got %v, bad %v", posts, got, bad)
	}
	ev := got[0]
	if ev["type"] != merchantapi.TypeRiskDecision || ev["id"] != "risk-decision-41" || ev["specversion"] != "1.0" {
		t.Fatalf("event %v", ev)
	}
	data, _ := json.Marshal(ev["data"])
	for _, want := range []string{`"rule":"fast_confirmation"`, `"action":"hold"`, `"number":"138****0001"`, `"merchant":"8001"`, `"amount":"15.00"`} {
		if !strings.Contains(string(data), want) {
			t.Errorf("alert data %s lacks %s", data, want)
		}
	}
	if strings.Contains(string(data), "13800000001") {
		t.Errorf("the alert carries the number in clear: %s", data)
	}
	if e.deliver() != 0 {
		t.Fatal("delivered again")
	}
}

// A failing sink is retried on the schedule; a restart in the middle loses
// nothing; the alert arrives once.
func TestRiskAlertRetriedAcrossRestart(t *testing.T) {
	t.Parallel()
	e, pool := newAlertEnv(t)
	e.sink.mu.Lock()
	e.sink.fails = 2
	e.sink.mu.Unlock()
	e.decide(holdDecision(7, e.clock.Now()))
	if e.deliver() != 1 { // fails
		t.Fatal("first try not made")
	}
	e.clock.Advance(merchantapi.RetrySchedule[0])
	if e.deliver() != 1 { // fails again
		t.Fatal("first retry not made")
	}
	e.restart(pool) // the gateway restarts between retries
	e.clock.Advance(merchantapi.RetrySchedule[1] - time.Second)
	if e.deliver() != 0 {
		t.Fatal("retried before its time")
	}
	e.clock.Advance(time.Second)
	if e.deliver() != 1 {
		t.Fatal("the restarted dispatcher did not retry")
	}
	posts, got, bad := e.sink.state()
	if len(bad) > 0 || posts != 3 || len(got) != 1 || got[0]["id"] != "risk-decision-7" {
		t.Fatalf("posts %d, got %v, bad %v", posts, got, bad)
	}
	e.clock.Advance(time.Hour)
	if e.deliver() != 0 {
		t.Fatal("sent again after delivery")
	}
}

// Without a webhook the hook writes nothing; without the operator secret
// an alert is not sent unsigned.
func TestRiskAlertOffAndUnsigned(t *testing.T) {
	t.Parallel()
	e, _ := newAlertEnv(t)
	off := merchantapi.NewRiskAlerts("", "", e.clock)
	if err := e.store.InTx(e.ctx, func(tx billing.Tx) error { return off.Hook(e.ctx, tx, holdDecision(1, e.clock.Now())) }); err != nil {
		t.Fatal(err)
	}
	if e.deliver() != 0 {
		t.Fatal("an alert without a webhook")
	}
	e.disp.OperatorSecret = nil
	e.decide(holdDecision(2, e.clock.Now()))
	e.deliver()
	if posts, _, _ := e.sink.state(); posts != 0 {
		t.Fatalf("%d unsigned posts", posts)
	}
}
