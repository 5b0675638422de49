package merchantkey

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/carrierbill/carrierbill/billing/sqlite"
)

// SQLite is the key store on the embedded store. Writes go through its
// group-commit writer so they never compete with the gateway for the lock.
type SQLite struct{ s *sqlite.Store }

// NewSQLite returns the key store on the open embedded store s.
func NewSQLite(s *sqlite.Store) *SQLite { return &SQLite{s: s} }

var _ Store = (*SQLite)(nil)

// MerchantForKey implements Lookup.
func (st *SQLite) MerchantForKey(ctx context.Context, hash [32]byte) (string, error) {
	var m string
	err := st.s.Reader().QueryRowContext(ctx, `SELECT merchant FROM merchant_keys WHERE key_hash = ? AND revoked_at IS NULL`, hash[:]).Scan(&m)
	if errors.Is(err, sql.ErrNoRows) {
		return "", ErrUnknownKey
	}
	if err != nil {
		return "", fmt.Errorf("looking up a merchant key: %w", err)
	}
	return m, nil
}

// IssueKey implements Store.
func (st *SQLite) IssueKey(ctx context.Context, merchant string, hash [32]byte, hint string, now time.Time) (int64, error) {
	var id int64
	err := st.s.Write(ctx, func(t *sql.Tx) error {
		return t.QueryRowContext(ctx, `INSERT INTO merchant_keys (merchant, key_hash, hint, created_at) VALUES (?, ?, ?, ?) RETURNING id`,
			merchant, hash[:], hint, sqlite.EncodeTime(now)).Scan(&id)
	})
	if err != nil {
		return 0, fmt.Errorf("storing a key for merchant %s: %w", merchant, err)
	}
	return id, nil
}

// RevokeKey implements Store.
func (st *SQLite) RevokeKey(ctx context.Context, id int64, now time.Time) (bool, error) {
	var n int64
	err := st.s.Write(ctx, func(t *sql.Tx) error {
		res, err := t.ExecContext(ctx, `UPDATE merchant_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`, sqlite.EncodeTime(now), id)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return false, fmt.Errorf("revoking key %d: %w", id, err)
	}
	return n == 1, nil
}

// RotateKey implements Store.
func (st *SQLite) RotateKey(ctx context.Context, merchant string, hash [32]byte, hint string, now time.Time) (id int64, revoked int, err error) {
	err = st.s.Write(ctx, func(t *sql.Tx) error {
		if err := t.QueryRowContext(ctx, `INSERT INTO merchant_keys (merchant, key_hash, hint, created_at) VALUES (?, ?, ?, ?) RETURNING id`,
			merchant, hash[:], hint, sqlite.EncodeTime(now)).Scan(&id); err != nil {
			return err
		}
		res, err := t.ExecContext(ctx, `UPDATE merchant_keys SET revoked_at = ? WHERE merchant = ? AND id <> ? AND revoked_at IS NULL`,
			sqlite.EncodeTime(now), merchant, id)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		revoked = int(n)
		return err
	})
	if err != nil {
		return 0, 0, fmt.Errorf("rotating the keys of merchant %s: %w", merchant, err)
	}
	return id, revoked, nil
}

// ListKeys implements Store.
func (st *SQLite) ListKeys(ctx context.Context, merchant string) ([]KeyInfo, error) {
	rows, err := st.s.Reader().QueryContext(ctx, `SELECT id, merchant, hint, created_at, revoked_at FROM merchant_keys
 WHERE ?1 = '' OR merchant = ?1 ORDER BY merchant, id`, merchant)
	if err != nil {
		return nil, fmt.Errorf("listing merchant keys: %w", err)
	}
	defer rows.Close()
	var out []KeyInfo
	for rows.Next() {
		var k KeyInfo
		var created int64
		var revoked sql.NullInt64
		if err := rows.Scan(&k.ID, &k.Merchant, &k.Hint, &created, &revoked); err != nil {
			return nil, fmt.Errorf("listing merchant keys: %w", err)
		}
		k.CreatedAt = sqlite.DecodeTime(created)
		if revoked.Valid {
			r := sqlite.DecodeTime(revoked.Int64)
			k.RevokedAt = &r
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing merchant keys: %w", err)
	}
	return out, nil
}
