package ussd_test

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/clock"
	"github.com/carrierbill/carrierbill/msisdn"
	"github.com/carrierbill/carrierbill/smpp"
	"github.com/carrierbill/carrierbill/sms"
	"github.com/carrierbill/carrierbill/stores"
	"github.com/carrierbill/carrierbill/ussd"
)

// env is the USSD channel on the embedded store and the in-process Redis,
// on a fake clock, driven message by message: ConsumeUSSD stores, the SMS
// channel's Drain hands it to the menu (as the gateway's workers do).
type env struct {
	t       testing.TB
	ctx     context.Context
	clk     *clock.Fake
	set     *stores.Set
	e       *billing.Engine
	ch      *sms.Channel
	svc     *ussd.Service
	mu      sync.Mutex
	replies []smpp.USSDReply
}

func newEnv(t testing.TB, merchants int, opts ...func(*ussd.Options)) *env {
	t.Helper()
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC))
	set, err := stores.Open(ctx, stores.Options{DataDir: t.TempDir(), Limiter: true, Clock: clk,
		Accounts: billing.AccountsOptions{AutoOpen: true, CreditLimit: billing.Yuan(1000)}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { set.Close() })
	cfg := billing.DefaultConfig()
	cfg.MinInterval = 0
	vip := billing.DefaultMerchant("8001", "星辰游戏")
	vip.OpenAmount = true
	vip.Products = []billing.Product{{Keyword: "VIP", Name: "月度会员", Amount: billing.Yuan(15)}, {Keyword: "COIN", Name: "金币", Amount: billing.Yuan(6)}}
	cfg.Merchants = []billing.Merchant{vip}
	for i := 1; i < merchants; i++ {
		m := billing.DefaultMerchant(fmt.Sprintf("%d", 8001+i), fmt.Sprintf("商户%02d号店", i))
		m.OpenAmount = true
		cfg.Merchants = append(cfg.Merchants, m)
	}
	v := &env{t: t, ctx: ctx, clk: clk, set: set}
	plan := msisdn.DefaultPlan()
	v.e, v.ch, err = sms.NewEngine(billing.Options{Config: cfg, Store: set.Billing, Charger: set.Accounts.(billing.Charger), Limiter: set.Limiter, Clock: clk},
		sms.TextConfig{}, sms.Options{Normalize: plan.Normalize, Divert: func(ctx context.Context, mo billing.InboundMO) (billing.Result, bool, error) {
			return v.svc.Divert(ctx, mo)
		}})
	if err != nil {
		t.Fatal(err)
	}
	opt, _ := goredis.ParseURL("redis://" + set.EmbeddedRedis)
	rc := goredis.NewClient(opt)
	t.Cleanup(func() { rc.Close() })
	o := ussd.Options{Engine: v.e, Refusals: sms.Default(), Normalize: plan.Normalize,
		Sessions: &ussd.RedisSessions{Client: rc, Prefix: "t:", TTL: time.Hour},
		Reply: func(_ context.Context, r smpp.USSDReply) error {
			v.mu.Lock()
			v.replies = append(v.replies, r)
			v.mu.Unlock()
			return nil
		}}
	for _, f := range opts {
		f(&o)
	}
	v.svc, err = ussd.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// send stores one USSD message and drains; it returns the screens sent.
func (v *env) send(from string, seq byte, op byte, text string) []smpp.USSDReply {
	v.t.Helper()
	v.mu.Lock()
	n := len(v.replies)
	v.mu.Unlock()
	if err := v.svc.ConsumeUSSD(v.ctx, smpp.USSD{Bind: "b1", From: from, SourceTON: 1, SourceNPI: 1, To: "*100#", Op: op, Text: text,
		SessionInfo: []byte{seq, 0}, UserMessageRef: -1}); err != nil {
		v.t.Fatalf("ConsumeUSSD: %v", err)
	}
	if _, err := v.ch.Drain(v.ctx); err != nil {
		v.t.Fatalf("Drain: %v", err)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]smpp.USSDReply(nil), v.replies[n:]...)
}

// screen sends and returns the one screen it produced.
func (v *env) screen(from string, seq, op byte, text string) smpp.USSDReply {
	v.t.Helper()
	rs := v.send(from, seq, op, text)
	if len(rs) != 1 {
		v.t.Fatalf("%q: %d screens, want 1", text, len(rs))
	}
	if !ussd.Fits(rs[0].Text) {
		v.t.Fatalf("screen does not fit 160 octets: %q", rs[0].Text)
	}
	return rs[0]
}

