package billing

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Config is everything the engine needs to decide. Start from DefaultConfig
// and change what the operator configured; Validate before use. The YAML
// file (package config) is mapped onto this struct by the caller.
type Config struct {
	// ServiceCode is the SMS service code; a merchant's address is the
	// service code followed by its merchant code ("10658008" + "8001").
	ServiceCode string
	// Location is the operator's time zone: the days and months of the
	// limits are calendar periods here.
	Location *time.Location
	// CodeValidity is how long a confirmation code is valid.
	CodeValidity time.Duration
	// MaxWrongCodes is how many wrong codes void an order.
	MaxWrongCodes int
	// Limits are the spend limits by payment method.
	Limits map[Method]Limits
	// MinInterval is the minimum time between two charges of one phone
	// number; 0 switches the rule off (limiter and database backstop).
	MinInterval time.Duration
	// PurchasesPerHour is how many purchase requests one phone number may
	// make per hour; 0 switches the rule off.
	PurchasesPerHour int
	// CardFrequency are the minimum interval and purchases per hour of
	// bank-card payments, counted apart from the phone account's. nil:
	// the same values as MinInterval and PurchasesPerHour.
	CardFrequency *Frequency
	// ConfirmationsPerOrder is how many confirmation attempts one order
	// may receive (per code validity); 0 switches the rule off.
	ConfirmationsPerOrder int
	// Merchants is the catalog.
	Merchants []Merchant
	// MaxPendingOrders caps the pending orders of one number (0: no cap).
	MaxPendingOrders int
	// WrongCodesPerHour, WrongCodesPerDay and WrongCodesPerMonth cap the
	// wrong confirmation codes of one number across its orders, per clock
	// hour, calendar day and calendar month of Location; a number at a cap
	// confirms nothing until the period ends (see guard.go). 0: no cap.
	WrongCodesPerHour  int
	WrongCodesPerDay   int
	WrongCodesPerMonth int
	// ChargeTimeout bounds one call to the charger.
	ChargeTimeout time.Duration
	// RecoverAfter is how long a charge may stay pending before the
	// recovery sweep asks the charger about it. It must exceed ChargeTimeout.
	RecoverAfter time.Duration
	// HoldExpiry is how long a payment a risk rule held waits for an
	// operator: past it the sweep refuses it (risk_refused, the subscriber
	// is told, the hold resolved "expired" by HoldExpiredBy), within a
	// minute. 0: it waits forever.
	HoldExpiry time.Duration
	// Subscriptions are the renewal rules (zero fields take
	// DefaultSubscriptionRules).
	Subscriptions SubscriptionRules
}

// Frequency are the frequency rules of one payment method; zero switches a
// rule off.
type Frequency struct {
	MinInterval      time.Duration
	PurchasesPerHour int
}

// frequency returns the frequency rules of method m.
func (c *Config) frequency(m Method) Frequency {
	if m == MethodCard && c.CardFrequency != nil {
		return *c.CardFrequency
	}
	return Frequency{MinInterval: c.MinInterval, PurchasesPerHour: c.PurchasesPerHour}
}

// Limits are the spend limits of one payment method.
type Limits struct {
	PerPayment Money
	Daily      Money
	Monthly    Money
}

// Merchant is one merchant and its catalog.
type Merchant struct {
	Code       string // digits appended to the service code
	Name       string
	OpenAmount bool  // accepts an amount in yuan as the purchase text
	MinAmount  Money // open amount bounds (default 0.10 to 30.00)
	MaxAmount  Money
	Products   []Product
}

// Product is one product of a merchant's catalog.
type Product struct {
	Keyword string // what the subscriber texts, case-insensitive
	Name    string
	Amount  Money
	// Period is "" for a one-off product, PeriodMonth for a monthly
	// subscription (billing/subscription.go).
	Period string
}

// DefaultConfig returns the defaults of issue 3: service code 10658008,
// Asia/Shanghai, codes valid 10 minutes, 3 wrong codes void an order,
// 30.00 / 50.00 / 100.00 per payment / day / month for both methods, a
// minimum interval of 60 s, 20 purchase requests per hour, 5 confirmation
// attempts per order, at most 2 pending orders and 3/5/12 wrong codes per
// hour/day/month per number, no merchants.
func DefaultConfig() Config {
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		loc = time.FixedZone("CST", 8*3600) // no tzdata: Shanghai has no DST
	}
	lim := Limits{PerPayment: Yuan(30), Daily: Yuan(50), Monthly: Yuan(100)}
	return Config{
		ServiceCode:           "10658008",
		Location:              loc,
		CodeValidity:          10 * time.Minute,
		MaxWrongCodes:         3,
		Limits:                map[Method]Limits{MethodPhone: lim, MethodCard: lim},
		MinInterval:           60 * time.Second,
		PurchasesPerHour:      20,
		ConfirmationsPerOrder: 5,
		MaxPendingOrders:      2,
		WrongCodesPerHour:     3,
		WrongCodesPerDay:      5,
		WrongCodesPerMonth:    12,
		ChargeTimeout:         10 * time.Second,
		RecoverAfter:          2 * time.Minute,
		HoldExpiry:            24 * time.Hour,
		Subscriptions:         DefaultSubscriptionRules(),
	}
}

