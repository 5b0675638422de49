-- carrierbill schema: one subscriber, one number (issue 18.2), and sealed
-- secret MTs (issue 18.3). The same change as billing/postgres's
-- 0031_msisdn_canonical.sql (read its header for the rules of the merge), in
-- SQLite's dialect: no array_agg (correlated subqueries pick the row), and
-- the ledger's append-only trigger is dropped and created again around the
-- renaming of its subscriber accounts.

CREATE TEMP TABLE msisdn_map AS
WITH raw(old) AS (
    SELECT msisdn FROM subscribers UNION SELECT msisdn FROM account_debits
    UNION SELECT msisdn FROM mo_inbox UNION SELECT msisdn FROM orders
    UNION SELECT msisdn FROM charges UNION SELECT msisdn FROM quota
    UNION SELECT msisdn FROM outbox UNION SELECT msisdn FROM cards
    UNION SELECT msisdn FROM wallets
    UNION SELECT substr(account, length('subscriber:phone:') + 1) FROM ledger_entries WHERE account LIKE 'subscriber:phone:%'
    UNION SELECT substr(account, length('subscriber:card:') + 1) FROM ledger_entries WHERE account LIKE 'subscriber:card:%'
), s1 AS (
    SELECT old, trim(old, ' ' || char(9) || char(10) || char(13)) AS s FROM raw WHERE length(old) <= 64
), s2 AS (
    SELECT old, substr(s, 1, 1) = '+' AS plus,
           replace(replace(replace(replace(replace(
               CASE WHEN substr(s, 1, 1) = '+' THEN substr(s, 2) ELSE s END,
               ' ', ''), '-', ''), '.', ''), '(', ''), ')', '') AS b
    FROM s1
), s3 AS (
    SELECT old, CASE
        WHEN b = '' OR b GLOB '*[^0-9]*' THEN NULL
        WHEN plus THEN b
        WHEN b GLOB '00*' THEN substr(b, 3)
        WHEN b GLOB '0*' THEN '86' || substr(b, 2)
        WHEN length(b) = 11 THEN '86' || b
        WHEN b GLOB '86*' THEN b
        ELSE '86' || b
    END AS d
    FROM s2
), s4 AS (
    SELECT old, CASE
        WHEN d IS NULL OR d GLOB '0*' THEN NULL
        WHEN d GLOB '86*' THEN CASE WHEN length(d) = 13 THEN '+' || d END
        WHEN length(d) BETWEEN 7 AND 15 THEN '+' || d
    END AS canon
    FROM s3
)
SELECT old, canon FROM s4 WHERE canon IS NOT NULL AND canon <> old;
CREATE UNIQUE INDEX temp.msisdn_map_old ON msisdn_map (old);

-- Plain columns.
UPDATE mo_inbox SET msisdn = (SELECT canon FROM msisdn_map WHERE old = mo_inbox.msisdn) WHERE msisdn IN (SELECT old FROM msisdn_map);
UPDATE charges SET msisdn = (SELECT canon FROM msisdn_map WHERE old = charges.msisdn) WHERE msisdn IN (SELECT old FROM msisdn_map);
UPDATE outbox SET msisdn = (SELECT canon FROM msisdn_map WHERE old = outbox.msisdn) WHERE msisdn IN (SELECT old FROM msisdn_map);

-- Orders: one pending order per number, merchant, product, amount, method.
UPDATE orders SET status = 'expired', updated_at = CAST(unixepoch('subsec') * 1000 AS INTEGER) * 1000000
WHERE status = 'pending' AND EXISTS (
    SELECT 1 FROM orders p
    WHERE p.status = 'pending' AND p.id > orders.id
      AND COALESCE((SELECT canon FROM msisdn_map WHERE old = p.msisdn), p.msisdn)
        = COALESCE((SELECT canon FROM msisdn_map WHERE old = orders.msisdn), orders.msisdn)
      AND p.merchant = orders.merchant AND p.product = orders.product
      AND p.amount_fen = orders.amount_fen AND p.method = orders.method);
UPDATE orders SET msisdn = (SELECT canon FROM msisdn_map WHERE old = orders.msisdn) WHERE msisdn IN (SELECT old FROM msisdn_map);

-- Cards: one default card per number, the latest bound.
UPDATE cards SET is_default = 0
WHERE is_default = 1 AND EXISTS (
    SELECT 1 FROM cards d
    WHERE d.is_default = 1 AND d.id <> cards.id
      AND COALESCE((SELECT canon FROM msisdn_map WHERE old = d.msisdn), d.msisdn)
        = COALESCE((SELECT canon FROM msisdn_map WHERE old = cards.msisdn), cards.msisdn)
      AND (d.bound_at > cards.bound_at OR (d.bound_at = cards.bound_at AND d.id > cards.id)));
UPDATE cards SET msisdn = (SELECT canon FROM msisdn_map WHERE old = cards.msisdn) WHERE msisdn IN (SELECT old FROM msisdn_map);

-- Quota: the spend of one day (and of one month) under several spellings
-- is added up.
CREATE TEMP TABLE quota_merged AS
WITH qk AS (
    SELECT q.*, COALESCE(m.canon, q.msisdn) AS canon
    FROM quota q LEFT JOIN msisdn_map m ON m.old = q.msisdn
    WHERE COALESCE(m.canon, q.msisdn) IN (SELECT canon FROM msisdn_map)
), latest AS (
    SELECT canon, method, max(day) AS day, max(month) AS month FROM qk GROUP BY canon, method
)
SELECT l.canon AS msisdn, l.method AS method, l.day AS day,
       COALESCE(SUM(CASE WHEN qk.day = l.day THEN qk.day_spent_fen END), 0) AS day_spent_fen,
       l.month AS month,
       COALESCE(SUM(CASE WHEN qk.month = l.month THEN qk.month_spent_fen END), 0) AS month_spent_fen,
       max(qk.last_charge_at) AS last_charge_at