func (v *env) open(from string, seq byte) smpp.USSDReply { return v.screen(from, seq, 1, "*100#") }
func (v *env) answer(from string, seq byte, text string) smpp.USSDReply {
	return v.screen(from, seq, 18, text)
}

var sixDigits = regexp.MustCompile(`[0-9]{6}`)

// code reads the confirmation code from the last prompt MT to msisdn.
func (v *env) code(msisdn string) string {
	v.t.Helper()
	ms, err := v.set.Billing.ClaimOutbox(v.ctx, v.clk.Now(), v.clk.Now().Add(time.Minute), 100)
	if err != nil {
		v.t.Fatal(err)
	}
	code := ""
	for _, m := range ms {
		if m.MSISDN == msisdn && m.Kind == billing.OutboxPrompt {
			code = sixDigits.FindString(m.Body)
		}
	}
	if code == "" {
		v.t.Fatalf("no prompt MT to %s", msisdn)
	}
	return code
}

func TestPurchaseConfirmedBySMSCode(t *testing.T) {
	v := newEnv(t, 1)
	from := "8613900000001"
	home := v.open(from, 7)
	if home.Op != 2 || !strings.Contains(home.Text, "1 购买") || !strings.Contains(home.Text, "2 额度查询") || strings.Contains(home.Text, "6 ") {
		t.Fatalf("home screen %+v", home)
	}
	if !strings.Contains(v.answer(from, 7, "1").Text, "1 星辰游戏") {
		t.Fatal("no merchant list")
	}
	if s := v.answer(from, 7, "1").Text; !strings.Contains(s, "1 月度会员 15.00元") || !strings.Contains(s, "3 其他金额") {
		t.Fatalf("products %q", s)
	}
	if s := v.answer(from, 7, "1").Text; !strings.Contains(s, "星辰游戏") || !strings.Contains(s, "月度会员") || !strings.Contains(s, "15.00") {
		t.Fatalf("confirm %q", s)
	}
	if s := v.answer(from, 7, "1").Text; !strings.Contains(s, "验证码") {
		t.Fatalf("code screen %q", s)
	}
	code := v.code("+" + from)
	// A wrong code keeps the screen (the SMS channel's reason text).
	wrong := "000000"
	if wrong == code {
		wrong = "111111"
	}
	if s := v.answer(from, 7, wrong); s.Op != 2 || !strings.Contains(s.Text, "验证码错误，还可尝试2次") {
		t.Fatalf("wrong code: %+v", s)
	}
	paid := v.answer(from, 7, code)
	if paid.Op != 17 || !strings.Contains(paid.Text, "支付成功") || !strings.Contains(paid.Text, "15.00") {
		t.Fatalf("paid: %+v", paid)
	}
	if paid.SessionInfo[1]&1 != 1 {
		t.Fatal("the closing screen's its_session_info does not end the session")
	}
	q, err := v.e.Query(v.ctx, billing.QueryRequest{MSISDN: "+" + from})
	if err != nil || len(q.Payments) != 1 || q.Payments[0].Amount != billing.Yuan(15) {
		t.Fatalf("payments %+v %v", q.Payments, err)
	}
	// The dialog is over: a late answer gets a clean end.
	if s := v.answer(from, 7, "1"); s.Op != 17 || !strings.Contains(s.Text, "会话已结束") {
		t.Fatalf("late answer %+v", s)
	}
}

func TestBadInputNeverCharges(t *testing.T) {
	v := newEnv(t, 1)
	from := "8613900000002"
	v.open(from, 3)
	for _, in := range []string{"", "   ", "7", "abc", strings.Repeat("1", 40), "１", "\x01", "99"} {
		s := v.answer(from, 3, in)
		if s.Op != 2 {
			t.Fatalf("%q ended the dialog: %+v", in, s)
		}
		if in != "１" && !strings.Contains(s.Text, "输入") {
			t.Fatalf("%q: no clear screen: %q", in, s.Text)
		}
	}
	// An unknown session: a clean end.
	if s := v.answer(from, 200, "1"); s.Op != 17 || !strings.Contains(s.Text, "会话已结束") {
		t.Fatalf("unknown session %+v", s)
	}
	// Amount out of range shows the SMS channel's reason and asks again.
	v.open(from, 4)
	v.answer(from, 4, "1")
	v.answer(from, 4, "1")
	v.answer(from, 4, "3")
	if s := v.answer(from, 4, "99999"); s.Op != 2 || !strings.Contains(s.Text, sms.Default().Refusal(billing.Event{Reason: billing.ReasonAmountOutOfRange,
		Merchant: ptr(v.e.Merchant("8001"))})) {
		t.Fatalf("out of range %+v", s)
	}
	q, _ := v.e.Query(v.ctx, billing.QueryRequest{MSISDN: "+" + from})
	if len(q.Payments) != 0 {
		t.Fatal("bad input charged")
	}
}

