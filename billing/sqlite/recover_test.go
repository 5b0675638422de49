package sqlite

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/sms"
)

// lostAnswer is the phone-account charger whose debit answers are lost:
// the money is taken, the engine hears a timeout.
type lostAnswer struct{ *billing.Accounts }

func (l lostAnswer) Debit(ctx context.Context, key, msisdn string, amount billing.Money) error {
	if err := l.Accounts.Debit(ctx, key, msisdn, amount); err != nil {
		return err
	}
	return errors.New("timeout waiting for the account system")
}

// TestRecoveryWithAccounts crashes the answer of a debit and lets the
// recovery sweep resolve the charge by asking the phone-account charger
// on the same SQLite file.
// It guards the rule that Engine.Recover asks Charger.Status between
// transactions: inside one, the charger's own write would wait for the
// single writer that transaction holds.
func TestRecoveryWithAccounts(t *testing.T) {
	t.Parallel()
	e := newPayEnv(t)
	acc := NewAccounts(e.store, e.clock, billing.AccountsOptions{AutoOpen: true, CreditLimit: billing.Yuan(1000)})
	cfg := e.eng.Config()
	cfg.ChargeTimeout = 2 * time.Second
	eng, ch, err := sms.NewEngine(billing.Options{Config: cfg, Store: e.store, Charger: lostAnswer{acc},
		Limiter: billing.NewMemoryLimiter(e.clock), Clock: e.clock}, sms.TextConfig{ExpiryNotice: true}, sms.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e.eng, e.ch = eng, ch
	r := e.handle("8613800000001", "106580088001", "10")
	var code string
	if err := e.store.InTx(e.ctx, func(tx billing.Tx) error {
		o, err := tx.GetOrder(e.ctx, r.OrderID)
		code = o.Code
		return err
	}); err != nil {
		t.Fatal(err)
	}
	r2 := e.handle("8613800000001", "106580088001", code)
	t.Logf("confirmation with a lost answer: %+v", r2)
	e.clock.Advance(time.Hour)
	n, err := eng.Recover(e.ctx)
	if err != nil || n != 1 {
		t.Fatalf("Recover = %d, %v; want the pending charge resolved", n, err)
	}
}
