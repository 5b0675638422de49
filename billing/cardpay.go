package billing

// Paying with a bound bank card. A card purchase (PurchaseRequest with
// MethodCard) names a card by its last four digits or takes the default
// one; its confirmation needs the wallet password beside the code. Three
// consecutive wrong passwords lock the wallet until an operator unlocks it.
// The charge itself is the two-phase charge of every payment, through the
// card charger (Options.CardCharger), with the card limits
// (Config.Limits[MethodCard], quota row method 'card').

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/carrierbill/carrierbill/redact"
	"github.com/carrierbill/carrierbill/wallet"
)

// CardBalancer asks the bank for the balance of a card by its token
// (bank.Adapter has this method).
type CardBalancer interface {
	Balance(ctx context.Context, token string) (Money, error)
}

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

func (noCardCharger) Debit(context.Context, string, string, Money) error { return ErrCardsOff }
func (noCardCharger) Refund(context.Context, string, string, string, Money) error {
	return ErrCardsOff
}
func (noCardCharger) Status(context.Context, string) (DebitStatus, error) { return "", ErrCardsOff }

// chooseCard picks the card of a card purchase: last4 "" is the default.
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

// verifyWallet is verifyCode's card step: the wallet password, then the
// order's card still active. It returns the refusal event, or nil.
func (e *Engine) verifyWallet(ctx context.Context, tx Tx, o Order, password string, now time.Time) (*Event, error) {
	refusal := func(reason Reason) *Event { return &Event{Reason: reason, Order: &o, Origin: o.ServiceAddr} }
	if !e.CardsOn() {
		return refusal(ReasonServiceBusy), nil
	}
	if password == "" { // the order stays pending: reply with both
		return refusal(ReasonPasswordRequired), nil
	}
	reason, attemptsLeft, err := e.checkWallet(ctx, tx, o.MSISDN, password)
	if err != nil {
		return nil, err
	}
	if reason != "" { // the order stays pending (wrong password) or waits for the unlock
		ev := refusal(reason)
		ev.AttemptsLeft = attemptsLeft
		return ev, nil
	}
	card, err := tx.OrderCard(ctx, o.ID)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("reading the card of order %d: %w", o.ID, err)
	}
	if err != nil || card.Status != CardActive {
		if err := e.endOrder(ctx, tx, o, OrderFailed, ReasonNoCard, now); err != nil {
			return nil, err
		}
		o.Status, o.Reason = OrderFailed, ReasonNoCard
		return refusal(ReasonNoCard), nil
	}
	return nil, nil
}

// checkWallet verifies a wallet password inside the caller's transaction.
// It returns the refusal ("" when the password is right) and, for a wrong
// one, the tries left; a wrong password is counted (saved in tx, so the
// caller must commit) and the third locks.
func (e *Engine) checkWallet(ctx context.Context, tx Tx, msisdn, password string) (Reason, int, error) {
	w, err := tx.Wallet(ctx, msisdn)
	if errors.Is(err, ErrNotFound) {
		return ReasonNoCard, 0, nil
	}
	if err != nil {
		return "", 0, fmt.Errorf("reading the wallet: %w", err)
	}
	if w.Lock.Locked() {
		return ReasonWalletLocked, 0, nil
	}
	ok, _, err := e.hasher.Verify(w.PasswordHash, password)
	if err != nil {
		return "", 0, fmt.Errorf("verifying the wallet password: %w", err)
	}
	now := e.clock.Now()
	if !ok {
		w.Lock, w.UpdatedAt = w.Lock.Wrong(now), now
		if err := tx.SaveWallet(ctx, w); err != nil {
			return "", 0, fmt.Errorf("counting a wrong wallet password: %w", err)
		}
		e.log.Info("wrong wallet password", "msisdn", redact.Phone(msisdn), "failures", w.Lock.Failures, "locked", w.Lock.Locked())
		if w.Lock.Locked() {
			return ReasonWalletLocked, 0, nil
		}
		return ReasonWrongPassword, w.Lock.Left(), nil
	}
	if w.Lock.Failures > 0 {
		w.Lock, w.UpdatedAt = w.Lock.Right(), now
		if err := tx.SaveWallet(ctx, w); err != nil {
			return "", 0, fmt.Errorf("resetting the wrong-password count: %w", err)
		}
	}
	return "", 0, nil
}

// PasswordRequest changes a wallet password. Malformed marks a request the
// channel could not read (it is refused with bad_password).
type PasswordRequest struct {
	Source
	MSISDN    string
	Old, New  string // never logged
	Malformed bool
}

