package sqlite

import (
	"context"
	"testing"
	"time"

	"github.com/carrierbill/carrierbill/billing"
)

// BenchmarkInsertMO measures one durable write transaction (the MO insert
// that runs before an ack): it is bounded by the fsync of the WAL.
func BenchmarkInsertMO(b *testing.B) {
	s := openTest(b)
	ctx := context.Background()
	mo := billing.InboundMO{Bind: "b", MSISDN: "8613800000001", ServiceAddr: "106580088001", Body: "10", ReceivedAt: time.Unix(1, 0)}
	b.ResetTimer()
	for b.Loop() {
		if _, err := s.InsertMO(ctx, mo); err != nil {
			b.Fatal(err)
		}
	}
}
