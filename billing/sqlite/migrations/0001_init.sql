-- carrierbill schema, version 1, on SQLite: the translation of
-- billing/postgres/migrations/0001_init.sql. Same tables, same columns, same
-- constraint and index names wherever SQLite can name them. A test
-- (TestSchemaMatchesPostgres) fails if the two drift apart.
--
-- Translation rules:
--   bigint/int       -> INTEGER (tables are STRICT: a text in an amount column is an error)
--   money            -> INTEGER fen, as in Postgres
--   timestamptz      -> INTEGER, nanoseconds since the Unix epoch, UTC
--                       (sortable, exact, compares with < and BETWEEN)
--   date             -> TEXT 'YYYY-MM-DD', checked to be a real calendar date
--   bytea            -> BLOB
--   identity         -> INTEGER PRIMARY KEY AUTOINCREMENT (ids never reused)
--   column CHECKs    -> named as Postgres names them (<table>_<column>_check)
--   plpgsql trigger  -> BEFORE UPDATE / BEFORE DELETE triggers that RAISE(ABORT)

-- Subscribers and their phone accounts (the default phone-account charger).
CREATE TABLE subscribers (
    msisdn           TEXT    NOT NULL PRIMARY KEY,
    status           TEXT    NOT NULL DEFAULT 'active'
                     CONSTRAINT subscribers_status_check CHECK (status IN ('active', 'suspended')),
    plan             TEXT    NOT NULL DEFAULT 'prepaid'
                     CONSTRAINT subscribers_plan_check CHECK (plan IN ('prepaid', 'postpaid')),
    balance_fen      INTEGER NOT NULL DEFAULT 0,
    bill_fen         INTEGER NOT NULL DEFAULT 0
                     CONSTRAINT subscribers_bill_fen_check CHECK (bill_fen >= 0),
    credit_limit_fen INTEGER NOT NULL DEFAULT 0
                     CONSTRAINT subscribers_credit_limit_fen_check CHECK (credit_limit_fen >= 0),
    owner_name       TEXT,
    owner_id_hash    BLOB,
    created_at       INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000 AS INTEGER) * 1000000),
    CONSTRAINT subscribers_prepaid_balance CHECK (plan <> 'prepaid' OR balance_fen >= 0),
    CONSTRAINT subscribers_postpaid_bill CHECK (plan <> 'postpaid' OR bill_fen <= credit_limit_fen)
) STRICT;

-- Debits and refunds the phone-account charger performed, keyed by the
-- charge's idempotency key so a retried debit is answered, not repeated.
CREATE TABLE account_debits (
    idempotency_key TEXT    NOT NULL PRIMARY KEY,
    msisdn          TEXT    NOT NULL REFERENCES subscribers (msisdn),
    amount_fen      INTEGER NOT NULL
                    CONSTRAINT account_debits_amount_fen_check CHECK (amount_fen > 0),
    kind            TEXT    NOT NULL
                    CONSTRAINT account_debits_kind_check CHECK (kind IN ('debit', 'refund')),
    created_at      INTEGER NOT NULL
) STRICT;

