package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/carrierbill/carrierbill/bank/banksim"
	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/clock"
	"github.com/carrierbill/carrierbill/internal/dbtest"
	"github.com/carrierbill/carrierbill/smpp/smsc"
	"github.com/carrierbill/carrierbill/ussd"
)

// USSD end to end (issue 12): the real gateway on PostgreSQL and Redis,
// dialogs over the built-in SMSC simulator (ussd_service_op) and over the
// HTTP aggregator callback.

const testUSSDSecret = "ussd-test-secret"

type ussdHarness struct {
	*cardHarness
	db, redisURL, prefix string
}

// bootUSSD starts a gateway with USSD on (SMPP and HTTP) and card payments
// on the simulated bank; extra YAML is appended.
func bootUSSD(t *testing.T, db, redisURL, prefix, extra string) *ussdHarness {
	t.Helper()
	yaml := fmt.Sprintf("database: {url: %q}\nredis: {url: %q, prefix: %q, timeout: 3s}\naccounts: {auto_open: true}\nlog: {level: debug}\n"+
		"ussd: {enabled: true, http: {listen: \"127.0.0.1:0\", wait: 40s}}\n%s%s", db, redisURL, prefix, testMerchants, extra)
	logs := &syncBuffer{}
	b := banksim.New(clock.Real{})
	tok, err := b.AddCard(testPAN, testOwner, testOwnerID, billing.Yuan(100))
	if err != nil {
		t.Fatal(err)
	}
	h := bootWith(t, yaml, logs, GatewayOptions{Bank: b, CardKey: []byte(testCardKey), WalletPepper: []byte(testPepper),
		AdminToken: testAdminToken, USSDSecret: testUSSDSecret})
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(logs.String())
		}
	})
	if h.g.USSD == nil || h.g.USSDAddr == "" {
		t.Fatal("USSD is off in the gateway")
	}
	return &ussdHarness{cardHarness: &cardHarness{harness: h, bank: b, logs: logs, token: tok}, db: db, redisURL: redisURL, prefix: prefix}
}

func newUSSD(t *testing.T, extra string) *ussdHarness {
	_, prefix := dbtest.Redis(t)
	return bootUSSD(t, dbtest.Postgres(t), dbtest.RedisURL(), prefix, extra)
}

// post sends one aggregator callback and returns the reply.
func (h *ussdHarness) post(session, phone, text string) string {
	h.t.Helper()
	form := url.Values{"sessionId": {session}, "serviceCode": {"*100#"}, "phoneNumber": {phone}, "networkCode": {"46000"}, "text": {text}}
	req, _ := http.NewRequest("POST", "http://"+h.g.USSDAddr+"/ussd", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-USSD-Secret", testUSSDSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		h.t.Fatalf("callback %q: %d %s", text, resp.StatusCode, b)
	}
	s := string(b)
	if !strings.HasPrefix(s, "CON ") && !strings.HasPrefix(s, "END ") {
		h.t.Fatalf("callback %q: reply %q is neither CON nor END", text, s)
	}
	if !ussd.Fits(s[4:]) {
		h.t.Fatalf("screen does not fit: %q", s)
	}
	return s
}

// next waits for a dialog's next screen and checks it fits 160 octets.
func next(t *testing.T, d *smsc.Dialog) smsc.USSDScreen {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sc, err := d.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if sc.Octets > 160 {
		t.Fatalf("screen of %d octets: %q", sc.Octets, sc.Text)
	}
	return sc
}

func answer(t *testing.T, d *smsc.Dialog, text string) smsc.USSDScreen {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if st, err := d.Answer(ctx, text); err != nil || st != 0 {
		t.Fatalf("answer %q: status %#x %v", text, uint32(st), err)
	}
	return next(t, d)
}

