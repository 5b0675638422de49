package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/clock"
	"github.com/carrierbill/carrierbill/config"
	"github.com/carrierbill/carrierbill/merchantkey"
	"github.com/carrierbill/carrierbill/settlement"
	"github.com/carrierbill/carrierbill/stores"
)

func init() {
	register(command{
		name:    "settle",
		summary: "write statements and bills of an ended day or month: settle --date 2026-11-20 [--month 2026-11] [--merchant M] [--out DIR | --preview DIR]",
		run:     runSettle,
	})
}

// settleFlags are the flags settle, audit and merchant key share: where the
// database is and, without a configuration file, the settlement terms.
type settleFlags struct {
	config   *string
	dbURL    *string
	timezone *string
	share    *string
	fee      *string
}

func addSettleFlags(fs *flag.FlagSet) *settleFlags {
	return &settleFlags{
		config:   fs.String("config", "", "configuration file (YAML); merchants' terms, time zone and statements directory come from it"),
		dbURL:    fs.String("database-url", "", "PostgreSQL URL (default: $DATABASE_URL, then the configuration)"),
		timezone: fs.String("timezone", "", "operator's time zone (default: the configuration's, Asia/Shanghai)"),
		share:    fs.String("revenue-share", "", "operator's revenue share for merchants not in the configuration, e.g. 30% (default 0%)"),
		fee:      fs.String("per-message-fee", "", "per-message fee in yuan for merchants not in the configuration (default 0.00)"),
	}
}

// settleEnv is what the settlement commands build from their flags.
type settleEnv struct {
	cfg   *config.Config
	loc   *time.Location
	terms settlement.TermsBook
	store stores.SettlementStore
	keys  merchantkey.Store
	close func()
	log   *slog.Logger
}

func (f *settleFlags) open(ctx context.Context, stderr io.Writer) (*settleEnv, error) {
	cfg, err := config.Load(*f.config)
	if err != nil {
		return nil, err
	}
	env := &settleEnv{cfg: cfg, loc: cfg.Location()}
	if *f.timezone != "" {
		env.loc, err = time.LoadLocation(*f.timezone)
		if err != nil {
			return nil, fmt.Errorf("%w: --timezone %q: %v", errUsage, *f.timezone, err)
		}
	}
	env.terms = termsFromConfig(cfg)
	if *f.share != "" {
		bp, err := billing.ParseYuan(strings.TrimSuffix(*f.share, "%"))
		if err != nil || bp > 10000 {
			return nil, fmt.Errorf("%w: --revenue-share %q is not a percentage like 30%% or 12.5", errUsage, *f.share)
		}
		env.terms.Default.RevenueShareBP = int64(bp)
	}
	if *f.fee != "" {
		fee, err := billing.ParseYuan(*f.fee)
		if err != nil {
			return nil, fmt.Errorf("%w: --per-message-fee %q is not an amount in yuan", errUsage, *f.fee)
		}
		env.terms.Default.PerMessageFee = fee
	}
	url := *f.dbURL
	if url == "" {
		url = cfg.Database.URL // config.Load applied $DATABASE_URL
	}
	env.log = NewZonedLogger(stderr, config.Log{Level: "warn"}, env.loc)
	o := StoreOptions(cfg, clock.Real{}, env.log)
	// Settlement reads what serve wrote: never a new, empty embedded store.
	o.DatabaseURL, o.MustExist, o.NoMigrate, o.Limiter = url, true, true, false
	set, err := stores.Open(ctx, o)
	if errors.Is(err, stores.ErrNoStore) {
		return nil, fmt.Errorf("%w: no database: pass --database-url, set DATABASE_URL, or run where %s exists", errUsage, filepath.Join(cfg.DataDir, stores.EmbeddedFile))
	}
	if err != nil {
		return nil, err
	}
	env.store, env.keys, env.close = set.Settlement, set.Keys, func() { set.Close() }
	return env, nil
}

func (e *settleEnv) Close() { e.close() }

// termsFromConfig gives the settlement terms of the configured merchants.
func termsFromConfig(cfg *config.Config) settlement.TermsBook {
	book := settlement.TermsBook{Merchants: map[string]settlement.Terms{}}
	for _, m := range cfg.Merchants {
		book.Merchants[m.Code] = settlement.Terms{
			Name:           m.Name,
			RevenueShareBP: m.RevenueShare.BasisPoints,
			PerMessageFee:  m.PerMessageFee.Money,
		}
	}
	return book
}

