package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/carrierbill/carrierbill/bank/banksim"
	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/billing/postgres"
	"github.com/carrierbill/carrierbill/clock"
	"github.com/carrierbill/carrierbill/internal/dbtest"
	"github.com/carrierbill/carrierbill/msisdn"
	"github.com/carrierbill/carrierbill/wallet"
)

// Bank-card payments through the real gateway: the subscriber's MOs go in
// through the SMSC simulator, MTs come out of it, the bank is the simulated
// one. Binding is the operator's (Gateway.Cards).

const (
	testCardKey    = "card-key-card-key-card-key-card-key!" // >= 32 bytes
	testPepper     = "pepper-pepper-pepper"
	testPAN        = "6222021234567881234" // Luhn-valid
	testOwner      = "张三"
	testOwnerID    = "11010119900307123X"
	testAdminToken = "admin-token-admin-token"
)

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type cardHarness struct {
	*harness
	bank  *banksim.Bank
	logs  *syncBuffer
	token string
}

// bootCards starts a gateway with card payments on the simulated bank,
// logging at debug level into a buffer the test can search.
// With embedded, it runs on the embedded store and in-process Redis.
func bootCards(t *testing.T, embedded bool) *cardHarness {
	t.Helper()
	dbURL, redisURL, prefix := "", "", ""
	if !embedded {
		_, prefix = dbtest.Redis(t)
		dbURL, redisURL = dbtest.Postgres(t), dbtest.RedisURL()
	}
	yaml := fmt.Sprintf("database: {url: %q}\nredis: {url: %q, prefix: %q}\naccounts: {auto_open: true}\nlog: {level: debug}\nadmin: {listen: \"127.0.0.1:0\"}\n%s",
		dbURL, redisURL, prefix, testMerchants)
	logs := &syncBuffer{}
	b := banksim.New(clock.Real{})
	tok, err := b.AddCard(testPAN, testOwner, testOwnerID, billing.Yuan(100))
	if err != nil {
		t.Fatal(err)
	}
	h := bootWith(t, yaml, logs, GatewayOptions{
		Bank: b, CardKey: []byte(testCardKey), WalletPepper: []byte(testPepper), AdminToken: testAdminToken})
	g := h.g
	if g.Cards == nil {
		t.Fatal("card payments are off in the gateway")
	}
	return &cardHarness{harness: h, bank: b, logs: logs, token: tok}
}

var walletPassword = regexp.MustCompile(`密码([0-9]{6})`)

// bind registers phone's owner and binds the test card to it, returning the
// initial wallet password from the SMS (MT #1).
func (h *cardHarness) bind(phone string) string {
	h.t.Helper()
	ctx := context.Background()
	secrets, err := wallet.NewSecrets([]byte(testCardKey))
	if err != nil {
		h.t.Fatal(err)
	}
	if phone, err = msisdn.DefaultPlan().Normalize(phone, 0, 0); err != nil { // the canonical number the SMS edge uses
		h.t.Fatal(err)
	}
	if h.g.pool != nil {
		err = postgres.NewCardStore(h.g.pool).SetOwner(ctx, secrets, phone, testOwner, testOwnerID)
	} else {
		err = h.g.sqlite.SetOwner(ctx, secrets, phone, testOwner, testOwnerID)
	}
	if err != nil {
		h.t.Fatal(err)
	}
	if _, err := h.g.Cards.Bind(ctx, phone, testPAN, testOwner, testOwnerID); err != nil {
		h.t.Fatalf("Bind: %v", err)
	}
	mt := h.reply(phone, 1)
	m := walletPassword.FindStringSubmatch(mt)
	if m == nil {
		h.t.Fatalf("binding MT %q carries no initial password", mt)
	}
	return m[1]
}

// findSecret returns every place in the database (any text, varchar,
// json or bytea column of any table of the test's schema) that contains
// secret.
func (h *cardHarness) findSecret(secret string) []string {
	h.t.Helper()
	ctx := context.Background()
	rows, err := h.g.pool.Query(ctx, `SELECT table_name, column_name, data_type FROM information_schema.columns
		WHERE table_schema = current_schema() AND data_type IN ('text', 'character varying', 'bytea', 'json', 'jsonb', 'character')`)
	if err != nil {
		h.t.Fatal(err)
	}
	type col struct{ table, column, typ string }
	var cols []col
	for rows.Next() {
		var c col
		if err := rows.Scan(&c.table, &c.column, &c.typ); err != nil {
			h.t.Fatal(err)
		}
		cols = append(cols, c)
	}
	rows.Close()
	if len(cols) < 10 {
		h.t.Fatalf("only %d text columns found: wrong schema?", len(cols))
	}
	var found []string
	for _, c := range cols {
		cond := fmt.Sprintf(`strpos(%q::text, $1) > 0`, c.column)
		if c.typ == "bytea" {
			cond = fmt.Sprintf(`position(convert_to($1, 'UTF8') in %q) > 0`, c.column)
		}
		var n int
		if err := h.g.pool.QueryRow(ctx, fmt.Sprintf(`SELECT count(*) FROM %q WHERE %s`, c.table, cond), secret).Scan(&n); err != nil {
			h.t.Fatalf("searching %s.%s: %v", c.table, c.column, err)
		}
		if n > 0 {
			found = append(found, fmt.Sprintf("%s.%s (%d rows)", c.table, c.column, n))
		}
	}
	return found
}

