-- Settlement (issue 6): merchant download keys and the indexes the nightly
-- jobs read by. Owned by settlement/; billing never writes merchant_keys.

-- API keys merchants download their statements with. Only the SHA-256 of
-- the key is stored: keys are 256 random bits, so a fast hash is enough
-- (there is nothing to brute-force), and a lookup is one index probe.
CREATE TABLE merchant_keys (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    merchant   text        NOT NULL CHECK (merchant ~ '^[A-Za-z0-9_-]{1,64}$'),
    key_hash   bytea       NOT NULL UNIQUE CHECK (length(key_hash) = 32),
    hint       text        NOT NULL,   -- the key's first characters, to tell keys apart
    created_at timestamptz NOT NULL,
    revoked_at timestamptz
);
CREATE INDEX merchant_keys_by_merchant ON merchant_keys (merchant);

-- A day's payments of every merchant, and the first payment (catch-up).
CREATE INDEX settlement_charges_succeeded ON charges (resolved_at) WHERE status = 'succeeded';
-- A day's refunds.
CREATE INDEX settlement_refunds_by_time ON refunds (created_at);
-- The ledger postings of a charge or refund (the ledger check).
CREATE INDEX settlement_ledger_by_charge ON ledger_entries (charge_id);
CREATE INDEX settlement_ledger_by_refund ON ledger_entries (refund_id) WHERE refund_id IS NOT NULL;
-- MTs of a period (per-message fees).
CREATE INDEX settlement_outbox_by_time ON outbox (created_at) WHERE order_id IS NOT NULL;
