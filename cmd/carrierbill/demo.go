package main

import (
	"bufio"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/carrierbill/carrierbill/config"
	"github.com/carrierbill/carrierbill/msisdn"
	"github.com/carrierbill/carrierbill/redact"
	"github.com/carrierbill/carrierbill/settlement"
	"github.com/carrierbill/carrierbill/smpp/smsc"
)

// demoCatalog is the configuration the demo runs with.
//
//go:embed demo.yaml
var demoCatalog []byte

// demoStdin is where the interactive part reads the subscriber's MOs from
// (a variable so that tests can feed it).
var demoStdin io.Reader = os.Stdin

func init() {
	register(command{
		name:    "demo",
		summary: "run the embedded gateway with a sample catalog, play a scripted conversation, then let you text it",
		run:     runDemo,
	})
}

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("demo", stderr)
	dataDir := fs.String("data-dir", "", "directory for the embedded database, the statements and the log (default: a new temporary directory)")
	scriptOnly := fs.Bool("script-only", false, "end after the scripted conversation and the statement (tests, CI)")
	useEnv := fs.Bool("use-env", false, "use DATABASE_URL and REDIS_URL from the environment instead of the embedded store and Redis (reuse --data-dir between runs: it counts runs so each one texts from new numbers)")
	verbose := fs.Bool("v", false, "also write the gateway's log to stderr")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: carrierbill demo [--data-dir DIR] [--script-only] [--use-env] [-v]")
		fmt.Fprintln(stderr, "\nStarts the gateway with SQLite, an in-process Redis and the built-in SMSC simulator,")
		fmt.Fprintln(stderr, "plays a purchase, a wrong code, a confirmation, a limit and a CX query, writes the")
		fmt.Fprintln(stderr, "day's merchant statements, then reads MOs you type as a subscriber (type help).")
		fmt.Fprintln(stderr)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}

	env := func(string) (string, bool) { return "", false }
	if *useEnv {
		env = func(k string) (string, bool) {
			if k == "DATABASE_URL" || k == "REDIS_URL" {
				return os.LookupEnv(k)
			}
			return "", false // the demo plays the subscriber through its own simulator
		}
	}
	cfg, err := config.Parse(demoCatalog, env)
	if err != nil {
		return fmt.Errorf("the demo catalog: %w", err)
	}
	dir := *dataDir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "carrierbill-demo-"); err != nil {
			return fmt.Errorf("creating the demo's data directory: %w", err)
		}
	} else if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("creating the demo's data directory: %w", err)
	}
	if dir, err = filepath.Abs(dir); err != nil {
		return fmt.Errorf("locating the data directory: %w", err)
	}
	cfg.DataDir = dir

	logf, err := os.OpenFile(filepath.Join(dir, "carrierbill.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o640)
	if err != nil {
		return fmt.Errorf("opening the demo's log file: %w", err)
	}
	defer logf.Close()
	var logw io.Writer = logf
	if *verbose {
		logw = io.MultiWriter(logf, stderr)
	}
	log := NewZonedLogger(logw, cfg.Log, cfg.Location())

	run, err := nextDemoRun(dir)
	if err != nil {
		return err
	}

	o := GatewayOptions{SimulatorAddr: "127.0.0.1:0", OutboxPoll: 20 * time.Millisecond}
	sink := demoAPI(cfg, &o) // the merchant API and its notifications (apidemo.go)
	defer sink.srv.Close()
	g, err := OpenGateway(ctx, cfg, log, o)
	if err != nil {
		return fmt.Errorf("starting the embedded gateway: %w", err)
	}
	defer g.Close()
	gctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan error, 1)
	go func() { done <- g.Run(gctx, o) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			fmt.Fprintf(stderr, "carrierbill demo: gateway: %v\n", err)
		}
	}()

	store, redisMode := "embedded SQLite "+filepath.Join(dir, "carrierbill.db"), "in-process Redis"
	if cfg.Database.URL != "" {
		store = "PostgreSQL (DATABASE_URL)"
	}
	if cfg.Redis.URL != "" {
		redisMode = "Redis (REDIS_URL)"
	}
	fmt.Fprintln(stdout, "carrierbill demo — the whole gateway in one process, no servers needed")
	fmt.Fprintf(stdout, "  data directory : %s\n", dir)
	fmt.Fprintf(stdout, "  store          : %s\n", store)
	fmt.Fprintf(stdout, "  frequency rules: %s\n", redisMode)
	fmt.Fprintf(stdout, "  SMSC           : built-in simulator on %s\n", g.Simulator.Addr())
	fmt.Fprintf(stdout, "  gateway log    : %s\n", filepath.Join(dir, "carrierbill.log"))

	bctx, bcancel := context.WithTimeout(ctx, 15*time.Second)
	err = g.Simulator.WaitBound(bctx, 1)
	bcancel()
	if err != nil {
		return fmt.Errorf("the gateway did not bind to the simulator: %w", err)
	}

	d := &demo{g: g, sim: g.Simulator, out: stdout, service: cfg.ServiceCode, merchants: map[string]string{}}
	var cat strings.Builder
	for _, m := range cfg.Merchants {
		d.merchants[m.Code] = m.Name
		fmt.Fprintf(&cat, "  %s %s:", m.Code, m.Name)
		for _, p := range m.Products {
			fmt.Fprintf(&cat, " %s (%s, %s)", p.Keyword, p.Name, p.Amount.Money)
		}
		if m.OpenAmount {
			fmt.Fprintf(&cat, " or an amount from %s to %s", m.MinAmount.Money, m.MaxAmount.Money)
		}
		cat.WriteString("\n")
	}
	d.catalog = cat.String()
	a := fmt.Sprintf("138%08d", 2*run+1)
	b := fmt.Sprintf("138%08d", 2*run+2)
	d.from, d.to = a, cfg.ServiceCode+"8001"
	if err := d.script(ctx, a, b); err != nil {
		if ctx.Err() != nil { // Ctrl-C during the script
			fmt.Fprintln(stdout)
			return nil
		}
		return err
	}
	if err := d.ussdScript(ctx, a); err != nil { // ussddemo.go
		return err
	}
	// The web payment comes before the statements: a statement is written
	// for what the day holds when it is written, and verify checks that
	// it still equals the ledger.
	if err := d.webPayment(ctx, sink, fmt.Sprintf("137%08d", run+1)); err != nil {
		return err
	}
	if err := d.statements(ctx, cfg); err != nil {
		return err
	}
	if *scriptOnly {
		return nil
	}
	return d.interact(ctx, demoStdin)
}

