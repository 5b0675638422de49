// Package stores opens everything a command keeps its state in: billing's
// store, the card store, settlement's source and leases, the merchant keys, the
// built-in phone-account charger and the frequency-rule limiter, on
// PostgreSQL (and Redis) when they are configured and on the embedded SQLite
// store (and an in-process Redis) otherwise. It is the one place that makes
// that choice: every command and replay open their stores here, and one
// Close releases them.
//
// It only opens and closes. It must never hold business logic, read the
// configuration file itself, or start anything that listens, dials the SMSC
// or runs in the background beyond the stores' own connection pools.
package stores

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	goredis "github.com/redis/go-redis/v9"

	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/billing/postgres"
	billingredis "github.com/carrierbill/carrierbill/billing/redis"
	"github.com/carrierbill/carrierbill/billing/sqlite"
	"github.com/carrierbill/carrierbill/clock"
	"github.com/carrierbill/carrierbill/merchantkey"
	"github.com/carrierbill/carrierbill/settlement"
	settlepg "github.com/carrierbill/carrierbill/settlement/postgres"
	settlesqlite "github.com/carrierbill/carrierbill/settlement/sqlite"
	"github.com/carrierbill/carrierbill/wallet"
)

// EmbeddedFile is the embedded store's file name under the data directory.
const EmbeddedFile = "carrierbill.db"

// defaultMaxConns is the PostgreSQL pool's size when neither the
// configuration nor the URL (pool_max_conns) sets one: 4 per core, at
// least 8. The bench on 2 cores (BENCHMARKS.md, issue 11) did 118–130
// payments/s with 32 connections and 171–200 with 6 to 12: past a few
// backends per core the server's CPU goes to switching between them, and
// the groups of transactions grow when fewer run at once.
func defaultMaxConns() int32 { return int32(max(8, 4*runtime.GOMAXPROCS(0))) }

// Options say where the stores are and what to open.
type Options struct {
	// DatabaseURL is PostgreSQL's URL; empty opens the embedded store under
	// DataDir. MaxConns caps the pool (0: 4 per core, at least 8, or the
	// URL's pool_max_conns).
	DatabaseURL string
	MaxConns    int
	// Schema, when set, is the PostgreSQL schema every connection uses
	// (search_path), for example replay's scratch schema. It must exist.
	Schema string
	// DataDir holds the embedded store (DataDir/carrierbill.db). It is
	// created when missing, unless MustExist is set.
	DataDir string
	// MustExist refuses to create an embedded store that does not exist yet
	// (commands that only read, such as settle and audit).
	MustExist bool
	// NoMigrate leaves PostgreSQL's schema alone (the embedded store always
	// migrates as it opens). Default: apply the pending migrations.
	NoMigrate bool

	// Accounts configure the built-in phone-account charger.
	Accounts billing.AccountsOptions

	// Limiter opens the frequency-rule limiter: Redis at RedisURL, or an
	// in-process Redis following Clock when RedisURL is empty.
	Limiter      bool
	RedisURL     string
	RedisPrefix  string
	RedisTimeout time.Duration
	// RedisKeySalt keys the hash that hides phone numbers in Redis keys
	// (billing/redis Options.KeySalt): a secret per deployment.
	RedisKeySalt []byte

	Clock  clock.Clock  // default clock.Real
	Logger *slog.Logger // default: discard
}

// CardStore is the card store of either database: billing's card store,
// owner registration and the token lookup the card charger needs.
type CardStore interface {
	billing.CardStore
	SetOwner(ctx context.Context, secrets *wallet.Secrets, msisdn, name, idNumber string) error
	TokenForCharge(ctx context.Context, key, msisdn string) (string, error)
}

// SettlementStore is settlement's store on either database: the ledger
// snapshot and the job leases.
type SettlementStore interface {
	settlement.Source
	settlement.Leases
}

