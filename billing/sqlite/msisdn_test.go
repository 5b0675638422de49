package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/carrierbill/carrierbill/msisdn"
)

// spellings are stored numbers the way gateways before migration 0031 kept
// them; the migration must give each msisdn.DefaultPlan's canonical form.
var spellings = []string{
	"13511112222", "8613511112222", "008613511112222", "+8613511112222", "013511112222",
	"8613800000001", "13800000001", "+447700900123", "00447700900123", "abc", "1", "+86 135 1111 3333",
	"135-1111-4444", "0086135111155555", "86135111166", "9",
}

// TestMigrateCanonicalNumbers is issue 18.2's migration on the embedded
// store (billing/postgres has the same test): every number in every table
// becomes canonical; colliding rows of one subscriber (quota, subscribers,
// wallets, default cards, pending orders) are merged with no fen lost.
func TestMigrateCanonicalNumbers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "carrierbill.db")
	// The fixture before the migration is not what is tested: no fsync per
	// statement.
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=foreign_keys(ON)&_pragma=journal_mode(WAL)&_pragma=synchronous(OFF)")
	if err != nil {
		t.Fatal(err)
	}
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.ExecContext(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	// The migrations before 0031, recorded as migrate does.
	ms, err := Migrations()
	if err != nil {
		t.Fatal(err)
	}
	exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER NOT NULL PRIMARY KEY,
		name       TEXT    NOT NULL,
		applied_at INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000 AS INTEGER) * 1000000)
	) STRICT`)
	for _, m := range ms {
		if m.Version >= 31 {
			break
		}
		exec(m.SQL)
		exec(`INSERT INTO schema_migrations (version, name) VALUES (?, ?)`, m.Version, m.Name)
	}

	const t1, t2, t3 = int64(1773115200e9), int64(1773201600e9), int64(1773205200e9)
	for _, s := range spellings {
		exec(`INSERT INTO mo_inbox (bind, msisdn, service_addr, body, received_at) VALUES ('b', ?, '106580088001', 'x', ?)`, s, t1)
		exec(`INSERT INTO outbox (msisdn, service_addr, body, kind, created_at, next_at) VALUES (?, '10658008', 'x', 'reply', ?, ?)`, s, t1, t1)
	}
	exec(`INSERT INTO subscribers (msisdn, status, plan, bill_fen, credit_limit_fen, created_at) VALUES
		('13511112222', 'active', 'postpaid', 3000, 10000, ?1),
		('8613511112222', 'active', 'postpaid', 1500, 5000, ?2),
		('+8613511112222', 'active', 'postpaid', 100, 10000, ?3),
		('013600000001', 'active', 'prepaid', 0, 0, ?1),
		('13900000001', 'suspended', 'prepaid', 0, 0, ?1)`, t1, t2, t3)
	exec(`UPDATE subscribers SET balance_fen = 500 WHERE msisdn = '013600000001'`)
	exec(`INSERT INTO subscribers (msisdn, status, plan, balance_fen, owner_name, owner_id_hash, created_at) VALUES
		('+8613600000001', 'active', 'prepaid', 700, '张三', X'0102', ?1),
		('8613900000001', 'active', 'prepaid', 50, NULL, NULL, ?1)`, t2)
	exec(`INSERT INTO account_debits (idempotency_key, msisdn, amount_fen, kind, created_at) VALUES
		('k1', '13511112222', 3000, 'debit', ?1), ('k2', '8613511112222', 1500, 'debit', ?1), ('k3', '+8613511112222', 100, 'debit', ?1)`, t2)
	exec(`INSERT INTO quota (msisdn, method, day, day_spent_fen, month, month_spent_fen, last_charge_at) VALUES
		('13511112222', 'phone', '2026-03-10', 3000, '2026-03-01', 3000, ?2),
		('8613511112222', 'phone', '2026-03-10', 1500, '2026-03-01', 4500, ?3),
		('008613511112222', 'phone', '2026-03-09', 2000, '2026-03-01', 2000, ?1),
		('+8613511112222', 'card', '2026-03-10', 500, '2026-03-01', 500, ?1),
		('13700000001', 'phone', '2026-02-28', 900, '2026-02-01', 900, ?1),
		('+8613700000001', 'phone', '2026-03-10', 100, '2026-03-01', 100, ?1)`, t1, t2, t3)
	exec(`INSERT INTO wallets (msisdn, password_hash, failures, locked_at, updated_at) VALUES
		('13511112222', 'hash-old', 2, NULL, ?1), ('+8613511112222', 'hash-new', 0, NULL, ?2)`, t1, t2)
	exec(`INSERT INTO cards (msisdn, bank_token, fingerprint, last4, masked, status, is_default, bound_at) VALUES
		('13511112222', 'tok1', X'01', '1111', '6222********1111', 'active', 1, ?1),
		('8613511112222', 'tok2', X'02', '2222', '6222********2222', 'active', 1, ?2)`, t1, t2)
	exec(`INSERT INTO orders (msisdn, merchant, product, product_name, amount_fen, status, code, service_addr, created_at, expires_at, updated_at) VALUES
		('13511112222', '8001', 'VIP', 'VIP', 1500, 'pending', '123456', '106580088001', ?1, ?3, ?1),
		('8613511112222', '8001', 'VIP', 'VIP', 1500, 'pending', '654321', '106580088001', ?2, ?3, ?2),
		('008613511112222', '8001', '', '', 3000, 'paid', '111111', '106580088001', ?1, ?2, ?2)`, t1, t2, t3)
	exec(`INSERT INTO charges (order_id, idempotency_key, msisdn, merchant, amount_fen, method, status, created_at, resolved_at)
		SELECT id, 'c1', msisdn, '8001', 3000, 'phone', 'succeeded', ?1, ?1 FROM orders WHERE status = 'paid'`, t2)
	exec(`INSERT INTO ledger_entries (txn, kind, account, merchant, amount_fen, charge_id, created_at)
		SELECT 'charge:1', 'payment', 'subscriber:phone:008613511112222', '8001', -3000, id, ?1 FROM charges UNION ALL
		SELECT 'charge:1', 'payment', 'merchant:8001:payable', '8001', 3000, id, ?1 FROM charges`, t2)
	var ledgerBefore int64
	if err := db.QueryRowContext(ctx, `SELECT COALESCE(SUM(amount_fen), 0) FROM ledger_entries`).Scan(&ledgerBefore); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s, err := Open(ctx, path, nil) // applies 0031 and the rest
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	r := s.reader
	strs := func(q string) []string {
		t.Helper()
		rows, err := r.QueryContext(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var v string
			if err := rows.Scan(&v); err != nil {
				t.Fatal(err)
			}
			out = append(out, v)
		}
		return out
	}

	plan := msisdn.DefaultPlan()
	for _, table := range []string{"mo_inbox", "outbox"} {
		got := strs(`SELECT msisdn FROM ` + table + ` ORDER BY id`)
		for i, sp := range spellings {
			want, err := plan.Normalize(sp, msisdn.TONUnknown, msisdn.NPIUnknown)
			if err != nil {
				want = sp
			}
			if got[i] != want {
				t.Errorf("%s: %q became %q, msisdn.Normalize says %q", table, sp, got[i], want)
			}
		}
	}
	for _, table := range []string{"subscribers", "account_debits", "orders", "charges", "quota", "wallets", "cards"} {
		if left := strs(`SELECT msisdn FROM ` + table + ` WHERE msisdn NOT LIKE '+%'`); len(left) != 0 {
			t.Errorf("%s: %d numbers left uncanonical", table, len(left))
		}
	}
	got := strs(`SELECT msisdn || ' ' || status || ' ' || plan || ' ' || balance_fen || ' ' || bill_fen || ' ' || credit_limit_fen || ' ' || COALESCE(owner_name, '-')
		FROM subscribers ORDER BY msisdn`)
	want := []string{
		"+8613511112222 active postpaid 0 4600 10000 -",
		"+8613600000001 active prepaid 1200 0 0 张三",
		"+8613900000001 suspended prepaid 50 0 0 -",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("merged subscribers\n%q\nwant\n%q", got, want)
	}
	got = strs(`SELECT msisdn || '/' || method || ' ' || day || ' ' || day_spent_fen || ' ' || month || ' ' || month_spent_fen FROM quota ORDER BY 1`)
	want = []string{
		"+8613511112222/card 2026-03-10 500 2026-03-01 500",
		"+8613511112222/phone 2026-03-10 4500 2026-03-01 9500",
		"+8613700000001/phone 2026-03-10 100 2026-03-01 100",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("merged quota\n%q\nwant\n%q", got, want)
	}
	if got := strs(`SELECT password_hash || ' ' || failures FROM wallets`); fmt.Sprint(got) != "[hash-new 2]" {
		t.Errorf("merged wallet %v, want the latest password and 2 failures", got)
	}
	if got := strs(`SELECT last4 FROM cards WHERE is_default = 1`); fmt.Sprint(got) != "[2222]" {
		t.Errorf("default cards %v, want only the later one", got)
	}
	if got := strs(`SELECT status FROM orders ORDER BY id`); fmt.Sprint(got) != "[expired pending paid]" {
		t.Errorf("orders %v, want the older duplicate pending order expired", got)
	}
	if got := strs(`SELECT account FROM ledger_entries ORDER BY id`); fmt.Sprint(got) != "[subscriber:phone:+8613511112222 merchant:8001:payable]" {
		t.Errorf("ledger accounts %v", got)
	}
	var ledgerAfter int64
	if err := r.QueryRowContext(ctx, `SELECT COALESCE(SUM(amount_fen), 0) FROM ledger_entries`).Scan(&ledgerAfter); err != nil {
		t.Fatal(err)
	}
	if ledgerAfter != ledgerBefore {
		t.Errorf("ledger sum %d after, %d before", ledgerAfter, ledgerBefore)
	}
	if err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE ledger_entries SET amount_fen = amount_fen`)
		return err
	}); err == nil {
		t.Error("the ledger's append-only trigger is gone after the migration")
	}
	if err := s.IntegrityCheck(ctx); err != nil {
		t.Error(err)
	}
}
