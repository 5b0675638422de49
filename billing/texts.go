package billing

import (
	"strings"
)

type textDef struct {
	text     string
	required []string // placeholders an override must keep
}

// defaultTexts are the Chinese defaults. Placeholders: {merchant},
// {product}, {amount} (12.34, the template writes 元), {code}, {validity}
// (minutes), {txn}, {day_left}, {month_left}, {per_payment}, {daily},
// {monthly}, {min}, {max}, {products}, {attempts_left}, {retry} (seconds),
// {payments}, {date}.
var defaultTexts = map[string]textDef{
	"prompt": {"您正在向{merchant}购买{product}，金额{amount}元。请在{validity}分钟内回复验证码{code}确认支付，不购买请忽略。",
		[]string{"code"}},
	"receipt": {"支付成功：{merchant}，{product}，金额{amount}元，交易号{txn}。今日剩余额度{day_left}元，本月剩余额度{month_left}元。",
		[]string{"amount", "txn"}},
	"query":         {"今日剩余额度{day_left}元，本月剩余额度{month_left}元。最近支付：{payments}", []string{"day_left", "month_left"}},
	"query_payment": {"{date} {merchant} {product} {amount}元", nil},
	"query_none":    {"无", nil},
	"order_expired": {"您在{merchant}的订单（{product}，{amount}元）超时未确认，已取消，未扣费。", nil},
	"refunded":      {"{merchant}已为您退款{amount}元（交易号{txn}）。", []string{"amount"}},

	string(ReasonPerPaymentLimit):     {"支付失败：单笔支付不能超过{per_payment}元，本次未扣费。", nil},
	string(ReasonDailyLimit):          {"支付失败：超出每日支付限额{daily}元，今日剩余额度{day_left}元，本次未扣费。", nil},
	string(ReasonMonthlyLimit):        {"支付失败：超出每月支付限额{monthly}元，本月剩余额度{month_left}元，本次未扣费。", nil},
	string(ReasonTooFrequent):         {"支付过于频繁，请{retry}秒后再试，本次未扣费。", nil},
	string(ReasonAmountOutOfRange):    {"金额无效：请回复{min}元至{max}元之间的金额，最多两位小数。", nil},
	string(ReasonUnknownMerchant):     {"无法识别的业务代码，请核对后重新发送。", nil},
	string(ReasonUnknownProduct):      {"无法识别的商品。{merchant}可购买：{products}。", nil},
	string(ReasonExpired):             {"验证码已过期，订单已取消，未扣费。请重新购买。", nil},
	string(ReasonWrongCode):           {"验证码错误，还可尝试{attempts_left}次。", nil},
	string(ReasonTooManyAttempts):     {"验证码错误次数过多，订单已取消，未扣费。", nil},
	string(ReasonInsufficientBalance): {"支付失败：话费余额不足，本次未扣费。", nil},
	string(ReasonAccountSuspended):    {"支付失败：您的号码已停机或暂停服务，本次未扣费。", nil},
	string(ReasonServiceBusy):         {"系统繁忙，请稍后再试，本次未扣费。", nil},
	string(ReasonAlreadyPaid):         {"该订单已支付，无需重复确认，不会重复扣费。", nil},
	string(ReasonNoPendingOrder):      {"您没有待确认的订单。", nil},
	string(ReasonUnknownSubscriber):   {"支付失败：无法识别您的号码账户，本次未扣费。", nil},
	string(ReasonChargeFailed):        {"支付失败，本次未扣费，请稍后再试。", nil},
}

// DefaultTexts returns a copy of the default MT templates by name: "prompt",
// "receipt", "query", "query_payment", "query_none", "order_expired",
// "refunded", and one per Reason code.
func DefaultTexts() map[string]string {
	m := make(map[string]string, len(defaultTexts))
	for k, v := range defaultTexts {
		m[k] = v.text
	}
	return m
}

// text renders the template name with the given placeholder pairs.
func (c *Config) text(name string, kv ...string) string {
	t, ok := c.Texts[name]
	if !ok {
		t = defaultTexts[name].text
	}
	pairs := make([]string, 0, len(kv))
	for i := 0; i+1 < len(kv); i += 2 {
		pairs = append(pairs, "{"+kv[i]+"}", kv[i+1])
	}
	return strings.NewReplacer(pairs...).Replace(t)
}
