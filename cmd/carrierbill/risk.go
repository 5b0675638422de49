package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/user"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/clock"
	"github.com/carrierbill/carrierbill/config"
	"github.com/carrierbill/carrierbill/reports"
	"github.com/carrierbill/carrierbill/riskadmin"
	"github.com/carrierbill/carrierbill/stores"
)

// The operator's risk commands (issue 15): the block and allow lists, the
// held payments, the decisions and the daily risk report, on the
// gateway's store (the same operations as the risk admin API, package
// riskadmin). Lists and holds change through the engine; reads go to the
// store directly.
func init() {
	registerVerbs("risk", "risk rules: risk block|allow|unblock|unallow|list|held|release|refuse|decisions|report",
		"The operator's side of the risk rules, on the gateway's store (the same operations as the risk admin API,\n"+
			"/admin/risk/ on admin.listen and ops.listen). Numbers are masked in what it prints.", []verb{
			{name: "block", synopsis: "--number N|--prefix P|--merchant M [--for 24h] [--note TEXT]", summary: "refuse a number, every number with a prefix, or a merchant (blocked)", run: runRiskList(billing.RiskBlockList)},
			{name: "allow", synopsis: "--number N|--merchant M [--for 24h] [--note TEXT]", summary: "exempt a number or a merchant from the rules (not from a block)", run: runRiskList(billing.RiskAllowList)},
			{name: "unblock", synopsis: "--number N|--prefix P|--merchant M|--id ID", summary: "end a block", run: runRiskUnlist(billing.RiskBlockList)},
			{name: "unallow", synopsis: "--number N|--merchant M|--id ID", summary: "end an exemption", run: runRiskUnlist(billing.RiskAllowList)},
			{name: "list", synopsis: "[--all] [--list block|allow]", summary: "the block and allow lists (active entries unless --all)", run: runRiskEntries},
			{name: "held", synopsis: "", summary: "the held payments waiting for an operator, oldest first", run: runRiskHeld},
			{name: "release", synopsis: "ORDER", summary: "charge a held payment (the limits apply, the rules not again)", run: runRiskResolve(true)},
			{name: "refuse", synopsis: "ORDER", summary: "refuse a held payment (risk_refused; the subscriber is told)", run: runRiskResolve(false)},
			{name: "decisions", synopsis: "[--since T] [--until T] [--rule R] [--action A] [--number N] [--merchant M] [--limit N]", summary: "the recorded decisions, oldest first", run: runRiskDecisions},
			{name: "report", synopsis: "--day YYYY-MM-DD [--dir DIR]", summary: "write the daily risk report (CSV + HTML with a chart)", run: runRiskReport},
		})
}

// riskCmd is one risk verb: its flag set and the flags every verb has.
type riskCmd struct {
	verb   string
	fs     *flag.FlagSet
	config *string
}

func newRiskCmd(verb string, stderr io.Writer) *riskCmd {
	var synopsis, summary string
	for _, v := range verbsOf["risk"] {
		if v.name == verb {
			synopsis, summary = v.synopsis, v.summary
		}
	}
	fs := newVerbFlagSet("carrierbill risk "+verb, synopsis+" [--config FILE]", summary, stderr)
	return &riskCmd{verb: verb, fs: fs, config: fs.String("config", os.Getenv("CARRIERBILL_CONFIG"), "configuration file (YAML)")}
}

// parse parses args; want is how many arguments the verb takes.
func (c *riskCmd) parse(args []string, want int) error {
	if err := c.fs.Parse(args); err != nil {
		return err
	}
	if c.fs.NArg() != want {
		return fmt.Errorf("%w: risk %s: want %d argument(s), got %v", errUsage, c.verb, want, c.fs.Args())
	}
	return nil
}

// usage turns what the operator typed wrong into a usage error naming the
// flag (riskadmin names the field; the flag has its name).
func (c *riskCmd) usage(err error) error {
	if fe := (*riskadmin.FieldError)(nil); errors.As(err, &fe) {
		return fmt.Errorf("%w: risk %s: --%s: %s", errUsage, c.verb, fe.Field, fe.Msg)
	}
	return usageOf(err)
}

// target adds --number, --prefix (unless noPrefix) and --merchant.
func (c *riskCmd) target(noPrefix bool) *riskadmin.Target {
	t := &riskadmin.Target{}
	c.fs.StringVar(&t.Number, "number", "", "a phone number (any spelling: 13800000001, +86 138 0000 0001)")
	if !noPrefix {
		c.fs.StringVar(&t.Prefix, "prefix", "", "a number prefix: every number starting with it (170, 86170, +86170)")
	}
	c.fs.StringVar(&t.Merchant, "merchant", "", "a merchant code")
	return t
}

