package postgres

import (
	"context"
	"fmt"
	"slices"
	"sync"
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

	// sqlInsertPartTaking records part $2 of MT $1 and, when it was new,
	// removes and returns the kept receipts one of whose keys is its id
	// ($4). Its snapshot follows the message id's lock (taken by the
	// statement before it), so it sees every receipt kept under that lock.
	sqlInsertPartTaking = `WITH ins AS (
			INSERT INTO outbox_parts (outbox_id, part, bind, message_id)
			VALUES ($1::bigint, $2::int, $3::text, $4::text) ON CONFLICT (outbox_id, part) DO NOTHING
			RETURNING 1)
		DELETE FROM unmatched_receipts
		WHERE EXISTS (SELECT 1 FROM ins) AND (message_id = $4::text OR hex_id = $4::text OR dec_id = $4::text)
		RETURNING state, err, received_at, id`

	// sqlApplyToPart sets the state of a part unless it holds a final state
	// and the new one is not final ($6: whether the new one is final).
	sqlApplyToPart = `UPDATE outbox_parts SET state = $3::text, err = $4::text, done_at = $5::timestamptz
		WHERE outbox_id = $1::bigint AND part = $2::int
		  AND ($6::boolean OR state IS NULL OR NOT (state = ANY($7::text[])))`

	// sqlApplyReceipt is ApplyReceipt after the lock, in one statement:
	// the part by its preference order (see billing.Store), locked; its
	// state set unless it holds a final one and the receipt's is not
	// final ($8); the receipt kept under its keys when no part matches.
	// It answers whether a part matched.
	sqlApplyReceipt = `WITH p AS (
			SELECT outbox_id, part FROM outbox_parts
			WHERE message_id IN ($1::text, $2::text, $3::text)
			ORDER BY (state IS NOT NULL AND state = ANY($5::text[])),
			         CASE message_id WHEN $1::text THEN 0 WHEN $2::text THEN 1 ELSE 2 END,
			         (bind <> $4::text), outbox_id DESC, part
			LIMIT 1 FOR UPDATE),
		upd AS (
			UPDATE outbox_parts o SET state = $6::text, err = $7::text, done_at = $9::timestamptz
			FROM p WHERE o.outbox_id = p.outbox_id AND o.part = p.part
			  AND ($8::boolean OR o.state IS NULL OR NOT (o.state = ANY($5::text[])))
			RETURNING 1),
		keep AS (
			INSERT INTO unmatched_receipts (bind, message_id, hex_id, dec_id, state, err, received_at)
			SELECT $4::text, $1::text, $10::text, $11::text, $6::text, $7::text, $9::timestamptz
			WHERE NOT EXISTS (SELECT 1 FROM p)
			RETURNING 1)
		SELECT EXISTS (SELECT 1 FROM p)`

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

// pipeline sends b in one round trip, after the writes a grouped
// transaction still holds back (group.go), so they share it.
func pipeline(ctx context.Context, tx pgx.Tx, b *pgx.Batch) pgx.BatchResults {
	if g, ok := tx.(*groupTx); ok {
		br, err := g.send(func(q *pgx.Batch) { q.QueuedQueries = append(q.QueuedQueries, b.QueuedQueries...) })
		if err != nil {
			return errBatch{err}
		}
		return br
	}
	return tx.SendBatch(ctx, b)
}

// lockedMessageIDs reads the answer of sqlLockMessageIDs from br:
// errLockBusy when another transaction holds one of the locks.
func lockedMessageIDs(br pgx.BatchResults) error {
	var busy int64
	if err := br.QueryRow().Scan(&busy); err != nil {
		return err
	}
	if busy > 0 {
		return errLockBusy
	}
	return nil
}

// markings are the message ids of this process's MarkSentParts under way.
// A receipt for one of them waits for it (ApplyReceipt) instead of finding
// the id's lock taken and rolling back, or finding no part yet and being
// kept unmatched only to be taken again: with an SMSC that sends the
// receipt at once, that was most of the delivery path's statements (issue
// 11). Only a shortcut: the advisory locks keep the two correct across
// processes.
type markings struct {
	mu   sync.Mutex
	busy map[string]chan struct{}
}

// begin registers keys and returns the function that ends the marking.
func (m *markings) begin(keys []string) func() {
	done := make(chan struct{})
	var mine []string
	m.mu.Lock()
	if m.busy == nil {
		m.busy = map[string]chan struct{}{}
	}
	for _, k := range keys {
		if _, taken := m.busy[k]; k != "" && !taken {
			m.busy[k] = done
			mine = append(mine, k)
		}
	}
	m.mu.Unlock()
	return func() {
		m.mu.Lock()
		for _, k := range mine {
			delete(m.busy, k)
		}
		m.mu.Unlock()
		close(done)
	}
}

// wait waits until no marking of keys is under way, or ctx ends.
func (m *markings) wait(ctx context.Context, keys ...string) error {
	for _, k := range keys {
		m.mu.Lock()
		done := m.busy[k]
		m.mu.Unlock()
		if done == nil || k == "" {
			continue
		}
		select {
		case <-done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// MarkSentParts implements billing.Store: the sent mark, the locks and
// each part with the receipts kept for it go in one round trip.
func (s *Store) MarkSentParts(ctx context.Context, id int64, at time.Time, parts []billing.SentPart) error {
	keys := make([]string, len(parts))
	for i, p := range parts {
		keys[i] = billing.NormalizeMessageID(p.MessageID)
	}
	defer s.marking.begin(keys)()
	err := s.delivery.inTx(ctx, func(tx pgx.Tx) error {
		if err := later(ctx, tx, "marking the MT sent", true, sqlMarkSent, id, at); err != nil {
			return err
		}
		b := &pgx.Batch{}
		b.Queue(sqlLockMessageIDs, keys)
		for i, p := range parts {
			if keys[i] != "" { // an SMSC that answers without an id: nothing to match
				b.Queue(sqlInsertPartTaking, id, i+1, p.Bind, keys[i])
			}
		}
		br := pipeline(ctx, tx, b)
		if err := lockedMessageIDs(br); err != nil {
			_ = br.Close()
			return err
		}
		type kept struct {
			part      int
			state, er string
			at        time.Time
			id        int64
		}
		var ks []kept
		for i := range parts {
			if keys[i] == "" {
				continue
			}
			rows, err := br.Query()
			if err != nil {
				_ = br.Close()
				return mapErr(err)
			}
			rs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (kept, error) {
				k := kept{part: i + 1}
				err := r.Scan(&k.state, &k.er, &k.at, &k.id)
				return k, err
			})
			if err != nil {
				_ = br.Close()
				return mapErr(err)
			}
			ks = append(ks, rs...)
		}
		if err := br.Close(); err != nil {
			return mapErr(err)
		}
		if len(ks) == 0 {
			return nil
		}
		slices.SortStableFunc(ks, func(a, b kept) int {
			if a.part != b.part {
				return a.part - b.part
			}
			if c := a.at.Compare(b.at); c != 0 {
				return c
			}
			return int(a.id - b.id)
		})
		finals := finalStates()
		for _, k := range ks {
			st := billing.DeliveryState(k.state)
			if _, err := tx.Exec(ctx, sqlApplyToPart, id, k.part, k.state, k.er, k.at, st.Final(), finals); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("marking MT %d sent with %d part(s): %w", id, len(parts), err)
	}
	return nil
}

// ApplyReceipt implements billing.Store: the lock and the receipt's one
// statement go in one round trip, after any marking of its ids under way
// in this process.
func (s *Store) ApplyReceipt(ctx context.Context, r billing.DeliveryReceipt, keys billing.ReceiptKeys) (bool, error) {
	if keys.Exact == "" {
		return false, fmt.Errorf("recording a receipt: %w: no message id", billing.ErrNotFound)
	}
	if err := s.marking.wait(ctx, keys.Exact, keys.AsHex, keys.AsDec); err != nil {
		return false, fmt.Errorf("recording a receipt for message %s: %w", keys.Exact, err)
	}
	matched := false
	err := s.delivery.inTx(ctx, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		b.Queue(sqlLockMessageIDs, []string{keys.Exact, keys.AsHex, keys.AsDec})
		b.Queue(sqlApplyReceipt, keys.Exact, keys.AsHex, keys.AsDec, r.Bind, finalStates(),
			string(r.State), r.Err, r.State.Final(), r.ReceivedAt, nullString(keys.AsHex), nullString(keys.AsDec))
		br := pipeline(ctx, tx, b)
		if err := lockedMessageIDs(br); err != nil {
			_ = br.Close()
			return err
		}
		err := br.QueryRow().Scan(&matched)
		if cerr := br.Close(); err == nil {
			err = cerr
		}
		return mapErr(err)
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
