package settlement_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	bpg "github.com/carrierbill/carrierbill/billing/postgres"
	"github.com/carrierbill/carrierbill/internal/dbtest"
)

var shanghai = mustLoc("Asia/Shanghai")

func mustLoc(name string) *time.Location {
	l, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return l
}

// at is a wall time in Shanghai: at(2026, 11, 20, 23, 59, 59).
func at(y int, mo time.Month, d, h, mi, s int) time.Time {
	return time.Date(y, mo, d, h, mi, s, 0, shanghai)
}

// fixture writes ledger rows the way the billing engine does: an order, its
// succeeded charge and a balanced pair of ledger postings per payment; a
// refund row and the reversing pair per refund.
type fixture struct {
	t       testing.TB
	ctx     context.Context
	pool    *pgxpool.Pool
	seq     int
	charges map[int64]chargeRow
}

type chargeRow struct {
	merchant, msisdn, method string
	orderID                  int64
	amount                   int64
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	pool := dbtest.Pool(t)
	ctx := context.Background()
	if _, err := bpg.Migrate(ctx, pool); err != nil {
		t.Fatalf("migrating: %v", err)
	}
	return &fixture{t: t, ctx: ctx, pool: pool, charges: map[int64]chargeRow{}}
}

type payOpt struct {
	msisdn, ref, product string
	ledgerDelta          int64 // corrupt the ledger posting by this many fen
	noLedger             bool
}

// pay records a succeeded payment at business time when and returns the
// charge id (the platform transaction id).
func (f *fixture) pay(merchant, method string, amount int64, when time.Time, opt payOpt) int64 {
	f.t.Helper()
	f.seq++
	if opt.msisdn == "" {
		opt.msisdn = fmt.Sprintf("86138%08d", f.seq%1000)
	}
	if opt.product == "" {
		opt.product = "月度会员"
	}
	var ref any
	if opt.ref != "" {
		ref = opt.ref
	}
	var orderID, chargeID int64
	err := f.pool.QueryRow(f.ctx, `INSERT INTO orders (msisdn, merchant, product, product_name, amount_fen, method, status, code,
		merchant_ref, service_addr, created_at, expires_at, updated_at)
		VALUES ($1, $2, 'VIP', $3, $4, $5, 'paid', '123456', $6, '10658008' || $2, $7, $7::timestamptz + interval '10 minutes', $7)
		RETURNING id`, opt.msisdn, merchant, opt.product, amount, method, ref, when.Add(-time.Minute)).Scan(&orderID)
	if err != nil {
		f.t.Fatalf("inserting order: %v", err)
	}
	err = f.pool.QueryRow(f.ctx, `INSERT INTO charges (order_id, idempotency_key, msisdn, merchant, amount_fen, method, status, created_at, resolved_at)
		VALUES ($1::bigint, 'charge-' || $1::bigint::text, $2, $3, $4, $5, 'succeeded', $6, $7) RETURNING id`,
		orderID, opt.msisdn, merchant, amount, method, when.Add(-time.Second), when).Scan(&chargeID)
	if err != nil {
		f.t.Fatalf("inserting charge: %v", err)
	}
	f.charges[chargeID] = chargeRow{merchant: merchant, msisdn: opt.msisdn, method: method, orderID: orderID, amount: amount}
	if !opt.noLedger {
		f.post(fmt.Sprintf("charge:%d", chargeID), "payment", merchant, chargeID, nil,
			"subscriber:"+method+":"+opt.msisdn, amount, "merchant:"+merchant+":payable", -(amount + opt.ledgerDelta), when)
	}
	return chargeID
}

func (f *fixture) post(txn, kind, merchant string, chargeID int64, refundID any, acctA string, amtA int64, acctB string, amtB int64, when time.Time) {
	f.t.Helper()
	_, err := f.pool.Exec(f.ctx, `INSERT INTO ledger_entries (txn, kind, account, merchant, amount_fen, charge_id, refund_id, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8), ($1, $2, $9, $4, $10, $6, $7, $8)`,
		txn, kind, acctA, merchant, amtA, chargeID, refundID, when, acctB, amtB)
	if err != nil {
		f.t.Fatalf("posting %s: %v", txn, err)
	}
}

// refund records a refund of amount of charge at business time when.
func (f *fixture) refund(chargeID, amount int64, when time.Time) int64 {
	f.t.Helper()
	c := f.charges[chargeID]
	f.seq++
	var id int64
	err := f.pool.QueryRow(f.ctx, `INSERT INTO refunds (charge_id, idempotency_key, amount_fen, reason, created_at)
		VALUES ($1, $2, $3, 'customer', $4) RETURNING id`, chargeID, fmt.Sprintf("refund-%d", f.seq), amount, when).Scan(&id)
	if err != nil {
		f.t.Fatalf("inserting refund: %v", err)
	}
	f.post(fmt.Sprintf("refund:%d", id), "refund", c.merchant, chargeID, id,
		"merchant:"+c.merchant+":payable", amount, "subscriber:"+c.method+":"+c.msisdn, -amount, when)
	return id
}

// failed records a failed charge: never on a statement, never in the ledger.
func (f *fixture) failed(merchant string, amount int64, when time.Time) {
	f.t.Helper()
	f.seq++
	var orderID int64
	err := f.pool.QueryRow(f.ctx, `INSERT INTO orders (msisdn, merchant, product, product_name, amount_fen, status, code, service_addr, created_at, expires_at, updated_at)
		VALUES ('8613900000000', $1, 'VIP', 'x', $2, 'failed', '123456', '1', $3, $3, $3) RETURNING id`, merchant, amount, when).Scan(&orderID)
	if err != nil {
		f.t.Fatalf("inserting order: %v", err)
	}
	_, err = f.pool.Exec(f.ctx, `INSERT INTO charges (order_id, idempotency_key, msisdn, merchant, amount_fen, method, status, created_at, resolved_at)
		VALUES ($1::bigint, 'charge-' || $1::bigint::text, '8613900000000', $2, $3, 'phone', 'failed', $4, $4)`, orderID, merchant, amount, when)
	if err != nil {
		f.t.Fatalf("inserting failed charge: %v", err)
	}
}

// mt records an MT written for charge's order at when.
func (f *fixture) mt(chargeID int64, when time.Time) {
	f.t.Helper()
	c := f.charges[chargeID]
	_, err := f.pool.Exec(f.ctx, `INSERT INTO outbox (msisdn, service_addr, body, kind, order_id, created_at, next_at)
		VALUES ($1, '1', 'receipt', 'receipt', $2, $3, $3)`, c.msisdn, c.orderID, when)
	if err != nil {
		f.t.Fatalf("inserting outbox row: %v", err)
	}
}

func testLogger(t testing.TB) *slog.Logger {
	t.Helper()
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(string(b))
	return len(b), nil
}
