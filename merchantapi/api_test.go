package merchantapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/carrierbill/carrierbill/billing"
	billingredis "github.com/carrierbill/carrierbill/billing/redis"
	"github.com/carrierbill/carrierbill/merchantapi"
)

const pay = merchantapi.BasePath + "/payments"

func refunds(id string) string { return merchantapi.RefundBasePath + "/payments/" + id + "/refunds" }

// The OpenAPI documents load and validate, are served at their stable
// paths, and every route the server answers is in them.
func TestOpenAPIDocumentsAndRoutes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	docs := map[string]*openapi3.T{}
	for name, b := range merchantapi.OpenAPI() {
		doc, err := openapi3.NewLoader().LoadFromData(b)
		if err != nil {
			t.Fatal(err)
		}
		if err := doc.Validate(e.ctx); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		docs[name] = doc
		base := merchantapi.BasePath
		if strings.Contains(name, "refund") {
			base = merchantapi.RefundBasePath
		}
		if name == "subscriptions.yaml" {
			base = merchantapi.SubscriptionsBasePath
		}
		r := e.do("", "GET", base+"/openapi.yaml", "")
		if r.status != http.StatusOK || string(r.body) != string(b) {
			t.Fatalf("GET %s/openapi.yaml: %d", base, r.status)
		}
	}
	if v := docs["carrier-billing.yaml"].Info.Version; v != "0.5.0" {
		t.Fatalf("carrier billing version %s", v)
	}
	if v := docs["carrier-billing-refund.yaml"].Info.Version; v != "0.3.0" {
		t.Fatalf("refund version %s", v)
	}
	routes := e.api.Routes()
	if len(routes) < 13 {
		t.Fatalf("only %d routes: %v", len(routes), routes)
	}
	for _, rt := range routes {
		method, path, _ := strings.Cut(rt, " ")
		if strings.HasSuffix(path, "/openapi.yaml") {
			continue
		}
		path = strings.TrimSuffix(path, "/")
		var doc *openapi3.T
		switch {
		case strings.HasPrefix(path, merchantapi.BasePath):
			doc, path = docs["carrier-billing.yaml"], strings.TrimPrefix(path, merchantapi.BasePath)
		case strings.HasPrefix(path, merchantapi.RefundBasePath):
			doc, path = docs["carrier-billing-refund.yaml"], strings.TrimPrefix(path, merchantapi.RefundBasePath)
		case strings.HasPrefix(path, merchantapi.SubscriptionsBasePath):
			doc, path = docs["subscriptions.yaml"], strings.TrimPrefix(path, merchantapi.SubscriptionsBasePath)
		default:
			t.Errorf("route %s is under neither API", rt)
			continue
		}
		item := doc.Paths.Find(path)
		if item == nil || item.GetOperation(method) == nil {
			t.Errorf("route %s is not in the OpenAPI document", rt)
		}
	}
}

// Prepare → the prompt → validate with the code → succeeded, a signed
// payment-completed notification at the sink, delivered once.
func TestPrepareValidateNotify(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	r := e.do(e.key8001, "POST", pay+"/prepare", strings.ReplaceAll(prepareBody(phoneA, "c-1", "order-1", "12.30", true), "SINK", e.sink.url()), "x-correlator", "abc-123")
	if r.status != http.StatusCreated || r.header.Get("x-correlator") != "abc-123" {
		t.Fatalf("prepare: %d %s (x-correlator %q)", r.status, r.body, r.header.Get("x-correlator"))
	}
	m := r.json(t)
	id := m["paymentId"].(string)
	vi, _ := m["validationInfo"].(map[string]any)
	if m["paymentStatus"] != "pending_validation" || vi["authorizationId"] != id || r.header.Get("Location") != pay+"/"+id {
		t.Fatalf("prepare answer: %s", r.body)
	}
	code := e.codeOf(phoneA)
	if n, _ := e.charger.Debited(); n != 0 {
		t.Fatal("charged before validation")
	}
	v := e.do(e.key8001, "POST", pay+"/"+id+"/validate", `{"authorizationId":"`+id+`","code":"`+code+`"}`)
	if v.status != http.StatusNoContent {
		t.Fatalf("validate: %d %s", v.status, v.body)
	}
	if n, total := e.charger.Debited(); n != 1 || total != 1230 {
		t.Fatalf("debited %d for %d", n, total)
	}
	got := e.payment(e.key8001, id)
	if got["paymentStatus"] != "succeeded" || got["paymentDate"] == nil {
		t.Fatalf("after validation: %v", got)
	}
	at := got["amountTransaction"].(map[string]any)
	if at["referenceCode"] != "order-1" || at["clientCorrelator"] != "c-1" || at["phoneNumber"] != phoneA {
		t.Fatalf("amountTransaction: %v", at)
	}
	// The merchant's confirm after validation is accepted and charges nothing.
	if c := e.do(e.key8001, "POST", pay+"/"+id+"/confirm", `{"phoneNumber":"`+phoneA+`"}`); c.status != http.StatusAccepted {
		t.Fatalf("confirm after validation: %d %s", c.status, c.body)
	}
	if n, _ := e.charger.Debited(); n != 1 {
		t.Fatal("confirm charged again")
	}
	if e.deliver() != 1 {
		t.Fatal("no notification was due")
	}
	evs := e.sink.events()
	if len(evs) != 1 || evs[0]["type"] != merchantapi.TypePaymentCompleted || evs[0]["specversion"] != "1.0" {
		t.Fatalf("events: %v", evs)
	}
	data := evs[0]["data"].(map[string]any)
	if data["paymentId"] != id || data["status"] != "succeeded" || data["paymentDate"] == nil {
		t.Fatalf("event data: %v", data)
	}
	e.clock.Advance(time.Hour)
	if e.deliver() != 0 {
		t.Fatal("a delivered notification was sent again")
	}
	// The statement's merchant_ref is the referenceCode.
	lv, err := e.engine.Lookup(e.ctx, billing.LookupRequest{Merchant: "8001", MerchantRef: "order-1"})
	if err != nil || lv.Order.MerchantRef != "order-1" || lv.Order.Channel != billing.ChannelAPI {
		t.Fatalf("lookup by reference: %+v, %v", lv.Order, err)
	}
}

