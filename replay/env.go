package replay

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/carrierbill/carrierbill/bank"
	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/clock"
	"github.com/carrierbill/carrierbill/msisdn"
	"github.com/carrierbill/carrierbill/redact"
	"github.com/carrierbill/carrierbill/risk"
	"github.com/carrierbill/carrierbill/sms"
	"github.com/carrierbill/carrierbill/stores"
)

// limiterTimeout bounds one call to the embedded limiter. It is long on
// purpose: a replay on a loaded machine must not turn CPU starvation into
// service_busy rejections that the recorded day never had.
const limiterTimeout = 30 * time.Second

// env is the throwaway world of an offline replay.
type env struct {
	clock      *clock.Fake
	log        *slog.Logger
	store      billing.Store
	engine     *billing.Engine
	sms        *sms.Channel
	plan       msisdn.Plan
	dispatcher *billing.Dispatcher
	rec        *recorder
	passwords  map[string]string // wallet passwords of the bound cards, by phone
	closers    []func() error
}

func openEnv(ctx context.Context, o Options) (_ *env, err error) {
	e := &env{clock: clock.NewFake(time.Unix(0, 0)), log: o.Logger, rec: &recorder{}, plan: o.Numbering}
	// The accounts' numbers in the canonical form the trace's will have.
	accounts := make([]Account, len(o.Accounts))
	for i, a := range o.Accounts {
		n, err := o.Numbering.Normalize(a.MSISDN, 0, 0)
		if err != nil {
			return nil, fmt.Errorf("accounts: %s: %w", redact.Phone(a.MSISDN), err)
		}
		a.MSISDN = n
		accounts[i] = a
	}
	o.Accounts = accounts
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	defer func() {
		if err != nil {
			e.close()
		}
	}()
	if o.Config.Location == nil {
		return nil, errors.New("replay: Config.Location is required")
	}
	credit := o.CreditLimit
	if credit == 0 {
		credit = DefaultCreditLimit
	}
	charger := o.Charger
	var cw *cardWorld
	var cardStore billing.CardStore
	var owners cardOwners
	var resolve bank.TokenResolver
	var phone phoneAccounts
	for _, a := range o.Accounts {
		if err := checkCardAccount(a); err != nil {
			return nil, err
		}
	}
	if hasCards(o.Accounts) {
		e.passwords = map[string]string{}
		for _, a := range o.Accounts {
			if a.CardPAN != "" {
				e.passwords[a.MSISDN] = a.WalletPassword
			}
		}
		if cw, err = newCardWorld(e); err != nil {
			return nil, fmt.Errorf("setting up the replay's card secrets: %w", err)
		}
	}
	so := stores.Options{
		DatabaseURL: o.DatabaseURL, Clock: e.clock, Logger: e.log,
		Accounts: billing.AccountsOptions{AutoOpen: !o.NoAutoOpen, CreditLimit: credit},
		// The in-process Redis also carries the risk rules' counters, so it
		// runs even when Options.Limiter replaces the limiter.
		Limiter: true, RedisTimeout: limiterTimeout,
	}
	if o.DatabaseURL != "" {
		if so.Schema, err = scratchSchema(ctx, o.DatabaseURL, e); err != nil {
			return nil, err
		}
	} else {
		base := o.Dir
		if base == "" {
			if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
				base = "/dev/shm"
			}
		}
		dir, err := os.MkdirTemp(base, "carrierbill-replay-")
		if err != nil {
			return nil, fmt.Errorf("creating the replay's temporary directory: %w", err)
		}
		e.closers = append(e.closers, func() error { return os.RemoveAll(dir) })
		so.DataDir = dir
	}
	set, err := stores.Open(ctx, so)
	if err != nil {
		return nil, fmt.Errorf("opening the replay store: %w", err)
	}
	e.closers = append(e.closers, set.Close)
	e.store = set.Billing
	cardStore, owners, resolve = set.Cards, set.Cards, set.Cards.TokenForCharge
	phone = set.Accounts
	if err := openAccounts(ctx, phone, o.Accounts); err != nil {
		return nil, err
	}
	if charger == nil {
		charger = phone
	}
	limiter := o.Limiter
	if limiter == nil {
		limiter = set.Limiter
	}
	eo := billing.Options{
		Config: o.Config, Store: e.store, Charger: charger, Limiter: limiter, Clock: e.clock, Logger: e.log,
		Codes: codeSource(o.Seed),
	}
	if !o.NoRisk {
		var balances risk.Balances
		if o.Charger == nil { // the phone accounts: prepaid_drain reads their balances
			balances = risk.AccountBalances{Accounts: set.Accounts}
		}
		if eo.Risk, err = e.openRisk(o, set.EmbeddedRedis, balances); err != nil {
			return nil, err
		}
	}
	smsOpts := sms.Options{Workers: 1, Logger: e.log}
	if cw != nil {
		cw.engineOptions(&eo, &smsOpts, resolve)
	}
	e.engine, e.sms, err = sms.NewEngine(eo, o.Texts, smsOpts)
	if err != nil {
		return nil, fmt.Errorf("configuring the engine: %w", err)
	}
	e.dispatcher = &billing.Dispatcher{Store: e.store, Sender: e.rec, Clock: e.clock, Logger: e.log, Batch: outboxBatch}
	if cw != nil {
		if err := cw.bind(ctx, e, cardStore, owners, o.Accounts); err != nil {
			return nil, err
		}
	}
	return e, nil
}