FROM latest l JOIN qk ON qk.canon = l.canon AND qk.method = l.method
GROUP BY l.canon, l.method, l.day, l.month;
DELETE FROM quota WHERE msisdn IN (SELECT old FROM msisdn_map) OR msisdn IN (SELECT canon FROM msisdn_map);
INSERT INTO quota (msisdn, method, day, day_spent_fen, month, month_spent_fen, last_charge_at)
SELECT msisdn, method, day, day_spent_fen, month, month_spent_fen, last_charge_at FROM quota_merged;

-- Wallets: the latest password, the strictest lockout.
CREATE TEMP TABLE wallets_keyed AS
SELECT w.*, COALESCE(m.canon, w.msisdn) AS canon
FROM wallets w LEFT JOIN msisdn_map m ON m.old = w.msisdn
WHERE COALESCE(m.canon, w.msisdn) IN (SELECT canon FROM msisdn_map);
CREATE TEMP TABLE wallets_merged AS
SELECT canon AS msisdn,
       (SELECT password_hash FROM wallets_keyed k WHERE k.canon = g.canon ORDER BY updated_at DESC, msisdn = canon DESC LIMIT 1) AS password_hash,
       max(failures) AS failures, max(locked_at) AS locked_at, max(updated_at) AS updated_at
FROM wallets_keyed g GROUP BY canon;
DELETE FROM wallets WHERE msisdn IN (SELECT old FROM msisdn_map) OR msisdn IN (SELECT canon FROM msisdn_map);
INSERT INTO wallets (msisdn, password_hash, failures, locked_at, updated_at)
SELECT msisdn, password_hash, failures, locked_at, updated_at FROM wallets_merged;

-- Subscribers (account_debits refers to them): the merged row is written
-- under the canonical number first, the debits follow, the old rows go.
CREATE TEMP TABLE subscribers_keyed AS
SELECT s.*, COALESCE(m.canon, s.msisdn) AS canon
FROM subscribers s LEFT JOIN msisdn_map m ON m.old = s.msisdn
WHERE COALESCE(m.canon, s.msisdn) IN (SELECT canon FROM msisdn_map);
CREATE TEMP TABLE subscribers_merged AS
SELECT canon AS msisdn,
       CASE WHEN max(status = 'suspended') THEN 'suspended' ELSE 'active' END AS status,
       (SELECT plan FROM subscribers_keyed k WHERE k.canon = g.canon ORDER BY msisdn = canon DESC, created_at DESC LIMIT 1) AS plan,
       SUM(balance_fen) AS balance_fen,
       SUM(bill_fen) AS bill_fen,
       max(max(credit_limit_fen), SUM(bill_fen)) AS credit_limit_fen,
       (SELECT owner_name FROM subscribers_keyed k WHERE k.canon = g.canon
        ORDER BY owner_name IS NULL AND owner_id_hash IS NULL, msisdn = canon DESC, created_at DESC LIMIT 1) AS owner_name,
       (SELECT owner_id_hash FROM subscribers_keyed k WHERE k.canon = g.canon
        ORDER BY owner_name IS NULL AND owner_id_hash IS NULL, msisdn = canon DESC, created_at DESC LIMIT 1) AS owner_id_hash,
       min(created_at) AS created_at
FROM subscribers_keyed g GROUP BY canon;
INSERT INTO subscribers (msisdn, status, plan, balance_fen, bill_fen, credit_limit_fen, owner_name, owner_id_hash, created_at)
SELECT msisdn, status, plan, balance_fen, bill_fen, credit_limit_fen, owner_name, owner_id_hash, created_at FROM subscribers_merged WHERE true
ON CONFLICT (msisdn) DO UPDATE SET status = excluded.status, plan = excluded.plan, balance_fen = excluded.balance_fen,
    bill_fen = excluded.bill_fen, credit_limit_fen = excluded.credit_limit_fen, owner_name = excluded.owner_name,
    owner_id_hash = excluded.owner_id_hash, created_at = excluded.created_at;
UPDATE account_debits SET msisdn = (SELECT canon FROM msisdn_map WHERE old = account_debits.msisdn) WHERE msisdn IN (SELECT old FROM msisdn_map);
DELETE FROM subscribers WHERE msisdn IN (SELECT old FROM msisdn_map);

-- The ledger's subscriber accounts.
DROP TRIGGER ledger_no_update;
UPDATE ledger_entries SET account = 'subscriber:phone:' || (SELECT canon FROM msisdn_map WHERE 'subscriber:phone:' || old = ledger_entries.account)
WHERE account IN (SELECT 'subscriber:phone:' || old FROM msisdn_map);
UPDATE ledger_entries SET account = 'subscriber:card:' || (SELECT canon FROM msisdn_map WHERE 'subscriber:card:' || old = ledger_entries.account)
WHERE account IN (SELECT 'subscriber:card:' || old FROM msisdn_map);
CREATE TRIGGER ledger_no_update BEFORE UPDATE ON ledger_entries
BEGIN
    SELECT RAISE(ABORT, 'ledger_entries is append only');
END;

DROP TABLE msisdn_map;
DROP TABLE quota_merged;
DROP TABLE wallets_keyed;
DROP TABLE wallets_merged;
DROP TABLE subscribers_keyed;
DROP TABLE subscribers_merged;

-- 2. Sealed secret MTs.
ALTER TABLE outbox ADD COLUMN sealed BLOB;
