-- carrierbill schema: the typed engine API (issue 10) and the code guard
-- (issue 18.1).

-- Which channel created an order, and the idempotency key (with a
-- fingerprint of the request) it was created with: the same key with
-- another request is a conflict, never a second order.
ALTER TABLE orders ADD COLUMN channel text NOT NULL DEFAULT 'sms';
ALTER TABLE orders ADD COLUMN idempotency_key text;
ALTER TABLE orders ADD COLUMN request_hash text;
CREATE UNIQUE INDEX orders_idempotency_key ON orders (idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX orders_by_merchant_ref ON orders (merchant, merchant_ref) WHERE merchant_ref IS NOT NULL;

-- Wrong confirmation codes per number, across its orders, in the current
-- clock hour, calendar day and calendar month of the operator's zone.
CREATE TABLE code_guard (
    msisdn      text PRIMARY KEY,
    hour        text NOT NULL DEFAULT '',
    hour_count  int  NOT NULL DEFAULT 0 CHECK (hour_count >= 0),
    day         text NOT NULL DEFAULT '',
    day_count   int  NOT NULL DEFAULT 0 CHECK (day_count >= 0),
    month       text NOT NULL DEFAULT '',
    month_count int  NOT NULL DEFAULT 0 CHECK (month_count >= 0)
);
