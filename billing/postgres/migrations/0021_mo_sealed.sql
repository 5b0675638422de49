-- carrierbill schema: the sealed original of an MO that carried a wallet
-- password. mo_inbox.body holds the redacted text (wallet.RedactMO); the
-- original, encrypted with the gateway's key (wallet.Sealer, AES-256-GCM),
-- waits here until the MO is processed and is cleared in that transaction.
-- The password is never stored in clear.

ALTER TABLE mo_inbox ADD COLUMN sealed bytea;

-- MTs that carry a secret (the initial wallet password, kind 'secret') are
-- scrubbed once sent; this finds the few waiting without scanning the outbox.
CREATE INDEX outbox_secret ON outbox (id) WHERE kind = 'secret';
