package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/carrierbill/carrierbill/billing"
)

// Delivery receipts matched to MTs (migration 0030): the statements, then
// the methods of billing.Store that run them.

const (
	// sqlLockMessageIDs serializes MarkSentParts and ApplyReceipt on
	// normalized message ids until the transaction ends: it tries to take
	// the advisory lock of each id, in one global order, and counts the
	// ones another transaction holds. Trying, never waiting: these run in
	// groups (group.go), and a group waiting for another group's lock while
	// that one waits for the first's would deadlock; the caller rolls back
	// and retries instead (errLockBusy).
	sqlLockMessageIDs = `SELECT count(*) FILTER (WHERE NOT pg_try_advisory_xact_lock(hashtextextended('outbox_parts:' || id, 0)))
		FROM (SELECT DISTINCT id FROM unnest($1::text[]) AS u(id) WHERE id <> '' ORDER BY id) s`

	sqlInsertPart = `INSERT INTO outbox_parts (outbox_id, part, bind, message_id)
		VALUES ($1::bigint, $2::int, $3::text, $4::text) ON CONFLICT (outbox_id, part) DO NOTHING`

	// sqlTakeUnmatched removes and returns the kept receipts one of whose
	// keys is the part's id, oldest first.
	sqlTakeUnmatched = `DELETE FROM unmatched_receipts
		WHERE message_id = $1::text OR hex_id = $1::text OR dec_id = $1::text
		RETURNING state, err, received_at, id`

	// sqlApplyToPart sets the state of a part unless it holds a final state
	// and the new one is not final ($6: whether the new one is final).
	sqlApplyToPart = `UPDATE outbox_parts SET state = $3::text, err = $4::text, done_at = $5::timestamptz
		WHERE outbox_id = $1::bigint AND part = $2::int
		  AND ($6::boolean OR state IS NULL OR NOT (state = ANY($7::text[])))`

	// sqlFindPart is ApplyReceipt's preference order (see billing.Store).
	sqlFindPart = `SELECT outbox_id, part FROM outbox_parts
		WHERE message_id IN ($1::text, $2::text, $3::text)
		ORDER BY (state IS NOT NULL AND state = ANY($5::text[])),
		         CASE message_id WHEN $1::text THEN 0 WHEN $2::text THEN 1 ELSE 2 END,
		         (bind <> $4::text), outbox_id DESC, part
		LIMIT 1 FOR UPDATE`

	sqlKeepReceipt = `INSERT INTO unmatched_receipts (bind, message_id, hex_id, dec_id, state, err, received_at)
		VALUES ($1::text, $2::text, $3::text, $4::text, $5::text, $6::text, $7::timestamptz)`

	sqlPruneReceipts = `DELETE FROM unmatched_receipts WHERE received_at < $1::timestamptz`

	sqlOrderDeliveries = `SELECT o.id, o.kind, o.sent_at, p.part, COALESCE(p.bind, ''), COALESCE(p.message_id, ''),
		       COALESCE(p.state, ''), COALESCE(p.err, ''), p.done_at
		FROM outbox o LEFT JOIN outbox_parts p ON p.outbox_id = o.id
		WHERE o.order_id = $1::bigint
		ORDER BY o.id, p.part`
)

func finalStates() []string {
	out := make([]string, len(billing.FinalStates))
	for i, s := range billing.FinalStates {
		out[i] = string(s)
	}
	return out
}

// lockMessageIDs takes the advisory locks of ids in one global order, in
// one statement; errLockBusy when another transaction holds one of them.
func lockMessageIDs(ctx context.Context, tx pgx.Tx, ids ...string) error {
	var busy int64
	if err := tx.QueryRow(ctx, sqlLockMessageIDs, ids).Scan(&busy); err != nil {
		return err
	}
	if busy > 0 {
		return errLockBusy
	}
	return nil
}

