package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/carrierbill/carrierbill/internal/dbtest"
	"github.com/carrierbill/carrierbill/internal/faultproxy"
)

// The operations endpoint (issue 16): metrics after traffic, readiness that
// flips when PostgreSQL, Redis or the binds go away.

const opsTestToken = "ops-test-token-0123456789"

// bootOps boots a gateway with the operations endpoint on a free port.
func bootOps(t *testing.T, dbURL, redisURL, prefix string) *harness {
	t.Helper()
	yaml := fmt.Sprintf("database: {url: %q}\nredis: {url: %q, prefix: %q}\naccounts: {auto_open: true}\nops: {listen: \"127.0.0.1:0\"}\n%s",
		dbURL, redisURL, prefix, testMerchants)
	// The level the operator API changes (serve's logger reads it; the
	// test's logger discards anyway).
	h := bootWith(t, yaml, io.Discard, GatewayOptions{AdminToken: opsTestToken, LogLevel: new(slog.LevelVar)})
	if h.g.OpsAddr == "" {
		t.Fatal("the operations endpoint is not served")
	}
	return h
}

// opsGet GETs path on the operations endpoint (with the admin token when
// auth) and returns the status and body.
func opsDo(t *testing.T, h *harness, method, path, body string, auth bool) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+h.g.OpsAddr+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if auth {
		req.Header.Set("Authorization", "Bearer "+opsTestToken)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// scrape reads /metrics into "name{label="v",...}" → value, labels in the
// exposition's (sorted) order.
func scrape(t *testing.T, h *harness) map[string]float64 {
	t.Helper()
	st, body := opsDo(t, h, "GET", "/metrics", "", false)
	if st != http.StatusOK {
		t.Fatalf("/metrics answered %d: %s", st, body)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if l == "" || l[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(l, ' ')
		v, err := strconv.ParseFloat(l[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", l, err)
		}
		out[l[:i]] = v
	}
	return out
}

// waitMetric polls /metrics until series reaches want (counters move after
// the MT or receipt the test saw), and fails with the last value.
func waitMetric(t *testing.T, h *harness, series string, want float64) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		got, ok := scrape(t, h)[series]
		if ok && got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s = %v (present %v), want %v", series, got, ok, want)
		}
		<-tick.C
	}
}

// TestOpsMetricsAfterTraffic: one purchase confirmed and charged, one
// purchase of an unknown product; every counter moved by exactly that.
func TestOpsMetricsAfterTraffic(t *testing.T) {
	t.Parallel()
	_, prefix := dbtest.Redis(t)
	h := bootOps(t, dbtest.Postgres(t), dbtest.RedisURL(), prefix)
	// The simulator counts the bind when it answers it; the gateway's
	// gauge moves when the answer arrives, a moment later.
	waitMetric(t, h, `carrierbill_smpp_bind_up{bind="simulator",role="transceiver"}`, 1)
	m := scrape(t, h)
	for _, s := range []string{`carrierbill_smpp_bind_up{bind="simulator",role="transceiver"}`, `carrierbill_mo_backlog`, `carrierbill_outbox_unsent`,
		`carrierbill_charges_pending`, `carrierbill_smpp_window_size{bind="simulator",role="transceiver"}`} {
		if _, ok := m[s]; !ok {
			t.Errorf("no %s before traffic", s)
		}
	}

	payer, other := h.newPhone(), h.newPhone()
	h.send(payer, "106580088001", "VIP")
	h.send(payer, "106580088001", codeOf(t, h.reply(payer, 1)))
	h.reply(payer, 2)
	h.send(other, "106580088001", "NOSUCH")
	h.reply(other, 1)

	for series, want := range map[string]float64{
		`carrierbill_mo_received_total{bind="simulator",result="stored"}`:                                                          3,
		`carrierbill_mo_processed_total{result="ok"}`:                                                                              3,
		`carrierbill_requests_total{outcome="prompted",reason="",request="purchase"}`:                                              1,
		`carrierbill_requests_total{outcome="rejected",reason="unknown_product",request="purchase"}`:                               1,
		`carrierbill_requests_total{outcome="charged",reason="",request="confirm"}`:                                                1,
		`carrierbill_payments_total{outcome="charged",reason=""}`:                                                                  1,
		`carrierbill_charge_duration_seconds_count{charger="accounts",outcome="ok"}`:                                               1,
		`carrierbill_mt_sent_total{result="ok"}`:                                                                                   3,
		`carrierbill_delivery_receipts_total{result="stored",state="DELIVRD"}`:                                                     3,
		`carrierbill_smpp_mo_ack_duration_seconds_count{bind="simulator"}`:                                                         6, // 3 MOs + 3 receipts
		`carrierbill_smpp_pdus_total{bind="simulator",command="submit_sm",direction="out",role="transceiver",status="0x00000000"}`: 3,
		`carrierbill_smpp_pdus_total{bind="simulator",command="deliver_sm",direction="in",role="transceiver",status="0x00000000"}`: 6,
		`carrierbill_mo_backlog`:    0,
		`carrierbill_outbox_unsent`: 0,
	} {
		waitMetric(t, h, series, want)
	}
	m = scrape(t, h)
	if m[`carrierbill_redis_errors_total`] != 0 || m[`carrierbill_database_errors_total{op="request"}`] != 0 {
		t.Errorf("errors counted without a failure: redis %v, database %v", m[`carrierbill_redis_errors_total`], m[`carrierbill_database_errors_total{op="request"}`])
	}
	if m[`carrierbill_sweeps_total{result="ok",sweep="recovery"}`] < 1 {
		// sweeps run every 200ms in tests
		waitMetricAtLeast(t, h, `carrierbill_sweeps_total{result="ok",sweep="recovery"}`, 1)
	}
}

