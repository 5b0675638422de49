package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/carrierbill/carrierbill/clock"
	"github.com/carrierbill/carrierbill/merchantkey"
)

func init() {
	registerVerbs("merchant", "merchant API keys and notification secrets: merchant key issue|rotate|list|revoke, merchant secret", "Merchants' API keys: the merchant API (api.listen) and statement downloads (settlement.listen) share them.", []verb{
		{name: "key", summary: "API keys: issue, rotate, list, revoke", verbs: []verb{
			{name: "issue", synopsis: "--merchant M", summary: "issue a key for a merchant (printed once; only its hash is stored)", run: runMerchantKey("issue")},
			{name: "rotate", synopsis: "--merchant M", summary: "issue a new key for a merchant and revoke its other keys (printed once)", run: runMerchantKey("rotate")},
			{name: "list", synopsis: "[--merchant M]", summary: "list the keys (id, merchant, hint, issued, revoked)", run: runMerchantKey("list")},
			{name: "revoke", synopsis: "--id N", summary: "revoke a key by its id (from list)", run: runMerchantKey("revoke")},
		}},
		{name: "secret", synopsis: "--merchant M", summary: "print the secret a merchant verifies notification signatures with", run: merchantSecret},
	})
}

// runMerchantKey runs merchant key issue, list or revoke.
func runMerchantKey(sub string) func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		return merchantKey(ctx, sub, args, stdout, stderr)
	}
}

func merchantKey(ctx context.Context, sub string, args []string, stdout, stderr io.Writer) error {
	var (
		merchant = new(string)
		id       = new(int64)
		fs       *flag.FlagSet
	)
	switch sub {
	case "issue":
		fs = newVerbFlagSet("carrierbill merchant key issue", "--merchant M [--config FILE] [--database-url URL]",
			"Issue a key for a merchant (merchant API and statement downloads). The key (cbk_...) is printed once on stdout; only its SHA-256 is stored.", stderr)
		merchant = fs.String("merchant", "", "merchant code (required)")
	case "rotate":
		fs = newVerbFlagSet("carrierbill merchant key rotate", "--merchant M [--config FILE] [--database-url URL]",
			"Rotate a merchant's key: issue a new one (printed once on stdout) and revoke the merchant's other keys in the same step.", stderr)
		merchant = fs.String("merchant", "", "merchant code (required)")
	case "list":
		fs = newVerbFlagSet("carrierbill merchant key list", "[--merchant M] [--config FILE] [--database-url URL]",
			"List the download keys: id, merchant, the key's first characters, when issued and revoked.", stderr)
		merchant = fs.String("merchant", "", "only this merchant's keys")
	case "revoke":
		fs = newVerbFlagSet("carrierbill merchant key revoke", "--id N [--config FILE] [--database-url URL]",
			"Revoke a download key: its next request is 401.", stderr)
		id = fs.Int64("id", 0, "key id, from list (required)")
	}
	sf := addStoreFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: merchant key %s: unexpected arguments %v", errUsage, sub, fs.Args())
	}
	switch sub {
	case "issue", "rotate":
		if *merchant == "" {
			return fmt.Errorf("%w: --merchant is required", errUsage)
		}
	case "revoke":
		if *id <= 0 {
			return fmt.Errorf("%w: --id is required", errUsage)
		}
	}
	env, err := sf.open(ctx, stderr)
	if err != nil {
		return err
	}
	defer env.Close()
	now := clock.Real{}.Now()
	switch sub {
	case "issue":
		key, hash, hint, err := merchantkey.NewKey()
		if err != nil {
			return err
		}
		kid, err := env.keys.IssueKey(ctx, *merchant, hash, hint, now)
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "key %d issued for merchant %s; it is shown once and only its hash is stored:\n", kid, *merchant)
		fmt.Fprintln(stdout, key)
	case "rotate":
		key, hash, hint, err := merchantkey.NewKey()
		if err != nil {
			return err
		}
		kid, revoked, err := env.keys.RotateKey(ctx, *merchant, hash, hint, now)
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "key %d issued for merchant %s, %d older key(s) revoked; it is shown once and only its hash is stored:\n", kid, *merchant, revoked)
		fmt.Fprintln(stdout, key)
	case "revoke":
		ok, err := env.keys.RevokeKey(ctx, *id, now)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("no live key with id %d", *id)
		}
		fmt.Fprintf(stdout, "key %d revoked\n", *id)
	case "list":
		keys, err := env.keys.ListKeys(ctx, *merchant)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%-6s %-10s %-12s %-25s %s\n", "ID", "MERCHANT", "KEY", "ISSUED", "REVOKED")
		for _, k := range keys {
			revoked := "-"
			if k.RevokedAt != nil {
				revoked = k.RevokedAt.Format(time.RFC3339)
			}
			fmt.Fprintf(stdout, "%-6s %-10s %-12s %-25s %s\n", strconv.FormatInt(k.ID, 10), k.Merchant, k.Hint+"…", k.CreatedAt.Format(time.RFC3339), revoked)
		}
	}
	return nil
}

// addStoreFlags adds only the flags that say where the database is: the key
// commands need no settlement terms.
func addStoreFlags(fs *flag.FlagSet) *settleFlags {
	return &settleFlags{
		config:   fs.String("config", "", "configuration file (YAML): the database and data_dir come from it"),
		dbURL:    fs.String("database-url", "", "PostgreSQL URL (default: $DATABASE_URL, then the configuration; none: the embedded store under data_dir)"),
		timezone: new(string), share: new(string), fee: new(string),
	}
}
