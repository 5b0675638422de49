package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/carrierbill/carrierbill/billing"
)

// OpenAccounts opens the phone-account charger (billing.Accounts on the
// store's billing.AccountStore) with opt on a fresh, migrated database for
// one test, and registers its own cleanup. Reopen opens another charger on
// the same database as a second process would (its own connections, its
// own writer): the calls of one key must be serialized across both.
type OpenAccounts func(t *testing.T, opt billing.AccountsOptions) (a *billing.Accounts, reopen func(billing.AccountsOptions) *billing.Accounts)

// RunAccounts runs the phone-account charger's conformance suite: the
// control flow lives once in billing.Accounts, and every AccountStore must
// give it the same answers, call for call, sequentially and concurrently.
func RunAccounts(t *testing.T, open OpenAccounts) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, open OpenAccounts)
	}{
		{"Steps", testAccountSteps},
		{"StatusClosesKey", testAccountStatus},
		{"OpenReplacesAndGet", testAccountOpenGet},
		{"AutoOpen", testAccountAutoOpen},
		{"ConcurrentFirstDebits", testConcurrentFirstDebits},
		{"ConcurrentSameKey", testConcurrentSameKey},
		{"StatusRacesDebit", testStatusRacesDebit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, open)
		})
	}
}

// checkDeclined fails t unless err is what want says: nil for "" or a
// *billing.Declined with the reason want.
func checkDeclined(t *testing.T, what string, err error, want billing.Reason) {
	t.Helper()
	var d *billing.Declined
	switch {
	case want == "" && err != nil:
		t.Errorf("%s: %v", what, err)
	case want != "" && (!errors.As(err, &d) || d.Reason != want):
		t.Errorf("%s: got %v, want declined %s", what, err, want)
	}
}

// owed is what the account owes its owner: the prepaid balance, or the
// postpaid bill.
func owed(s billing.Subscriber) billing.Money {
	if s.Plan == billing.Postpaid {
		return s.Bill
	}
	return s.Balance
}

func openAccounts(t *testing.T, a *billing.Accounts, subs ...billing.Subscriber) {
	t.Helper()
	for _, s := range subs {
		if err := a.Open(context.Background(), s); err != nil {
			t.Fatalf("Open(%+v): %v", s, err)
		}
	}
}

// testAccountSteps: debits and refunds on prepaid, postpaid, suspended and
// unknown accounts, each key answered once.
func testAccountSteps(t *testing.T, open OpenAccounts) {
	ctx := context.Background()
	a, _ := open(t, billing.AccountsOptions{})
	const pre, post, susp, unknown = "+8613800000001", "+8613800000002", "+8613800000003", "+8613800000009"
	openAccounts(t, a,
		billing.Subscriber{MSISDN: pre, Plan: billing.Prepaid, Balance: 2000},
		billing.Subscriber{MSISDN: post, Plan: billing.Postpaid, CreditLimit: 1500},
		billing.Subscriber{MSISDN: susp, Plan: billing.Prepaid, Balance: 9999, Suspended: true})
	debit := func(key, msisdn string, amount billing.Money) func() error {
		return func() error { return a.Debit(ctx, key, msisdn, amount) }
	}
	refund := func(key, msisdn string, amount billing.Money) func() error {
		return func() error { return a.Refund(ctx, key, "", msisdn, amount) }
	}
	steps := []struct {
		name   string
		call   func() error
		want   billing.Reason // "" = done
		msisdn string         // the account to check after the step ("" none)
		owed   billing.Money  // its balance (prepaid) or bill (postpaid) then
	}{
		{"prepaid debit", debit("k1", pre, 1500), "", pre, 500},
		{"same key again is answered, not repeated", debit("k1", pre, 1500), "", pre, 500},
		{"prepaid short", debit("k2", pre, 501), billing.ReasonInsufficientBalance, pre, 500},
		{"prepaid exact", debit("k3", pre, 500), "", pre, 0},
		{"refund", refund("r1", pre, 300), "", pre, 300},
		{"same refund key again", refund("r1", pre, 300), "", pre, 300},
		{"a debit's key does not refund", refund("k1", pre, 300), "", pre, 300},
		{"postpaid within credit", debit("k4", post, 1500), "", post, 1500},
		{"postpaid over credit", debit("k5", post, 1), billing.ReasonInsufficientBalance, post, 1500},
		{"postpaid refund floors at zero", refund("r2", post, 9999), "", post, 0},
		{"suspended", debit("k6", susp, 100), billing.ReasonAccountSuspended, susp, 9999},
		{"suspension does not stop a refund", refund("r3", susp, 1), "", susp, 10000},
		{"unknown", debit("k7", unknown, 100), billing.ReasonUnknownSubscriber, "", 0},
		{"refund to unknown", refund("r4", unknown, 100), billing.ReasonUnknownSubscriber, "", 0},
	}
	for _, st := range steps {
		checkDeclined(t, st.name, st.call(), st.want)
		if st.msisdn == "" {
			continue
		}
		sub, err := a.Get(ctx, st.msisdn)
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if got := owed(sub); got != st.owed {
			t.Errorf("%s: balance/bill %s, want %s", st.name, got, st.owed)
		}
	}
	// A declined key took nothing and recorded nothing: it may debit later.
	if err := a.Debit(ctx, "k2", pre, 300); err != nil {
		t.Errorf("debit with a key declined before: %v", err)
	}
	// Non-positive amounts are errors, not declines.
	for _, call := range []func() error{debit("k9", pre, 0), refund("r9", pre, -1)} {
		var d *billing.Declined
		if err := call(); err == nil || errors.As(err, &d) {
			t.Errorf("non-positive amount: %v, want an error that is not a decline", err)
		}
	}
	if _, err := a.Get(ctx, unknown); !errors.Is(err, billing.ErrNotFound) {
		t.Errorf("Get of an unknown number: %v, want ErrNotFound", err)
	}
}

