-- carrierbill schema, version 2, on SQLite: the translation of
-- billing/postgres/migrations/0002_engine.sql.

-- MO claims are leased: a worker that dies lets its MO go when the lease ends.
ALTER TABLE mo_inbox ADD COLUMN lease_until INTEGER;
-- The head of each number's queue is found through this index.
CREATE INDEX mo_inbox_pending_by_msisdn ON mo_inbox (msisdn, id) WHERE processed_at IS NULL;

-- Confirmation matches a code against a number's recent orders.
CREATE INDEX orders_by_msisdn_created ON orders (msisdn, created_at DESC);

-- Debit keys the phone-account charger has declared never debited.
CREATE TABLE account_closed_keys (
    idempotency_key TEXT    NOT NULL PRIMARY KEY,
    closed_at       INTEGER NOT NULL
) STRICT;
