package settlement

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"time"

	"github.com/carrierbill/carrierbill/clock"
)

// Jobs the Runner knows.
const (
	JobStatements   = "settlement.statements"    // run key: business date
	JobDailyBills   = "settlement.daily-bills"   // run key: business date
	JobMonthlyBills = "settlement.monthly-bills" // run key: business month
)

// Lease errors.
var (
	ErrDone = errors.New("job run already done")
	ErrHeld = errors.New("job run held by another process")
	ErrLost = errors.New("job lease lost")
)

// ErrMismatch is returned (wrapped) when a statement or bill does not equal
// the ledger to the fen. Nothing is published for that run.
var ErrMismatch = errors.New("settlement does not match the ledger")

// Config configures a Runner.
type Config struct {
	Dir       string         // where files are written: Dir/<merchant>/...
	Location  *time.Location // the operator's zone; nil: Asia/Shanghai
	Terms     TermsBook
	StartDate string        // first business date to settle ("2026-11-01"); "": the first payment's
	Holder    string        // lease holder name; "": host-pid-random
	LeaseTTL  time.Duration // 0: 2 minutes
	Heartbeat time.Duration // how often a running job extends its lease; 0: LeaseTTL/4
	// Grace is how long after midnight a day counts as closed for catch-up
	// (a payment resolved at 23:59:59.9 may commit just after midnight);
	// 0: 30 minutes.
	Grace time.Duration
	// Observe, when set, is told each run this process did (RunDate): the
	// job, how long it took and its error (operations metrics).
	Observe func(job string, took time.Duration, err error)
}

// Runner runs the settlement jobs: by hand (Generate), once per run across
// processes (RunDate), and for every missed run (CatchUp).
type Runner struct {
	src    Source
	leases Leases
	cfg    Config
	clk    clock.Clock
	log    *slog.Logger
}

// NewRunner returns a Runner. leases may be nil for a Runner only used
// through Generate (the settle command).
func NewRunner(src Source, leases Leases, cfg Config, clk clock.Clock, log *slog.Logger) (*Runner, error) {
	if cfg.Dir == "" {
		return nil, errors.New("settlement: Config.Dir is required")
	}
	if cfg.Location == nil {
		loc, err := time.LoadLocation("Asia/Shanghai")
		if err != nil {
			return nil, fmt.Errorf("settlement: loading Asia/Shanghai: %w", err)
		}
		cfg.Location = loc
	}
	if cfg.StartDate != "" {
		if _, err := time.ParseInLocation("2006-01-02", cfg.StartDate, cfg.Location); err != nil {
			return nil, fmt.Errorf("settlement: start date %q is not YYYY-MM-DD", cfg.StartDate)
		}
	}
	if cfg.Holder == "" {
		host, _ := os.Hostname()
		b := make([]byte, 4)
		rand.Read(b)
		cfg.Holder = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b))
	}
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = 2 * time.Minute
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = cfg.LeaseTTL / 4
	}
	if cfg.Grace <= 0 {
		cfg.Grace = 30 * time.Minute
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Runner{src: src, leases: leases, cfg: cfg, clk: clk, log: log}, nil
}

// Location is the operator's zone the runner works in.
func (r *Runner) Location() *time.Location { return r.cfg.Location }

// RunKey returns the run key of job for the business day (or month) that
// contains t.
func (r *Runner) RunKey(job string, t time.Time) string {
	if job == JobMonthlyBills {
		return t.In(r.cfg.Location).Format("2006-01")
	}
	return t.In(r.cfg.Location).Format("2006-01-02")
}

// period returns the half-open period of a run key.
func (r *Runner) period(job, key string) (from, to time.Time, err error) {
	if job == JobMonthlyBills {
		from, err = time.ParseInLocation("2006-01", key, r.cfg.Location)
		if err != nil {
			return from, to, fmt.Errorf("run key %q is not a month YYYY-MM", key)
		}
		return from, from.AddDate(0, 1, 0), nil
	}
	from, err = time.ParseInLocation("2006-01-02", key, r.cfg.Location)
	if err != nil {
		return from, to, fmt.Errorf("run key %q is not a date YYYY-MM-DD", key)
	}
	return from, from.AddDate(0, 0, 1), nil
}

