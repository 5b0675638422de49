package sms

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/carrierbill/carrierbill/billing"
)

// The SMS texts: every word a subscriber reads in an MT is here, rendered
// from the engine's typed events (Texts implements billing.Notifier). An
// operator overrides any template by name (config `texts:`); an override
// must keep the placeholders its meaning depends on.

type textDef struct {
	text     string
	required []string // placeholders an override must keep
}

// defaultTexts are the Chinese defaults. Placeholders: {merchant},
// {product}, {amount} (12.34, the template writes 元), {code}, {validity}
// (minutes), {txn}, {day_left}, {month_left}, {per_payment}, {daily},
// {monthly}, {min}, {max}, {products}, {attempts_left}, {wait} (a wait in
// words: 5分钟, 1小时20分钟, 3天), {payments}, {date}, {last4}, {balance},
// {masked}, {password}, {refunded}, {hotline} (the hotline sentence, empty
// when no hotline is configured).
//
// A name with the suffix "_open" is used for an open-amount order (no
// product: the merchant is named once) and falls back to the name without
// it.
var defaultTexts = map[string]textDef{
	"prompt": {"您正在向{merchant}购买{product}，金额{amount}元。请在{validity}分钟内回复验证码{code}确认支付，不购买请忽略。",
		[]string{"code"}},
	"prompt_open": {"您正在向{merchant}支付{amount}元。请在{validity}分钟内回复验证码{code}确认支付，不购买请忽略。",
		[]string{"code"}},
	"receipt": {"支付成功：{merchant}，{product}，金额{amount}元，交易号{txn}。今日剩余额度{day_left}元，本月剩余额度{month_left}元。",
		[]string{"amount", "txn"}},
	"receipt_open": {"支付成功：{merchant}，金额{amount}元，交易号{txn}。今日剩余额度{day_left}元，本月剩余额度{month_left}元。",
		[]string{"amount", "txn"}},
	"query":              {"今日剩余额度{day_left}元，本月剩余额度{month_left}元。最近支付：{payments}", []string{"day_left", "month_left"}},
	"query_payment":      {"{date} {merchant} {product} {amount}元", nil},
	"query_payment_open": {"{date} {merchant} {amount}元", nil},
	"query_none":         {"无", nil},
	"order_expired":      {"您在{merchant}的订单（{product}，{amount}元）超时未确认，已取消，未扣费。", nil},
	"order_expired_open": {"您在{merchant}的订单（{amount}元）超时未确认，已取消，未扣费。", nil},
	"order_cancelled":    {"您在{merchant}的订单（{amount}元）已取消，未扣费。", nil},
	"refunded":           {"{merchant}已为您退款{amount}元（交易号{txn}）。", []string{"amount"}},
	"hotline":            {"如有疑问请致电{number}。", []string{"number"}},

	string(billing.ReasonPerPaymentLimit):     {"支付失败：单笔支付不能超过{per_payment}元，本次未扣费。", nil},
	string(billing.ReasonDailyLimit):          {"支付失败：超出每日支付限额{daily}元，今日剩余额度{day_left}元，本次未扣费。", nil},
	string(billing.ReasonMonthlyLimit):        {"支付失败：超出每月支付限额{monthly}元，本月剩余额度{month_left}元，本次未扣费。", nil},
	string(billing.ReasonTooFrequent):         {"支付过于频繁，请{wait}后再试，本次未扣费。", nil},
	string(billing.ReasonAmountOutOfRange):    {"金额无效：请回复{min}元至{max}元之间的金额，最多两位小数。", nil},
	string(billing.ReasonUnknownMerchant):     {"无法识别的业务代码，请核对后重新发送。", nil},
	string(billing.ReasonUnknownProduct):      {"无法识别的商品。{merchant}可购买：{products}。", nil},
	string(billing.ReasonExpired):             {"验证码已过期，订单已取消，未扣费。请重新购买。", nil},
	string(billing.ReasonWrongCode):           {"验证码错误，还可尝试{attempts_left}次。", nil},
	string(billing.ReasonTooManyAttempts):     {"验证码错误次数过多，订单已取消，未扣费。{hotline}", nil},
	"too_many_attempts_wait":                  {"验证码错误次数过多，请{wait}后再试，本次未扣费。{hotline}", nil},
	string(billing.ReasonInsufficientBalance): {"支付失败：话费余额不足，本次未扣费。", nil},
	string(billing.ReasonAccountSuspended):    {"支付失败：您的号码已停机或暂停服务，本次未扣费。{hotline}", nil},
	string(billing.ReasonServiceBusy):         {"系统繁忙，请稍后再试，本次未扣费。", nil},
	string(billing.ReasonAlreadyPaid):         {"该订单已支付，无需重复确认，不会重复扣费。", nil},
	string(billing.ReasonNoPendingOrder):      {"您没有待确认的订单。", nil},
	string(billing.ReasonUnknownSubscriber):   {"支付失败：无法识别您的号码账户，本次未扣费。{hotline}", nil},
	string(billing.ReasonChargeFailed):        {"支付失败，本次未扣费，请稍后再试。{hotline}", nil},
	string(billing.ReasonTooManyPending):      {"您有未确认的订单，请先回复验证码确认或等待其过期后再购买。", nil},
	string(billing.ReasonCancelled):           {"订单已取消，未扣费。", nil},
	string(billing.ReasonRiskHold):            {"为保障您的资金安全，您在{merchant}的{amount}元支付需人工审核，暂未扣费，审核结果将短信通知您。{hotline}", nil},
	string(billing.ReasonRiskRefused):         {"经审核，您在{merchant}的{amount}元支付未通过，未扣费。{hotline}", nil},
	string(billing.ReasonBlocked):             {"为保障资金安全，该支付暂不能办理，本次未扣费。{hotline}", nil},
	"fresh_code_notice":                       {"【安全提醒】验证码回复过快，原验证码已作废，请勿将验证码告诉他人或交给其他应用。", nil},

	// Bank cards.
	"card_prompt": {"您正在向{merchant}购买{product}，金额{amount}元，使用尾号{last4}的银行卡支付。请在{validity}分钟内回复验证码{code}加空格再加6位钱包密码确认支付，不购买请忽略。",
		[]string{"code"}},
	"card_prompt_open": {"您正在向{merchant}支付{amount}元，使用尾号{last4}的银行卡支付。请在{validity}分钟内回复验证码{code}加空格再加6位钱包密码确认支付，不购买请忽略。",
		[]string{"code"}},
	"card_balance":                         {"您尾号{last4}的默认银行卡可用余额{balance}元。", []string{"balance"}},
	"query_card":                           {"银行卡今日剩余额度{day_left}元，本月剩余额度{month_left}元。", []string{"day_left", "month_left"}},
	"password_changed":                     {"钱包密码已修改，请妥善保管，勿告诉他人。", nil},
	"card_insufficient":                    {"支付失败：银行卡余额不足，本次未扣费。", nil},
	string(billing.ReasonNoCard):           {"您没有可用的银行卡（或没有该尾号的银行卡）。请到营业厅绑定银行卡或设置默认卡，购买时加K用默认卡，加K和卡号后四位指定银行卡。", nil},
	string(billing.ReasonPasswordRequired): {"银行卡支付需要钱包密码：请在一条短信里回复“验证码 空格 6位钱包密码”。", nil},
	string(billing.ReasonWrongPassword):    {"钱包密码错误，本次未扣费，还可尝试{attempts_left}次，连续输错3次钱包将被锁定。", nil},
	string(billing.ReasonWalletLocked):     {"钱包密码连续输错3次，钱包已锁定，银行卡支付暂停，未扣费。请本人携带身份证到营业厅或致电客服解锁。{hotline}", nil},
	string(billing.ReasonBadPassword):      {"修改失败：请发送“MM 原密码 新密码”，新密码为6位数字，不能是连续或重复的数字。", nil},
	string(billing.ReasonCardDeclined):     {"支付失败：银行拒绝了本次扣款，本次未扣费。{hotline}", nil},
	string(billing.ReasonCardClosed):       {"支付失败：您的银行卡已被银行注销或换卡，本次未扣费。请到营业厅重新绑定银行卡。", nil},
	"card_bound_password": {"您已绑定银行卡{masked}。初始钱包密码{password}，请尽快修改：发送MM 原密码 新密码。用卡支付：购买指令后加空格和K（如VIP K），再在一条短信里回复“验证码 空格 钱包密码”。",
		[]string{"password"}},
	"card_bound":           {"您已绑定银行卡{masked}，钱包密码不变。用此卡支付请在购买指令后加K{last4}。", nil},
	"card_unbound":         {"您已解绑银行卡{masked}。", nil},
	"card_unbound_default": {"您已解绑默认银行卡{masked}，目前没有默认卡，请到营业厅设置默认卡，或购买时加K和卡号后四位指定银行卡。", nil},
	"wallet_unlocked":      {"您的钱包已解锁，可继续使用银行卡支付。", nil},
}

