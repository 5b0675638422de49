package billing

// Paying with a bound bank card (issue 7). The subscriber buys with a card
// suffix ("VIP K" = the default card, "VIP K1234" = the card ending 1234),
// gets a prompt naming the card's last four digits, and confirms with the
// code and the 6-digit wallet password in one reply ("123456 654321").
// Three consecutive wrong passwords lock the wallet until an operator
// unlocks it. "MM old new" changes the password, "YE" asks the bank for the
// default card's balance. The charge itself is the two-phase charge of
// every payment, through the card charger (Options.CardCharger), with the
// card limits (Config.Limits[MethodCard], quota row method 'card').
//
// A wallet password never reaches the database or a log in clear: Accept
// stores wallet.RedactMO's output as the MO body and the original text
// sealed (wallet.Sealer) in mo_inbox.sealed, which Process opens and clears
// in the transaction that handles the MO.

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/carrierbill/carrierbill/redact"
	"github.com/carrierbill/carrierbill/wallet"
)

// CardPayTx is what card payments need inside the engine's transaction. A
// store supports bank-card payments when its Tx implements it (the engine
// type-asserts; a store without it answers card MOs with service_busy).
type CardPayTx interface {
	// ActiveCards returns the active cards of msisdn, oldest first, locked.
	ActiveCards(ctx context.Context, msisdn string) ([]Card, error)
	// Wallet returns the wallet of msisdn, locked. ErrNotFound.
	Wallet(ctx context.Context, msisdn string) (Wallet, error)
	// SaveWallet inserts or updates the wallet w.MSISDN.
	SaveWallet(ctx context.Context, w Wallet) error
	// UpdateCard writes Status, Default and EndedAt of c.ID. ErrNotFound.
	UpdateCard(ctx context.Context, c Card) error
	// SetOrderCard records that the order orderID pays with the card cardID
	// (orders.card_id). ErrNotFound.
	SetOrderCard(ctx context.Context, orderID, cardID int64) error
	// OrderCard returns the card the order orderID pays with, whatever its
	// status. ErrNotFound when the order names no card.
	OrderCard(ctx context.Context, orderID int64) (Card, error)
	// ClearSealedMO drops the sealed original text of the MO id.
	ClearSealedMO(ctx context.Context, id int64) error
}

// SealedMOStore is implemented by stores that keep the sealed original of a
// password-carrying MO (mo_inbox.sealed).
type SealedMOStore interface {
	// InsertSealedMO is Store.InsertMO that also stores mo.Sealed.
	InsertSealedMO(ctx context.Context, mo InboundMO) (int64, error)
	// SealedMO returns the sealed box of the MO id; nil when there is none
	// (never sealed, or already processed).
	SealedMO(ctx context.Context, id int64) ([]byte, error)
}

// RefundCharger is a Charger that must know which charge a refund gives
// back (a bank refunds to the card the charge paid with). Refund prefers it
// to Charger.Refund when the charger implements it.
type RefundCharger interface {
	// RefundCharge gives amount back under refundKey for the charge keyed
	// chargeKey. Errors as Charger.Refund.
	RefundCharge(ctx context.Context, refundKey, chargeKey, msisdn string, amount Money) error
}

// SecretScrubber is implemented by stores that can scrub sent MTs of kind
// OutboxSecret: their digits become '*' and their kind OutboxSecretSent.
// The engine's sweep calls it, so an initial wallet password stays in the
// outbox only until the SMSC has it.
type SecretScrubber interface {
	ScrubSentSecrets(ctx context.Context) (int, error)
}

// CardBalancer asks the bank for the balance of a card by its token
// (bank.Adapter has this method).
type CardBalancer interface {
	Balance(ctx context.Context, token string) (Money, error)
}

