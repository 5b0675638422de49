package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/carrierbill/carrierbill/clock"
	"github.com/carrierbill/carrierbill/settlement"
)

func init() {
	register(command{
		name:    "merchant",
		summary: "merchant download keys: merchant key issue|revoke|list",
		run:     runMerchant,
	})
}

const merchantKeyUsage = "carrierbill merchant key issue --merchant M | revoke --id N | list [--merchant M]"

func runMerchant(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) < 2 || args[0] != "key" {
		return fmt.Errorf("%w: %s", errUsage, merchantKeyUsage)
	}
	sub := args[1]
	fs := newFlagSet("merchant key "+sub, stderr)
	merchant := fs.String("merchant", "", "merchant code")
	id := fs.Int64("id", 0, "key id (from list)")
	sf := addSettleFlags(fs)
	if err := fs.Parse(args[2:]); err != nil {
		return err
	}
	switch sub {
	case "issue":
		if *merchant == "" {
			return fmt.Errorf("%w: --merchant is required", errUsage)
		}
	case "revoke":
		if *id <= 0 {
			return fmt.Errorf("%w: --id is required", errUsage)
		}
	case "list":
	default:
		return fmt.Errorf("%w: %s", errUsage, merchantKeyUsage)
	}
	env, err := sf.open(ctx, stderr)
	if err != nil {
		return err
	}
	defer env.Close()
	now := clock.Real{}.Now()
	switch sub {
	case "issue":
		key, hash, hint, err := settlement.NewKey()
		if err != nil {
			return err
		}
		kid, err := env.store.IssueKey(ctx, *merchant, hash, hint, now)
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "key %d issued for merchant %s; it is shown once and only its hash is stored:\n", kid, *merchant)
		fmt.Fprintln(stdout, key)
	case "revoke":
		ok, err := env.store.RevokeKey(ctx, *id, now)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("no live key with id %d", *id)
		}
		fmt.Fprintf(stdout, "key %d revoked\n", *id)
	case "list":
		keys, err := env.store.ListKeys(ctx, *merchant)
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
