package main

import (
	"context"
	"fmt"
	"io"
	"strconv"

	"github.com/carrierbill/carrierbill/config"
)

func init() {
	register(command{
		name:    "refund",
		summary: "refund a paid order: refund -reason TEXT ORDER (a new ledger entry; safe to repeat)",
		run:     runRefund,
	})
}

func runRefund(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("refund", stderr)
	path := fs.String("config", "", "configuration file (YAML)")
	reason := fs.String("reason", "", "why the order is refunded (required; on the statement)")
	key := fs.String("key", "", "idempotency key (default refund:ORDER: repeating the command refunds once)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("%w: carrierbill refund -reason TEXT ORDER", errUsage)
	}
	order, err := strconv.ParseInt(fs.Arg(0), 10, 64)
	if err != nil || order <= 0 {
		return fmt.Errorf("%w: ORDER %q is not an order number", errUsage, fs.Arg(0))
	}
	if *reason == "" {
		return fmt.Errorf("%w: -reason is required", errUsage)
	}
	if *key == "" {
		*key = fmt.Sprintf("refund:%d", order)
	}
	c, err := config.Load(*path)
	if err != nil {
		return err
	}
	g, err := OpenGateway(ctx, c, NewZonedLogger(stderr, c.Log, c.Location()), GatewayOptions{CoreOnly: true})
	if err != nil {
		return err
	}
	defer g.Close()
	r, err := g.Engine.Refund(ctx, order, *reason, *key)
	if err != nil {
		return fmt.Errorf("refunding order %d: %w", order, err)
	}
	fmt.Fprintf(stdout, "refunded order %d: %s yuan (refund %d)\n", order, r.Amount, r.ID)
	return nil
}
