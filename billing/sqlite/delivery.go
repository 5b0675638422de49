package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/carrierbill/carrierbill/billing"
)

// Delivery receipts matched to MTs (migration 0030). Every write runs on
// the single writer, which is what serializes MarkSentParts with
// ApplyReceipt here.

// finalList is the final states as an SQL list literal (constants only).
var finalList = func() string {
	q := make([]string, len(billing.FinalStates))
	for i, s := range billing.FinalStates {
		q[i] = "'" + string(s) + "'"
	}
	return "(" + strings.Join(q, ", ") + ")"
}()

// keepsState is true for a part whose state a receipt must not replace:
// it holds a final state and the new one (parameter final, a bool) is not
// final.
func keepsState(final string) string {
	return `(NOT ` + final + ` AND state IS NOT NULL AND state IN ` + finalList + `)`
}

// applyToPart sets the state of a part unless it keeps it (keepsState).
func applyToPart(ctx context.Context, t *sql.Tx, outboxID int64, part int, st billing.DeliveryState, errText string, at time.Time) error {
	_, err := t.ExecContext(ctx, `UPDATE outbox_parts SET state = ?1, err = ?2, done_at = ?3
		WHERE outbox_id = ?4 AND part = ?5 AND NOT `+keepsState("?6"),
		string(st), errText, ts(at), outboxID, part, st.Final())
	return err
}

// MarkSentParts implements billing.Store.
func (s *Store) MarkSentParts(ctx context.Context, id int64, at time.Time, parts []billing.SentPart) error {
	err := s.write(ctx, func(t *sql.Tx) error {
		if err := execOne(ctx, t, `UPDATE outbox SET sent_at = coalesce(sent_at, ?), last_error = NULL WHERE id = ?`, ts(at), id); err != nil {
			return err
		}
		for i, p := range parts {
			key := billing.NormalizeMessageID(p.MessageID)
			if key == "" {
				continue // an SMSC that answers without an id: nothing to match
			}
			res, err := t.ExecContext(ctx, `INSERT INTO outbox_parts (outbox_id, part, bind, message_id)
				VALUES (?, ?, ?, ?) ON CONFLICT (outbox_id, part) DO NOTHING`, id, i+1, p.Bind, key)
			if err != nil {
				return domainError(err)
			}
			if n, err := res.RowsAffected(); err != nil || n == 0 {
				if err != nil {
					return err
				}
				continue
			}
			rows, err := t.QueryContext(ctx, `DELETE FROM unmatched_receipts
				WHERE message_id = ?1 OR hex_id = ?1 OR dec_id = ?1
				RETURNING state, err, received_at, id`, key)
			if err != nil {
				return err
			}
			type kept struct {
				state, err string
				at         int64
				id         int64
			}
			var ks []kept
			for rows.Next() {
				var k kept
				if err := rows.Scan(&k.state, &k.err, &k.at, &k.id); err != nil {
					rows.Close()
					return err
				}
				ks = append(ks, k)
			}
			if err := rows.Close(); err != nil {
				return err
			}
			slices.SortFunc(ks, func(a, b kept) int {
				if c := cmp.Compare(a.at, b.at); c != 0 {
					return c
				}
				return cmp.Compare(a.id, b.id)
			})
			for _, k := range ks {
				if err := applyToPart(ctx, t, id, i+1, billing.DeliveryState(k.state), k.err, fromTS(k.at)); err != nil {
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
	err := s.write(ctx, func(t *sql.Tx) error {
		// One statement finds the part and applies the state unless the
		// part keeps it (keepsState; every SET expression reads the row as
		// it was); a part that keeps its state is still matched.
		keep := keepsState("?8")
		var one int
		err := t.QueryRowContext(ctx, `UPDATE outbox_parts
			SET state = CASE WHEN `+keep+` THEN state ELSE ?5 END,
			    err = CASE WHEN `+keep+` THEN err ELSE ?6 END,
			    done_at = CASE WHEN `+keep+` THEN done_at ELSE ?7 END
			WHERE rowid = (SELECT rowid FROM outbox_parts
				WHERE message_id IN (?1, ?2, ?3)
				ORDER BY (state IS NOT NULL AND state IN `+finalList+`),
				         CASE message_id WHEN ?1 THEN 0 WHEN ?2 THEN 1 ELSE 2 END,
				         (bind <> ?4), outbox_id DESC, part
				LIMIT 1)
			RETURNING 1`, keys.Exact, keys.AsHex, keys.AsDec, r.Bind,
			string(r.State), r.Err, ts(r.ReceivedAt), r.State.Final()).Scan(&one)
		matched = err == nil
		switch {
		case err == nil:
			return nil
		case errors.Is(err, sql.ErrNoRows):
			_, err = t.ExecContext(ctx, `INSERT INTO unmatched_receipts (bind, message_id, hex_id, dec_id, state, err, received_at)
				VALUES (?, ?, ?, ?, ?, ?, ?)`, r.Bind, keys.Exact, nullText(keys.AsHex), nullText(keys.AsDec),
				string(r.State), r.Err, ts(r.ReceivedAt))
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

func nullText(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

// PruneReceipts implements billing.Store.
func (s *Store) PruneReceipts(ctx context.Context, before time.Time) (int, error) {
	var n int64
	err := s.write(ctx, func(t *sql.Tx) error {
		res, err := t.ExecContext(ctx, `DELETE FROM unmatched_receipts WHERE received_at < ?`, ts(before))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("pruning unmatched receipts: %w", err)
	}
	return int(n), nil
}

// OrderDeliveries implements billing.Store.
func (s *Store) OrderDeliveries(ctx context.Context, orderID int64) ([]billing.Delivery, error) {
	rows, err := s.reader.QueryContext(ctx, `SELECT o.id, o.kind, o.sent_at, p.part, coalesce(p.bind, ''),
			coalesce(p.message_id, ''), coalesce(p.state, ''), coalesce(p.err, ''), p.done_at
		FROM outbox o LEFT JOIN outbox_parts p ON p.outbox_id = o.id
		WHERE o.order_id = ?
		ORDER BY o.id, p.part`, orderID)
	if err != nil {
		return nil, fmt.Errorf("listing the MTs of order %d: %w", orderID, err)
	}
	defer rows.Close()
	out := []billing.Delivery{}
	for rows.Next() {
		var (
			id           int64
			kind, state  string
			sent, doneAt sql.NullInt64
			part         sql.NullInt64
			p            billing.DeliveryPart
		)
		if err := rows.Scan(&id, &kind, &sent, &part, &p.Bind, &p.MessageID, &state, &p.Err, &doneAt); err != nil {
			return nil, fmt.Errorf("listing the MTs of order %d: %w", orderID, err)
		}
		if len(out) == 0 || out[len(out)-1].OutboxID != id {
			out = append(out, billing.Delivery{OutboxID: id, Kind: billing.OutboxKind(kind), SentAt: fromNullTS(sent)})
		}
		if part.Valid {
			p.Part, p.State, p.DoneAt = int(part.Int64), billing.DeliveryState(state), fromNullTS(doneAt)
			d := &out[len(out)-1]
			d.Parts = append(d.Parts, p)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing the MTs of order %d: %w", orderID, err)
	}
	return out, nil
}