// nextDemoRun counts the demo's runs in dir so that a rerun on the same
// data directory texts from fresh phone numbers (the day's limits of the
// previous run's subscribers would change the script's answers).
func nextDemoRun(dir string) (int, error) {
	path := filepath.Join(dir, "demo-runs")
	n := 0
	if b, err := os.ReadFile(path); err == nil {
		n, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	} else if !errors.Is(err, os.ErrNotExist) {
		return 0, fmt.Errorf("reading the demo's run counter: %w", err)
	}
	if err := os.WriteFile(path, []byte(strconv.Itoa(n+1)+"\n"), 0o640); err != nil {
		return 0, fmt.Errorf("writing the demo's run counter: %w", err)
	}
	return n, nil
}

// demo plays a subscriber against the gateway through the simulator.
type demo struct {
	g         *Gateway
	sim       *smsc.Server
	out       io.Writer
	service   string
	merchants map[string]string // code → name
	catalog   string            // for help
	printed   int               // MTs already shown
	from, to  string            // the interactive subscriber and address
}

var demoCode = regexp.MustCompile(`(^|[^0-9])([0-9]{6})([^0-9]|$)`)

// codeIn returns the confirmation code of a prompt: its only run of
// exactly six digits.
func codeIn(prompt string) (string, bool) {
	all := demoCode.FindAllStringSubmatch(prompt, -1)
	if len(all) != 1 {
		return "", false
	}
	return all[0][2], true
}

// wrongCode is a six-digit code that is not code.
func wrongCode(code string) string {
	n, _ := strconv.Atoi(code)
	return fmt.Sprintf("%06d", (n+1)%1000000)
}

func (d *demo) step(title string) { fmt.Fprintf(d.out, "\n── %s\n", title) }

// say sends text from phone to addr, prints it and the replies, and
// returns the last reply to phone ("" when none came within wait).
func (d *demo) say(ctx context.Context, from, to, text string, wait time.Duration) (string, error) {
	fmt.Fprintf(d.out, "📱 %s → %s: %s\n", from, to, text)
	ictx, cancel := context.WithTimeout(ctx, 15*time.Second)
	st, err := d.sim.InjectMO(ictx, smsc.MO{From: from, To: to, Text: text})
	cancel()
	if err != nil {
		return "", fmt.Errorf("sending the MO through the simulator: %w", err)
	}
	for _, s := range st {
		if s != 0 {
			fmt.Fprintf(d.out, "   ⚠ the gateway answered command_status %#x: not stored, an SMSC would send it again\n", uint32(s))
			return "", nil
		}
	}
	return d.await(ctx, from, wait)
}

