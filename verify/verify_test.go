package verify_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/carrierbill/carrierbill/billing/postgres"
	"github.com/carrierbill/carrierbill/billing/sqlite"
	"github.com/carrierbill/carrierbill/internal/dbtest"
	"github.com/carrierbill/carrierbill/settlement"
	pgsettle "github.com/carrierbill/carrierbill/settlement/postgres"
	litesettle "github.com/carrierbill/carrierbill/settlement/sqlite"
	"github.com/carrierbill/carrierbill/verify"
)

// store is a migrated store of one dialect and a way to write rows into it
// behind the engine's back.
type store struct {
	db   verify.DB
	src  settlement.Source
	d    verify.Dialect
	exec func(t *testing.T, q string, args ...any)
	now  any // the current time as the store keeps it
}

var casts = regexp.MustCompile(`::[a-z]+`)
var params = regexp.MustCompile(`\$([0-9]+)`)

func stores(t *testing.T) map[string]func(t *testing.T) store {
	return map[string]func(t *testing.T) store{
		"postgres": func(t *testing.T) store {
			pool := dbtest.Pool(t)
			if _, err := postgres.Migrate(context.Background(), pool); err != nil {
				t.Fatal(err)
			}
			return store{db: verify.Pgx(pool), src: pgsettle.New(pool), d: verify.Postgres, now: time.Now(), exec: func(t *testing.T, q string, args ...any) {
				t.Helper()
				if _, err := pool.Exec(context.Background(), q, args...); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}}
		},
		"sqlite": func(t *testing.T) store {
			path := filepath.Join(t.TempDir(), "carrierbill.db")
			s, err := sqlite.Open(context.Background(), path, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return store{db: verify.SQL(s.Reader()), src: litesettle.New(s), d: verify.SQLite, now: time.Now().UnixNano(), exec: func(t *testing.T, q string, args ...any) {
				t.Helper()
				q = params.ReplaceAllString(casts.ReplaceAllString(q, ""), "?$1")
				q = strings.ReplaceAll(q, "OVERRIDING SYSTEM VALUE ", "")
				if err := s.Write(context.Background(), func(tx *sql.Tx) error { _, err := tx.Exec(q, args...); return err }); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}}
		},
	}
}

// pay writes the rows of one clean payment of 1.00 by msisdn: MO
// processed, order paid, charge succeeded with its debit and postings, and
// the quota that counts it.
func pay(t *testing.T, s store, orderID int, msisdn string) {
	t.Helper()
	loc, _ := time.LoadLocation("Asia/Shanghai")
	day := time.Now().In(loc).Format("2006-01-02")
	month := time.Now().In(loc).Format("2006-01") + "-01"
	s.exec(t, `INSERT INTO mo_inbox (bind, msisdn, service_addr, body, received_at, processed_at) VALUES ('b', $1, '106580088001', '123456', $2, $2)`, msisdn, s.now)
	s.exec(t, `INSERT INTO orders (id, msisdn, merchant, product, product_name, amount_fen, method, status, code, service_addr, created_at, expires_at, updated_at)
		OVERRIDING SYSTEM VALUE VALUES ($1, $2, '8001', 'VIP', 'v', 100, 'phone', 'paid', '123456', '106580088001', $3, $3, $3)`, orderID, msisdn, s.now)
	s.exec(t, `INSERT INTO charges (id, order_id, idempotency_key, msisdn, merchant, amount_fen, method, status, created_at, resolved_at)
		OVERRIDING SYSTEM VALUE VALUES ($1, $1, $2, $3, '8001', 100, 'phone', 'succeeded', $4, $4)`, orderID, "order:"+itoa(orderID), msisdn, s.now)
	s.exec(t, `INSERT INTO subscribers (msisdn, plan, bill_fen, credit_limit_fen, created_at) VALUES ($1, 'postpaid', 100, 10000, $2)`, msisdn, s.now)
	s.exec(t, `INSERT INTO account_debits (idempotency_key, msisdn, amount_fen, kind, created_at) VALUES ($1, $2, 100, 'debit', $3)`, "order:"+itoa(orderID), msisdn, s.now)
	s.exec(t, `INSERT INTO ledger_entries (txn, kind, account, merchant, amount_fen, charge_id, created_at) VALUES
		($1, 'payment', $2, '8001', 100, $3, $4), ($1, 'payment', 'merchant:8001:payable', '8001', -100, $3, $4)`,
		"charge:"+itoa(orderID), "subscriber:phone:"+msisdn, orderID, s.now)
	s.exec(t, `INSERT INTO quota (msisdn, method, day, day_spent_fen, month, month_spent_fen) VALUES ($1, 'phone', $2::date, 100, $3::date, 100)`, msisdn, day, month)
	s.exec(t, `INSERT INTO outbox (msisdn, service_addr, body, kind, order_id, created_at, next_at, sent_at) VALUES ($1, '106580088001', 'paid', 'receipt', $2, $3, $3, $3)`, msisdn, orderID, s.now)
}

func itoa(n int) string { return strconv.Itoa(n) }

func run(t *testing.T, s store, dir string) verify.Report {
	t.Helper()
	loc, _ := time.LoadLocation("Asia/Shanghai")
	rep, err := verify.Run(context.Background(), s.db, s.d, verify.Options{Location: loc, BuiltinCharge: true,
		Limits:     map[string]verify.Limits{"phone": {PerPayment: 3000, Daily: 5000, Monthly: 10000}},
		Statements: s.src, StatementsDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// statement writes merchant 8001's statement of today with the totals
// given.
func statement(t *testing.T, dir, paid, refunded string) {
	t.Helper()
	loc, _ := time.LoadLocation("Asia/Shanghai")
	day := time.Now().In(loc).Format("2006-01-02")
	if err := os.MkdirAll(filepath.Join(dir, "8001"), 0o755); err != nil {
		t.Fatal(err)
	}
	body := strings.Join(settlement.StatementHeader, ",") + "\nsummary,2," + paid + "," + refunded + ",0.00\n"
	if err := os.WriteFile(filepath.Join(dir, "8001", settlement.StatementName("8001", day)), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestChecksFindViolations(t *testing.T) {
	t.Parallel()
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := open(t)
			dir := t.TempDir()
			want := len(verify.Checks()) + 1
			if rep := run(t, s, dir); !rep.Clean() || len(rep.Results) != want {
				t.Fatalf("an empty store: %d results, %+v", len(rep.Results), rep.Violations())
			}
			pay(t, s, 1, "+8613900000001")
			pay(t, s, 2, "+8613900000002")
			// A payment a risk rule held for an operator: no charge, no
			// receipt, nothing on the statement.
			s.exec(t, `INSERT INTO orders (id, msisdn, merchant, product, product_name, amount_fen, method, status, code, service_addr, created_at, expires_at, updated_at)
				OVERRIDING SYSTEM VALUE VALUES (10, '+8613900000004', '8001', 'VIP', 'v', 100, 'phone', 'held', '123456', '106580088001', $1, $1, $1)`, s.now)
			s.exec(t, `INSERT INTO risk_decisions (at, stage, rule, action, msisdn, merchant, order_id, amount_fen)
				VALUES ($1, 'confirm', 'fast_confirmation', 'hold', '+8613900000004', '8001', 10, 100)`, s.now)
			statement(t, dir, "2.00", "0.00")
			if rep := run(t, s, dir); !rep.Clean() {
				t.Fatalf("two clean payments and a held one: %+v", rep.Violations())
			}
			// An MO unprocessed for an hour; a posting that unbalances
			// charge 2; a quota that forgot charge 1; a second receipt of
			// order 1; a refund of charge 1 beyond its amount (and outside
			// the ledger); a charge of 60.00 pending for an hour, over the
			// per-payment and the daily limit; a statement that is not the
			// ledger's.
			hourAgo := any(time.Now().Add(-time.Hour))
			if s.d == verify.SQLite {
				hourAgo = time.Now().Add(-time.Hour).UnixNano()
			}
			s.exec(t, `INSERT INTO mo_inbox (bind, msisdn, service_addr, body, received_at) VALUES ('b', '+8613900000003', '106580088001', 'VIP', $1)`, hourAgo)
			s.exec(t, `INSERT INTO ledger_entries (txn, kind, account, merchant, amount_fen, charge_id, created_at) VALUES
				('charge:2', 'payment', 'subscriber:phone:+8613900000002', '8001', 100, 2, $1)`, s.now)
			s.exec(t, `UPDATE quota SET day_spent_fen = 0 WHERE msisdn = '+8613900000001'`)
			s.exec(t, `INSERT INTO outbox (msisdn, service_addr, body, kind, order_id, created_at, next_at) VALUES ('+8613900000001', '106580088001', 'paid', 'receipt', 1, $1, $1)`, s.now)
			s.exec(t, `INSERT INTO refunds (charge_id, idempotency_key, amount_fen, reason, created_at) VALUES (1, 'r1', 200, 'test', $1)`, s.now)
			s.exec(t, `INSERT INTO orders (id, msisdn, merchant, product, product_name, amount_fen, method, status, code, service_addr, created_at, expires_at, updated_at)
				OVERRIDING SYSTEM VALUE VALUES (3, '+8613900000003', '8001', '', 'v', 6000, 'phone', 'charging', '123456', '106580088001', $1, $1, $1)`, hourAgo)
			s.exec(t, `INSERT INTO charges (id, order_id, idempotency_key, msisdn, merchant, amount_fen, method, status, created_at)
				OVERRIDING SYSTEM VALUE VALUES (3, 3, 'order:3', '+8613900000003', '8001', 6000, 'phone', 'pending', $1)`, hourAgo)
			statement(t, dir, "3.00", "0.00")
			found := map[string]int{}
			rep := run(t, s, dir)
			for _, v := range rep.Violations() {
				found[v.Check]++
				if m := v.Masked(); strings.Contains(m.Subject+m.Detail, "13900000003") {
					t.Errorf("Masked left a number in clear: %+v", m)
				}
			}
			for check, n := range map[string]int{"mo_processed": 1, "ledger_balanced": 1, "charge_postings": 1, "ledger_total": 1,
				"quota_matches_charges": 1, "order_receipts": 1, "refunds_within_charge": 1, "merchant_payable": 1,
				"charges_resolved": 1, "limits_held": 2, "statements": 1,
				"paid_orders_charged": 0, "phone_debits": 0} {
				if found[check] != n {
					t.Errorf("check %s found %d violations, want %d (all: %+v)", check, found[check], n, rep.Violations())
				}
			}
		})
	}
}
