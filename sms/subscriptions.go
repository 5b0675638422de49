package sms

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/carrierbill/carrierbill/billing"
)

// Monthly subscriptions over SMS, by China Mobile's conventions:
//
//   - 0000 (or 00000) to the service code lists the number's active
//     subscriptions, numbered; a reply to the service code with numbers
//     ("1", "1,3", full-width comma too) cancels those;
//   - TD plus a product keyword, sent to the merchant's code, cancels that
//     subscription; TD alone cancels all of that merchant's; T plus a
//     subscription keyword is read like TD.
//
// Cancelling stops the next renewal; the period already paid stays paid.
// Every change is confirmed by SMS (the engine's events, rendered here).

// SubCommandKind is a subscription command.
type SubCommandKind int

// The subscription commands.
const (
	SubNone        SubCommandKind = iota
	SubList                       // 0000, 00000
	SubSelect                     // numbers of the last listing: Numbers
	SubUnsubscribe                // TD [keyword] / T keyword: Keyword ("" = all of the merchant's)
)

// SubCommand is a parsed subscription MO.
type SubCommand struct {
	Kind    SubCommandKind
	Keyword string
	Numbers []int
	// T is true for the short form "T keyword", which is a cancellation
	// only when the keyword is a subscription of the merchant.
	T bool
}

// maxSelect bounds the numbers of one reply.
const maxSelect = 20

// ParseSubscription reads a subscription command. toService says the MO
// went to the bare service code (0000 and number replies), else to a
// merchant's code (TD). It never panics.
func ParseSubscription(text string, toService bool) SubCommand {
	s := normalizeKeyword(text)
	if toService {
		if s == "0000" || s == "00000" {
			return SubCommand{Kind: SubList}
		}
		if nums, ok := parseNumbers(s); ok {
			return SubCommand{Kind: SubSelect, Numbers: nums}
		}
		return SubCommand{}
	}
	if rest, ok := strings.CutPrefix(s, "TD"); ok {
		return SubCommand{Kind: SubUnsubscribe, Keyword: strings.TrimSpace(rest)}
	}
	if rest, ok := strings.CutPrefix(s, "T"); ok && strings.TrimSpace(rest) != "" {
		return SubCommand{Kind: SubUnsubscribe, Keyword: strings.TrimSpace(rest), T: true}
	}
	return SubCommand{}
}

// parseNumbers reads "1", "1,3", "1，3", "1 3", "1、3": small positive
// integers separated by commas, the ideographic comma or spaces.
func parseNumbers(s string) ([]int, bool) {
	fields := strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == '，' || r == '、' || r == ' ' || r == '\u3000' })
	if len(fields) == 0 || len(fields) > maxSelect {
		return nil, false
	}
	var out []int
	seen := map[int]bool{}
	for _, f := range fields {
		if len(f) > 2 || !allDigits(f) {
			return nil, false
		}
		n, _ := strconv.Atoi(f)
		if n == 0 {
			return nil, false
		}
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out, true
}

// subscription handles a subscription command; ok false means text is no
// such command and the MO goes on to the other commands.
func (c *Channel) subscription(ctx context.Context, src billing.Source, msisdn, merchant, text string) (billing.Result, bool, error) {
	toService := src.Origin == c.o.ServiceCode
	cmd := ParseSubscription(text, toService)
	switch cmd.Kind {
	case SubList:
		r, err := c.e.Subscriptions(ctx, billing.SubscriptionsRequest{Source: src, MSISDN: msisdn})
		return r.Result, true, err
	case SubSelect:
		r, err := c.e.Unsubscribe(ctx, billing.UnsubscribeRequest{Source: src, MSISDN: msisdn, Numbers: cmd.Numbers})
		return r.Result, true, err
	case SubUnsubscribe:
		m, ok := c.e.Merchant(merchant)
		if !ok {
			return billing.Result{}, false, nil
		}
		if cmd.T && !hasSubscription(m, cmd.Keyword) {
			return billing.Result{}, false, nil // "T..." that is no subscription keyword: a purchase
		}
		r, err := c.e.Unsubscribe(ctx, billing.UnsubscribeRequest{Source: src, MSISDN: msisdn, Merchant: merchant, Product: cmd.Keyword})
		return r.Result, true, err
	}
	return billing.Result{}, false, nil
}

func hasSubscription(m billing.Merchant, keyword string) bool {
	for _, p := range m.Products {
		if p.Period == billing.PeriodMonth && strings.EqualFold(p.Keyword, keyword) {
			return true
		}
	}
	return false
}

