package ussd

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// The USSD texts: every word of a screen that is not a refusal (refusals
// are the SMS channel's reason texts, rendered by sms.Texts, so a
// subscriber reads the same reason on both channels). An operator
// overrides any of them by name (config ussd.texts). Placeholders:
// {merchant}, {product}, {amount} (12.34), {min}, {max}, {last4},
// {masked}, {txn}, {day_left}, {month_left}, {date}, {name}, {period}.
var defaultTexts = map[string]string{
	"home":                   "手机支付",
	"opt_buy":                "购买",
	"opt_quota":              "额度查询",
	"opt_history":            "最近支付",
	"opt_cards":              "我的银行卡",
	"opt_password":           "修改钱包密码",
	"opt_subscriptions":      "我的订阅",
	"merchants":              "请选择商户：",
	"merchants_none":         "暂无可购买的商户。",
	"products":               "{merchant}，请选择：",
	"opt_amount":             "其他金额",
	"amount":                 "请输入金额（{min}至{max}元）：",
	"confirm":                "{merchant}\n{product}\n金额{amount}元",
	"confirm_open":           "{merchant}\n金额{amount}元",
	"opt_pay":                "确认支付",
	"opt_pay_phone":          "话费支付",
	"opt_pay_card":           "银行卡支付",
	"code":                   "验证码已短信发送，请输入6位验证码确认支付{amount}元：",
	"card_password":          "使用尾号{last4}的银行卡支付{amount}元，请输入6位钱包密码：",
	"paid":                   "支付成功：{merchant}，{amount}元，交易号{txn}。",
	"pending":                "支付处理中，结果将短信通知，请勿重复支付。",
	"fresh_code":             "为保障资金安全，原验证码已作废，新验证码已短信发送，请输入新验证码：",
	"quota":                  "今日剩余额度{day_left}元，本月剩余额度{month_left}元。",
	"quota_card":             "银行卡今日剩余{day_left}元，本月剩余{month_left}元。",
	"history":                "最近支付：",
	"history_item":           "{date} {merchant} {amount}元",
	"history_none":           "暂无支付记录。",
	"cards":                  "选择设为默认卡：",
	"card_default":           "{masked}（默认）",
	"cards_none":             "您没有绑定银行卡，请到营业厅绑定。",
	"card_default_set":       "已将尾号{last4}的银行卡设为默认卡。",
	"password_old":           "请输入原钱包密码（6位数字）：",
	"password_new":           "请输入新钱包密码（6位数字）：",
	"password_changed":       "钱包密码已修改，请妥善保管。",
	"subscriptions":          "选择要退订的服务：",
	"subscription_item":      "{name} {amount}元/{period}",
	"subscriptions_none":     "您没有订阅任何服务。",
	"subscription_confirm":   "{name} {amount}元/{period}",
	"opt_unsubscribe":        "退订",
	"subscription_cancelled": "已退订{name}，不再扣费。",
	"more":                   "9 更多",
	"back":                   "0 返回",
	"invalid":                "输入无效，请重新输入。",
	"too_long":               "输入过长，请重新输入。",
	"timeout":                "会话已超时，未扣费的订单已作废，请重新拨打。",
	"ended":                  "会话已结束，请重新拨打。",
	"busy":                   "系统繁忙，请稍后再试，本次未扣费。",
}

// DefaultTexts returns a copy of the default screen texts by name.
func DefaultTexts() map[string]string {
	m := make(map[string]string, len(defaultTexts))
	for k, v := range defaultTexts {
		m[k] = v
	}
	return m
}

// CheckTexts reports override names that are not texts, naming the field
// (ussd.texts.<name>), and overrides too long for a screen.
func CheckTexts(overrides map[string]string) error {
	var errs []error
	names := make([]string, 0, len(overrides))
	for k := range overrides {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if _, ok := defaultTexts[k]; !ok {
			errs = append(errs, fmt.Errorf("ussd.texts.%s: unknown text name", k))
			continue
		}
		if !Fits(overrides[k]) {
			errs = append(errs, fmt.Errorf("ussd.texts.%s: longer than one USSD screen (182 GSM 7-bit or 80 UCS2 characters)", k))
		}
	}
	return errors.Join(errs...)
}

// texts renders the screen texts with the overrides.
type texts struct{ over map[string]string }

func (t texts) get(name string, kv ...string) string {
	s, ok := t.over[name]
	if !ok {
		s = defaultTexts[name]
	}
	if len(kv) == 0 {
		return s
	}
	pairs := make([]string, 0, len(kv))
	for i := 0; i+1 < len(kv); i += 2 {
		pairs = append(pairs, "{"+kv[i]+"}", kv[i+1])
	}
	return strings.NewReplacer(pairs...).Replace(s)
}