func dial(t *testing.T, sim *smsc.Server, phone string) (*smsc.Dialog, smsc.USSDScreen) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d, st, err := sim.OpenUSSD(ctx, phone, "*100#", "*100#", smsc.DialogOptions{})
	if err != nil || st != 0 {
		t.Fatalf("open: status %#x %v", uint32(st), err)
	}
	return d, next(t, d)
}

// TestUSSDOnTheEmbeddedStores: with no database and no Redis configured,
// USSD keeps its sessions in the in-process Redis (reached through memory,
// like the risk rules) and a purchase over a dialog is charged.
func TestUSSDOnTheEmbeddedStores(t *testing.T) {
	t.Parallel()
	h := bootUSSD(t, "", "", "carrierbill:", "")
	if h.g.stores.EmbeddedRedis == "" {
		t.Fatal("the gateway did not start the in-process Redis")
	}
	phone := h.newPhone()
	d, _ := dial(t, h.sim, phone)
	answer(t, d, "1")
	answer(t, d, "1")
	answer(t, d, "1")
	if sc := answer(t, d, "1"); sc.Op != 2 || !strings.Contains(sc.Text, "验证码") {
		t.Fatalf("code screen %+v", sc)
	}
	if paid := answer(t, d, codeOf(t, h.reply(phone, 1))); paid.Op != 17 || !strings.Contains(paid.Text, "支付成功") {
		t.Fatalf("paid %+v", paid)
	}
}

func TestUSSDOverSMPPPurchaseQuotaHistory(t *testing.T) {
	t.Parallel()
	h := newUSSD(t, "")
	phone := h.newPhone()
	d, home := dial(t, h.sim, phone)
	if home.Op != 2 || !strings.Contains(home.Text, "1 购买") || !strings.Contains(home.Text, "4 我的银行卡") {
		t.Fatalf("home %+v", home)
	}
	answer(t, d, "1")
	answer(t, d, "1")
	if sc := answer(t, d, "1"); !strings.Contains(sc.Text, "月度会员") || !strings.Contains(sc.Text, "15.00") {
		t.Fatalf("confirm %q", sc.Text)
	}
	if sc := answer(t, d, "1"); sc.Op != 2 || !strings.Contains(sc.Text, "验证码") {
		t.Fatalf("code screen %+v", sc)
	}
	code := codeOf(t, h.reply(phone, 1)) // the prompt SMS
	paid := answer(t, d, code)
	if paid.Op != 17 || !strings.Contains(paid.Text, "支付成功") {
		t.Fatalf("paid %+v", paid)
	}
	if !strings.Contains(h.reply(phone, 2), "支付成功") {
		t.Fatal("no receipt SMS")
	}
	d, _ = dial(t, h.sim, phone)
	if sc := answer(t, d, "2"); sc.Op != 17 || !strings.Contains(sc.Text, "今日剩余额度35.00元") {
		t.Fatalf("quota %+v", sc)
	}
	d, _ = dial(t, h.sim, phone)
	if sc := answer(t, d, "3"); sc.Op != 17 || !strings.Contains(sc.Text, "星辰游戏 15.00元") {
		t.Fatalf("history %+v", sc)
	}
	// A vendor's user abort ends the dialog; nothing more is sent to it.
	d, _ = dial(t, h.sim, phone)
	answer(t, d, "1")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if st, err := d.Abort(ctx); err != nil || st != 0 {
		t.Fatalf("abort: %#x %v", uint32(st), err)
	}
	if sc := answer(t, d, "1"); sc.Op != 17 || !strings.Contains(sc.Text, "会话已结束") {
		t.Fatalf("after abort %+v", sc)
	}
}

