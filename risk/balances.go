package risk

import (
	"context"
	"errors"

	"github.com/carrierbill/carrierbill/billing"
)

// AccountReader reads a built-in phone account (stores.Accounts,
// billing.Accounts).
type AccountReader interface {
	Get(ctx context.Context, msisdn string) (billing.Subscriber, error)
}

// AccountBalances answers Balances from the built-in phone accounts: a
// prepaid account's balance; a postpaid or unknown number has none.
type AccountBalances struct{ Accounts AccountReader }

// Balance implements Balances.
func (a AccountBalances) Balance(ctx context.Context, msisdn string) (billing.Money, bool, error) {
	s, err := a.Accounts.Get(ctx, msisdn)
	switch {
	case errors.Is(err, billing.ErrNotFound):
		return 0, false, nil
	case err != nil:
		return 0, false, err
	case s.Plan != billing.Prepaid:
		return 0, false, nil
	}
	return s.Balance, true, nil
}
