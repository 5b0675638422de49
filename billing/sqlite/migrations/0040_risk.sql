-- carrierbill schema: the risk rules (issue 15). Same shape as
-- billing/postgres/migrations/0040_risk.sql (read its comments).
--
-- SQLite cannot alter a CHECK constraint, so orders is rebuilt to allow the
-- status 'held' and take its two new columns: copied aside, dropped, created
-- again under its own name, filled back with the same ids, its sequence and
-- indexes restored. charges, api_payments and subscriptions refer to orders:
-- the drop deletes their parents for a moment, so foreign keys are deferred
-- to the commit (the migration's transaction; the pragma ends with it), by
-- which time every parent is back: refilling a parent settles the violations
-- its drop counted, and a violation left would fail the commit.

PRAGMA defer_foreign_keys = ON;

CREATE TEMP TABLE orders_0040 AS SELECT * FROM orders;
CREATE TEMP TABLE orders_0040_seq AS SELECT seq FROM sqlite_sequence WHERE name = 'orders';
DROP TABLE orders;

CREATE TABLE orders (
    id              INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    msisdn          TEXT    NOT NULL,
    merchant        TEXT    NOT NULL,
    product         TEXT    NOT NULL,
    product_name    TEXT    NOT NULL,
    amount_fen      INTEGER NOT NULL
                    CONSTRAINT orders_amount_fen_check CHECK (amount_fen > 0),
    method          TEXT    NOT NULL DEFAULT 'phone'
                    CONSTRAINT orders_method_check CHECK (method IN ('phone', 'card')),
    card_id         INTEGER,
    status          TEXT    NOT NULL
                    CONSTRAINT orders_status_check CHECK (status IN ('pending', 'charging', 'paid', 'failed', 'voided', 'expired', 'refunded', 'held')),
    reason          TEXT,
    code            TEXT    NOT NULL
                    CONSTRAINT orders_code_check CHECK (length(code) = 6 AND code NOT GLOB '*[^0-9]*'),
    attempts        INTEGER NOT NULL DEFAULT 0
                    CONSTRAINT orders_attempts_check CHECK (attempts BETWEEN 0 AND 3),
    merchant_ref    TEXT,
    service_addr    TEXT    NOT NULL,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    channel         TEXT    NOT NULL DEFAULT 'sms',
    idempotency_key TEXT,
    request_hash    TEXT,
    prompted_at     INTEGER,
    fresh_codes     INTEGER NOT NULL DEFAULT 0
                    CONSTRAINT orders_fresh_codes_check CHECK (fresh_codes >= 0)
) STRICT;

INSERT INTO orders (id, msisdn, merchant, product, product_name, amount_fen, method, card_id, status, reason, code,
    attempts, merchant_ref, service_addr, created_at, expires_at, updated_at, channel, idempotency_key, request_hash)
SELECT id, msisdn, merchant, product, product_name, amount_fen, method, card_id, status, reason, code,
    attempts, merchant_ref, service_addr, created_at, expires_at, updated_at, channel, idempotency_key, request_hash
FROM temp.orders_0040 ORDER BY id;
-- The sequence never goes back, even past the ids of orders never stored.
UPDATE sqlite_sequence SET seq = max(seq, (SELECT seq FROM temp.orders_0040_seq))
WHERE name = 'orders' AND EXISTS (SELECT 1 FROM temp.orders_0040_seq);
INSERT INTO sqlite_sequence (name, seq)
SELECT 'orders', seq FROM temp.orders_0040_seq WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'orders');
DROP TABLE temp.orders_0040;
DROP TABLE temp.orders_0040_seq;

CREATE UNIQUE INDEX orders_one_pending ON orders (msisdn, merchant, product, amount_fen, method) WHERE status = 'pending';
CREATE INDEX orders_pending_by_msisdn ON orders (msisdn) WHERE status = 'pending';
CREATE INDEX orders_expiry ON orders (expires_at) WHERE status = 'pending';
CREATE INDEX orders_by_msisdn_created ON orders (msisdn, created_at DESC);
CREATE UNIQUE INDEX orders_idempotency_key ON orders (idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX orders_by_merchant_ref ON orders (merchant, merchant_ref) WHERE merchant_ref IS NOT NULL;
CREATE INDEX orders_by_msisdn ON orders (msisdn);
CREATE INDEX orders_by_created ON orders (created_at);
CREATE INDEX orders_held ON orders (id) WHERE status = 'held';

CREATE TABLE risk_decisions (
    id          INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    at          INTEGER NOT NULL,
    stage       TEXT    NOT NULL CONSTRAINT risk_decisions_stage_check CHECK (stage <> ''),
    rule        TEXT    NOT NULL CONSTRAINT risk_decisions_rule_check CHECK (rule <> ''),
    action      TEXT    NOT NULL CONSTRAINT risk_decisions_action_check CHECK (action IN ('allow', 'fresh_code', 'hold', 'block')),
    evidence    TEXT    NOT NULL DEFAULT '',
    msisdn      TEXT    NOT NULL,
    merchant    TEXT    NOT NULL DEFAULT '',
    order_id    INTEGER REFERENCES orders (id),
    amount_fen  INTEGER NOT NULL DEFAULT 0 CONSTRAINT risk_decisions_amount_fen_check CHECK (amount_fen >= 0),
    resolution  TEXT    NOT NULL DEFAULT '' CONSTRAINT risk_decisions_resolution_check CHECK (resolution IN ('', 'released', 'refused', 'expired')),
    resolved_by TEXT    NOT NULL DEFAULT '',
    resolved_at INTEGER,
    CONSTRAINT risk_decisions_resolved CHECK ((resolution = '') = (resolved_at IS NULL)),
    CONSTRAINT risk_decisions_resolution_of_hold CHECK (resolution = '' OR action = 'hold')
) STRICT;
CREATE INDEX risk_decisions_by_at ON risk_decisions (at);
CREATE INDEX risk_decisions_by_msisdn ON risk_decisions (msisdn, at);
CREATE INDEX risk_decisions_by_merchant ON risk_decisions (merchant, at);
CREATE INDEX risk_decisions_holds ON risk_decisions (order_id, id) WHERE action = 'hold';
CREATE INDEX risk_decisions_waiting ON risk_decisions (at) WHERE action = 'hold' AND resolution = '';

CREATE TABLE risk_lists (
    id         INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    list       TEXT    NOT NULL CONSTRAINT risk_lists_list_check CHECK (list IN ('block', 'allow')),
    subject    TEXT    NOT NULL CONSTRAINT risk_lists_subject_check CHECK (subject IN ('number', 'prefix', 'merchant')),
    value      TEXT    NOT NULL CONSTRAINT risk_lists_value_check CHECK (value <> ''),
    until      INTEGER,
    note       TEXT    NOT NULL DEFAULT '',
    created_by TEXT    NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX risk_lists_by_value ON risk_lists (subject, value);
CREATE UNIQUE INDEX risk_lists_one_active ON risk_lists (list, subject, value) WHERE until IS NULL;
