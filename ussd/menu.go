package ussd

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/redact"
)

// The menu: one state per screen, an answer moves between them. Only the
// confirm, code and password screens call what can charge, and only with a
// well-formed answer; every other answer (unknown option, empty, too long,
// malformed) shows a screen and changes nothing.

// option is one numbered choice of a screen.
type option struct {
	n     int
	label string
}

// home shows the main menu.
func (s *Service) home(_ context.Context, sess *Session) {
	sess.State, sess.Page, sess.Back = StateHome, 0, nil
	sess.Merchant, sess.Product, sess.Amount, sess.CardLast4, sess.OrderID, sess.OldSealed, sess.SubID = "", "", 0, "", 0, nil, ""
	s.render(sess, "")
}

// homeOptions are the main menu's options: 1 to 3 always, 4 and 5 with
// card payments, 6 with a subscriptions provider.
func (s *Service) homeOptions() []option {
	opts := []option{{1, s.t.get("opt_buy")}, {2, s.t.get("opt_quota")}, {3, s.t.get("opt_history")}}
	if s.cardsMenu() {
		opts = append(opts, option{4, s.t.get("opt_cards")})
	}
	if s.passwordMenu() {
		opts = append(opts, option{5, s.t.get("opt_password")})
	}
	if s.o.Subscriptions != nil {
		opts = append(opts, option{6, s.t.get("opt_subscriptions")})
	}
	return opts
}

func (s *Service) cardsMenu() bool    { return s.o.Cards != nil && s.e.CardsOn() }
func (s *Service) passwordMenu() bool { return s.e.CardsOn() && s.o.Sealer != nil }

// step applies one answer to the session.
func (s *Service) step(ctx context.Context, t *turn, sess *Session, raw string) error {
	in, perr := ParseInput(raw)
	// A paged text: 9 shows the next page; on a closing text any answer does.
	if sess.PageAt < len(sess.Pages)-1 && (sess.Final || (perr == nil && in.Text == InputMore)) {
		if perr == nil && in.Text == InputHome {
			s.leave(ctx, t, sess)
			s.home(ctx, sess)
			return nil
		}
		sess.PageAt++
		return nil
	}
	if perr != nil {
		name := "invalid"
		if errors.Is(perr, ErrInputTooLong) {
			name = "too_long"
		}
		s.render(sess, s.t.get(name))
		return nil
	}
	switch in.Text {
	case InputHome:
		s.leave(ctx, t, sess)
		s.home(ctx, sess)
		return nil
	case InputBack:
		if sess.State != StateHome {
			s.leave(ctx, t, sess)
			s.back(sess)
			return nil
		}
	}
	switch sess.State {
	case StateHome:
		return s.onHome(ctx, t, sess, in)
	case StateMerchants:
		return s.onList(sess, in, func(i int) error {
			m := s.e.Config().Merchants[i]
			sess.Merchant = m.Code
			if len(m.Products) == 0 {
				s.push(sess, StateAmount)
			} else {
				s.push(sess, StateProducts)
			}
			s.render(sess, "")
			return nil
		})
	case StateProducts:
		m, ok := s.e.Merchant(sess.Merchant)
		if !ok {
			return s.end(sess, s.refusal(billing.Event{Reason: billing.ReasonUnknownMerchant}))
		}
		return s.onList(sess, in, func(i int) error {
			if i == len(m.Products) {
				s.push(sess, StateAmount)
			} else {
				sess.Product, sess.Amount = m.Products[i].Keyword, m.Products[i].Amount
				s.push(sess, StateConfirm)
			}
			s.render(sess, "")
			return nil
		})
	case StateAmount:
		return s.onAmount(sess, in)
	case StateConfirm:
		return s.onConfirm(ctx, t, sess, in)
	case StateCode:
		return s.onCode(ctx, t, sess, in)
	case StateCardPassword:
		return s.onCardPassword(ctx, t, sess, in)
	case StateCards:
		return s.onCards(ctx, sess, in)
	case StatePasswordOld, StatePasswordNew:
		return s.onPassword(ctx, t, sess, in)
	case StateSubscriptions:
		subs, err := s.o.Subscriptions.List(ctx, sess.MSISDN)
		if err != nil {
			return s.busy(sess, err)
		}
		return s.onList(sess, in, func(i int) error {
			if i >= len(subs) {
				return s.end(sess, s.t.get("subscriptions_none"))
			}
			sess.SubID = subs[i].ID
			s.push(sess, StateSubscription)
			s.render(sess, "")
			return nil
		})
	case StateSubscription:
		if in.Option(1) != 1 {
			s.render(sess, s.t.get("invalid"))
			return nil
		}
		sub, ok, err := s.subscription(ctx, sess)
		if err != nil {
			return s.busy(sess, err)
		}
		if !ok {
			return s.end(sess, s.t.get("subscriptions_none"))
		}
		if err := s.o.Subscriptions.Cancel(ctx, sess.MSISDN, sub.ID); err != nil {
			return s.busy(sess, err)
		}
		return s.end(sess, s.t.get("subscription_cancelled", "name", sub.Name))
	}
	s.render(sess, s.t.get("invalid"))
	return nil
}

