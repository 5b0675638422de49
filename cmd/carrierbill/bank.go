package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/carrierbill/carrierbill/bank"
	"github.com/carrierbill/carrierbill/bank/banksim"
	"github.com/carrierbill/carrierbill/bank/httpbank"
	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/clock"
	"github.com/carrierbill/carrierbill/config"
	"github.com/carrierbill/carrierbill/redact"
)

// envBankKey is the shared HMAC key of the HTTP bank gateway (>= 32 bytes).
const envBankKey = "CARRIERBILL_BANK_KEY"

// openBank opens the configured bank adapter (the bank section): the
// simulated bank kept in its file, or the HTTP bank gateway with key (nil:
// $CARRIERBILL_BANK_KEY).
func openBank(c *config.Config, clk clock.Clock, log *slog.Logger, key []byte) (bank.Adapter, error) {
	switch c.Bank.Adapter {
	case config.BankHTTP:
		if key == nil {
			key = []byte(os.Getenv(envBankKey))
		}
		a, err := httpbank.New(httpbank.Options{
			URL: c.Bank.URL, KeyID: c.Bank.KeyID, Key: key, Timeout: c.Bank.Timeout.D(), Clock: clk,
			Logger: log.With("component", "bank"),
		})
		if err != nil {
			return nil, fmt.Errorf("bank (adapter http; key in %s): %w", envBankKey, err)
		}
		log.Info("bank: HTTP bank gateway", "url", c.Bank.URL, "key_id", c.Bank.KeyID, "timeout", c.Bank.Timeout.D())
		return a, nil
	default:
		path := c.BankSimFile()
		if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
			return nil, fmt.Errorf("bank.sim_file: %w", err)
		}
		b, err := banksim.Open(path, clk)
		if err != nil {
			return nil, fmt.Errorf("bank.sim_file: %w", err)
		}
		log.Warn("bank: the simulated bank (labs and demos: no real money moves); set bank.adapter: http for a real bank", "file", path)
		return b, nil
	}
}

// runCardIssue is `carrierbill card issue`: the simulated bank opens a
// card account (what a bank's branch does), so that labs and demos can
// bind it and pay with it. The bank file is -bank-file or the
// configuration's bank.sim_file, the file serve loads.
func runCardIssue(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newVerbFlagSet("carrierbill card issue", "-pan PAN|- -name NAME -id ID [-balance YUAN] [-bank-file FILE] [-config FILE]",
		"The simulated bank opens a card account (labs and demos; no real money): bind it with card bind or the admin API, then pay with it.\n"+
			"serve, running on the same bank file, sees the card at once.", stderr)
	cfgPath := fs.String("config", "", "configuration file (YAML)")
	bankFile := fs.String("bank-file", "", "the simulated bank's JSON file (default: the configuration's bank.sim_file)")
	pan := fs.String("pan", "", "card number, or - to read it from stdin (required)")
	name := fs.String("name", "", "holder's name (required)")
	id := fs.String("id", "", "holder's ID number, or - to read it from stdin (required)")
	balance := fs.String("balance", "100.00", "opening balance in yuan")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: card issue: unexpected arguments %v", errUsage, fs.Args())
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	file := *bankFile
	if file == "" {
		if cfg.Bank.Adapter != config.BankSim {
			return fmt.Errorf("%w: card issue opens cards at the simulated bank only (bank.adapter is %s; pass -bank-file)", errUsage, cfg.Bank.Adapter)
		}
		file = cfg.BankSimFile()
	}
	// "-" reads a secret from stdin, one a line, the card number first.
	in := &stdinLines{r: bufio.NewReader(cardStdin)}
	p := *pan
	if p == "-" {
		if p, err = in.line("the card number"); err != nil {
			return err
		}
	}
	if *id == "-" {
		if *id, err = in.line("the ID number"); err != nil {
			return err
		}
	}
	if p == "" || *name == "" || *id == "" {
		return fmt.Errorf("%w: card issue needs -pan, -name and -id", errUsage)
	}
	amount, err := billing.ParseYuan(*balance)
	if err != nil {
		return fmt.Errorf("%w: -balance: %v", errUsage, err)
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o750); err != nil {
		return fmt.Errorf("creating the simulated bank's directory: %w", err)
	}
	b, err := banksim.Open(file, clock.Real{})
	if err != nil {
		return err
	}
	if _, err := b.AddCard(p, *name, *id, amount); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "the simulated bank in %s issued card %s with %s yuan\n", file, redact.PAN(p), amount)
	return nil
}
