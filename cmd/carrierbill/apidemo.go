package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"github.com/carrierbill/carrierbill/config"
	"github.com/carrierbill/carrierbill/merchantapi"
	"github.com/carrierbill/carrierbill/merchantkey"
	"github.com/carrierbill/carrierbill/redact"
)

// The demo's web-initiated payment: the merchant's page calls the merchant
// API (CAMARA prepare), the subscriber gets the SMS prompt and confirms by
// SMS, the merchant's sink receives the signed notification, and the
// merchant refunds it. It runs before the statements, so they show it.

// demoSink is the merchant's notification endpoint in the demo: it checks
// each delivery's signature and keeps what arrived.
type demoSink struct {
	srv    *httptest.Server
	secret []byte
	mu     sync.Mutex
	got    []string
	seen   chan struct{}
}

// demoAPI switches the merchant API on for the demo: on a free port, with a
// fresh notification key and a local TLS sink the dispatcher trusts.
func demoAPI(cfg *config.Config, o *GatewayOptions) *demoSink {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	s := &demoSink{secret: merchantapi.MerchantSecret(key, "8001"), seen: make(chan struct{}, 16)}
	s.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		verdict := "signature verified"
		if err := merchantapi.Verify(s.secret, r.Header.Get(merchantapi.SignatureHeader), body, time.Now(), 0); err != nil {
			verdict = "BAD SIGNATURE: " + err.Error()
		}
		var ev struct {
			Type string          `json:"type"`
			Data json.RawMessage `json:"data"`
		}
		_ = json.Unmarshal(body, &ev)
		s.mu.Lock()
		s.got = append(s.got, fmt.Sprintf("📨 merchant sink ← %s %s (%s)", ev.Type, ev.Data, verdict))
		s.mu.Unlock()
		s.seen <- struct{}{}
		w.WriteHeader(http.StatusNoContent)
	}))
	cfg.API.Listen = "127.0.0.1:0"
	cfg.API.NotifyPoll = config.Duration(250 * time.Millisecond)
	o.NotifyKey, o.NotifyClient = key, s.srv.Client()
	return s
}

// webPayment plays the web-initiated payment for subscriber phone.
func (d *demo) webPayment(ctx context.Context, sink *demoSink, phone string) error {
	d.step("7. 网页支付：商户网页通过商户 API (CAMARA Carrier Billing) 发起支付，用户短信确认 (a web-initiated payment)")
	key, hash, hint, err := merchantkey.NewKey()
	if err != nil {
		return err
	}
	if _, err := d.g.stores.Keys.IssueKey(ctx, "8001", hash, hint, d.g.Clock.Now()); err != nil {
		return err
	}
	base := "http://" + d.g.APIAddr
	e164 := "+86" + phone
	client := &http.Client{Transport: &http.Transport{}, Timeout: 20 * time.Second}
	defer client.CloseIdleConnections()
	call := func(method, path, body string) (int, map[string]any, error) {
		req, err := http.NewRequestWithContext(ctx, method, base+path, strings.NewReader(body))
		if err != nil {
			return 0, nil, err
		}
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		res, err := client.Do(req)
		if err != nil {
			return 0, nil, fmt.Errorf("calling the merchant API: %w", err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		shown := strings.ReplaceAll(compactJSON(b), e164, redact.Phone(e164))
		fmt.Fprintf(d.out, "💻 merchant → %s %s → %d %s\n", method, path, res.StatusCode, shown)
		return res.StatusCode, m, nil
	}
	body := `{"amountTransaction":{"phoneNumber":"` + e164 + `","clientCorrelator":"web-` + phone + `","referenceCode":"web-order-` + phone + `",` +
		`"paymentAmount":{"chargingInformation":{"amount":6.00,"currency":"CNY","description":"金币礼包"},"chargingMetaData":{"productId":"GOLD"}}},` +
		`"sink":"` + sink.srv.URL + `/notify","sinkCredential":{"credentialType":"ACCESSTOKEN","accessToken":"demo-sink-token","accessTokenExpiresUtc":"2030-01-01T00:00:00Z","accessTokenType":"bearer"}}`
	fmt.Fprintf(d.out, "💻 merchant page: %s enters %s and pays 6.00\n", redact.Phone(e164), "金币礼包")
	status, m, err := call("POST", merchantapi.BasePath+"/payments/prepare", body)
	if err != nil {
		return err
	}
	id, _ := m["paymentId"].(string)
	if status != http.StatusCreated || id == "" {
		return errors.New("the web-initiated payment: prepare was refused (see above)")
	}
	prompt, err := d.await(ctx, phone, 20*time.Second)
	if err != nil {
		return err
	}
	code, ok := codeIn(prompt)
	if !ok {
		return errors.New("the web-initiated payment: no prompt with a code reached the subscriber")
	}
	if r, err := d.say(ctx, phone, d.service+"8001", code, 20*time.Second); err != nil || r == "" {
		return errors.Join(err, errors.New("the web-initiated payment: no receipt"))
	}
	if _, _, err := call("GET", merchantapi.BasePath+"/payments/"+id, ""); err != nil {
		return err
	}
	if err := sink.wait(ctx, d.out, 1); err != nil {
		return err
	}
	refund := `{"type":"total","reason":"demo","amountTransaction":{"clientCorrelator":"refund-` + id + `","referenceCode":"refund-` + id + `","refundAmount":{}}}`
	if _, _, err := call("POST", merchantapi.RefundBasePath+"/payments/"+id+"/refunds", refund); err != nil {
		return err
	}
	d.flush()
	return sink.wait(ctx, d.out, 1)
}

// wait prints the next n notifications, waiting up to 20 s for them.
func (s *demoSink) wait(ctx context.Context, out io.Writer, n int) error {
	for range n {
		select {
		case <-s.seen:
		case <-time.After(20 * time.Second):
			return errors.New("the web-initiated payment: no notification reached the merchant's sink")
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, line := range s.got {
		fmt.Fprintln(out, line)
	}
	s.got = nil
	return nil
}

func compactJSON(b []byte) string {
	var buf bytes.Buffer
	if json.Compact(&buf, b) != nil {
		return strings.TrimSpace(string(b))
	}
	return buf.String()
}
