package sqlite

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/billing/storetest"
	"github.com/carrierbill/carrierbill/clock"
)

func TestAccounts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2026, 3, 10, 4, 0, 0, 0, time.UTC))
	s := openTest(t)
	a := NewAccounts(s, clk, billing.AccountsOptions{})
	for _, sub := range []billing.Subscriber{
		{MSISDN: "8613800000001", Plan: billing.Prepaid, Balance: 2000},
		{MSISDN: "8613800000002", Plan: billing.Postpaid, CreditLimit: 1500},
		{MSISDN: "8613800000003", Plan: billing.Prepaid, Balance: 9999, Suspended: true},
	} {
		if err := a.Open(ctx, sub); err != nil {
			t.Fatal(err)
		}
	}
	declined := func(r billing.Reason) error { return &billing.Declined{Reason: r} }
	steps := []struct {
		name   string
		call   func() error
		want   error // nil, or a *billing.Declined with the reason
		msisdn string
		bal    billing.Money // balance (prepaid) or bill (postpaid) after the step
	}{
		{"prepaid debit", func() error { return a.Debit(ctx, "k1", "8613800000001", 1500) }, nil, "8613800000001", 500},
		{"same key again is answered, not repeated", func() error { return a.Debit(ctx, "k1", "8613800000001", 1500) }, nil, "8613800000001", 500},
		{"prepaid short", func() error { return a.Debit(ctx, "k2", "8613800000001", 501) }, declined(billing.ReasonInsufficientBalance), "8613800000001", 500},
		{"prepaid exact", func() error { return a.Debit(ctx, "k3", "8613800000001", 500) }, nil, "8613800000001", 0},
		{"refund", func() error { return a.Refund(ctx, "r1", "", "8613800000001", 300) }, nil, "8613800000001", 300},
		{"refund again", func() error { return a.Refund(ctx, "r1", "", "8613800000001", 300) }, nil, "8613800000001", 300},
		{"postpaid within credit", func() error { return a.Debit(ctx, "k4", "8613800000002", 1500) }, nil, "8613800000002", 1500},
		{"postpaid over credit", func() error { return a.Debit(ctx, "k5", "8613800000002", 1) }, declined(billing.ReasonInsufficientBalance), "8613800000002", 1500},
		{"postpaid refund floors at zero", func() error { return a.Refund(ctx, "r2", "", "8613800000002", 9999) }, nil, "8613800000002", 0},
		{"suspended", func() error { return a.Debit(ctx, "k6", "8613800000003", 100) }, declined(billing.ReasonAccountSuspended), "8613800000003", 9999},
		{"unknown", func() error { return a.Debit(ctx, "k7", "8613800000009", 100) }, declined(billing.ReasonUnknownSubscriber), "", 0},
		{"refund to unknown", func() error { return a.Refund(ctx, "r3", "", "8613800000009", 100) }, declined(billing.ReasonUnknownSubscriber), "", 0},
	}
	for _, st := range steps {
		err := st.call()
		var d *billing.Declined
		switch want, _ := st.want.(*billing.Declined); {
		case want == nil && err != nil:
			t.Errorf("%s: %v", st.name, err)
		case want != nil && (!errors.As(err, &d) || d.Reason != want.Reason):
			t.Errorf("%s: got %v, want declined %s", st.name, err, want.Reason)
		}
		if st.msisdn == "" {
			continue
		}
		sub, err := a.Get(ctx, st.msisdn)
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		got := sub.Balance
		if sub.Plan == billing.Postpaid {
			got = sub.Bill
		}
		if got != st.bal {
			t.Errorf("%s: balance/bill %s, want %s", st.name, got, st.bal)
		}
	}

	// Status: a key that debited is done; one that never did is closed.
	for key, want := range map[string]billing.DebitStatus{"k1": billing.DebitDone, "k8": billing.DebitNone} {
		got, err := a.Status(ctx, key)
		if err != nil || got != want {
			t.Errorf("Status(%s) = %v, %v; want %v", key, got, err, want)
		}
	}
	var d *billing.Declined
	if err := a.Debit(ctx, "k8", "8613800000001", 100); !errors.As(err, &d) {
		t.Errorf("Debit with a closed key: %v, want declined", err)
	}
	if _, err := a.Get(ctx, "8613800000009"); !errors.Is(err, billing.ErrNotFound) {
		t.Errorf("Get unknown: %v, want ErrNotFound", err)
	}
}

func TestAccountsAutoOpen(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openTest(t)
	a := NewAccounts(s, clock.NewFake(time.Unix(0, 0)), billing.AccountsOptions{AutoOpen: true, CreditLimit: 10000})
	if err := a.Debit(ctx, "k1", "8613900000001", 3000); err != nil {
		t.Fatal(err)
	}
	sub, err := a.Get(ctx, "8613900000001")
	if err != nil {
		t.Fatal(err)
	}
	if sub.Plan != billing.Postpaid || sub.Bill != 3000 || sub.CreditLimit != 10000 {
		t.Fatalf("auto-opened account %+v", sub)
	}
}

// TestConcurrentFirstDebits: issue 18.5 on the embedded store.
func TestConcurrentFirstDebits(t *testing.T) {
	t.Parallel()
	storetest.RunConcurrentFirstDebits(t, func(t *testing.T, credit billing.Money) storetest.AccountsEnv {
		s := openTest(t)
		a := NewAccounts(s, clock.NewFake(time.Date(2026, 3, 10, 4, 0, 0, 0, time.UTC)), billing.AccountsOptions{AutoOpen: true, CreditLimit: credit})
		return storetest.AccountsEnv{Charger: a, Get: a.Get}
	})
}