// DefaultMerchant returns a merchant with the default open-amount bounds.
func DefaultMerchant(code, name string) Merchant {
	return Merchant{Code: code, Name: name, MinAmount: 10, MaxAmount: Yuan(30)}
}

// Validate reports every problem of c, naming the field.
func (c *Config) Validate() error {
	var errs []error
	bad := func(field, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, a...)))
	}
	if !allDigits(c.ServiceCode) {
		bad("service_code", "%q is not a string of digits", c.ServiceCode)
	}
	if c.Location == nil {
		bad("timezone", "not set")
	}
	if c.CodeValidity <= 0 {
		bad("orders.code_validity", "must be positive")
	}
	if c.MaxWrongCodes < 1 || c.MaxWrongCodes > 3 {
		bad("orders.max_wrong_codes", "must be between 1 and 3 (the schema allows 3 attempts)")
	}
	for _, m := range []Method{MethodPhone, MethodCard} {
		l, ok := c.Limits[m]
		if !ok {
			bad("limits."+string(m), "missing")
			continue
		}
		if l.PerPayment <= 0 || l.Daily <= 0 || l.Monthly <= 0 {
			bad("limits."+string(m), "every limit must be positive")
		}
		if l.Daily > l.Monthly {
			bad("limits."+string(m)+".daily", "%s exceeds the monthly limit %s", l.Daily, l.Monthly)
		}
	}
	if c.MinInterval < 0 {
		bad("frequency.min_interval", "must not be negative")
	}
	if f := c.CardFrequency; f != nil && f.MinInterval < 0 {
		bad("frequency.card.min_interval", "must not be negative")
	}
	if f := c.CardFrequency; f != nil && f.PurchasesPerHour < 0 {
		bad("frequency.card.purchases_per_hour", "must not be negative")
	}
	if c.PurchasesPerHour < 0 {
		bad("frequency.purchases_per_hour", "must not be negative")
	}
	if c.ConfirmationsPerOrder < 0 {
		bad("frequency.confirmations_per_order", "must not be negative")
	}
	if c.ChargeTimeout <= 0 {
		bad("charge_timeout", "must be positive")
	}
	if c.RecoverAfter <= c.ChargeTimeout {
		bad("recover_after", "must exceed charge_timeout (%s)", c.ChargeTimeout)
	}
	if c.HoldExpiry < 0 {
		bad("hold_expiry", "must not be negative")
	}
	codes := map[string]bool{}
	for i, m := range c.Merchants {
		f := fmt.Sprintf("merchants[%d]", i)
		if !allDigits(m.Code) {
			bad(f+".code", "%q is not a string of digits", m.Code)
		}
		if codes[m.Code] {
			bad(f+".code", "%q appears twice", m.Code)
		}
		codes[m.Code] = true
		if m.Name == "" {
			bad(f+".name", "empty")
		}
		if m.OpenAmount && (m.MinAmount <= 0 || m.MaxAmount < m.MinAmount) {
			bad(f, "open amount bounds %s..%s are not a positive range", m.MinAmount, m.MaxAmount)
		}
		if !m.OpenAmount && len(m.Products) == 0 {
			bad(f+".products", "a merchant without open amounts needs products")
		}
		kw := map[string]bool{}
		for j, p := range m.Products {
			pf := fmt.Sprintf("%s.products[%d]", f, j)
			k := strings.ToUpper(strings.TrimSpace(p.Keyword))
			switch {
			case k == "":
				bad(pf+".keyword", "empty")
			case kw[k]:
				bad(pf+".keyword", "%q appears twice", p.Keyword)
			}
			kw[k] = true
			if p.Name == "" {
				bad(pf+".name", "empty")
			}
			if p.Amount <= 0 {
				bad(pf+".amount", "must be positive")
			}
			switch p.Period {
			case "":
			case PeriodMonth:
				if lim, ok := c.Limits[MethodPhone]; ok && p.Amount > lim.PerPayment {
					bad(pf+".amount", "a monthly subscription must cost at most the per-payment limit %s", lim.PerPayment)
				}
			default:
				bad(pf+".period", "%q is not a period (month, or empty for a one-off product)", p.Period)
			}
		}
	}
	if r := c.Subscriptions; r.MaxFailures < 0 || r.RetryEvery < 0 || r.ReminderDays < 0 || r.ListValidity < 0 {
		bad("subscriptions", "max_failures, retry_every, reminder_days and list_validity must not be negative")
	}
	if c.MaxPendingOrders < 0 || c.WrongCodesPerHour < 0 || c.WrongCodesPerDay < 0 || c.WrongCodesPerMonth < 0 {
		bad("orders", "pending-order and wrong-code caps must not be negative")
	}
	return errors.Join(errs...)
}

func (c *Config) merchant(code string) (*Merchant, bool) {
	for i := range c.Merchants {
		if c.Merchants[i].Code == code {
			return &c.Merchants[i], true
		}
	}
	return nil, false
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
