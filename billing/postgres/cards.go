package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/wallet"
)

// CardStore is billing.CardStore on a pgx pool (tables cards and wallets,
// migration 0020). It stores no PAN and no ID number: tokens,
// fingerprints, masked forms and password hashes only.
type CardStore struct {
	pool *pgxpool.Pool
}

// NewCardStore returns a card store on pool. The schema must be migrated.
func NewCardStore(pool *pgxpool.Pool) *CardStore { return &CardStore{pool: pool} }

var _ billing.CardStore = (*CardStore)(nil)

// InCardTx implements billing.CardStore, retrying serialization failures
// and deadlocks like Store.InTx.
func (s *CardStore) InCardTx(ctx context.Context, fn func(tx billing.CardTx) error) error {
	return retryTx(ctx, s.pool, func(ptx pgx.Tx) error { return fn(&cardTx{tx: ptx}) })
}

// TokenForCharge returns the bank token of the card the charge keyed key
// (billing.ChargeKey) pays with, following charges → orders.card_id →
// cards; it is the bank.TokenResolver of the card charger. msisdn must be
// the payer.
func (s *CardStore) TokenForCharge(ctx context.Context, key, msisdn string) (string, error) {
	var tok string
	err := s.pool.QueryRow(ctx, `SELECT c.bank_token FROM charges ch
		JOIN orders o ON o.id = ch.order_id
		JOIN cards c ON c.id = o.card_id
		WHERE ch.idempotency_key = $1 AND ch.msisdn = $2 AND c.msisdn = $2`, key, msisdn).Scan(&tok)
	if err != nil {
		return "", fmt.Errorf("finding the card of %s: %w", key, mapCardErr(err))
	}
	return tok, nil
}

// SetOwner registers the owner of msisdn (subscribers.owner_name and
// owner_id_hash, the keyed hash of the ID number), creating the subscriber
// when absent. It is the subscriber registry's write for card binding.
func (s *CardStore) SetOwner(ctx context.Context, secrets *wallet.Secrets, msisdn, name, idNumber string) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO subscribers (msisdn, owner_name, owner_id_hash) VALUES ($1, $2, $3)
		ON CONFLICT (msisdn) DO UPDATE SET owner_name = EXCLUDED.owner_name, owner_id_hash = EXCLUDED.owner_id_hash`,
		msisdn, name, secrets.IDHash(idNumber))
	if err != nil {
		return fmt.Errorf("registering the owner: %w", err)
	}
	return nil
}

func mapCardErr(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" && pe.ConstraintName == "cards_one_phone_per_card" {
		return fmt.Errorf("%w (%s)", billing.ErrCardBound, pe.ConstraintName)
	}
	return mapErr(err)
}

type cardTx struct {
	tx pgx.Tx
}

func (t *cardTx) Owner(ctx context.Context, msisdn string) (string, []byte, error) {
	var name *string
	var h []byte
	err := t.tx.QueryRow(ctx, `SELECT owner_name, owner_id_hash FROM subscribers WHERE msisdn = $1 FOR UPDATE`, msisdn).Scan(&name, &h)
	if err != nil {
		return "", nil, mapCardErr(err)
	}
	if name == nil {
		return "", h, nil
	}
	return *name, h, nil
}

const cardCols = `id, msisdn, bank_token, fingerprint, last4, masked, status, is_default, bound_at, ended_at`

func scanCard(r pgx.CollectableRow) (billing.Card, error) {
	var c billing.Card
	var st string
	var ended *time.Time
	var def int
	err := r.Scan(&c.ID, &c.MSISDN, &c.Token, &c.Fingerprint, &c.Last4, &c.Masked, &st, &def, &c.BoundAt, &ended)
	c.Status, c.Default = billing.CardStatus(st), def == 1
	if ended != nil {
		c.EndedAt = *ended
	}
	return c, err
}

func (t *cardTx) ActiveCards(ctx context.Context, msisdn string) ([]billing.Card, error) {
	rows, err := t.tx.Query(ctx, `SELECT `+cardCols+` FROM cards WHERE msisdn = $1 AND status = 'active' ORDER BY id FOR UPDATE`, msisdn)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, scanCard)
}

func (t *cardTx) CardByFingerprint(ctx context.Context, fp []byte) (billing.Card, error) {
	rows, err := t.tx.Query(ctx, `SELECT `+cardCols+` FROM cards WHERE fingerprint = $1 AND status = 'active'`, fp)
	if err != nil {
		return billing.Card{}, err
	}
	c, err := pgx.CollectExactlyOneRow(rows, scanCard)
	return c, mapCardErr(err)
}

func (t *cardTx) InsertCard(ctx context.Context, c billing.Card) (int64, error) {
	var id int64
	err := t.tx.QueryRow(ctx, `INSERT INTO cards (msisdn, bank_token, fingerprint, last4, masked, status, is_default, bound_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`,
		c.MSISDN, c.Token, c.Fingerprint, c.Last4, c.Masked, string(c.Status), b2i(c.Default), c.BoundAt).Scan(&id)
	return id, mapCardErr(err)
}

func (t *cardTx) UpdateCard(ctx context.Context, c billing.Card) error {
	var ended *time.Time
	if !c.EndedAt.IsZero() {
		ended = &c.EndedAt
	}
	tag, err := t.tx.Exec(ctx, `UPDATE cards SET status = $2, is_default = $3, ended_at = $4 WHERE id = $1`,
		c.ID, string(c.Status), b2i(c.Default), ended)
	if err != nil {
		return mapCardErr(err)
	}
	if tag.RowsAffected() == 0 {
		return billing.ErrNotFound
	}
	return nil
}

func (t *cardTx) Wallet(ctx context.Context, msisdn string) (billing.Wallet, error) {
	w := billing.Wallet{MSISDN: msisdn}
	var locked *time.Time
	err := t.tx.QueryRow(ctx, `SELECT password_hash, failures, locked_at, updated_at FROM wallets WHERE msisdn = $1 FOR UPDATE`, msisdn).
		Scan(&w.PasswordHash, &w.Lock.Failures, &locked, &w.UpdatedAt)
	if err != nil {
		return billing.Wallet{}, mapCardErr(err)
	}
	if locked != nil {
		w.Lock.LockedAt = *locked
	}
	return w, nil
}

func (t *cardTx) SaveWallet(ctx context.Context, w billing.Wallet) error {
	var locked *time.Time
	if w.Lock.Locked() {
		locked = &w.Lock.LockedAt
	}
	_, err := t.tx.Exec(ctx, `INSERT INTO wallets (msisdn, password_hash, failures, locked_at, updated_at)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (msisdn) DO UPDATE SET password_hash = EXCLUDED.password_hash, failures = EXCLUDED.failures,
			locked_at = EXCLUDED.locked_at, updated_at = EXCLUDED.updated_at`,
		w.MSISDN, w.PasswordHash, w.Lock.Failures, locked, w.UpdatedAt)
	return mapCardErr(err)
}

func (t *cardTx) Enqueue(ctx context.Context, m billing.OutboxMsg) (int64, error) {
	return (&tx{tx: t.tx}).Enqueue(ctx, m)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
