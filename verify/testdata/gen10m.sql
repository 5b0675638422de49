-- Fills a freshly migrated PostgreSQL database with N clean payments
-- (psql -v n=10000000 -f gen10m.sql): one MO, order, charge, phone-account
-- debit, two ledger postings and one receipt each, N/10 phones paying ten
-- times each across November 2026 (within the default limits), and the
-- quota rows that count them. For `carrierbill verify`'s timing in
-- BENCHMARKS.md; never run it against a database that matters.
\set ON_ERROR_STOP on
SET synchronous_commit = off;
SET maintenance_work_mem = '512MB';
\timing on
\set phones (:n / 10)

INSERT INTO subscribers (msisdn, plan, bill_fen, credit_limit_fen, created_at)
SELECT '+86139' || lpad(p::text, 8, '0'), 'postpaid', 0, 100000000, '2026-10-01 00:00+08'
FROM generate_series(0, :phones - 1) p;

-- payment i: phone i % phones, its (i / phones)-th payment, two days apart.
CREATE TEMP TABLE pay AS
SELECT i + 1 AS id, '+86139' || lpad((i % :phones)::text, 8, '0') AS msisdn,
       '800' || (1 + i % 5)::text AS merchant, (100 + (i % 5) * 100)::bigint AS amount,
       timestamptz '2026-11-01 00:00:00+08' + ((i / :phones) * 2) * interval '1 day' + ((i::bigint * 7919) % 80000) * interval '1 second' AS at
FROM generate_series(0, :n - 1) i;

-- Loading 10M rows through the secondary indexes of the big tables is
-- random I/O for hours on a shared disk: they are dropped for the load and
-- created again, identical, afterwards (pg_indexes keeps their definitions).
CREATE TEMP TABLE saved_idx AS
SELECT indexname, indexdef FROM pg_indexes i
WHERE schemaname = current_schema() AND tablename IN ('mo_inbox', 'orders', 'charges', 'account_debits', 'ledger_entries', 'outbox')
  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname);
DO $$ DECLARE r record; BEGIN
  FOR r IN SELECT indexname FROM saved_idx LOOP EXECUTE 'DROP INDEX ' || quote_ident(r.indexname); END LOOP;
END $$;

INSERT INTO mo_inbox (bind, msisdn, service_addr, body, received_at, processed_at)
SELECT 'b1', msisdn, '10658008' || merchant, '123456', at, at FROM pay ORDER BY id;

INSERT INTO orders (id, msisdn, merchant, product, product_name, amount_fen, method, status, code, service_addr, created_at, expires_at, updated_at)
OVERRIDING SYSTEM VALUE
SELECT id, msisdn, merchant, '', 'open amount', amount, 'phone', 'paid', '123456', '10658008' || merchant, at, at + interval '10 minutes', at
FROM pay ORDER BY id;

INSERT INTO charges (id, order_id, idempotency_key, msisdn, merchant, amount_fen, method, status, created_at, resolved_at)
OVERRIDING SYSTEM VALUE
SELECT id, id, 'order:' || id, msisdn, merchant, amount, 'phone', 'succeeded', at, at FROM pay ORDER BY id;

INSERT INTO account_debits (idempotency_key, msisdn, amount_fen, kind, created_at)
SELECT 'order:' || id, msisdn, amount, 'debit', at FROM pay ORDER BY 'order:' || id;

INSERT INTO ledger_entries (txn, kind, account, merchant, amount_fen, charge_id, created_at)
SELECT 'charge:' || id, 'payment', x.account, merchant, x.amount, id, at
FROM pay, LATERAL (VALUES ('subscriber:phone:' || msisdn, amount), ('merchant:' || merchant || ':payable', -amount)) x(account, amount)
ORDER BY id;

INSERT INTO outbox (msisdn, service_addr, body, kind, order_id, created_at, next_at, attempts, sent_at)
SELECT msisdn, '10658008' || merchant, 'receipt', 'receipt', id, at, at, 1, at FROM pay ORDER BY id;

DO $$ DECLARE r record; BEGIN
  FOR r IN SELECT indexdef FROM saved_idx LOOP EXECUTE r.indexdef; END LOOP;
END $$;

UPDATE subscribers s SET bill_fen = t.s FROM (SELECT msisdn, SUM(amount) AS s FROM pay GROUP BY msisdn) t WHERE t.msisdn = s.msisdn;

INSERT INTO quota (msisdn, method, day, day_spent_fen, month, month_spent_fen, last_charge_at)
WITH d AS (SELECT msisdn, (at AT TIME ZONE 'Asia/Shanghai')::date AS day, amount, at FROM pay),
     l AS (SELECT msisdn, max(day) AS last FROM d GROUP BY msisdn)
SELECT d.msisdn, 'phone', l.last, SUM(d.amount) FILTER (WHERE d.day = l.last), date '2026-11-01', SUM(d.amount), max(d.at)
FROM d JOIN l ON l.msisdn = d.msisdn GROUP BY d.msisdn, l.last;

VACUUM ANALYZE;
