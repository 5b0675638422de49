package sqlite

import (
	"database/sql"
	"math"
	"time"
)

// Times are stored as INTEGER nanoseconds since the Unix epoch, UTC. They
// sort and compare as numbers and survive a round trip exactly. The zero
// time.Time (which has no int64 nanosecond form) is stored as the smallest
// int64, so it still sorts before every real time and reads back as zero;
// other times outside 1678–2262 are clamped to the ends of the range.

var (
	minTime = time.Unix(0, math.MinInt64+1)
	maxTime = time.Unix(0, math.MaxInt64)
)

// ts converts t for storage.
func ts(t time.Time) int64 {
	switch {
	case t.IsZero():
		return math.MinInt64
	case t.Before(minTime):
		return math.MinInt64 + 1
	case t.After(maxTime):
		return math.MaxInt64
	}
	return t.UnixNano()
}

// nullTS converts t for a nullable column: the zero time is NULL.
func nullTS(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: ts(t), Valid: true}
}

// fromTS converts a stored time back, in UTC.
func fromTS(n int64) time.Time {
	if n == math.MinInt64 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// fromNullTS converts a nullable stored time back: NULL is the zero time.
func fromNullTS(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return fromTS(n.Int64)
}

// EncodeTime is how this database stores t (see above), for the packages
// that keep their own SQL on it (settlement/sqlite): one encoding, never a
// copy of it.
func EncodeTime(t time.Time) int64 { return ts(t) }

// DecodeTime reads back a time EncodeTime stored, in UTC.
func DecodeTime(n int64) time.Time { return fromTS(n) }