// A one-step payment is processing until the subscriber confirms by SMS.
func TestOneStepConfirmedBySMS(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	r := e.do(e.key8001, "POST", pay, strings.ReplaceAll(prepareBody(phoneA, "", "one-1", "5", true), "SINK", e.sink.url()))
	if r.status != http.StatusCreated || r.json(t)["paymentStatus"] != "processing" {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	id := r.json(t)["paymentId"].(string)
	code := e.codeOf(phoneA)
	res, err := e.sms.HandleMO(e.ctx, billing.InboundMO{Bind: "test", MSISDN: phoneA, ServiceAddr: "106580088001", Body: code, ReceivedAt: e.clock.Now()})
	if err != nil || len(res) != 1 || res[0].Outcome != billing.OutcomeCharged {
		t.Fatalf("SMS confirmation: %+v, %v", res, err)
	}
	if got := e.payment(e.key8001, id); got["paymentStatus"] != "succeeded" {
		t.Fatalf("after the SMS: %v", got["paymentStatus"])
	}
	e.deliver()
	if evs := e.sink.events(); len(evs) != 1 || evs[0]["type"] != merchantapi.TypePaymentCompleted {
		t.Fatalf("events: %v", evs)
	}
}

// Cancel: the payment is cancelled, its code confirms nothing, the merchant
// is notified; a second cancel and a confirm are conflicts.
func TestCancel(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	id := e.prepare(phoneA, "c-1", "r-1", "3")
	code := e.codeOf(phoneA)
	if r := e.do(e.key8001, "POST", pay+"/"+id+"/cancel", `{}`); r.status != http.StatusAccepted {
		t.Fatalf("cancel: %d %s", r.status, r.body)
	}
	if got := e.payment(e.key8001, id); got["paymentStatus"] != "cancelled" {
		t.Fatalf("after cancel: %v", got["paymentStatus"])
	}
	e.do(e.key8001, "POST", pay+"/"+id+"/cancel", `{}`).wantError(t, 409, "CARRIER_BILLING.PAYMENT_CANCELLED", "cancelled")
	e.do(e.key8001, "POST", pay+"/"+id+"/confirm", `{}`).wantError(t, 409, "CARRIER_BILLING.PAYMENT_CANCELLED", "cancelled")
	e.do(e.key8001, "POST", pay+"/"+id+"/validate", `{"authorizationId":"`+id+`","code":"`+code+`"}`).wantError(t, 400, "CARRIER_BILLING.VALIDATION_FAILED", "cancelled")
	if n, _ := e.charger.Debited(); n != 0 {
		t.Fatal("a cancelled payment was charged")
	}
	e.deliver()
	if evs := e.sink.events(); len(evs) != 1 || evs[0]["type"] != merchantapi.TypePaymentCancelled {
		t.Fatalf("events: %v", evs)
	}
}

// Limits and codes are refused with CAMARA's codes; a denied payment's
// denialReason is our reason code.
func TestLimitsAndCodes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	body := func(ref, amount string) string {
		return strings.ReplaceAll(prepareBody(phoneA, "", ref, amount, true), "SINK", e.sink.url())
	}
	// Per payment: 30.00 (the merchant would take up to 100.00).
	e.do(e.key8001, "POST", pay+"/prepare", body("big", "40")).wantError(t, 422, "CARRIER_BILLING.UNAUTHORIZED_AMOUNT", "per_payment_limit")
	// Above the merchant's maximum: the field is named.
	e.do(e.key8001, "POST", pay+"/prepare", body("huge", "150.00")).wantError(t, 422, "CARRIER_BILLING.UNAUTHORIZED_AMOUNT", "chargingInformation.amount")
	// Daily 50.00: 30 paid, then 25 is over.
	id := e.prepare(phoneA, "", "d-1", "30")
	if r := e.do(e.key8001, "POST", pay+"/"+id+"/validate", `{"authorizationId":"`+id+`","code":"`+e.codeOf(phoneA)+`"}`); r.status != 204 {
		t.Fatalf("validate: %d %s", r.status, r.body)
	}
	e.do(e.key8001, "POST", pay+"/prepare", body("d-2", "25")).wantError(t, 422, "CARRIER_BILLING.USER_AMOUNT_THRESHOLD_OVERPASSED", "daily_limit")
	// Wrong codes: INVALID_CODE, then the third voids the payment.
	id2 := e.prepare(phoneB, "", "w-1", "1")
	code := e.codeOf(phoneB)
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	validate := `{"authorizationId":"` + id2 + `","code":"` + wrong + `"}`
	e.do(e.key8001, "POST", pay+"/"+id2+"/validate", validate).wantError(t, 400, "CARRIER_BILLING.INVALID_CODE", "wrong_code")
	e.do(e.key8001, "POST", pay+"/"+id2+"/validate", `{"authorizationId":"x`+id2+`","code":"`+code+`"}`).wantError(t, 400, "CARRIER_BILLING.INVALID_AUTHORIZATION_ID", "authorizationId")
	e.do(e.key8001, "POST", pay+"/"+id2+"/validate", `{"authorizationId":"`+id2+`","code":"12345"}`).wantError(t, 400, "INVALID_ARGUMENT", "code")
	e.do(e.key8001, "POST", pay+"/"+id2+"/validate", validate).wantError(t, 400, "CARRIER_BILLING.INVALID_CODE", "wrong_code")
	e.do(e.key8001, "POST", pay+"/"+id2+"/validate", validate).wantError(t, 400, "CARRIER_BILLING.VALIDATION_FAILED", "too_many_attempts")
	got := e.payment(e.key8001, id2)
	if got["paymentStatus"] != "denied" || got["denialReason"] != "too_many_attempts" {
		t.Fatalf("after three wrong codes: %v", got)
	}
	// Confirm without validation is refused for a merchant not allowed to.
	id3 := e.prepare(phoneB, "", "nc-1", "1")
	e.do(e.key8001, "POST", pay+"/"+id3+"/confirm", `{}`).wantError(t, 403, "CARRIER_BILLING.PAYMENT_DENIED", "not confirmed")
	e.deliver()
	var denied map[string]any
	for _, ev := range e.sink.events() {
		if ev["type"] == merchantapi.TypePaymentDenied {
			denied = ev["data"].(map[string]any)
		}
	}
	if denied == nil || denied["denialReason"] != "too_many_attempts" || denied["paymentId"] != id2 {
		t.Fatalf("payment-denied event: %v", denied)
	}
}

