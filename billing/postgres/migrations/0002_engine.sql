-- carrierbill schema, version 2: what the billing engine needs beyond v1.

-- MO claims are leased: a worker that dies lets its MO go when the lease ends.
ALTER TABLE mo_inbox ADD COLUMN lease_until timestamptz;
-- The head of each number's queue is found through this index.
CREATE INDEX mo_inbox_pending_by_msisdn ON mo_inbox (msisdn, id) WHERE processed_at IS NULL;

-- Confirmation matches a code against a number's recent orders.
CREATE INDEX orders_by_msisdn_created ON orders (msisdn, created_at DESC);

-- Debit keys the phone-account charger has declared never debited (Status
-- answered "none"): a later debit with such a key is refused, so recovery's
-- answer is final.
CREATE TABLE account_closed_keys (
    idempotency_key text PRIMARY KEY,
    closed_at       timestamptz NOT NULL
);
