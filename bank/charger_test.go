package bank_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/carrierbill/carrierbill/bank"
	"github.com/carrierbill/carrierbill/bank/banksim"
	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/clock"
)

// TestChargerDeclineMapping drives the card charger against the simulated
// bank: every definite refusal becomes *billing.Declined with its reason,
// and a timeout stays an unknown outcome.
func TestChargerDeclineMapping(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		script func(b *banksim.Bank, tok string)
		amount billing.Money
		reason billing.Reason // "" : unknown outcome (not Declined)
	}{
		{"insufficient funds", nil, billing.Yuan(11), billing.ReasonInsufficientBalance},
		{"declined", func(b *banksim.Bank, tok string) { b.FailNext(tok, bank.ErrDeclined) }, 100, billing.ReasonCardDeclined},
		{"closed", func(b *banksim.Bank, tok string) { b.CloseCard(tok) }, 100, billing.ReasonCardClosed},
		{"replaced", func(b *banksim.Bank, tok string) { b.FailNext(tok, bank.ErrCardReplaced) }, 100, billing.ReasonCardClosed},
		{"unknown card", func(b *banksim.Bank, tok string) { b.FailNext(tok, bank.ErrUnknownCard) }, 100, billing.ReasonChargeFailed},
		{"timeout", func(b *banksim.Bank, tok string) { b.FailNext(tok, bank.ErrTimeout) }, 100, ""},
		{"timeout after the debit", func(b *banksim.Bank, tok string) { b.TimeoutAfterDebit(tok) }, 100, ""},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := banksim.New(clock.Real{})
			tok, err := b.AddCard(fmt.Sprintf("62220212345678%02d", i), "张三", "11010119900307123X", billing.Yuan(10))
			if err != nil {
				t.Fatal(err)
			}
			if tt.script != nil {
				tt.script(b, tok)
			}
			c := bank.NewCharger(b, func(context.Context, string, string) (string, error) { return tok, nil })
			err = c.Debit(context.Background(), "k1", "+8613800000001", tt.amount)
			var d *billing.Declined
			switch {
			case tt.reason == "" && (err == nil || errors.As(err, &d)):
				t.Fatalf("Debit = %v, want an unknown outcome", err)
			case tt.reason != "" && (!errors.As(err, &d) || d.Reason != tt.reason):
				t.Fatalf("Debit = %v, want Declined %s", err, tt.reason)
			}
		})
	}
}

// TestChargerRefundGoesToTheChargedCard: Refund resolves the card by
// the charge's key, not the refund's.
func TestChargerRefundGoesToTheChargedCard(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := banksim.New(clock.Real{})
	tok, err := b.AddCard("6222021234567881234", "张三", "11010119900307123X", billing.Yuan(10))
	if err != nil {
		t.Fatal(err)
	}
	var asked []string
	c := bank.NewCharger(b, func(_ context.Context, key, _ string) (string, error) {
		asked = append(asked, key)
		return tok, nil
	})
	if err := c.Debit(ctx, "charge-1", "+8613800000001", 500); err != nil {
		t.Fatal(err)
	}
	if err := c.Refund(ctx, "refund-1", "charge-1", "+8613800000001", 200); err != nil {
		t.Fatal(err)
	}
	if len(asked) != 2 || asked[1] != "charge-1" {
		t.Fatalf("token resolved for %v, want the charge's key", asked)
	}
	if bal, _ := b.Balance(ctx, tok); bal != billing.Yuan(10)-300 {
		t.Fatalf("balance %v after debit 5.00 and refund 2.00", bal)
	}
	// A refusal of a refund is card_declined.
	if err := c.Refund(ctx, "charge-1", "charge-1", "+8613800000001", 200); err == nil {
		t.Fatal("a refund under the charge's own key must be refused (key conflict)")
	} else if d := (*billing.Declined)(nil); !errors.As(err, &d) || d.Reason != billing.ReasonCardDeclined {
		t.Fatalf("refused refund: %v, want card_declined", err)
	}
}