// A merchant allowed to confirm without the code charges with confirm.
func TestConfirmWithoutCode(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{merchants: map[string]merchantapi.MerchantOptions{"8001": {ConfirmWithoutCode: true}}})
	id := e.prepare(phoneA, "", "t-1", "2")
	e.do(e.key8001, "POST", pay+"/"+id+"/confirm", `{"phoneNumber":"`+phoneB+`"}`).wantError(t, 404, "IDENTIFIER_NOT_FOUND", "phoneNumber")
	if r := e.do(e.key8001, "POST", pay+"/"+id+"/confirm", `{"phoneNumber":"`+phoneA+`"}`); r.status != 202 {
		t.Fatalf("confirm: %d %s", r.status, r.body)
	}
	if got := e.payment(e.key8001, id); got["paymentStatus"] != "succeeded" {
		t.Fatalf("after confirm: %v", got["paymentStatus"])
	}
	e.do(e.key8001, "POST", pay+"/"+id+"/cancel", `{}`).wantError(t, 409, "CARRIER_BILLING.PAYMENT_CONFIRMED", "refund")
}

// The same clientCorrelator twice: the same body gives the first payment
// (one prompt, one order); another body is 409; a referenceCode is one
// payment.
func TestClientCorrelator(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	body := strings.ReplaceAll(prepareBody(phoneA, "corr-1", "ref-1", "8.8", true), "SINK", e.sink.url())
	r1 := e.do(e.key8001, "POST", pay+"/prepare", body)
	// The same body, spaced differently.
	r2 := e.do(e.key8001, "POST", pay+"/prepare", strings.ReplaceAll(body, ",", " , "))
	if r1.status != 201 || r2.status != 201 || r1.json(t)["paymentId"] != r2.json(t)["paymentId"] {
		t.Fatalf("same correlator, same body: %d %s / %d %s", r1.status, r1.body, r2.status, r2.body)
	}
	ms, _ := e.store.ClaimOutbox(e.ctx, e.clock.Now(), e.clock.Now().Add(time.Hour), 10)
	if len(ms) != 1 {
		t.Fatalf("%d prompts, want 1", len(ms))
	}
	other := strings.ReplaceAll(body, "8.8", "9.9")
	e.do(e.key8001, "POST", pay+"/prepare", other).wantError(t, 409, "ALREADY_EXISTS", "clientCorrelator")
	e.do(e.key8001, "POST", pay+"/prepare", strings.ReplaceAll(body, "corr-1", "corr-2")).wantError(t, 409, "ALREADY_EXISTS", "referenceCode")
	// Another merchant may use the same correlator and reference.
	b2 := strings.ReplaceAll(strings.ReplaceAll(body, `"merchantIdentifier":"8001"`, `"merchantIdentifier":"8002"`), phoneA, phoneB)
	if r := e.do(e.key8002, "POST", pay+"/prepare", b2); r.status != 201 {
		t.Fatalf("another merchant, same correlator: %d %s", r.status, r.body)
	}
}

