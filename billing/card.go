package billing

// Bank cards: binding a card to a phone number and the wallet that goes
// with it. The rules live here (Cards); CardStore only stores. The bank is
// reached through CardBank (package bank adapts its Adapter to it); card
// and ID numbers pass through Cards.Bind and are never stored or logged:
// only the bank's token, a keyed fingerprint and the masked form are.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/carrierbill/carrierbill/clock"
	"github.com/carrierbill/carrierbill/msisdn"
	"github.com/carrierbill/carrierbill/redact"
	"github.com/carrierbill/carrierbill/wallet"
)

// CardStatus is the state of a binding (cards.status).
type CardStatus string

// Binding states.
const (
	CardActive  CardStatus = "active"
	CardUnbound CardStatus = "unbound" // the operator unbound it
	CardClosed  CardStatus = "closed"  // the bank reported it closed or replaced: bind again
)

// Card is one binding of a bank card to a phone number.
type Card struct {
	ID          int64
	MSISDN      string
	Token       string // the bank's token
	Fingerprint []byte // wallet.Secrets.CardFingerprint of the PAN
	Last4       string
	Masked      string // 622202*********1234
	Status      CardStatus
	Default     bool
	BoundAt     time.Time
	EndedAt     time.Time // zero while active
}

// Wallet is a phone number's wallet password and lockout state.
type Wallet struct {
	MSISDN       string
	PasswordHash string // wallet.Hasher encoding
	Lock         wallet.Lock
	UpdatedAt    time.Time
}

// BankCard is what the bank returns when a card is bound.
type BankCard struct {
	Token, Last4, Masked string
}

// CardBank is the part of a bank Cards needs (bank.ForBilling adapts a
// bank.Adapter). BindCard is the only call that carries the PAN.
type CardBank interface {
	BindCard(ctx context.Context, pan, holderName, idNumber string) (BankCard, error)
}

// Card errors. Stores return ErrCardBound for the fingerprint's unique
// index (cards_one_phone_per_card).
var (
	ErrOwnerMismatch  = errors.New("billing: the holder is not the phone number's registered owner")
	ErrCardBound      = errors.New("billing: this card is already bound to another phone number")
	ErrCardBoundHere  = errors.New("billing: this card is already bound to this phone number")
	ErrNoSuchCard     = errors.New("billing: no active card with these last four digits on this phone number")
	ErrAmbiguousCard  = errors.New("billing: several active cards end with these digits")
	ErrBadCardNumber  = errors.New("billing: not a valid card number")
	ErrUnknownOwner   = errors.New("billing: the phone number has no registered owner")
	ErrWalletNotFound = errors.New("billing: the phone number has no wallet")
	// ErrBadNumber: a phone number given to Cards.Number cannot be
	// normalized (the error also matches msisdn.ErrInvalid).
	ErrBadNumber = errors.New("billing: not a phone number")
)

// CardStore stores cards and wallets. Implementations: billing/postgres.
type CardStore interface {
	// InCardTx runs fn in one transaction, like Store.InTx.
	InCardTx(ctx context.Context, fn func(tx CardTx) error) error
}

// CardTx is the card operations inside one transaction.
type CardTx interface {
	// Owner returns the registered owner's name and ID hash of msisdn
	// (subscribers) and locks the subscriber row. ErrNotFound when there
	// is no subscriber; empty values when no owner is registered.
	Owner(ctx context.Context, msisdn string) (name string, idHash []byte, err error)
	// ActiveCards returns the active cards of msisdn, oldest first, locked.
	ActiveCards(ctx context.Context, msisdn string) ([]Card, error)
	// CardByFingerprint returns the active card with this fingerprint.
	// ErrNotFound.
	CardByFingerprint(ctx context.Context, fp []byte) (Card, error)
	// InsertCard stores a new card and returns its id. ErrCardBound when an
	// active card has the same fingerprint.
	InsertCard(ctx context.Context, c Card) (int64, error)
	// UpdateCard writes Status, Default and EndedAt of c.ID. ErrNotFound.
	UpdateCard(ctx context.Context, c Card) error
	// Wallet returns the wallet of msisdn, locked. ErrNotFound.
	Wallet(ctx context.Context, msisdn string) (Wallet, error)
	// SaveWallet inserts or updates the wallet w.MSISDN.
	SaveWallet(ctx context.Context, w Wallet) error
	// Enqueue writes an MT to the outbox (as Tx.Enqueue).
	Enqueue(ctx context.Context, m OutboxMsg) (int64, error)
}

