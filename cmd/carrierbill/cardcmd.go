package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/carrierbill/carrierbill/bank"
	"github.com/carrierbill/carrierbill/bank/banksim"
	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/clock"
	"github.com/carrierbill/carrierbill/config"
	"github.com/carrierbill/carrierbill/redact"
	"github.com/carrierbill/carrierbill/sms"
	"github.com/carrierbill/carrierbill/stores"
	"github.com/carrierbill/carrierbill/wallet"
)

// The operator's card commands: one verb each, each with its own flags.
func init() {
	registerVerbs("card", "bank cards of phone numbers: card bind|unbind|list|default|unlock|owner|issue", "Operator card commands on the gateway's store (the same operations as the card admin HTTP endpoint).\n"+
		"Secrets come from the environment: "+envCardKey+" (>= 32 bytes) and, but for owner, "+envWalletPepper+" (>= 16 bytes).", []verb{
		{name: "owner", synopsis: "-msisdn N -name NAME -id ID", summary: "register a phone number's owner (name, ID number), whom a card's holder must match", run: runCardOwner},
		{name: "bind", synopsis: "-msisdn N -pan PAN|- -name NAME -id ID [-bank-file FILE]", summary: "bind a bank card to a phone number; the subscriber gets an initial wallet password by SMS", run: runCardBind},
		{name: "unbind", synopsis: "-msisdn N -last4 NNNN", summary: "unbind a card (unbinding the default leaves no default)", run: runCardLast4("unbind")},
		{name: "list", synopsis: "-msisdn N", summary: "list a phone number's cards (masked)", run: runCardList},
		{name: "default", synopsis: "-msisdn N -last4 NNNN", summary: "make a bound card the default", run: runCardLast4("default")},
		{name: "unlock", synopsis: "-msisdn N", summary: "unlock a wallet locked by three wrong passwords", run: runCardUnlock},
		{name: "issue", synopsis: "-pan PAN|- -name NAME -id ID [-balance YUAN] [-bank-file FILE]", summary: "the simulated bank opens a card account (labs and demos), to bind and pay with", run: runCardIssue},
	})
}

// cardCmd holds the flags every card verb has.
type cardCmd struct {
	verb   string
	fs     *flag.FlagSet
	config *string
	dbURL  *string
	msisdn *string
}

func newCardCmd(verb, synopsis, summary string, stderr io.Writer) *cardCmd {
	fs := newVerbFlagSet("carrierbill card "+verb, synopsis+" [-config FILE] [-database-url URL]", summary, stderr)
	return &cardCmd{
		verb:   verb,
		fs:     fs,
		config: fs.String("config", "", "configuration file (YAML)"),
		dbURL:  fs.String("database-url", "", "PostgreSQL URL (default: $DATABASE_URL, then the configuration; none: the embedded store under data_dir)"),
		msisdn: fs.String("msisdn", "", "the phone number (required)"),
	}
}

func (c *cardCmd) parse(args []string) error {
	if err := c.fs.Parse(args); err != nil {
		return err
	}
	if c.fs.NArg() > 0 {
		return fmt.Errorf("%w: card %s: unexpected arguments %v", errUsage, c.verb, c.fs.Args())
	}
	if *c.msisdn == "" {
		return fmt.Errorf("%w: card %s: -msisdn is required", errUsage, c.verb)
	}
	return nil
}

// cardEnv is the open store and secrets of a card verb.
type cardEnv struct {
	cfg     *config.Config
	secrets *wallet.Secrets
	store   stores.CardStore
	set     *stores.Set
}

func (e *cardEnv) Close() { e.set.Close() }

