-- carrierbill schema: one subscriber, one number (issue 18.2), and sealed
-- secret MTs (issue 18.3).
--
-- 1. Every stored phone number is rewritten to the canonical form of
--    package msisdn, E.164 with a plus ("+8613511112222"), read as
--    msisdn.DefaultPlan reads a number of unknown TON (+86, national prefix
--    0, international prefix 00, 11-digit national numbers): "13511112222",
--    "013511112222", "8613511112222" and "008613511112222" all become
--    "+8613511112222". A value that cannot be a number is left as it is (it
--    can never be charged again). msisdn_test.go in billing/postgres checks
--    this SQL against msisdn.Normalize.
--    Where spellings of one number had rows under one unique key, they are
--    merged:
--    - quota: the spend of the latest day and of the latest month are added
--      up (a row of an older day or month adds nothing to them, as it would
--      have been reset); the latest last_charge_at is kept;
--    - subscribers: balances and bills are added up (no fen lost), the
--      credit limit is the highest one (and never below the merged bill),
--      suspended wins, the plan and the registered owner are the canonical
--      spelling's row's (else the latest opened one's);
--    - wallets: the most recently updated password is kept, with the
--      strictest lockout;
--    - cards: one default card per number (the latest bound);
--    - orders: one pending order per (number, merchant, product, amount,
--      method): the older duplicates expire.
--    The ledger's subscriber accounts ("subscriber:phone:<msisdn>",
--    "subscriber:card:<msisdn>") are renamed the same way: the ledger stays
--    append only for the application, and its amounts are untouched.
-- 2. outbox.sealed holds a secret MT (the initial wallet password) sealed
--    with wallet.Sealer; its body is only a placeholder.

CREATE TEMP TABLE msisdn_map ON COMMIT DROP AS
WITH raw(old) AS (
    SELECT msisdn FROM subscribers UNION SELECT msisdn FROM account_debits
    UNION SELECT msisdn FROM mo_inbox UNION SELECT msisdn FROM orders
    UNION SELECT msisdn FROM charges UNION SELECT msisdn FROM quota
    UNION SELECT msisdn FROM outbox UNION SELECT msisdn FROM cards
    UNION SELECT msisdn FROM wallets
    UNION SELECT substr(account, length('subscriber:phone:') + 1) FROM ledger_entries WHERE account LIKE 'subscriber:phone:%'
    UNION SELECT substr(account, length('subscriber:card:') + 1) FROM ledger_entries WHERE account LIKE 'subscriber:card:%'
), s1 AS (
    SELECT old, btrim(old, E' \t\n\r') AS s FROM raw WHERE length(old) <= 64
), s2 AS (
    SELECT old, left(s, 1) = '+' AS plus,
           translate(CASE WHEN left(s, 1) = '+' THEN substr(s, 2) ELSE s END, ' -.()', '') AS b
    FROM s1
), s3 AS (
    SELECT old, CASE
        WHEN b = '' OR b ~ '[^0-9]' THEN NULL
        WHEN plus THEN b
        WHEN b LIKE '00%' THEN substr(b, 3)
        WHEN b LIKE '0%' THEN '86' || substr(b, 2)
        WHEN length(b) = 11 THEN '86' || b
        WHEN b LIKE '86%' THEN b
        ELSE '86' || b
    END AS d
    FROM s2
), s4 AS (
    SELECT old, CASE
        WHEN d IS NULL OR d LIKE '0%' THEN NULL
        WHEN d LIKE '86%' THEN CASE WHEN length(d) = 13 THEN '+' || d END
        WHEN length(d) BETWEEN 7 AND 15 THEN '+' || d
    END AS canon
    FROM s3
)
SELECT old, canon FROM s4 WHERE canon IS NOT NULL AND canon <> old;
CREATE UNIQUE INDEX ON msisdn_map (old);

-- Plain columns.
UPDATE mo_inbox t SET msisdn = m.canon FROM msisdn_map m WHERE t.msisdn = m.old;
UPDATE charges t SET msisdn = m.canon FROM msisdn_map m WHERE t.msisdn = m.old;
UPDATE outbox t SET msisdn = m.canon FROM msisdn_map m WHERE t.msisdn = m.old;

-- Orders: one pending order per number, merchant, product, amount, method.
UPDATE orders o SET status = 'expired', updated_at = now()
WHERE o.status = 'pending' AND EXISTS (
    SELECT 1 FROM orders p
    WHERE p.status = 'pending' AND p.id > o.id
      AND COALESCE((SELECT canon FROM msisdn_map WHERE old = p.msisdn), p.msisdn)
        = COALESCE((SELECT canon FROM msisdn_map WHERE old = o.msisdn), o.msisdn)
      AND p.merchant = o.merchant AND p.product = o.product AND p.amount_fen = o.amount_fen AND p.method = o.method);
UPDATE orders t SET msisdn = m.canon FROM msisdn_map m WHERE t.msisdn = m.old;

-- Cards: one default card per number, the latest bound.
UPDATE cards c SET is_default = 0
WHERE c.is_default = 1 AND EXISTS (
    SELECT 1 FROM cards d
    WHERE d.is_default = 1 AND d.id <> c.id
      AND COALESCE((SELECT canon FROM msisdn_map WHERE old = d.msisdn), d.msisdn)
        = COALESCE((SELECT canon FROM msisdn_map WHERE old = c.msisdn), c.msisdn)
      AND (d.bound_at > c.bound_at OR (d.bound_at = c.bound_at AND d.id > c.id)));
UPDATE cards t SET msisdn = m.canon FROM msisdn_map m WHERE t.msisdn = m.old;

