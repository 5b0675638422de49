// Package billing is the heart of carrierbill: orders, confirmation codes,
// spend limits and frequency rules, two-phase charging, refunds, the
// double-entry ledger and the outbox of MTs.
//
// Every channel (SMS, USSD, the merchant API, replay) drives one Engine; the
// engine decides and the stores only store (Store, Tx). Money is int64 fen
// (Money); time comes from an injected clock.Clock; logs come from an
// injected *slog.Logger.
//
// This package must never talk to a transport or a database driver directly,
// never charge without an idempotency key, never consume quota outside the
// charge transaction, and never log a phone number in clear, a
// confirmation code or a password.
package billing
