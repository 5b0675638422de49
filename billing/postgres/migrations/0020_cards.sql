-- carrierbill schema: bank cards bound to phone numbers, and wallets.
-- A card is kept as the bank's token, a keyed fingerprint of the PAN
-- (HMAC-SHA256, enforces one card one phone) and the masked form; never the
-- PAN. A wallet holds the argon2id hash of the 6-digit wallet password and
-- its lockout state.

CREATE TABLE cards (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    msisdn      text    NOT NULL,
    bank_token  text    NOT NULL,
    fingerprint bytea   NOT NULL,
    last4       text    NOT NULL,
    masked      text    NOT NULL,
    status      text    NOT NULL CONSTRAINT cards_status_check CHECK (status IN ('active', 'unbound', 'closed')),
    is_default  integer NOT NULL DEFAULT 0 CONSTRAINT cards_is_default_check CHECK (is_default IN (0, 1)),
    bound_at    timestamptz NOT NULL,
    ended_at    timestamptz,   -- unbound or closed
    CONSTRAINT cards_default_is_active CHECK (is_default = 0 OR status = 'active')
);
-- One card, one phone number: at most one active binding per fingerprint.
CREATE UNIQUE INDEX cards_one_phone_per_card ON cards (fingerprint) WHERE status = 'active';
-- At most one default card per phone number.
CREATE UNIQUE INDEX cards_one_default ON cards (msisdn) WHERE is_default = 1;
CREATE INDEX cards_by_msisdn ON cards (msisdn) WHERE status = 'active';

CREATE TABLE wallets (
    msisdn        text PRIMARY KEY,
    password_hash text NOT NULL,   -- $argon2id$v=19$m=...,t=...,p=...$salt$key
    failures      int  NOT NULL DEFAULT 0 CONSTRAINT wallets_failures_check CHECK (failures BETWEEN 0 AND 3),
    locked_at     timestamptz,
    updated_at    timestamptz NOT NULL
);
