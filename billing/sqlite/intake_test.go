package sqlite

import (
	"testing"

	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/billing/storetest"
)

// TestIntakeConformance runs the MO batch cases on SQLite.
func TestIntakeConformance(t *testing.T) {
	t.Parallel()
	storetest.RunIntake(t, func(t *testing.T) billing.Store { return openTest(t) })
}