// Accounts is the built-in phone-account charger of either database, which
// can also open and read accounts.
type Accounts interface {
	billing.Charger
	Open(ctx context.Context, s billing.Subscriber) error
	Get(ctx context.Context, msisdn string) (billing.Subscriber, error)
	TopUp(ctx context.Context, key, msisdn string, amount billing.Money) (billing.Subscriber, error)
}

// Set is every store of one database, and the limiter.
type Set struct {
	Billing    billing.Store
	Cards      CardStore
	Settlement SettlementStore
	Accounts   Accounts
	// Keys are the merchants' API keys: statement downloads and the
	// merchant API share them.
	Keys merchantkey.Store
	// AccountStatus suspends and resumes phone accounts; Backlog reports
	// what waits in the store (operations, issue 16).
	AccountStatus billing.AccountStatusStore
	Backlog       billing.BacklogReader
	Search        billing.OrderSearcher
	MTs           billing.MTReader
	Refusals      billing.RefusalLog
	// Limiter is nil unless Options.Limiter was set.
	Limiter billing.Limiter
	// EmbeddedRedis is the in-process Redis's address when no Redis URL
	// is configured ("" otherwise): the USSD sessions share it.
	EmbeddedRedis string

	// Pool is the PostgreSQL pool, nil on the embedded store; Embedded is
	// the embedded store, nil on PostgreSQL. Only tests and the few callers
	// that tune a store reach for them.
	Pool     *pgxpool.Pool
	Embedded *sqlite.Store
	// Applied lists the PostgreSQL migrations this Open applied.
	Applied []int
	// Description names the store for a log line or a status print:
	// "PostgreSQL" or "embedded SQLite <path>"; LimiterDescription the same
	// for the limiter ("" when none was opened).
	Description        string
	LimiterDescription string

	closers []func() error
}

// Open opens the stores o names. On error nothing stays open.
func Open(ctx context.Context, o Options) (_ *Set, err error) {
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Set{}
	defer func() {
		if err != nil {
			_ = s.Close()
		}
	}()
	if o.DatabaseURL != "" {
		err = s.openPostgres(ctx, o)
	} else {
		err = s.openEmbedded(ctx, o)
	}
	if err != nil {
		return nil, err
	}
	if o.Limiter {
		if err := s.openLimiter(o); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func (s *Set) openPostgres(ctx context.Context, o Options) error {
	pcfg, err := pgxpool.ParseConfig(o.DatabaseURL)
	if err != nil {
		// pgx's message can quote the URL, password included: say only what.
		return errors.New("parsing the database URL: not a valid PostgreSQL URL")
	}
	if o.MaxConns > 0 {
		pcfg.MaxConns = int32(o.MaxConns)
	} else if !strings.Contains(o.DatabaseURL, "pool_max_conns") {
		// The gateway's groups of transactions, MO intake, claims and
		// sweeps each hold a connection at once (issue 11).
		pcfg.MaxConns = max(pcfg.MaxConns, defaultMaxConns())
	}
	if o.Schema != "" {
		pcfg.ConnConfig.RuntimeParams["search_path"] = o.Schema
	}
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return fmt.Errorf("opening PostgreSQL: %w", err)
	}
	s.closers = append(s.closers, func() error { pool.Close(); return nil })
	if err := pool.Ping(ctx); err != nil {
		return fmt.Errorf("connecting to PostgreSQL: %w", err)
	}
	if !o.NoMigrate {
		if s.Applied, err = postgres.Migrate(ctx, pool); err != nil {
			return err
		}
	}
	s.Pool = pool
	s.Billing = postgres.NewStore(pool)
	s.Cards = postgres.NewCardStore(pool)
	s.Settlement = settlepg.New(pool)
	s.Keys = merchantkey.NewPostgres(pool)
	s.Accounts = postgres.NewAccounts(pool, o.Clock, o.Accounts)
	s.AccountStatus, s.Backlog = postgres.NewAccountStore(pool), postgres.NewStore(pool)
	s.Search, s.MTs, s.Refusals = postgres.NewStore(pool), postgres.NewStore(pool), postgres.NewStore(pool)
	s.Description = "PostgreSQL"
	return nil
}

func (s *Set) openEmbedded(ctx context.Context, o Options) error {
	path := filepath.Join(o.DataDir, EmbeddedFile)
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	if o.MustExist {
		if _, err := os.Stat(path); err != nil {
			return fmt.Errorf("%w: %s (set DATABASE_URL for PostgreSQL, or point data_dir at an existing store)", ErrNoStore, path)
		}
	} else if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return fmt.Errorf("creating the data directory: %w", err)
	}
	st, err := sqlite.Open(ctx, path, o.Logger)
	if err != nil {
		return err
	}
	s.closers = append(s.closers, st.Close)
	s.Embedded = st
	s.Billing = st
	s.Cards = st
	s.Settlement = settlesqlite.New(st)
	s.Keys = merchantkey.NewSQLite(st)
	s.Accounts = sqlite.NewAccounts(st, o.Clock, o.Accounts)
	s.AccountStatus, s.Backlog, s.Search, s.MTs, s.Refusals = sqlite.NewAccountStore(st), st, st, st, st
	s.Description, _ = Describe(o)
	return nil
}