// DefaultTexts returns a copy of the default MT templates by name (see
// defaultTexts for the names and their placeholders).
func DefaultTexts() map[string]string {
	m := make(map[string]string, len(defaultTexts))
	for k, v := range defaultTexts {
		m[k] = v.text
	}
	return m
}

// TextConfig configures the SMS texts.
type TextConfig struct {
	// ServiceCode: an MT about a merchant comes from the service code
	// followed by the merchant code when the request had no address.
	ServiceCode string
	// Location is the operator's zone (dates in the CX answer).
	Location *time.Location
	// Overrides replace default templates by name.
	Overrides map[string]string
	// Hotline is the customer-service number put into refusal and
	// lock-out texts ({hotline}); empty leaves the sentence out.
	Hotline string
	// ExpiryNotice texts the subscriber when an order expires unconfirmed
	// (off by default: the prompt already said the code expires).
	ExpiryNotice bool
}

// Validate reports unknown template names and overrides that drop a
// placeholder their meaning needs, naming the field.
func (c TextConfig) Validate() error {
	var errs []error
	for k, v := range c.Overrides {
		def, ok := defaultTexts[k]
		if !ok {
			errs = append(errs, fmt.Errorf("texts.%s: unknown text name", k))
			continue
		}
		for _, ph := range def.required {
			if !strings.Contains(v, "{"+ph+"}") {
				errs = append(errs, fmt.Errorf("texts.%s: must contain {%s}", k, ph))
			}
		}
	}
	return errors.Join(errs...)
}

