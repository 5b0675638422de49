package sqlite

import (
	"testing"

	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/billing/storetest"
)

// TestSubscriptions runs the conformance suite's monthly-subscription
// cases (storetest.RunSubscriptions) on SQLite.
func TestSubscriptions(t *testing.T) {
	t.Parallel()
	storetest.RunSubscriptions(t, func(t *testing.T) billing.Store { return openTest(t) })
}