-- Every MO, stored before it is acknowledged to the SMSC.
CREATE TABLE mo_inbox (
    id           INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    bind         TEXT    NOT NULL,
    msisdn       TEXT    NOT NULL,
    service_addr TEXT    NOT NULL,
    body         TEXT    NOT NULL,
    received_at  INTEGER NOT NULL,
    processed_at INTEGER,
    attempts     INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX mo_inbox_unprocessed ON mo_inbox (id) WHERE processed_at IS NULL;

-- Orders: one purchase request, pending until confirmed with its code.
CREATE TABLE orders (
    id            INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    msisdn        TEXT    NOT NULL,
    merchant      TEXT    NOT NULL,
    product       TEXT    NOT NULL,
    product_name  TEXT    NOT NULL,
    amount_fen    INTEGER NOT NULL
                  CONSTRAINT orders_amount_fen_check CHECK (amount_fen > 0),
    method        TEXT    NOT NULL DEFAULT 'phone'
                  CONSTRAINT orders_method_check CHECK (method IN ('phone', 'card')),
    card_id       INTEGER,
    status        TEXT    NOT NULL
                  CONSTRAINT orders_status_check CHECK (status IN ('pending', 'charging', 'paid', 'failed', 'voided', 'expired', 'refunded')),
    reason        TEXT,
    code          TEXT    NOT NULL
                  CONSTRAINT orders_code_check CHECK (length(code) = 6 AND code NOT GLOB '*[^0-9]*'),
    attempts      INTEGER NOT NULL DEFAULT 0
                  CONSTRAINT orders_attempts_check CHECK (attempts BETWEEN 0 AND 3),
    merchant_ref  TEXT,
    service_addr  TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX orders_one_pending ON orders (msisdn, merchant, product, amount_fen, method) WHERE status = 'pending';
CREATE INDEX orders_pending_by_msisdn ON orders (msisdn) WHERE status = 'pending';
CREATE INDEX orders_expiry ON orders (expires_at) WHERE status = 'pending';

-- Charges: the two-phase external debit of an order. One per order, ever.
CREATE TABLE charges (
    id              INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    order_id        INTEGER NOT NULL
                    CONSTRAINT charges_order_id_key UNIQUE
                    REFERENCES orders (id),
    idempotency_key TEXT    NOT NULL
                    CONSTRAINT charges_idempotency_key_key UNIQUE,
    msisdn          TEXT    NOT NULL,
    merchant        TEXT    NOT NULL,
    amount_fen      INTEGER NOT NULL
                    CONSTRAINT charges_amount_fen_check CHECK (amount_fen > 0),
    method          TEXT    NOT NULL
                    CONSTRAINT charges_method_check CHECK (method IN ('phone', 'card')),
    status          TEXT    NOT NULL
                    CONSTRAINT charges_status_check CHECK (status IN ('pending', 'succeeded', 'failed')),
    failure_reason  TEXT,
    created_at      INTEGER NOT NULL,
    resolved_at     INTEGER,
    CONSTRAINT charges_resolved CHECK ((status = 'pending') = (resolved_at IS NULL))
) STRICT;
CREATE INDEX charges_pending ON charges (created_at) WHERE status = 'pending';
CREATE INDEX charges_by_msisdn ON charges (msisdn, resolved_at DESC);
CREATE INDEX charges_by_merchant_day ON charges (merchant, resolved_at) WHERE status = 'succeeded';

-- Refunds: a new entry, never an edit.
CREATE TABLE refunds (
    id              INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    charge_id       INTEGER NOT NULL REFERENCES charges (id),
    idempotency_key TEXT    NOT NULL
                    CONSTRAINT refunds_idempotency_key_key UNIQUE,
    amount_fen      INTEGER NOT NULL
                    CONSTRAINT refunds_amount_fen_check CHECK (amount_fen > 0),
    reason          TEXT    NOT NULL
                    CONSTRAINT refunds_reason_check CHECK (reason <> ''),
    created_at      INTEGER NOT NULL
) STRICT;
CREATE INDEX refunds_by_charge ON refunds (charge_id);

-- Spend quota per phone number and payment method. day/month are the
-- calendar day and the first day of the calendar month in the operator's
-- time zone, as 'YYYY-MM-DD'.
CREATE TABLE quota (
    msisdn          TEXT    NOT NULL,
    method          TEXT    NOT NULL
                    CONSTRAINT quota_method_check CHECK (method IN ('phone', 'card')),
    day             TEXT    NOT NULL
                    CONSTRAINT quota_day_is_date CHECK (date(day) IS day),
    day_spent_fen   INTEGER NOT NULL DEFAULT 0
                    CONSTRAINT quota_day_spent_fen_check CHECK (day_spent_fen >= 0),
    month           TEXT    NOT NULL
                    CONSTRAINT quota_month_is_date CHECK (date(month) IS month),
    month_spent_fen INTEGER NOT NULL DEFAULT 0
                    CONSTRAINT quota_month_spent_fen_check CHECK (month_spent_fen >= 0),
    last_charge_at  INTEGER,
    CONSTRAINT quota_pkey PRIMARY KEY (msisdn, method),
    CONSTRAINT quota_day_within_month CHECK (day_spent_fen <= month_spent_fen)
) STRICT;

-- Double-entry ledger, append only. Each txn sums to zero; debit positive,
-- credit negative.
CREATE TABLE ledger_entries (
    id         INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    txn        TEXT    NOT NULL,
    kind       TEXT    NOT NULL
               CONSTRAINT ledger_entries_kind_check CHECK (kind IN ('payment', 'refund')),
    account    TEXT    NOT NULL,
    merchant   TEXT    NOT NULL,
    amount_fen INTEGER NOT NULL
               CONSTRAINT ledger_entries_amount_fen_check CHECK (amount_fen <> 0),
    charge_id  INTEGER NOT NULL REFERENCES charges (id),
    refund_id  INTEGER REFERENCES refunds (id),
    created_at INTEGER NOT NULL,
    CONSTRAINT ledger_refund_has_refund CHECK ((kind = 'refund') = (refund_id IS NOT NULL))
) STRICT;
CREATE INDEX ledger_by_txn ON ledger_entries (txn);
CREATE INDEX ledger_by_merchant_time ON ledger_entries (merchant, created_at);

CREATE TRIGGER ledger_no_update BEFORE UPDATE ON ledger_entries
BEGIN
    SELECT RAISE(ABORT, 'ledger_entries is append only');
END;
CREATE TRIGGER ledger_no_delete BEFORE DELETE ON ledger_entries
BEGIN
    SELECT RAISE(ABORT, 'ledger_entries is append only');
END;

-- Outbox: every MT, written in the transaction of the state change that
-- causes it; a sender drains it through the SMPP transport.
CREATE TABLE outbox (
    id            INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    msisdn        TEXT    NOT NULL,
    service_addr  TEXT    NOT NULL,
    body          TEXT    NOT NULL,
    kind          TEXT    NOT NULL,
    order_id      INTEGER,
    created_at    INTEGER NOT NULL,
    next_at       INTEGER NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    sent_at       INTEGER,
    last_error    TEXT
) STRICT;
CREATE INDEX outbox_unsent ON outbox (next_at, id) WHERE sent_at IS NULL;

-- Leases for single-run jobs (nightly settlement, recovery sweep).
CREATE TABLE job_leases (
    job         TEXT    NOT NULL,
    run_key     TEXT    NOT NULL,
    holder      TEXT    NOT NULL,
    expires_at  INTEGER NOT NULL,
    done_at     INTEGER,
    CONSTRAINT job_leases_pkey PRIMARY KEY (job, run_key)
) STRICT;
