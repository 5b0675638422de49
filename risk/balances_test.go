package risk

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/carrierbill/carrierbill/billing"
)

type accounts map[string]billing.Subscriber

func (a accounts) Get(_ context.Context, msisdn string) (billing.Subscriber, error) {
	if msisdn == "broken" {
		return billing.Subscriber{}, errors.New("the store is down")
	}
	s, ok := a[msisdn]
	if !ok {
		return billing.Subscriber{}, fmt.Errorf("reading a phone account: %w", billing.ErrNotFound)
	}
	return s, nil
}

func TestAccountBalances(t *testing.T) {
	t.Parallel()
	b := AccountBalances{Accounts: accounts{
		num1: {MSISDN: num1, Plan: billing.Prepaid, Balance: 4200},
		num2: {MSISDN: num2, Plan: billing.Postpaid, Bill: 100, CreditLimit: 10000},
	}}
	for _, tc := range []struct {
		msisdn string
		want   billing.Money
		ok     bool
		err    bool
	}{{num1, 4200, true, false}, {num2, 0, false, false}, {"+8613700000000", 0, false, false}, {"broken", 0, false, true}} {
		got, ok, err := b.Balance(context.Background(), tc.msisdn)
		if got != tc.want || ok != tc.ok || (err != nil) != tc.err {
			t.Errorf("Balance(%s) = %s, %v, %v; want %s, %v, error %v", tc.msisdn, got, ok, err, tc.want, tc.ok, tc.err)
		}
	}
}

func TestOpenDoesNotQuoteTheURL(t *testing.T) {
	t.Parallel()
	_, err := Open("redis://user:s3cret@host:notaport/0", Options{Rules: DefaultRules()})
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("Open: %v", err)
	}
}