// onHome: the main menu's options.
func (s *Service) onHome(ctx context.Context, t *turn, sess *Session, in Input) error {
	n := in.Option(6)
	allowed := false
	for _, o := range s.homeOptions() {
		allowed = allowed || o.n == n
	}
	if !allowed {
		s.render(sess, s.t.get("invalid"))
		return nil
	}
	switch n {
	case 1:
		if len(s.e.Config().Merchants) == 0 {
			return s.end(sess, s.t.get("merchants_none"))
		}
		s.push(sess, StateMerchants)
	case 2, 3:
		return s.query(ctx, t, sess, n == 3)
	case 4:
		s.push(sess, StateCards)
	case 5:
		s.push(sess, StatePasswordOld)
	case 6:
		s.push(sess, StateSubscriptions)
	}
	s.render(sess, "")
	return nil
}

// onAmount reads an open amount in yuan.
func (s *Service) onAmount(sess *Session, in Input) error {
	m, ok := s.e.Merchant(sess.Merchant)
	if !ok || !m.OpenAmount {
		return s.end(sess, s.refusal(billing.Event{Reason: billing.ReasonUnknownProduct, Merchant: merchantPtr(m, ok)}))
	}
	amount, err := billing.ParseYuan(strings.TrimSuffix(in.Text, "元"))
	if err != nil || amount < m.MinAmount || amount > m.MaxAmount {
		s.render(sess, s.refusal(billing.Event{Reason: billing.ReasonAmountOutOfRange, Merchant: &m}))
		return nil
	}
	sess.Product, sess.Amount = "", amount
	s.push(sess, StateConfirm)
	s.render(sess, "")
	return nil
}

func merchantPtr(m billing.Merchant, ok bool) *billing.Merchant {
	if !ok {
		return nil
	}
	return &m
}

// onConfirm creates the order: 1 pays by phone (or the only way), 2 by
// the default bank card.
func (s *Service) onConfirm(ctx context.Context, t *turn, sess *Session, in Input) error {
	card := false
	switch in.Option(2) {
	case 1:
	case 2:
		if !s.cardPay() {
			s.render(sess, s.t.get("invalid"))
			return nil
		}
		card = true
	default:
		s.render(sess, s.t.get("invalid"))
		return nil
	}
	req := billing.PurchaseRequest{MSISDN: sess.MSISDN, Merchant: sess.Merchant, Product: sess.Product, Method: billing.MethodPhone}
	if sess.Product == "" {
		req.Amount = sess.Amount
	}
	if card {
		cards, err := s.o.Cards.List(ctx, sess.MSISDN)
		if err != nil {
			return err
		}
		last4 := ""
		for _, c := range cards {
			if c.Default {
				last4 = c.Last4
			}
		}
		if last4 == "" {
			return s.end(sess, s.refusal(billing.Event{Reason: billing.ReasonNoCard}))
		}
		// No SMS prompt: the password is entered here, never texted.
		req.Method, req.CardLast4, req.NoPrompt, sess.CardLast4 = billing.MethodCard, last4, true, last4
	}
	req.Source = t.source(s.origin(sess))
	res, err := s.e.Purchase(ctx, req)
	if err != nil {
		if errors.Is(err, billing.ErrBadRequest) {
			return s.end(sess, s.t.get("invalid"))
		}
		return err
	}
	t.done(req.Source)
	switch res.Outcome {
	case billing.OutcomePrompted, billing.OutcomeResent:
		sess.OrderID = res.OrderID
		if card {
			s.push(sess, StateCardPassword)
		} else {
			s.push(sess, StateCode)
		}
		s.render(sess, "")
		return nil
	}
	return s.end(sess, s.refusalOf(sess, res))
}

