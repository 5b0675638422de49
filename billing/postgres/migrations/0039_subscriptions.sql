-- carrierbill schema: monthly subscriptions (issue 14). A subscription
-- starts in the transaction that pays its first order and moves to its
-- next period in the transaction that pays a renewal (orders with channel
-- 'subscription' and the idempotency key sub:<id>:<date>:<attempt>).
CREATE TABLE subscriptions (
    id              bigserial PRIMARY KEY,
    msisdn          text        NOT NULL,
    merchant        text        NOT NULL,
    product         text        NOT NULL,
    product_name    text        NOT NULL,
    amount_fen      bigint      NOT NULL CHECK (amount_fen > 0),
    method          text        NOT NULL DEFAULT 'phone' CHECK (method IN ('phone', 'card')),
    status          text        NOT NULL CHECK (status IN ('active', 'cancelled', 'lapsed')),
    anchor_day      int         NOT NULL CHECK (anchor_day BETWEEN 1 AND 31),
    next_renewal    text        NOT NULL, -- 2006-01-02, operator's zone
    failures        int         NOT NULL DEFAULT 0 CHECK (failures >= 0),
    attempts        int         NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at timestamptz,
    reminded_for    text        NOT NULL DEFAULT '',
    list_no         int         NOT NULL DEFAULT 0,
    listed_at       timestamptz,
    first_order_id  bigint      NOT NULL UNIQUE REFERENCES orders (id),
    last_order_id   bigint      NOT NULL REFERENCES orders (id),
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    ended_at        timestamptz,
    end_reason      text        NOT NULL DEFAULT ''
);
-- One active subscription per number, merchant and product.
CREATE UNIQUE INDEX subscriptions_one_active ON subscriptions (msisdn, merchant, product) WHERE status = 'active';
-- The renewal job's scan: due dates of active subscriptions.
CREATE INDEX subscriptions_due ON subscriptions (next_renewal) WHERE status = 'active';
CREATE INDEX subscriptions_by_merchant ON subscriptions (merchant, id);
