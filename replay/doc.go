// Package replay runs recorded SMS traffic (package trace: JSON lines,
// Kannel access logs, pcap/pcapng captures of an SMPP link) through the real
// billing engine, for `carrierbill replay`.
//
// Offline (Run) it builds a throwaway billing.Engine: the embedded SQLite
// store in a temporary directory (or a scratch schema on PostgreSQL when
// Options.DatabaseURL is set), the Redis frequency-rule limiter on an
// in-process miniredis, and a clock.Fake that follows the trace's timestamps,
// so calendar days and months of the operator's time zone, code expiry and
// the minimum interval behave as they did on the recorded day. Multipart MOs
// go through smpp.Reassembler as on a live link. Each MO is handled
// synchronously (Engine.Process, as a channel calling the engine directly),
// the outbox is drained into a recorder
// after it, and every event (mt, charge, reject, expire) is written as one
// JSON line. The confirmation codes come from a generator seeded by
// Options.Seed, so the same trace with the same options gives byte-identical
// output.
//
// When an Account has a card, offline replay also wires bank-card payments:
// a bank/banksim simulated bank, the card store of the throwaway store, and
// fixed throwaway card secrets (card key, password pepper, sealing key) and
// cheap argon2id parameters — nothing they protect leaves the temporary
// store. The cards are bound before the first message, with the wallet
// password of the account, which the trace writes as {{password}}.
//
// Live (Live) it drives a running gateway through the SMSC simulator's HTTP
// control endpoint (smpp/smsc Server.Handler) at the recorded pace, a
// multiple of it, or a fixed rate, and measures MO → MT latency.
//
// This package must never write to a store it did not create (offline uses a
// fresh file or a fresh schema and removes it), never read the wall clock in
// offline mode, and never print a phone number or a code in clear when asked
// to redact, nor a PAN or a wallet password ever.
package replay
