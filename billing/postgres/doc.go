// Package postgres is billing's production store on PostgreSQL through pgx v5:
// embedded, numbered migrations (Migrate), and the implementation of the
// billing store and the phone-account charger.
//
// It stores; it never decides. Every rule of the business lives in package
// billing, once, and this package only runs the SQL billing asks for, inside
// the transactions billing opens. Constraints in the schema back the
// invariants (no second charge per order, non-negative quota, append-only
// ledger) so that a bug in the engine fails loudly instead of losing money.
package postgres