// openRisk starts the risk rules on the in-process Redis at addr, counting
// by the virtual clock (the rules date every count by the engine's At).
func (e *env) openRisk(o Options, addr string, balances risk.Balances) (billing.Risk, error) {
	rules := risk.DefaultRules()
	if o.RiskRules != nil {
		rules = *o.RiskRules
	}
	r, err := risk.Open("redis://"+addr, risk.Options{
		Rules: rules, KeyPrefix: "replay:risk:", Location: o.Config.Location, Clock: e.clock,
		Balances: balances, Timeout: limiterTimeout, Logger: e.log,
	})
	if err != nil {
		return nil, fmt.Errorf("configuring the risk rules: %w", err)
	}
	e.closers = append(e.closers, r.Close)
	return r, nil
}

// scratchSchema creates a new schema for the replay, dropped when the
// replay ends, so replay never touches existing data; it returns its name.
func scratchSchema(ctx context.Context, url string, e *env) (string, error) {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("naming the scratch schema: %w", err)
	}
	schema := "carrierbill_replay_" + hex.EncodeToString(b[:])
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return "", fmt.Errorf("connecting to PostgreSQL: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		return "", fmt.Errorf("creating the scratch schema: %w", err)
	}
	e.closers = append(e.closers, func() error {
		c, err := pgx.Connect(context.Background(), url)
		if err != nil {
			return err
		}
		defer c.Close(context.Background())
		_, err = c.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
		return err
	})
	return schema, nil
}

// order reads one order.
func (e *env) order(ctx context.Context, id int64) (billing.Order, error) {
	var o billing.Order
	err := e.store.InTx(ctx, func(tx billing.Tx) error {
		var err error
		o, err = tx.GetOrder(ctx, id)
		return err
	})
	if err != nil {
		return o, fmt.Errorf("reading order %d: %w", id, err)
	}
	return o, nil
}

func (e *env) close() error {
	var errs []error
	for i := len(e.closers) - 1; i >= 0; i-- {
		errs = append(errs, e.closers[i]())
	}
	e.closers = nil
	return errors.Join(errs...)
}

// phoneAccounts is the phone-account charger of either store, which can
// also open accounts.
type phoneAccounts interface {
	billing.Charger
	Open(ctx context.Context, s billing.Subscriber) error
}

// openAccounts opens the accounts the --accounts file lists.
func openAccounts(ctx context.Context, acc phoneAccounts, accounts []Account) error {
	for _, a := range accounts {
		plan := billing.Postpaid
		if a.Prepaid {
			plan = billing.Prepaid
		}
		if err := acc.Open(ctx, billing.Subscriber{MSISDN: a.MSISDN, Plan: plan, Balance: a.Balance, CreditLimit: a.CreditLimit, Suspended: a.Suspended}); err != nil {
			return fmt.Errorf("opening an account: %w", err)
		}
	}
	return nil
}