// Card payment texts, added to the one template table. Placeholders as in
// defaultTexts plus {last4}, {balance}.
var cardPayTexts = map[string]textDef{
	"card_prompt": {"您正在向{merchant}购买{product}，金额{amount}元，使用尾号{last4}的银行卡支付。请在{validity}分钟内回复验证码{code}加空格再加6位钱包密码确认支付，不购买请忽略。",
		[]string{"code"}},
	"card_balance":                 {"您尾号{last4}的默认银行卡可用余额{balance}元。", []string{"balance"}},
	"query_card":                   {"银行卡今日剩余额度{day_left}元，本月剩余额度{month_left}元。", []string{"day_left", "month_left"}},
	"password_changed":             {"钱包密码已修改，请妥善保管，勿告诉他人。", nil},
	"card_insufficient":            {"支付失败：银行卡余额不足，本次未扣费。", nil},
	string(ReasonNoCard):           {"您没有可用的银行卡（或没有该尾号的银行卡）。请到营业厅绑定银行卡或设置默认卡，购买时加K用默认卡，加K和卡号后四位指定银行卡。", nil},
	string(ReasonPasswordRequired): {"银行卡支付需要钱包密码：请在一条短信里回复“验证码 空格 6位钱包密码”。", nil},
	string(ReasonWrongPassword):    {"钱包密码错误，本次未扣费，还可尝试{attempts_left}次，连续输错3次钱包将被锁定。", nil},
	string(ReasonWalletLocked):     {"钱包密码连续输错3次，钱包已锁定，银行卡支付暂停，未扣费。请本人携带身份证到营业厅或致电客服解锁。", nil},
	string(ReasonBadPassword):      {"修改失败：请发送“MM 原密码 新密码”，新密码为6位数字，不能是连续或重复的数字。", nil},
	string(ReasonCardDeclined):     {"支付失败：银行拒绝了本次扣款，本次未扣费。", nil},
	string(ReasonCardClosed):       {"支付失败：您的银行卡已被银行注销或换卡，本次未扣费。请到营业厅重新绑定银行卡。", nil},
}

func init() {
	for k, v := range cardPayTexts {
		defaultTexts[k] = v
	}
}

// cardsOn reports whether the engine takes bank-card payments.
func (e *Engine) cardsOn() bool { return e.cardCharger != nil }

// chargerFor returns the charger of a payment method. A card charge while
// card payments are off (the gateway started without its card key) goes to
// no charger: never to the phone account.
func (e *Engine) chargerFor(m Method) Charger {
	if m == MethodCard {
		if e.cardCharger == nil {
			return noCardCharger{}
		}
		return e.cardCharger
	}
	return e.charger
}

// ErrCardsOff: a card charge, refund or status query while bank-card
// payments are not configured. The recovery sweep retries it later.
var ErrCardsOff = errors.New("billing: bank-card payments are not configured")

type noCardCharger struct{}

func (noCardCharger) Debit(context.Context, string, string, Money) error  { return ErrCardsOff }
func (noCardCharger) Refund(context.Context, string, string, Money) error { return ErrCardsOff }
func (noCardCharger) Status(context.Context, string) (DebitStatus, error) { return "", ErrCardsOff }

// redactMO prepares an MO for storage: a text that carries a password is
// replaced by its redacted form, and the original is sealed when the engine
// can seal (else it is dropped: the password is never stored in clear).
func (e *Engine) redactMO(mo InboundMO) (InboundMO, error) {
	red, carries := wallet.RedactMO(mo.Body)
	if !carries {
		return mo, nil
	}
	if e.sealer != nil {
		box, err := e.sealer.Seal(mo.MSISDN, mo.Body)
		if err != nil {
			return mo, err
		}
		mo.Sealed = box
	}
	mo.Body = red
	return mo, nil
}

// unseal returns the text to process: the sealed original of a redacted MO
// when there is one, its body otherwise.
func (e *Engine) unseal(ctx context.Context, mo *InboundMO) string {
	if len(mo.Sealed) == 0 && mo.ID != 0 && strings.Contains(mo.Body, "******") {
		if ss, ok := e.store.(SealedMOStore); ok {
			box, err := ss.SealedMO(ctx, mo.ID)
			if err != nil {
				e.log.Warn("reading a sealed MO failed; processing the redacted text", "mo", mo.ID, "err", err)
			}
			mo.Sealed = box
		}
	}
	if len(mo.Sealed) == 0 || e.sealer == nil {
		return mo.Body
	}
	text, err := e.sealer.Open(mo.MSISDN, mo.Sealed)
	if err != nil {
		e.log.Warn("cannot open a sealed MO (key changed?); processing the redacted text", "mo", mo.ID, "err", err)
		return mo.Body
	}
	return text
}