// One merchant never sees or touches another's payments.
func TestMerchantIsolation(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	id := e.prepare(phoneA, "c", "r", "4")
	code := e.codeOf(phoneA)
	for _, c := range []struct{ method, path, body string }{
		{"GET", pay + "/" + id, ""},
		{"POST", pay + "/" + id + "/validate", `{"authorizationId":"` + id + `","code":"` + code + `"}`},
		{"POST", pay + "/" + id + "/confirm", `{}`},
		{"POST", pay + "/" + id + "/cancel", `{}`},
		{"GET", refunds(id), ""},
		{"GET", refunds(id) + "/remaining-amount", ""},
		{"POST", refunds(id), `{"type":"total","amountTransaction":{"referenceCode":"x","refundAmount":{}}}`},
	} {
		e.do(e.key8002, c.method, c.path, c.body).wantError(t, 404, "NOT_FOUND", "paymentId")
	}
	r := e.do(e.key8002, "GET", pay, "")
	if r.status != 200 || string(r.body) != "[]\n" {
		t.Fatalf("8002's list: %d %s", r.status, r.body)
	}
	e.do(e.key8002, "GET", pay+"?merchantIdentifier=8001", "").wantError(t, 403, "PERMISSION_DENIED", "merchantIdentifier")
	if got := e.payment(e.key8001, id); got["paymentStatus"] != "pending_validation" {
		t.Fatalf("8002's calls changed 8001's payment: %v", got["paymentStatus"])
	}
}

