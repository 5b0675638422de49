package storetest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/carrierbill/carrierbill/billing"
)

// RunSubscriptions runs the monthly-subscription cases (issue 14) on the
// store open returns: the renewal calendar, limits and balance refusals up
// to the lapse, reminders, 0000 and TD, and a cancellation racing the
// renewal run.
func RunSubscriptions(t *testing.T, open Open) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, open Open)
	}{
		{"CalendarJan31", testSubscriptionCalendar},
		{"RefusedThenLapsed", testRenewalRefusals},
		{"ListAndCancelByNumber", testSubscriptionList},
		{"TD", testUnsubscribeTD},
		{"CancelRacesRenewal", testCancelRacesRenewal},
		{"AlreadySubscribed", testAlreadySubscribed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, open)
		})
	}
}

const subAddr = "106580088003" // the music merchant: YUE 10.00 and NEWS 5.00 a month, SONG 2.00 once

// subConfig adds a merchant selling two monthly subscriptions.
func subConfig(c *billing.Config) {
	m := billing.DefaultMerchant("8003", "音乐台")
	m.Products = []billing.Product{
		{Keyword: "YUE", Name: "音乐包月", Amount: 1000, Period: billing.PeriodMonth},
		{Keyword: "NEWS", Name: "资讯包月", Amount: 500, Period: billing.PeriodMonth},
		{Keyword: "SONG", Name: "单曲", Amount: 200},
	}
	c.Merchants = append(c.Merchants, m)
	c.Subscriptions = billing.SubscriptionRules{MaxFailures: 3, RetryEvery: 24 * time.Hour, ReminderDays: 3, ListValidity: time.Hour}
}

func (e *env) at(y int, m time.Month, d, h int) {
	e.clock.Set(time.Date(y, m, d, h, 0, 0, 0, shanghai))
}

func (e *env) renew() billing.RenewalReport {
	e.t.Helper()
	rep, err := e.engine.Renew(e.ctx)
	if err != nil {
		e.t.Fatalf("Renew: %v", err)
	}
	return rep
}

