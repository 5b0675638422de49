package merchantkey

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Postgres is the key store on PostgreSQL.
type Postgres struct{ pool *pgxpool.Pool }

// NewPostgres returns the key store on pool (migrated by billing/postgres).
func NewPostgres(pool *pgxpool.Pool) *Postgres { return &Postgres{pool: pool} }

var _ Store = (*Postgres)(nil)

// MerchantForKey implements Lookup.
func (s *Postgres) MerchantForKey(ctx context.Context, hash [32]byte) (string, error) {
	var m string
	err := s.pool.QueryRow(ctx, `SELECT merchant FROM merchant_keys WHERE key_hash = $1 AND revoked_at IS NULL`, hash[:]).Scan(&m)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", ErrUnknownKey
	}
	if err != nil {
		return "", fmt.Errorf("looking up a merchant key: %w", err)
	}
	return m, nil
}

// IssueKey implements Store.
func (s *Postgres) IssueKey(ctx context.Context, merchant string, hash [32]byte, hint string, now time.Time) (int64, error) {
	var id int64
	err := s.pool.QueryRow(ctx, `INSERT INTO merchant_keys (merchant, key_hash, hint, created_at) VALUES ($1, $2, $3, $4) RETURNING id`,
		merchant, hash[:], hint, now).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("storing a key for merchant %s: %w", merchant, err)
	}
	return id, nil
}

// RevokeKey implements Store.
func (s *Postgres) RevokeKey(ctx context.Context, id int64, now time.Time) (bool, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE merchant_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL`, id, now)
	if err != nil {
		return false, fmt.Errorf("revoking key %d: %w", id, err)
	}
	return tag.RowsAffected() == 1, nil
}

// RotateKey implements Store.
func (s *Postgres) RotateKey(ctx context.Context, merchant string, hash [32]byte, hint string, now time.Time) (id int64, revoked int, err error) {
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `INSERT INTO merchant_keys (merchant, key_hash, hint, created_at) VALUES ($1, $2, $3, $4) RETURNING id`,
			merchant, hash[:], hint, now).Scan(&id); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `UPDATE merchant_keys SET revoked_at = $3 WHERE merchant = $1 AND id <> $2 AND revoked_at IS NULL`, merchant, id, now)
		revoked = int(tag.RowsAffected())
		return err
	})
	if err != nil {
		return 0, 0, fmt.Errorf("rotating the keys of merchant %s: %w", merchant, err)
	}
	return id, revoked, nil
}

// ListKeys implements Store.
func (s *Postgres) ListKeys(ctx context.Context, merchant string) ([]KeyInfo, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, merchant, hint, created_at, revoked_at FROM merchant_keys
 WHERE $1::text = '' OR merchant = $1::text ORDER BY merchant, id`, merchant)
	if err != nil {
		return nil, fmt.Errorf("listing merchant keys: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (KeyInfo, error) {
		var k KeyInfo
		err := r.Scan(&k.ID, &k.Merchant, &k.Hint, &k.CreatedAt, &k.RevokedAt)
		return k, err
	})
	if err != nil {
		return nil, fmt.Errorf("listing merchant keys: %w", err)
	}
	return out, nil
}
