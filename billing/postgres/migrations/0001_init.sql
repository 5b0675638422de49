-- carrierbill schema, version 1.
-- This schema is a contract shared by billing (engine), settlement (statements,
-- bills, audit) and the bank-card work: add columns and tables in later
-- migrations, never rename. Money is bigint fen. Times are timestamptz.
-- Invariants live here as constraints wherever SQL can say them.

-- Subscribers and their phone accounts (the default phone-account charger).
CREATE TABLE subscribers (
    msisdn           text PRIMARY KEY,
    status           text   NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
    plan             text   NOT NULL DEFAULT 'prepaid' CHECK (plan IN ('prepaid', 'postpaid')),
    balance_fen      bigint NOT NULL DEFAULT 0,           -- prepaid: money left; postpaid: 0
    bill_fen         bigint NOT NULL DEFAULT 0 CHECK (bill_fen >= 0),          -- postpaid: charged this cycle
    credit_limit_fen bigint NOT NULL DEFAULT 0 CHECK (credit_limit_fen >= 0), -- postpaid: bill ceiling
    owner_name       text,                                 -- registered owner (bank-card binding)
    owner_id_hash    bytea,                                -- keyed hash of the owner's ID number
    created_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT subscribers_prepaid_balance CHECK (plan <> 'prepaid' OR balance_fen >= 0),
    CONSTRAINT subscribers_postpaid_bill CHECK (plan <> 'postpaid' OR bill_fen <= credit_limit_fen)
);

-- Debits and refunds the phone-account charger performed, keyed by the
-- charge's idempotency key so a retried debit is answered, not repeated.
CREATE TABLE account_debits (
    idempotency_key text PRIMARY KEY,
    msisdn          text   NOT NULL REFERENCES subscribers (msisdn),
    amount_fen      bigint NOT NULL CHECK (amount_fen > 0),
    kind            text   NOT NULL CHECK (kind IN ('debit', 'refund')),
    created_at      timestamptz NOT NULL
);

-- Every MO, stored before it is acknowledged to the SMSC. Text that carries a
-- password is redacted before it gets here.
CREATE TABLE mo_inbox (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    bind         text NOT NULL,
    msisdn       text NOT NULL,
    service_addr text NOT NULL,
    body         text NOT NULL,
    received_at  timestamptz NOT NULL,
    processed_at timestamptz,
    attempts     int NOT NULL DEFAULT 0
);
CREATE INDEX mo_inbox_unprocessed ON mo_inbox (id) WHERE processed_at IS NULL;

-- Orders: one purchase request, pending until confirmed with its code.
CREATE TABLE orders (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    msisdn        text   NOT NULL,
    merchant      text   NOT NULL,   -- merchant code, e.g. '8001'
    product       text   NOT NULL,   -- product keyword; '' for an open amount
    product_name  text   NOT NULL,   -- as shown to the subscriber and on statements
    amount_fen    bigint NOT NULL CHECK (amount_fen > 0),
    method        text   NOT NULL DEFAULT 'phone' CHECK (method IN ('phone', 'card')),
    card_id       bigint,            -- bank-card payments (later migration adds the table)
    status        text   NOT NULL CHECK (status IN ('pending', 'charging', 'paid', 'failed', 'voided', 'expired', 'refunded')),
    reason        text,              -- stable rejection reason code when failed/voided
    code          text   NOT NULL CHECK (code ~ '^[0-9]{6}$'),
    attempts      int    NOT NULL DEFAULT 0 CHECK (attempts BETWEEN 0 AND 3),
    merchant_ref  text,              -- the merchant's own order reference, if any
    service_addr  text   NOT NULL,   -- where the purchase MO was sent; MTs come from here
    created_at    timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL
);
-- The same phone asking for the same thing while pending gets the same order.
CREATE UNIQUE INDEX orders_one_pending ON orders (msisdn, merchant, product, amount_fen, method) WHERE status = 'pending';
CREATE INDEX orders_pending_by_msisdn ON orders (msisdn) WHERE status = 'pending';
CREATE INDEX orders_expiry ON orders (expires_at) WHERE status = 'pending';