func (s *Service) cardPay() bool { return s.o.Cards != nil && s.e.CardsOn() }

// origin is the address the order's MTs come from: the merchant's SMS
// address, so the subscriber may also answer the prompt by SMS.
func (s *Service) origin(sess *Session) string {
	return s.e.Config().ServiceCode + sess.Merchant
}

// onCode confirms a phone order with the SMS code.
func (s *Service) onCode(ctx context.Context, t *turn, sess *Session, in Input) error {
	if !in.Digits || len(in.Text) != 6 {
		s.render(sess, s.t.get("invalid"))
		return nil
	}
	src := t.source(s.origin(sess))
	res, err := s.e.Confirm(ctx, billing.ConfirmRequest{Source: src, MSISDN: sess.MSISDN, OrderID: sess.OrderID, Code: in.Text})
	if err != nil {
		return err
	}
	t.done(src)
	return s.afterConfirm(sess, res, billing.ReasonWrongCode)
}

// onCardPassword confirms a card order with the wallet password entered
// in the session; the order's code is read from the order, never shown.
func (s *Service) onCardPassword(ctx context.Context, t *turn, sess *Session, in Input) error {
	if !in.Digits || len(in.Text) != 6 {
		s.render(sess, s.t.get("invalid"))
		return nil
	}
	v, err := s.e.Lookup(ctx, billing.LookupRequest{OrderID: sess.OrderID})
	if err != nil {
		return err
	}
	if v.Order.MSISDN != sess.MSISDN {
		return s.end(sess, s.refusal(billing.Event{Reason: billing.ReasonNoPendingOrder}))
	}
	src := t.source(s.origin(sess))
	res, err := s.e.Confirm(ctx, billing.ConfirmRequest{Source: src, MSISDN: sess.MSISDN, OrderID: sess.OrderID, Code: v.Order.Code, Password: in.Text, CodeFromChannel: true})
	if err != nil {
		return err
	}
	t.done(src)
	return s.afterConfirm(sess, res, billing.ReasonWrongPassword)
}

// afterConfirm shows a confirmation's outcome: paid, pending, a retry of
// the same screen (a wrong code or password with tries left), or the
// refusal that ends the dialog.
func (s *Service) afterConfirm(sess *Session, res billing.Result, retry billing.Reason) error {
	switch res.Outcome {
	case billing.OutcomeCharged:
		m, _ := s.e.Merchant(sess.Merchant)
		name := m.Name
		if name == "" {
			name = sess.Merchant
		}
		amount := sess.Amount
		if res.Order != nil {
			amount = res.Order.Amount
		}
		sess.OrderID = 0
		return s.end(sess, s.t.get("paid", "merchant", name, "amount", amount.String(), "txn", strconv.FormatInt(res.ChargeID, 10)))
	case billing.OutcomePending:
		sess.OrderID = 0
		return s.end(sess, s.t.get("pending"))
	case billing.OutcomePrompted: // the risk rules sent a fresh code by SMS: the same screen asks for it
		s.render(sess, s.t.get("fresh_code"))
		return nil
	}
	if res.Reason == retry && res.AttemptsLeft > 0 {
		s.render(sess, s.refusalOf(sess, res))
		return nil
	}
	sess.OrderID = 0
	return s.end(sess, s.refusalOf(sess, res))
}

