package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/carrierbill/carrierbill/billing"
)

var _ billing.MOBatchStore = (*Store)(nil)

// InsertMOs implements billing.MOBatchStore: one transaction, its inserts
// pipelined in one round trip, one commit (one WAL flush) for the batch.
func (s *Store) InsertMOs(ctx context.Context, mos []billing.InboundMO) ([]int64, error) {
	for i, mo := range mos {
		if err := billing.CheckMOText(mo); err != nil {
			return nil, fmt.Errorf("MO %d of %d: %w", i+1, len(mos), err)
		}
	}
	ids := make([]int64, len(mos))
	err := retryTx(ctx, s.pool, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		for _, mo := range mos {
			var sealed []byte
			if len(mo.Sealed) > 0 {
				sealed = mo.Sealed
			}
			b.Queue(sqlInsertMO, mo.Bind, mo.MSISDN, mo.ServiceAddr, mo.Body, mo.ReceivedAt, sealed)
		}
		br := tx.SendBatch(ctx, b)
		for i := range mos {
			if err := br.QueryRow().Scan(&ids[i]); err != nil {
				br.Close()
				return fmt.Errorf("MO %d of %d: %w", i+1, len(mos), err)
			}
		}
		return br.Close()
	})
	if err != nil {
		return nil, fmt.Errorf("storing %d MOs: %w", len(mos), mapErr(err))
	}
	return ids, nil
}
