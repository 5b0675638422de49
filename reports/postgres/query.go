package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"
)

var pgxTxOptions = pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}

// collect runs a "key, count" query over [from, to) and hands each row to fn.
func collect(ctx context.Context, query func(context.Context, string, ...any) (pgx.Rows, error), sql string, from, to any, fn func(string, int64)) error {
	rows, err := query(ctx, sql, from, to)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var k string
		var n int64
		if err := rows.Scan(&k, &n); err != nil {
			return err
		}
		fn(k, n)
	}
	return rows.Err()
}