// await prints MTs as they arrive until one to phone came or wait passed.
func (d *demo) await(ctx context.Context, phone string, wait time.Duration) (string, error) {
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	for {
		mts, err := d.sim.WaitMTs(wctx, d.printed+1)
		if err != nil {
			if ctx.Err() != nil {
				return "", ctx.Err()
			}
			return "", nil
		}
		reply, got := "", false
		for _, mt := range mts[d.printed:] {
			d.printMT(mt)
			if samePhone(mt.To, phone) {
				reply, got = mt.Text, true
			}
		}
		d.printed = len(mts)
		if got {
			return reply, nil
		}
	}
}

// flush prints the MTs that arrived unasked (an order that expired).
func (d *demo) flush() {
	mts := d.sim.MTs()
	for _, mt := range mts[min(d.printed, len(mts)):] {
		d.printMT(mt)
	}
	d.printed = max(d.printed, len(mts))
}

func (d *demo) printMT(mt smsc.MT) {
	fmt.Fprintf(d.out, "🏦 gateway %s → %s: %s\n", mt.From, redact.Phone(mt.To), mt.Text)
}

// script is the scripted conversation.
func (d *demo) script(ctx context.Context, a, b string) error {
	m1, m2 := d.service+"8001", d.service+"8002"
	const wait = 20 * time.Second
	fail := func(what string) error {
		return fmt.Errorf("the scripted conversation: no %s from the gateway (see its log)", what)
	}

	d.step("1. 购买：用户发送商品关键字 VIP 到 星辰游戏 (a purchase)")
	prompt, err := d.say(ctx, a, m1, "VIP", wait)
	if err != nil {
		return err
	}
	code, ok := codeIn(prompt)
	if !ok {
		return fail("prompt with a confirmation code")
	}
	d.step("2. 回复了错误的验证码 (a wrong code)")
	if r, err := d.say(ctx, a, m1, wrongCode(code), wait); err != nil || r == "" {
		return errors.Join(err, fail("answer to the wrong code"))
	}
	d.step("3. 回复正确的验证码，确认支付 (the confirmation)")
	if r, err := d.say(ctx, a, m1, code, wait); err != nil || r == "" {
		return errors.Join(err, fail("receipt"))
	}
	d.step("4. 再买 30.00 元：超出每日限额 50.00 元 (a limit reached)")
	if r, err := d.say(ctx, a, m1, "30", wait); err != nil || r == "" {
		return errors.Join(err, fail("answer to the purchase over the limit"))
	}
	d.step("5. CX：查询剩余额度和最近支付 (a CX query)")
	if r, err := d.say(ctx, a, m1, "CX", wait); err != nil || r == "" {
		return errors.Join(err, fail("answer to CX"))
	}
	d.step("6. 另一位用户向 悦读小说 购买章节包 (another subscriber, another merchant)")
	prompt, err = d.say(ctx, b, m2, "ZJ", wait)
	if err != nil {
		return err
	}
	if code, ok = codeIn(prompt); !ok {
		return fail("prompt with a confirmation code")
	}
	if r, err := d.say(ctx, b, m2, code, wait); err != nil || r == "" {
		return errors.Join(err, fail("receipt"))
	}
	return nil
}

// statements writes today's merchant statements through the settlement
// runner (the nightly job's code, run by hand) and prints them.
func (d *demo) statements(ctx context.Context, cfg *config.Config) error {
	date := d.g.Clock.Now().In(cfg.Location()).Format("2006-01-02")
	d.step("今日商户对账单 (the day's merchant statements, " + date + ")")
	res, err := d.g.Settlement.Generate(ctx, settlement.JobStatements, date, "")
	if err != nil {
		return fmt.Errorf("writing the day's statements: %w", err)
	}
	for _, f := range res.Files {
		if filepath.Ext(f) != ".csv" {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("reading back the statement: %w", err)
		}
		fmt.Fprintf(d.out, "📄 %s\n%s", f, b)
	}
	if res.Merchants == 0 {
		fmt.Fprintln(d.out, "(no payments today)")
	}
	return nil
}

const demoHelpText = `Type an MO as the subscriber and press Enter:
  8001 VIP              text VIP to merchant 8001 (the service code + 8001)
  123456                text the rest to the last address (a code, CX, an amount like 10)
  to 106580088002 ZJ    text ZJ to any address
  from 13900000009      be another subscriber from now on
  help                  this text
  quit                  stop the gateway (or Ctrl-D / Ctrl-C)`

