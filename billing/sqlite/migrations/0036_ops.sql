-- carrierbill schema: operations (issue 16). Same shape as
-- billing/postgres/migrations/0036_ops.sql.

CREATE TABLE refusals (
    id       INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    at       INTEGER NOT NULL,
    request  TEXT    NOT NULL,
    reason   TEXT    NOT NULL CONSTRAINT refusals_reason_check CHECK (reason <> ''),
    merchant TEXT    NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX refusals_by_at ON refusals (at);

CREATE INDEX orders_by_msisdn ON orders (msisdn);
CREATE INDEX orders_by_created ON orders (created_at);
