-- carrierbill schema: monthly subscriptions (issue 14). Same shape as
-- billing/postgres/migrations/0039_subscriptions.sql.
CREATE TABLE subscriptions (
    id              INTEGER NOT NULL PRIMARY KEY,
    msisdn          TEXT    NOT NULL,
    merchant        TEXT    NOT NULL,
    product         TEXT    NOT NULL,
    product_name    TEXT    NOT NULL,
    amount_fen      INTEGER NOT NULL CONSTRAINT subscriptions_amount_fen_check CHECK (amount_fen > 0),
    method          TEXT    NOT NULL DEFAULT 'phone' CONSTRAINT subscriptions_method_check CHECK (method IN ('phone', 'card')),
    status          TEXT    NOT NULL CONSTRAINT subscriptions_status_check CHECK (status IN ('active', 'cancelled', 'lapsed')),
    anchor_day      INTEGER NOT NULL CONSTRAINT subscriptions_anchor_day_check CHECK (anchor_day BETWEEN 1 AND 31),
    next_renewal    TEXT    NOT NULL,
    failures        INTEGER NOT NULL DEFAULT 0 CONSTRAINT subscriptions_failures_check CHECK (failures >= 0),
    attempts        INTEGER NOT NULL DEFAULT 0 CONSTRAINT subscriptions_attempts_check CHECK (attempts >= 0),
    next_attempt_at INTEGER,
    reminded_for    TEXT    NOT NULL DEFAULT '',
    list_no         INTEGER NOT NULL DEFAULT 0,
    listed_at       INTEGER,
    first_order_id  INTEGER NOT NULL CONSTRAINT subscriptions_first_order_id_key UNIQUE REFERENCES orders (id),
    last_order_id   INTEGER NOT NULL REFERENCES orders (id),
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    ended_at        INTEGER,
    end_reason      TEXT    NOT NULL DEFAULT ''
) STRICT;
CREATE UNIQUE INDEX subscriptions_one_active ON subscriptions (msisdn, merchant, product) WHERE status = 'active';
CREATE INDEX subscriptions_due ON subscriptions (next_renewal) WHERE status = 'active';
CREATE INDEX subscriptions_by_merchant ON subscriptions (merchant, id);
