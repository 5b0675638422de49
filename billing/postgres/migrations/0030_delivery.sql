-- carrierbill schema: delivery receipts matched to MTs (issue 10).
--
-- outbox_parts keeps the SMSC's message id of each part of a sent MT,
-- normalized (billing.NormalizeMessageID: upper case, no leading zeros), and
-- the state its last receipt reported. unmatched_receipts keeps a receipt
-- that matched no part yet (it arrived before its submit_sm_resp was
-- processed) under each form its id may take (billing.KeysOf); recording
-- the part's id consumes it.

CREATE TABLE outbox_parts (
    outbox_id   bigint NOT NULL REFERENCES outbox (id) ON DELETE CASCADE,
    part        int NOT NULL,
    bind        text NOT NULL,
    message_id  text NOT NULL,
    state       text,            -- DELIVRD, UNDELIV, ...; NULL until a receipt arrives
    err         text,
    done_at     timestamptz,     -- when the receipt that set state arrived
    PRIMARY KEY (outbox_id, part),
    CONSTRAINT outbox_parts_part_positive CHECK (part >= 1),
    CONSTRAINT outbox_parts_message_id_set CHECK (message_id <> '')
);
CREATE INDEX outbox_parts_message_id ON outbox_parts (message_id);

CREATE TABLE unmatched_receipts (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    bind         text NOT NULL,
    message_id   text NOT NULL,   -- the id as received, normalized
    hex_id       text,            -- a decimal id written in hex
    dec_id       text,            -- a hex id written in decimal
    state        text NOT NULL,
    err          text NOT NULL,
    received_at  timestamptz NOT NULL
);
CREATE INDEX unmatched_receipts_message_id ON unmatched_receipts (message_id);
CREATE INDEX unmatched_receipts_hex_id ON unmatched_receipts (hex_id) WHERE hex_id IS NOT NULL;
CREATE INDEX unmatched_receipts_dec_id ON unmatched_receipts (dec_id) WHERE dec_id IS NOT NULL;
CREATE INDEX unmatched_receipts_received ON unmatched_receipts (received_at);

-- An order lookup lists the MTs of one order.
CREATE INDEX outbox_by_order ON outbox (order_id) WHERE order_id IS NOT NULL;
