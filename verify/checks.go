package verify

// Every invariant check, as SQL, in one place. Each query returns at most
// 100 violations as two text columns: the subject (an id, a number, a txn)
// and what is wrong with it. A clean store returns no rows.
//
// Both stores have the same tables and columns (the schema drift test keeps
// them so); they differ in how times are kept (timestamptz on PostgreSQL,
// integer nanoseconds since the epoch in UTC on SQLite), so the checks that
// read a time have one query per dialect.
//
// Parameters are named in Check.Params and numbered in that order
// (PostgreSQL $n, SQLite ?n): zone is the operator's time zone (its name on
// PostgreSQL, its UTC offset in seconds on SQLite), pending_before the
// oldest creation time a pending charge may have, mo_before the oldest
// reception time an unprocessed MO may have; a check naming method runs
// once per payment method with its per_payment, daily and monthly limits
// in fen.
//
// Speed: every query is an index lookup, an index-ordered walk or a hash
// aggregate; none sorts a whole table (EXPLAIN them on the 10,000,000
// payment store of BENCHMARKS.md). Whole-ledger sums are unavoidable for
// the ledger checks: they scan, once each.

var checks = []Check{
	{
		Name: "ledger_balanced",
		Doc:  "every ledger transaction's postings sum to zero",
		SQL: `SELECT txn, 'postings sum to ' || CAST(SUM(amount_fen) AS TEXT)
			FROM ledger_entries GROUP BY txn HAVING SUM(amount_fen) <> 0 LIMIT 100`,
	},
	{
		Name: "merchant_payable",
		Doc:  "every merchant's payable account equals its entries: minus its succeeded charges, plus its refunds",
		SQL: `WITH l AS (SELECT merchant, SUM(amount_fen) AS s FROM ledger_entries
				WHERE account = 'merchant:' || merchant || ':payable' GROUP BY merchant),
			c AS (SELECT merchant, SUM(amount_fen) AS s FROM charges WHERE status = 'succeeded' GROUP BY merchant),
			r AS (SELECT c.merchant, SUM(r.amount_fen) AS s FROM refunds r JOIN charges c ON c.id = r.charge_id GROUP BY c.merchant),
			m AS (SELECT merchant FROM l UNION SELECT merchant FROM c)
			SELECT 'merchant ' || m.merchant, 'payable ' || CAST(COALESCE(l.s, 0) AS TEXT) || ', charges '
				|| CAST(COALESCE(c.s, 0) AS TEXT) || ' minus refunds ' || CAST(COALESCE(r.s, 0) AS TEXT)
			FROM m LEFT JOIN l ON l.merchant = m.merchant LEFT JOIN c ON c.merchant = m.merchant LEFT JOIN r ON r.merchant = m.merchant
			WHERE COALESCE(l.s, 0) <> COALESCE(r.s, 0) - COALESCE(c.s, 0)
			UNION ALL
			SELECT 'ledger entry ' || CAST(id AS TEXT), 'account ' || account || ' of merchant ' || merchant
			FROM ledger_entries WHERE account LIKE 'merchant:%' AND account <> 'merchant:' || merchant || ':payable'
			LIMIT 100`,
	},
	{
		Name: "ledger_total",
		Doc:  "the payers' ledger total equals the succeeded charges minus the refunds",
		SQL: `SELECT 'ledger', 'payers debited ' || CAST(a AS TEXT) || ', succeeded charges minus refunds ' || CAST(b AS TEXT)
			FROM (SELECT (SELECT COALESCE(SUM(amount_fen), 0) FROM ledger_entries WHERE account LIKE 'subscriber:%') AS a,
			             (SELECT COALESCE(SUM(amount_fen), 0) FROM charges WHERE status = 'succeeded')
			           - (SELECT COALESCE(SUM(amount_fen), 0) FROM refunds) AS b) t
			WHERE a <> b`,
	},
	{
		Name: "paid_orders_charged",
		Doc:  "a paid or refunded order has its one succeeded charge (charges.order_id is unique), and a succeeded charge's order is paid or refunded",
		SQL: `SELECT 'order ' || CAST(o.id AS TEXT), 'status ' || o.status || ' without a succeeded charge'
			FROM orders o WHERE o.status IN ('paid', 'refunded')
				AND NOT EXISTS (SELECT 1 FROM charges c WHERE c.order_id = o.id AND c.status = 'succeeded')
			UNION ALL
			SELECT 'order ' || CAST(o.id AS TEXT), 'status ' || o.status || ' with succeeded charge ' || CAST(c.id AS TEXT)
			FROM charges c JOIN orders o ON o.id = c.order_id
			WHERE c.status = 'succeeded' AND o.status NOT IN ('paid', 'refunded')
			LIMIT 100`,
	},
	{
		Name: "charge_postings",
		Doc:  "a succeeded charge has exactly its two payment postings, debiting the payer by its amount; a failed or pending one has none",
		SQL: `SELECT 'charge ' || CAST(c.id AS TEXT), c.status || ' with ' || CAST(COALESCE(l.n, 0) AS TEXT) || ' payment postings, payer debited '
				|| CAST(COALESCE(l.payer, 0) AS TEXT) || ' of ' || CAST(c.amount_fen AS TEXT)
			FROM charges c LEFT JOIN (
				SELECT charge_id, COUNT(*) AS n, SUM(CASE WHEN account LIKE 'subscriber:%' THEN amount_fen ELSE 0 END) AS payer
				FROM ledger_entries WHERE kind = 'payment' GROUP BY charge_id) l ON l.charge_id = c.id
			WHERE COALESCE(l.n, 0) <> CASE WHEN c.status = 'succeeded' THEN 2 ELSE 0 END
			   OR COALESCE(l.payer, 0) <> CASE WHEN c.status = 'succeeded' THEN c.amount_fen ELSE 0 END
			LIMIT 100`,
	},
	{
		Name:          "phone_debits",
		Doc:           "the built-in phone-account charger debited each succeeded phone charge once and each failed one never",
		BuiltinCharge: true,
		SQL: `SELECT 'charge ' || CAST(c.id AS TEXT), c.status || ' without its debit at the phone account'
			FROM charges c WHERE c.method = 'phone' AND c.status = 'succeeded'
				AND NOT EXISTS (SELECT 1 FROM account_debits d WHERE d.idempotency_key = c.idempotency_key AND d.kind = 'debit')
			UNION ALL
			SELECT 'charge ' || CAST(c.id AS TEXT), 'failed, yet debited at the phone account'
			FROM charges c JOIN account_debits d ON d.idempotency_key = c.idempotency_key AND d.kind = 'debit'
			WHERE c.status = 'failed'
			UNION ALL
			SELECT 'debit ' || d.idempotency_key, 'a phone-account debit of no charge'
			FROM account_debits d WHERE d.kind = 'debit'
				AND NOT EXISTS (SELECT 1 FROM charges c WHERE c.idempotency_key = d.idempotency_key)
				LIMIT 100`,
	},
	{
		Name: "order_receipts",
		Doc:  "a paid or refunded order of the SMS channel has exactly one receipt in the outbox, no order has more than one, and no unpaid order has one",
		SQL: `SELECT 'order ' || CAST(o.id AS TEXT), 'status ' || o.status || ' with ' || CAST(COALESCE(x.n, 0) AS TEXT) || ' receipts in the outbox'
			FROM orders o LEFT JOIN (SELECT order_id, COUNT(*) AS n FROM outbox WHERE kind = 'receipt' AND order_id IS NOT NULL GROUP BY order_id) x
				ON x.order_id = o.id
			WHERE COALESCE(x.n, 0) > CASE WHEN o.status IN ('paid', 'refunded') THEN 1 ELSE 0 END
			   OR (COALESCE(x.n, 0) = 0 AND o.status IN ('paid', 'refunded') AND o.channel = 'sms')
			LIMIT 100`,
	},
	{
		Name:   "charges_resolved",
		Params: []string{"pending_before"},
		Doc:    "no charge has stayed pending longer than the recovery sweep allows",
		PostgresSQL: `SELECT 'charge ' || id::text, 'pending since ' || created_at::text
			FROM charges WHERE status = 'pending' AND created_at < $1::timestamptz ORDER BY created_at LIMIT 100`,
		SQLiteSQL: `SELECT 'charge ' || CAST(id AS TEXT), 'pending since ' || strftime('%Y-%m-%d %H:%M:%S', created_at / 1000000000, 'unixepoch') || ' UTC'
			FROM charges WHERE status = 'pending' AND created_at < ?1 ORDER BY created_at LIMIT 100`,
	},
	{
		Name:   "quota_matches_charges",
		Params: []string{"zone"},
		Doc:    "each quota row's day and month spend equal its charges (succeeded or pending) reserved in that day and month of the operator's zone",
		PostgresSQL: `SELECT q.msisdn || ' ' || q.method,
				'day ' || q.day::text || ' spent ' || q.day_spent_fen::text || ' charged ' || s.d::text
				|| ', month ' || q.month::text || ' spent ' || q.month_spent_fen::text || ' charged ' || s.m::text
			FROM quota q, LATERAL (SELECT
				COALESCE(SUM(c.amount_fen) FILTER (WHERE c.created_at >= (q.day::timestamp AT TIME ZONE $1::text)
					AND c.created_at < ((q.day + 1)::timestamp AT TIME ZONE $1::text)), 0) AS d,
				COALESCE(SUM(c.amount_fen) FILTER (WHERE c.created_at >= (q.month::timestamp AT TIME ZONE $1::text)
					AND c.created_at < ((q.month + interval '1 month')::timestamp AT TIME ZONE $1::text)), 0) AS m
				FROM charges c WHERE c.msisdn = q.msisdn AND c.method = q.method AND c.status <> 'failed') s
			WHERE q.day_spent_fen <> s.d OR q.month_spent_fen <> s.m
			LIMIT 100`,
		SQLiteSQL: `SELECT msisdn || ' ' || method, 'day ' || day || ' spent ' || CAST(day_spent_fen AS TEXT) || ' charged ' || CAST(d AS TEXT)
				|| ', month ' || month || ' spent ' || CAST(month_spent_fen AS TEXT) || ' charged ' || CAST(m AS TEXT)
			FROM (SELECT q.*,
				(SELECT COALESCE(SUM(c.amount_fen), 0) FROM charges c WHERE c.msisdn = q.msisdn AND c.method = q.method AND c.status <> 'failed'
					AND c.created_at >= (CAST(strftime('%s', q.day) AS INTEGER) - ?1) * 1000000000
					AND c.created_at < (CAST(strftime('%s', q.day, '+1 day') AS INTEGER) - ?1) * 1000000000) AS d,
				(SELECT COALESCE(SUM(c.amount_fen), 0) FROM charges c WHERE c.msisdn = q.msisdn AND c.method = q.method AND c.status <> 'failed'
					AND c.created_at >= (CAST(strftime('%s', q.month) AS INTEGER) - ?1) * 1000000000
					AND c.created_at < (CAST(strftime('%s', q.month, '+1 month') AS INTEGER) - ?1) * 1000000000) AS m
				FROM quota q) t
			WHERE day_spent_fen <> d OR month_spent_fen <> m
			LIMIT 100`,
	},
	{
		Name:   "limits_held",
		Doc:    "no phone was charged over the per-payment limit, or over the daily or monthly limit on any day or month of the operator's zone",
		Params: []string{"zone", "method", "per_payment", "daily", "monthly"},
		PostgresSQL: `WITH c AS (SELECT msisdn, (created_at AT TIME ZONE $1::text)::date AS day, amount_fen
				FROM charges WHERE method = $2::text AND status <> 'failed')
			SELECT msisdn || ' ' || $2::text, 'day ' || day::text || ' charged ' || s::text || ', daily limit ' || $4::bigint::text
			FROM (SELECT msisdn, day, SUM(amount_fen) AS s FROM c GROUP BY msisdn, day) d WHERE s > $4::bigint
			UNION ALL
			SELECT msisdn || ' ' || $2::text, 'month ' || month::text || ' charged ' || s::text || ', monthly limit ' || $5::bigint::text
			FROM (SELECT msisdn, date_trunc('month', day)::date AS month, SUM(amount_fen) AS s FROM c GROUP BY 1, 2) m WHERE s > $5::bigint
			UNION ALL
			SELECT 'charge ' || id::text, 'amount ' || amount_fen::text || ', per-payment limit ' || $3::bigint::text
			FROM charges WHERE method = $2::text AND status <> 'failed' AND amount_fen > $3::bigint
			LIMIT 100`,
		SQLiteSQL: `WITH c AS (SELECT msisdn, date(created_at / 1000000000 + ?1, 'unixepoch') AS day, amount_fen
				FROM charges WHERE method = ?2 AND status <> 'failed')
			SELECT msisdn || ' ' || ?2, 'day ' || day || ' charged ' || CAST(s AS TEXT) || ', daily limit ' || CAST(?4 AS TEXT)
			FROM (SELECT msisdn, day, SUM(amount_fen) AS s FROM c GROUP BY msisdn, day) WHERE s > ?4
			UNION ALL
			SELECT msisdn || ' ' || ?2, 'month ' || month || ' charged ' || CAST(s AS TEXT) || ', monthly limit ' || CAST(?5 AS TEXT)
			FROM (SELECT msisdn, strftime('%Y-%m-01', day) AS month, SUM(amount_fen) AS s FROM c GROUP BY 1, 2) WHERE s > ?5
			UNION ALL
			SELECT 'charge ' || CAST(id AS TEXT), 'amount ' || CAST(amount_fen AS TEXT) || ', per-payment limit ' || CAST(?3 AS TEXT)
			FROM charges WHERE method = ?2 AND status <> 'failed' AND amount_fen > ?3
			LIMIT 100`,
	},
	{
		Name: "refunds_within_charge",
		Doc:  "no charge is refunded more than its amount in total",
		SQL: `SELECT 'charge ' || CAST(c.id AS TEXT), 'refunded ' || CAST(SUM(r.amount_fen) AS TEXT) || ' of ' || CAST(c.amount_fen AS TEXT)
			FROM refunds r JOIN charges c ON c.id = r.charge_id
			GROUP BY c.id, c.amount_fen HAVING SUM(r.amount_fen) > c.amount_fen LIMIT 100`,
	},
	{
		Name:   "mo_processed",
		Params: []string{"mo_before"},
		Doc:    "every stored (acknowledged) MO was processed, or is queued and younger than the bound",
		PostgresSQL: `SELECT 'mo ' || id::text, 'unprocessed since ' || received_at::text || ' after ' || attempts::text || ' attempts'
			FROM mo_inbox WHERE processed_at IS NULL AND received_at < $1::timestamptz ORDER BY id LIMIT 100`,
		SQLiteSQL: `SELECT 'mo ' || CAST(id AS TEXT), 'unprocessed since ' || strftime('%Y-%m-%d %H:%M:%S', received_at / 1000000000, 'unixepoch')
				|| ' UTC after ' || CAST(attempts AS TEXT) || ' attempts'
			FROM mo_inbox WHERE processed_at IS NULL AND received_at < ?1 ORDER BY id LIMIT 100`,
	},
}
