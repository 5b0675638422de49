package ussd

import (
	"context"
	"strconv"
	"strings"
	"time"
)

// maxOptions is how many items a list page numbers: 9 is "more", 0 "back".
const maxOptions = 8

// render shows the session's state as a screen, with note (an error, a
// refusal) above it. A screen too long for one page pages with 9.
func (s *Service) render(sess *Session, note string) {
	body, footer := s.screenOf(sess)
	if sess.State == StateEnd {
		return
	}
	if note != "" {
		body = note + "\n" + body
	}
	sess.Final = false
	sess.Pages, sess.PageAt = Paginate(body, s.t.get("more"), footer), 0
}

// screenOf returns the body and the footer of the session's state. A list
// that turns out empty ends the dialog (sess.State becomes StateEnd).
func (s *Service) screenOf(sess *Session) (body, footer string) {
	back := s.t.get("back")
	switch sess.State {
	case StateHome:
		lines := []string{s.t.get("home")}
		for _, o := range s.homeOptions() {
			lines = append(lines, strconv.Itoa(o.n)+" "+o.label)
		}
		return strings.Join(lines, "\n"), ""
	case StateMerchants, StateProducts, StateCards, StateSubscriptions:
		title, items, empty, err := s.listOf(sess)
		if err != nil {
			_ = s.busy(sess, err)
			return "", ""
		}
		if len(items) == 0 {
			_ = s.end(sess, empty)
			return "", ""
		}
		pages := s.listPages(title, items)
		p := min(max(sess.Page, 0), len(pages)-1)
		lines := []string{title}
		for i := pages[p][0]; i < pages[p][1]; i++ {
			lines = append(lines, strconv.Itoa(i-pages[p][0]+1)+" "+items[i])
		}
		return strings.Join(lines, "\n"), s.listFooter(p < len(pages)-1)
	case StateAmount:
		m, _ := s.e.Merchant(sess.Merchant)
		return s.t.get("amount", "merchant", m.Name, "min", m.MinAmount.String(), "max", m.MaxAmount.String()), back
	case StateConfirm:
		m, _ := s.e.Merchant(sess.Merchant)
		name := "confirm"
		product := ""
		if sess.Product == "" {
			name = "confirm_open"
		} else {
			for _, p := range m.Products {
				if p.Keyword == sess.Product {
					product = p.Name
				}
			}
		}
		lines := []string{s.t.get(name, "merchant", m.Name, "product", product, "amount", sess.Amount.String())}
		if s.cardPay() {
			lines = append(lines, "1 "+s.t.get("opt_pay_phone"), "2 "+s.t.get("opt_pay_card"))
		} else {
			lines = append(lines, "1 "+s.t.get("opt_pay"))
		}
		return strings.Join(lines, "\n"), back
	case StateCode:
		return s.t.get("code", "amount", sess.Amount.String()), back
	case StateCardPassword:
		return s.t.get("card_password", "last4", sess.CardLast4, "amount", sess.Amount.String()), back
	case StatePasswordOld:
		return s.t.get("password_old"), back
	case StatePasswordNew:
		return s.t.get("password_new"), back
	case StateSubscription:
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		sub, ok, err := s.subscription(ctx, sess)
		if err != nil || !ok {
			_ = s.end(sess, s.t.get("subscriptions_none"))
			return "", ""
		}
		return s.t.get("subscription_confirm", "name", sub.Name, "amount", sub.Amount.String(), "period", sub.Period) +
			"\n1 " + s.t.get("opt_unsubscribe"), back
	}
	return "", ""
}

func (s *Service) listFooter(more bool) string {
	if more {
		return s.t.get("more") + "\n" + s.t.get("back")
	}
	return s.t.get("back")
}

// listOf returns a list state's title, items and the text shown when it
// is empty.
func (s *Service) listOf(sess *Session) (title string, items []string, empty string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	switch sess.State {
	case StateMerchants:
		for _, m := range s.e.Config().Merchants {
			items = append(items, m.Name)
		}
		return s.t.get("merchants"), items, s.t.get("merchants_none"), nil
	case StateProducts:
		m, ok := s.e.Merchant(sess.Merchant)
		if !ok {
			return "", nil, s.t.get("merchants_none"), nil
		}
		for _, p := range m.Products {
			items = append(items, p.Name+" "+p.Amount.String()+"元")
		}
		if m.OpenAmount {
			items = append(items, s.t.get("opt_amount"))
		}
		return s.t.get("products", "merchant", m.Name), items, s.t.get("merchants_none"), nil
	case StateCards:
		cards, err := s.o.Cards.List(ctx, sess.MSISDN)
		if err != nil {
			return "", nil, "", err
		}
		for _, c := range cards {
			if c.Default {
				items = append(items, s.t.get("card_default", "masked", c.Masked, "last4", c.Last4))
			} else {
				items = append(items, c.Masked)
			}
		}
		return s.t.get("cards"), items, s.t.get("cards_none"), nil
	case StateSubscriptions:
		subs, err := s.o.Subscriptions.List(ctx, sess.MSISDN)
		if err != nil {
			return "", nil, "", err
		}
		for _, x := range subs {
			items = append(items, s.t.get("subscription_item", "name", x.Name, "amount", x.Amount.String(), "period", x.Period))
		}
		return s.t.get("subscriptions"), items, s.t.get("subscriptions_none"), nil
	}
	return "", nil, "", nil
}

// listPages cuts items into pages that fit with the title and the footer:
// [start, end) of each, at most maxOptions items a page, at least one.
func (s *Service) listPages(title string, items []string) [][2]int {
	var pages [][2]int
	for start := 0; start < len(items); {
		end := start + 1
		for end < len(items) && end-start < maxOptions {
			lines := []string{title}
			for i := start; i <= end; i++ {
				lines = append(lines, strconv.Itoa(i-start+1)+" "+items[i])
			}
			// Sized with the longer footer, so pages do not depend on
			// which page is shown.
			if !Fits(strings.Join(lines, "\n") + "\n" + s.listFooter(true)) {
				break
			}
			end++
		}
		pages = append(pages, [2]int{start, end})
		start = end
	}
	return pages
}

// onList handles an answer on a list: 9 pages on, an option chooses the
// item index.
func (s *Service) onList(sess *Session, in Input, choose func(i int) error) error {
	title, items, empty, err := s.listOf(sess)
	if err != nil {
		return s.busy(sess, err)
	}
	if len(items) == 0 {
		return s.end(sess, empty)
	}
	pages := s.listPages(title, items)
	p := min(max(sess.Page, 0), len(pages)-1)
	if in.Text == InputMore && p < len(pages)-1 {
		sess.Page = p + 1
		s.render(sess, "")
		return nil
	}
	k := in.Option(pages[p][1] - pages[p][0])
	if k == 0 {
		s.render(sess, s.t.get("invalid"))
		return nil
	}
	return choose(pages[p][0] + k - 1)
}