// riskEnv is what a risk verb works on.
type riskEnv struct {
	cfg  *config.Config
	op   *riskadmin.Operator
	done func()
}

// open opens the store through stores.Open (as every command); withEngine
// also builds the engine (lists and holds change through it).
func (c *riskCmd) open(ctx context.Context, withEngine bool, stderr io.Writer) (*riskEnv, error) {
	if withEngine {
		g, done, err := openOperator(ctx, *c.config, stderr)
		if err != nil {
			return nil, err
		}
		return &riskEnv{cfg: g.Config, op: riskOperator(g.Config, g.Store, g.Engine, g.Clock), done: done}, nil
	}
	cfg, err := config.Load(*c.config)
	if err != nil {
		return nil, err
	}
	o := StoreOptions(cfg, clock.Real{}, NewZonedLogger(stderr, config.Log{Level: "warn", Format: cfg.Log.Format}, cfg.Location()))
	o.Limiter, o.MustExist, o.NoMigrate = false, true, true
	s, err := stores.Open(ctx, o)
	if err != nil {
		return nil, err
	}
	return &riskEnv{cfg: cfg, op: riskOperator(cfg, s.Billing, nil, clock.Real{}), done: func() { s.Close() }}, nil
}

// riskOperator builds the operator's risk actions on a store and, when
// they change anything, the engine.
func riskOperator(c *config.Config, store billing.RiskStore, engine *billing.Engine, clk clock.Clock) *riskadmin.Operator {
	known := map[string]bool{}
	for _, m := range c.Merchants {
		known[m.Code] = true
	}
	op := &riskadmin.Operator{Store: store, Clock: clk, Plan: c.Numbering.Plan(), Merchant: func(code string) bool { return known[code] }}
	if engine != nil {
		op.Engine = engine
	}
	return op
}

// operatorName is who acts from this terminal: "operator:<login>".
func operatorName() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return "operator:" + u.Username
	}
	return "operator:cli"
}

func runRiskList(list billing.RiskList) func(context.Context, []string, io.Writer, io.Writer) error {
	verb := map[billing.RiskList]string{billing.RiskBlockList: "block", billing.RiskAllowList: "allow"}[list]
	return func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		c := newRiskCmd(verb, stderr)
		t := c.target(list == billing.RiskAllowList)
		d := c.fs.Duration("for", 0, "how long (30m, 24h, 720h); default: until removed")
		note := c.fs.String("note", "", fmt.Sprintf("why (at most %d characters; shown in the list)", riskadmin.MaxNote))
		if err := c.parse(args, 0); err != nil {
			return err
		}
		if *d < 0 {
			return fmt.Errorf("%w: risk %s: --for: a positive duration", errUsage, verb)
		}
		env, err := c.open(ctx, true, stderr)
		if err != nil {
			return err
		}
		defer env.done()
		e, err := env.op.List(ctx, riskadmin.ListRequest{List: list, Target: *t, For: *d, Note: *note, By: operatorName()})
		if err != nil {
			return c.usage(err)
		}
		j := riskadmin.Entry(e, env.op.Clock.Now(), env.cfg.Location())
		fmt.Fprintf(stdout, "%s-list entry %d: %s %s until %s\n", j.List, j.ID, j.Subject, j.Value, orRemoved(j.Until))
		return nil
	}
}

func runRiskUnlist(list billing.RiskList) func(context.Context, []string, io.Writer, io.Writer) error {
	verb := map[billing.RiskList]string{billing.RiskBlockList: "unblock", billing.RiskAllowList: "unallow"}[list]
	return func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		c := newRiskCmd(verb, stderr)
		t := c.target(list == billing.RiskAllowList)
		id := c.fs.Int64("id", 0, "the entry's id (risk list shows it)")
		if err := c.parse(args, 0); err != nil {
			return err
		}
		if *id < 0 || (*id > 0) == (*t != riskadmin.Target{}) {
			return fmt.Errorf("%w: risk %s: give one of --id, --number, --prefix or --merchant", errUsage, verb)
		}
		env, err := c.open(ctx, true, stderr)
		if err != nil {
			return err
		}
		defer env.done()
		if *id > 0 {
			if *t, err = entryByID(ctx, env.op, list, *id); err != nil {
				return err
			}
		}
		n, err := env.op.Unlist(ctx, list, *t)
		if err != nil {
			return c.usage(err)
		}
		if n == 0 {
			return fmt.Errorf("no active %s-list entry for that: %w", list, billing.ErrNotFound)
		}
		fmt.Fprintf(stdout, "%s: ended %d %s-list entr%s\n", verb, n, list, map[bool]string{true: "y", false: "ies"}[n == 1])
		return nil
	}
}

