package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/carrierbill/carrierbill/bank"
	"github.com/carrierbill/carrierbill/billing"
)

// Bank-card payments on the engine's transaction: *tx implements
// billing.Tx's card methods and *Store keeps sealed MOs (migrations 0020
// and 0021). A sealed MO box is ciphertext; nothing here ever holds a wallet
// password or a PAN in clear.

const (
	sqlSealedMO      = `SELECT sealed FROM mo_inbox WHERE id = $1::bigint AND processed_at IS NULL`
	sqlClearSealedMO = `UPDATE mo_inbox SET sealed = NULL WHERE id = $1::bigint`
	sqlSetOrderCard  = `UPDATE orders SET card_id = $2::bigint WHERE id = $1::bigint`
	sqlOrderCard     = `SELECT c.id, c.msisdn, c.bank_token, c.fingerprint, c.last4, c.masked, c.status, c.is_default, c.bound_at, c.ended_at
		FROM orders o JOIN cards c ON c.id = o.card_id WHERE o.id = $1::bigint FOR UPDATE OF c`
)

// ScrubSentSecrets implements billing.Store.
func (s *Store) ScrubSentSecrets(ctx context.Context) (int, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE outbox SET body = regexp_replace(body, '[0-9]', '*', 'g'), kind = $2::text, sealed = NULL
		WHERE kind = $1::text AND sent_at IS NOT NULL`, string(billing.OutboxSecret), string(billing.OutboxSecretSent))
	if err != nil {
		return 0, fmt.Errorf("scrubbing sent secret MTs: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

// SealedMO implements billing.Store.
func (s *Store) SealedMO(ctx context.Context, id int64) ([]byte, error) {
	var box []byte
	err := s.pool.QueryRow(ctx, sqlSealedMO, id).Scan(&box)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading sealed MO %d: %w", id, mapErr(err))
	}
	return box, nil
}

func (t *tx) cards() *cardTx { return &cardTx{tx: t.tx} }

// ActiveCards implements billing.Tx.
func (t *tx) ActiveCards(ctx context.Context, msisdn string) ([]billing.Card, error) {
	return t.cards().ActiveCards(ctx, msisdn)
}

// Wallet implements billing.Tx.
func (t *tx) Wallet(ctx context.Context, msisdn string) (billing.Wallet, error) {
	return t.cards().Wallet(ctx, msisdn)
}

// SaveWallet implements billing.Tx.
func (t *tx) SaveWallet(ctx context.Context, w billing.Wallet) error {
	return t.cards().SaveWallet(ctx, w)
}

// UpdateCard implements billing.Tx.
func (t *tx) UpdateCard(ctx context.Context, c billing.Card) error {
	return t.cards().UpdateCard(ctx, c)
}

// SetOrderCard implements billing.Tx.
func (t *tx) SetOrderCard(ctx context.Context, orderID, cardID int64) error {
	tag, err := t.tx.Exec(ctx, sqlSetOrderCard, orderID, cardID)
	if err != nil {
		return mapErr(err)
	}
	if tag.RowsAffected() == 0 {
		return billing.ErrNotFound
	}
	return nil
}

// OrderCard implements billing.Tx.
func (t *tx) OrderCard(ctx context.Context, orderID int64) (billing.Card, error) {
	rows, err := t.tx.Query(ctx, sqlOrderCard, orderID)
	if err != nil {
		return billing.Card{}, mapErr(err)
	}
	c, err := pgx.CollectExactlyOneRow(rows, scanCard)
	return c, mapCardErr(err)
}

// ClearSealedMO implements billing.Tx.
func (t *tx) ClearSealedMO(ctx context.Context, id int64) error {
	return later(ctx, t.tx, "dropping the sealed MO", false, sqlClearSealedMO, id)
}

// Charger returns the card charger on this store: bank.Charger with
// TokenForCharge.
func (s *CardStore) Charger(a bank.Adapter) billing.Charger {
	return bank.NewCharger(a, s.TokenForCharge)
}
