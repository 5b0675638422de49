-- carrierbill schema: the merchant API (issue 13). Same shape as
-- billing/postgres/migrations/0034_merchant_api.sql.

CREATE TABLE api_payments (
    order_id          INTEGER NOT NULL PRIMARY KEY REFERENCES orders (id),
    merchant          TEXT    NOT NULL,
    kind              TEXT    NOT NULL CONSTRAINT api_payments_kind_check CHECK (kind IN ('one_step', 'two_step')),
    client_correlator TEXT,
    reference_code    TEXT    NOT NULL CONSTRAINT api_payments_reference_code_check CHECK (reference_code <> ''),
    request_hash      TEXT    NOT NULL,
    request           TEXT    NOT NULL,
    sink              TEXT,
    sink_token        TEXT,
    created_at        INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX api_payments_correlator ON api_payments (merchant, client_correlator) WHERE client_correlator IS NOT NULL;
CREATE UNIQUE INDEX api_payments_reference ON api_payments (merchant, reference_code);
CREATE INDEX api_payments_by_merchant_created ON api_payments (merchant, created_at);

CREATE TABLE api_refunds (
    refund_id         INTEGER NOT NULL PRIMARY KEY REFERENCES refunds (id),
    order_id          INTEGER NOT NULL REFERENCES api_payments (order_id),
    merchant          TEXT    NOT NULL,
    kind              TEXT    NOT NULL CONSTRAINT api_refunds_kind_check CHECK (kind IN ('total', 'partial')),
    client_correlator TEXT,
    reference_code    TEXT    NOT NULL CONSTRAINT api_refunds_reference_code_check CHECK (reference_code <> ''),
    request_hash      TEXT    NOT NULL,
    request           TEXT    NOT NULL,
    reason            TEXT    NOT NULL,
    sink              TEXT,
    sink_token        TEXT,
    created_at        INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX api_refunds_correlator ON api_refunds (merchant, client_correlator) WHERE client_correlator IS NOT NULL;
CREATE UNIQUE INDEX api_refunds_reference ON api_refunds (merchant, reference_code);
CREATE INDEX api_refunds_by_order ON api_refunds (order_id, refund_id);

CREATE TABLE notifications (
    id           INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    event_id     TEXT    NOT NULL CONSTRAINT notifications_event_id_key UNIQUE,
    merchant     TEXT    NOT NULL,
    order_id     INTEGER,
    sink         TEXT    NOT NULL,
    sink_token   TEXT,
    body         TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    next_at      INTEGER NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0 CONSTRAINT notifications_attempts_check CHECK (attempts >= 0),
    delivered_at INTEGER,
    failed_at    INTEGER,
    last_error   TEXT
) STRICT;
CREATE INDEX notifications_due ON notifications (next_at, id) WHERE delivered_at IS NULL AND failed_at IS NULL;
CREATE INDEX notifications_by_order ON notifications (order_id, id);
