package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// FieldError is one problem with one field, named by its YAML path.
type FieldError struct {
	Field string // e.g. "merchants[1].products[0].amount"
	Msg   string
}

func (e FieldError) Error() string { return e.Field + ": " + e.Msg }

// Errors is every problem Validate found, in file order.
type Errors []FieldError

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return "invalid configuration:\n  " + strings.Join(lines, "\n  ")
}

var (
	digits      = regexp.MustCompile(`^[0-9]+$`)
	keywordChar = regexp.MustCompile(`^[\p{L}\p{N}_\-]+$`)
)

// Validate reports every problem in c, each naming its field. It returns nil
// or an Errors.
func (c *Config) Validate() error {
	var es Errors
	bad := func(field, format string, args ...any) {
		es = append(es, FieldError{Field: field, Msg: fmt.Sprintf(format, args...)})
	}

	if _, err := time.LoadLocation(c.Timezone); err != nil {
		bad("timezone", "unknown time zone %q (want an IANA name like Asia/Shanghai)", c.Timezone)
	}
	if !digits.MatchString(c.ServiceCode) || len(c.ServiceCode) > 16 {
		bad("service_code", "%q is not a service code of up to 16 digits", c.ServiceCode)
	}
	if c.Database.URL != "" {
		if u, err := url.Parse(c.Database.URL); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			bad("database.url", "want a postgres:// URL (or leave it empty for the embedded store)")
		}
	}
	if c.Database.MaxConns < 0 {
		bad("database.max_conns", "must not be negative")
	}
	if c.Redis.URL != "" {
		if u, err := url.Parse(c.Redis.URL); err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") {
			bad("redis.url", "want a redis:// URL (or leave it empty for the in-process Redis)")
		}
	}
	if c.Redis.Timeout <= 0 {
		bad("redis.timeout", "must be positive")
	}

	names := map[string]bool{}
	for i, b := range c.SMSC.Binds {
		f := fmt.Sprintf("smsc.binds[%d]", i)
		if names[b.Name] {
			bad(f+".name", "%q is used by another bind", b.Name)
		}
		names[b.Name] = true
		if _, _, err := net.SplitHostPort(b.Addr); err != nil {
			bad(f+".addr", "%q is not host:port (env CARRIERBILL_SMSC_ADDR sets the first bind's)", b.Addr)
		}
		if b.SystemID == "" || len(b.SystemID) > 15 {
			bad(f+".system_id", "required, at most 15 characters (env CARRIERBILL_SMSC_SYSTEM_ID)")
		}
		if len(b.Password) > 8 {
			bad(f+".password", "at most 8 characters in SMPP 3.4")
		}
		if len(b.SystemType) > 12 {
			bad(f+".system_type", "at most 12 characters")
		}
		if b.Mode != "transceiver" && b.Mode != "transmitter+receiver" {
			bad(f+".mode", "%q: want transceiver or transmitter+receiver", b.Mode)
		}
		if b.AddrTON < 0 || b.AddrTON > 6 {
			bad(f+".addr_ton", "want 0..6")
		}
		if b.AddrNPI < 0 || b.AddrNPI > 18 {
			bad(f+".addr_npi", "want 0..18")
		}
		if b.Window < 1 || b.Window > 1000 {
			bad(f+".window", "want 1..1000 messages in flight")
		}
		if b.MaxPerSecond < 0 {
			bad(f+".max_per_second", "must not be negative (0: no cap)")
		}
		if b.EnquireLink < Duration(time.Second) {
			bad(f+".enquire_link", "want at least 1s")
		}
		if b.EnquireLinkTimeout <= 0 {
			bad(f+".enquire_link_timeout", "must be positive")
		}
		if b.PartTimeout <= 0 {
			bad(f+".part_timeout", "must be positive")
		}
	}

	if c.Orders.CodeValidity < Duration(time.Minute) {
		bad("orders.code_validity", "want at least 1m")
	}
	if c.Orders.MaxWrongCodes < 1 || c.Orders.MaxWrongCodes > 3 {
		bad("orders.max_wrong_codes", "want 1..3")
	}
	methods := make([]string, 0, len(c.Limits))
	for m := range c.Limits {
		methods = append(methods, m)
	}
	sort.Strings(methods)
	for _, method := range methods {
		l := c.Limits[method]
		f := "limits." + method
		if method != "phone" && method != "card" {
			bad(f, "unknown payment method %q (want phone or card)", method)
			continue
		}
		if l.PerPayment.Money <= 0 {
			bad(f+".per_payment", "must be positive")
		}
		if l.Daily.Money < l.PerPayment.Money {
			bad(f+".daily", "%s is below per_payment %s", l.Daily.Money, l.PerPayment.Money)
		}
		if l.Monthly.Money < l.Daily.Money {
			bad(f+".monthly", "%s is below daily %s", l.Monthly.Money, l.Daily.Money)
		}
	}
	if c.Frequency.MinInterval != nil && *c.Frequency.MinInterval < 0 {
		bad("frequency.min_interval", "must not be negative (0 switches it off)")
	}
	if c.Frequency.PurchasesPerHour != nil && *c.Frequency.PurchasesPerHour < 0 {
		bad("frequency.purchases_per_hour", "must not be negative (0 switches it off)")
	}
	if c.Frequency.ConfirmationsPerOrder != nil && *c.Frequency.ConfirmationsPerOrder < 0 {
		bad("frequency.confirmations_per_order", "must not be negative (0 switches it off)")
	}
	if c.Accounts.CreditLimit.Money < 0 {
		bad("accounts.credit_limit", "must not be negative")
	}

	codes := map[string]int{}
	for i, m := range c.Merchants {
		f := fmt.Sprintf("merchants[%d]", i)
		if !digits.MatchString(m.Code) || len(m.Code) > 8 {
			bad(f+".code", "%q is not a merchant code of up to 8 digits", m.Code)
		} else if j, dup := codes[m.Code]; dup {
			bad(f+".code", "%q is also merchants[%d]'s code", m.Code, j)
		}
		codes[m.Code] = i
		if strings.TrimSpace(m.Name) == "" {
			bad(f+".name", "required: subscribers see it in every prompt")
		}
		if !m.OpenAmount && len(m.Products) == 0 {
			bad(f, "has no products and is not open_amount: nothing can be bought")
		}
		if m.OpenAmount {
			if m.MinAmount.Money <= 0 {
				bad(f+".min_amount", "must be positive")
			}
			if m.MaxAmount.Money < m.MinAmount.Money {
				bad(f+".max_amount", "%s is below min_amount %s", m.MaxAmount.Money, m.MinAmount.Money)
			}
		}
		if m.PerMessageFee.Money < 0 {
			bad(f+".per_message_fee", "must not be negative")
		}
		kws := map[string]bool{}
		for j, p := range m.Products {
			pf := fmt.Sprintf("%s.products[%d]", f, j)
			kw := strings.ToUpper(strings.TrimSpace(p.Keyword))
			switch {
			case kw == "" || !keywordChar.MatchString(kw):
				bad(pf+".keyword", "%q: want letters, digits, '_' or '-'", p.Keyword)
			case digits.MatchString(kw):
				bad(pf+".keyword", "%q is all digits: it would read as an amount or a code", p.Keyword)
			case kw == "CX":
				bad(pf+".keyword", "CX is the quota query")
			case kws[kw]:
				bad(pf+".keyword", "%q is used twice in this merchant", p.Keyword)
			}
			kws[kw] = true
			if strings.TrimSpace(p.Name) == "" {
				bad(pf+".name", "required: subscribers see it in the prompt")
			}
			if p.Amount.Money <= 0 {
				bad(pf+".amount", "must be positive")
			}
		}
	}

	parser := cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)
	for _, s := range []struct{ field, spec string }{
		{"settlement.statement_schedule", c.Settlement.StatementSchedule},
		{"settlement.daily_bill_schedule", c.Settlement.DailyBillSchedule},
		{"settlement.monthly_bill_schedule", c.Settlement.MonthlyBillSchedule},
	} {
		if _, err := parser.Parse(s.spec); err != nil {
			bad(s.field, "%q is not a cron schedule (minute hour day month weekday): %v", s.spec, err)
		}
	}
	if c.Settlement.Listen != "" {
		if _, _, err := net.SplitHostPort(c.Settlement.Listen); err != nil {
			bad("settlement.listen", "%q is not host:port", c.Settlement.Listen)
		}
	}
	if c.Settlement.StartDate != "" {
		if _, err := time.Parse(time.DateOnly, c.Settlement.StartDate); err != nil {
			bad("settlement.start_date", "%q is not a date like 2026-11-01", c.Settlement.StartDate)
		}
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", "%q: want debug, info, warn or error", c.Log.Level)
	}
	if c.Log.Format != "text" && c.Log.Format != "json" {
		bad("log.format", "%q: want text or json", c.Log.Format)
	}

	if len(es) == 0 {
		return nil
	}
	return es
}

// IsInvalid reports whether err came from Validate.
func IsInvalid(err error) bool {
	var es Errors
	return errors.As(err, &es)
}
