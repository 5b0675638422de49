-- carrierbill schema: operations (issue 16).

-- Refusals the engine answered (a purchase or a confirmation refused with
-- a reason), counted for the operator reports: rejections by reason and
-- limit hits, including refusals that never created an order. Written
-- after the engine's commit by the gateway's observer: a count, never
-- money; no phone number.
CREATE TABLE refusals (
    id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at       timestamptz NOT NULL,
    request  text NOT NULL,   -- purchase, confirm, charge, cancel, reject
    reason   text NOT NULL CHECK (reason <> ''),
    merchant text NOT NULL DEFAULT ''
);
CREATE INDEX refusals_by_at ON refusals (at);

-- The operator's search by number and the reports' period scans.
CREATE INDEX orders_by_msisdn ON orders (msisdn);
CREATE INDEX orders_by_created ON orders (created_at);