// Every bad input gets a CAMARA error naming the field, and stores nothing.
func TestBadInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	revoked := e.issueKey("8001")
	keys, _ := e.keys.ListKeys(e.ctx, "8001")
	if ok, err := e.keys.RevokeKey(e.ctx, keys[len(keys)-1].ID, e.clock.Now()); !ok || err != nil {
		t.Fatal("revoking", err)
	}
	good := strings.ReplaceAll(prepareBody(phoneA, "c", "r", "1.50", true), "SINK", e.sink.url())
	cases := []struct {
		name, key, body string
		status          int
		code, field     string
	}{
		{"malformed JSON", e.key8001, `{"amountTransaction":`, 400, "INVALID_ARGUMENT", "body"},
		{"not an object", e.key8001, `[1]`, 400, "INVALID_ARGUMENT", "body"},
		{"trailing data", e.key8001, good + `{}`, 400, "INVALID_ARGUMENT", "body"},
		{"unknown field", e.key8001, strings.Replace(good, `"referenceCode"`, `"colour":"red","referenceCode"`, 1), 400, "INVALID_ARGUMENT", "colour"},
		{"amount as a string", e.key8001, strings.Replace(good, `1.50`, `"1.50"`, 1), 400, "INVALID_ARGUMENT", "amountTransaction.paymentAmount.chargingInformation.amount"},
		{"three decimals", e.key8001, strings.Replace(good, `1.50`, `1.505`, 1), 400, "INVALID_ARGUMENT", "chargingInformation.amount"},
		{"exponent", e.key8001, strings.Replace(good, `1.50`, `1e2`, 1), 400, "INVALID_ARGUMENT", "chargingInformation.amount"},
		{"zero", e.key8001, strings.Replace(good, `1.50`, `0`, 1), 400, "INVALID_ARGUMENT", "chargingInformation.amount"},
		{"above the merchant's maximum", e.key8001, strings.Replace(good, `1.50`, `100.01`, 1), 422, "CARRIER_BILLING.UNAUTHORIZED_AMOUNT", "chargingInformation.amount"},
		{"currency", e.key8001, strings.Replace(good, `"CNY"`, `"EUR"`, 1), 400, "INVALID_ARGUMENT", "currency"},
		{"phone not E.164", e.key8001, strings.Replace(good, phoneA, "13800000001", 1), 400, "INVALID_ARGUMENT", "phoneNumber"},
		{"phone missing", e.key8001, strings.Replace(good, `"phoneNumber":"`+phoneA+`",`, ``, 1), 422, "MISSING_IDENTIFIER", "phoneNumber"},
		{"reference missing", e.key8001, strings.Replace(good, `"referenceCode":"r",`, ``, 1), 400, "INVALID_ARGUMENT", "referenceCode"},
		{"http sink", e.key8001, strings.Replace(good, "https://", "http://", 1), 400, "INVALID_SINK", "sink"},
		{"plain credential", e.key8001, strings.Replace(good, "ACCESSTOKEN", "PLAIN", 1), 400, "INVALID_CREDENTIAL", "credentialType"},
		{"another merchant's identifier", e.key8001, strings.Replace(good, `"merchantIdentifier":"8001"`, `"merchantIdentifier":"8002"`, 1), 403, "PERMISSION_DENIED", "merchantIdentifier"},
		{"unknown product", e.key8001, strings.Replace(good, `"channel":"web"`, `"productId":"NOPE"`, 1), 400, "INVALID_ARGUMENT", "productId"},
		{"no key", "", good, 401, "UNAUTHENTICATED", "Authorization"},
		{"wrong key", "cbk_wrong", good, 401, "UNAUTHENTICATED", "Authorization"},
		{"revoked key", revoked, good, 401, "UNAUTHENTICATED", "revoked"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e.do(c.key, "POST", pay+"/prepare", c.body).wantError(t, c.status, c.code, c.field)
		})
	}
	var n int
	if err := e.pool.QueryRow(e.ctx, `SELECT (SELECT count(*) FROM orders) + (SELECT count(*) FROM api_payments) + (SELECT count(*) FROM outbox)`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("bad requests stored %d rows (%v)", n, err)
	}
	// Another merchant's payment id, and ids that are not ids.
	id := e.prepare(phoneA, "", "mine", "1")
	e.do(e.key8002, "GET", pay+"/"+id, "").wantError(t, 404, "NOT_FOUND", "paymentId")
	e.do(e.key8001, "GET", pay+"/0"+id, "").wantError(t, 404, "NOT_FOUND", "paymentId")
	e.do(e.key8001, "GET", pay+"?perPage=1000", "").wantError(t, 400, "OUT_OF_RANGE", "perPage")
	e.do(e.key8001, "GET", pay+"?paymentCreationDate.gte=2026-03-11T00:00:00Z&paymentCreationDate.lte=2026-03-10T00:00:00Z", "").
		wantError(t, 400, "CARRIER_BILLING.INVALID_DATE_RANGE", "paymentCreationDate")
	e.do(e.key8001, "GET", pay+"?paymentStatus=paid", "").wantError(t, 400, "INVALID_ARGUMENT", "paymentStatus")
	e.do(e.key8001, "GET", pay, "", "x-correlator", "bad correlator!").wantError(t, 400, "INVALID_ARGUMENT", "x-correlator")
}