// entryByID names the active entry id of list.
func entryByID(ctx context.Context, op *riskadmin.Operator, list billing.RiskList, id int64) (riskadmin.Target, error) {
	es, err := op.Entries(ctx, list, false)
	if err != nil {
		return riskadmin.Target{}, err
	}
	for _, e := range es {
		if e.ID == id {
			switch e.Subject {
			case billing.RiskNumber:
				return riskadmin.Target{Number: e.Value}, nil
			case billing.RiskPrefix:
				return riskadmin.Target{Prefix: e.Value}, nil
			}
			return riskadmin.Target{Merchant: e.Value}, nil
		}
	}
	return riskadmin.Target{}, fmt.Errorf("%w: --id: no active %s-list entry %d", errUsage, list, id)
}

func orRemoved(until string) string {
	if until == "" {
		return "removed"
	}
	return until
}

func runRiskEntries(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := newRiskCmd("list", stderr)
	all := c.fs.Bool("all", false, "also the entries that ended (history)")
	list := c.fs.String("list", "", "block or allow (default: both)")
	if err := c.parse(args, 0); err != nil {
		return err
	}
	if *list != "" && *list != string(billing.RiskBlockList) && *list != string(billing.RiskAllowList) {
		return fmt.Errorf("%w: risk list: --list: block or allow", errUsage)
	}
	env, err := c.open(ctx, false, stderr)
	if err != nil {
		return err
	}
	defer env.done()
	es, err := env.op.Entries(ctx, billing.RiskList(*list), *all)
	if err != nil {
		return err
	}
	if len(es) == 0 {
		fmt.Fprintln(stdout, "no entries")
		return nil
	}
	now := env.op.Clock.Now()
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tLIST\tSUBJECT\tVALUE\tUNTIL\tBY\tCREATED\tNOTE")
	for _, e := range es {
		j := riskadmin.Entry(e, now, env.cfg.Location())
		until := dashIfEmpty(j.Until)
		if !j.Active {
			until += " (ended)"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", j.ID, j.List, j.Subject, j.Value, until, j.CreatedBy, j.CreatedAt, j.Note)
	}
	return tw.Flush()
}

func dashIfEmpty(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func runRiskHeld(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := newRiskCmd("held", stderr)
	if err := c.parse(args, 0); err != nil {
		return err
	}
	env, err := c.open(ctx, false, stderr)
	if err != nil {
		return err
	}
	defer env.done()
	hs, err := env.op.Holds(ctx, 0)
	if err != nil {
		return err
	}
	if len(hs) == 0 {
		fmt.Fprintln(stdout, "no held payments")
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ORDER\tNUMBER\tMERCHANT\tAMOUNT\tCREATED\tHELD\tRULE\tEVIDENCE")
	for _, h := range hs {
		j := riskadmin.HoldOf(h, env.cfg.Location())
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", j.Order, j.Number, j.Merchant, j.Amount, j.Created, dashIfEmpty(j.Held), dashIfEmpty(j.Rule), j.Evidence)
	}
	return tw.Flush()
}

func runRiskResolve(release bool) func(context.Context, []string, io.Writer, io.Writer) error {
	verb := map[bool]string{true: "release", false: "refuse"}[release]
	return func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		c := newRiskCmd(verb, stderr)
		if err := c.parse(args, 1); err != nil {
			return err
		}
		order, err := strconv.ParseInt(c.fs.Arg(0), 10, 64)
		if err != nil || order <= 0 {
			return fmt.Errorf("%w: risk %s: ORDER %q is not an order number", errUsage, verb, c.fs.Arg(0))
		}
		env, err := c.open(ctx, true, stderr)
		if err != nil {
			return err
		}
		defer env.done()
		var res billing.Result
		if release {
			res, err = env.op.Release(ctx, order, operatorName())
		} else {
			res, err = env.op.Refuse(ctx, order, operatorName())
		}
		if err != nil {
			return c.usage(err)
		}
		fmt.Fprintln(stdout, riskadmin.ResultOf(order, res).Summary())
		return nil
	}
}

func runRiskDecisions(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := newRiskCmd("decisions", stderr)
	since := c.fs.String("since", "24h", "from: a duration back (24h), a day (2026-12-02), a time (2026-12-02 15:04) or RFC 3339; \"\" for all")
	until := c.fs.String("until", "", "until (exclusive), same forms; default now")
	rule := c.fs.String("rule", "", "only this rule (fast_confirmation, number_velocity, list, ...)")
	action := c.fs.String("action", "", "only this action: allow, fresh_code, hold or block")
	number := c.fs.String("number", "", "only this phone number")
	merchant := c.fs.String("merchant", "", "only this merchant")
	waiting := c.fs.Bool("waiting", false, "only holds still waiting")
	limit := c.fs.Int("limit", 200, "at most this many (the oldest in the window)")
	if err := c.parse(args, 0); err != nil {
		return err
	}
	if *limit <= 0 {
		return fmt.Errorf("%w: risk decisions: --limit: a positive number", errUsage)
	}
	env, err := c.open(ctx, false, stderr)
	if err != nil {
		return err
	}
	defer env.done()
	loc, now := env.cfg.Location(), env.op.Clock.Now()
	q := billing.RiskDecisionQuery{Rule: *rule, Action: billing.RiskAction(*action), Merchant: *merchant, Waiting: *waiting, Limit: *limit}
	if q.From, err = riskadmin.ParseTime("since", *since, now, loc); err != nil {
		return c.usage(err)
	}
	if q.To, err = riskadmin.ParseTime("until", *until, now, loc); err != nil {
		return c.usage(err)
	}
	if *number != "" {
		if q.MSISDN, err = env.cfg.Numbering.Plan().Normalize(*number, 0, 0); err != nil {
			return fmt.Errorf("%w: risk decisions: --number: %v", errUsage, err)
		}
	}
	ds, err := env.op.Decisions(ctx, q)
	if err != nil {
		return c.usage(err)
	}
	if len(ds) == 0 {
		fmt.Fprintln(stdout, "no decisions")
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tAT\tSTAGE\tRULE\tACTION\tNUMBER\tMERCHANT\tORDER\tAMOUNT\tRESOLUTION\tEVIDENCE")
	for _, d := range ds {
		j := riskadmin.Decision(d, loc)
		res := dashIfEmpty(j.Resolution)
		if j.ResolvedBy != "" {
			res += " by " + j.ResolvedBy
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", j.ID, j.At, j.Stage, j.Rule, j.Action, j.Number, j.Merchant,
			orderOrDash(j.Order), j.Amount, res, j.Evidence)
	}
	if len(ds) == *limit {
		fmt.Fprintf(tw, "(the first %d; narrow --since/--until or raise --limit for more)\n", *limit)
	}
	return tw.Flush()
}

func orderOrDash(id int64) string {
	if id == 0 {
		return "-"
	}
	return strconv.FormatInt(id, 10)
}

// riskReportClock is the clock of risk report (tests replace it).
var riskReportClock clock.Clock = clock.Real{}

func runRiskReport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := newRiskCmd("report", stderr)
	day := c.fs.String("day", "", "the business day, YYYY-MM-DD (in the operator's time zone) (required)")
	dir := c.fs.String("dir", "", "where to write risk-<day>.csv and .html (default risk.report.dir, else the reports directory)")
	if err := c.parse(args, 0); err != nil {
		return err
	}
	if *day == "" {
		return fmt.Errorf("%w: risk report: --day YYYY-MM-DD is required", errUsage)
	}
	env, err := c.open(ctx, false, stderr)
	if err != nil {
		return err
	}
	defer env.done()
	p, err := reports.ParsePeriod(*day, env.cfg.Location())
	if err != nil || p.Monthly {
		return fmt.Errorf("%w: risk report: --day: %q is not a day YYYY-MM-DD", errUsage, *day)
	}
	r, err := reports.MakeRisk(ctx, env.op.Store, p, riskReportClock.Now())
	if err != nil {
		return err
	}
	out := *dir
	if out == "" {
		out = env.cfg.ReportsDir()
	}
	csvPath, htmlPath, err := reports.WriteRisk(out, r)
	if err != nil {
		return err
	}
	if !p.To.Before(riskReportClock.Now().Add(time.Nanosecond)) {
		fmt.Fprintf(stderr, "note: %s is not over yet in %s: the report covers it so far\n", p.Label, env.cfg.Location())
	}
	fmt.Fprintf(stdout, "risk report %s: %d decisions, %d holds, %d blocks added; %s, %s\n", p.Label, r.Decisions, r.Holds.Total(), r.BlocksAdded,
		csvPath, htmlPath)
	return nil
}