func runSettle(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("settle", stderr)
	date := fs.String("date", "", "business date to settle, YYYY-MM-DD: its statements and daily bills")
	month := fs.String("month", "", "business month, YYYY-MM: its monthly bills")
	merchant := fs.String("merchant", "", "only this merchant (default: every merchant)")
	out := fs.String("out", "", "output directory (default: the configuration's statements directory)")
	preview := fs.String("preview", "", "write a period that is not over yet to this directory, outside the statements directory (merchants never see it)")
	sf := addSettleFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *date == "" && *month == "" {
		return fmt.Errorf("%w: --date YYYY-MM-DD or --month YYYY-MM is required", errUsage)
	}
	if *date != "" {
		if _, err := time.Parse("2006-01-02", *date); err != nil {
			return fmt.Errorf("%w: --date %q is not YYYY-MM-DD", errUsage, *date)
		}
	}
	if *month != "" {
		if _, err := time.Parse("2006-01", *month); err != nil {
			return fmt.Errorf("%w: --month %q is not YYYY-MM", errUsage, *month)
		}
	}
	env, err := sf.open(ctx, stderr)
	if err != nil {
		return err
	}
	defer env.Close()
	dir := *out
	if dir == "" {
		dir = env.cfg.StatementsDir()
	}
	if *preview != "" {
		if *out != "" {
			return fmt.Errorf("%w: --preview DIR replaces --out", errUsage)
		}
		if within(*preview, env.cfg.StatementsDir()) {
			return fmt.Errorf("%w: --preview %s is inside the statements directory %s, where merchants download from", errUsage, *preview, env.cfg.StatementsDir())
		}
		dir = *preview
	} else if err := periodsOver(settleClock.Now(), env.loc, *date, *month); err != nil {
		return err
	}
	r, err := settlement.NewRunner(env.store, nil, settlement.Config{Dir: dir, Location: env.loc, Terms: env.terms}, clock.Real{}, env.log)
	if err != nil {
		return err
	}
	var runs [][2]string
	if *date != "" {
		runs = append(runs, [2]string{settlement.JobStatements, *date}, [2]string{settlement.JobDailyBills, *date})
	}
	if *month != "" {
		runs = append(runs, [2]string{settlement.JobMonthlyBills, *month})
	}
	for _, run := range runs {
		res, err := r.Generate(ctx, run[0], run[1], *merchant)
		if err != nil {
			return err
		}
		printSettleResult(stdout, res)
	}
	return nil
}

// settleClock is settle's "now" (tests move it).
var settleClock clock.Clock = clock.Real{}

// periodsOver refuses a business date or month that has not ended yet in
// loc, the operator's zone: its statement would be incomplete, and merchants
// could download it at once.
func periodsOver(now time.Time, loc *time.Location, date, month string) error {
	check := func(flag, layout, v string, next func(time.Time) time.Time) error {
		if v == "" {
			return nil
		}
		start, err := time.ParseInLocation(layout, v, loc)
		if err != nil {
			return fmt.Errorf("%w: %s %q: %v", errUsage, flag, v, err)
		}
		if end := next(start); now.Before(end) {
			return fmt.Errorf("%w: %s %s is not over yet in %s (it ends %s): its files would be incomplete and merchants could download them; run it after that, or write a preview with --preview DIR",
				errUsage, flag, v, loc, end.Format("2006-01-02 15:04 -07:00"))
		}
		return nil
	}
	if err := check("--date", "2006-01-02", date, func(t time.Time) time.Time { return t.AddDate(0, 0, 1) }); err != nil {
		return err
	}
	return check("--month", "2006-01", month, func(t time.Time) time.Time { return t.AddDate(0, 1, 0) })
}

// within reports whether path is dir or inside it, once both are absolute
// and cleaned (symlinks resolved where they exist).
func within(path, dir string) bool {
	abs := func(p string) string {
		a, err := filepath.Abs(p)
		if err != nil {
			return filepath.Clean(p)
		}
		if r, err := filepath.EvalSymlinks(a); err == nil {
			return r
		}
		return a
	}
	rel, err := filepath.Rel(abs(dir), abs(path))
	return err == nil && (rel == "." || (rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))))
}
