package postgres

import "testing"

// TestGroupsLeaveConnections: the groups take at most half and three
// eighths of the pool, so that MO intake and the claims find a connection,
// and never more than the fixed caps on a large pool.
func TestGroupsLeaveConnections(t *testing.T) {
	for _, c := range []struct {
		pool             int32
		engine, delivery int
	}{{1, 1, 1}, {4, 2, 1}, {8, 4, 3}, {12, 6, 4}, {16, 8, 6}, {32, 8, 6}, {100, 8, 6}} {
		if e, d := groupsFor(c.pool); e != c.engine || d != c.delivery {
			t.Errorf("pool %d: %d engine and %d delivery groups, want %d and %d", c.pool, e, d, c.engine, c.delivery)
		}
	}
}
