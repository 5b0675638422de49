-- carrierbill schema on SQLite: bank cards bound to phone numbers, and
-- wallets; the translation of billing/postgres/migrations/0020_cards.sql.
-- A card is kept as the bank's token, a keyed fingerprint of the PAN and
-- the masked form; never the PAN.

CREATE TABLE cards (
    id          INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    msisdn      TEXT    NOT NULL,
    bank_token  TEXT    NOT NULL,
    fingerprint BLOB    NOT NULL,
    last4       TEXT    NOT NULL,
    masked      TEXT    NOT NULL,
    status      TEXT    NOT NULL CONSTRAINT cards_status_check CHECK (status IN ('active', 'unbound', 'closed')),
    is_default  INTEGER NOT NULL DEFAULT 0 CONSTRAINT cards_is_default_check CHECK (is_default IN (0, 1)),
    bound_at    INTEGER NOT NULL,
    ended_at    INTEGER,
    CONSTRAINT cards_default_is_active CHECK (is_default = 0 OR status = 'active')
) STRICT;
-- One card, one phone number: at most one active binding per fingerprint.
CREATE UNIQUE INDEX cards_one_phone_per_card ON cards (fingerprint) WHERE status = 'active';
-- At most one default card per phone number.
CREATE UNIQUE INDEX cards_one_default ON cards (msisdn) WHERE is_default = 1;
CREATE INDEX cards_by_msisdn ON cards (msisdn) WHERE status = 'active';

CREATE TABLE wallets (
    msisdn        TEXT    NOT NULL PRIMARY KEY,
    password_hash TEXT    NOT NULL,
    failures      INTEGER NOT NULL DEFAULT 0 CONSTRAINT wallets_failures_check CHECK (failures BETWEEN 0 AND 3),
    locked_at     INTEGER,
    updated_at    INTEGER NOT NULL
) STRICT;
