package billing

import (
	"errors"
	"testing"
)

// checkAccountErr reports whether err is what want asks for: nil for "",
// a *Declined with that reason, or "error" for an error that is no decline.
func checkAccountErr(t *testing.T, err error, want Reason) {
	t.Helper()
	var d *Declined
	switch {
	case want == "" && err != nil:
		t.Fatalf("err = %v, want nil", err)
	case want == "error":
		if err == nil || errors.As(err, &d) {
			t.Fatalf("err = %v, want a plain error", err)
		}
	case want != "" && (!errors.As(err, &d) || d.Reason != want):
		t.Fatalf("err = %v, want declined %s", err, want)
	}
}

func TestSubscriberDebit(t *testing.T) {
	t.Parallel()
	prepaid := Subscriber{MSISDN: "1", Plan: Prepaid, Balance: 1000}
	postpaid := Subscriber{MSISDN: "2", Plan: Postpaid, Bill: 500, CreditLimit: 1500}
	tests := []struct {
		name   string
		s      Subscriber
		amount Money
		want   Subscriber
		reason Reason
	}{
		{"prepaid", prepaid, 300, Subscriber{MSISDN: "1", Plan: Prepaid, Balance: 700}, ""},
		{"prepaid whole balance", prepaid, 1000, Subscriber{MSISDN: "1", Plan: Prepaid, Balance: 0}, ""},
		{"prepaid short", prepaid, 1001, prepaid, ReasonInsufficientBalance},
		{"postpaid", postpaid, 400, Subscriber{MSISDN: "2", Plan: Postpaid, Bill: 900, CreditLimit: 1500}, ""},
		{"postpaid up to the limit", postpaid, 1000, Subscriber{MSISDN: "2", Plan: Postpaid, Bill: 1500, CreditLimit: 1500}, ""},
		{"postpaid over the limit", postpaid, 1001, postpaid, ReasonInsufficientBalance},
		{"postpaid ignores balance", Subscriber{Plan: Postpaid, Balance: 99999, CreditLimit: 100}, 101,
			Subscriber{Plan: Postpaid, Balance: 99999, CreditLimit: 100}, ReasonInsufficientBalance},
		{"unnamed plan bills as postpaid", Subscriber{CreditLimit: 100}, 60, Subscriber{Bill: 60, CreditLimit: 100}, ""},
		{"suspended prepaid", Subscriber{Plan: Prepaid, Balance: 5000, Suspended: true}, 1,
			Subscriber{Plan: Prepaid, Balance: 5000, Suspended: true}, ReasonAccountSuspended},
		{"suspended before short", Subscriber{Plan: Postpaid, Suspended: true}, 1,
			Subscriber{Plan: Postpaid, Suspended: true}, ReasonAccountSuspended},
		{"zero amount", prepaid, 0, prepaid, "error"},
		{"negative amount", prepaid, -5, prepaid, "error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := tt.s.Debit(tt.amount)
			checkAccountErr(t, err, tt.reason)
			if got != tt.want {
				t.Fatalf("Debit(%d) = %+v, want %+v", tt.amount, got, tt.want)
			}
		})
	}
}

func TestSubscriberRefund(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		s      Subscriber
		amount Money
		want   Subscriber
		reason Reason
	}{
		{"prepaid grows", Subscriber{Plan: Prepaid, Balance: 100}, 50, Subscriber{Plan: Prepaid, Balance: 150}, ""},
		{"postpaid shrinks", Subscriber{Plan: Postpaid, Bill: 100, CreditLimit: 500}, 40,
			Subscriber{Plan: Postpaid, Bill: 60, CreditLimit: 500}, ""},
		{"postpaid not below zero", Subscriber{Plan: Postpaid, Bill: 100}, 400, Subscriber{Plan: Postpaid}, ""},
		{"postpaid leaves balance", Subscriber{Plan: Postpaid, Balance: 7, Bill: 10}, 5, Subscriber{Plan: Postpaid, Balance: 7, Bill: 5}, ""},
		{"suspended still refunded", Subscriber{Plan: Prepaid, Suspended: true}, 10, Subscriber{Plan: Prepaid, Balance: 10, Suspended: true}, ""},
		{"unnamed plan unchanged", Subscriber{Balance: 3, Bill: 4}, 10, Subscriber{Balance: 3, Bill: 4}, ""},
		{"zero amount", Subscriber{Plan: Prepaid}, 0, Subscriber{Plan: Prepaid}, "error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := tt.s.Refund(tt.amount)
			checkAccountErr(t, err, tt.reason)
			if got != tt.want {
				t.Fatalf("Refund(%d) = %+v, want %+v", tt.amount, got, tt.want)
			}
		})
	}
}

func TestAccountsOptionsOpenUnknown(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		opt    AccountsOptions
		want   Subscriber
		reason Reason
	}{
		{"auto open", AccountsOptions{AutoOpen: true, CreditLimit: 10000},
			Subscriber{MSISDN: "8613800000009", Plan: Postpaid, CreditLimit: 10000}, ""},
		{"auto open without a limit", AccountsOptions{AutoOpen: true}, Subscriber{MSISDN: "8613800000009", Plan: Postpaid}, ""},
		{"declined", AccountsOptions{CreditLimit: 10000}, Subscriber{}, ReasonUnknownSubscriber},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := tt.opt.OpenUnknown("8613800000009")
			checkAccountErr(t, err, tt.reason)
			if got != tt.want {
				t.Fatalf("OpenUnknown = %+v, want %+v", got, tt.want)
			}
		})
	}
}