// Describe names the stores o would open, without opening them: "PostgreSQL"
// or "embedded SQLite <path>", and the limiter ("Redis" or "in-process
// Redis").
func Describe(o Options) (store, limiter string) {
	store, limiter = "PostgreSQL", "Redis"
	if o.DatabaseURL == "" {
		path := filepath.Join(o.DataDir, EmbeddedFile)
		if abs, err := filepath.Abs(path); err == nil {
			path = abs
		}
		store = "embedded SQLite " + path
	}
	if o.RedisURL == "" {
		limiter = "in-process Redis"
	}
	return store, limiter
}

// ErrNoStore is returned when Options.MustExist is set and the embedded
// store does not exist.
var ErrNoStore = errors.New("no embedded store")

func (s *Set) openLimiter(o Options) error {
	if n := len(o.RedisKeySalt); n > 0 && n < 16 {
		return fmt.Errorf("the Redis key salt (CARRIERBILL_REDIS_KEY_SALT) has %d bytes, want at least 16", n)
	}
	lo := billingredis.Options{Prefix: o.RedisPrefix, Timeout: o.RedisTimeout, Logger: o.Logger, KeySalt: o.RedisKeySalt}
	if o.RedisURL != "" {
		goredis.SetLogger(redisLog{o.Logger.With("component", "redis")})
		l, err := billingredis.Open(o.RedisURL, lo)
		if err != nil {
			return err
		}
		s.closers = append(s.closers, l.Close)
		s.Limiter = l
		_, s.LimiterDescription = Describe(o)
		return nil
	}
	// redis.timeout bounds a Redis across a network; the in-process one
	// cannot be unreachable, only starved of CPU, and gets at least
	// DefaultEmbeddedTimeout (a loaded machine made the first payment of the
	// demo fail closed within the network default of 200ms).
	lo.Timeout = max(lo.Timeout, billingredis.DefaultEmbeddedTimeout)
	l, err := billingredis.NewEmbedded(o.Clock, lo)
	if err != nil {
		return fmt.Errorf("starting the in-process Redis: %w", err)
	}
	s.EmbeddedRedis = l.Addr()
	s.closers = append(s.closers, l.Close)
	s.Limiter = l
	_, s.LimiterDescription = Describe(o)
	return nil
}

// Close releases everything Open opened, the limiter first. Safe to call
// more than once.
func (s *Set) Close() error {
	var errs []error
	for i := len(s.closers) - 1; i >= 0; i-- {
		errs = append(errs, s.closers[i]())
	}
	s.closers = nil
	return errors.Join(errs...)
}

// redisLog carries go-redis's own messages (dial retries during an outage)
// into the structured, masking log instead of bare stderr.
type redisLog struct{ log *slog.Logger }

func (r redisLog) Printf(ctx context.Context, format string, v ...any) {
	r.log.WarnContext(ctx, fmt.Sprintf(format, v...))
}

var _ io.Closer = (*Set)(nil)