func waitMetricAtLeast(t *testing.T, h *harness, series string, want float64) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for scrape(t, h)[series] < want {
		if time.Now().After(deadline) {
			t.Fatalf("%s stayed below %v", series, want)
		}
		time.Sleep(20 * time.Millisecond) // polling a counter with a deadline
	}
}

// readiness GETs /readyz.
func readiness(t *testing.T, h *harness) (int, map[string]struct {
	OK    bool   `json:"ok"`
	Error string `json:"error"`
}) {
	t.Helper()
	st, body := opsDo(t, h, "GET", "/readyz", "", false)
	var r struct {
		Ready  bool `json:"ready"`
		Checks map[string]struct {
			OK    bool   `json:"ok"`
			Error string `json:"error"`
		} `json:"checks"`
	}
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatalf("/readyz body %q: %v", body, err)
	}
	if r.Ready != (st == http.StatusOK) {
		t.Errorf("/readyz status %d with ready=%v", st, r.Ready)
	}
	return st, r.Checks
}

// waitReady polls /readyz until its status is want and check has ok.
func waitReady(t *testing.T, h *harness, want int, check string, ok bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, checks := readiness(t, h)
		if st == want && checks[check].OK == ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz = %d %+v, want %d with %s ok=%v", st, checks, want, check, ok)
		}
		time.Sleep(50 * time.Millisecond) // polling the endpoint with a deadline
	}
}

// TestOpsReadinessFlips: /readyz names each check and flips to 503 when
// Redis, PostgreSQL (through fault proxies) or every bind goes away, and
// back when they return; /healthz stays 200 throughout.
func TestOpsReadinessFlips(t *testing.T) {
	t.Parallel()
	rdb, prefix := dbtest.Redis(t)
	rp := faultproxy.Start(t, rdb.Options().Addr)
	dbURL := dbtest.Postgres(t)
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	pp := faultproxy.Start(t, u.Host)
	u.Host = pp.Addr()
	h := bootOps(t, u.String(), "redis://"+rp.Addr()+"/0", prefix)

	waitReady(t, h, http.StatusOK, "redis", true)
	if _, checks := readiness(t, h); len(checks) != 3 {
		t.Fatalf("/readyz checks %+v, want database, redis and smpp", checks)
	}
	rp.Block()
	waitReady(t, h, http.StatusServiceUnavailable, "redis", false)
	if _, checks := readiness(t, h); !checks["database"].OK || checks["redis"].Error == "" {
		t.Errorf("with Redis down: %+v (the database is fine; Redis's error is named)", checks)
	}
	if st, _ := opsDo(t, h, "GET", "/healthz", "", false); st != http.StatusOK {
		t.Errorf("/healthz = %d with Redis down, want 200 (alive)", st)
	}
	rp.Unblock()
	waitReady(t, h, http.StatusOK, "redis", true)

	pp.Block()
	waitReady(t, h, http.StatusServiceUnavailable, "database", false)
	pp.Unblock()
	waitReady(t, h, http.StatusOK, "database", true)

	// Suspending the only bind leaves no bind up.
	if st, body := opsDo(t, h, "POST", "/admin/binds/simulator/suspend", "", true); st != http.StatusOK {
		t.Fatalf("suspend: %d %s", st, body)
	}
	waitReady(t, h, http.StatusServiceUnavailable, "smpp", false)
	if st, body := opsDo(t, h, "POST", "/admin/binds/simulator/resume", "", true); st != http.StatusOK {
		t.Fatalf("resume: %d %s", st, body)
	}
	waitReady(t, h, http.StatusOK, "smpp", true)
	if st, _ := opsDo(t, h, "POST", "/admin/binds/nosuch/suspend", "", true); st != http.StatusNotFound {
		t.Errorf("suspending an unknown bind: %d, want 404", st)
	}
	if st, _ := opsDo(t, h, "POST", "/admin/binds/simulator/suspend", "", false); st != http.StatusUnauthorized {
		t.Errorf("suspending without the token: %d, want 401", st)
	}
}

var _ = context.Background