func ptr(m billing.Merchant, _ bool) *billing.Merchant { return &m }

func TestPagingBackHomeAndTimeout(t *testing.T) {
	v := newEnv(t, 20)
	from := "8613900000003"
	v.open(from, 5)
	p1 := v.answer(from, 5, "1").Text
	if !strings.Contains(p1, "9 更多") || !strings.Contains(p1, "1 星辰游戏") {
		t.Fatalf("page 1 %q", p1)
	}
	p2 := v.answer(from, 5, "9").Text
	if p2 == p1 || strings.Contains(p2, "星辰游戏") {
		t.Fatalf("page 2 %q", p2)
	}
	if n, _ := ussd.Size(p2); n > ussd.MaxUCS2 {
		t.Fatalf("page 2 is %d UCS2 characters", n)
	}
	// 1 on page 2 is the first merchant of page 2 (open amounts only).
	if s := v.answer(from, 5, "1").Text; !strings.Contains(s, "请输入金额") {
		t.Fatalf("chose the first of page 2, got %q", s)
	}
	if s := v.answer(from, 5, "0").Text; s != p2 {
		t.Fatalf("back: %q, want page 2 %q", s, p2)
	}
	if s := v.answer(from, 5, "00").Text; !strings.Contains(s, "1 购买") {
		t.Fatalf("home: %q", s)
	}
	v.clk.Advance(3 * time.Minute)
	if s := v.answer(from, 5, "1"); s.Op != 17 || !strings.Contains(s.Text, "超时") {
		t.Fatalf("timeout %+v", s)
	}
}

func TestAbortAndSecondDialog(t *testing.T) {
	v := newEnv(t, 1)
	from := "8613900000004"
	v.open(from, 1)
	v.answer(from, 1, "1")
	// A second dialog from the same number takes over; the first is over.
	if s := v.open(from, 2); !strings.Contains(s.Text, "1 购买") {
		t.Fatalf("second dialog %q", s.Text)
	}
	if s := v.answer(from, 1, "1"); s.Op != 17 {
		t.Fatalf("the replaced dialog goes on: %+v", s)
	}
	if rs := v.send(from, 2, 0x81, ""); len(rs) != 0 {
		t.Fatalf("abort answered %+v", rs)
	}
	if s := v.answer(from, 2, "1"); s.Op != 17 || !strings.Contains(s.Text, "会话已结束") {
		t.Fatalf("after abort %+v", s)
	}
}

func TestQuotaAndHistory(t *testing.T) {
	v := newEnv(t, 1)
	from := "8613900000005"
	v.open(from, 9)
	s := v.answer(from, 9, "2")
	if s.Op != 17 || !strings.Contains(s.Text, "今日剩余额度50.00元") || !strings.Contains(s.Text, "本月剩余额度100.00元") {
		t.Fatalf("quota %+v", s)
	}
	v.open(from, 10)
	if s := v.answer(from, 10, "3"); s.Op != 17 || !strings.Contains(s.Text, "暂无") {
		t.Fatalf("history %+v", s)
	}
}

func TestScreenSizes(t *testing.T) {
	for _, c := range []struct {
		s    string
		n    int
		gsm  bool
		fits bool
	}{
		{strings.Repeat("a", 182), 182, true, true},
		{strings.Repeat("a", 183), 183, true, false},
		{strings.Repeat("€", 91), 182, true, true},
		{strings.Repeat("中", 80), 80, false, true},
		{strings.Repeat("中", 81), 81, false, false},
		{"😀", 2, false, true},
	} {
		n, gsm := ussd.Size(c.s)
		if n != c.n || gsm != c.gsm || ussd.Fits(c.s) != c.fits {
			t.Errorf("%q: %d %v %v", c.s[:3], n, gsm, ussd.Fits(c.s))
		}
	}
	long := strings.Repeat("一二三四五六七八九十\n", 30)
	pages := ussd.Paginate(long, "9 更多", "")
	if len(pages) < 4 {
		t.Fatalf("%d pages", len(pages))
	}
	var all string
	for i, p := range pages {
		if !ussd.Fits(p) {
			t.Fatalf("page %d does not fit: %q", i, p)
		}
		if i < len(pages)-1 && !strings.HasSuffix(p, "9 更多") {
			t.Fatalf("page %d has no more: %q", i, p)
		}
		all += strings.TrimSuffix(p, "\n9 更多") + "\n"
	}
	if strings.ReplaceAll(all, "\n", "") != strings.ReplaceAll(long, "\n", "") {
		t.Fatal("paging lost text")
	}
	for name, text := range ussd.DefaultTexts() {
		if !ussd.Fits(text) {
			t.Errorf("default text %s does not fit a screen", name)
		}
	}
}

