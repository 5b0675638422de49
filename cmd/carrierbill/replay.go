package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/carrierbill/carrierbill/config"
	"github.com/carrierbill/carrierbill/replay"
	"github.com/carrierbill/carrierbill/trace"
)

func init() {
	register(command{
		name:    "replay",
		summary: "replay an SMS trace (JSON lines, Kannel log, pcap/pcapng) through the billing engine, offline or against a gateway (--smsc)",
		run:     runReplay,
	})
}

// maxReportedSkips is how many pieces of broken input replay names on
// stderr one by one; the summary counts them all.
const maxReportedSkips = 20

func runReplay(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("replay", stderr)
	path := fs.String("config", "", "configuration file (YAML), as for serve: merchants, limits, texts, time zone")
	format := fs.String("format", "auto", "trace format: auto, jsonl, kannel, pcap, pcapng")
	strict := fs.Bool("strict", false, "stop at the first broken input instead of skipping it")
	seed := fs.Uint64("seed", 1, "seed of the confirmation codes (same trace, same seed: same output)")
	redactOut := fs.Bool("redact", false, "mask phone numbers and codes in the output")
	dbURL := fs.String("database-url", "", "replay on PostgreSQL (in a scratch schema, dropped afterwards) instead of the embedded store")
	accounts := fs.String("accounts", "", "JSON lines of accounts to open first: {\"msisdn\",\"prepaid\",\"balance_fen\",\"credit_limit_fen\",\"suspended\"}, a card: \"card_pan\",\"card_balance_fen\",\"card_state\",\"wallet_password\" (see README)")
	noAutoOpen := fs.Bool("no-auto-open", false, "decline numbers without an account (unknown_subscriber) instead of opening them")
	port := fs.Uint("port", 0, "captures: only TCP streams with this port (0: every SMPP stream)")
	smscAddr := fs.String("smsc", "", "live mode: the SMSC simulator's HTTP control endpoint (host:port or URL) of a running gateway")
	speed := fs.Float64("speed", 1, "live mode: replay the recorded pace N times faster")
	rate := fs.Float64("rate", 0, "live mode: send N MOs per second instead of the recorded pace")
	wait := fs.Duration("wait", 10*time.Second, "live mode: how long to wait for the last MTs")
	progressMode := fs.String("progress", "auto", "progress on stderr: auto (when stderr is a terminal), on, off; stdout keeps the events")
	tz := fs.String("trace-tz", "", "time zone of trace timestamps that carry none (Kannel logs), e.g. UTC; default the configuration's")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("%w: carrierbill replay [flags] TRACE (- for standard input)", errUsage)
	}
	f, err := trace.ParseFormat(*format)
	if err != nil {
		return fmt.Errorf("%w: --format: %v", errUsage, err)
	}
	if *port > 0xffff {
		return fmt.Errorf("%w: --port %d is not a TCP port", errUsage, *port)
	}
	if *speed <= 0 || *rate < 0 {
		return fmt.Errorf("%w: --speed must be positive and --rate not negative", errUsage)
	}
	c, err := config.Load(*path)
	if err != nil {
		return err
	}
	bc := BillingConfig(c)
	log := NewZonedLogger(stderr, c.Log, c.Location())
	if c.Log.Level != "debug" {
		// The engine's info lines would drown the summary: warnings and
		// errors only, unless log.level asks for debug.
		log = NewZonedLogger(stderr, config.Log{Level: "warn", Format: c.Log.Format}, c.Location())
	}

	traceLoc := bc.Location
	if *tz != "" {
		if traceLoc, err = time.LoadLocation(*tz); err != nil {
			return fmt.Errorf("%w: --trace-tz: %v", errUsage, err)
		}
	}
	progress, err := progressWanted(*progressMode, stderr)
	if err != nil {
		return err
	}
	// Offline, the bar counts the trace's bytes; live mode draws its own
	// (MOs sent, rate, ETA).
	var barOut io.Writer
	if progress && *smscAddr == "" {
		barOut = stderr
	}
	in, err := openTraceInput(fs.Arg(0), barOut)
	if err != nil {
		return err
	}
	defer in.Close()
	skips := 0
	topts := trace.Options{Strict: *strict, Location: traceLoc, Port: uint16(*port), OnError: func(pe *trace.ParseError) {
		skips++
		if skips <= maxReportedSkips+1 {
			in.clear()
		}
		if skips <= maxReportedSkips {
			fmt.Fprintf(stderr, "skipped: %v\n", pe)
		} else if skips == maxReportedSkips+1 {
			fmt.Fprintf(stderr, "skipped: more broken input; the summary counts it\n")
		}
	}}
	r, err := trace.NewReader(in.r, in.name, f, topts)
	if err != nil {
		return fmt.Errorf("opening the trace: %w", err)
	}
	defer r.Close()

	if *smscAddr != "" {
		lo := replay.LiveOptions{SMSC: *smscAddr, Speed: *speed, Rate: *rate, Wait: *wait, Redact: *redactOut, Location: bc.Location, Logger: log}
		if progress {
			lo.Progress = stderr
		}
		rep, err := replay.Live(ctx, r, stdout, lo)
		if _, werr := rep.WriteTo(stderr); err == nil {
			err = werr
		}
		return err
	}

	o := replay.Options{
		Config: bc, Texts: TextConfig(c), Numbering: c.Numbering.Plan(), DatabaseURL: *dbURL, Seed: *seed, Redact: *redactOut,
		NoAutoOpen: *noAutoOpen, CreditLimit: c.Accounts.CreditLimit.Money, Logger: log,
		NoRisk: !c.RiskEnabled(),
	}
	if !o.NoRisk {
		rules := c.RiskRules() // the risk: section, on the virtual clock
		o.RiskRules = &rules
	}
	if *accounts != "" {
		if o.Accounts, err = readAccounts(*accounts); err != nil {
			return err
		}
	}
	sum, err := replay.Run(ctx, r, stdout, o)
	in.finish()
	if _, werr := sum.WriteTo(stderr); err == nil {
		err = werr
	}
	return err
}

// readAccounts reads the --accounts file: one JSON object per line.
func readAccounts(path string) ([]replay.Account, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading --accounts: %w", err)
	}
	return parseAccounts(b, path)
}

// parseAccounts reads accounts, one JSON object per line; # comments and
// blank lines are skipped. Errors name the line, never its content.
func parseAccounts(b []byte, path string) ([]replay.Account, error) {
	var out []replay.Account
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		var a replay.Account
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&a); err != nil || a.MSISDN == "" || a.Balance < 0 || a.CreditLimit < 0 || a.CardBalance < 0 {
			return nil, fmt.Errorf("%s:%d: want {\"msisdn\":...,\"prepaid\":...,\"balance_fen\":...,\"credit_limit_fen\":...,\"suspended\":...} (a card: \"card_pan\",\"card_balance_fen\",\"card_state\",\"wallet_password\")", path, n)
		}
		out = append(out, a)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return out, nil
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