// Partial and total refunds: never more than the payment, each with its own
// idempotency, listed, the remaining amount, and notified.
func TestRefunds(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	id := e.prepare(phoneA, "", "shop-9", "10.00")
	refundBody := func(kind, corr, ref, amount string) string {
		amt := `{}`
		if amount != "" {
			amt = `{"chargingInformation":{"amount":` + amount + `,"currency":"CNY","description":"partial"}}`
		}
		return `{"type":"` + kind + `","reason":"customer asked","amountTransaction":{"clientCorrelator":"` + corr + `","referenceCode":"` + ref + `","refundAmount":` + amt + `}}`
	}
	e.do(e.key8001, "POST", refunds(id), refundBody("partial", "rc-0", "rr-0", "1")).wantError(t, 422, "CARRIER_BILLING_REFUND.INVALID_PAYMENT_STATUS", "pending_validation")
	if r := e.do(e.key8001, "POST", pay+"/"+id+"/validate", `{"authorizationId":"`+id+`","code":"`+e.codeOf(phoneA)+`"}`); r.status != 204 {
		t.Fatalf("validate: %d %s", r.status, r.body)
	}
	r1 := e.do(e.key8001, "POST", refunds(id), refundBody("partial", "rc-1", "rr-1", "3.50"))
	if r1.status != 201 || r1.json(t)["refundStatus"] != "succeeded" {
		t.Fatalf("partial refund: %d %s", r1.status, r1.body)
	}
	again := e.do(e.key8001, "POST", refunds(id), refundBody("partial", "rc-1", "rr-1", "3.50"))
	if again.status != 201 || again.json(t)["refundId"] != r1.json(t)["refundId"] {
		t.Fatalf("the same refund again: %d %s", again.status, again.body)
	}
	e.do(e.key8001, "POST", refunds(id), refundBody("partial", "rc-1", "rr-1", "2")).wantError(t, 409, "ALREADY_EXISTS", "clientCorrelator")
	e.do(e.key8001, "POST", refunds(id), refundBody("partial", "rc-2", "rr-1", "2")).wantError(t, 409, "ALREADY_EXISTS", "referenceCode")
	e.do(e.key8001, "POST", refunds(id), refundBody("partial", "rc-3", "rr-3", "7.00")).wantError(t, 422, "CARRIER_BILLING_REFUND.UNAUTHORIZED_AMOUNT", "6.50")
	e.do(e.key8001, "POST", refunds(id), refundBody("total", "rc-4", "rr-4", "1")).wantError(t, 400, "INVALID_ARGUMENT", "chargingInformation")
	e.do(e.key8001, "POST", refunds(id), refundBody("partial", "rc-4", "rr-4", "1.001")).wantError(t, 400, "INVALID_ARGUMENT", "chargingInformation.amount")
	rem := e.do(e.key8001, "GET", refunds(id)+"/remaining-amount", "")
	if rem.status != 200 || rem.json(t)["amount"] != 6.5 {
		t.Fatalf("remaining: %d %s", rem.status, rem.body)
	}
	total := e.do(e.key8001, "POST", refunds(id), refundBody("total", "rc-5", "rr-5", ""))
	if total.status != 201 {
		t.Fatalf("total refund: %d %s", total.status, total.body)
	}
	ci := total.json(t)["amountTransaction"].(map[string]any)["refundAmount"].(map[string]any)["chargingInformation"].(map[string]any)
	if ci["amount"] != 6.5 {
		t.Fatalf("total refund refunded %v", ci["amount"])
	}
	if rem := e.do(e.key8001, "GET", refunds(id)+"/remaining-amount", ""); rem.json(t)["amount"] != 0.0 {
		t.Fatalf("remaining after the total refund: %s", rem.body)
	}
	e.do(e.key8001, "POST", refunds(id), refundBody("total", "rc-6", "rr-6", "")).wantError(t, 422, "CARRIER_BILLING_REFUND.INVALID_PAYMENT_STATUS", "nothing left")
	list := e.do(e.key8001, "GET", refunds(id)+"?order=asc", "")
	var rs []map[string]any
	_ = json.Unmarshal(list.body, &rs)
	if list.status != 200 || len(rs) != 2 || rs[0]["type"] != "partial" || rs[1]["type"] != "total" || list.header.Get("X-Total-Count") != "2" {
		t.Fatalf("list: %d %s", list.status, list.body)
	}
	one := e.do(e.key8001, "GET", refunds(id)+"/"+rs[1]["refundId"].(string), "")
	if one.status != 200 || one.json(t)["type"] != "total" {
		t.Fatalf("get refund: %d %s", one.status, one.body)
	}
	e.do(e.key8001, "GET", refunds(id)+"/999999", "").wantError(t, 404, "NOT_FOUND", "refundId")
	lv, err := e.engine.Lookup(e.ctx, billing.LookupRequest{Merchant: "8001", MerchantRef: "shop-9"})
	if err != nil || lv.Refunded != 1000 || lv.Order.Status != billing.OrderRefunded {
		t.Fatalf("the order after refunds: %+v, %v", lv, err)
	}
	e.deliver()
	n := 0
	for _, ev := range e.sink.events() {
		if ev["type"] == merchantapi.TypeRefundCompleted {
			n++
		}
	}
	if n != 2 {
		t.Fatalf("%d refund notifications, want 2", n)
	}
}