// Texts renders the engine's events as SMS texts: it is the engine's
// billing.Notifier.
type Texts struct {
	c TextConfig
}

// NewTexts validates c and returns the renderer.
func NewTexts(c TextConfig) (*Texts, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if c.Location == nil {
		c.Location = time.UTC
	}
	return &Texts{c: c}, nil
}

// template returns the template name (its _open variant first when open).
func (t *Texts) template(name string, open bool) string {
	if open {
		if s, ok := t.c.Overrides[name+"_open"]; ok {
			return s
		}
		if d, ok := defaultTexts[name+"_open"]; ok {
			if _, over := t.c.Overrides[name]; !over {
				return d.text
			}
		}
	}
	if s, ok := t.c.Overrides[name]; ok {
		return s
	}
	return defaultTexts[name].text
}

// Render renders the template name with the placeholder pairs kv (and the
// hotline sentence).
func (t *Texts) Render(name string, open bool, kv ...string) string {
	pairs := make([]string, 0, len(kv)+2)
	for i := 0; i+1 < len(kv); i += 2 {
		pairs = append(pairs, "{"+kv[i]+"}", kv[i+1])
	}
	hot := ""
	if t.c.Hotline != "" {
		hot = strings.NewReplacer("{number}", t.c.Hotline).Replace(t.template("hotline", false))
	}
	pairs = append(pairs, "{hotline}", hot, "{service}", t.c.ServiceCode)
	return strings.NewReplacer(pairs...).Replace(t.template(name, open))
}

