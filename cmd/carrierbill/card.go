package main

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/carrierbill/carrierbill/bank"
	"github.com/carrierbill/carrierbill/bank/banksim"
	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/clock"
	"github.com/carrierbill/carrierbill/config"
	"github.com/carrierbill/carrierbill/redact"
	"github.com/carrierbill/carrierbill/stores"
	"github.com/carrierbill/carrierbill/wallet"
)

func init() {
	register(command{
		name:    "card",
		summary: "operator card commands: card bind|unbind|list|default|unlock|owner -msisdn N ...",
		run:     runCard,
	})
}

// Secrets come from the environment, never from flags or the YAML file.
const (
	envCardKey      = "CARRIERBILL_CARD_KEY"      // >= 32 bytes: card fingerprints and ID hashes
	envWalletPepper = "CARRIERBILL_WALLET_PEPPER" // >= 16 bytes: the wallet password pepper
)

func runCard(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: card bind|unbind|list|default|unlock|owner", errUsage)
	}
	sub := args[0]
	fs := newFlagSet("card "+sub, stderr)
	cfgPath := fs.String("config", "", "configuration file (YAML)")
	dbURL := fs.String("database-url", "", "PostgreSQL URL (default: $DATABASE_URL, then the configuration; none: the embedded store under data_dir)")
	bankFile := fs.String("bank-file", "", "the simulated bank's JSON file (demo; there is no real bank adapter yet)")
	msisdn := fs.String("msisdn", "", "the phone number")
	pan := fs.String("pan", "", "card number, or - to read it from stdin (keeps it out of the shell history)")
	name := fs.String("name", "", "holder / owner name")
	id := fs.String("id", "", "holder / owner ID number")
	last4 := fs.String("last4", "", "last four digits of a bound card")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *msisdn == "" {
		return fmt.Errorf("%w: -msisdn is required", errUsage)
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	url := *dbURL
	if url == "" {
		url = cfg.Database.URL
	}
	secrets, err := wallet.NewSecrets([]byte(os.Getenv(envCardKey)))
	if err != nil {
		return fmt.Errorf("%s: %w", envCardKey, err)
	}
	log := NewZonedLogger(stderr, config.Log{Level: "warn"}, cfg.Location())
	// PostgreSQL when configured, else the embedded store serve uses.
	so := StoreOptions(cfg, clock.Real{}, log)
	so.DatabaseURL, so.NoMigrate, so.Limiter = url, true, false
	set, err := stores.Open(ctx, so)
	if err != nil {
		return err
	}
	defer set.Close()
	store := set.Cards

	if sub == "owner" {
		if *name == "" || *id == "" {
			return fmt.Errorf("%w: card owner needs -name and -id", errUsage)
		}
		if err := store.SetOwner(ctx, secrets, *msisdn, *name, *id); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "owner of %s registered\n", redact.Phone(*msisdn))
		return nil
	}

	var b bank.Adapter
	if *bankFile != "" {
		if b, err = banksim.Open(*bankFile, clock.Real{}); err != nil {
			return err
		}
	} else if sub == "bind" {
		return fmt.Errorf("%w: card bind needs a bank: -bank-file (the simulated bank)", errUsage)
	} else {
		b = noBank{}
	}
	hasher, err := wallet.NewHasher([]byte(os.Getenv(envWalletPepper)), wallet.DefaultParams)
	if err != nil {
		return fmt.Errorf("%s: %w", envWalletPepper, err)
	}
	cards, err := billing.NewCards(billing.CardOptions{
		Store: store, Bank: bank.ForBilling(b), Secrets: secrets, Hasher: hasher, Clock: clock.Real{},
		Logger: log, ServiceAddr: cfg.ServiceCode,
	})
	if err != nil {
		return err
	}
	switch sub {
	case "bind":
		p := *pan
		if p == "-" {
			line, err := bufio.NewReader(os.Stdin).ReadString('\n')
			if err != nil && !errors.Is(err, io.EOF) {
				return fmt.Errorf("reading the card number: %w", err)
			}
			p = strings.TrimSpace(line)
		}
		if p == "" || *name == "" || *id == "" {
			return fmt.Errorf("%w: card bind needs -pan, -name and -id", errUsage)
		}
		c, err := cards.Bind(ctx, *msisdn, p, *name, *id)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "bound %s to %s (card %d, default %v); the initial wallet password was sent by SMS\n",
			c.Masked, redact.Phone(*msisdn), c.ID, c.Default)
	case "unbind", "default":
		if len(*last4) != 4 {
			return fmt.Errorf("%w: card %s needs -last4", errUsage, sub)
		}
		if sub == "unbind" {
			err = cards.Unbind(ctx, *msisdn, *last4)
		} else {
			err = cards.SetDefault(ctx, *msisdn, *last4)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: done\n", sub)
	case "list":
		cs, err := cards.List(ctx, *msisdn)
		if err != nil {
			return err
		}
		for _, c := range cs {
			def := ""
			if c.Default {
				def = " default"
			}
			fmt.Fprintf(stdout, "%d\t%s\t%s\tbound %s%s\n", c.ID, c.Masked, c.Status, c.BoundAt.Format("2006-01-02 15:04"), def)
		}
		if len(cs) == 0 {
			fmt.Fprintln(stdout, "no cards")
		}
	case "unlock":
		if err := cards.UnlockWallet(ctx, *msisdn); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "wallet unlocked")
	default:
		return fmt.Errorf("%w: unknown card command %q (bind, unbind, list, default, unlock, owner)", errUsage, sub)
	}
	return nil
}

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
func openCards(g *Gateway, serviceCode string, log *slog.Logger, o GatewayOptions) (cardWiring, error) {
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
	m := hmac.New(sha256.New, key)
	m.Write([]byte("carrierbill/mo-seal/v1"))
	sealer, err := wallet.NewSealer(m.Sum(nil))
	if err != nil {
		return cardWiring{}, err
	}
	a := o.Bank
	if a == nil {
		a = banksim.New(g.Clock)
		log.Warn("no bank configured: card payments go to the built-in simulated bank (no real money moves)")
	}
	var store billing.CardStore = g.stores.Cards
	var resolve bank.TokenResolver = g.stores.Cards.TokenForCharge
	var owners ownerRegistry = g.stores.Cards
	cards, err := billing.NewCards(billing.CardOptions{
		Store: store, Bank: bank.ForBilling(a), Secrets: secrets, Hasher: hasher, Clock: g.Clock,
		Logger: log.With("component", "cards"), ServiceAddr: serviceCode,
	})
	if err != nil {
		return cardWiring{}, err
	}
	log.Info("bank-card payments on")
	return cardWiring{charger: bank.NewCharger(a, resolve), bank: a, hasher: hasher, sealer: sealer, cards: cards, secrets: secrets, owners: owners}, nil
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
