package sqlite

import (
	"context"
	"testing"

	"github.com/carrierbill/carrierbill/bank"
	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/billing/storetest"
	"github.com/carrierbill/carrierbill/clock"
)

// Card binding and card payments on the embedded store: the conformance
// suite's card scenarios (storetest.RunCards), the same ones PostgreSQL
// passes.

func TestCardConformance(t *testing.T) {
	t.Parallel()
	storetest.RunCards(t, func(t *testing.T) storetest.CardEnv {
		s := openTest(t)
		count := func(q string, args ...any) (int, error) {
			var n int
			err := s.reader.QueryRow(q, args...).Scan(&n)
			return n, err
		}
		return storetest.CardEnv{
			Store: s,
			Cards: s,
			Accounts: func(clk clock.Clock) billing.Charger {
				return NewAccounts(s, clk, billing.AccountsOptions{AutoOpen: true})
			},
			CardCharger: func(a bank.Adapter) billing.Charger { return bank.NewCharger(a, s.TokenForCharge) },
			SetOwner:    s.SetOwner,
			MOHolding: func(ctx context.Context, secrets ...string) (int, error) {
				q := `SELECT count(*) FROM mo_inbox WHERE sealed IS NOT NULL`
				args := make([]any, len(secrets))
				for i, sec := range secrets {
					q += ` OR instr(body, ?) > 0`
					args[i] = sec
				}
				return count(q, args...)
			},
			OutboxHolding: func(ctx context.Context, secret string) (int, error) {
				return count(`SELECT count(*) FROM outbox WHERE instr(body, ?) > 0`, secret)
			},
			LedgerEntries: func(ctx context.Context, account string) (int, error) {
				return count(`SELECT count(*) FROM ledger_entries WHERE account = ?`, account)
			},
		}
	})
}