// OutboxCard is the outbox kind of card-binding MTs.
const OutboxCard OutboxKind = "card"

// OutboxSecret is the kind of an MT that carries a secret (the initial
// wallet password). Once sent, the engine's sweep scrubs its digits
// (SecretScrubber) and its kind becomes OutboxSecretSent.
const (
	OutboxSecret     OutboxKind = "secret"
	OutboxSecretSent OutboxKind = "secret_sent"
)

// CardOptions wire Cards. Every field but Logger, Notifier and Numbering
// is required.
type CardOptions struct {
	Store   CardStore
	Bank    CardBank
	Secrets *wallet.Secrets
	Hasher  *wallet.Hasher
	// Sealer seals the MT that carries the initial wallet password (it is
	// the sealer of password-carrying MOs): the outbox keeps only the sealed
	// box and a masked body, and the Dispatcher (its Unseal) opens it just
	// before sending, so the password never reaches a table in clear.
	Sealer *wallet.Sealer
	// Numbering is the plan of Number, with which the entry points (the
	// card CLI, the card admin) bring a phone number to its canonical form
	// before they call Cards; the zero Plan is msisdn.DefaultPlan. Cards
	// itself takes numbers as given.
	Numbering   msisdn.Plan
	Clock       clock.Clock
	Logger      *slog.Logger
	ServiceAddr string // where card MTs come from (the service code)
	// Notifier renders the card events (the SMS channel's texts); nil
	// texts nothing.
	Notifier Notifier
}

// Cards is the operator side of bank cards: bind, unbind, choose the
// default, list, unlock the wallet.
type Cards struct {
	o   CardOptions
	log *slog.Logger
}

// NewCards returns the card service.
func NewCards(o CardOptions) (*Cards, error) {
	if o.Store == nil || o.Bank == nil || o.Secrets == nil || o.Hasher == nil || o.Sealer == nil || o.Clock == nil || o.ServiceAddr == "" {
		return nil, errors.New("billing: NewCards needs a Store, a Bank, Secrets, a Hasher, a Sealer, a Clock and a ServiceAddr")
	}
	c := &Cards{o: o, log: o.Logger}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.o.Notifier == nil {
		c.o.Notifier = NoNotifier{}
	}
	return c, nil
}

// notify hands the Notifier a card event about msisdn, inside tx. An MT
// that carries the initial password is sealed on its way to the outbox.
func (c *Cards) notify(ctx context.Context, tx CardTx, ev Event) error {
	ev.Channel, ev.Origin = ChannelOperator, c.o.ServiceAddr
	return enqueueEvent(ctx, sealingTx{tx: tx, sealer: c.o.Sealer, secret: ev.InitialPassword}, c.o.Notifier, c.o.Clock.Now(), ev)
}

// Number returns the canonical form of the phone number raw under
// CardOptions.Numbering: the card admin and CLI call it on every number
// they are given before calling Cards or registering an owner. The error
// wraps ErrBadNumber and msisdn.ErrInvalid; it never holds the number.
func (c *Cards) Number(raw string) (string, error) {
	n, err := c.o.Numbering.Normalize(raw, msisdn.TONUnknown, msisdn.NPIUnknown)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrBadNumber, err)
	}
	return n, nil
}