// MarkSentParts implements billing.Store.
func (s *Store) MarkSentParts(ctx context.Context, id int64, at time.Time, parts []billing.SentPart) error {
	keys := make([]string, len(parts))
	for i, p := range parts {
		keys[i] = billing.NormalizeMessageID(p.MessageID)
	}
	err := s.delivery.inTx(ctx, func(tx pgx.Tx) error {
		if err := later(ctx, tx, "marking the MT sent", true, sqlMarkSent, id, at); err != nil {
			return err
		}
		if err := lockMessageIDs(ctx, tx, keys...); err != nil {
			return err
		}
		finals := finalStates()
		for i, p := range parts {
			if keys[i] == "" {
				continue // an SMSC that answers without an id: nothing to match
			}
			tag, err := tx.Exec(ctx, sqlInsertPart, id, i+1, p.Bind, keys[i])
			if err != nil {
				return mapErr(err)
			}
			if tag.RowsAffected() == 0 {
				continue
			}
			rows, err := tx.Query(ctx, sqlTakeUnmatched, keys[i])
			if err != nil {
				return err
			}
			type kept struct {
				state, err string
				at         time.Time
				id         int64
			}
			rs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (kept, error) {
				var k kept
				err := r.Scan(&k.state, &k.err, &k.at, &k.id)
				return k, err
			})
			if err != nil {
				return err
			}
			slices.SortFunc(rs, func(a, b kept) int {
				if c := a.at.Compare(b.at); c != 0 {
					return c
				}
				return int(a.id - b.id)
			})
			for _, r := range rs {
				st := billing.DeliveryState(r.state)
				if _, err := tx.Exec(ctx, sqlApplyToPart, id, i+1, r.state, r.err, r.at, st.Final(), finals); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("marking MT %d sent with %d part(s): %w", id, len(parts), err)
	}
	return nil
}

// ApplyReceipt implements billing.Store.
func (s *Store) ApplyReceipt(ctx context.Context, r billing.DeliveryReceipt, keys billing.ReceiptKeys) (bool, error) {
	if keys.Exact == "" {
		return false, fmt.Errorf("recording a receipt: %w: no message id", billing.ErrNotFound)
	}
	matched := false
	err := s.delivery.inTx(ctx, func(tx pgx.Tx) error {
		matched = false
		if err := lockMessageIDs(ctx, tx, keys.Exact, keys.AsHex, keys.AsDec); err != nil {
			return err
		}
		finals := finalStates()
		var outboxID int64
		var part int
		err := tx.QueryRow(ctx, sqlFindPart, keys.Exact, keys.AsHex, keys.AsDec, r.Bind, finals).Scan(&outboxID, &part)
		switch {
		case err == nil:
			matched = true
			_, err = tx.Exec(ctx, sqlApplyToPart, outboxID, part, string(r.State), r.Err, r.ReceivedAt, r.State.Final(), finals)
			return err
		case errors.Is(mapErr(err), billing.ErrNotFound):
			_, err = tx.Exec(ctx, sqlKeepReceipt, r.Bind, keys.Exact, nullString(keys.AsHex), nullString(keys.AsDec),
				string(r.State), r.Err, r.ReceivedAt)
			return err
		default:
			return err
		}
	})
	if err != nil {
		return false, fmt.Errorf("recording a receipt for message %s: %w", keys.Exact, err)
	}
	return matched, nil
}

// PruneReceipts implements billing.Store.
func (s *Store) PruneReceipts(ctx context.Context, before time.Time) (int, error) {
	tag, err := s.pool.Exec(ctx, sqlPruneReceipts, before)
	if err != nil {
		return 0, fmt.Errorf("pruning unmatched receipts: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

// OrderDeliveries implements billing.Store.
func (s *Store) OrderDeliveries(ctx context.Context, orderID int64) ([]billing.Delivery, error) {
	rows, err := s.pool.Query(ctx, sqlOrderDeliveries, orderID)
	if err != nil {
		return nil, fmt.Errorf("listing the MTs of order %d: %w", orderID, err)
	}
	defer rows.Close()
	out := []billing.Delivery{}
	for rows.Next() {
		var (
			id       int64
			kind     string
			sent     *time.Time
			part     *int
			p        billing.DeliveryPart
			state    string
			doneAt   *time.Time
			scanning = []any{&id, &kind, &sent, &part, &p.Bind, &p.MessageID, &state, &p.Err, &doneAt}
		)
		if err := rows.Scan(scanning...); err != nil {
			return nil, fmt.Errorf("listing the MTs of order %d: %w", orderID, err)
		}
		if len(out) == 0 || out[len(out)-1].OutboxID != id {
			out = append(out, billing.Delivery{OutboxID: id, Kind: billing.OutboxKind(kind), SentAt: fromNullTime(sent)})
		}
		if part != nil {
			p.Part, p.State, p.DoneAt = *part, billing.DeliveryState(state), fromNullTime(doneAt)
			d := &out[len(out)-1]
			d.Parts = append(d.Parts, p)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing the MTs of order %d: %w", orderID, err)
	}
	return out, nil
}