// onCards: choose the default card.
func (s *Service) onCards(ctx context.Context, sess *Session, in Input) error {
	cards, err := s.o.Cards.List(ctx, sess.MSISDN)
	if err != nil {
		return err
	}
	return s.onList(sess, in, func(i int) error {
		if i >= len(cards) {
			return s.end(sess, s.t.get("cards_none"))
		}
		if err := s.o.Cards.SetDefault(ctx, sess.MSISDN, cards[i].Last4); err != nil {
			if errors.Is(err, billing.ErrAmbiguousCard) || errors.Is(err, billing.ErrNoSuchCard) {
				return s.end(sess, s.refusal(billing.Event{Reason: billing.ReasonNoCard}))
			}
			return err
		}
		s.log.Info("default card changed over USSD", "msisdn", redact.Phone(sess.MSISDN), "card", cards[i].Masked)
		return s.end(sess, s.t.get("card_default_set", "last4", cards[i].Last4))
	})
}

// onPassword: the old password (sealed into the session), then the new
// one, then the engine's change.
func (s *Service) onPassword(ctx context.Context, t *turn, sess *Session, in Input) error {
	if !in.Digits || len(in.Text) != 6 {
		if sess.State == StatePasswordNew {
			s.render(sess, s.refusal(billing.Event{Reason: billing.ReasonBadPassword}))
		} else {
			s.render(sess, s.t.get("invalid"))
		}
		return nil
	}
	if sess.State == StatePasswordOld {
		box, err := s.o.Sealer.Seal(sess.MSISDN, in.Text)
		if err != nil {
			return fmt.Errorf("sealing the old password: %w", err)
		}
		sess.OldSealed = box
		s.push(sess, StatePasswordNew)
		s.render(sess, "")
		return nil
	}
	old, err := s.o.Sealer.Open(sess.MSISDN, sess.OldSealed)
	sess.OldSealed = nil
	if err != nil {
		return s.end(sess, s.t.get("busy"))
	}
	src := t.source(s.e.Config().ServiceCode)
	res, err := s.e.ChangePassword(ctx, billing.PasswordRequest{Source: src, MSISDN: sess.MSISDN, Old: old, New: in.Text})
	if err != nil {
		return err
	}
	t.done(src)
	if res.Outcome == billing.OutcomeRejected {
		return s.end(sess, s.refusalOf(sess, res))
	}
	return s.end(sess, s.t.get("password_changed"))
}

// query answers menus 2 (quota) and 3 (recent payments).
func (s *Service) query(ctx context.Context, t *turn, sess *Session, history bool) error {
	src := t.source(s.e.Config().ServiceCode)
	q, err := s.e.Query(ctx, billing.QueryRequest{Source: src, MSISDN: sess.MSISDN, Last: s.o.History})
	if err != nil {
		return err
	}
	t.done(src)
	if !history {
		body := s.t.get("quota", "day_left", q.Phone.Day.String(), "month_left", q.Phone.Month.String())
		if q.Card != nil {
			body += "\n" + s.t.get("quota_card", "day_left", q.Card.Day.String(), "month_left", q.Card.Month.String())
		}
		return s.end(sess, body)
	}
	if len(q.Payments) == 0 {
		return s.end(sess, s.t.get("history_none"))
	}
	lines := []string{s.t.get("history")}
	loc := s.e.Config().Location
	for _, p := range q.Payments {
		name := p.MerchantName
		if name == "" {
			name = p.Merchant
		}
		at := p.At
		if loc != nil {
			at = at.In(loc)
		}
		lines = append(lines, s.t.get("history_item", "date", at.Format("01-02 15:04"), "merchant", name, "amount", p.Amount.String()))
	}
	return s.end(sess, strings.Join(lines, "\n"))
}

func (s *Service) subscription(ctx context.Context, sess *Session) (Subscription, bool, error) {
	subs, err := s.o.Subscriptions.List(ctx, sess.MSISDN)
	if err != nil {
		return Subscription{}, false, err
	}
	for _, x := range subs {
		if x.ID == sess.SubID {
			return x, true, nil
		}
	}
	return Subscription{}, false, nil
}