-- Charges: the two-phase external debit of an order. One per order, ever.
-- id is the platform transaction id shown on receipts and statements.
CREATE TABLE charges (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id        bigint NOT NULL UNIQUE REFERENCES orders (id),
    idempotency_key text   NOT NULL UNIQUE,
    msisdn          text   NOT NULL,
    merchant        text   NOT NULL,
    amount_fen      bigint NOT NULL CHECK (amount_fen > 0),
    method          text   NOT NULL CHECK (method IN ('phone', 'card')),
    status          text   NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
    failure_reason  text,
    created_at      timestamptz NOT NULL,   -- quota reserved
    resolved_at     timestamptz,            -- succeeded (the business time of the payment) or failed
    CONSTRAINT charges_resolved CHECK ((status = 'pending') = (resolved_at IS NULL))
);
CREATE INDEX charges_pending ON charges (created_at) WHERE status = 'pending';
CREATE INDEX charges_by_msisdn ON charges (msisdn, resolved_at DESC);
CREATE INDEX charges_by_merchant_day ON charges (merchant, resolved_at) WHERE status = 'succeeded';

-- Refunds: a new entry, never an edit. At most the charge's amount in total
-- (enforced by the engine under the charge's row lock).
CREATE TABLE refunds (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    charge_id       bigint NOT NULL REFERENCES charges (id),
    idempotency_key text   NOT NULL UNIQUE,
    amount_fen      bigint NOT NULL CHECK (amount_fen > 0),
    reason          text   NOT NULL CHECK (reason <> ''),
    created_at      timestamptz NOT NULL
);
CREATE INDEX refunds_by_charge ON refunds (charge_id);

-- Spend quota per phone number and payment method: the row the charge
-- transaction locks (or updates conditionally). day/month are the calendar
-- day and the first day of the calendar month in the operator's time zone.
CREATE TABLE quota (
    msisdn          text   NOT NULL,
    method          text   NOT NULL CHECK (method IN ('phone', 'card')),
    day             date   NOT NULL,
    day_spent_fen   bigint NOT NULL DEFAULT 0 CHECK (day_spent_fen >= 0),
    month           date   NOT NULL,
    month_spent_fen bigint NOT NULL DEFAULT 0 CHECK (month_spent_fen >= 0),
    last_charge_at  timestamptz,  -- the database backstop of the minimum interval
    PRIMARY KEY (msisdn, method),
    CONSTRAINT quota_day_within_month CHECK (day_spent_fen <= month_spent_fen)
);

-- Double-entry ledger, append only. Each transaction (txn) is a set of
-- postings that sums to zero; debit positive, credit negative.
-- Accounts: 'subscriber:phone:<msisdn>', 'subscriber:card:<msisdn>',
-- 'merchant:<code>:payable'.
CREATE TABLE ledger_entries (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    txn        text   NOT NULL,   -- 'charge:<charge id>' or 'refund:<refund id>'
    kind       text   NOT NULL CHECK (kind IN ('payment', 'refund')),
    account    text   NOT NULL,
    merchant   text   NOT NULL,
    amount_fen bigint NOT NULL CHECK (amount_fen <> 0),
    charge_id  bigint NOT NULL REFERENCES charges (id),
    refund_id  bigint REFERENCES refunds (id),
    created_at timestamptz NOT NULL,
    CONSTRAINT ledger_refund_has_refund CHECK ((kind = 'refund') = (refund_id IS NOT NULL))
);
CREATE INDEX ledger_by_txn ON ledger_entries (txn);
CREATE INDEX ledger_by_merchant_time ON ledger_entries (merchant, created_at);

CREATE FUNCTION ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger_entries is append only';
END $$;
CREATE TRIGGER ledger_no_update BEFORE UPDATE OR DELETE ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION ledger_append_only();

-- Outbox: every MT, written in the transaction of the state change that causes
-- it; a sender drains it through the SMPP transport.
CREATE TABLE outbox (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    msisdn        text NOT NULL,
    service_addr  text NOT NULL,
    body          text NOT NULL,
    kind          text NOT NULL,   -- prompt, receipt, reject, query, ...
    order_id      bigint,
    created_at    timestamptz NOT NULL,
    next_at       timestamptz NOT NULL,   -- not before: retry backoff
    attempts      int NOT NULL DEFAULT 0,
    sent_at       timestamptz,
    last_error    text
);
CREATE INDEX outbox_unsent ON outbox (next_at, id) WHERE sent_at IS NULL;

-- Leases for single-run jobs (nightly settlement, recovery sweep).
CREATE TABLE job_leases (
    job         text NOT NULL,
    run_key     text NOT NULL,    -- business date, e.g. '2026-11-20'
    holder      text NOT NULL,
    expires_at  timestamptz NOT NULL,
    done_at     timestamptz,
    PRIMARY KEY (job, run_key)
);
