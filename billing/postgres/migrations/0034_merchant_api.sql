-- carrierbill schema: the merchant API (issue 13, GSMA CAMARA Carrier
-- Billing v0.5 and Refund v0.3).

-- A payment created through the merchant API: the order it drives and what
-- the merchant sent. clientCorrelator and referenceCode are unique per
-- merchant (idempotency and disputes).
CREATE TABLE api_payments (
    order_id          bigint      PRIMARY KEY REFERENCES orders (id),
    merchant          text        NOT NULL,
    kind              text        NOT NULL CONSTRAINT api_payments_kind_check CHECK (kind IN ('one_step', 'two_step')),
    client_correlator text,
    reference_code    text        NOT NULL CONSTRAINT api_payments_reference_code_check CHECK (reference_code <> ''),
    request_hash      text        NOT NULL,
    request           text        NOT NULL,
    sink              text,
    sink_token        text,
    created_at        timestamptz NOT NULL
);
CREATE UNIQUE INDEX api_payments_correlator ON api_payments (merchant, client_correlator) WHERE client_correlator IS NOT NULL;
CREATE UNIQUE INDEX api_payments_reference ON api_payments (merchant, reference_code);
CREATE INDEX api_payments_by_merchant_created ON api_payments (merchant, created_at);

-- A refund made through the merchant API.
CREATE TABLE api_refunds (
    refund_id         bigint      PRIMARY KEY REFERENCES refunds (id),
    order_id          bigint      NOT NULL REFERENCES api_payments (order_id),
    merchant          text        NOT NULL,
    kind              text        NOT NULL CONSTRAINT api_refunds_kind_check CHECK (kind IN ('total', 'partial')),
    client_correlator text,
    reference_code    text        NOT NULL CONSTRAINT api_refunds_reference_code_check CHECK (reference_code <> ''),
    request_hash      text        NOT NULL,
    request           text        NOT NULL,
    reason            text        NOT NULL,
    sink              text,
    sink_token        text,
    created_at        timestamptz NOT NULL
);
CREATE UNIQUE INDEX api_refunds_correlator ON api_refunds (merchant, client_correlator) WHERE client_correlator IS NOT NULL;
CREATE UNIQUE INDEX api_refunds_reference ON api_refunds (merchant, reference_code);
CREATE INDEX api_refunds_by_order ON api_refunds (order_id, refund_id);

-- The merchant notifications (CloudEvents), written in the transaction of
-- the payment's state change and delivered from here with retries.
CREATE TABLE notifications (
    id           bigserial   PRIMARY KEY,
    event_id     text        NOT NULL CONSTRAINT notifications_event_id_key UNIQUE,
    merchant     text        NOT NULL,
    order_id     bigint,
    sink         text        NOT NULL,
    sink_token   text,
    body         text        NOT NULL,
    created_at   timestamptz NOT NULL,
    next_at      timestamptz NOT NULL,
    attempts     integer     NOT NULL DEFAULT 0 CONSTRAINT notifications_attempts_check CHECK (attempts >= 0),
    delivered_at timestamptz,
    failed_at    timestamptz,
    last_error   text
);
CREATE INDEX notifications_due ON notifications (next_at, id) WHERE delivered_at IS NULL AND failed_at IS NULL;
CREATE INDEX notifications_by_order ON notifications (order_id, id);
