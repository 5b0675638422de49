package sqlite

import (
	"database/sql"
	"time"
)

// Times are stored as INTEGER nanoseconds since the Unix epoch, UTC. They
// sort and compare as numbers, and survive a round trip exactly.

// ts converts t for storage.
func ts(t time.Time) int64 { return t.UnixNano() }

// nullTS converts t for a nullable column: the zero time is NULL.
func nullTS(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixNano(), Valid: true}
}

// fromTS converts a stored time back, in UTC.
func fromTS(n int64) time.Time { return time.Unix(0, n).UTC() }

// fromNullTS converts a nullable stored time back: NULL is the zero time.
func fromNullTS(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return fromTS(n.Int64)
}