func TestServeCardPaymentEndToEnd(t *testing.T) {
	t.Parallel()
	h := bootCards(t, false)
	phone := h.newPhone()
	password := h.bind(phone)

	h.send(phone, "106580088001", "VIP K")
	prompt := h.reply(phone, 2)
	if !strings.Contains(prompt, "尾号"+testPAN[len(testPAN)-4:]) || !strings.Contains(prompt, "15.00") {
		t.Fatalf("card prompt %q does not name the card and the amount", prompt)
	}
	code := codeOf(t, prompt)

	h.send(phone, "106580088001", code+" "+password)
	receipt := h.reply(phone, 3)
	if !strings.Contains(receipt, "15.00") || !strings.Contains(receipt, "星辰游戏") {
		t.Fatalf("receipt %q", receipt)
	}
	var orderID int64
	if err := h.g.pool.QueryRow(context.Background(), `SELECT id FROM orders WHERE msisdn IN ($1, '+' || $1) AND method = 'card' AND status = 'paid'`, phone).Scan(&orderID); err != nil {
		t.Fatalf("the paid card order: %v", err)
	}
	if n := h.bank.Debits(billing.ChargeKey(orderID)); n != 1 {
		t.Fatalf("bank debits = %d, want 1", n)
	}

	// A password change, then YE.
	h.send(phone, "106580088001", "MM "+password+" 502817")
	if mt := h.reply(phone, 4); !strings.Contains(mt, "已修改") {
		t.Fatalf("password change answered %q", mt)
	}
	h.send(phone, "106580088001", "YE")
	if mt := h.reply(phone, 5); !strings.Contains(mt, "85.00") {
		t.Fatalf("YE answered %q, want 85.00", mt)
	}

	// The redaction proof: no wallet password (old or new) and no card
	// number anywhere in the database or the logs.
	// The initial password's MT is scrubbed by the sweep once sent: wait
	// for it with a deadline.
	for _, secret := range []string{password, "502817", testPAN} {
		deadline := time.Now().Add(10 * time.Second)
		found := h.findSecret(secret)
		for len(found) > 0 && time.Now().Before(deadline) {
			select {
			case <-time.After(50 * time.Millisecond):
			case <-t.Context().Done():
			}
			found = h.findSecret(secret)
		}
		if len(found) > 0 {
			t.Errorf("secret %s…: found in the database at %v", secret[:2], found)
		}
		if strings.Contains(h.logs.String(), secret) {
			t.Errorf("secret %s…: found in the logs", secret[:2])
		}
	}
	if !strings.Contains(h.logs.String(), "charged") {
		t.Fatalf("the captured logs look empty: the proof would be vacuous")
	}
}

func TestServeCardClosedByBank(t *testing.T) {
	t.Parallel()
	h := bootCards(t, false)
	phone := h.newPhone()
	password := h.bind(phone)
	if err := h.bank.CloseCard(h.token); err != nil {
		t.Fatal(err)
	}
	h.send(phone, "106580088001", "10 K")
	code := codeOf(t, h.reply(phone, 2))
	h.send(phone, "106580088001", code+" "+password)
	if mt := h.reply(phone, 3); !strings.Contains(mt, "重新绑定") {
		t.Fatalf("a closed card answered %q, want to be told to bind again", mt)
	}
	var status string
	if err := h.g.pool.QueryRow(context.Background(), `SELECT status FROM cards WHERE msisdn IN ($1, '+' || $1)`, phone).Scan(&status); err != nil {
		t.Fatal(err)
	}
	if status != string(billing.CardClosed) {
		t.Fatalf("card status %q after the bank closed it, want closed", status)
	}
	// No card left: the next card purchase is refused plainly.
	h.send(phone, "106580088001", "VIP K")
	if mt := h.reply(phone, 4); !strings.Contains(mt, "绑定") {
		t.Fatalf("purchase without a card answered %q", mt)
	}
}

func TestServeCardPaymentEmbedded(t *testing.T) {
	t.Parallel()
	h := bootCards(t, true)
	phone := h.newPhone()
	password := h.bind(phone)
	h.send(phone, "106580088001", "VIP K")
	code := codeOf(t, h.reply(phone, 2))
	h.send(phone, "106580088001", code+" "+password)
	if receipt := h.reply(phone, 3); !strings.Contains(receipt, "15.00") || !strings.Contains(receipt, "支付成功") {
		t.Fatalf("receipt %q", receipt)
	}
	if strings.Contains(h.logs.String(), password) || strings.Contains(h.logs.String(), testPAN) {
		t.Fatal("a secret is in the logs")
	}
}

