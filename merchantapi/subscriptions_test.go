package merchantapi_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/merchantapi"
)

// A subscriber subscribes by SMS; the merchant lists it, reads it, cancels
// it (the subscriber is texted, the period stays paid); another merchant
// sees none of it.
func TestMerchantSubscriptions(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	rs, err := e.sms.HandleMO(e.ctx, billing.InboundMO{Bind: "t", MSISDN: phoneA, ServiceAddr: "106580088001", Body: "YUE", ReceivedAt: e.clock.Now()})
	if err != nil || len(rs) != 1 || rs[0].Outcome != billing.OutcomePrompted {
		t.Fatalf("subscribing: %+v %v", rs, err)
	}
	code := e.codeOf(phoneA)
	if rs, err := e.sms.HandleMO(e.ctx, billing.InboundMO{Bind: "t", MSISDN: phoneA, ServiceAddr: "106580088001", Body: code, ReceivedAt: e.clock.Now()}); err != nil || rs[0].Outcome != billing.OutcomeCharged {
		t.Fatalf("confirming: %+v %v", rs, err)
	}
	base := merchantapi.SubscriptionsBasePath + "/subscriptions"
	r := e.do(e.key8001, "GET", base+"?phoneNumber=%2B8613800000001", "")
	var list []map[string]any
	if r.status != http.StatusOK || json.Unmarshal(r.body, &list) != nil || len(list) != 1 {
		t.Fatalf("list: %d %s", r.status, r.body)
	}
	s := list[0]
	if s["status"] != "active" || s["amount"] != "10.00" || s["productId"] != "YUE" || s["nextRenewal"] != "2026-04-10" || s["phoneNumber"] != phoneA {
		t.Fatalf("subscription %v", s)
	}
	id := s["subscriptionId"].(string)
	// Another merchant neither sees nor cancels it.
	if r := e.do(e.key8002, "GET", base+"/"+id, ""); r.status != http.StatusNotFound {
		t.Fatalf("8002 reads 8001's subscription: %d %s", r.status, r.body)
	}
	if r := e.do(e.key8002, "POST", base+"/"+id+"/cancel", ""); r.status != http.StatusNotFound {
		t.Fatalf("8002 cancels 8001's subscription: %d %s", r.status, r.body)
	}
	if r := e.do(e.key8002, "GET", base, ""); r.status != http.StatusOK || strings.TrimSpace(string(r.body)) != "[]" {
		t.Fatalf("8002's list: %d %s", r.status, r.body)
	}
	// The merchant cancels; twice is the same answer.
	for range 2 {
		r := e.do(e.key8001, "POST", base+"/"+id+"/cancel", "")
		m := r.json(t)
		if r.status != http.StatusOK || m["status"] != "cancelled" || m["endReason"] != "merchant" {
			t.Fatalf("cancel: %d %s", r.status, r.body)
		}
	}
	ms, err := e.store.ClaimOutbox(e.ctx, e.clock.Now(), e.clock.Now().Add(60e9), 100)
	if err != nil {
		t.Fatal(err)
	}
	var told bool
	for _, m := range ms {
		told = told || (m.MSISDN == phoneA && strings.Contains(m.Body, "退订成功"))
	}
	if !told {
		t.Fatalf("the subscriber was not texted the cancellation: %+v", ms)
	}
	if r := e.do(e.key8001, "GET", base+"/x1", ""); r.status != http.StatusNotFound {
		t.Fatalf("bad id: %d", r.status)
	}
	if r := e.do(e.key8001, "GET", base+"?phoneNumber=12", ""); r.status != http.StatusBadRequest {
		t.Fatalf("bad phone: %d %s", r.status, r.body)
	}
}

// A subscription started by an API payment with a sink: its renewal is
// notified there, signed like every notification.
func TestRenewalNotified(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	body := strings.ReplaceAll(prepareBody(phoneB, "", "sub-1", "10.00", true), "SINK", e.sink.url())
	body = strings.Replace(body, `"merchantIdentifier":"8001"`, `"merchantIdentifier":"8001","productId":"YUE"`, 1)
	r := e.do(e.key8001, "POST", pay+"/prepare", body)
	if r.status != http.StatusCreated {
		t.Fatalf("prepare: %d %s", r.status, r.body)
	}
	id := r.json(t)["paymentId"].(string)
	code := e.codeOf(phoneB)
	if v := e.do(e.key8001, "POST", pay+"/"+id+"/validate", `{"authorizationId":"`+id+`","code":"`+code+`"}`); v.status != http.StatusNoContent {
		t.Fatalf("validate: %d %s", v.status, v.body)
	}
	e.deliver()
	e.clock.Set(time.Date(2026, 4, 10, 1, 0, 0, 0, time.UTC))
	if rep, err := e.engine.Renew(e.ctx); err != nil || rep.Renewed != 1 {
		t.Fatalf("Renew: %+v %v", rep, err)
	}
	if e.deliver() != 1 {
		t.Fatal("no renewal notification was due")
	}
	evs := e.sink.events()
	last := evs[len(evs)-1]
	if last["type"] != merchantapi.TypeRenewalCompleted {
		t.Fatalf("events: %v", evs)
	}
}