// ChangePassword changes a wallet password after checking the old one
// (wrong ones count towards the lock) and the new one's policy. Refusals:
// bad_password, wrong_password, wallet_locked, no_card.
func (e *Engine) ChangePassword(ctx context.Context, r PasswordRequest) (Result, error) {
	if err := checkNumber(r.MSISDN); err != nil {
		return Result{}, err
	}
	if !e.CardsOn() {
		return e.refuse(ctx, r.Source, r.MSISDN, Event{Reason: ReasonServiceBusy})
	}
	var res Result
	err := e.store.InTx(ctx, func(tx Tx) error {
		now := e.clock.Now()
		refuse := func(reason Reason, attemptsLeft int) error {
			ev := Event{Reason: reason, AttemptsLeft: attemptsLeft}
			res = resultOf(ev)
			return e.refuseTx(ctx, tx, r.Source, r.MSISDN, ev)
		}
		if r.Malformed {
			return refuse(ReasonBadPassword, 0)
		}
		reason, attemptsLeft, err := e.checkWallet(ctx, tx, r.MSISDN, r.Old)
		if err != nil {
			return err
		}
		if reason != "" {
			return refuse(reason, attemptsLeft)
		}
		if err := wallet.CheckPolicy(r.New); err != nil {
			return refuse(ReasonBadPassword, 0)
		}
		hash, err := e.hasher.Hash(r.New)
		if err != nil {
			return fmt.Errorf("hashing the new wallet password: %w", err)
		}
		w, err := tx.Wallet(ctx, r.MSISDN)
		if err != nil {
			return fmt.Errorf("reading the wallet: %w", err)
		}
		w.PasswordHash, w.UpdatedAt = hash, now
		if err := tx.SaveWallet(ctx, w); err != nil {
			return fmt.Errorf("saving the new wallet password: %w", err)
		}
		res = Result{Outcome: OutcomeQueried}
		if err := e.notify(ctx, tx, Event{Kind: EventPasswordChanged, Channel: r.Channel, Origin: r.Origin, MSISDN: r.MSISDN}); err != nil {
			return err
		}
		return markMO(ctx, tx, r.MO, now)
	})
	if err != nil {
		return Result{}, fmt.Errorf("password change from %s: %w", redact.Phone(r.MSISDN), err)
	}
	e.log.Info("wallet password change", "channel", string(r.Channel), "msisdn", redact.Phone(r.MSISDN), "reason", string(res.Reason))
	return res, nil
}

// BalanceRequest asks for the balance of a number's default card.
type BalanceRequest struct {
	Source
	MSISDN string
}

// Balance asks the bank for the default card's balance and hands the
// Notifier an EventBalance. Refusals: no_card, service_busy (no bank, or
// the bank did not answer).
func (e *Engine) Balance(ctx context.Context, r BalanceRequest) (Result, Money, error) {
	if err := checkNumber(r.MSISDN); err != nil {
		return Result{}, 0, err
	}
	var card Card
	var found bool
	err := e.store.InTx(ctx, func(tx Tx) error {
		cards, err := tx.ActiveCards(ctx, r.MSISDN)
		if err != nil {
			return fmt.Errorf("reading the cards: %w", err)
		}
		card, found = chooseCard(cards, "")
		return nil
	})
	if err != nil {
		return Result{}, 0, fmt.Errorf("balance query from %s: %w", redact.Phone(r.MSISDN), err)
	}
	if !found {
		res, err := e.refuse(ctx, r.Source, r.MSISDN, Event{Reason: ReasonNoCard})
		return res, 0, err
	}
	if e.cardBank == nil {
		res, err := e.refuse(ctx, r.Source, r.MSISDN, Event{Reason: ReasonServiceBusy})
		return res, 0, err
	}
	bctx, cancel := context.WithTimeout(ctx, e.cfg.ChargeTimeout)
	bal, err := e.cardBank.Balance(bctx, card.Token)
	cancel()
	if err != nil {
		e.log.Warn("bank balance query failed", "msisdn", redact.Phone(r.MSISDN), "card_id", card.ID, "err", err)
		res, err := e.refuse(ctx, r.Source, r.MSISDN, Event{Reason: ReasonServiceBusy})
		return res, 0, err
	}
	err = e.store.InTx(ctx, func(tx Tx) error {
		if err := e.notify(ctx, tx, Event{Kind: EventBalance, Channel: r.Channel, Origin: r.Origin, MSISDN: r.MSISDN, Card: &card, Balance: bal}); err != nil {
			return err
		}
		return markMO(ctx, tx, r.MO, e.clock.Now())
	})
	if err != nil {
		return Result{}, 0, fmt.Errorf("balance reply to %s: %w", redact.Phone(r.MSISDN), err)
	}
	return Result{Outcome: OutcomeQueried}, bal, nil
}

// closeOrderCard ends the binding of the card an order paid with, after
// the bank reported it closed or replaced (same transaction as the failed
// charge).
func (e *Engine) closeOrderCard(ctx context.Context, tx Tx, orderID int64) error {
	c, err := tx.OrderCard(ctx, orderID)
	if err != nil {
		return fmt.Errorf("finding the card of order %d: %w", orderID, err)
	}
	if c.Status != CardActive {
		return nil
	}
	c.Status, c.Default, c.EndedAt = CardClosed, false, e.clock.Now()
	if err := tx.UpdateCard(ctx, c); err != nil {
		return fmt.Errorf("closing card %d: %w", c.ID, err)
	}
	e.log.Info("card closed by the bank: must be bound again", "msisdn", redact.Phone(c.MSISDN), "card", c.Masked, "card_id", c.ID)
	return nil
}