// open opens the card store: PostgreSQL when configured, else the embedded
// store serve uses (stores.Open, as every command).
func (c *cardCmd) open(ctx context.Context, stderr io.Writer) (*cardEnv, error) {
	cfg, err := config.Load(*c.config)
	if err != nil {
		return nil, err
	}
	// One subscriber, one number: the canonical E.164 form.
	if *c.msisdn, err = cfg.Numbering.Plan().Normalize(*c.msisdn, 0, 0); err != nil {
		return nil, fmt.Errorf("%w: card %s: -msisdn: %v", errUsage, c.verb, err)
	}
	url := *c.dbURL
	if url == "" {
		url = cfg.Database.URL
	}
	secrets, err := wallet.NewSecrets([]byte(os.Getenv(envCardKey)))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", envCardKey, err)
	}
	so := StoreOptions(cfg, clock.Real{}, NewZonedLogger(stderr, config.Log{Level: "warn"}, cfg.Location()))
	so.DatabaseURL, so.NoMigrate, so.Limiter = url, true, false
	set, err := stores.Open(ctx, so)
	if err != nil {
		return nil, err
	}
	return &cardEnv{cfg: cfg, secrets: secrets, store: set.Cards, set: set}, nil
}

// cards builds the operator side of bank cards on env with bank b.
func (e *cardEnv) cards(b bank.Adapter, stderr io.Writer) (*billing.Cards, error) {
	hasher, err := wallet.NewHasher([]byte(os.Getenv(envWalletPepper)), wallet.DefaultParams)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", envWalletPepper, err)
	}
	texts, err := sms.NewTexts(TextConfig(e.cfg))
	if err != nil {
		return nil, err
	}
	sealer, err := moSealer([]byte(os.Getenv(envCardKey))) // serve opens the initial-password MT with it
	if err != nil {
		return nil, fmt.Errorf("%s: %w", envCardKey, err)
	}
	return billing.NewCards(billing.CardOptions{
		Store: e.store, Bank: bank.ForBilling(b), Secrets: e.secrets, Hasher: hasher, Sealer: sealer, Clock: clock.Real{},
		Logger: NewZonedLogger(stderr, config.Log{Level: "warn"}, e.cfg.Location()), ServiceAddr: e.cfg.ServiceCode,
		Notifier:  texts,
		Numbering: e.cfg.Numbering.Plan(),
	})
}

func runCardOwner(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := newCardCmd("owner", "-msisdn N -name NAME -id ID", "Register a phone number's owner: a card binds only when its holder is the number's owner.", stderr)
	name := c.fs.String("name", "", "owner's name (required)")
	id := c.fs.String("id", "", "owner's ID number, or - to read it from stdin (keeps it out of ps and the shell history) (required; only a keyed hash is stored)")
	if err := c.parse(args); err != nil {
		return err
	}
	in := &stdinLines{r: bufio.NewReader(cardStdin)}
	if *id == "-" {
		v, err := in.line("the ID number")
		if err != nil {
			return err
		}
		*id = v
	}
	if *name == "" || *id == "" {
		return fmt.Errorf("%w: card owner needs -name and -id", errUsage)
	}
	env, err := c.open(ctx, stderr)
	if err != nil {
		return err
	}
	defer env.Close()
	if err := env.store.SetOwner(ctx, env.secrets, *c.msisdn, *name, *id); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "owner of %s registered\n", redact.Phone(*c.msisdn))
	return nil
}

func runCardBind(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := newCardCmd("bind", "-msisdn N -pan PAN|- -name NAME -id ID [-bank-file FILE]",
		"Bind a bank card to a phone number. The holder must be the number's registered owner (card owner);\n"+
			"the subscriber gets a random initial wallet password by SMS.", stderr)
	pan := c.fs.String("pan", "", "card number, or - to read it from stdin (keeps it out of the shell history) (required)")
	name := c.fs.String("name", "", "holder's name (required)")
	id := c.fs.String("id", "", "holder's ID number, or - to read it from stdin (after the card number when -pan is - too) (required)")
	bankFile := c.fs.String("bank-file", "", "the simulated bank's JSON file (default: the configuration's bank section, the bank serve uses)")
	if err := c.parse(args); err != nil {
		return err
	}
	// Secrets typed at the command line show in ps and the shell history:
	// "-" reads them from stdin, one a line, the card number first.
	in := &stdinLines{r: bufio.NewReader(cardStdin)}
	p := *pan
	if p == "-" {
		v, err := in.line("the card number")
		if err != nil {
			return err
		}
		p = v
	}
	if *id == "-" {
		v, err := in.line("the ID number")
		if err != nil {
			return err
		}
		*id = v
	}
	if p == "" || *name == "" || *id == "" {
		return fmt.Errorf("%w: card bind needs -pan, -name and -id", errUsage)
	}
	env, err := c.open(ctx, stderr)
	if err != nil {
		return err
	}
	defer env.Close()
	var b bank.Adapter
	if *bankFile != "" {
		b, err = banksim.Open(*bankFile, clock.Real{})
	} else {
		b, err = openBank(env.cfg, clock.Real{}, NewZonedLogger(stderr, config.Log{Level: "warn"}, env.cfg.Location()), nil)
	}
	if err != nil {
		return err
	}
	cards, err := env.cards(b, stderr)
	if err != nil {
		return err
	}
	card, err := cards.Bind(ctx, *c.msisdn, p, *name, *id)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "bound %s to %s (card %d, default %v); the initial wallet password was sent by SMS\n",
		card.Masked, redact.Phone(*c.msisdn), card.ID, card.Default)
	return nil
}