// subscriptionTexts are the subscription templates (merged into
// defaultTexts). Placeholders beyond the common ones: {next} (next renewal
// date), {day} (renewal day of the month), {until} (last day paid for),
// {keyword}, {service} (the service code), {list}, {no}.
var subscriptionTexts = map[string]textDef{
	"subscribed": {"订购成功：{merchant}{product}，{amount}元/月，交易号{txn}。下次续订扣费{next}，此后每月{day}日（无此日则为月末）自动续订。退订请发送TD{keyword}至本号码，或发送0000至{service}查询退订。",
		[]string{"amount", "next"}},
	"renewed": {"包月续订成功：{merchant}{product}{amount}元，交易号{txn}，本期有效至{until}，下次续订{next}。退订请发送TD{keyword}至本号码。",
		[]string{"amount"}},
	"renewal_failed":      {"【包月续订未成功】{merchant}{product}：{reason}", []string{"reason"}},
	"subscriptions":       {"您订购的包月业务：{list}。回复序号退订（如1或1,3），已付费的本期仍可使用。", []string{"list"}},
	"subscription_item":   {"{no}.{merchant}{product}{amount}元/月，下次续订{next}", nil},
	"subscriptions_none":  {"您目前没有订购包月业务。", nil},
	"unsubscribed":        {"退订成功：{list}。已付费的本期仍可使用，到期后不再扣费。", []string{"list"}},
	"unsubscribed_item":   {"{merchant}{product}（可用至{until}）", nil},
	"renewal_reminder":    {"温馨提示：您在{merchant}订购的{product}将于{next}自动续订，扣费{amount}元。如需退订，请发送TD{keyword}至{addr}。", []string{"next", "amount"}},
	"subscription_lapsed": {"您在{merchant}订购的{product}多次续订扣费未成功，已停止，之后不再扣费。如需继续使用请重新订购。", nil},

	string(billing.ReasonAlreadySubscribed): {"您已订购该包月业务，无需重复订购，本次未扣费。查询或退订请发送0000至{service}。", nil},
	string(billing.ReasonNoSubscription):    {"没有找到可退订的包月业务。发送0000至{service}可查询您订购的包月业务。", nil},
}

func init() {
	for k, v := range subscriptionTexts {
		defaultTexts[k] = v
	}
}

// subscriptionBody renders the subscription events; handled false leaves
// ev to body.
func (t *Texts) subscriptionBody(ev billing.Event) (body string, ok, handled bool) {
	renewal := ev.Order != nil && ev.Order.Channel == billing.ChannelSubscription ||
		ev.Channel == billing.ChannelSubscription
	switch ev.Kind {
	case billing.EventReceipt:
		if ev.Subscription == nil {
			return "", false, false
		}
		name := "subscribed"
		if renewal {
			name = "renewed"
		}
		return t.Render(name, false, append(t.orderPairs(ev), t.subPairs(*ev.Subscription)...)...), true, true
	case billing.EventRefused:
		if !renewal {
			return "", false, false
		}
		if billing.TransientRenewal(ev.Reason) {
			return "", false, true // retried soon: nothing to tell yet
		}
		kv := t.orderPairs(ev)
		if ev.Order == nil { // refused before the order was made: the merchant alone
			kv = append(kv, "product", "")
		}
		return t.Render("renewal_failed", false, append(kv, "reason", t.refusal(ev, false, kv))...), true, true
	case billing.EventExpired, billing.EventCancelled:
		return "", false, renewal // a renewal's own order: never texted
	case billing.EventSubscriptions:
		if len(ev.Subscriptions) == 0 {
			return t.Render("subscriptions_none", false), texted(ev.Channel), true
		}
		items := make([]string, 0, len(ev.Subscriptions))
		for _, s := range ev.Subscriptions {
			items = append(items, t.Render("subscription_item", false, t.subPairs(s)...))
		}
		return t.Render("subscriptions", false, "list", strings.Join(items, "；")), texted(ev.Channel), true
	case billing.EventUnsubscribed:
		items := make([]string, 0, len(ev.Subscriptions))
		for _, s := range ev.Subscriptions {
			items = append(items, t.Render("unsubscribed_item", false, t.subPairs(s)...))
		}
		return t.Render("unsubscribed", false, "list", strings.Join(items, "、")), true, true // whoever cancelled, the subscriber is told
	case billing.EventRenewalReminder, billing.EventSubscriptionLapsed:
		if len(ev.Subscriptions) != 1 {
			return "", false, true
		}
		name := "renewal_reminder"
		if ev.Kind == billing.EventSubscriptionLapsed {
			name = "subscription_lapsed"
		}
		return t.Render(name, false, t.subPairs(ev.Subscriptions[0])...), true, true
	}
	return "", false, false
}

// subPairs are the placeholders of a subscription.
func (t *Texts) subPairs(s billing.Subscription) []string {
	merchant := s.Merchant
	if s.MerchantName != "" {
		merchant = s.MerchantName
	}
	until := s.NextRenewal
	if d, err := time.Parse("2006-01-02", s.NextRenewal); err == nil {
		until = d.AddDate(0, 0, -1).Format("2006-01-02")
	}
	return []string{"no", strconv.Itoa(s.ListNo), "merchant", merchant, "product", s.ProductName, "amount", s.Amount.String(),
		"next", s.NextRenewal, "until", until, "day", strconv.Itoa(s.AnchorDay), "keyword", s.Product,
		"addr", t.c.ServiceCode + s.Merchant}
}
