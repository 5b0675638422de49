package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/carrierbill/carrierbill/bank"
	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/config"
	"github.com/carrierbill/carrierbill/msisdn"
	"github.com/carrierbill/carrierbill/wallet"
)

// Secrets come from the environment, never from flags or the YAML file.
const (
	envCardKey      = "CARRIERBILL_CARD_KEY"      // >= 32 bytes: card fingerprints and ID hashes
	envWalletPepper = "CARRIERBILL_WALLET_PEPPER" // >= 16 bytes: the wallet password pepper
)

// noBank stands in when a command needs no bank (everything but bind).
type noBank struct{}

var errNoBank = errors.New("no bank configured")

func (noBank) Bind(context.Context, string, string, string) (bank.Card, error) {
	return bank.Card{}, errNoBank
}
func (noBank) Debit(context.Context, string, string, billing.Money) error  { return errNoBank }
func (noBank) Refund(context.Context, string, string, billing.Money) error { return errNoBank }
func (noBank) Status(context.Context, string) (bank.DebitStatus, error)    { return "", errNoBank }
func (noBank) Balance(context.Context, string) (billing.Money, error)      { return 0, errNoBank }

// cardWiring is what the gateway needs for bank-card payments.
type cardWiring struct {
	charger billing.Charger
	bank    bank.Adapter
	hasher  *wallet.Hasher
	sealer  *wallet.Sealer
	cards   *billing.Cards
	secrets *wallet.Secrets
	owners  ownerRegistry
}

// openCards wires bank-card payments for the gateway: the card key and
// wallet pepper come from GatewayOptions (tests) or the environment
// (CARRIERBILL_CARD_KEY, CARRIERBILL_WALLET_PEPPER); without them card
// payments are off (said in a log line). Both stores take them. The bank
// is GatewayOptions.Bank or, when none is configured, the simulated bank.
func openCards(g *Gateway, serviceCode string, numbering msisdn.Plan, log *slog.Logger, o GatewayOptions) (cardWiring, error) {
	key, pepper := o.CardKey, o.WalletPepper
	if key == nil {
		key = []byte(os.Getenv(envCardKey))
	}
	if pepper == nil {
		pepper = []byte(os.Getenv(envWalletPepper))
	}
	if len(key) == 0 && len(pepper) == 0 {
		log.Info("bank-card payments off: set " + envCardKey + " and " + envWalletPepper + " to take them")
		return cardWiring{}, nil
	}
	secrets, err := wallet.NewSecrets(key)
	if err != nil {
		return cardWiring{}, fmt.Errorf("%s: %w", envCardKey, err)
	}
	hasher, err := wallet.NewHasher(pepper, wallet.DefaultParams)
	if err != nil {
		return cardWiring{}, fmt.Errorf("%s: %w", envWalletPepper, err)
	}
	sealer, err := moSealer(key)
	if err != nil {
		return cardWiring{}, err
	}
	a := o.Bank
	if a == nil {
		if a, err = openBank(g.Config, g.Clock, log, o.BankKey); err != nil {
			return cardWiring{}, err
		}
	}
	var store billing.CardStore = g.stores.Cards
	var resolve bank.TokenResolver = g.stores.Cards.TokenForCharge
	var owners ownerRegistry = g.stores.Cards
	cards, err := billing.NewCards(billing.CardOptions{
		Store: store, Bank: bank.ForBilling(a), Secrets: secrets, Hasher: hasher, Sealer: sealer, Clock: g.Clock,
		Logger: log.With("component", "cards"), ServiceAddr: serviceCode, Notifier: g.texts, Numbering: numbering,
	})
	if err != nil {
		return cardWiring{}, err
	}
	log.Info("bank-card payments on")
	return cardWiring{charger: bank.NewCharger(a, resolve), bank: a, hasher: hasher, sealer: sealer, cards: cards, secrets: secrets, owners: owners}, nil
}

// moSealer is the sealer of password-carrying MOs and of the initial
// wallet-password MT, derived from the card key: serve, which sends the MT,
// and `carrierbill card bind`, which writes it, must derive the same one.
func moSealer(cardKey []byte) (*wallet.Sealer, error) {
	m := hmac.New(sha256.New, cardKey)
	m.Write([]byte("carrierbill/mo-seal/v1"))
	return wallet.NewSealer(m.Sum(nil))
}

// ownerRegistry registers a phone number's owner (both stores have it).
type ownerRegistry interface {
	SetOwner(ctx context.Context, secrets *wallet.Secrets, msisdn, name, idNumber string) error
}

// cardFrequency maps frequency.card onto the engine's card rules; nil when
// it is not configured (the phone account's values, counted apart).
func cardFrequency(c *config.Config, bc billing.Config) *billing.Frequency {
	fc := c.Frequency.Card
	if fc == nil {
		return nil
	}
	f := billing.Frequency{MinInterval: bc.MinInterval, PurchasesPerHour: bc.PurchasesPerHour}
	if fc.MinInterval != nil {
		f.MinInterval = fc.MinInterval.D()
	}
	if fc.PurchasesPerHour != nil {
		f.PurchasesPerHour = *fc.PurchasesPerHour
	}
	return &f
}
