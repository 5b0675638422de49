-- carrierbill schema on SQLite: the translation of
-- billing/postgres/migrations/0021_mo_sealed.sql. The sealed original of an
-- MO that carried a wallet password, cleared when the MO is processed.

ALTER TABLE mo_inbox ADD COLUMN sealed BLOB;

-- MTs that carry a secret (kind 'secret') are scrubbed once sent.
CREATE INDEX outbox_secret ON outbox (id) WHERE kind = 'secret';
