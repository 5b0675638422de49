// Package sqlite is billing's embedded store on SQLite through
// modernc.org/sqlite (pure Go, no cgo): the zero-setup default when no
// PostgreSQL is configured, and a durable single-node store for small
// operators and labs.
//
// It stores; it never decides. Every rule of the business lives in package
// billing, once; this package runs the SQL billing asks for inside the
// transactions billing opens, and the schema's constraints back the
// invariants so that a bug in the engine fails loudly instead of losing money.
//
// Durability and concurrency. The database is opened in WAL mode with
// synchronous=FULL (a transaction that returned from commit survives a crash
// or a power cut), foreign_keys=ON and a busy timeout. All writes go through
// one connection whose transactions begin with BEGIN IMMEDIATE: writers are
// serialized in this process by the connection and across processes (a
// `carrierbill refund` next to `serve`) by SQLite's write lock, so every
// read-check-write in a transaction is atomic exactly as it is under a
// Postgres row lock. Transactions waiting together share one commit (group
// commit, commit.go): each runs in its own SAVEPOINT and fails alone, and
// none is reported committed before the group's fsync. Reads outside a
// write transaction (settlement's snapshots, account lookups) run on a
// separate read-only pool and never wait for the writer. Never open a write
// transaction from inside another one (InTx inside InTx, or a Charger call
// inside InTx): the single writer would wait for itself.
//
// Schema. migrations/ is the translation of billing/postgres/migrations
// (same tables, columns, constraint and index names; a test fails on drift).
// Times are INTEGER nanoseconds since the Unix epoch, UTC (sortable, exact,
// years 1678 to 2262); calendar dates are TEXT 'YYYY-MM-DD'; money is INTEGER
// fen. Tables are STRICT, so a value of the wrong type is an error.
//
// The package also carries the phone-account charger (Accounts).
// settlement/sqlite keeps settlement's SQL on the same file through Write,
// Reader and the time encoding (EncodeTime), so the embedded gateway needs
// no other database.
//
// This package must never hold business rules, never log a phone number,
// code or password in clear, and never be opened on a path that another
// non-SQLite program writes.
package sqlite
