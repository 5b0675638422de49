package bank

import (
	"context"

	"github.com/carrierbill/carrierbill/billing"
)

// ForBilling adapts an Adapter to billing.CardBank, the port billing's
// card binding uses.
func ForBilling(a Adapter) billing.CardBank { return cardBank{a} }

type cardBank struct{ a Adapter }

func (b cardBank) BindCard(ctx context.Context, pan, holderName, idNumber string) (billing.BankCard, error) {
	c, err := b.a.Bind(ctx, pan, holderName, idNumber)
	if err != nil {
		return billing.BankCard{}, err
	}
	return billing.BankCard{Token: c.Token, Last4: c.Last4, Masked: c.Masked}, nil
}
