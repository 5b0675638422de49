// Package settlement produces what merchants are paid from and what the
// operator is checked against: the nightly per-merchant statements (对账单),
// the daily and monthly settlement bills, the monthly carrier audit, and the
// HTTP server merchants download their files from.
//
// It reads the ledger only through the Source interface (a consistent,
// read-only snapshot that streams ordered rows), claims each job run through
// a Leases row so several gateway processes run a night's job once, and
// writes every file atomically (temporary name, fsync, rename, directory
// fsync) with a .sha256 beside it. Business days and months are calendar
// periods in the operator's *time.Location.
//
// # Rounding
//
// There is exactly one rounding step, applied once per bill: the operator's
// revenue share is computed on the period's net sales (payments minus
// refunds of the period) as net × basis points / 10000, rounded half away
// from zero to the fen. Everything else is exact integer fen arithmetic.
// A monthly bill is computed from the month's totals, never by adding daily
// bills, so its share is rounded once too.
//
// This package must never write to the ledger or any billing table, never
// print a phone number in clear (statements and logs carry 138****0001),
// never serve one merchant another merchant's file, and never publish a file
// whose totals differ from the ledger: a mismatch fails the job loudly.
package settlement
