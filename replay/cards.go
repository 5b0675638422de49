package replay

import (
	"context"
	"fmt"
	"strings"

	"github.com/carrierbill/carrierbill/bank"
	"github.com/carrierbill/carrierbill/bank/banksim"
	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/redact"
	"github.com/carrierbill/carrierbill/sms"
	"github.com/carrierbill/carrierbill/wallet"
)

// PasswordPlaceholder is what a trace writes where a subscriber typed the
// wallet password: replay puts the wallet_password of that phone's account
// (the accounts file) in its place. It is always the password the account
// was bound with, also after the trace changed it with MM.
const PasswordPlaceholder = "{{password}}"

// Card states of Account.CardState.
const (
	CardOpen    = ""        // the bank takes debits while the balance lasts
	CardClosed  = "closed"  // the bank closed the card after it was bound: card_closed
	CardDecline = "decline" // the bank refuses every debit on the card: card_declined
)

// Offline replay's card secrets. They are fixed, public and throwaway: the
// PAN fingerprints, ID hashes, wallet password hashes and sealed MOs they
// protect live only in the replay's temporary store and bank simulator,
// which are removed when the replay ends; nothing leaves them.
var (
	replayCardKey = []byte("carrierbill-replay-throwaway-card-key-v1")
	replayPepper  = []byte("carrierbill-replay-throwaway-pepper")
	replaySealKey = []byte("carrierbill-replay-seal-key-32by")
	// replayHashParams are argon2id's cheapest accepted parameters: the
	// hashes are thrown away, and a replay must not spend its time on them.
	replayHashParams = wallet.Params{Memory: 8, Time: 1, Threads: 1, SaltLen: 8, KeyLen: 16}
)

// replayHolder is the owner registered for, and the holder of, every card
// of an offline replay.
const replayHolder = "replay"

func replayID(msisdn string) string { return "REPLAY" + msisdn }

// cardWorld is the card side of an offline replay: the simulated bank and
// what binds cards in the throwaway store.
type cardWorld struct {
	bank    *banksim.Bank
	adapter bank.Adapter
	secrets *wallet.Secrets
	hasher  *wallet.Hasher
	sealer  *wallet.Sealer
	decline map[string]bool // tokens the bank refuses
}

// cardOwners registers a phone number's owner (both stores have it).
type cardOwners interface {
	SetOwner(ctx context.Context, secrets *wallet.Secrets, msisdn, name, idNumber string) error
}

// hasCards reports whether any account has a card.
func hasCards(accounts []Account) bool {
	for _, a := range accounts {
		if a.CardPAN != "" {
			return true
		}
	}
	return false
}

// checkCardAccount validates the card fields of a; errors name the phone
// masked and never the PAN or the password.
func checkCardAccount(a Account) error {
	if a.CardPAN == "" {
		if a.WalletPassword != "" || a.CardBalance != 0 || a.CardState != CardOpen {
			return fmt.Errorf("account %s: card fields without card_pan", redact.Phone(a.MSISDN))
		}
		return nil
	}
	if err := wallet.CheckPAN(wallet.NormalizePAN(a.CardPAN)); err != nil {
		return fmt.Errorf("account %s: card_pan: %w", redact.Phone(a.MSISDN), err)
	}
	if wallet.CheckPolicy(a.WalletPassword) != nil {
		// The policy's error is not wrapped: it may quote the password.
		return fmt.Errorf("account %s: wallet_password must be 6 digits the wallet policy allows (no run, no repeated digit)", redact.Phone(a.MSISDN))
	}
	if a.CardBalance < 0 {
		return fmt.Errorf("account %s: card_balance_fen is negative", redact.Phone(a.MSISDN))
	}
	switch a.CardState {
	case CardOpen, CardClosed, CardDecline:
	default:
		return fmt.Errorf("account %s: card_state must be %q, %q or empty", redact.Phone(a.MSISDN), CardClosed, CardDecline)
	}
	return nil
}