func FuzzParseInput(f *testing.F) {
	for _, s := range []string{"", "0", "00", "9", "1", "１２", "123456", strings.Repeat("x", 200), "\xff", "10.5元"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		in, err := ussd.ParseInput(s)
		if err == nil && (in.Text == "" || len([]rune(in.Text)) > ussd.MaxInput) {
			t.Fatalf("%q read as %q", s, in.Text)
		}
		_ = in.Option(8)
	})
}

// FuzzMenu drives the real menu (engine, store, Redis) with any answers:
// it never panics, every screen fits, and nothing is ever charged (a code
// cannot be guessed).
func FuzzMenu(f *testing.F) {
	for _, s := range []string{"1*1*1*1*123456", "1*9*9*0*00*2", "3", "1*1*3*10.5*1*0*0", "7*00*0*9", "1*1*1*1*0*1*1"} {
		f.Add(s)
	}
	v := newEnv(f, 12)
	var n byte
	f.Fuzz(func(t *testing.T, script string) {
		v.t = t
		n++
		from := fmt.Sprintf("86139000%05d", int(n)+100)
		v.open(from, n)
		for i, a := range strings.Split(script, "*") {
			if i > 12 {
				break
			}
			rs := v.send(from, n, 18, a)
			for _, r := range rs {
				if !ussd.Fits(r.Text) {
					t.Fatalf("screen does not fit: %q", r.Text)
				}
			}
		}
		q, err := v.e.Query(v.ctx, billing.QueryRequest{MSISDN: "+" + from})
		if err != nil || len(q.Payments) != 0 {
			t.Fatalf("charged: %+v %v", q.Payments, err)
		}
	})
}

// subs is a subscriptions provider in memory (the menu's own interface).
type subs struct {
	mu   sync.Mutex
	list []ussd.Subscription
}

func (s *subs) List(context.Context, string) ([]ussd.Subscription, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]ussd.Subscription(nil), s.list...), nil
}

func (s *subs) Cancel(_ context.Context, _ string, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, x := range s.list {
		if x.ID == id {
			s.list = append(s.list[:i], s.list[i+1:]...)
		}
	}
	return nil
}

func TestSubscriptionsMenu(t *testing.T) {
	p := &subs{list: []ussd.Subscription{{ID: "1", Name: "星辰游戏 月度会员", Amount: billing.Yuan(15), Period: "月"}, {ID: "2", Name: "悦读小说 章节包", Amount: billing.Yuan(2), Period: "月"}}}
	v := newEnv(t, 1, func(o *ussd.Options) { o.Subscriptions = p })
	from := "8613900000006"
	if s := v.open(from, 11).Text; !strings.Contains(s, "6 我的订阅") {
		t.Fatalf("home without menu 6: %q", s)
	}
	if s := v.answer(from, 11, "6").Text; !strings.Contains(s, "2 悦读小说 章节包 2.00元/月") {
		t.Fatalf("list %q", s)
	}
	if s := v.answer(from, 11, "2").Text; !strings.Contains(s, "1 退订") {
		t.Fatalf("confirm %q", s)
	}
	if s := v.answer(from, 11, "1"); s.Op != 17 || !strings.Contains(s.Text, "已退订悦读小说 章节包") {
		t.Fatalf("cancelled %+v", s)
	}
	if l, _ := p.List(v.ctx, ""); len(l) != 1 || l[0].ID != "1" {
		t.Fatalf("left %+v", l)
	}
	// Without a provider there is no menu 6, and 6 is an unknown option.
	w := newEnv(t, 1)
	if s := w.open(from, 12).Text; strings.Contains(s, "6 ") {
		t.Fatalf("menu 6 without a provider: %q", s)
	}
	if s := w.answer(from, 12, "6"); s.Op != 2 || !strings.Contains(s.Text, "输入无效") {
		t.Fatalf("6 without a provider: %+v", s)
	}
}