// leave is what going back or home from a screen undoes: an order waiting
// for its code or password is cancelled (nothing was charged).
func (s *Service) leave(ctx context.Context, t *turn, sess *Session) {
	switch sess.State {
	case StateCode, StateCardPassword:
		s.cancelOrder(ctx, t, sess)
	case StatePasswordNew:
		sess.OldSealed = nil
	}
}

// cancelOrder cancels the session's pending order, if any.
func (s *Service) cancelOrder(ctx context.Context, t *turn, sess *Session) {
	if sess.OrderID == 0 {
		return
	}
	src := t.source(s.origin(sess))
	_, err := s.e.Cancel(ctx, billing.CancelRequest{Source: src, MSISDN: sess.MSISDN, OrderID: sess.OrderID})
	switch {
	case err == nil:
		t.done(src)
	case errors.Is(err, billing.ErrNotCancellable): // paid, expired or cancelled meanwhile
	default:
		s.log.Warn("cancelling the order of a USSD dialog failed (it expires on its own)", "order", sess.OrderID, "err", err)
	}
	sess.OrderID = 0
}

// push moves to a new screen, remembering the way back.
func (s *Service) push(sess *Session, st State) {
	sess.Back = append(sess.Back, Frame{State: sess.State, Page: sess.Page})
	if len(sess.Back) > 16 {
		sess.Back = sess.Back[len(sess.Back)-16:]
	}
	sess.State, sess.Page = st, 0
}

// back returns to the previous screen.
func (s *Service) back(sess *Session) {
	if len(sess.Back) == 0 {
		s.home(context.Background(), sess)
		return
	}
	f := sess.Back[len(sess.Back)-1]
	sess.Back = sess.Back[:len(sess.Back)-1]
	sess.State, sess.Page = f.State, f.Page
	switch f.State {
	case StateHome:
		s.home(context.Background(), sess)
		return
	case StateMerchants:
		sess.Merchant, sess.Product, sess.Amount = "", "", 0
	case StateProducts, StateAmount:
		sess.Product, sess.Amount = "", 0
	}
	s.render(sess, "")
}

// end shows a closing text (paged when long).
func (s *Service) end(sess *Session, body string) error {
	sess.State, sess.Final = StateEnd, true
	sess.Pages, sess.PageAt = Paginate(body, s.t.get("more"), ""), 0
	return nil
}

// busy ends the dialog on a failure of a provider the engine does not own.
func (s *Service) busy(sess *Session, err error) error {
	s.log.Warn("USSD menu: a provider failed", "msisdn", redact.Phone(sess.MSISDN), "err", err)
	return s.end(sess, s.t.get("busy"))
}

// refusal renders a refusal as the SMS channel words it.
func (s *Service) refusal(ev billing.Event) string {
	ev.Kind, ev.Channel = billing.EventRefused, billing.ChannelUSSD
	if ev.CodeValidity == 0 {
		ev.CodeValidity = s.e.Config().CodeValidity
	}
	return s.o.Refusals.Refusal(ev)
}

// refusalOf renders the refusal of a result.
func (s *Service) refusalOf(sess *Session, res billing.Result) string {
	ev := billing.Event{Reason: res.Reason, Order: res.Order, Quota: res.Quota, RetryAfter: res.RetryAfter, AttemptsLeft: res.AttemptsLeft}
	code := sess.Merchant
	if res.Order != nil {
		code = res.Order.Merchant
	}
	if m, ok := s.e.Merchant(code); ok {
		ev.Merchant = &m
	}
	method := billing.MethodPhone
	if res.Order != nil && res.Order.Method != "" {
		method = res.Order.Method
	} else if sess.CardLast4 != "" {
		method = billing.MethodCard
	}
	ev.Limits = s.e.Config().Limits[method]
	if ev.Order != nil { // the code of an order is never on a screen
		o := *ev.Order
		o.Code = ""
		ev.Order = &o
	}
	return s.refusal(ev)
}