// subs returns every subscription of merchant 8003 (newest first).
func (e *env) subs(msisdn string) []billing.Subscription {
	e.t.Helper()
	s, err := e.engine.SubscriptionsOfMerchant(e.ctx, "8003", msisdn, 100)
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

func (e *env) sub(msisdn string) billing.Subscription {
	e.t.Helper()
	s := e.subs(msisdn)
	if len(s) != 1 {
		e.t.Fatalf("%d subscriptions of %s, want 1", len(s), msisdn)
	}
	return s[0]
}

// renewalCharges counts the succeeded charges of msisdn's renewal orders.
func (e *env) renewalCharges(msisdn string) int {
	e.t.Helper()
	var n int
	err := e.store.InTx(e.ctx, func(tx billing.Tx) error {
		os, err := tx.OrdersSince(e.ctx, msisdn, time.Time{})
		if err != nil {
			return err
		}
		n = 0
		for _, o := range os {
			if o.Channel == billing.ChannelSubscription && o.Status == billing.OrderPaid {
				c, err := tx.ChargeByOrder(e.ctx, o.ID)
				if err != nil {
					return err
				}
				if c.Status == billing.ChargeSucceeded {
					n++
				}
			}
		}
		return nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

// testSubscriptionCalendar: started January 31, a subscription renews on
// February 28 and March 31; reminders go 3 days ahead, once; a second pass
// the same day charges nothing.
func testSubscriptionCalendar(t *testing.T, open Open) {
	e := newEnv(t, open, subConfig)
	e.at(2027, time.January, 31, 10)
	e.pay(phoneA, subAddr, "yue")
	wantContains(t, e.lastMT(phoneA), "订购成功", "音乐包月", "10.00元/月", "2027-02-28", "31日", "TDYUE", "0000")
	s := e.sub(phoneA)
	if s.Status != billing.SubscriptionActive || s.AnchorDay != 31 || s.NextRenewal != "2027-02-28" || s.Amount != 1000 {
		t.Fatalf("subscription %+v", s)
	}

	e.at(2027, time.February, 20, 9)
	if rep := e.renew(); !rep.Empty() {
		t.Fatalf("nothing due on Feb 20: %+v", rep)
	}
	e.at(2027, time.February, 25, 9)
	if rep := e.renew(); rep.Reminded != 1 || rep.Renewed != 0 {
		t.Fatalf("Feb 25: %+v, want one reminder", rep)
	}
	wantContains(t, e.lastMT(phoneA), "2027-02-28", "10.00", "TDYUE")
	if rep := e.renew(); rep.Reminded != 0 {
		t.Fatalf("second pass reminded again: %+v", rep)
	}

	e.at(2027, time.February, 28, 1)
	if rep := e.renew(); rep.Renewed != 1 {
		t.Fatalf("Feb 28: %+v, want one renewal", rep)
	}
	wantContains(t, e.lastMT(phoneA), "包月续订成功", "10.00", "2027-03-30", "2027-03-31")
	if rep := e.renew(); rep.Renewed != 0 || rep.Failed != 0 {
		t.Fatalf("second pass on Feb 28: %+v", rep)
	}
	if s := e.sub(phoneA); s.NextRenewal != "2027-03-31" || s.Failures != 0 {
		t.Fatalf("after February: %+v", s)
	}

	// Down for March 31 and April 1: the pass of April 2 catches up March
	// (one period: the next renewal is April 30, not due yet).
	e.at(2027, time.April, 2, 3)
	if rep := e.renew(); rep.Renewed != 1 {
		t.Fatalf("catch-up: %+v", rep)
	}
	if s := e.sub(phoneA); s.NextRenewal != "2027-04-30" {
		t.Fatalf("after March: %+v", s)
	}
	if n := e.renewalCharges(phoneA); n != 2 {
		t.Fatalf("%d renewal charges, want 2", n)
	}
	// The month's quota counts the renewals like any payment.
	if q := e.quota(phoneA); q.MonthSpent != 1000 || q.Month != "2027-04-01" {
		t.Fatalf("quota %+v", q)
	}
}

// testRenewalRefusals: a renewal refused by the daily limit, then by the
// balance, then again: the subscription lapses after three failures, and
// the subscriber is told each time.
func testRenewalRefusals(t *testing.T, open Open) {
	e := newEnv(t, open, subConfig)
	e.at(2027, time.March, 5, 10)
	e.pay(phoneA, subAddr, "YUE")
	e.mts()

	// April 5: the day's limit (50.00) is nearly spent before the pass.
	e.at(2027, time.April, 5, 0)
	e.pay(phoneA, open1, "30")
	e.clock.Advance(time.Minute)
	e.pay(phoneA, open1, "15")
	e.mts()
	e.clock.Advance(time.Hour)
	if rep := e.renew(); rep.Failed != 1 {
		t.Fatalf("limit: %+v, want one failure", rep)
	}
	wantContains(t, e.lastMT(phoneA), "包月续订未成功", "音乐台", "每日")
	s := e.sub(phoneA)
	if s.Status != billing.SubscriptionActive || s.Failures != 1 || s.NextRenewal != "2027-04-05" {
		t.Fatalf("after the limit: %+v", s)
	}
	if rep := e.renew(); rep.Failed != 0 {
		t.Fatalf("retried before retry_every: %+v", rep)
	}

	// April 6: the account is empty.
	e.charger.mu.Lock()
	e.charger.decline[phoneA] = billing.ReasonInsufficientBalance
	e.charger.mu.Unlock()
	e.clock.Advance(24 * time.Hour)
	if rep := e.renew(); rep.Failed != 1 {
		t.Fatalf("balance: %+v", rep)
	}
	wantContains(t, e.lastMT(phoneA), "包月续订未成功", "余额不足")
	e.clock.Advance(24 * time.Hour)
	if rep := e.renew(); rep.Lapsed != 1 {
		t.Fatalf("third failure: %+v, want the lapse", rep)
	}
	var lapsed bool
	for _, m := range e.mts() {
		lapsed = lapsed || strings.Contains(m.Body, "已停止")
	}
	if !lapsed {
		t.Error("no lapse notice")
	}
	if s := e.sub(phoneA); s.Status != billing.SubscriptionLapsed || s.EndReason != string(billing.ReasonInsufficientBalance) {
		t.Fatalf("%+v", s)
	}
	if n := e.renewalCharges(phoneA); n != 0 {
		t.Fatalf("%d renewal charges, want 0", n)
	}
	// Lapsed: nothing is due any more, and the quota holds only the day's
	// purchases.
	e.clock.Advance(40 * 24 * time.Hour)
	if rep := e.renew(); !rep.Empty() {
		t.Fatalf("after the lapse: %+v", rep)
	}
}

// testSubscriptionList: 0000 lists two subscriptions, numbered; a reply
// with one number (full-width) cancels that one only; 00000 lists the rest.
func testSubscriptionList(t *testing.T, open Open) {
	e := newEnv(t, open, subConfig)
	e.at(2027, time.May, 10, 10)
	e.pay(phoneA, subAddr, "YUE")
	e.clock.Advance(time.Minute)
	e.pay(phoneA, subAddr, "NEWS")
	e.mts()
	if r := e.mo(phoneA, "10658008", "0000"); r.Outcome != billing.OutcomeQueried {
		t.Fatalf("0000: %+v", r)
	}
	list := e.lastMT(phoneA)
	wantContains(t, list, "1.音乐台音乐包月10.00元/月", "2.音乐台资讯包月5.00元/月", "2027-06-10")
	if r := e.mo(phoneA, "10658008", "２"); r.Outcome != billing.OutcomeCancelled {
		t.Fatalf("reply 2: %+v", r)
	}
	wantContains(t, e.lastMT(phoneA), "退订成功", "资讯包月", "2027-06-09")
	e.mo(phoneA, "10658008", "00000")
	list = e.lastMT(phoneA)
	if !strings.Contains(list, "1.音乐台音乐包月") || strings.Contains(list, "资讯") {
		t.Fatalf("listing after cancel: %q", list)
	}
	// A number without a fresh listing cancels nothing.
	e.clock.Advance(2 * time.Hour)
	if r := e.mo(phoneA, "10658008", "1"); r.Reason != billing.ReasonNoSubscription {
		t.Fatalf("stale number: %+v", r)
	}
	wantContains(t, e.lastMT(phoneA), "0000")
	// A number with none.
	e.mo(phoneB, "10658008", "0000")
	wantContains(t, e.lastMT(phoneB), "没有订购")
	// The cancelled one is not renewed; the other is.
	e.at(2027, time.June, 10, 2)
	if rep := e.renew(); rep.Renewed != 1 {
		t.Fatalf("June: %+v", rep)
	}
}

// testUnsubscribeTD: TD + keyword cancels one, TD alone all of the
// merchant's, T + keyword like TD; TD with none is told so.
func testUnsubscribeTD(t *testing.T, open Open) {
	e := newEnv(t, open, subConfig)
	e.at(2027, time.May, 10, 10)
	e.pay(phoneA, subAddr, "YUE")
	e.clock.Advance(time.Minute)
	e.pay(phoneA, subAddr, "NEWS")
	e.mts()
	if r := e.mo(phoneA, subAddr, "td yue"); r.Outcome != billing.OutcomeCancelled {
		t.Fatalf("TD YUE: %+v", r)
	}
	wantContains(t, e.lastMT(phoneA), "退订成功", "音乐包月")
	if r := e.mo(phoneA, subAddr, "TD"); r.Outcome != billing.OutcomeCancelled {
		t.Fatalf("TD: %+v", r)
	}
	wantContains(t, e.lastMT(phoneA), "资讯包月")
	if r := e.mo(phoneA, subAddr, "TD"); r.Reason != billing.ReasonNoSubscription {
		t.Fatalf("TD with none: %+v", r)
	}
	e.mts()
	// T + keyword.
	e.clock.Advance(time.Minute)
	e.pay(phoneB, subAddr, "NEWS")
	e.mts()
	if r := e.mo(phoneB, subAddr, "TNEWS"); r.Outcome != billing.OutcomeCancelled {
		t.Fatalf("TNEWS: %+v", r)
	}
	for _, s := range append(e.subs(phoneA), e.subs(phoneB)...) {
		if s.Status != billing.SubscriptionCancelled || s.EndReason != "subscriber" {
			t.Errorf("%+v", s)
		}
	}
	e.at(2027, time.June, 10, 2)
	if rep := e.renew(); rep.Renewed != 0 {
		t.Fatalf("cancelled subscriptions renewed: %+v", rep)
	}
}

// testCancelRacesRenewal: subscribers cancel while the renewal pass runs.
// Each period is charged at most once, and nothing after the cancellation.
func testCancelRacesRenewal(t *testing.T, open Open) {
	e := newEnv(t, open, subConfig)
	e.at(2027, time.May, 10, 10)
	const n = 12
	phones := make([]string, n)
	for i := range phones {
		phones[i] = fmt.Sprintf("86139000%05d", i)
		e.pay(phones[i], subAddr, "YUE")
	}
	e.mts()
	e.at(2027, time.June, 10, 1)
	var wg sync.WaitGroup
	errs := make(chan error, n+2)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := e.engine.Renew(context.Background()); err != nil {
				errs <- err
			}
		}()
	}
	for _, p := range phones {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := e.engine.Unsubscribe(context.Background(), billing.UnsubscribeRequest{
				Source: billing.Source{Channel: billing.ChannelSMS, Origin: subAddr}, MSISDN: p, Merchant: "8003"}); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for _, p := range phones {
		if c := e.renewalCharges(p); c > 1 {
			t.Errorf("%s: %d renewal charges for one period", p, c)
		}
		if s := e.sub(p); s.Status != billing.SubscriptionCancelled {
			t.Errorf("%s: %+v", p, s)
		}
	}
	e.at(2027, time.July, 10, 1)
	before := 0
	for _, p := range phones {
		before += e.renewalCharges(p)
	}
	e.renew()
	after := 0
	for _, p := range phones {
		after += e.renewalCharges(p)
	}
	if after != before {
		t.Fatalf("renewals after cancellation: %d → %d", before, after)
	}
}

// testAlreadySubscribed: buying a subscription one has is refused.
func testAlreadySubscribed(t *testing.T, open Open) {
	e := newEnv(t, open, subConfig)
	e.at(2027, time.May, 10, 10)
	e.pay(phoneA, subAddr, "YUE")
	e.mts()
	e.clock.Advance(time.Minute)
	if r := e.mo(phoneA, subAddr, "YUE"); r.Reason != billing.ReasonAlreadySubscribed {
		t.Fatalf("%+v", r)
	}
	wantContains(t, e.lastMT(phoneA), "已订购", "0000")
	// A one-off product of the same merchant is still for sale.
	e.pay(phoneA, subAddr, "SONG")
}
