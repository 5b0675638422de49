package sqlite

import (
	"testing"

	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/billing/storetest"
)

// TestRisk runs the conformance suite's risk storage cases
// (storetest.RunRisk) on SQLite.
func TestRisk(t *testing.T) {
	t.Parallel()
	storetest.RunRisk(t, func(t *testing.T) billing.Store { return openTest(t) })
}

// TestRiskEngine runs the engine's risk cases (storetest.RunRiskEngine)
// on SQLite.
func TestRiskEngine(t *testing.T) {
	t.Parallel()
	storetest.RunRiskEngine(t, func(t *testing.T) billing.Store { return openTest(t) })
}