func TestUSSDOverHTTPCardPurchaseWithWalletPassword(t *testing.T) {
	t.Parallel()
	h := newUSSD(t, "")
	phone := h.newPhone()
	password := h.bind(phone) // MT #1: the binding SMS with the initial password
	sid := "ATUid_" + phone
	if s := h.post(sid, "+"+phone, ""); !strings.HasPrefix(s, "CON ") || !strings.Contains(s, "5 修改钱包密码") {
		t.Fatalf("home %q", s)
	}
	h.post(sid, "+"+phone, "1")
	h.post(sid, "+"+phone, "1*1")
	if s := h.post(sid, "+"+phone, "1*1*1"); !strings.Contains(s, "2 银行卡支付") {
		t.Fatalf("confirm %q", s)
	}
	if s := h.post(sid, "+"+phone, "1*1*1*2"); !strings.Contains(s, "钱包密码") || !strings.Contains(s, "尾号") {
		t.Fatalf("password screen %q", s)
	}
	// The aggregator repeats a request: the same screen, nothing applied twice.
	if s := h.post(sid, "+"+phone, "1*1*1*2"); !strings.Contains(s, "钱包密码") {
		t.Fatalf("repeat %q", s)
	}
	wrong := "000000"
	if wrong == password {
		wrong = "111111"
	}
	if s := h.post(sid, "+"+phone, "1*1*1*2*"+wrong); !strings.HasPrefix(s, "CON ") || !strings.Contains(s, "钱包密码错误") {
		t.Fatalf("wrong password %q", s)
	}
	s := h.post(sid, "+"+phone, "1*1*1*2*"+wrong+"*"+password)
	if !strings.HasPrefix(s, "END ") || !strings.Contains(s, "支付成功") {
		t.Fatalf("paid %q", s)
	}
	if bal, _ := h.bank.Balance(context.Background(), h.token); bal != billing.Yuan(85) {
		t.Fatalf("bank balance %v, want 85.00", bal)
	}
	// The password never travelled by SMS, is stored nowhere in clear and
	// never logged; nor is it in Redis.
	for _, mt := range h.sim.MTs() {
		if samePhone(mt.To, phone) && strings.Contains(mt.Text, "分钟内回复验证码") {
			t.Fatalf("a card order over USSD got an SMS prompt: %q", mt.Text)
		}
	}
	if where := h.findSecret(password); len(where) > 0 {
		t.Fatalf("the wallet password is stored in clear in %v", where)
	}
	if where := h.findSecret(wrong); len(where) > 0 {
		t.Fatalf("a wrong wallet password is stored in clear in %v", where)
	}
	if strings.Contains(h.logs.String(), password) || strings.Contains(h.logs.String(), "1*1*1*2*") {
		t.Fatal("the wallet password (or the answers) reached the log")
	}
	rc := redisClient(t, h.redisURL)
	for _, k := range rc.Keys(context.Background(), h.prefix+"*").Val() {
		if v, _ := rc.Get(context.Background(), k).Result(); strings.Contains(v, password) {
			t.Fatalf("the wallet password is in Redis under %s", k)
		}
	}
	// Change the wallet password in the session (menu 5).
	sid2 := sid + "b"
	h.post(sid2, "+"+phone, "")
	h.post(sid2, "+"+phone, "5")
	h.post(sid2, "+"+phone, "5*"+password)
	if s := h.post(sid2, "+"+phone, "5*"+password+"*246813"); !strings.HasPrefix(s, "END ") || !strings.Contains(s, "钱包密码已修改") {
		t.Fatalf("password change %q", s)
	}
	if where := h.findSecret("246813"); len(where) > 0 {
		t.Fatalf("the new wallet password is stored in clear in %v", where)
	}
	// Bad requests: no secret, unknown session, another number's session.
	form := url.Values{"sessionId": {"x"}, "phoneNumber": {"+" + phone}, "text": {""}}
	resp, err := http.PostForm("http://"+h.g.USSDAddr+"/ussd", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("no secret: %d", resp.StatusCode)
	}
	if s := h.post("never-seen", "+"+phone, "1*2"); !strings.HasPrefix(s, "END ") {
		t.Fatalf("unknown session %q", s)
	}
	if s := h.post(sid2, "+8613912345678", "5*1"); !strings.HasPrefix(s, "END ") {
		t.Fatalf("another number's session %q", s)
	}
}

