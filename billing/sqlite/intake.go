package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/carrierbill/carrierbill/billing"
)

var _ billing.MOBatchStore = (*Store)(nil)

// InsertMOs implements billing.MOBatchStore: every MO in one write
// transaction (the writer's group commit may add other callers' to it).
func (s *Store) InsertMOs(ctx context.Context, mos []billing.InboundMO) ([]int64, error) {
	for i, mo := range mos {
		if err := billing.CheckMOText(mo); err != nil {
			return nil, fmt.Errorf("MO %d of %d: %w", i+1, len(mos), err)
		}
	}
	ids := make([]int64, len(mos))
	err := s.write(ctx, func(t *sql.Tx) error {
		st, err := t.PrepareContext(ctx, `INSERT INTO mo_inbox (bind, msisdn, service_addr, body, received_at, sealed)
			VALUES (?, ?, ?, ?, ?, ?) RETURNING id`)
		if err != nil {
			return err
		}
		defer st.Close()
		for i, mo := range mos {
			var sealed []byte
			if len(mo.Sealed) > 0 {
				sealed = mo.Sealed
			}
			if err := st.QueryRowContext(ctx, mo.Bind, mo.MSISDN, mo.ServiceAddr, mo.Body, ts(mo.ReceivedAt), sealed).Scan(&ids[i]); err != nil {
				return fmt.Errorf("MO %d of %d: %w", i+1, len(mos), err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("storing %d MOs: %w", len(mos), err)
	}
	return ids, nil
}
