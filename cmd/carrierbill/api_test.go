package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/carrierbill/carrierbill/internal/dbtest"
	"github.com/carrierbill/carrierbill/merchantapi"
	"github.com/carrierbill/carrierbill/merchantkey"
)

// TestServeMerchantAPI boots the gateway serve runs, with the merchant API
// on PostgreSQL and Redis: a web-initiated payment is prompted through the
// SMSC simulator, confirmed by the subscriber's SMS, is succeeded through the
// API, and its signed notification reaches the merchant's sink once.
func TestServeMerchantAPI(t *testing.T) {
	t.Parallel()
	_, prefix := dbtest.Redis(t)
	key := []byte("serve-test-notify-key-0123456789")
	var (
		mu  sync.Mutex
		evs []map[string]any
		bad []string
		got = make(chan struct{}, 4)
	)
	secret := merchantapi.MerchantSecret(key, "8001")
	sink := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		if err := merchantapi.Verify(secret, r.Header.Get(merchantapi.SignatureHeader), body, time.Now(), 0); err != nil || r.Header.Get("Authorization") != "Bearer tok" {
			bad = append(bad, r.Header.Get("Authorization"))
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var ev map[string]any
		_ = json.Unmarshal(body, &ev)
		evs = append(evs, ev)
		w.WriteHeader(http.StatusNoContent)
		got <- struct{}{}
	}))
	defer sink.Close()
	yaml := "database: {url: \"" + dbtest.Postgres(t) + "\"}\nredis: {url: \"" + dbtest.RedisURL() + "\", prefix: \"" + prefix + "\"}\n" +
		"accounts: {auto_open: true}\n" + testMerchants + "api: {listen: \"127.0.0.1:0\", notify_poll: 20ms}\n"
	h := bootWith(t, yaml, io.Discard, GatewayOptions{NotifyKey: key, NotifyClient: sink.Client()})
	apiKey, hash, hint, err := merchantkey.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.g.stores.Keys.IssueKey(t.Context(), "8001", hash, hint, time.Now()); err != nil {
		t.Fatal(err)
	}
	call := func(method, path, body string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, "http://"+h.g.APIAddr+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+apiKey)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var m map[string]any
		b, _ := io.ReadAll(res.Body)
		_ = json.Unmarshal(b, &m)
		return res.StatusCode, m
	}
	phone := h.newPhone()
	status, m := call("POST", merchantapi.BasePath+"/payments/prepare", `{"amountTransaction":{"phoneNumber":"+`+phone+`","clientCorrelator":"c1",
		"referenceCode":"web-1","paymentAmount":{"chargingInformation":{"amount":7.5,"currency":"CNY","description":"coins"}}},
		"sink":"`+sink.URL+`/cb","sinkCredential":{"credentialType":"ACCESSTOKEN","accessToken":"tok","accessTokenExpiresUtc":"2030-01-01T00:00:00Z","accessTokenType":"bearer"}}`)
	if status != http.StatusCreated || m["paymentStatus"] != "pending_validation" {
		t.Fatalf("prepare: %d %v", status, m)
	}
	id := m["paymentId"].(string)
	prompt := h.reply(phone, 1)
	if !strings.Contains(prompt, "星辰游戏") || !strings.Contains(prompt, "7.50") {
		t.Fatalf("the prompt %q names neither the merchant nor the amount", prompt)
	}
	h.send(phone, "106580088001", codeOf(t, prompt))
	if receipt := h.reply(phone, 2); !strings.Contains(receipt, "7.50") {
		t.Fatalf("receipt %q", receipt)
	}
	if status, m := call("GET", merchantapi.BasePath+"/payments/"+id, ""); status != 200 || m["paymentStatus"] != "succeeded" {
		t.Fatalf("after the SMS confirmation: %d %v", status, m)
	}
	select {
	case <-got:
	case <-time.After(20 * time.Second):
		t.Fatal("no notification reached the sink")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(bad) > 0 || len(evs) != 1 || evs[0]["type"] != merchantapi.TypePaymentCompleted || evs[0]["data"].(map[string]any)["paymentId"] != id {
		t.Fatalf("notifications: %v (bad %v)", evs, bad)
	}
	var mref string
	if err := h.g.pool.QueryRow(t.Context(), `SELECT merchant_ref FROM orders WHERE id = $1::bigint`, id).Scan(&mref); err != nil || mref != "web-1" {
		t.Fatalf("orders.merchant_ref = %q, %v; want the referenceCode", mref, err)
	}
}