// runCardLast4 runs unbind or default: verbs that name a card by its last four digits.
func runCardLast4(verb string) func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		summary := "Unbind a card from the phone number; unbinding the default card leaves no default (the subscriber is told to choose one)."
		if verb == "default" {
			summary = "Make a bound card the phone number's default card (the one `VIP K` pays with)."
		}
		c := newCardCmd(verb, "-msisdn N -last4 NNNN", summary, stderr)
		last4 := c.fs.String("last4", "", "last four digits of the bound card (required)")
		if err := c.parse(args); err != nil {
			return err
		}
		if len(*last4) != 4 {
			return fmt.Errorf("%w: card %s needs -last4", errUsage, verb)
		}
		env, err := c.open(ctx, stderr)
		if err != nil {
			return err
		}
		defer env.Close()
		cards, err := env.cards(noBank{}, stderr)
		if err != nil {
			return err
		}
		if verb == "unbind" {
			err = cards.Unbind(ctx, *c.msisdn, *last4)
		} else {
			err = cards.SetDefault(ctx, *c.msisdn, *last4)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: done\n", verb)
		return nil
	}
}

func runCardList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := newCardCmd("list", "-msisdn N", "List a phone number's cards: id, masked number, status, when bound, which is the default.", stderr)
	if err := c.parse(args); err != nil {
		return err
	}
	env, err := c.open(ctx, stderr)
	if err != nil {
		return err
	}
	defer env.Close()
	cards, err := env.cards(noBank{}, stderr)
	if err != nil {
		return err
	}
	cs, err := cards.List(ctx, *c.msisdn)
	if err != nil {
		return err
	}
	for _, card := range cs {
		def := ""
		if card.Default {
			def = " default"
		}
		fmt.Fprintf(stdout, "%d\t%s\t%s\tbound %s%s\n", card.ID, card.Masked, card.Status, card.BoundAt.Format("2006-01-02 15:04"), def)
	}
	if len(cs) == 0 {
		fmt.Fprintln(stdout, "no cards")
	}
	return nil
}

func runCardUnlock(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := newCardCmd("unlock", "-msisdn N", "Unlock a wallet that three wrong passwords locked.", stderr)
	if err := c.parse(args); err != nil {
		return err
	}
	env, err := c.open(ctx, stderr)
	if err != nil {
		return err
	}
	defer env.Close()
	cards, err := env.cards(noBank{}, stderr)
	if err != nil {
		return err
	}
	if err := cards.UnlockWallet(ctx, *c.msisdn); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "wallet unlocked")
	return nil
}

// cardStdin is where "-pan -" and "-id -" are read from (tests set it).
var cardStdin io.Reader = os.Stdin

// stdinLines reads the secrets given as "-" from stdin, one a line.
type stdinLines struct{ r *bufio.Reader }

func (s *stdinLines) line(what string) (string, error) {
	line, err := s.r.ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("reading %s from stdin: %w", what, err)
	}
	return strings.TrimSpace(line), nil
}