// Result says what a run wrote.
type Result struct {
	Job, Key  string
	Merchants int      // merchants with a file
	Files     []string // paths written, sorted
	// Totals are each merchant's payments and refunds of the period, the
	// figures of its statement's summary line (merchants with a file).
	Totals map[string]Totals
	// Bills are the bills written, by merchant code (bill jobs only).
	Bills []Bill
}

// Generate runs job for key ("2026-11-20", or "2026-11" for monthly bills)
// without a lease: the settle command's re-run. merchant "" means every
// merchant. It reads one snapshot, checks every total against the ledger
// and only then publishes the files; running it again over the same data
// writes byte-identical files.
func (r *Runner) Generate(ctx context.Context, job, key, merchant string) (Result, error) {
	from, to, err := r.period(job, key)
	if err != nil {
		return Result{}, err
	}
	if merchant != "" && !validMerchant(merchant) {
		return Result{}, fmt.Errorf("merchant code %q is not usable in a file name", merchant)
	}
	snap, err := r.src.Snapshot(ctx)
	if err != nil {
		return Result{}, fmt.Errorf("%s %s: opening snapshot: %w", job, key, err)
	}
	defer snap.Close(context.WithoutCancel(ctx))
	var res Result
	switch job {
	case JobStatements:
		res, err = r.statements(ctx, snap, key, merchant, from, to)
	case JobDailyBills, JobMonthlyBills:
		res, err = r.bills(ctx, snap, key, merchant, from, to)
	default:
		return Result{}, fmt.Errorf("unknown job %q", job)
	}
	res.Job, res.Key = job, key
	if err != nil {
		return res, fmt.Errorf("%s %s: %w", job, key, err)
	}
	r.log.Info("settlement run written", "job", job, "key", key, "merchants", res.Merchants, "files", len(res.Files))
	return res, nil
}

var merchantCode = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

func validMerchant(m string) bool { return merchantCode.MatchString(m) }

// StatementName is the file name of merchant's statement for date.
func StatementName(merchant, date string) string {
	return "statement-" + merchant + "-" + date + ".csv"
}

// BillName is the file name of merchant's bill for a date or month.
func BillName(merchant, period string) string { return "bill-" + merchant + "-" + period + ".csv" }

func (r *Runner) statements(ctx context.Context, snap Snapshot, key, merchant string, from, to time.Time) (Result, error) {
	ledger, err := snap.LedgerTotals(ctx, from, to)
	if err != nil {
		return Result{}, fmt.Errorf("reading ledger totals: %w", err)
	}
	var (
		done   []*pendingFile
		cur    *pendingFile
		sw     *statementWriter
		curM   string
		totals = map[string]Totals{}
	)
	abortAll := func() {
		if cur != nil {
			cur.Abort()
		}
		for _, p := range done {
			os.Remove(p.f.Name())
		}
	}
	closeCur := func() error {
		if cur == nil {
			return nil
		}
		t, err := sw.Close()
		if err != nil {
			return err
		}
		if err := cur.Finish(); err != nil {
			cur = nil
			return err
		}
		totals[curM] = t
		done = append(done, cur)
		cur = nil
		return nil
	}
	err = snap.Lines(ctx, merchant, from, to, func(l Line) error {
		if cur == nil || l.Merchant != curM {
			if err := closeCur(); err != nil {
				return err
			}
			if !validMerchant(l.Merchant) {
				return fmt.Errorf("merchant code %q is not usable in a file name", l.Merchant)
			}
			p, err := createPending(filepath.Join(r.cfg.Dir, l.Merchant, StatementName(l.Merchant, key)))
			if err != nil {
				return err
			}
			w, err := newStatementWriter(p, r.cfg.Location)
			if err != nil {
				p.Abort()
				return err
			}
			cur, sw, curM = p, w, l.Merchant
		}
		return sw.Write(l)
	})
	if err == nil {
		err = closeCur()
	}
	if err != nil {
		abortAll()
		return Result{}, fmt.Errorf("writing statements: %w", err)
	}
	if err := compare(totals, ledger, merchant); err != nil {
		abortAll()
		return Result{}, err
	}
	res := Result{Merchants: len(done), Totals: totals}
	for i, p := range done {
		if err := p.Commit(); err != nil {
			for _, q := range done[i+1:] {
				os.Remove(q.f.Name())
			}
			return res, err
		}
		res.Files = append(res.Files, p.final)
	}
	sort.Strings(res.Files)
	return res, nil
}

