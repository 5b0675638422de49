// Package wallet keeps the secrets of bank-card payments: the subscriber's
// 6-digit wallet password (argon2id hashing with a per-record salt and a
// server-side pepper, generation, policy, lockout), the keyed fingerprints
// that stand in for card and ID numbers (HMAC-SHA256, so one card binds to
// one phone number without the PAN being stored), the Luhn check at
// binding, and the redaction of MO texts that carry a password before they
// are stored or logged (RedactMO), with the parser of those texts.
//
// The formats of the password-carrying MOs are documented in
// the README (Bank cards) and on ParseMO.
//
// This package must never store, log or return in clear a password, a card
// number or an ID number it was handed (only hashes, fingerprints, masked
// forms and sealed boxes), and never compare secrets in variable time.
package wallet