// Bind binds the card pan to msisdn for the holder. The holder name and ID
// must be msisdn's registered owner (ErrOwnerMismatch, ErrUnknownOwner);
// the card must pass the Luhn check (ErrBadCardNumber) and not be bound to
// another number (ErrCardBound) or this one (ErrCardBoundHere). The first
// card becomes the default. The first binding creates the wallet with a
// random password, sent by SMS in the same transaction as the binding.
// Bank errors are returned wrapped (bank.ErrHolderMismatch,
// bank.ErrCardClosed, ...).
func (c *Cards) Bind(ctx context.Context, msisdn, pan, holderName, idNumber string) (Card, error) {
	pan = wallet.NormalizePAN(pan)
	masked := wallet.MaskPAN(pan)
	if err := wallet.CheckPAN(pan); err != nil {
		return Card{}, fmt.Errorf("binding card %s to %s: %w: %v", masked, redact.Phone(msisdn), ErrBadCardNumber, err)
	}
	fp := c.o.Secrets.CardFingerprint(pan)
	idHash := c.o.Secrets.IDHash(idNumber)
	holderName = strings.TrimSpace(holderName)
	// Check the owner and the one-card-one-phone rule before the PAN
	// goes to the bank.
	check := func(tx CardTx) error {
		name, h, err := tx.Owner(ctx, msisdn)
		if errors.Is(err, ErrNotFound) || (err == nil && (name == "" || len(h) == 0)) {
			return ErrUnknownOwner
		}
		if err != nil {
			return fmt.Errorf("reading the registered owner: %w", err)
		}
		if name != holderName || !wallet.EqualHash(h, idHash) {
			return ErrOwnerMismatch
		}
		other, err := tx.CardByFingerprint(ctx, fp)
		switch {
		case err == nil && other.MSISDN == msisdn:
			return ErrCardBoundHere
		case err == nil:
			return ErrCardBound
		case !errors.Is(err, ErrNotFound):
			return fmt.Errorf("looking up the card: %w", err)
		}
		return nil
	}
	if err := c.o.Store.InCardTx(ctx, check); err != nil {
		return Card{}, fmt.Errorf("binding card %s to %s: %w", masked, redact.Phone(msisdn), err)
	}
	bc, err := c.o.Bank.BindCard(ctx, pan, holderName, idNumber)
	if err != nil {
		return Card{}, fmt.Errorf("binding card %s to %s at the bank: %w", masked, redact.Phone(msisdn), err)
	}
	var card Card
	err = c.o.Store.InCardTx(ctx, func(tx CardTx) error {
		if err := check(tx); err != nil {
			return err
		}
		now := c.o.Clock.Now()
		cards, err := tx.ActiveCards(ctx, msisdn)
		if err != nil {
			return fmt.Errorf("reading the cards: %w", err)
		}
		hasDefault := false
		for _, x := range cards {
			hasDefault = hasDefault || x.Default
		}
		card = Card{MSISDN: msisdn, Token: bc.Token, Fingerprint: fp, Last4: bc.Last4, Masked: bc.Masked,
			Status: CardActive, Default: !hasDefault && len(cards) == 0, BoundAt: now}
		if card.Masked == "" {
			card.Masked = masked
		}
		if card.Last4 == "" {
			card.Last4 = pan[len(pan)-4:]
		}
		if card.ID, err = tx.InsertCard(ctx, card); err != nil {
			return fmt.Errorf("storing the card: %w", err)
		}
		_, err = tx.Wallet(ctx, msisdn)
		switch {
		case err == nil:
			return c.notify(ctx, tx, Event{Kind: EventCardBound, MSISDN: msisdn, Card: &card})
		case !errors.Is(err, ErrNotFound):
			return fmt.Errorf("reading the wallet: %w", err)
		}
		pw, err := wallet.GeneratePassword()
		if err != nil {
			return err
		}
		hash, err := c.o.Hasher.Hash(pw)
		if err != nil {
			return err
		}
		if err := tx.SaveWallet(ctx, Wallet{MSISDN: msisdn, PasswordHash: hash, UpdatedAt: now}); err != nil {
			return fmt.Errorf("creating the wallet: %w", err)
		}
		return c.notify(ctx, tx, Event{Kind: EventCardBound, MSISDN: msisdn, Card: &card, InitialPassword: pw})
	})
	if err != nil {
		return Card{}, fmt.Errorf("binding card %s to %s: %w", masked, redact.Phone(msisdn), err)
	}
	c.log.Info("card bound", "msisdn", redact.Phone(msisdn), "card", card.Masked, "card_id", card.ID, "default", card.Default)
	return card, nil
}

// pick finds the active card of msisdn ending in last4 among cards.
func pick(cards []Card, last4 string) (Card, error) {
	var found []Card
	for _, x := range cards {
		if x.Last4 == last4 {
			found = append(found, x)
		}
	}
	switch len(found) {
	case 0:
		return Card{}, ErrNoSuchCard
	case 1:
		return found[0], nil
	}
	return Card{}, ErrAmbiguousCard
}

