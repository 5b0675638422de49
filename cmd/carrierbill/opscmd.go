package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime/debug"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/config"
	"github.com/carrierbill/carrierbill/ops"
)

// The operator commands of issue 16: lookup and account run on the stores
// directly (like refund); bind and loglevel act on a running gateway
// through its operator API (ops.listen, with $CARRIERBILL_ADMIN_TOKEN);
// version prints the build.

func init() {
	register(command{
		name:    "lookup",
		summary: "find orders and payments: lookup (-order N | -txn N | -ref REF [-merchant M] | -number 138****0001) [-json]",
		run:     runLookup,
	})
	registerVerbs("account", "the built-in phone accounts: account open|topup|suspend|resume|show",
		"Subscriber accounts of the built-in phone-account charger (the default charger; an operator with its own\nbilling system keeps accounts there).", []verb{
			{name: "open", synopsis: "-number N [-plan prepaid|postpaid] [-balance YUAN] [-credit-limit YUAN]", summary: "open an account (never overwrites one)", run: runAccountOpen},
			{name: "topup", synopsis: "-number N -amount YUAN -key KEY", summary: "add to a prepaid balance (the same -key twice adds once)", run: runAccountTopUp},
			{name: "suspend", synopsis: "-number N", summary: "suspend an account: its payments are refused (account_suspended)", run: runAccountStatus(true)},
			{name: "resume", synopsis: "-number N", summary: "resume a suspended account", run: runAccountStatus(false)},
			{name: "show", synopsis: "-number N [-json]", summary: "show an account", run: runAccountShow},
		})
	registerVerbs("bind", "suspend or resume an SMPP bind of a running gateway: bind suspend|resume NAME",
		"SMPP binds of the running gateway, through its operator API (ops.listen; the token in $CARRIERBILL_ADMIN_TOKEN).", []verb{
			{name: "suspend", synopsis: "[-addr HOST:PORT] NAME", summary: "unbind NAME gracefully and keep it down (MTs go out on the other binds)", run: runBindCmd("suspend")},
			{name: "resume", synopsis: "[-addr HOST:PORT] NAME", summary: "let NAME bind again", run: runBindCmd("resume")},
			{name: "status", synopsis: "[-addr HOST:PORT]", summary: "list the binds, their state and the backlog", run: runBindStatus},
		})
	register(command{
		name:    "loglevel",
		summary: "show or change the log level of a running gateway: loglevel [-addr HOST:PORT] [debug|info|warn|error]",
		run:     runLogLevel,
	})
	register(command{
		name:    "version",
		summary: "print the version and build of this binary",
		run:     runVersion,
	})
}

// version and commit are set at build time:
//
//	go build -ldflags "-X main.version=1.4.0 -X main.commit=$(git rev-parse --short HEAD)" ./cmd/carrierbill
//
// Without them the module's build information is used.
var version, commit string

func runVersion(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("version", stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	v, c, built := version, commit, ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v == "" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if c == "" && len(s.Value) >= 12 {
					c = s.Value[:12]
				}
			case "vcs.time":
				built = s.Value
			}
		}
		fmt.Fprintf(stdout, "carrierbill %s (commit %s%s) %s\n", orDash(v), orDash(c), suffix(" built ", built), bi.GoVersion)
		return nil
	}
	fmt.Fprintf(stdout, "carrierbill %s (commit %s)\n", orDash(v), orDash(c))
	return nil
}

func orDash(s string) string {
	if s == "" || s == "(devel)" {
		return "devel"
	}
	return s
}

func suffix(p, s string) string {
	if s == "" {
		return ""
	}
	return p + s
}

// openOperator opens the stores and the engine quietly for an operator
// command (no listener, no SMPP).
func openOperator(ctx context.Context, path string, stderr io.Writer) (*Gateway, func(), error) {
	c, err := config.Load(path)
	if err != nil {
		return nil, nil, err
	}
	quiet := c.Log
	quiet.Level = "warn"
	g, err := OpenGateway(ctx, c, NewZonedLogger(stderr, quiet, c.Location()), GatewayOptions{CoreOnly: true})
	if err != nil {
		return nil, nil, err
	}
	return g, func() { g.Close() }, nil
}

