package main

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

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

// envAdminToken is the bearer token of the card admin HTTP endpoint; the
// endpoint is not served without it.
const envAdminToken = "CARRIERBILL_ADMIN_TOKEN"

// ownerRegistry registers a phone number's owner (both stores have it).
type ownerRegistry interface {
	SetOwner(ctx context.Context, secrets *wallet.Secrets, msisdn, name, idNumber string) error
}

// cardAdmin is the operator's card endpoint over HTTP, the same operations
// as `carrierbill card`:
//
//	POST /admin/owners          {"msisdn","name","id_number"}          register the owner
//	POST /admin/cards/bind      {"msisdn","pan","name","id_number"}    bind (201)
//	POST /admin/cards/unbind    {"msisdn","last4"}
//	POST /admin/cards/default   {"msisdn","last4"}
//	GET  /admin/cards?msisdn=N                                         list
//	POST /admin/wallet/unlock   {"msisdn"}
//
// Every request carries "Authorization: Bearer <token>", compared in
// constant time. Errors are JSON {"error": code, "message": text}; the
// message names a card by its masked form only. Request bodies (they carry
// PANs and ID numbers) are never logged.
type cardAdmin struct {
	cards   *billing.Cards
	owners  ownerRegistry
	secrets *wallet.Secrets
	token   [32]byte // sha256 of the bearer token
	log     *slog.Logger
}

func newCardAdmin(cards *billing.Cards, owners ownerRegistry, secrets *wallet.Secrets, token string, log *slog.Logger) (*cardAdmin, error) {
	if len(token) < 16 {
		return nil, fmt.Errorf("%s: the admin token must be at least 16 characters", envAdminToken)
	}
	return &cardAdmin{cards: cards, owners: owners, secrets: secrets, token: sha256.Sum256([]byte(token)), log: log}, nil
}

// adminErrors maps the card errors to HTTP statuses and stable codes: the
// one table of this transport.
var adminErrors = []struct {
	err    error
	status int
	code   string
}{
	{billing.ErrBadCardNumber, http.StatusBadRequest, "bad_card_number"},
	{billing.ErrUnknownOwner, http.StatusUnprocessableEntity, "unknown_owner"},
	{billing.ErrOwnerMismatch, http.StatusUnprocessableEntity, "owner_mismatch"},
	{bank.ErrHolderMismatch, http.StatusUnprocessableEntity, "holder_mismatch"},
	{bank.ErrCardClosed, http.StatusUnprocessableEntity, "card_closed"},
	{bank.ErrCardReplaced, http.StatusUnprocessableEntity, "card_replaced"},
	{bank.ErrUnknownCard, http.StatusUnprocessableEntity, "unknown_card"},
	{billing.ErrCardBound, http.StatusConflict, "card_bound_elsewhere"},
	{billing.ErrCardBoundHere, http.StatusConflict, "card_already_bound"},
	{billing.ErrAmbiguousCard, http.StatusConflict, "ambiguous_card"},
	{billing.ErrNoSuchCard, http.StatusNotFound, "no_such_card"},
	{billing.ErrWalletNotFound, http.StatusNotFound, "no_wallet"},
}

type adminRequest struct {
	MSISDN   string `json:"msisdn"`
	PAN      string `json:"pan"`
	Name     string `json:"name"`
	IDNumber string `json:"id_number"`
	Last4    string `json:"last4"`
}

type adminCard struct {
	ID      int64     `json:"id"`
	Masked  string    `json:"masked"`
	Last4   string    `json:"last4"`
	Status  string    `json:"status"`
	Default bool      `json:"default"`
	BoundAt time.Time `json:"bound_at"`
}

func (a *cardAdmin) authorized(r *http.Request) bool {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return false
	}
	h := sha256.Sum256([]byte(got))
	return subtle.ConstantTimeCompare(h[:], a.token[:]) == 1
}

