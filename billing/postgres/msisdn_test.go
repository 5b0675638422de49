package postgres_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/carrierbill/carrierbill/billing/postgres"
	"github.com/carrierbill/carrierbill/internal/dbtest"
	"github.com/carrierbill/carrierbill/msisdn"
)

// migrateBefore applies the embedded migrations older than version, as
// Migrate would, so a test can seed rows the way an older gateway wrote
// them and then let Migrate apply the rest.
func migrateBefore(t *testing.T, pool *pgxpool.Pool, version int) {
	t.Helper()
	ctx := context.Background()
	ms, err := postgres.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version int PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.Version >= version {
			break
		}
		if err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", m.Version, m.Name)
			return err
		}); err != nil {
			t.Fatalf("applying %s: %v", m.Name, err)
		}
	}
}

// spellings are stored numbers the way gateways before migration 0031 kept
// them; the migration must give each msisdn.DefaultPlan's canonical form.
var spellings = []string{
	"13511112222", "8613511112222", "008613511112222", "+8613511112222", "013511112222",
	"8613800000001", "13800000001", "+447700900123", "00447700900123", "abc", "1", "+86 135 1111 3333",
	"135-1111-4444", "0086135111155555", "86135111166", "9",
}

// TestMigrateCanonicalNumbers is issue 18.2's migration on PostgreSQL:
// every number in every table becomes canonical; colliding rows of one
// subscriber (quota, subscribers, wallets, default cards, pending orders)
// are merged with no fen lost or invented.
func TestMigrateCanonicalNumbers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := dbtest.Pool(t)
	migrateBefore(t, pool, 31)
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := pool.Exec(ctx, sql, args...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	const t1, t2, t3 = "2026-03-09 04:00:00+00", "2026-03-10 04:00:00+00", "2026-03-10 05:00:00+00"
	for _, s := range spellings {
		exec(`INSERT INTO mo_inbox (bind, msisdn, service_addr, body, received_at) VALUES ('b', $1, '106580088001', 'x', $2)`, s, t1)
		exec(`INSERT INTO outbox (msisdn, service_addr, body, kind, created_at, next_at) VALUES ($1, '10658008', 'x', 'reply', $2, $2)`, s, t1)
	}
	// Subscribers: three spellings of one postpaid number, a prepaid
	// number with its owner under a second spelling.
	exec(`INSERT INTO subscribers (msisdn, status, plan, bill_fen, credit_limit_fen, created_at) VALUES
		('13511112222', 'active', 'postpaid', 3000, 10000, $1),
		('8613511112222', 'active', 'postpaid', 1500, 5000, $2),
		('+8613511112222', 'active', 'postpaid', 100, 10000, $3),
		('013600000001', 'active', 'prepaid', 0, 0, $1),
		('13900000001', 'suspended', 'prepaid', 0, 0, $1)`, t1, t2, t3)
	exec(`UPDATE subscribers SET balance_fen = 500 WHERE msisdn = '013600000001'`)
	exec(`INSERT INTO subscribers (msisdn, status, plan, balance_fen, owner_name, owner_id_hash, created_at) VALUES
		('+8613600000001', 'active', 'prepaid', 700, '张三', '\x0102'::bytea, $1),
		('8613900000001', 'active', 'prepaid', 50, NULL, NULL, $1)`, t2)
	exec(`INSERT INTO account_debits (idempotency_key, msisdn, amount_fen, kind, created_at) VALUES
		('k1', '13511112222', 3000, 'debit', $1), ('k2', '8613511112222', 1500, 'debit', $1), ('k3', '+8613511112222', 100, 'debit', $1)`, t2)
	// Quota: one day's spend split over three spellings (one of them from
	// the day before), and a canonical card row left alone.
	exec(`INSERT INTO quota (msisdn, method, day, day_spent_fen, month, month_spent_fen, last_charge_at) VALUES
		('13511112222', 'phone', '2026-03-10', 3000, '2026-03-01', 3000, $2),
		('8613511112222', 'phone', '2026-03-10', 1500, '2026-03-01', 4500, $3),
		('008613511112222', 'phone', '2026-03-09', 2000, '2026-03-01', 2000, $1),
		('+8613511112222', 'card', '2026-03-10', 500, '2026-03-01', 500, $1),
		('13700000001', 'phone', '2026-02-28', 900, '2026-02-01', 900, $1),
		('+8613700000001', 'phone', '2026-03-10', 100, '2026-03-01', 100, $1)`, t1, t2, t3)
	// Wallets: the latest password wins, the strictest lockout stays.
	exec(`INSERT INTO wallets (msisdn, password_hash, failures, locked_at, updated_at) VALUES
		('13511112222', 'hash-old', 2, NULL, $1), ('+8613511112222', 'hash-new', 0, NULL, $2)`, t1, t2)
	// Cards: two defaults under two spellings; the later one stays default.
	exec(`INSERT INTO cards (msisdn, bank_token, fingerprint, last4, masked, status, is_default, bound_at) VALUES
		('13511112222', 'tok1', '\x01'::bytea, '1111', '6222********1111', 'active', 1, $1),
		('8613511112222', 'tok2', '\x02'::bytea, '2222', '6222********2222', 'active', 1, $2)`, t1, t2)
	// Orders: the same pending purchase under two spellings; a paid order
	// with its charge and ledger entries.
	exec(`INSERT INTO orders (msisdn, merchant, product, product_name, amount_fen, status, code, service_addr, created_at, expires_at, updated_at) VALUES
		('13511112222', '8001', 'VIP', 'VIP', 1500, 'pending', '123456', '106580088001', $1, $3, $1),
		('8613511112222', '8001', 'VIP', 'VIP', 1500, 'pending', '654321', '106580088001', $2, $3, $2),
		('008613511112222', '8001', '', '', 3000, 'paid', '111111', '106580088001', $1, $2, $2)`, t1, t2, t3)
	exec(`INSERT INTO charges (order_id, idempotency_key, msisdn, merchant, amount_fen, method, status, created_at, resolved_at)
		SELECT id, 'c1', msisdn, '8001', 3000, 'phone', 'succeeded', $1, $1 FROM orders WHERE status = 'paid'`, t2)
	exec(`INSERT INTO ledger_entries (txn, kind, account, merchant, amount_fen, charge_id, created_at)
		SELECT 'charge:1', 'payment', 'subscriber:phone:008613511112222', '8001', -3000, id, $1::timestamptz FROM charges UNION ALL
		SELECT 'charge:1', 'payment', 'merchant:8001:payable', '8001', 3000, id, $1::timestamptz FROM charges`, t2)

	var ledgerBefore int64
	if err := pool.QueryRow(ctx, `SELECT COALESCE(SUM(amount_fen), 0)::bigint FROM ledger_entries`).Scan(&ledgerBefore); err != nil {
		t.Fatal(err)
	}
	if _, err := postgres.Migrate(ctx, pool); err != nil {
		t.Fatalf("Migrate: %v", err)
	}

	// Every number is the canonical form msisdn.Normalize gives, or left
	// alone when it cannot be a number.
	plan := msisdn.DefaultPlan()
	want := map[string]string{}
	for _, s := range spellings {
		c, err := plan.Normalize(s, msisdn.TONUnknown, msisdn.NPIUnknown)
		if err != nil {
			c = s
		}
		want[s] = c
	}
	for _, table := range []string{"mo_inbox", "outbox"} {
		rows, err := pool.Query(ctx, fmt.Sprintf(`SELECT msisdn FROM %s ORDER BY id`, table))
		if err != nil {
			t.Fatal(err)
		}
		got, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		for i, s := range spellings {
			if got[i] != want[s] {
				t.Errorf("%s: %q became %q, msisdn.Normalize says %q", table, s, got[i], want[s])
			}
		}
	}
	for _, table := range []string{"subscribers", "account_debits", "orders", "charges", "quota", "wallets", "cards"} {
		var n int
		if err := pool.QueryRow(ctx, fmt.Sprintf(`SELECT count(*) FROM %s WHERE msisdn NOT LIKE '+%%'`, table)).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("%s: %d numbers left uncanonical", table, n)
		}
	}

	type sub struct {
		status, plan          string
		balance, bill, credit int64
		owner                 *string
	}
	subs := map[string]sub{}
	rows, err := pool.Query(ctx, `SELECT msisdn, status, plan, balance_fen, bill_fen, credit_limit_fen, owner_name FROM subscribers`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var m string
		var s sub
		if err := rows.Scan(&m, &s.status, &s.plan, &s.balance, &s.bill, &s.credit, &s.owner); err != nil {
			t.Fatal(err)
		}
		subs[m] = s
	}
	if len(subs) != 3 {
		t.Errorf("subscribers after the merge: %v, want 3", subs)
	}
	if s := subs["+8613511112222"]; s.plan != "postpaid" || s.bill != 4600 || s.credit != 10000 || s.status != "active" {
		t.Errorf("merged postpaid account %+v, want a bill of 46.00 under 100.00", s)
	}
	if s := subs["+8613600000001"]; s.balance != 1200 || s.owner == nil || *s.owner != "张三" {
		t.Errorf("merged prepaid account %+v, want 12.00 and the owner kept", s)
	}
	if s := subs["+8613900000001"]; s.status != "suspended" || s.balance != 50 {
		t.Errorf("merged suspended account %+v: suspension must win, balance 0.50 kept", s)
	}

	type q struct {
		day, month           string
		daySpent, monthSpent int64
	}
	quota := map[string]q{}
	rows, err = pool.Query(ctx, `SELECT msisdn || '/' || method, day::text, month::text, day_spent_fen, month_spent_fen FROM quota`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var k string
		var v q
		if err := rows.Scan(&k, &v.day, &v.month, &v.daySpent, &v.monthSpent); err != nil {
			t.Fatal(err)
		}
		quota[k] = v
	}
	for k, w := range map[string]q{
		"+8613511112222/phone": {"2026-03-10", "2026-03-01", 4500, 9500},
		"+8613511112222/card":  {"2026-03-10", "2026-03-01", 500, 500},
		"+8613700000001/phone": {"2026-03-10", "2026-03-01", 100, 100},
	} {
		if quota[k] != w {
			t.Errorf("quota %s = %+v, want %+v", k, quota[k], w)
		}
	}
	if len(quota) != 3 {
		t.Errorf("quota rows %v, want 3", quota)
	}

	var hash string
	var failures int
	if err := pool.QueryRow(ctx, `SELECT password_hash, failures FROM wallets WHERE msisdn = '+8613511112222'`).Scan(&hash, &failures); err != nil {
		t.Fatal(err)
	}
	if hash != "hash-new" || failures != 2 {
		t.Errorf("merged wallet: %s, %d failures; want the latest password and 2 failures", hash, failures)
	}
	var defaults []string
	if err := pgxStrings(ctx, pool, &defaults, `SELECT last4 FROM cards WHERE is_default = 1`); err != nil {
		t.Fatal(err)
	}
	if len(defaults) != 1 || defaults[0] != "2222" {
		t.Errorf("default cards %v, want only the later one", defaults)
	}
	var statuses []string
	if err := pgxStrings(ctx, pool, &statuses, `SELECT status FROM orders ORDER BY id`); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(statuses) != "[expired pending paid]" {
		t.Errorf("orders %v, want the older duplicate pending order expired", statuses)
	}
	var accounts []string
	if err := pgxStrings(ctx, pool, &accounts, `SELECT account FROM ledger_entries ORDER BY id`); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(accounts) != "[subscriber:phone:+8613511112222 merchant:8001:payable]" {
		t.Errorf("ledger accounts %v", accounts)
	}
	var ledgerAfter int64
	if err := pool.QueryRow(ctx, `SELECT COALESCE(SUM(amount_fen), 0)::bigint FROM ledger_entries`).Scan(&ledgerAfter); err != nil {
		t.Fatal(err)
	}
	if ledgerAfter != ledgerBefore {
		t.Errorf("ledger sum %d after, %d before", ledgerAfter, ledgerBefore)
	}
	// The ledger is append only again.
	if _, err := pool.Exec(ctx, `UPDATE ledger_entries SET amount_fen = amount_fen`); err == nil {
		t.Error("the ledger's append-only trigger is off after the migration")
	}
}

func pgxStrings(ctx context.Context, pool *pgxpool.Pool, dst *[]string, sql string) error {
	rows, err := pool.Query(ctx, sql)
	if err != nil {
		return err
	}
	*dst, err = pgx.CollectRows(rows, pgx.RowTo[string])
	return err
}