// A failing sink is retried on WeChat Pay's schedule by the clock, then
// delivered once.
func TestNotificationRetries(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.sink.mu.Lock()
	e.sink.fails = 4
	e.sink.mu.Unlock()
	id := e.prepare(phoneA, "", "n-1", "1")
	if r := e.do(e.key8001, "POST", pay+"/"+id+"/validate", `{"authorizationId":"`+id+`","code":"`+e.codeOf(phoneA)+`"}`); r.status != 204 {
		t.Fatal(r.status)
	}
	if e.deliver() != 1 {
		t.Fatal("first try not made")
	}
	for i, wait := range merchantapi.RetrySchedule[:4] {
		e.clock.Advance(wait - time.Second)
		if e.deliver() != 0 {
			t.Fatalf("retry %d came before %v", i+1, wait)
		}
		e.clock.Advance(time.Second)
		if e.deliver() != 1 {
			t.Fatalf("retry %d not made after %v", i+1, wait)
		}
	}
	if evs := e.sink.events(); len(evs) != 1 {
		t.Fatalf("delivered %d events, want 1", len(evs))
	}
	e.clock.Advance(24 * time.Hour)
	e.deliver()
	e.sink.mu.Lock()
	posts := e.sink.posts
	e.sink.mu.Unlock()
	if posts != 5 {
		t.Fatalf("%d posts, want 4 failures and 1 success", posts)
	}
	ns, _ := e.store.NotificationsOfOrder(e.ctx, mustID(t, id))
	if len(ns) != 1 || ns[0].DeliveredAt.IsZero() || ns[0].Attempts != 5 {
		t.Fatalf("outbox row: %+v", ns)
	}
}

// A sink that never answers is given up after the last retry, about a day
// later.
func TestNotificationGivenUp(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.sink.mu.Lock()
	e.sink.fails = 1000
	e.sink.mu.Unlock()
	id := e.prepare(phoneA, "", "g-1", "1")
	e.do(e.key8001, "POST", pay+"/"+id+"/cancel", `{}`)
	start := e.clock.Now()
	tries := 0
	for range 100 {
		tries += e.deliver()
		e.clock.Advance(time.Minute)
	}
	for e.clock.Now().Sub(start) < 26*time.Hour {
		e.clock.Advance(15 * time.Minute)
		tries += e.deliver()
	}
	if tries != 1+len(merchantapi.RetrySchedule) {
		t.Fatalf("%d tries, want %d", tries, 1+len(merchantapi.RetrySchedule))
	}
	ns, _ := e.store.NotificationsOfOrder(e.ctx, mustID(t, id))
	if len(ns) != 1 || ns[0].FailedAt.IsZero() || ns[0].FailedAt.Sub(start) < 24*time.Hour {
		t.Fatalf("given up: %+v", ns)
	}
}

// A restart in the middle of the retries (and one with a claim in flight)
// loses no notification and delivers it once.
func TestRestartMidRetries(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.sink.mu.Lock()
	e.sink.fails = 2
	e.sink.mu.Unlock()
	id := e.prepare(phoneA, "", "x-1", "1")
	if r := e.do(e.key8001, "POST", pay+"/"+id+"/validate", `{"authorizationId":"`+id+`","code":"`+e.codeOf(phoneA)+`"}`); r.status != 204 {
		t.Fatal(r.status)
	}
	e.deliver()
	e.clock.Advance(15 * time.Second)
	e.deliver()
	// The next retry is claimed, and the process dies before it records
	// anything.
	e.clock.Advance(15 * time.Second)
	if got, err := e.store.ClaimNotifications(e.ctx, e.clock.Now(), e.clock.Now().Add(time.Minute), 10); err != nil || len(got) != 1 {
		t.Fatalf("claim: %v %v", got, err)
	}
	e.open(envOptions{}) // restart: a new store, engine, API and dispatcher on the same database
	if e.deliver() != 0 {
		t.Fatal("delivered under the dead process's lease")
	}
	e.clock.Advance(time.Minute)
	if e.deliver() != 1 {
		t.Fatal("the restarted dispatcher did not pick the notification up")
	}
	if evs := e.sink.events(); len(evs) != 1 || evs[0]["type"] != merchantapi.TypePaymentCompleted {
		t.Fatalf("events: %v", evs)
	}
	e.clock.Advance(time.Hour)
	if e.deliver() != 0 {
		t.Fatal("sent again after delivery")
	}
}