func (r *Runner) bills(ctx context.Context, snap Snapshot, key, merchant string, from, to time.Time) (Result, error) {
	ledger, err := snap.LedgerTotals(ctx, from, to)
	if err != nil {
		return Result{}, fmt.Errorf("reading ledger totals: %w", err)
	}
	totals := map[string]Totals{}
	err = snap.Lines(ctx, merchant, from, to, func(l Line) error {
		t := totals[l.Merchant]
		t.Add(l)
		totals[l.Merchant] = t
		return nil
	})
	if err != nil {
		return Result{}, fmt.Errorf("reading payments and refunds: %w", err)
	}
	if err := compare(totals, ledger, merchant); err != nil {
		return Result{}, err
	}
	msgs, err := snap.MessageCounts(ctx, from, to)
	if err != nil {
		return Result{}, fmt.Errorf("counting messages: %w", err)
	}
	set := map[string]bool{}
	for m := range totals {
		set[m] = true
	}
	for m, n := range msgs {
		if n > 0 && r.cfg.Terms.For(m).PerMessageFee > 0 && (merchant == "" || m == merchant) {
			set[m] = true
		}
	}
	ms := make([]string, 0, len(set))
	for m := range set {
		ms = append(ms, m)
	}
	sort.Strings(ms)
	res := Result{Totals: map[string]Totals{}}
	for _, m := range ms {
		if !validMerchant(m) {
			return res, fmt.Errorf("merchant code %q is not usable in a file name", m)
		}
		b := ComputeBill(m, key, totals[m], msgs[m], r.cfg.Terms.For(m))
		data, err := b.Encode()
		if err != nil {
			return res, err
		}
		path := filepath.Join(r.cfg.Dir, m, BillName(m, key))
		p, err := createPending(path)
		if err != nil {
			return res, err
		}
		if _, err := p.Write(data); err != nil {
			p.Abort()
			return res, fmt.Errorf("writing %s: %w", path, err)
		}
		if err := p.Finish(); err != nil {
			return res, err
		}
		if err := p.Commit(); err != nil {
			return res, err
		}
		res.Files = append(res.Files, path)
		res.Merchants++
		res.Totals[m] = totals[m]
		res.Bills = append(res.Bills, b)
	}
	return res, nil
}

