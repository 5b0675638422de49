package verify_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/carrierbill/carrierbill/billing/postgres"
	"github.com/carrierbill/carrierbill/billing/sqlite"
	"github.com/carrierbill/carrierbill/internal/dbtest"
	"github.com/carrierbill/carrierbill/verify"
)

// store is a migrated store of one dialect and a way to write rows into it
// behind the engine's back.
type store struct {
	db   verify.DB
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
			return store{db: verify.Pgx(pool), d: verify.Postgres, now: time.Now(), exec: func(t *testing.T, q string, args ...any) {
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
			s.Close()
			db, err := sql.Open("sqlite", "file:"+path+"?_pragma=foreign_keys(ON)")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			return store{db: verify.SQL(db), d: verify.SQLite, now: time.Now().UnixNano(), exec: func(t *testing.T, q string, args ...any) {
				t.Helper()
				q = params.ReplaceAllString(casts.ReplaceAllString(q, ""), "?$1")
				if _, err := db.Exec(q, args...); err != nil {
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
}

func itoa(n int) string { return strconv.Itoa(n) }

func run(t *testing.T, s store) verify.Report {
	t.Helper()
	loc, _ := time.LoadLocation("Asia/Shanghai")
	rep, err := verify.Run(context.Background(), s.db, s.d, verify.Options{Location: loc, BuiltinCharge: true})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func TestChecksFindViolations(t *testing.T) {
	t.Parallel()
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := open(t)
			if name == "sqlite" {
				inner := s.exec
				s.exec = func(t *testing.T, q string, args ...any) {
					t.Helper()
					inner(t, strings.ReplaceAll(q, "OVERRIDING SYSTEM VALUE ", ""), args...)
				}
			}
			if rep := run(t, s); !rep.Clean() || len(rep.Results) != len(verify.Checks()) {
				t.Fatalf("an empty store: %+v", rep)
			}
			pay(t, s, 1, "8613900000001")
			pay(t, s, 2, "8613900000002")
			if rep := run(t, s); !rep.Clean() {
				t.Fatalf("two clean payments: %+v", rep.Violations())
			}
			// An unprocessed MO, a posting that unbalances charge 2, and
			// a quota that forgot charge 1.
			s.exec(t, `INSERT INTO mo_inbox (bind, msisdn, service_addr, body, received_at) VALUES ('b', '8613900000003', '106580088001', 'VIP', $1)`, s.now)
			s.exec(t, `INSERT INTO ledger_entries (txn, kind, account, merchant, amount_fen, charge_id, created_at) VALUES
				('charge:2', 'payment', 'subscriber:phone:8613900000002', '8001', 100, 2, $1)`, s.now)
			s.exec(t, `UPDATE quota SET day_spent_fen = 0 WHERE msisdn = '8613900000001'`)
			found := map[string]int{}
			for _, v := range run(t, s).Violations() {
				found[v.Check]++
			}
			for _, want := range []string{"mo_processed", "ledger_balanced", "charge_postings", "ledger_total", "quota_matches_charges"} {
				if found[want] != 1 {
					t.Errorf("check %s found %d violations, want 1 (all: %v)", want, found[want], found)
				}
			}
			for _, clean := range []string{"one_charge_per_order", "paid_orders_charged", "refunds_within_charge", "phone_debits"} {
				if found[clean] != 0 {
					t.Errorf("check %s found %d violations, want none", clean, found[clean])
				}
			}
		})
	}
}
