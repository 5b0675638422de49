-- Settlement (issue 6) on SQLite: the translation of
-- billing/postgres/migrations/0010_settlement.sql. Merchant download keys
-- and the indexes the nightly jobs read by.

CREATE TABLE merchant_keys (
    id         INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    merchant   TEXT    NOT NULL
               CONSTRAINT merchant_keys_merchant_check
               CHECK (length(merchant) BETWEEN 1 AND 64 AND merchant NOT GLOB '*[^A-Za-z0-9_-]*'),
    key_hash   BLOB    NOT NULL
               CONSTRAINT merchant_keys_key_hash_key UNIQUE
               CONSTRAINT merchant_keys_key_hash_check CHECK (length(key_hash) = 32),
    hint       TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
) STRICT;
CREATE INDEX merchant_keys_by_merchant ON merchant_keys (merchant);

CREATE INDEX settlement_charges_succeeded ON charges (resolved_at) WHERE status = 'succeeded';
CREATE INDEX settlement_refunds_by_time ON refunds (created_at);
CREATE INDEX settlement_ledger_by_charge ON ledger_entries (charge_id);
CREATE INDEX settlement_ledger_by_refund ON ledger_entries (refund_id) WHERE refund_id IS NOT NULL;
CREATE INDEX settlement_outbox_by_time ON outbox (created_at) WHERE order_id IS NOT NULL;
