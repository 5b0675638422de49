package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/config"
)

func init() {
	register(command{
		name:    "refund",
		summary: "refund a paid order: refund -reason TEXT (-order N | -txn N) (a new ledger entry; safe to repeat)",
		run:     runRefund,
	})
}

// runRefund refunds one paid order, named by its order number or by the
// transaction number (交易号, the charge id) on the subscriber's receipt.
// It prints one line on success and one error otherwise: the gateway's
// start-up lines stay out of an operator command's output (warnings and
// errors still go to stderr).
func runRefund(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("refund", stderr)
	path := fs.String("config", "", "configuration file (YAML)")
	reason := fs.String("reason", "", "why the order is refunded (required; on the statement)")
	orderFlag := fs.Int64("order", 0, "the order number")
	txnFlag := fs.Int64("txn", 0, "the transaction number (交易号) on the subscriber's receipt")
	key := fs.String("key", "", "idempotency key (default refund:ORDER: repeating the command refunds once, by -order or -txn alike)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	const use = "carrierbill refund -reason TEXT (-order N | -txn N)"
	order := *orderFlag
	switch {
	case fs.NArg() == 1 && order == 0 && *txnFlag == 0: // the older form: refund -reason TEXT ORDER
		n, err := strconv.ParseInt(fs.Arg(0), 10, 64)
		if err != nil || n <= 0 {
			return fmt.Errorf("%w: ORDER %q is not an order number (%s)", errUsage, fs.Arg(0), use)
		}
		order = n
	case fs.NArg() > 0:
		return fmt.Errorf("%w: unexpected argument %q (%s)", errUsage, fs.Arg(0), use)
	case (order == 0) == (*txnFlag == 0):
		return fmt.Errorf("%w: give one of -order or -txn (%s)", errUsage, use)
	case order < 0 || *txnFlag < 0:
		return fmt.Errorf("%w: order and transaction numbers are positive", errUsage)
	}
	if *reason == "" {
		return fmt.Errorf("%w: -reason is required", errUsage)
	}
	c, err := config.Load(*path)
	if err != nil {
		return err
	}
	quiet := c.Log
	quiet.Level = "warn"
	g, err := OpenGateway(ctx, c, NewZonedLogger(stderr, quiet, c.Location()), GatewayOptions{CoreOnly: true})
	if err != nil {
		return err
	}
	defer g.Close()
	if *txnFlag != 0 {
		if order, err = orderOfCharge(ctx, g.Store, *txnFlag); err != nil {
			return err
		}
	}
	if *key == "" {
		*key = fmt.Sprintf("refund:%d", order)
	}
	// Engine.Refund's errors already say "refunding order N".
	r, err := g.Engine.Refund(ctx, billing.RefundRequest{Source: billing.Source{Channel: billing.ChannelOperator}, OrderID: order, Reason: *reason, IdempotencyKey: *key})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "refunded order %d (transaction %d): %s yuan (refund %d)\n", order, r.ChargeID, r.Amount, r.ID)
	return nil
}

// orderOfCharge finds the order of the transaction number on a receipt.
func orderOfCharge(ctx context.Context, store billing.Store, txn int64) (int64, error) {
	var order int64
	err := store.InTx(ctx, func(tx billing.Tx) error {
		ch, err := tx.GetCharge(ctx, txn)
		order = ch.OrderID
		return err
	})
	if errors.Is(err, billing.ErrNotFound) {
		return 0, fmt.Errorf("no transaction %d (the 交易号 on the receipt)", txn)
	}
	if err != nil {
		return 0, fmt.Errorf("looking up transaction %d: %w", txn, err)
	}
	return order, nil
}
