package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/wallet"
)

// Bank cards and wallets on the embedded store (migrations 0020 and 0021),
// the same contract as billing/postgres: *Store is a billing.CardStore, a
// billing.SealedMOStore and a billing.SecretScrubber, and its Tx a
// billing.CardTx and billing.Tx. No PAN, ID number or wallet
// password is ever stored: tokens, fingerprints, masked forms, hashes and
// sealed (encrypted) MO text only.

var (
	_ billing.CardStore = (*Store)(nil)
	_ billing.CardTx    = (*txImpl)(nil)
)

// InCardTx implements billing.CardStore on one write transaction.
func (s *Store) InCardTx(ctx context.Context, fn func(tx billing.CardTx) error) error {
	return s.InTx(ctx, func(tx billing.Tx) error { return fn(tx.(*txImpl)) })
}

// SetOwner registers the owner of msisdn (subscribers.owner_name and the
// keyed hash of the ID number), creating the subscriber when absent.
func (s *Store) SetOwner(ctx context.Context, secrets *wallet.Secrets, msisdn, name, idNumber string) error {
	err := s.write(ctx, func(t *sql.Tx) error {
		_, err := t.ExecContext(ctx, `INSERT INTO subscribers (msisdn, owner_name, owner_id_hash) VALUES (?, ?, ?)
			ON CONFLICT (msisdn) DO UPDATE SET owner_name = excluded.owner_name, owner_id_hash = excluded.owner_id_hash`,
			msisdn, name, secrets.IDHash(idNumber))
		return err
	})
	if err != nil {
		return fmt.Errorf("registering the owner: %w", err)
	}
	return nil
}

// TokenForCharge returns the bank token of the card the charge keyed key
// pays with (charges → orders.card_id → cards); the bank.TokenResolver of
// the card charger.
func (s *Store) TokenForCharge(ctx context.Context, key, msisdn string) (string, error) {
	var tok string
	err := s.reader.QueryRowContext(ctx, `SELECT c.bank_token FROM charges ch
		JOIN orders o ON o.id = ch.order_id
		JOIN cards c ON c.id = o.card_id
		WHERE ch.idempotency_key = ? AND ch.msisdn = ? AND c.msisdn = ?`, key, msisdn, msisdn).Scan(&tok)
	if err != nil {
		return "", fmt.Errorf("finding the card of %s: %w", key, domainError(err))
	}
	return tok, nil
}

// SealedMO implements billing.Store.
func (s *Store) SealedMO(ctx context.Context, id int64) ([]byte, error) {
	var box []byte
	err := s.reader.QueryRowContext(ctx, `SELECT sealed FROM mo_inbox WHERE id = ? AND processed_at IS NULL`, id).Scan(&box)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading sealed MO %d: %w", id, err)
	}
	return box, nil
}