// cardTx returns tx's card operations, or an error when the store has none.
func cardTx(tx Tx) (CardPayTx, error) {
	ct, ok := tx.(CardPayTx)
	if !ok {
		return nil, errors.New("billing: the store does not support bank-card payments")
	}
	return ct, nil
}

// processCard handles the wallet commands and card purchases. handled is
// false when text is none of them.
func (e *Engine) processCard(ctx context.Context, mo InboundMO, text string) (Result, bool, error) {
	w := wallet.ParseMO(text)
	switch w.Kind {
	case wallet.MOBalance:
		r, err := e.balance(ctx, mo)
		return r, true, err
	case wallet.MOChangePassword, wallet.MOBadChangePassword:
		r, err := e.changePassword(ctx, mo, w)
		return r, true, err
	case wallet.MOCardConfirm:
		r, err := e.confirm(ctx, mo, w.Code, w.Password)
		return r, true, err
	}
	base, last4, ok := wallet.ParseCardSuffix(text)
	if !ok {
		return Result{}, false, nil
	}
	cmd := ParseMO(base)
	switch cmd.Kind {
	case CommandKeyword, CommandAmount, CommandBadAmount:
		r, err := e.purchase(ctx, mo, cmd, &cardChoice{last4: last4})
		return r, true, err
	}
	return Result{}, false, nil
}

// cardChoice is the card a purchase names: last4 "" is the default card.
type cardChoice struct{ last4 string }

// chooseCard picks the card of a card purchase.
func chooseCard(cards []Card, last4 string) (Card, bool) {
	if last4 == "" {
		for _, c := range cards {
			if c.Default {
				return c, true
			}
		}
		return Card{}, false
	}
	c, err := pick(cards, last4)
	return c, err == nil
}

// checkWallet verifies the wallet password of a card confirmation inside
// the confirmation's transaction. It returns the refusal (with its text's
// placeholders) or "" when the password is right; a wrong password is
// counted (saved in tx, so the caller must commit) and the third locks.
func (e *Engine) checkWallet(ctx context.Context, ct CardPayTx, msisdn, password string) (Reason, []string, error) {
	w, err := ct.Wallet(ctx, msisdn)
	if errors.Is(err, ErrNotFound) {
		return ReasonNoCard, nil, nil
	}
	if err != nil {
		return "", nil, fmt.Errorf("reading the wallet: %w", err)
	}
	if w.Lock.Locked() {
		return ReasonWalletLocked, nil, nil
	}
	ok, _, err := e.hasher.Verify(w.PasswordHash, password)
	if err != nil {
		return "", nil, fmt.Errorf("verifying the wallet password: %w", err)
	}
	now := e.clock.Now()
	if !ok {
		w.Lock, w.UpdatedAt = w.Lock.Wrong(now), now
		if err := ct.SaveWallet(ctx, w); err != nil {
			return "", nil, fmt.Errorf("counting a wrong wallet password: %w", err)
		}
		e.log.Info("wrong wallet password", "msisdn", redact.Phone(msisdn), "failures", w.Lock.Failures, "locked", w.Lock.Locked())
		if w.Lock.Locked() {
			return ReasonWalletLocked, nil, nil
		}
		return ReasonWrongPassword, []string{"attempts_left", strconv.Itoa(w.Lock.Left())}, nil
	}
	if w.Lock.Failures > 0 {
		w.Lock, w.UpdatedAt = w.Lock.Right(), now
		if err := ct.SaveWallet(ctx, w); err != nil {
			return "", nil, fmt.Errorf("resetting the wrong-password count: %w", err)
		}
	}
	return "", nil, nil
}

