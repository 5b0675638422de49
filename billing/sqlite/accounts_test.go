package sqlite

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/billing/storetest"
	"github.com/carrierbill/carrierbill/clock"
)

// TestAccountsConformance runs the phone-account charger's suite on the
// embedded store; a second process is a second Store on the same file.
func TestAccountsConformance(t *testing.T) {
	t.Parallel()
	storetest.RunAccounts(t, func(t *testing.T, opt billing.AccountsOptions) (*billing.Accounts, func(billing.AccountsOptions) *billing.Accounts) {
		path := filepath.Join(t.TempDir(), "carrierbill.db")
		clk := clock.NewFake(time.Date(2026, 3, 10, 4, 0, 0, 0, time.UTC))
		reopen := func(opt billing.AccountsOptions) *billing.Accounts {
			return NewAccounts(openTestFile(t, path), clk, opt)
		}
		return reopen(opt), reopen
	})
}