// Notify implements billing.Notifier.
func (t *Texts) Notify(ev billing.Event) (billing.Message, bool) {
	body, ok := t.body(ev)
	if !ok {
		return billing.Message{}, false
	}
	from := ev.Origin
	if from == "" && ev.Merchant != nil {
		from = t.c.ServiceCode + ev.Merchant.Code
	}
	if from == "" {
		from = t.c.ServiceCode
	}
	return billing.Message{From: from, Body: body, Secret: ev.InitialPassword != ""}, true
}

// texted says whether a channel's subscriber learns of a refusal or an
// answer by SMS: the SMS channel and the sweeps always; the merchant API
// and USSD answer in their own session, subscriptions tell by SMS.
func texted(ch billing.Channel) bool {
	switch ch {
	case billing.ChannelAPI, billing.ChannelUSSD, billing.ChannelOperator:
		return false
	}
	return true
}

func (t *Texts) body(ev billing.Event) (string, bool) {
	if s, ok, handled := t.subscriptionBody(ev); handled {
		return s, ok
	}
	o := ev.Order
	open := o != nil && o.Product == ""
	kv := t.orderPairs(ev)
	switch ev.Kind {
	case billing.EventPrompt:
		name := "prompt"
		if o != nil && o.Method == billing.MethodCard {
			name = "card_prompt"
		}
		if ev.FreshCode { // a risk rule voided the code that came back too fast
			return t.Render("fresh_code_notice", false, kv...) + t.Render(name, open, kv...), true
		}
		return t.Render(name, open, kv...), true
	case billing.EventReceipt:
		return t.Render("receipt", open, kv...), true
	case billing.EventRefunded:
		return t.Render("refunded", open, kv...), true
	case billing.EventExpired:
		return t.Render("order_expired", open, kv...), t.c.ExpiryNotice
	case billing.EventCancelled:
		return t.Render("order_cancelled", open, kv...), ev.Channel == billing.ChannelSMS
	case billing.EventQuota:
		return t.query(ev), ev.Channel == billing.ChannelSMS
	case billing.EventBalance:
		return t.Render("card_balance", false, kv...), ev.Channel == billing.ChannelSMS
	case billing.EventPasswordChanged:
		return t.Render("password_changed", false), ev.Channel == billing.ChannelSMS
	case billing.EventCardBound:
		if ev.InitialPassword != "" {
			return t.Render("card_bound_password", false, kv...), true
		}
		return t.Render("card_bound", false, kv...), true
	case billing.EventCardUnbound:
		if ev.WasDefault {
			return t.Render("card_unbound_default", false, kv...), true
		}
		return t.Render("card_unbound", false, kv...), true
	case billing.EventWalletUnlocked:
		return t.Render("wallet_unlocked", false), true
	case billing.EventRefused:
		return t.refusal(ev, open, kv), texted(ev.Channel)
	}
	return "", false
}

func (t *Texts) refusal(ev billing.Event, open bool, kv []string) string {
	name := string(ev.Reason)
	switch {
	case ev.Reason == billing.ReasonInsufficientBalance && ev.Order != nil && ev.Order.Method == billing.MethodCard:
		name = "card_insufficient"
	case ev.Reason == billing.ReasonTooManyAttempts && ev.RetryAfter > 0:
		name = "too_many_attempts_wait"
	case !ev.Reason.Valid():
		name = string(billing.ReasonChargeFailed)
	}
	return t.Render(name, open, kv...)
}

