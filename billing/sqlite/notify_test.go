package sqlite

import (
	"testing"

	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/billing/storetest"
)

// TestNotifyConformance runs the merchant API rows' and notification
// outbox's conformance cases on SQLite.
func TestNotifyConformance(t *testing.T) {
	t.Parallel()
	storetest.RunNotify(t, func(t *testing.T) billing.Store { return openTest(t) })
}
