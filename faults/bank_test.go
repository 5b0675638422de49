package faults

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/carrierbill/carrierbill/bank"
	"github.com/carrierbill/carrierbill/bank/banksim"
	"github.com/carrierbill/carrierbill/bank/httpbank/httpbanktest"
	"github.com/carrierbill/carrierbill/clock"
)

// The bank scenario: card payments through the bank adapter of the
// contract (bank.adapter: http) to a reference bank gateway in this
// process, which misbehaves: it takes the money and never answers, takes
// it and answers a timeout, does not answer at all, declines, and fails
// the recovery sweep's status question.

const (
	bankKey    = "faults-bank-key-0123456789abcdef0123"
	adminToken = "faults-admin-token-0123456789"
)

type cardHolder struct {
	token, password string
}

// withBank starts the bank and points the gateway's configuration at it.
func (e *env) withBank() {
	e.bank = banksim.New(clock.Real{})
	e.bankSrv = httpbanktest.New(e.bank, "carrierbill", []byte(bankKey), clock.Real{})
	e.t.Cleanup(e.bankSrv.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		e.t.Fatal(err)
	}
	e.adminAddr = ln.Addr().String()
	ln.Close()
	e.extraYAML = fmt.Sprintf("bank: {adapter: http, url: %q, key_id: carrierbill, timeout: 2s}\nadmin: {listen: %q}\n", e.bankSrv.URL, e.adminAddr)
	e.extraEnv = []string{
		"CARRIERBILL_CARD_KEY=faults-card-key-0123456789abcdef0123456789",
		"CARRIERBILL_WALLET_PEPPER=faults-pepper-0123456789",
		"CARRIERBILL_BANK_KEY=" + bankKey,
		"CARRIERBILL_ADMIN_TOKEN=" + adminToken,
	}
	e.cards = map[string]cardHolder{}
}

var initialPassword = regexp.MustCompile(`密码([0-9]{6})([^0-9]|$)`)

// passwordIn finds the initial wallet password in the MT of a binding.
func passwordIn(text string) (string, bool) {
	m := initialPassword.FindStringSubmatch(text)
	if m == nil {
		return "", false
	}
	return m[1], true
}

// luhn completes a card number with its check digit.
func luhn(body string) string {
	sum := 0
	for i := len(body) - 1; i >= 0; i-- {
		d := int(body[i] - '0')
		if (len(body)-1-i)%2 == 0 {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return body + fmt.Sprint((10-sum%10)%10)
}

func (e *env) admin(path string, body any) error {
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, "http://"+e.adminAddr+path, bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+adminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		return fmt.Errorf("%s: %d %v", path, resp.StatusCode, m)
	}
	return nil
}

// bindCards opens a card at the bank for each of the first n subscribers,
// registers the owner, binds the card and reads the initial wallet
// password from its MT.
func (e *env) bindCards(n int) {
	for i := range n {
		phone := e.traffic.phone(i)
		name, id := "张三", fmt.Sprintf("11010119900307%04d", i)
		pan := luhn(fmt.Sprintf("622202%012d", i))
		token, err := e.bank.AddCard(pan, name, id, 1_000_000)
		if err != nil {
			e.t.Fatal(err)
		}
		from := e.mts.since(phone)
		if err := e.admin("/admin/owners", map[string]string{"msisdn": phone, "name": name, "id_number": id}); err != nil {
			e.t.Fatal(err)
		}
		if err := e.admin("/admin/cards/bind", map[string]string{"msisdn": phone, "pan": pan, "name": name, "id_number": id}); err != nil {
			e.t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		pw, ok := e.mts.waitMatch(ctx, phone, from, passwordIn)
		cancel()
		if !ok {
			e.t.Fatalf("no initial wallet password MT to %s: %q", phone, e.mts.texts(phone))
		}
		e.cards[canonical(phone)] = cardHolder{token: token, password: pw}
	}
}

// bankFaults: card payments under a misbehaving bank.
func (e *env) bankFaults(rounds, cards int) {
	e.withBank()
	e.start("gw1")
	e.bindCards(cards)
	e.traffic.cardPhones = cards
	e.traffic.start([]string{"gw1"}, false)
	for i := range rounds {
		e.pause(500*time.Millisecond, 2*time.Second)
		holder := e.cards[canonical(e.traffic.phone(e.rng.Intn(cards)))]
		switch i % 5 {
		case 0:
			e.bankSrv.StallNext("debit", true)
			e.fault("bank debited, never answered")
		case 1:
			e.bank.TimeoutAfterDebit(holder.token)
			e.fault("bank debited, answered timeout")
		case 2:
			e.bankSrv.StallNext("debit", false)
			e.fault("bank never answered, no debit")
		case 3:
			e.bank.FailNext(holder.token, bank.ErrDeclined)
			e.fault("bank declined")
		case 4:
			e.bank.FailStatusNext(bank.ErrTimeout)
			e.fault("bank status question timed out")
		}
	}
	e.pause(time.Second, 2*time.Second)
}

// checkBank: every succeeded card charge debited exactly once at the bank,
// every failed one never.
func (e *env) checkBank(db store) {
	if e.bank == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r, err := db.rows(ctx, `SELECT idempotency_key, status FROM charges WHERE method = 'card'`)
	if err != nil {
		e.t.Fatal(err)
	}
	defer r.Close()
	bad := 0
	for r.Next() {
		var key, status string
		if err := r.Scan(&key, &status); err != nil {
			e.t.Fatal(err)
		}
		want := 0
		if status == "succeeded" {
			want = 1
		}
		if n := e.bank.Debits(key); n != want {
			if bad++; bad <= 10 {
				e.t.Errorf("card charge %s %s: debited %d times at the bank, want %d", strings.TrimSpace(key), status, n, want)
			}
		}
	}
	if err := r.Err(); err != nil {
		e.t.Fatal(err)
	}
}