// usageOf marks request errors as usage errors (exit 2).
func usageOf(err error) error {
	if errors.Is(err, billing.ErrBadRequest) || errors.Is(err, billing.ErrBadMask) {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	return err
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func runLookup(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("lookup", stderr)
	path := fs.String("config", os.Getenv("CARRIERBILL_CONFIG"), "configuration file (YAML)")
	order := fs.Int64("order", 0, "an order number")
	txn := fs.Int64("txn", 0, "a transaction number (交易号, on the receipt)")
	merchant := fs.String("merchant", "", "the merchant code (with -ref)")
	ref := fs.String("ref", "", "the merchant's order reference")
	number := fs.String("number", "", "a phone number, whole (13800000001) or masked as the logs show it (138****0001)")
	limit := fs.Int("limit", 20, "at most this many orders")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	g, done, err := openOperator(ctx, *path, stderr)
	if err != nil {
		return err
	}
	defer done()
	hits, err := g.Operator.FindOrders(ctx, ops.SearchQuery{Order: *order, Txn: *txn, Merchant: *merchant, Ref: *ref, Number: *number, Limit: *limit})
	if err != nil {
		return usageOf(err)
	}
	loc := g.Config.Location()
	if len(hits) == 1 {
		v, err := g.Operator.Order(ctx, hits[0].OrderID)
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(stdout, ops.ViewJSON(v, loc))
		}
		j := ops.ViewJSON(v, loc)
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintf(tw, "order\t%d\ntransaction\t%d %s\nnumber\t%s\nmerchant\t%s %s\nproduct\t%s\namount\t%s\nmethod\t%s\nstatus\t%s %s\nrefunded\t%s\ncreated\t%s\nchannel\t%s\n",
			j.Order, j.Txn, j.ChargeStatus, j.Number, j.Merchant, j.MerchantRef, j.Product, j.Amount, j.Method, j.Status, j.Reason, j.Refunded, j.Created, j.Channel)
		for _, m := range j.Messages {
			fmt.Fprintf(tw, "mt %s\tsent %s delivery %s %s\n", m.Kind, orDash(m.Sent), orDash(m.Delivery), m.Delivered)
		}
		return tw.Flush()
	}
	if *asJSON {
		out := []any{}
		for _, h := range hits {
			out = append(out, ops.ViewJSON(billing.OrderView{Order: billing.Order{ID: h.OrderID, MSISDN: h.MSISDN, Merchant: h.Merchant,
				MerchantRef: h.MerchantRef, ProductName: h.ProductName, Amount: h.Amount, Method: h.Method, Status: h.Status, Reason: h.Reason,
				CreatedAt: h.CreatedAt}, Refunded: h.Refunded}, loc))
		}
		return printJSON(stdout, out)
	}
	if len(hits) == 0 {
		return fmt.Errorf("no order found: %w", billing.ErrNotFound)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ORDER\tTXN\tNUMBER\tMERCHANT\tAMOUNT\tSTATUS\tREASON\tCREATED")
	for _, h := range hits {
		fmt.Fprintf(tw, "%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", h.OrderID, h.ChargeID, ops.MaskNumber(h.MSISDN), h.Merchant, h.Amount,
			h.Status, h.Reason, h.CreatedAt.In(loc).Format("2006-01-02 15:04:05"))
	}
	return tw.Flush()
}

// accountFlags are the flags every account verb has.
func accountFlags(verb string, stderr io.Writer) (*flag.FlagSet, *string, *string) {
	var synopsis, summary string
	for _, v := range verbsOf["account"] {
		if v.name == verb {
			synopsis, summary = v.synopsis, v.summary
		}
	}
	fs := newVerbFlagSet("carrierbill account "+verb, synopsis, summary, stderr)
	path := fs.String("config", os.Getenv("CARRIERBILL_CONFIG"), "configuration file (YAML)")
	number := fs.String("number", "", "the subscriber's phone number")
	return fs, path, number
}

func printAccount(w io.Writer, a billing.Subscriber) {
	j := ops.AccountJSON(a)
	state := "active"
	if j.Suspended {
		state = "suspended"
	}
	switch a.Plan {
	case billing.Prepaid:
		fmt.Fprintf(w, "%s  prepaid  balance %s yuan  %s\n", j.Number, j.Balance, state)
	default:
		fmt.Fprintf(w, "%s  postpaid  bill %s of %s yuan  %s\n", j.Number, j.Bill, j.CreditLimit, state)
	}
}

func parseYuanFlag(name, v string) (billing.Money, error) {
	if v == "" {
		return 0, nil
	}
	m, err := billing.ParseYuan(v)
	if err != nil {
		return 0, fmt.Errorf("%w: -%s %q: %v", errUsage, name, v, err)
	}
	return m, nil
}

func runAccountOpen(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, path, number := accountFlags("open", stderr)
	plan := fs.String("plan", "prepaid", "prepaid (a balance) or postpaid (a bill under a credit limit)")
	balance := fs.String("balance", "", "prepaid: the opening balance in yuan")
	limit := fs.String("credit-limit", "", "postpaid: the credit limit in yuan (default accounts.credit_limit)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	bal, err := parseYuanFlag("balance", *balance)
	if err != nil {
		return err
	}
	lim, err := parseYuanFlag("credit-limit", *limit)
	if err != nil {
		return err
	}
	g, done, err := openOperator(ctx, *path, stderr)
	if err != nil {
		return err
	}
	defer done()
	if *limit == "" {
		lim = g.Config.Accounts.CreditLimit.Money
	}
	a, err := g.Operator.OpenAccount(ctx, *number, billing.Plan(*plan), bal, lim)
	if err != nil {
		return usageOf(err)
	}
	fmt.Fprint(stdout, "opened ")
	printAccount(stdout, a)
	return nil
}

func runAccountTopUp(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, path, number := accountFlags("topup", stderr)
	amount := fs.String("amount", "", "yuan to add, e.g. 20.00")
	key := fs.String("key", "", "idempotency key, e.g. the ticket or voucher number (required: the same key twice tops up once)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	amt, err := parseYuanFlag("amount", *amount)
	if err != nil {
		return err
	}
	if amt <= 0 || *key == "" {
		return fmt.Errorf("%w: -amount (positive) and -key are required", errUsage)
	}
	g, done, err := openOperator(ctx, *path, stderr)
	if err != nil {
		return err
	}
	defer done()
	a, err := g.Operator.TopUp(ctx, *number, amt, *key)
	if err != nil {
		return usageOf(err)
	}
	printAccount(stdout, a)
	return nil
}

func runAccountStatus(suspend bool) func(context.Context, []string, io.Writer, io.Writer) error {
	verb := map[bool]string{true: "suspend", false: "resume"}[suspend]
	return func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		fs, path, number := accountFlags(verb, stderr)
		if err := fs.Parse(args); err != nil {
			return err
		}
		g, done, err := openOperator(ctx, *path, stderr)
		if err != nil {
			return err
		}
		defer done()
		a, err := g.Operator.SetSuspended(ctx, *number, suspend)
		if err != nil {
			return usageOf(err)
		}
		printAccount(stdout, a)
		return nil
	}
}

func runAccountShow(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, path, number := accountFlags("show", stderr)
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	g, done, err := openOperator(ctx, *path, stderr)
	if err != nil {
		return err
	}
	defer done()
	a, err := g.Operator.Account(ctx, *number)
	if err != nil {
		return usageOf(err)
	}
	if *asJSON {
		return printJSON(stdout, ops.AccountJSON(a))
	}
	printAccount(stdout, a)
	return nil
}

// opsClient calls a running gateway's operator API.
type opsClient struct {
	base, token string
}

// newOpsClient reads -addr (default: ops.listen of -config) and the token.
func newOpsClient(fs *flag.FlagSet, args []string) (*opsClient, error) {
	path := fs.String("config", os.Getenv("CARRIERBILL_CONFIG"), "configuration file (YAML): its ops.listen is the default -addr")
	addr := fs.String("addr", "", "the gateway's operations endpoint, host:port (default ops.listen)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if *addr == "" {
		c, err := config.Load(*path)
		if err != nil {
			return nil, err
		}
		*addr = c.Ops.Listen
	}
	if *addr == "" {
		return nil, fmt.Errorf("%w: no -addr and no ops.listen in the configuration", errUsage)
	}
	tok := os.Getenv(envAdminToken)
	if tok == "" {
		return nil, fmt.Errorf("%w: set %s to the gateway's admin token", errUsage, envAdminToken)
	}
	if strings.HasPrefix(*addr, ":") {
		*addr = "127.0.0.1" + *addr
	}
	return &opsClient{base: "http://" + *addr, token: tok}, nil
}

func (c *opsClient) do(ctx context.Context, method, path, body string, out any) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("calling the gateway: %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal(b, &e)
		err := fmt.Errorf("the gateway answered %s: %s", resp.Status, e.Error)
		if resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusBadRequest {
			return fmt.Errorf("%w: %v", errUsage, err)
		}
		return err
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

func runBindCmd(action string) func(context.Context, []string, io.Writer, io.Writer) error {
	return func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		fs := newVerbFlagSet("carrierbill bind "+action, "[-addr HOST:PORT] NAME", action+" an SMPP bind of the running gateway", stderr)
		c, err := newOpsClient(fs, args)
		if err != nil {
			return err
		}
		if fs.NArg() != 1 {
			return fmt.Errorf("%w: carrierbill bind %s NAME", errUsage, action)
		}
		var out struct {
			Changed bool `json:"changed"`
		}
		if err := c.do(ctx, "POST", "/admin/binds/"+fs.Arg(0)+"/"+action, "", &out); err != nil {
			return err
		}
		what := map[string]string{"suspend": "suspended", "resume": "resumed"}[action]
		if !out.Changed {
			fmt.Fprintf(stdout, "bind %s was already %s\n", fs.Arg(0), what)
			return nil
		}
		fmt.Fprintf(stdout, "bind %s %s\n", fs.Arg(0), what)
		return nil
	}
}

func runBindStatus(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newVerbFlagSet("carrierbill bind status", "[-addr HOST:PORT]", "list the binds of the running gateway", stderr)
	c, err := newOpsClient(fs, args)
	if err != nil {
		return err
	}
	var st ops.Status
	if err := c.do(ctx, "GET", "/admin/status", "", &st); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "BIND\tROLE\tSTATE\tBINDS\tRECONNECTS\tWINDOW")
	for _, b := range st.Binds {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d/%d\n", b.Name, b.Role, b.State, b.Binds, b.Reconnects, b.WindowUsed, b.WindowSize)
	}
	if st.Backlog != nil {
		fmt.Fprintf(tw, "\nMO backlog\t%d (oldest %s)\noutbox unsent\t%d (oldest %s)\npending charges\t%d\n", st.Backlog.UnprocessedMOs,
			st.Backlog.OldestMOAge.Round(time.Second), st.Backlog.OutboxUnsent, st.Backlog.OldestOutboxAge.Round(time.Second), st.Backlog.PendingCharges)
	}
	return tw.Flush()
}

func runLogLevel(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("loglevel", stderr)
	c, err := newOpsClient(fs, args)
	if err != nil {
		return err
	}
	var out struct {
		Level  string `json:"level"`
		Before string `json:"before"`
	}
	switch fs.NArg() {
	case 0:
		if err := c.do(ctx, "GET", "/admin/loglevel", "", &out); err != nil {
			return err
		}
		fmt.Fprintln(stdout, out.Level)
		return nil
	case 1:
		body, _ := json.Marshal(map[string]string{"level": fs.Arg(0)})
		if err := c.do(ctx, "PUT", "/admin/loglevel", string(body), &out); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "log level %s (was %s)\n", out.Level, out.Before)
		return nil
	}
	return fmt.Errorf("%w: carrierbill loglevel [debug|info|warn|error]", errUsage)
}
