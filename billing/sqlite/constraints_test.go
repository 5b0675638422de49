package sqlite

import (
	"context"
	"database/sql"
	"testing"
)

// TestConstraints checks that the schema refuses what Postgres refuses and
// that each violation is reported under the Postgres constraint's name.
func TestConstraints(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openTest(t)
	const day = "'2026-11-20'"
	setup := []string{
		`INSERT INTO subscribers (msisdn, balance_fen) VALUES ('8613800000001', 1000)`,
		`INSERT INTO orders (msisdn, merchant, product, product_name, amount_fen, status, code, service_addr, created_at, expires_at, updated_at)
		 VALUES ('8613800000001', '8001', 'vip', 'VIP', 1000, 'pending', '123456', '106580088001', 1, 2, 1)`,
		`INSERT INTO charges (order_id, idempotency_key, msisdn, merchant, amount_fen, method, status, created_at)
		 VALUES (1, 'k1', '8613800000001', '8001', 1000, 'phone', 'pending', 1)`,
		`INSERT INTO ledger_entries (txn, kind, account, merchant, amount_fen, charge_id, created_at)
		 VALUES ('charge:1', 'payment', 'subscriber:phone:8613800000001', '8001', 1000, 1, 1)`,
		`INSERT INTO refunds (charge_id, idempotency_key, amount_fen, reason, created_at) VALUES (1, 'r1', 100, 'x', 1)`,
		`INSERT INTO quota (msisdn, method, day, month) VALUES ('8613800000001', 'phone', ` + day + `, '2026-11-01')`,
	}
	for _, q := range setup {
		if _, err := s.writer.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	for _, tc := range []struct {
		name, sql, want string
	}{
		{"second pending order", `INSERT INTO orders (msisdn, merchant, product, product_name, amount_fen, status, code, service_addr, created_at, expires_at, updated_at)
			VALUES ('8613800000001', '8001', 'vip', 'VIP', 1000, 'pending', '654321', '106580088001', 1, 2, 1)`, "orders_one_pending"},
		{"code not six digits", `INSERT INTO orders (msisdn, merchant, product, product_name, amount_fen, status, code, service_addr, created_at, expires_at, updated_at)
			VALUES ('8613800000002', '8001', 'vip', 'VIP', 1000, 'pending', '12345a', '106580088001', 1, 2, 1)`, "orders_code_check"},
		{"code too long", `UPDATE orders SET code = '1234567'`, "orders_code_check"},
		{"fourth attempt", `UPDATE orders SET attempts = 4`, "orders_attempts_check"},
		{"unknown status", `UPDATE orders SET status = 'lost'`, "orders_status_check"},
		{"zero amount", `UPDATE orders SET amount_fen = 0`, "orders_amount_fen_check"},
		{"second charge of an order", `INSERT INTO charges (order_id, idempotency_key, msisdn, merchant, amount_fen, method, status, created_at)
			VALUES (1, 'k2', '8613800000001', '8001', 1000, 'phone', 'pending', 1)`, "charges_order_id_key"},
		{"charge key taken", `INSERT INTO orders (msisdn, merchant, product, product_name, amount_fen, status, code, service_addr, created_at, expires_at, updated_at)
			VALUES ('8613800000003', '8001', 'vip', 'VIP', 1000, 'paid', '123456', '106580088001', 1, 2, 1);
			INSERT INTO charges (order_id, idempotency_key, msisdn, merchant, amount_fen, method, status, created_at)
			VALUES (last_insert_rowid(), 'k1', '8613800000003', '8001', 1000, 'phone', 'pending', 1)`, "charges_idempotency_key_key"},
		{"resolved without a time", `UPDATE charges SET status = 'succeeded'`, "charges_resolved"},
		{"charge of no order", `INSERT INTO charges (order_id, idempotency_key, msisdn, merchant, amount_fen, method, status, created_at)
			VALUES (999, 'k9', '8613800000001', '8001', 1000, 'phone', 'pending', 1)`, "foreign_key"},
		{"refund key taken", `INSERT INTO refunds (charge_id, idempotency_key, amount_fen, reason, created_at) VALUES (1, 'r1', 100, 'x', 1)`, "refunds_idempotency_key_key"},
		{"refund without reason", `INSERT INTO refunds (charge_id, idempotency_key, amount_fen, reason, created_at) VALUES (1, 'r2', 100, '', 1)`, "refunds_reason_check"},
		{"ledger update", `UPDATE ledger_entries SET amount_fen = 1`, "append_only"},
		{"ledger delete", `DELETE FROM ledger_entries`, "append_only"},
		{"ledger zero", `INSERT INTO ledger_entries (txn, kind, account, merchant, amount_fen, charge_id, created_at)
			VALUES ('charge:1', 'payment', 'merchant:8001:payable', '8001', 0, 1, 1)`, "ledger_entries_amount_fen_check"},
		{"refund posting without refund", `INSERT INTO ledger_entries (txn, kind, account, merchant, amount_fen, charge_id, created_at)
			VALUES ('refund:1', 'refund', 'merchant:8001:payable', '8001', 100, 1, 1)`, "ledger_refund_has_refund"},
		{"negative prepaid balance", `UPDATE subscribers SET balance_fen = -1`, "subscribers_prepaid_balance"},
		{"postpaid over the limit", `UPDATE subscribers SET plan = 'postpaid', bill_fen = 10, credit_limit_fen = 5`, "subscribers_postpaid_bill"},
		{"subscriber twice", `INSERT INTO subscribers (msisdn) VALUES ('8613800000001')`, "subscribers_pkey"},
		{"negative day spend", `UPDATE quota SET day_spent_fen = -1`, "quota_day_spent_fen_check"},
		{"day over month", `UPDATE quota SET day_spent_fen = 10, month_spent_fen = 5`, "quota_day_within_month"},
		{"day not a date", `UPDATE quota SET day = '2026-02-30'`, "quota_day_is_date"},
		{"quota twice", `INSERT INTO quota (msisdn, method, day, month) VALUES ('8613800000001', 'phone', ` + day + `, '2026-11-01')`, "quota_pkey"},
		{"text in an amount", `UPDATE orders SET amount_fen = 'ten'`, "datatype"},
		{"merchant with a space", `INSERT INTO merchant_keys (merchant, key_hash, hint, created_at) VALUES ('80 01', zeroblob(32), 'h', 1)`, "merchant_keys_merchant_check"},
		{"card bound to a second phone", `INSERT INTO cards (msisdn, bank_token, fingerprint, last4, masked, status, bound_at)
			VALUES ('8613800000001', 't1', x'01', '1234', '622202******1234', 'active', 1);
			INSERT INTO cards (msisdn, bank_token, fingerprint, last4, masked, status, bound_at)
			VALUES ('8613800000002', 't2', x'01', '1234', '622202******1234', 'active', 1)`, "cards_one_phone_per_card"},
		{"two default cards", `INSERT INTO cards (msisdn, bank_token, fingerprint, last4, masked, status, is_default, bound_at)
			VALUES ('8613800000001', 't1', x'01', '1234', '622202******1234', 'active', 1, 1);
			INSERT INTO cards (msisdn, bank_token, fingerprint, last4, masked, status, is_default, bound_at)
			VALUES ('8613800000001', 't2', x'02', '5678', '622202******5678', 'active', 1, 1)`, "cards_one_default"},
		{"default card not active", `INSERT INTO cards (msisdn, bank_token, fingerprint, last4, masked, status, is_default, bound_at)
			VALUES ('8613800000001', 't1', x'01', '1234', '622202******1234', 'closed', 1, 1)`, "cards_default_is_active"},
		{"fourth wallet failure", `INSERT INTO wallets (msisdn, password_hash, failures, updated_at) VALUES ('8613800000001', 'h', 4, 1)`, "wallets_failures_check"},
		{"short key hash", `INSERT INTO merchant_keys (merchant, key_hash, hint, created_at) VALUES ('8001', zeroblob(31), 'h', 1)`, "merchant_keys_key_hash_check"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := s.write(ctx, func(tx *sql.Tx) error {
				_, err := tx.ExecContext(ctx, tc.sql)
				return err
			})
			if err == nil {
				t.Fatalf("accepted; want a violation of %q", tc.want)
			}
			if got := constraintName(err); got != tc.want {
				t.Fatalf("constraintName = %q, want %q (error: %v)", got, tc.want, err)
			}
		})
	}
	// What the constraints must accept.
	for _, q := range []string{
		`INSERT INTO merchant_keys (merchant, key_hash, hint, created_at) VALUES ('Shop_8001-a', zeroblob(32), 'h', 1)`,
		`UPDATE quota SET day = '2028-02-29'`,
		`UPDATE orders SET code = '000000', attempts = 3`,
	} {
		if _, err := s.writer.ExecContext(ctx, q); err != nil {
			t.Errorf("%s: %v", q, err)
		}
	}
}