// Unbind ends the binding of msisdn's card ending in last4. When it was the
// default, no other card becomes the default: the subscriber is told to
// choose one.
func (c *Cards) Unbind(ctx context.Context, msisdn, last4 string) error {
	var card Card
	err := c.o.Store.InCardTx(ctx, func(tx CardTx) error {
		cards, err := tx.ActiveCards(ctx, msisdn)
		if err != nil {
			return fmt.Errorf("reading the cards: %w", err)
		}
		if card, err = pick(cards, last4); err != nil {
			return err
		}
		wasDefault := card.Default
		card.Status, card.Default, card.EndedAt = CardUnbound, false, c.o.Clock.Now()
		if err := tx.UpdateCard(ctx, card); err != nil {
			return fmt.Errorf("unbinding card %d: %w", card.ID, err)
		}
		return c.notify(ctx, tx, Event{Kind: EventCardUnbound, MSISDN: msisdn, Card: &card, WasDefault: wasDefault})
	})
	if err != nil {
		return fmt.Errorf("unbinding card *%s of %s: %w", last4, redact.Phone(msisdn), err)
	}
	c.log.Info("card unbound", "msisdn", redact.Phone(msisdn), "card", card.Masked, "card_id", card.ID)
	return nil
}

// SetDefault makes msisdn's card ending in last4 the default.
func (c *Cards) SetDefault(ctx context.Context, msisdn, last4 string) error {
	err := c.o.Store.InCardTx(ctx, func(tx CardTx) error {
		cards, err := tx.ActiveCards(ctx, msisdn)
		if err != nil {
			return fmt.Errorf("reading the cards: %w", err)
		}
		target, err := pick(cards, last4)
		if err != nil {
			return err
		}
		for _, x := range cards { // clear first: one default per number
			if x.Default && x.ID != target.ID {
				x.Default = false
				if err := tx.UpdateCard(ctx, x); err != nil {
					return fmt.Errorf("clearing the default: %w", err)
				}
			}
		}
		target.Default = true
		return tx.UpdateCard(ctx, target)
	})
	if err != nil {
		return fmt.Errorf("setting card *%s the default of %s: %w", last4, redact.Phone(msisdn), err)
	}
	return nil
}

// List returns msisdn's active cards, oldest first.
func (c *Cards) List(ctx context.Context, msisdn string) ([]Card, error) {
	var cards []Card
	err := c.o.Store.InCardTx(ctx, func(tx CardTx) error {
		var err error
		cards, err = tx.ActiveCards(ctx, msisdn)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listing the cards of %s: %w", redact.Phone(msisdn), err)
	}
	return cards, nil
}

// MarkClosed ends the binding of a card the bank reported closed or
// replaced: it must be bound again to pay. It is what the payment path
// calls on bank.MustRebind.
func (c *Cards) MarkClosed(ctx context.Context, msisdn string, cardID int64) error {
	err := c.o.Store.InCardTx(ctx, func(tx CardTx) error {
		cards, err := tx.ActiveCards(ctx, msisdn)
		if err != nil {
			return err
		}
		for _, x := range cards {
			if x.ID == cardID {
				x.Status, x.Default, x.EndedAt = CardClosed, false, c.o.Clock.Now()
				return tx.UpdateCard(ctx, x)
			}
		}
		return ErrNoSuchCard
	})
	if err != nil {
		return fmt.Errorf("closing card %d of %s: %w", cardID, redact.Phone(msisdn), err)
	}
	return nil
}

// UnlockWallet is the operator's unlock: the wallet of msisdn opens with no
// failures and the subscriber is told.
func (c *Cards) UnlockWallet(ctx context.Context, msisdn string) error {
	err := c.o.Store.InCardTx(ctx, func(tx CardTx) error {
		w, err := tx.Wallet(ctx, msisdn)
		if errors.Is(err, ErrNotFound) {
			return ErrWalletNotFound
		}
		if err != nil {
			return err
		}
		w.Lock, w.UpdatedAt = w.Lock.Unlock(), c.o.Clock.Now()
		if err := tx.SaveWallet(ctx, w); err != nil {
			return err
		}
		return c.notify(ctx, tx, Event{Kind: EventWalletUnlocked, MSISDN: msisdn})
	})
	if err != nil {
		return fmt.Errorf("unlocking the wallet of %s: %w", redact.Phone(msisdn), err)
	}
	return nil
}