// admin calls the card admin endpoint and returns the status and the
// decoded JSON body.
func (h *cardHarness) admin(method, path, token, body string) (int, string) {
	h.t.Helper()
	req, err := http.NewRequest(method, "http://"+h.g.AdminAddr+path, strings.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func TestServeCardAdminEndpoint(t *testing.T) {
	t.Parallel()
	h := bootCards(t, false)
	if h.g.AdminAddr == "" {
		t.Fatal("the card admin endpoint is not served")
	}
	phone := h.newPhone()
	owner := fmt.Sprintf(`{"msisdn":%q,"name":%q,"id_number":%q}`, phone, testOwner, testOwnerID)
	bind := fmt.Sprintf(`{"msisdn":%q,"pan":%q,"name":%q,"id_number":%q}`, phone, testPAN, testOwner, testOwnerID)
	last4 := fmt.Sprintf(`{"msisdn":%q,"last4":%q}`, phone, testPAN[len(testPAN)-4:])
	tests := []struct {
		name, method, path, token, body string
		status                          int
		want                            string // in the response body
	}{
		{"no token", "GET", "/admin/cards?msisdn=" + phone, "", "", 401, "unauthorized"},
		{"wrong token", "GET", "/admin/cards?msisdn=" + phone, "admin-token-admin-tokeX", "", 401, "unauthorized"},
		{"bind before the owner is known", "POST", "/admin/cards/bind", testAdminToken, bind, 422, "unknown_owner"},
		{"register the owner", "POST", "/admin/owners", testAdminToken, owner, 200, "ok"},
		{"holder is not the owner", "POST", "/admin/cards/bind", testAdminToken,
			fmt.Sprintf(`{"msisdn":%q,"pan":%q,"name":"李四","id_number":%q}`, phone, testPAN, testOwnerID), 422, "owner_mismatch"},
		{"bad card number", "POST", "/admin/cards/bind", testAdminToken,
			fmt.Sprintf(`{"msisdn":%q,"pan":"6222021234567881235","name":%q,"id_number":%q}`, phone, testOwner, testOwnerID), 400, "bad_card_number"},
		{"bind", "POST", "/admin/cards/bind", testAdminToken, bind, 201, `"default":true`},
		{"bind again", "POST", "/admin/cards/bind", testAdminToken, bind, 409, "card_already_bound"},
		{"list", "GET", "/admin/cards?msisdn=" + phone, testAdminToken, "", 200, "622202*********1234"},
		{"default", "POST", "/admin/cards/default", testAdminToken, last4, 200, "ok"},
		{"unlock", "POST", "/admin/wallet/unlock", testAdminToken, fmt.Sprintf(`{"msisdn":%q}`, phone), 200, "ok"},
		{"unbind an unknown card", "POST", "/admin/cards/unbind", testAdminToken, fmt.Sprintf(`{"msisdn":%q,"last4":"9999"}`, phone), 404, "no_such_card"},
		{"unknown field", "POST", "/admin/cards/unbind", testAdminToken, `{"msisdn":"1","pin":"1"}`, 400, "bad_request"},
		{"unbind", "POST", "/admin/cards/unbind", testAdminToken, last4, 200, "ok"},
		{"list after unbind", "GET", "/admin/cards?msisdn=" + phone, testAdminToken, "", 200, "[]"},
	}
	for _, tt := range tests {
		status, body := h.admin(tt.method, tt.path, tt.token, tt.body)
		if status != tt.status || !strings.Contains(body, tt.want) {
			t.Fatalf("%s: %d %s, want %d with %q", tt.name, status, body, tt.status, tt.want)
		}
		if strings.Contains(body, testPAN) || strings.Contains(body, testOwnerID) {
			t.Fatalf("%s: the response carries the card or ID number: %s", tt.name, body)
		}
		if !json.Valid([]byte(body)) {
			t.Fatalf("%s: not JSON: %s", tt.name, body)
		}
	}
	for _, secret := range []string{testPAN, testOwnerID} {
		if strings.Contains(h.logs.String(), secret) {
			t.Errorf("secret %s… in the logs", secret[:2])
		}
		if found := h.findSecret(secret); len(found) > 0 {
			t.Errorf("secret %s… in the database at %v", secret[:2], found)
		}
	}
}

// TestServeCardGatewayLeaksNothing boots the gateway with card payments and
// the admin endpoint, uses both, stops it, and checks that every goroutine
// it started has ended. Not parallel: the leak check sees the whole process.
func TestServeCardGatewayLeaksNothing(t *testing.T) {
	before := goleak.IgnoreCurrent()
	t.Cleanup(func() {
		http.DefaultClient.CloseIdleConnections()
		goleak.VerifyNone(t, before)
	})
	h := bootCards(t, false)
	phone := h.newPhone()
	password := h.bind(phone)
	h.send(phone, "106580088001", "VIP K")
	code := codeOf(t, h.reply(phone, 2))
	h.send(phone, "106580088001", code+" "+password)
	h.reply(phone, 3)
	if status, body := h.admin("GET", "/admin/cards?msisdn="+phone, testAdminToken, ""); status != 200 {
		t.Fatalf("admin list: %d %s", status, body)
	}
	h.stop()
}
