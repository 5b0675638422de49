package sqlite

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a goroutine outlives its test (the store's
// write loop must end with Close).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
