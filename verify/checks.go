package verify

// Every invariant check, as SQL, in one place. Each query returns at most
// 100 violations as two text columns: the subject (an id, a number, a txn)
// and what is wrong with it. A clean store returns no rows.
//
// Both stores have the same tables and columns (the schema drift test keeps
// them so); they differ in how times are kept (timestamptz on PostgreSQL,
// integer nanoseconds since the epoch in UTC on SQLite), so the checks that
// read a time have one query per dialect. $1 is the operator's time zone:
// its name on PostgreSQL ($1), its UTC offset in seconds on SQLite (?1).

var checks = []Check{
	{
		Name: "ledger_balanced",
		Doc:  "every ledger transaction's postings sum to zero",
		SQL: `SELECT txn, 'postings sum to ' || CAST(SUM(amount_fen) AS TEXT)
			FROM ledger_entries GROUP BY txn HAVING SUM(amount_fen) <> 0 LIMIT 100`,
	},
	{
		Name: "one_charge_per_order",
		Doc:  "no order has more than one succeeded charge (no double charge)",
		SQL: `SELECT CAST(order_id AS TEXT), CAST(COUNT(*) AS TEXT) || ' succeeded charges'
			FROM charges WHERE status = 'succeeded' GROUP BY order_id HAVING COUNT(*) > 1 LIMIT 100`,
	},
	{
		Name: "paid_orders_charged",
		Doc:  "a paid or refunded order has a succeeded charge, and a succeeded charge's order is paid or refunded",
		SQL: `SELECT 'order ' || CAST(o.id AS TEXT), 'status ' || o.status || ', charge ' || COALESCE(c.status, 'none')
			FROM orders o LEFT JOIN charges c ON c.order_id = o.id
			WHERE (o.status IN ('paid', 'refunded') AND (c.status IS NULL OR c.status <> 'succeeded'))
			   OR (c.status = 'succeeded' AND o.status NOT IN ('paid', 'refunded'))
			LIMIT 100`,
	},
	{
		Name: "charge_postings",
		Doc:  "a succeeded charge has exactly its two payment postings, debiting the payer by its amount; a failed one has none",
		SQL: `SELECT 'charge ' || CAST(c.id AS TEXT), c.status || ' with ' || CAST(COUNT(l.id) AS TEXT) || ' payment postings, payer debited '
				|| CAST(COALESCE(SUM(CASE WHEN l.account LIKE 'subscriber:%' THEN l.amount_fen END), 0) AS TEXT) || ' of ' || CAST(c.amount_fen AS TEXT)
			FROM charges c LEFT JOIN ledger_entries l ON l.charge_id = c.id AND l.kind = 'payment'
			WHERE c.status <> 'pending'
			GROUP BY c.id, c.status, c.amount_fen
			HAVING COUNT(l.id) <> CASE WHEN c.status = 'succeeded' THEN 2 ELSE 0 END
			    OR COALESCE(SUM(CASE WHEN l.account LIKE 'subscriber:%' THEN l.amount_fen END), 0) <> CASE WHEN c.status = 'succeeded' THEN c.amount_fen ELSE 0 END
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
		Name: "refunds_within_charge",
		Doc:  "no charge is refunded more than its amount in total",
		SQL: `SELECT 'charge ' || CAST(c.id AS TEXT), 'refunded ' || CAST(SUM(r.amount_fen) AS TEXT) || ' of ' || CAST(c.amount_fen AS TEXT)
			FROM refunds r JOIN charges c ON c.id = r.charge_id
			GROUP BY c.id, c.amount_fen HAVING SUM(r.amount_fen) > c.amount_fen LIMIT 100`,
	},
	{
		Name: "mo_processed",
		Doc:  "every stored (acknowledged) MO was processed",
		SQL: `SELECT 'mo ' || CAST(id AS TEXT), 'unprocessed after ' || CAST(attempts AS TEXT) || ' attempts'
			FROM mo_inbox WHERE processed_at IS NULL ORDER BY id LIMIT 100`,
	},
	{
		Name:          "phone_debits",
		Doc:           "the built-in phone-account charger debited each succeeded phone charge once and each failed one never",
		BuiltinCharge: true,
		SQL: `SELECT 'charge ' || CAST(c.id AS TEXT), c.status || ' with ' || CAST(COUNT(d.idempotency_key) AS TEXT) || ' debits'
			FROM charges c LEFT JOIN account_debits d ON d.idempotency_key = c.idempotency_key AND d.kind = 'debit'
			WHERE c.method = 'phone' AND c.status <> 'pending'
			GROUP BY c.id, c.status
			HAVING COUNT(d.idempotency_key) <> CASE WHEN c.status = 'succeeded' THEN 1 ELSE 0 END
			LIMIT 100`,
	},
	{
		Name: "quota_matches_charges",
		Doc:  "each quota row's day and month spend equal its charges (succeeded or pending) reserved in that day and month of the operator's zone",
		PostgresSQL: `WITH c AS (
				SELECT msisdn, method, (created_at AT TIME ZONE $1::text)::date AS day, amount_fen
				FROM charges WHERE status <> 'failed')
			SELECT q.msisdn || ' ' || q.method,
				'day ' || q.day::text || ' spent ' || q.day_spent_fen::text || ' charged ' || COALESCE(d.s, 0)::text
				|| ', month ' || q.month::text || ' spent ' || q.month_spent_fen::text || ' charged ' || COALESCE(m.s, 0)::text
			FROM quota q
			LEFT JOIN (SELECT msisdn, method, day, SUM(amount_fen) AS s FROM c GROUP BY 1, 2, 3) d
				ON d.msisdn = q.msisdn AND d.method = q.method AND d.day = q.day
			LEFT JOIN (SELECT msisdn, method, date_trunc('month', day)::date AS month, SUM(amount_fen) AS s FROM c GROUP BY 1, 2, 3) m
				ON m.msisdn = q.msisdn AND m.method = q.method AND m.month = q.month
			WHERE q.day_spent_fen <> COALESCE(d.s, 0) OR q.month_spent_fen <> COALESCE(m.s, 0)
			LIMIT 100`,
		SQLiteSQL: `WITH c AS (
				SELECT msisdn, method, date(created_at / 1000000000 + ?1, 'unixepoch') AS day, amount_fen
				FROM charges WHERE status <> 'failed')
			SELECT q.msisdn || ' ' || q.method,
				'day ' || q.day || ' spent ' || CAST(q.day_spent_fen AS TEXT) || ' charged ' || CAST(COALESCE(d.s, 0) AS TEXT)
				|| ', month ' || q.month || ' spent ' || CAST(q.month_spent_fen AS TEXT) || ' charged ' || CAST(COALESCE(m.s, 0) AS TEXT)
			FROM quota q
			LEFT JOIN (SELECT msisdn, method, day, SUM(amount_fen) AS s FROM c GROUP BY 1, 2, 3) d
				ON d.msisdn = q.msisdn AND d.method = q.method AND d.day = q.day
			LEFT JOIN (SELECT msisdn, method, strftime('%Y-%m-01', day) AS month, SUM(amount_fen) AS s FROM c GROUP BY 1, 2, 3) m
				ON m.msisdn = q.msisdn AND m.method = q.method AND m.month = q.month
			WHERE q.day_spent_fen <> COALESCE(d.s, 0) OR q.month_spent_fen <> COALESCE(m.s, 0)
			LIMIT 100`,
	},
}