-- Quota: the spend of one day (and of one month) under several spellings
-- is added up.
CREATE TEMP TABLE quota_merged ON COMMIT DROP AS
WITH qk AS (
    SELECT q.*, COALESCE(m.canon, q.msisdn) AS canon
    FROM quota q LEFT JOIN msisdn_map m ON m.old = q.msisdn
    WHERE COALESCE(m.canon, q.msisdn) IN (SELECT canon FROM msisdn_map)
), latest AS (
    SELECT canon, method, max(day) AS day, max(month) AS month FROM qk GROUP BY canon, method
)
SELECT l.canon AS msisdn, l.method, l.day,
       COALESCE(SUM(CASE WHEN qk.day = l.day THEN qk.day_spent_fen END), 0)::bigint AS day_spent_fen,
       l.month,
       COALESCE(SUM(CASE WHEN qk.month = l.month THEN qk.month_spent_fen END), 0)::bigint AS month_spent_fen,
       max(qk.last_charge_at) AS last_charge_at
FROM latest l JOIN qk ON qk.canon = l.canon AND qk.method = l.method
GROUP BY l.canon, l.method, l.day, l.month;
DELETE FROM quota WHERE msisdn IN (SELECT old FROM msisdn_map) OR msisdn IN (SELECT canon FROM msisdn_map);
INSERT INTO quota (msisdn, method, day, day_spent_fen, month, month_spent_fen, last_charge_at)
SELECT msisdn, method, day, day_spent_fen, month, month_spent_fen, last_charge_at FROM quota_merged;

-- Wallets: the latest password, the strictest lockout.
CREATE TEMP TABLE wallets_merged ON COMMIT DROP AS
WITH wk AS (
    SELECT w.*, COALESCE(m.canon, w.msisdn) AS canon
    FROM wallets w LEFT JOIN msisdn_map m ON m.old = w.msisdn
    WHERE COALESCE(m.canon, w.msisdn) IN (SELECT canon FROM msisdn_map)
)
SELECT canon AS msisdn,
       (array_agg(password_hash ORDER BY updated_at DESC, msisdn = canon DESC))[1] AS password_hash,
       max(failures) AS failures, max(locked_at) AS locked_at, max(updated_at) AS updated_at
FROM wk GROUP BY canon;
DELETE FROM wallets WHERE msisdn IN (SELECT old FROM msisdn_map) OR msisdn IN (SELECT canon FROM msisdn_map);
INSERT INTO wallets (msisdn, password_hash, failures, locked_at, updated_at)
SELECT msisdn, password_hash, failures, locked_at, updated_at FROM wallets_merged;

-- Subscribers (account_debits refers to them): the merged row is written
-- under the canonical number first, the debits follow, the old rows go.
CREATE TEMP TABLE subscribers_merged ON COMMIT DROP AS
WITH sk AS (
    SELECT s.*, COALESCE(m.canon, s.msisdn) AS canon
    FROM subscribers s LEFT JOIN msisdn_map m ON m.old = s.msisdn
    WHERE COALESCE(m.canon, s.msisdn) IN (SELECT canon FROM msisdn_map)
)
SELECT canon AS msisdn,
       CASE WHEN bool_or(status = 'suspended') THEN 'suspended' ELSE 'active' END AS status,
       (array_agg(plan ORDER BY msisdn = canon DESC, created_at DESC))[1] AS plan,
       SUM(balance_fen)::bigint AS balance_fen,
       SUM(bill_fen)::bigint AS bill_fen,
       GREATEST(max(credit_limit_fen), SUM(bill_fen))::bigint AS credit_limit_fen,
       (array_agg(owner_name ORDER BY owner_name IS NULL AND owner_id_hash IS NULL, msisdn = canon DESC, created_at DESC))[1] AS owner_name,
       (array_agg(owner_id_hash ORDER BY owner_name IS NULL AND owner_id_hash IS NULL, msisdn = canon DESC, created_at DESC))[1] AS owner_id_hash,
       min(created_at) AS created_at
FROM sk GROUP BY canon;
INSERT INTO subscribers (msisdn, status, plan, balance_fen, bill_fen, credit_limit_fen, owner_name, owner_id_hash, created_at)
SELECT msisdn, status, plan, balance_fen, bill_fen, credit_limit_fen, owner_name, owner_id_hash, created_at FROM subscribers_merged
ON CONFLICT (msisdn) DO UPDATE SET status = EXCLUDED.status, plan = EXCLUDED.plan, balance_fen = EXCLUDED.balance_fen,
    bill_fen = EXCLUDED.bill_fen, credit_limit_fen = EXCLUDED.credit_limit_fen, owner_name = EXCLUDED.owner_name,
    owner_id_hash = EXCLUDED.owner_id_hash, created_at = EXCLUDED.created_at;
UPDATE account_debits t SET msisdn = m.canon FROM msisdn_map m WHERE t.msisdn = m.old;
DELETE FROM subscribers WHERE msisdn IN (SELECT old FROM msisdn_map);

-- The ledger's subscriber accounts.
ALTER TABLE ledger_entries DISABLE TRIGGER ledger_no_update;
UPDATE ledger_entries t SET account = 'subscriber:phone:' || m.canon FROM msisdn_map m WHERE t.account = 'subscriber:phone:' || m.old;
UPDATE ledger_entries t SET account = 'subscriber:card:' || m.canon FROM msisdn_map m WHERE t.account = 'subscriber:card:' || m.old;
ALTER TABLE ledger_entries ENABLE TRIGGER ledger_no_update;

DROP TABLE msisdn_map, quota_merged, wallets_merged, subscribers_merged;

-- 2. Sealed secret MTs.
ALTER TABLE outbox ADD COLUMN sealed bytea;