// testAccountStatus: a key that debited is done; one that never did is
// closed, and a closed key never debits, even with money available.
func testAccountStatus(t *testing.T, open OpenAccounts) {
	ctx := context.Background()
	a, _ := open(t, billing.AccountsOptions{})
	const phone = "+8613800000001"
	openAccounts(t, a, billing.Subscriber{MSISDN: phone, Plan: billing.Prepaid, Balance: 1000})
	if err := a.Debit(ctx, "k1", phone, 600); err != nil {
		t.Fatal(err)
	}
	checkDeclined(t, "k2 short", a.Debit(ctx, "k2", phone, 600), billing.ReasonInsufficientBalance)
	for _, c := range []struct {
		key  string
		want billing.DebitStatus
	}{{"k1", billing.DebitDone}, {"k2", billing.DebitNone}, {"never", billing.DebitNone}, {"never", billing.DebitNone}} {
		if st, err := a.Status(ctx, c.key); err != nil || st != c.want {
			t.Errorf("Status(%s) = %s, %v; want %s", c.key, st, err, c.want)
		}
	}
	if err := a.Refund(ctx, "r1", "k1", phone, 600); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"never", "k2"} {
		checkDeclined(t, "debit with the closed key "+key, a.Debit(ctx, key, phone, 100), billing.ReasonChargeFailed)
	}
	if s, err := a.Get(ctx, phone); err != nil || s.Balance != 1000 {
		t.Errorf("balance after closed keys: %+v, %v; want 10.00", s, err)
	}
	// Asking again about a debited key after the refund: still done.
	if st, err := a.Status(ctx, "k1"); err != nil || st != billing.DebitDone {
		t.Errorf("Status(k1) again = %s, %v", st, err)
	}
}

// testAccountOpenGet: Open replaces every field of an existing account.
func testAccountOpenGet(t *testing.T, open OpenAccounts) {
	ctx := context.Background()
	a, _ := open(t, billing.AccountsOptions{})
	const phone = "+8613800000001"
	openAccounts(t, a, billing.Subscriber{MSISDN: phone, Plan: billing.Prepaid, Balance: 1000})
	want := billing.Subscriber{MSISDN: phone, Plan: billing.Postpaid, Bill: 200, CreditLimit: 5000, Suspended: true}
	openAccounts(t, a, want)
	if got, err := a.Get(ctx, phone); err != nil || got != want {
		t.Fatalf("Get after reopening = %+v, %v; want %+v", got, err, want)
	}
	checkDeclined(t, "suspended after reopening", a.Debit(ctx, "k1", phone, 1), billing.ReasonAccountSuspended)
	want.Suspended = false
	openAccounts(t, a, want)
	if err := a.Debit(ctx, "k2", phone, 4800); err != nil {
		t.Fatal(err)
	}
	if got, err := a.Get(ctx, phone); err != nil || got.Bill != 5000 {
		t.Fatalf("bill = %+v, %v; want 50.00", got, err)
	}
}

// testAccountAutoOpen: an unknown number gets a postpaid account with the
// configured credit limit at its first debit; without AutoOpen it is
// declined and no account is made.
func testAccountAutoOpen(t *testing.T, open OpenAccounts) {
	ctx := context.Background()
	a, reopen := open(t, billing.AccountsOptions{AutoOpen: true, CreditLimit: 10000})
	const phone = "+8613900000001"
	if err := a.Debit(ctx, "k1", phone, 3000); err != nil {
		t.Fatal(err)
	}
	sub, err := a.Get(ctx, phone)
	if err != nil {
		t.Fatal(err)
	}
	if want := (billing.Subscriber{MSISDN: phone, Plan: billing.Postpaid, Bill: 3000, CreditLimit: 10000}); sub != want {
		t.Fatalf("auto-opened account %+v, want %+v", sub, want)
	}
	checkDeclined(t, "over the auto-opened limit", a.Debit(ctx, "k2", phone, 7001), billing.ReasonInsufficientBalance)
	off := reopen(billing.AccountsOptions{})
	checkDeclined(t, "unknown without auto-open", off.Debit(ctx, "k3", "+8613900000002", 100), billing.ReasonUnknownSubscriber)
	if _, err := off.Get(ctx, "+8613900000002"); !errors.Is(err, billing.ErrNotFound) {
		t.Errorf("a declined unknown number got an account: %v", err)
	}
}

