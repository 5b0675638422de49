-- carrierbill schema: the typed engine API (issue 10) and the code guard
-- (issue 18.1). Same shape as billing/postgres/migrations/0032_engine_api.sql.

ALTER TABLE orders ADD COLUMN channel TEXT NOT NULL DEFAULT 'sms';
ALTER TABLE orders ADD COLUMN idempotency_key TEXT;
ALTER TABLE orders ADD COLUMN request_hash TEXT;
CREATE UNIQUE INDEX orders_idempotency_key ON orders (idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX orders_by_merchant_ref ON orders (merchant, merchant_ref) WHERE merchant_ref IS NOT NULL;

CREATE TABLE code_guard (
    msisdn      TEXT    NOT NULL PRIMARY KEY,
    hour        TEXT    NOT NULL DEFAULT '',
    hour_count  INTEGER NOT NULL DEFAULT 0 CONSTRAINT code_guard_hour_count_check CHECK (hour_count >= 0),
    day         TEXT    NOT NULL DEFAULT '',
    day_count   INTEGER NOT NULL DEFAULT 0 CONSTRAINT code_guard_day_count_check CHECK (day_count >= 0),
    month       TEXT    NOT NULL DEFAULT '',
    month_count INTEGER NOT NULL DEFAULT 0 CONSTRAINT code_guard_month_count_check CHECK (month_count >= 0)
) STRICT;
