package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/carrierbill/carrierbill/billing"
)

// TestMigrationRebuildsOrders upgrades a database holding orders and their
// children (charges, merchant API payments, subscriptions) across 0040,
// which rebuilds orders: every row, id and child survives, the sequence
// does not go back, foreign keys and integrity hold, and the status held
// is allowed.
func TestMigrationRebuildsOrders(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "carrierbill.db")
	ms, err := Migrations()
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=foreign_keys(ON)&_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	mustExec := func(q string, args ...any) {
		t.Helper()
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	mustExec(`CREATE TABLE schema_migrations (version INTEGER NOT NULL PRIMARY KEY, name TEXT NOT NULL,
		applied_at INTEGER NOT NULL DEFAULT 0) STRICT`)
	for _, m := range ms {
		if m.Version >= 40 {
			break
		}
		mustExec(m.SQL)
		mustExec(`INSERT INTO schema_migrations (version, name) VALUES (?, ?)`, m.Version, m.Name)
	}
	order := func(id int64, status string) {
		mustExec(`INSERT INTO orders (id, msisdn, merchant, product, product_name, amount_fen, status, code, service_addr,
			created_at, expires_at, updated_at, channel, idempotency_key)
			VALUES (?, '+8613800138000', '8001', 'gem', 'Gem', 100, ?, '123456', '10658008', 1, 2, 3, 'api', ?)`,
			id, status, "key-"+status)
	}
	order(1, "paid")
	order(2, "pending")
	order(7, "expired")
	mustExec(`UPDATE sqlite_sequence SET seq = 9 WHERE name = 'orders'`) // an order rolled back after 7
	mustExec(`INSERT INTO charges (order_id, idempotency_key, msisdn, merchant, amount_fen, method, status, created_at, resolved_at)
		VALUES (1, 'c1', '+8613800138000', '8001', 100, 'phone', 'succeeded', 1, 2)`)
	mustExec(`INSERT INTO api_payments (order_id, merchant, kind, reference_code, request_hash, request, created_at)
		VALUES (2, '8001', 'two_step', 'ref', 'h', '{}', 1)`)
	mustExec(`INSERT INTO subscriptions (msisdn, merchant, product, product_name, amount_fen, status, anchor_day,
		next_renewal, first_order_id, last_order_id, created_at, updated_at)
		VALUES ('+8613800138000', '8001', 'gem', 'Gem', 100, 'active', 1, '2026-01-01', 1, 7, 1, 1)`)
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s, err := Open(ctx, path, nil)
	if err != nil {
		t.Fatalf("Open (migrating across 0040): %v", err)
	}
	defer s.Close()
	if err := s.IntegrityCheck(ctx); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := s.reader.QueryRowContext(ctx, `SELECT count(*) FROM pragma_foreign_key_check`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("foreign key violations: %d (%v)", n, err)
	}
	for table, want := range map[string]int{"orders": 3, "charges": 1, "api_payments": 1, "subscriptions": 1} {
		if err := s.reader.QueryRowContext(ctx, `SELECT count(*) FROM `+table).Scan(&n); err != nil || n != want {
			t.Errorf("%s: %d rows (%v), want %d", table, n, err, want)
		}
	}

	err = s.InTx(ctx, func(tx billing.Tx) error {
		o, err := tx.OrderByKey(ctx, "key-pending")
		if err != nil {
			return err
		}
		if o.ID != 2 || o.Status != billing.OrderPending || o.FreshCodes != 0 || !o.PromptedAt.IsZero() {
			t.Errorf("order 2 after the migration: %+v", o)
		}
		o.Status = billing.OrderHeld
		if err := tx.UpdateOrder(ctx, o); err != nil {
			return err
		}
		o.ID = 0
		o.Status, o.IdempotencyKey = billing.OrderPending, "key-new"
		id, err := tx.InsertOrder(ctx, o)
		if err != nil {
			return err
		}
		if id != 10 {
			t.Errorf("new order id %d after the migration, want 10 (the sequence went back)", id)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	held, err := s.HeldOrders(ctx, 0)
	if err != nil || len(held) != 1 || held[0].ID != 2 {
		t.Fatalf("HeldOrders = %+v, %v", held, err)
	}
}
