package sqlite

import (
	"errors"
	"strings"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// uniqueNames maps the columns SQLite names in a UNIQUE violation to the
// name Postgres gives the same constraint or index, so that both stores
// translate violations to domain errors through one vocabulary.
var uniqueNames = map[string]string{
	"charges.order_id":        "charges_order_id_key",
	"charges.idempotency_key": "charges_idempotency_key_key",
	"refunds.idempotency_key": "refunds_idempotency_key_key",
	"orders.idempotency_key":  "orders_idempotency_key",
	"orders.msisdn, orders.merchant, orders.product, orders.amount_fen, orders.method": "orders_one_pending",
	"cards.fingerprint":      "cards_one_phone_per_card",
	"cards.msisdn":           "cards_one_default",
	"merchant_keys.key_hash": "merchant_keys_key_hash_key",
}

// constraintName returns the Postgres name of the constraint err violated
// ("orders_one_pending", "charges_order_id_key", "subscribers_pkey",
// "subscribers_prepaid_balance", …), "foreign_key" for a foreign key,
// "append_only" for the ledger's triggers, "datatype" for a value of the
// wrong type in a STRICT table, or "" when err is not a
// constraint violation.
func constraintName(err error) string {
	var se *sqlite.Error
	if !errors.As(err, &se) || se.Code()&0xff != sqlite3.SQLITE_CONSTRAINT {
		return ""
	}
	msg := se.Error()
	after := func(marker string) string {
		_, rest, ok := strings.Cut(msg, marker)
		if !ok {
			return ""
		}
		// modernc appends " (NNNN)", the extended code.
		if i := strings.LastIndex(rest, " ("); i >= 0 && strings.HasSuffix(rest, ")") {
			rest = rest[:i]
		}
		return strings.TrimSpace(rest)
	}
	switch se.Code() {
	case sqlite3.SQLITE_CONSTRAINT_CHECK:
		return after("CHECK constraint failed: ")
	case sqlite3.SQLITE_CONSTRAINT_UNIQUE:
		cols := after("UNIQUE constraint failed: ")
		if n, ok := uniqueNames[cols]; ok {
			return n
		}
		return cols
	case sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
		cols := after("UNIQUE constraint failed: ")
		table, _, _ := strings.Cut(cols, ".")
		return table + "_pkey"
	case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
		return "foreign_key"
	case sqlite3.SQLITE_CONSTRAINT_TRIGGER:
		return "append_only"
	case sqlite3.SQLITE_CONSTRAINT_DATATYPE:
		return "datatype"
	case sqlite3.SQLITE_CONSTRAINT_NOTNULL:
		return "not_null: " + after("NOT NULL constraint failed: ")
	}
	return "constraint"
}

// isBusy reports whether err is SQLite's "database is locked": another
// process held the write lock past the busy timeout.
func isBusy(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && (se.Code()&0xff == sqlite3.SQLITE_BUSY || se.Code()&0xff == sqlite3.SQLITE_LOCKED)
}
