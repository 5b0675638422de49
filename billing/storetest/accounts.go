package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/carrierbill/carrierbill/billing"
)

// AccountsEnv is a store's phone-account charger opened with
// billing.AccountsOptions{AutoOpen: true, CreditLimit: credit} on a fresh
// database, and how to read an account back.
type AccountsEnv struct {
	Charger billing.Charger
	Get     func(ctx context.Context, msisdn string) (billing.Subscriber, error)
}

// RunConcurrentFirstDebits is issue 18.5: with auto-open, first debits of
// brand-new numbers arriving at the same moment (several numbers, many
// debits each, every one with its own key) must each be taken exactly once.
// Before the fix, two of them both inserted the new account and one failed
// on the unique key: an unknown outcome, so the payment stayed pending.
// open gets the credit limit to open accounts with.
func RunConcurrentFirstDebits(t *testing.T, open func(t *testing.T, credit billing.Money) AccountsEnv) {
	t.Helper()
	const (
		numbers = 4
		each    = 8
		amount  = billing.Money(100)
	)
	ctx := context.Background()
	env := open(t, numbers*each*amount)
	start := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, numbers*each)
	for n := range numbers {
		for i := range each {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				msisdn := fmt.Sprintf("+861390000%04d", n)
				if err := env.Charger.Debit(ctx, fmt.Sprintf("first-%d-%d", n, i), msisdn, amount); err != nil {
					errs <- fmt.Errorf("debit %d of a new number: %w", i, err)
				}
			}()
		}
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err) // an error here is a payment left pending
	}
	check := func(when string) {
		t.Helper()
		for n := range numbers {
			msisdn := fmt.Sprintf("+861390000%04d", n)
			s, err := env.Get(ctx, msisdn)
			if err != nil {
				t.Fatalf("%s: reading the auto-opened account %d: %v", when, n, err)
			}
			if s.Plan != billing.Postpaid || s.Bill != each*amount {
				t.Errorf("%s: account %d = %+v, want postpaid with a bill of %s (%d debits, once each)", when, n, s, each*amount, each)
			}
		}
	}
	check("after the race")
	// Each key debited exactly once: repeating them all takes nothing more.
	for n := range numbers {
		for i := range each {
			if err := env.Charger.Debit(ctx, fmt.Sprintf("first-%d-%d", n, i), fmt.Sprintf("+861390000%04d", n), amount); err != nil {
				t.Fatalf("repeating debit %d-%d: %v", n, i, err)
			}
		}
	}
	check("after repeating every key")
}