// orderPairs are the placeholders an event fills.
func (t *Texts) orderPairs(ev billing.Event) []string {
	kv := []string{"validity", strconv.Itoa(int(ev.CodeValidity.Round(time.Minute) / time.Minute)),
		"attempts_left", strconv.Itoa(ev.AttemptsLeft), "wait", Wait(ev.RetryAfter)}
	if m := ev.Merchant; m != nil {
		kv = append(kv, "merchant", m.Name, "products", catalog(m), "min", m.MinAmount.String(), "max", m.MaxAmount.String())
	}
	if o := ev.Order; o != nil {
		kv = append(kv, "product", o.ProductName, "amount", o.Amount.String(), "code", o.Code)
		if ev.Merchant == nil {
			kv = append(kv, "merchant", o.Merchant)
		}
	}
	if c := ev.Charge; c != nil {
		kv = append(kv, "txn", strconv.FormatInt(c.ID, 10))
	}
	if r := ev.Refund; r != nil {
		kv = append(kv, "amount", r.Amount.String())
	}
	if q := ev.Quota; q != nil {
		kv = append(kv, "day_left", q.Day.String(), "month_left", q.Month.String())
	}
	if l := ev.Limits; l.PerPayment > 0 {
		kv = append(kv, "per_payment", l.PerPayment.String(), "daily", l.Daily.String(), "monthly", l.Monthly.String())
	}
	if c := ev.Card; c != nil {
		kv = append(kv, "last4", c.Last4, "masked", c.Masked)
	}
	if ev.Kind == billing.EventBalance {
		kv = append(kv, "balance", ev.Balance.String())
	}
	if ev.InitialPassword != "" {
		kv = append(kv, "password", ev.InitialPassword)
	}
	return kv
}

// query renders the CX answer.
func (t *Texts) query(ev billing.Event) string {
	q := ev.Query
	if q == nil {
		return ""
	}
	lines := make([]string, 0, len(q.Payments))
	for _, p := range q.Payments {
		name := p.Merchant
		if p.MerchantName != "" {
			name = p.MerchantName
		}
		lines = append(lines, t.Render("query_payment", p.ProductName == p.MerchantName, "date", p.At.In(t.c.Location).Format("01-02 15:04"),
			"merchant", name, "product", p.ProductName, "amount", p.Amount.String()))
	}
	list := t.Render("query_none", false)
	if len(lines) > 0 {
		list = strings.Join(lines, "；")
	}
	body := t.Render("query", false, "day_left", q.Phone.Day.String(), "month_left", q.Phone.Month.String(), "payments", list)
	if q.Card != nil {
		body += t.Render("query_card", false, "day_left", q.Card.Day.String(), "month_left", q.Card.Month.String())
	}
	return body
}

// catalog lists what a merchant sells, for the unknown_product text.
func catalog(m *billing.Merchant) string {
	var parts []string
	for _, p := range m.Products {
		parts = append(parts, fmt.Sprintf("%s（%s，%s元）", p.Keyword, p.Name, p.Amount))
	}
	if m.OpenAmount {
		parts = append(parts, fmt.Sprintf("%s元至%s元的金额", m.MinAmount, m.MaxAmount))
	}
	return strings.Join(parts, "；")
}

// Wait writes a wait the way a person reads it: whole minutes rounded up
// under an hour ("3分钟"), hours and minutes under a day ("1小时20分钟"),
// days above ("3天"). Never raw seconds.
func Wait(d time.Duration) string {
	if d <= 0 {
		return "1分钟"
	}
	mins := int64((d + time.Minute - 1) / time.Minute)
	switch {
	case mins < 60:
		return strconv.FormatInt(mins, 10) + "分钟"
	case mins < 24*60:
		h, m := mins/60, mins%60
		if m == 0 {
			return strconv.FormatInt(h, 10) + "小时"
		}
		return strconv.FormatInt(h, 10) + "小时" + strconv.FormatInt(m, 10) + "分钟"
	}
	return strconv.FormatInt((mins+24*60-1)/(24*60), 10) + "天"
}

// Default returns the default texts with no overrides (tests, tools).
func Default() *Texts {
	t, err := NewTexts(TextConfig{ServiceCode: "10658008"})
	if err != nil {
		panic(err) // the defaults always validate
	}
	return t
}

// Refusal renders a refusal event as the SMS channel words it, whatever
// the channel: the USSD menu shows the same reason on its screen.
func (t *Texts) Refusal(ev billing.Event) string {
	return t.refusal(ev, ev.Order != nil && ev.Order.Product == "", t.orderPairs(ev))
}