// interact reads MOs from in until EOF, quit or ctx ends.
func (d *demo) interact(ctx context.Context, in io.Reader) error {
	d.step("现在轮到你 (your turn)")
	fmt.Fprintln(d.out, demoHelpText)
	fmt.Fprintf(d.out, "The catalog:\n%s", d.catalog)

	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(in)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
	}()
	for {
		d.flush()
		fmt.Fprintf(d.out, "[%s → %s] > ", d.from, d.to)
		var line string
		select {
		case <-ctx.Done():
			fmt.Fprintln(d.out)
			return nil
		case l, ok := <-lines:
			if !ok {
				fmt.Fprintln(d.out)
				return nil
			}
			line = l
		}
		quit, err := d.command(ctx, line)
		if err != nil {
			if ctx.Err() != nil {
				fmt.Fprintln(d.out)
				return nil
			}
			fmt.Fprintf(d.out, "   ⚠ %v\n", err)
		}
		if quit {
			return nil
		}
	}
}

var demoDigits = regexp.MustCompile(`^[0-9]{5,20}$`)

// demoAction is what a line typed at the demo's prompt asks for.
type demoAction int

const (
	demoNothing demoAction = iota
	demoHelp
	demoQuit
	demoFrom // switch to phone Arg
	demoSend // send Text to Addr ("" the last address)
	demoBad  // Text says what is wrong
)

type demoLine struct {
	Action     demoAction
	Arg        string // demoFrom: the phone
	Addr, Text string // demoSend
}

// parseDemoLine reads one line typed at the prompt. merchant tells whether
// a word is a merchant code; service is the service code.
func parseDemoLine(line, service string, merchant func(string) bool) demoLine {
	line = strings.TrimSpace(line)
	first, rest, _ := strings.Cut(line, " ")
	rest = strings.TrimSpace(rest)
	switch strings.ToLower(first) {
	case "":
		return demoLine{Action: demoNothing}
	case "help", "?":
		return demoLine{Action: demoHelp}
	case "quit", "exit":
		return demoLine{Action: demoQuit}
	case "from":
		if !demoDigits.MatchString(rest) {
			return demoLine{Action: demoBad, Text: "from wants a phone number of 5 to 20 digits, e.g. from 13900000009"}
		}
		return demoLine{Action: demoFrom, Arg: rest}
	case "to":
		addr, text, _ := strings.Cut(rest, " ")
		text = strings.TrimSpace(text)
		if !demoDigits.MatchString(addr) || text == "" {
			return demoLine{Action: demoBad, Text: "to wants an address and a text, e.g. to 106580088002 ZJ"}
		}
		return demoLine{Action: demoSend, Addr: addr, Text: text}
	}
	if rest != "" && merchant(first) {
		return demoLine{Action: demoSend, Addr: service + first, Text: rest}
	}
	return demoLine{Action: demoSend, Text: line}
}

// command runs one line typed at the prompt.
func (d *demo) command(ctx context.Context, line string) (quit bool, err error) {
	l := parseDemoLine(line, d.service, func(code string) bool { _, ok := d.merchants[code]; return ok })
	switch l.Action {
	case demoHelp:
		fmt.Fprintln(d.out, demoHelpText)
	case demoQuit:
		return true, nil
	case demoFrom:
		d.from = l.Arg
	case demoBad:
		return false, errors.New(l.Text)
	case demoSend:
		if l.Addr != "" {
			d.to = l.Addr
		}
		return false, d.send(ctx, l.Text)
	}
	return false, nil
}

func (d *demo) send(ctx context.Context, text string) error {
	r, err := d.say(ctx, d.from, d.to, text, 5*time.Second)
	if err == nil && r == "" {
		fmt.Fprintln(d.out, "   (no reply yet; it will be shown when it arrives)")
	}
	return err
}

// canonicalNumber is the number as the gateway stores it (the input when it is
// not a number).
func canonicalNumber(phone string) string {
	if n, err := msisdn.DefaultPlan().Normalize(phone, 0, 0); err == nil {
		return n
	}
	return phone
}

// samePhone reports whether two spellings name one number (the gateway
// answers a national "13800000001" at the canonical "+8613800000001",
// which SMPP carries as "8613800000001").
func samePhone(a, b string) bool {
	return canonicalNumber(a) == canonicalNumber(b)
}