// changePassword handles MM old new.
func (e *Engine) changePassword(ctx context.Context, mo InboundMO, w wallet.MO) (Result, error) {
	var res Result
	err := e.store.InTx(ctx, func(tx Tx) error {
		now := e.clock.Now()
		ct, err := cardTx(tx)
		if err != nil {
			return err
		}
		reply := func(reason Reason, body string) error {
			res = Result{Outcome: OutcomeRejected, Reason: reason}
			kind := OutboxReject
			if reason == "" {
				res, kind = Result{Outcome: OutcomeQueried}, OutboxCard
			}
			if err := e.enqueue(ctx, tx, mo.MSISDN, mo.ServiceAddr, kind, 0, body); err != nil {
				return err
			}
			return markMO(ctx, tx, mo, now)
		}
		if w.Kind == wallet.MOBadChangePassword {
			return reply(ReasonBadPassword, e.cfg.text(string(ReasonBadPassword)))
		}
		reason, kv, err := e.checkWallet(ctx, ct, mo.MSISDN, w.Old)
		if err != nil {
			return err
		}
		if reason != "" {
			return reply(reason, e.cfg.text(string(reason), kv...))
		}
		if err := wallet.CheckPolicy(w.New); err != nil {
			return reply(ReasonBadPassword, e.cfg.text(string(ReasonBadPassword)))
		}
		hash, err := e.hasher.Hash(w.New)
		if err != nil {
			return fmt.Errorf("hashing the new wallet password: %w", err)
		}
		wl, err := ct.Wallet(ctx, mo.MSISDN)
		if err != nil {
			return fmt.Errorf("reading the wallet: %w", err)
		}
		wl.PasswordHash, wl.UpdatedAt = hash, now
		if err := ct.SaveWallet(ctx, wl); err != nil {
			return fmt.Errorf("saving the new wallet password: %w", err)
		}
		return reply("", e.cfg.text("password_changed"))
	})
	if err != nil {
		return Result{}, fmt.Errorf("password change from %s: %w", redact.Phone(mo.MSISDN), err)
	}
	e.log.Info("wallet password change", "mo", mo.ID, "msisdn", redact.Phone(mo.MSISDN), "reason", string(res.Reason))
	return res, nil
}

// balance handles YE: the default card's balance through the bank.
func (e *Engine) balance(ctx context.Context, mo InboundMO) (Result, error) {
	var card Card
	var found bool
	err := e.store.InTx(ctx, func(tx Tx) error {
		ct, err := cardTx(tx)
		if err != nil {
			return err
		}
		cards, err := ct.ActiveCards(ctx, mo.MSISDN)
		if err != nil {
			return fmt.Errorf("reading the cards: %w", err)
		}
		card, found = chooseCard(cards, "")
		return nil
	})
	if err != nil {
		return Result{}, fmt.Errorf("balance query from %s: %w", redact.Phone(mo.MSISDN), err)
	}
	if !found {
		return e.reject(ctx, mo, ReasonNoCard, 0)
	}
	if e.cardBank == nil {
		return e.reject(ctx, mo, ReasonServiceBusy, 0)
	}
	bctx, cancel := context.WithTimeout(ctx, e.cfg.ChargeTimeout)
	bal, err := e.cardBank.Balance(bctx, card.Token)
	cancel()
	if err != nil {
		e.log.Warn("bank balance query failed", "msisdn", redact.Phone(mo.MSISDN), "card_id", card.ID, "err", err)
		return e.reject(ctx, mo, ReasonServiceBusy, 0)
	}
	err = e.store.InTx(ctx, func(tx Tx) error {
		body := e.cfg.text("card_balance", "last4", card.Last4, "balance", bal.String())
		if err := e.enqueue(ctx, tx, mo.MSISDN, mo.ServiceAddr, OutboxQuery, 0, body); err != nil {
			return err
		}
		return markMO(ctx, tx, mo, e.clock.Now())
	})
	if err != nil {
		return Result{}, fmt.Errorf("balance reply to %s: %w", redact.Phone(mo.MSISDN), err)
	}
	return Result{Outcome: OutcomeQueried}, nil
}

// closeOrderCard ends the binding of the card an order paid with, after
// the bank reported it closed or replaced (same transaction as the failed
// charge).
func (e *Engine) closeOrderCard(ctx context.Context, tx Tx, orderID int64) error {
	ct, err := cardTx(tx)
	if err != nil {
		return err
	}
	c, err := ct.OrderCard(ctx, orderID)
	if err != nil {
		return fmt.Errorf("finding the card of order %d: %w", orderID, err)
	}
	if c.Status != CardActive {
		return nil
	}
	c.Status, c.Default, c.EndedAt = CardClosed, false, e.clock.Now()
	if err := ct.UpdateCard(ctx, c); err != nil {
		return fmt.Errorf("closing card %d: %w", c.ID, err)
	}
	e.log.Info("card closed by the bank: must be bound again", "msisdn", redact.Phone(c.MSISDN), "card", c.Masked, "card_id", c.ID)
	return nil
}