// compare checks that the totals read from payments and refunds equal the
// ledger's for every merchant (only merchant when it is not "").
func compare(got, ledger map[string]Totals, merchant string) error {
	var errs []error
	for m, l := range ledger {
		if merchant != "" && m != merchant {
			continue
		}
		g := got[m]
		if g.Paid != l.Paid || g.Refunded != l.Refunded {
			errs = append(errs, fmt.Errorf("merchant %s: payments %s refunds %s, ledger %s and %s", m, g.Paid, g.Refunded, l.Paid, l.Refunded))
		}
	}
	for m, g := range got {
		if _, ok := ledger[m]; !ok && (g.Paid != 0 || g.Refunded != 0) {
			errs = append(errs, fmt.Errorf("merchant %s: payments %s refunds %s, nothing in the ledger", m, g.Paid, g.Refunded))
		}
	}
	if len(errs) == 0 {
		return nil
	}
	sort.Slice(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
	return fmt.Errorf("%w: %w", ErrMismatch, errors.Join(errs...))
}

// RunDate runs job for the business day (month for JobMonthlyBills) that
// contains date, once across every process sharing the lease store. It
// returns ran=false with a nil error when the run is already done or another
// live process holds it. While it runs it extends its lease; when the lease
// is lost the run is cancelled.
func (r *Runner) RunDate(ctx context.Context, job string, date time.Time) (ran bool, err error) {
	if r.leases == nil {
		return false, errors.New("settlement: RunDate needs a lease store")
	}
	key := r.RunKey(job, date)
	now := r.clk.Now()
	switch err := r.leases.Claim(ctx, job, key, r.cfg.Holder, now, now.Add(r.cfg.LeaseTTL)); {
	case errors.Is(err, ErrDone), errors.Is(err, ErrHeld):
		r.log.Debug("settlement run skipped", "job", job, "key", key, "why", err)
		return false, nil
	case err != nil:
		return false, fmt.Errorf("claiming %s %s: %w", job, key, err)
	}
	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	hbDone := make(chan struct{})
	go func() {
		defer close(hbDone)
		t := time.NewTicker(r.cfg.Heartbeat)
		defer t.Stop()
		for {
			select {
			case <-runCtx.Done():
				return
			case <-t.C:
				if err := r.leases.Extend(runCtx, job, key, r.cfg.Holder, r.clk.Now().Add(r.cfg.LeaseTTL)); err != nil {
					if runCtx.Err() == nil {
						r.log.Error("settlement lease extension failed; cancelling the run", "job", job, "key", key, "err", err)
						cancel(fmt.Errorf("extending lease: %w", err))
					}
					return
				}
			}
		}
	}()
	started := time.Now() // a duration for operations, not a business time
	_, genErr := r.Generate(runCtx, job, key, "")
	if r.cfg.Observe != nil {
		r.cfg.Observe(job, time.Since(started), genErr)
	}
	if genErr != nil && context.Cause(runCtx) != nil && ctx.Err() == nil {
		genErr = fmt.Errorf("%w (%w)", genErr, context.Cause(runCtx))
	}
	cancel(nil)
	<-hbDone
	if genErr != nil {
		r.log.Error("settlement run failed", "job", job, "key", key, "err", genErr)
		return true, genErr
	}
	if err := r.leases.Finish(ctx, job, key, r.cfg.Holder, r.clk.Now()); err != nil {
		return true, fmt.Errorf("finishing %s %s: %w", job, key, err)
	}
	return true, nil
}

// CatchUpJob runs every missed run of job, oldest first: every closed business
// day (month) from the configured start date, or the first payment's, up to
// the last one closed at now. Runs already done or held elsewhere are
// skipped. A failed run does not stop the later ones; all failures are
// returned together.
func (r *Runner) CatchUpJob(ctx context.Context, job string, now time.Time) error {
	start, ok, err := r.startDate(ctx)
	if err != nil || !ok {
		return err
	}
	done, err := r.leases.Done(ctx, job)
	if err != nil {
		return fmt.Errorf("reading finished runs of %s: %w", job, err)
	}
	closed := now.Add(-r.cfg.Grace).In(r.cfg.Location)
	var keys []time.Time
	if job == JobMonthlyBills {
		for m := time.Date(start.Year(), start.Month(), 1, 0, 0, 0, 0, r.cfg.Location); !m.AddDate(0, 1, 0).After(closed); m = m.AddDate(0, 1, 0) {
			keys = append(keys, m)
		}
	} else {
		for d := start; !d.AddDate(0, 0, 1).After(closed); d = d.AddDate(0, 0, 1) {
			keys = append(keys, d)
		}
	}
	var errs []error
	for _, d := range keys {
		if done[r.RunKey(job, d)] {
			continue
		}
		if err := ctx.Err(); err != nil {
			return errors.Join(append(errs, err)...)
		}
		if _, err := r.RunDate(ctx, job, d); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// CatchUp runs CatchUpJob for statements, daily bills and monthly bills.
func (r *Runner) CatchUp(ctx context.Context, now time.Time) error {
	var errs []error
	for _, job := range []string{JobStatements, JobDailyBills, JobMonthlyBills} {
		if err := r.CatchUpJob(ctx, job, now); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (r *Runner) startDate(ctx context.Context) (time.Time, bool, error) {
	if r.cfg.StartDate != "" {
		d, _ := time.ParseInLocation("2006-01-02", r.cfg.StartDate, r.cfg.Location)
		return d, true, nil
	}
	snap, err := r.src.Snapshot(ctx)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("opening snapshot: %w", err)
	}
	defer snap.Close(context.WithoutCancel(ctx))
	at, ok, err := snap.FirstActivity(ctx)
	if err != nil || !ok {
		return time.Time{}, false, err
	}
	at = at.In(r.cfg.Location)
	return time.Date(at.Year(), at.Month(), at.Day(), 0, 0, 0, 0, r.cfg.Location), true, nil
}