// The listing: filters, order and paging.
func TestListPayments(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	var ids []string
	for i := range 5 {
		// Different amounts: a pending payment of the same subscriber, amount
		// and merchant would give way to the new one.
		ids = append(ids, e.prepare(phoneA, "", "l-"+string(rune('a'+i)), fmt.Sprintf("1.%02d", i)))
		e.clock.Advance(time.Minute)
	}
	e.do(e.key8001, "POST", pay+"/"+ids[1]+"/cancel", `{}`)
	list := func(q string) ([]map[string]any, http.Header) {
		r := e.do(e.key8001, "GET", pay+q, "")
		if r.status != 200 {
			t.Fatalf("GET %s: %d %s", q, r.status, r.body)
		}
		var out []map[string]any
		_ = json.Unmarshal(r.body, &out)
		return out, r.header
	}
	all, h := list("")
	if len(all) != 5 || all[0]["paymentId"] != ids[4] || h.Get("X-Total-Count") != "5" {
		t.Fatalf("newest first: %v", all)
	}
	page, h := list("?perPage=2&page=2&order=asc")
	if len(page) != 2 || page[0]["paymentId"] != ids[2] || h.Get("Content-Last-Key") != "4" {
		t.Fatalf("page 2 of 2, oldest first: %v %v", page, h)
	}
	cancelled, _ := list("?paymentStatus=cancelled")
	if len(cancelled) != 1 || cancelled[0]["paymentId"] != ids[1] {
		t.Fatalf("cancelled: %v", cancelled)
	}
	from := e.clock.Now().Add(-150 * time.Second).UTC().Format(time.RFC3339)
	recent, _ := list("?paymentCreationDate.gte=" + from)
	if len(recent) != 2 {
		t.Fatalf("created since %s: %d", from, len(recent))
	}
}

// Requests are rate limited per merchant with redis_rate.
func TestRateLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	lim := embeddedLimiter(t, e)
	e.open(envOptions{limiter: lim, rate: merchantapi.Rate{Requests: 2, Period: time.Minute}})
	for range 2 {
		if r := e.do(e.key8001, "GET", pay, ""); r.status != 200 {
			t.Fatalf("within the limit: %d", r.status)
		}
	}
	r := e.do(e.key8001, "GET", pay, "")
	r.wantError(t, 429, "TOO_MANY_REQUESTS", "8001")
	if r.header.Get("Retry-After") == "" {
		t.Fatal("no Retry-After")
	}
	if r := e.do(e.key8002, "GET", pay, ""); r.status != 200 {
		t.Fatalf("another merchant is limited too: %d", r.status)
	}
	e.clock.Advance(time.Minute)
	if r := e.do(e.key8001, "GET", pay, ""); r.status != 200 {
		t.Fatalf("after the period: %d", r.status)
	}
}

// Signatures: a tampered body and a replayed (old) signature are refused.
func TestSignature(t *testing.T) {
	t.Parallel()
	secret := merchantapi.MerchantSecret(notifyKey, "8001")
	if string(secret) == string(merchantapi.MerchantSecret(notifyKey, "8002")) {
		t.Fatal("two merchants share a secret")
	}
	at := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	body := []byte(`{"id":"x"}`)
	h := merchantapi.Sign(secret, at, body)
	if err := merchantapi.Verify(secret, h, body, at.Add(time.Minute), 0); err != nil {
		t.Fatalf("fresh signature: %v", err)
	}
	if err := merchantapi.Verify(secret, h, []byte(`{"id":"y"}`), at, 0); err != merchantapi.ErrBadSignature {
		t.Fatalf("tampered body: %v", err)
	}
	if err := merchantapi.Verify([]byte("other"), h, body, at, 0); err != merchantapi.ErrBadSignature {
		t.Fatalf("another secret: %v", err)
	}
	if err := merchantapi.Verify(secret, h, body, at.Add(10*time.Minute), 0); err != merchantapi.ErrStaleSignature {
		t.Fatalf("replayed signature: %v", err)
	}
	if err := merchantapi.Verify(secret, "t=abc,v1=00", body, at, 0); err != merchantapi.ErrBadSignature {
		t.Fatalf("malformed header: %v", err)
	}
}

func mustID(t *testing.T, id string) int64 {
	t.Helper()
	var n int64
	for _, r := range id {
		n = n*10 + int64(r-'0')
	}
	return n
}

// embeddedLimiter is billing/redis's redis_rate limiter on an in-process
// Redis following the test's clock.
func embeddedLimiter(t *testing.T, e *env) billing.Limiter {
	t.Helper()
	l, err := billingredis.NewEmbedded(e.clock, billingredis.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}