func newCardWorld(e *env) (*cardWorld, error) {
	secrets, err := wallet.NewSecrets(replayCardKey)
	if err != nil {
		return nil, err
	}
	hasher, err := wallet.NewHasher(replayPepper, replayHashParams)
	if err != nil {
		return nil, err
	}
	sealer, err := wallet.NewSealer(replaySealKey)
	if err != nil {
		return nil, err
	}
	w := &cardWorld{bank: banksim.New(e.clock), secrets: secrets, hasher: hasher, sealer: sealer, decline: map[string]bool{}}
	w.adapter = decliningBank{Adapter: w.bank, tokens: w.decline}
	return w, nil
}

// decliningBank refuses every debit on the tokens of cards in CardDecline.
type decliningBank struct {
	bank.Adapter
	tokens map[string]bool // written before the first message only
}

func (b decliningBank) Debit(ctx context.Context, key, token string, amount billing.Money) error {
	if b.tokens[token] {
		return bank.ErrDeclined
	}
	return b.Adapter.Debit(ctx, key, token, amount)
}

// engineOptions switches card payments on in o.
func (w *cardWorld) engineOptions(o *billing.Options, so *sms.Options, resolve bank.TokenResolver) {
	o.CardCharger = bank.NewCharger(w.adapter, resolve)
	o.CardBank = w.adapter
	o.Hasher, so.Sealer = w.hasher, w.sealer
}

// bind opens the cards of accounts at the bank, binds them (registering
// the owner first), sets the wallet password of the accounts file and puts
// each card in its state. The binding MTs (they carry a random initial
// password) are drained from the outbox and never written out.
func (w *cardWorld) bind(ctx context.Context, e *env, store billing.CardStore, owners cardOwners, accounts []Account) error {
	cards, err := billing.NewCards(billing.CardOptions{
		Store: store, Bank: bank.ForBilling(w.adapter), Secrets: w.secrets, Hasher: w.hasher, Sealer: w.sealer, Clock: e.clock,
		Logger: e.log, ServiceAddr: "replay",
		Notifier: sms.Default(),
	})
	if err != nil {
		return fmt.Errorf("setting up the replay's cards: %w", err)
	}
	for _, a := range accounts {
		if a.CardPAN == "" {
			continue
		}
		pan := wallet.NormalizePAN(a.CardPAN)
		phone := redact.Phone(a.MSISDN)
		token, err := w.bank.AddCard(pan, replayHolder, replayID(a.MSISDN), a.CardBalance)
		if err != nil {
			return fmt.Errorf("opening the card of %s at the simulated bank: %w", phone, err)
		}
		if err := owners.SetOwner(ctx, w.secrets, a.MSISDN, replayHolder, replayID(a.MSISDN)); err != nil {
			return fmt.Errorf("registering the owner of %s: %w", phone, err)
		}
		if _, err := cards.Bind(ctx, a.MSISDN, pan, replayHolder, replayID(a.MSISDN)); err != nil {
			return fmt.Errorf("binding the card of %s: %w", phone, err)
		}
		hash, err := w.hasher.Hash(a.WalletPassword)
		if err != nil {
			return err
		}
		err = store.InCardTx(ctx, func(tx billing.CardTx) error {
			wl, err := tx.Wallet(ctx, a.MSISDN)
			if err != nil {
				return err
			}
			wl.PasswordHash = hash
			return tx.SaveWallet(ctx, wl)
		})
		if err != nil {
			return fmt.Errorf("setting the wallet password of %s: %w", phone, err)
		}
		switch a.CardState {
		case CardClosed:
			if err := w.bank.CloseCard(token); err != nil {
				return fmt.Errorf("closing the card of %s: %w", phone, err)
			}
		case CardDecline:
			w.decline[token] = true
		}
	}
	e.dispatcher.Unseal = w.sealer.Open // the initial-password MT is sealed (issue 18.3)
	for {
		n, err := e.dispatcher.RunOnce(ctx)
		if err != nil {
			return fmt.Errorf("draining the binding MTs: %w", err)
		}
		if n < outboxBatch {
			break
		}
	}
	e.rec.take()
	return nil
}

// withPassword replaces PasswordPlaceholder in text with phone's wallet
// password; a phone without a card keeps the placeholder (the engine then
// refuses it as it would any text).
func withPassword(text string, passwords map[string]string, phone string) string {
	if !strings.Contains(text, PasswordPlaceholder) {
		return text
	}
	if pw, ok := passwords[phone]; ok {
		return strings.ReplaceAll(text, PasswordPlaceholder, pw)
	}
	return text
}
