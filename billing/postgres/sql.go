package postgres

// Every statement of the store, in one place. Untyped parameters are cast.

const orderCols = `id, msisdn, merchant, product, product_name, amount_fen, method, status,
	COALESCE(reason, ''), code, attempts, COALESCE(merchant_ref, ''), service_addr, created_at, expires_at, updated_at,
	channel, COALESCE(idempotency_key, ''), COALESCE(request_hash, ''), prompted_at, fresh_codes`

const chargeCols = `id, order_id, idempotency_key, msisdn, merchant, amount_fen, method, status,
	COALESCE(failure_reason, ''), created_at, resolved_at`

const outboxCols = `id, msisdn, service_addr, body, kind, order_id, created_at, next_at, attempts, sent_at, COALESCE(last_error, ''), sealed`

const (
	sqlInsertMO = `INSERT INTO mo_inbox (bind, msisdn, service_addr, body, received_at, sealed)
		VALUES ($1::text, $2::text, $3::text, $4::text, $5::timestamptz, $6::bytea) RETURNING id`

	// Only the oldest unprocessed MO of each number is claimable, so one
	// number's MOs run one at a time, in order, across processes.
	sqlClaimMOs = `UPDATE mo_inbox m SET lease_until = $2::timestamptz, attempts = m.attempts + 1
		FROM (
			SELECT c.id FROM mo_inbox c
			WHERE c.processed_at IS NULL
			  AND (c.lease_until IS NULL OR c.lease_until <= $1::timestamptz)
			  AND NOT EXISTS (SELECT 1 FROM mo_inbox p
			                  WHERE p.msisdn = c.msisdn AND p.id < c.id AND p.processed_at IS NULL)
			ORDER BY c.id
			LIMIT $3::int
			FOR UPDATE SKIP LOCKED
		) s
		WHERE m.id = s.id
		RETURNING m.id, m.bind, m.msisdn, m.service_addr, m.body, m.received_at, m.attempts`

	sqlReleaseMO = `UPDATE mo_inbox SET lease_until = $2::timestamptz WHERE id = $1::bigint AND processed_at IS NULL`

	sqlMarkMOProcessed = `UPDATE mo_inbox SET processed_at = $2::timestamptz WHERE id = $1::bigint`

	sqlClaimOutbox = `UPDATE outbox o SET next_at = $2::timestamptz, attempts = o.attempts + 1
		FROM (
			SELECT id FROM outbox
			WHERE sent_at IS NULL AND next_at <= $1::timestamptz
			ORDER BY next_at, id
			LIMIT $3::int
			FOR UPDATE SKIP LOCKED
		) s
		WHERE o.id = s.id
		RETURNING o.id, o.msisdn, o.service_addr, o.body, o.kind, o.order_id, o.created_at, o.next_at, o.attempts, o.sent_at, COALESCE(o.last_error, ''), o.sealed`

	sqlMarkSent = `UPDATE outbox SET sent_at = COALESCE(sent_at, $2::timestamptz), last_error = NULL WHERE id = $1::bigint`

	sqlMarkSendFailed = `UPDATE outbox SET next_at = $2::timestamptz, last_error = $3::text WHERE id = $1::bigint AND sent_at IS NULL`

	sqlEnqueue = `INSERT INTO outbox (msisdn, service_addr, body, kind, order_id, created_at, next_at, sealed)
		VALUES ($1::text, $2::text, $3::text, $4::text, $5::bigint, $6::timestamptz, $7::timestamptz, $8::bytea) RETURNING id`

	sqlInsertOrder = `INSERT INTO orders (msisdn, merchant, product, product_name, amount_fen, method, status, reason, code,
		attempts, merchant_ref, service_addr, created_at, expires_at, updated_at, channel, idempotency_key, request_hash,
		prompted_at, fresh_codes)
		VALUES ($1::text, $2::text, $3::text, $4::text, $5::bigint, $6::text, $7::text, $8::text, $9::text,
		$10::int, $11::text, $12::text, $13::timestamptz, $14::timestamptz, $15::timestamptz, $16::text, $17::text, $18::text,
		$19::timestamptz, $20::int) RETURNING id`

	sqlOrderByKey = `SELECT ` + orderCols + ` FROM orders WHERE idempotency_key = $1::text FOR UPDATE`

	sqlOrderByMerchantRef = `SELECT ` + orderCols + ` FROM orders WHERE merchant = $1::text AND merchant_ref = $2::text
		ORDER BY id DESC LIMIT 1 FOR UPDATE`

	sqlCountPendingOrders = `SELECT count(*) FROM orders WHERE msisdn = $1::text AND status = 'pending' AND expires_at > $2::timestamptz`

	// sqlCreateCodeGuard creates a number's first counters; nothing when a
	// concurrent transaction created them first (SaveCodeGuard retries).
	sqlCreateCodeGuard = `INSERT INTO code_guard (msisdn, hour, hour_count, day, day_count, month, month_count)
		VALUES ($1::text, $2::text, $3::int, $4::text, $5::int, $6::text, $7::int) ON CONFLICT (msisdn) DO NOTHING`

	sqlLockCodeGuard = `SELECT msisdn, hour, hour_count, day, day_count, month, month_count FROM code_guard
		WHERE msisdn = $1::text FOR UPDATE`

	sqlSaveCodeGuard = `UPDATE code_guard SET hour = $2::text, hour_count = $3::int, day = $4::text, day_count = $5::int,
		month = $6::text, month_count = $7::int WHERE msisdn = $1::text`

	sqlGetOrder = `SELECT ` + orderCols + ` FROM orders WHERE id = $1::bigint FOR UPDATE`

	sqlFindPendingOrder = `SELECT ` + orderCols + ` FROM orders
		WHERE msisdn = $1::text AND merchant = $2::text AND product = $3::text AND amount_fen = $4::bigint
		  AND method = $5::text AND status = 'pending' FOR UPDATE`

	sqlOrdersSince = `SELECT ` + orderCols + ` FROM orders
		WHERE msisdn = $1::text AND created_at >= $2::timestamptz ORDER BY created_at DESC, id DESC FOR UPDATE`

	sqlPeekPending = `SELECT ` + orderCols + ` FROM orders
		WHERE msisdn = $1::text AND status = 'pending' AND created_at >= $2::timestamptz ORDER BY created_at DESC, id DESC`

	sqlUpdateOrder = `UPDATE orders SET status = $2::text, reason = $3::text, attempts = $4::int, updated_at = $5::timestamptz
		WHERE id = $1::bigint`

	sqlDueOrders = `SELECT ` + orderCols + ` FROM orders
		WHERE status = 'pending' AND expires_at <= $1::timestamptz ORDER BY expires_at, id LIMIT $2::int
		FOR UPDATE SKIP LOCKED`

	sqlCreateQuota = `INSERT INTO quota (msisdn, method, day, month) VALUES ($1::text, $2::text, $3::text::date, $4::text::date)
		ON CONFLICT (msisdn, method) DO NOTHING`

	sqlLockQuota = `SELECT msisdn, method, day::text, day_spent_fen, month::text, month_spent_fen, last_charge_at
		FROM quota WHERE msisdn = $1::text AND method = $2::text FOR UPDATE`

	sqlSaveQuota = `UPDATE quota SET day = $3::text::date, day_spent_fen = $4::bigint, month = $5::text::date,
		month_spent_fen = $6::bigint, last_charge_at = $7::timestamptz
		WHERE msisdn = $1::text AND method = $2::text`

	sqlInsertCharge = `INSERT INTO charges (order_id, idempotency_key, msisdn, merchant, amount_fen, method, status,
		failure_reason, created_at, resolved_at)
		VALUES ($1::bigint, $2::text, $3::text, $4::text, $5::bigint, $6::text, $7::text, $8::text, $9::timestamptz, $10::timestamptz)
		RETURNING id`

	sqlGetCharge = `SELECT ` + chargeCols + ` FROM charges WHERE id = $1::bigint FOR UPDATE`

	sqlChargeByOrder = `SELECT ` + chargeCols + ` FROM charges WHERE order_id = $1::bigint FOR UPDATE`

	sqlResolveCharge = `UPDATE charges SET status = $2::text, failure_reason = $3::text, resolved_at = $4::timestamptz
		WHERE id = $1::bigint`

	sqlStaleCharges = `SELECT ` + chargeCols + ` FROM charges
		WHERE status = 'pending' AND created_at < $1::timestamptz ORDER BY created_at, id LIMIT $2::int
		FOR UPDATE SKIP LOCKED`

	// sqlInsertPostings writes a transaction's postings in one statement,
	// in their order.
	sqlInsertPostings = `INSERT INTO ledger_entries (txn, kind, account, merchant, amount_fen, charge_id, refund_id, created_at)
		SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[], $7::bigint[], $8::timestamptz[])`

	sqlInsertRefund = `INSERT INTO refunds (charge_id, idempotency_key, amount_fen, reason, created_at)
		VALUES ($1::bigint, $2::text, $3::bigint, $4::text, $5::timestamptz) RETURNING id`

	sqlRefundByKey = `SELECT id, charge_id, idempotency_key, amount_fen, reason, created_at FROM refunds WHERE idempotency_key = $1::text`

	sqlRefundedTotal = `SELECT COALESCE(SUM(amount_fen), 0)::bigint FROM refunds WHERE charge_id = $1::bigint`

	sqlRecentPayments = `SELECT c.id, c.order_id, c.merchant, o.product_name, c.amount_fen, o.status, c.resolved_at
		FROM charges c JOIN orders o ON o.id = c.order_id
		WHERE c.msisdn = $1::text AND c.status = 'succeeded'
		ORDER BY c.resolved_at DESC, c.id DESC LIMIT $2::int`
)