// ScrubSentSecrets implements billing.Store: every digit of a
// sent secret MT becomes '*'.
func (s *Store) ScrubSentSecrets(ctx context.Context) (int, error) {
	var n int64
	err := s.write(ctx, func(t *sql.Tx) error {
		res, err := t.ExecContext(ctx, `UPDATE outbox SET kind = ?, sealed = NULL, body =
			replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(body,
			'0','*'),'1','*'),'2','*'),'3','*'),'4','*'),'5','*'),'6','*'),'7','*'),'8','*'),'9','*')
			WHERE kind = ? AND sent_at IS NOT NULL`, string(billing.OutboxSecretSent), string(billing.OutboxSecret))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("scrubbing sent secret MTs: %w", err)
	}
	return int(n), nil
}

func cardError(err error) error {
	if constraintName(err) == "cards_one_phone_per_card" {
		return fmt.Errorf("%w (cards_one_phone_per_card)", billing.ErrCardBound)
	}
	return domainError(err)
}

// Owner implements billing.CardTx.
func (t *txImpl) Owner(ctx context.Context, msisdn string) (string, []byte, error) {
	var name sql.NullString
	var h []byte
	err := t.tx.QueryRowContext(ctx, `SELECT owner_name, owner_id_hash FROM subscribers WHERE msisdn = ?`, msisdn).Scan(&name, &h)
	if err != nil {
		return "", nil, cardError(err)
	}
	return name.String, h, nil
}

const cardCols = `id, msisdn, bank_token, fingerprint, last4, masked, status, is_default, bound_at, ended_at`

func scanCard(r interface{ Scan(...any) error }) (billing.Card, error) {
	var c billing.Card
	var st string
	var def int
	var bound int64
	var ended sql.NullInt64
	if err := r.Scan(&c.ID, &c.MSISDN, &c.Token, &c.Fingerprint, &c.Last4, &c.Masked, &st, &def, &bound, &ended); err != nil {
		return billing.Card{}, err
	}
	c.Status, c.Default, c.BoundAt = billing.CardStatus(st), def == 1, fromTS(bound)
	if ended.Valid {
		c.EndedAt = fromTS(ended.Int64)
	}
	return c, nil
}

func (t *txImpl) cards(ctx context.Context, query string, args ...any) ([]billing.Card, error) {
	rows, err := t.tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []billing.Card
	for rows.Next() {
		c, err := scanCard(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// ActiveCards implements billing.CardTx.
func (t *txImpl) ActiveCards(ctx context.Context, msisdn string) ([]billing.Card, error) {
	return t.cards(ctx, `SELECT `+cardCols+` FROM cards WHERE msisdn = ? AND status = 'active' ORDER BY id`, msisdn)
}

// CardByFingerprint implements billing.CardTx.
func (t *txImpl) CardByFingerprint(ctx context.Context, fp []byte) (billing.Card, error) {
	c, err := scanCard(t.tx.QueryRowContext(ctx, `SELECT `+cardCols+` FROM cards WHERE fingerprint = ? AND status = 'active'`, fp))
	return c, cardError(err)
}

// InsertCard implements billing.CardTx.
func (t *txImpl) InsertCard(ctx context.Context, c billing.Card) (int64, error) {
	var id int64
	err := t.tx.QueryRowContext(ctx, `INSERT INTO cards (msisdn, bank_token, fingerprint, last4, masked, status, is_default, bound_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		c.MSISDN, c.Token, c.Fingerprint, c.Last4, c.Masked, string(c.Status), b2i(c.Default), ts(c.BoundAt)).Scan(&id)
	return id, cardError(err)
}

// UpdateCard implements billing.CardTx and billing.Tx.
func (t *txImpl) UpdateCard(ctx context.Context, c billing.Card) error {
	return cardError(execOne(ctx, t.tx, `UPDATE cards SET status = ?, is_default = ?, ended_at = ? WHERE id = ?`,
		string(c.Status), b2i(c.Default), nullTS(c.EndedAt), c.ID))
}

// Wallet implements billing.CardTx.
func (t *txImpl) Wallet(ctx context.Context, msisdn string) (billing.Wallet, error) {
	w := billing.Wallet{MSISDN: msisdn}
	var locked sql.NullInt64
	var updated int64
	err := t.tx.QueryRowContext(ctx, `SELECT password_hash, failures, locked_at, updated_at FROM wallets WHERE msisdn = ?`, msisdn).
		Scan(&w.PasswordHash, &w.Lock.Failures, &locked, &updated)
	if err != nil {
		return billing.Wallet{}, cardError(err)
	}
	w.UpdatedAt = fromTS(updated)
	if locked.Valid {
		w.Lock.LockedAt = fromTS(locked.Int64)
	}
	return w, nil
}

// SaveWallet implements billing.CardTx.
func (t *txImpl) SaveWallet(ctx context.Context, w billing.Wallet) error {
	var locked sql.NullInt64
	if w.Lock.Locked() {
		locked = nullTS(w.Lock.LockedAt)
	}
	_, err := t.tx.ExecContext(ctx, `INSERT INTO wallets (msisdn, password_hash, failures, locked_at, updated_at)
		VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (msisdn) DO UPDATE SET password_hash = excluded.password_hash, failures = excluded.failures,
			locked_at = excluded.locked_at, updated_at = excluded.updated_at`,
		w.MSISDN, w.PasswordHash, w.Lock.Failures, locked, ts(w.UpdatedAt))
	return cardError(err)
}

// SetOrderCard implements billing.Tx.
func (t *txImpl) SetOrderCard(ctx context.Context, orderID, cardID int64) error {
	return execOne(ctx, t.tx, `UPDATE orders SET card_id = ? WHERE id = ?`, cardID, orderID)
}

// OrderCard implements billing.Tx.
func (t *txImpl) OrderCard(ctx context.Context, orderID int64) (billing.Card, error) {
	c, err := scanCard(t.tx.QueryRowContext(ctx, `SELECT c.id, c.msisdn, c.bank_token, c.fingerprint, c.last4, c.masked,
		c.status, c.is_default, c.bound_at, c.ended_at FROM orders o JOIN cards c ON c.id = o.card_id WHERE o.id = ?`, orderID))
	return c, cardError(err)
}

// ClearSealedMO implements billing.Tx.
func (t *txImpl) ClearSealedMO(ctx context.Context, id int64) error {
	_, err := t.tx.ExecContext(ctx, `UPDATE mo_inbox SET sealed = NULL WHERE id = ?`, id)
	return err
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
