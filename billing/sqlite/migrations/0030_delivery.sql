-- carrierbill schema on SQLite: the translation of
-- billing/postgres/migrations/0030_delivery.sql. Delivery receipts matched
-- to MTs: the message id of each part of a sent MT, and the receipts that
-- matched no part yet.

CREATE TABLE outbox_parts (
    outbox_id   INTEGER NOT NULL REFERENCES outbox (id) ON DELETE CASCADE,
    part        INTEGER NOT NULL,
    bind        TEXT    NOT NULL,
    message_id  TEXT    NOT NULL,
    state       TEXT,
    err         TEXT,
    done_at     INTEGER,
    CONSTRAINT outbox_parts_pkey PRIMARY KEY (outbox_id, part),
    CONSTRAINT outbox_parts_part_positive CHECK (part >= 1),
    CONSTRAINT outbox_parts_message_id_set CHECK (message_id <> '')
) STRICT;
CREATE INDEX outbox_parts_message_id ON outbox_parts (message_id);

CREATE TABLE unmatched_receipts (
    id           INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    bind         TEXT    NOT NULL,
    message_id   TEXT    NOT NULL,
    hex_id       TEXT,
    dec_id       TEXT,
    state        TEXT    NOT NULL,
    err          TEXT    NOT NULL,
    received_at  INTEGER NOT NULL
) STRICT;
CREATE INDEX unmatched_receipts_message_id ON unmatched_receipts (message_id);
CREATE INDEX unmatched_receipts_hex_id ON unmatched_receipts (hex_id) WHERE hex_id IS NOT NULL;
CREATE INDEX unmatched_receipts_dec_id ON unmatched_receipts (dec_id) WHERE dec_id IS NOT NULL;
CREATE INDEX unmatched_receipts_received ON unmatched_receipts (received_at);

CREATE INDEX outbox_by_order ON outbox (order_id) WHERE order_id IS NOT NULL;
