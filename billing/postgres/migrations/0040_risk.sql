-- carrierbill schema: the risk rules (issue 15, billing/risk.go).

-- Every decision a rule took (a flag, a fresh code, a hold, a block, a
-- block-list refusal): the rule, the action, what it saw, when. A hold's
-- decision also records how the operator resolved it. Written in the
-- payment's transaction; never a code, never a number in the evidence.
CREATE TABLE risk_decisions (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          timestamptz NOT NULL,
    stage       text        NOT NULL CHECK (stage <> ''),
    rule        text        NOT NULL CHECK (rule <> ''),
    action      text        NOT NULL CHECK (action IN ('allow', 'fresh_code', 'hold', 'block')),
    evidence    text        NOT NULL DEFAULT '',
    msisdn      text        NOT NULL,
    merchant    text        NOT NULL DEFAULT '',
    order_id    bigint      REFERENCES orders (id), -- NULL at the purchase stage
    amount_fen  bigint      NOT NULL DEFAULT 0 CHECK (amount_fen >= 0),
    resolution  text        NOT NULL DEFAULT '' CHECK (resolution IN ('', 'released', 'refused', 'expired')),
    resolved_by text        NOT NULL DEFAULT '',
    resolved_at timestamptz,
    CONSTRAINT risk_decisions_resolved CHECK ((resolution = '') = (resolved_at IS NULL)),
    CONSTRAINT risk_decisions_resolution_of_hold CHECK (resolution = '' OR action = 'hold')
);
-- The daily report's and the console's period scans.
CREATE INDEX risk_decisions_by_at ON risk_decisions (at);
CREATE INDEX risk_decisions_by_msisdn ON risk_decisions (msisdn, at);
CREATE INDEX risk_decisions_by_merchant ON risk_decisions (merchant, at);
-- An order's holds (the newest one is released or refused), and the holds
-- still waiting for an operator.
CREATE INDEX risk_decisions_holds ON risk_decisions (order_id, id) WHERE action = 'hold';
CREATE INDEX risk_decisions_waiting ON risk_decisions (at) WHERE action = 'hold' AND resolution = '';

-- The operator's block and allow lists: a number, a number prefix or a
-- merchant, until a time (NULL: until removed). Removing an entry ends it
-- (until = now); ended entries stay as history.
CREATE TABLE risk_lists (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    list       text        NOT NULL CHECK (list IN ('block', 'allow')),
    subject    text        NOT NULL CHECK (subject IN ('number', 'prefix', 'merchant')),
    value      text        NOT NULL CHECK (value <> ''),
    until      timestamptz,
    note       text        NOT NULL DEFAULT '',
    created_by text        NOT NULL,
    created_at timestamptz NOT NULL
);
-- Every purchase and confirmation looks its number, the number's prefixes
-- and its merchant up here (RiskListed).
CREATE INDEX risk_lists_by_value ON risk_lists (subject, value);
-- One entry without an end per list, subject and value. An entry with an
-- end is active until then, which an index cannot say: AddRiskListEntry
-- checks that under a lock (billing.ErrRiskListEntryExists either way).
CREATE UNIQUE INDEX risk_lists_one_active ON risk_lists (list, subject, value) WHERE until IS NULL;

-- Orders: when the current code was prompted (NULL: at creation), how many
-- fresh codes a rule asked for, and the status held (waiting for an
-- operator; never expired by the sweep, which takes only pending orders).
ALTER TABLE orders ADD COLUMN prompted_at timestamptz;
ALTER TABLE orders ADD COLUMN fresh_codes int NOT NULL DEFAULT 0 CHECK (fresh_codes >= 0);
ALTER TABLE orders DROP CONSTRAINT orders_status_check;
ALTER TABLE orders ADD CONSTRAINT orders_status_check
    CHECK (status IN ('pending', 'charging', 'paid', 'failed', 'voided', 'expired', 'refunded', 'held'));
CREATE INDEX orders_held ON orders (id) WHERE status = 'held';