func (a *cardAdmin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !a.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="carrierbill-admin"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "unauthorized", "message": "a valid bearer token is required"})
		return
	}
	var req adminRequest
	if r.Method == http.MethodPost {
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "bad_request", "message": "the body must be one JSON object with known fields"})
			return
		}
	}
	route := r.Method + " " + r.URL.Path
	if route == "GET /admin/cards" {
		req.MSISDN = r.URL.Query().Get("msisdn")
	}
	if req.MSISDN == "" || !allDigitsString(strings.TrimPrefix(req.MSISDN, "+")) {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "bad_request", "message": "msisdn is required (digits)"})
		return
	}
	req.MSISDN = strings.TrimPrefix(req.MSISDN, "+")
	ctx := r.Context()
	var err error
	switch route {
	case "POST /admin/owners":
		if req.Name == "" || req.IDNumber == "" {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "bad_request", "message": "name and id_number are required"})
			return
		}
		if err = a.owners.SetOwner(ctx, a.secrets, req.MSISDN, req.Name, req.IDNumber); err == nil {
			writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
		}
	case "POST /admin/cards/bind":
		if req.PAN == "" || req.Name == "" || req.IDNumber == "" {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "bad_request", "message": "pan, name and id_number are required"})
			return
		}
		var c billing.Card
		if c, err = a.cards.Bind(ctx, req.MSISDN, req.PAN, req.Name, req.IDNumber); err == nil {
			writeJSON(w, http.StatusCreated, toAdminCard(c))
		}
	case "POST /admin/cards/unbind", "POST /admin/cards/default":
		if len(req.Last4) != 4 || !allDigitsString(req.Last4) {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "bad_request", "message": "last4 is required (4 digits)"})
			return
		}
		if strings.HasSuffix(route, "unbind") {
			err = a.cards.Unbind(ctx, req.MSISDN, req.Last4)
		} else {
			err = a.cards.SetDefault(ctx, req.MSISDN, req.Last4)
		}
		if err == nil {
			writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
		}
	case "GET /admin/cards":
		var cs []billing.Card
		if cs, err = a.cards.List(ctx, req.MSISDN); err == nil {
			out := make([]adminCard, 0, len(cs))
			for _, c := range cs {
				out = append(out, toAdminCard(c))
			}
			writeJSON(w, http.StatusOK, out)
		}
	case "POST /admin/wallet/unlock":
		if err = a.cards.UnlockWallet(ctx, req.MSISDN); err == nil {
			writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
		}
	default:
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "not_found", "message": "no such admin operation"})
		return
	}
	if err != nil {
		for _, e := range adminErrors {
			if errors.Is(err, e.err) {
				writeJSON(w, e.status, map[string]string{"error": e.code, "message": err.Error()})
				return
			}
		}
		a.log.Error("card admin operation failed", "op", route, "msisdn", redact.Phone(req.MSISDN), "err", err)
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "internal", "message": "the operation failed; see the gateway log"})
	}
}

func toAdminCard(c billing.Card) adminCard {
	return adminCard{ID: c.ID, Masked: c.Masked, Last4: c.Last4, Status: string(c.Status), Default: c.Default, BoundAt: c.BoundAt}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func allDigitsString(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// startCardAdmin serves the card admin endpoint on listen when card
// payments are on and the admin token is set; otherwise it says why not.
func startCardAdmin(g *Gateway, listen string, cw cardWiring, log *slog.Logger, o GatewayOptions) error {
	if listen == "" {
		return nil
	}
	if cw.cards == nil {
		log.Warn("admin.listen is set but bank-card payments are off: the card admin endpoint is not served")
		return nil
	}
	token := o.AdminToken
	if token == "" {
		token = os.Getenv(envAdminToken)
	}
	if token == "" {
		log.Warn("admin.listen is set but " + envAdminToken + " is not: the card admin endpoint is not served")
		return nil
	}
	h, err := newCardAdmin(cw.cards, cw.owners, cw.secrets, token, log.With("component", "card-admin"))
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("admin.listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/admin/", h)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	g.AdminAddr = ln.Addr().String()
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("card admin endpoint stopped", "err", err)
		}
	}()
	g.closers = append(g.closers, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return srv.Shutdown(ctx)
	})
	log.Info("card admin endpoint", "addr", g.AdminAddr)
	return nil
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