func redisClient(t *testing.T, u string) *goredis.Client {
	opt, err := goredis.ParseURL(u)
	if err != nil {
		t.Fatal(err)
	}
	c := goredis.NewClient(opt)
	t.Cleanup(func() { c.Close() })
	return c
}

// A USSD payment and an SMS payment from the same number at once: the
// daily limit holds (15.00 + 10.00 > 20.00: exactly one is charged).
func TestUSSDRacesSMSWithinLimits(t *testing.T) {
	t.Parallel()
	h := newUSSD(t, "limits: {phone: {per_payment: \"20.00\", daily: \"20.00\", monthly: \"100.00\"}}\nfrequency: {min_interval: 0s}\n")
	for round := 0; round < 3; round++ {
		phone := h.newPhone()
		d, _ := dial(t, h.sim, phone)
		answer(t, d, "1")
		answer(t, d, "1")
		answer(t, d, "1")
		answer(t, d, "1")
		ussdCode := codeOf(t, h.reply(phone, 1))
		h.send(phone, "106580088001", "10")
		smsCode := codeOf(t, h.reply(phone, 2))
		var wg sync.WaitGroup
		wg.Add(2)
		var sc smsc.USSDScreen
		go func() { defer wg.Done(); h.send(phone, "106580088001", smsCode) }()
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			d.Answer(ctx, ussdCode)
		}()
		wg.Wait()
		sc = next(t, d)
		ussdPaid := strings.Contains(sc.Text, "支付成功")
		// Both handled: the SMS side answered (a refusal, or its receipt;
		// the USSD receipt is texted too).
		if ussdPaid {
			h.reply(phone, 4)
		} else {
			h.reply(phone, 3)
		}
		q, err := h.g.Engine.Query(context.Background(), billing.QueryRequest{MSISDN: "+" + phone})
		if err != nil || len(q.Payments) != 1 || q.Phone.Day < 0 {
			t.Fatalf("round %d: quota %+v, %d payments (want exactly one) %v", round, q.Phone, len(q.Payments), err)
		}
		if ussdPaid != (q.Payments[0].Amount == billing.Yuan(15)) {
			t.Fatalf("round %d: USSD screen %q but the payment is %s", round, sc.Text, q.Payments[0].Amount)
		}
		if !ussdPaid && !strings.Contains(sc.Text, "超出每日支付限额") {
			t.Fatalf("USSD refusal is not the SMS channel's reason: %q", sc.Text)
		}
	}
}

// A dialog goes on where it was after the gateway restarts: its session is
// in Redis.
func TestUSSDSessionSurvivesRestart(t *testing.T) {
	t.Parallel()
	_, prefix := dbtest.Redis(t)
	db := dbtest.Postgres(t)
	h := bootUSSD(t, db, dbtest.RedisURL(), prefix, "")
	phone := h.newPhone()
	sid := "restart-" + phone
	h.post(sid, "+"+phone, "")
	if s := h.post(sid, "+"+phone, "1"); !strings.Contains(s, "星辰游戏") {
		t.Fatalf("merchants %q", s)
	}
	// SMPP too.
	phone2 := h.newPhone()
	d, _ := dial(t, h.sim, phone2)
	answer(t, d, "1")
	h.stop()
	h2 := bootUSSD(t, db, dbtest.RedisURL(), prefix, "")
	h2.phone.Store(h.phone.Load())
	if s := h2.post(sid, "+"+phone, "1*1"); !strings.HasPrefix(s, "CON ") || !strings.Contains(s, "月度会员") {
		t.Fatalf("after restart %q", s)
	}
	// The SMPP dialog (same its_session_info) goes on against the new simulator.
	d2 := h2.sim.Dialog(phone2, "*100#", d.Seq, smsc.DialogOptions{})
	if sc := answer(t, d2, "1"); sc.Op != 2 || !strings.Contains(sc.Text, "月度会员") {
		t.Fatalf("SMPP after restart %+v", sc)
	}
}