// testConcurrentFirstDebits is issue 18.5: with auto-open, first debits of
// brand-new numbers arriving at the same moment (several numbers, many
// debits each, every one with its own key, through two processes) must each
// be taken exactly once. Before the fix, two of them both inserted the new
// account and one failed on the unique key: an unknown outcome, so the
// payment stayed pending.
func testConcurrentFirstDebits(t *testing.T, open OpenAccounts) {
	const (
		numbers = 4
		each    = 8
		amount  = billing.Money(100)
	)
	ctx := context.Background()
	opt := billing.AccountsOptions{AutoOpen: true, CreditLimit: numbers * each * amount}
	a, reopen := open(t, opt)
	chargers := []*billing.Accounts{a, reopen(opt)}
	msisdn := func(n int) string { return fmt.Sprintf("+861390000%04d", n) }
	key := func(n, i int) string { return fmt.Sprintf("first-%d-%d", n, i) }
	race(t, numbers*each, func(j int) error {
		n, i := j/each, j%each
		if err := chargers[j%2].Debit(ctx, key(n, i), msisdn(n), amount); err != nil {
			return fmt.Errorf("debit %d of a new number: %w", i, err) // a payment left pending
		}
		return nil
	})
	check := func(when string) {
		t.Helper()
		for n := range numbers {
			s, err := a.Get(ctx, msisdn(n))
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
			if err := a.Debit(ctx, key(n, i), msisdn(n), amount); err != nil {
				t.Fatalf("repeating debit %d-%d: %v", n, i, err)
			}
		}
	}
	check("after repeating every key")
}

// testConcurrentSameKey: one key retried at the same moment, through two
// processes, takes the money once.
func testConcurrentSameKey(t *testing.T, open OpenAccounts) {
	ctx := context.Background()
	a, reopen := open(t, billing.AccountsOptions{})
	b := reopen(billing.AccountsOptions{})
	const phone = "+8613800000001"
	openAccounts(t, a, billing.Subscriber{MSISDN: phone, Plan: billing.Prepaid, Balance: 10000})
	race(t, 16, func(j int) error {
		c := a
		if j%2 == 1 {
			c = b
		}
		if j%4 < 2 {
			return c.Debit(ctx, "same", phone, 700)
		}
		return c.Refund(ctx, "same-refund", "same", phone, 50)
	})
	if s, err := a.Get(ctx, phone); err != nil || s.Balance != 10000-700+50 {
		t.Fatalf("balance after one key debited and one refunded, many times at once: %+v, %v; want 93.50", s, err)
	}
}

// testStatusRacesDebit: Status and Debit of one key at the same moment
// agree: either the debit happened and Status says done, or Status closed
// the key and the debit was declined; never money taken under a key Status
// called never debited.
func testStatusRacesDebit(t *testing.T, open OpenAccounts) {
	const (
		keys   = 12
		amount = billing.Money(100)
	)
	ctx := context.Background()
	a, reopen := open(t, billing.AccountsOptions{})
	b := reopen(billing.AccountsOptions{})
	const phone = "+8613800000001"
	openAccounts(t, a, billing.Subscriber{MSISDN: phone, Plan: billing.Prepaid, Balance: keys * amount})
	status := make([]billing.DebitStatus, keys)
	debit := make([]error, keys)
	race(t, 2*keys, func(j int) error {
		k := j / 2
		key := fmt.Sprintf("k%d", k)
		if j%2 == 0 {
			debit[k] = a.Debit(ctx, key, phone, amount)
			return nil
		}
		var err error
		status[k], err = b.Status(ctx, key)
		return err
	})
	var done billing.Money
	for k := range keys {
		switch status[k] {
		case billing.DebitDone:
			done += amount
			if debit[k] != nil {
				t.Errorf("key %d: Status done, Debit %v", k, debit[k])
			}
		case billing.DebitNone:
			checkDeclined(t, fmt.Sprintf("key %d: Status none, Debit", k), debit[k], billing.ReasonChargeFailed)
		}
	}
	if s, err := a.Get(ctx, phone); err != nil || s.Balance != keys*amount-done {
		t.Fatalf("balance %+v, %v; want %s (only the debits Status saw done)", s, err, keys*amount-done)
	}
}

// race runs fn(0..n-1) in n goroutines released at one moment and reports
// their errors.
func race(t *testing.T, n int, fn func(j int) error) {
	t.Helper()
	start := make(chan struct{})
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for j := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			if err := fn(j); err != nil {
				errs <- err
			}
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
