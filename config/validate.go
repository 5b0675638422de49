package config

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	goredis "github.com/redis/go-redis/v9"
	"github.com/robfig/cron/v3"

	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/sms"
)

// FieldError is one problem with one field, named by its YAML path.
type FieldError struct {
	Field string // e.g. "merchants[1].products[0].amount"
	Msg   string
	Line  int    // the field's line in the file; 0: not from the file
	Env   string // the environment variable that set the field, if one did
}

func (e FieldError) Error() string {
	s := e.Field + ": " + e.Msg
	switch {
	case e.Env != "":
		s += " (from $" + e.Env + ")"
	case e.Line > 0:
		s += fmt.Sprintf(" (line %d)", e.Line)
	}
	return s
}

// Errors is every problem found, in file order (problems with fields that
// are not in the file, defaulted or from the environment, last).
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

// problems collects the FieldErrors of one validation.
type problems struct{ es Errors }

// add records a problem with field.
func (p *problems) add(field, format string, args ...any) {
	p.es = append(p.es, FieldError{Field: field, Msg: fmt.Sprintf(format, args...)})
}

// Validate reports every problem in c, each naming its field (and, for a
// configuration read by Parse, the field's line or the environment variable
// that set it). It returns nil or an Errors. Each step checks one section of
// the file; a new section adds its own step here.
func (c *Config) Validate() error {
	p := &problems{}
	c.checkBasics(p)
	c.checkStores(p)
	c.checkSMSC(p)
	c.checkOrders(p)
	c.checkLimits(p)
	c.checkFrequency(p)
	c.checkAccounts(p)
	c.checkNumbering(p)
	c.checkMerchants(p)
	c.checkSettlement(p)
	c.checkSubscriptions(p)
	c.checkAdmin(p)
	c.checkBank(p)
	c.checkVerify(p)
	c.checkOCS(p)
	c.checkAPI(p)
	c.checkUSSD(p)
	c.checkLog(p)
	c.checkOps(p)
	c.checkRisk(p)
	if len(p.es) == 0 {
		return nil
	}
	for i := range p.es {
		e := &p.es[i]
		if e.Env == "" {
			e.Env = c.fromEnv[e.Field]
		}
		if e.Line == 0 && e.Env == "" {
			e.Line = c.lines[e.Field]
		}
	}
	// In file order; what is not in the file (defaults, environment) last.
	sort.SliceStable(p.es, func(i, j int) bool {
		a, b := p.es[i].Line, p.es[j].Line
		return a != 0 && (b == 0 || a < b)
	})
	return p.es
}

// checkBasics checks the top-level settings: time zone and service code.
func (c *Config) checkBasics(p *problems) {
	if _, err := time.LoadLocation(c.Timezone); err != nil {
		p.add("timezone", "unknown time zone %q (want an IANA name like Asia/Shanghai)", c.Timezone)
	}
	if !digits.MatchString(c.ServiceCode) || len(c.ServiceCode) > 16 {
		p.add("service_code", "%q is not a service code of up to 16 digits", c.ServiceCode)
	}
}

// checkStores checks the database and Redis sections: each URL must be
// one the gateway's client parses (nothing is dialled here).
func (c *Config) checkStores(p *problems) {
	if c.Database.URL != "" {
		u, err := url.Parse(c.Database.URL)
		if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			p.add("database.url", "want a postgres:// URL (or leave it empty for the embedded store)")
		} else if _, err := pgxpool.ParseConfig(c.Database.URL); err != nil {
			p.add("database.url", "PostgreSQL cannot use this URL: %s", pgReason(err))
		}
	}
	if c.Database.MaxConns < 0 {
		p.add("database.max_conns", "must not be negative")
	}
	if c.Redis.URL != "" {
		u, err := url.Parse(c.Redis.URL)
		if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss" && u.Scheme != "unix") {
			p.add("redis.url", "want a redis:// URL (or leave it empty for the in-process Redis)")
		} else if _, err := goredis.ParseURL(c.Redis.URL); err != nil {
			p.add("redis.url", "Redis cannot use this URL: %s", strings.TrimPrefix(err.Error(), "redis: "))
		}
	}
	if c.Redis.Timeout <= 0 {
		p.add("redis.timeout", "must be positive")
	}
}

// pgReason is pgx's complaint about a connection string, without the
// string itself (it can hold the password).
func pgReason(err error) string {
	var pe *pgconn.ParseConfigError
	if !errors.As(err, &pe) {
		return "it does not parse"
	}
	s := pe.Error()
	if i := strings.LastIndex(s, "`: "); i >= 0 {
		s = s[i+3:]
	}
	if pe.ConnString != "" && strings.Contains(s, pe.ConnString) {
		return "it does not parse"
	}
	return s
}

// checkSMSC checks every SMPP bind, and the SMSC environment variables.
func (c *Config) checkSMSC(p *problems) {
	for _, name := range c.smscOrphans {
		p.add("smsc.binds", "$%s is set but there is no bind for it: %s go together (or write the bind under smsc.binds)", name, smscEnvTogether)
	}
	names := map[string]bool{}
	for i, b := range c.SMSC.Binds {
		f := fmt.Sprintf("smsc.binds[%d]", i)
		if names[b.Name] {
			p.add(f+".name", "%q is used by another bind", b.Name)
		}
		names[b.Name] = true
		fromEnv := i == 0 && c.smscFromEnv
		if fromEnv {
			checkEnvBind(p, f, b)
		}
		checkBind(p, f, b, fromEnv)
	}
}

// checkEnvBind checks a bind made from the environment alone: the address
// is not enough, the SMSC needs the credentials too.
func checkEnvBind(p *problems, f string, b Bind) {
	var missing []string
	if b.SystemID == "" {
		missing = append(missing, "$"+EnvSMSCSystemID)
	}
	if b.Password == "" {
		missing = append(missing, "$"+EnvSMSCPassword)
	}
	if len(missing) == 0 {
		return
	}
	field := f + ".system_id"
	if b.SystemID != "" {
		field = f + ".password"
	}
	p.add(field, "required: $%s alone is not enough, %s go together: set %s too (or write the bind under smsc.binds)",
		EnvSMSCAddr, smscEnvTogether, strings.Join(missing, " and "))
}

// checkBind checks one SMPP bind, named f. fromEnv: the bind was made from
// the environment, and checkEnvBind has said what it lacks.
func checkBind(p *problems, f string, b Bind, fromEnv bool) {
	if err := dialAddr(b.Addr); err != nil {
		p.add(f+".addr", "%v", err)
	}
	if len(b.SystemID) > 15 || (b.SystemID == "" && !fromEnv) {
		p.add(f+".system_id", "required, at most 15 characters")
	}
	if len(b.Password) > 8 {
		p.add(f+".password", "at most 8 characters in SMPP 3.4")
	}
	if len(b.SystemType) > 12 {
		p.add(f+".system_type", "at most 12 characters")
	}
	if b.Mode != "transceiver" && b.Mode != "transmitter+receiver" {
		p.add(f+".mode", "%q: want transceiver or transmitter+receiver", b.Mode)
	}
	if b.AddrTON < 0 || b.AddrTON > 6 {
		p.add(f+".addr_ton", "want 0..6")
	}
	if b.AddrNPI < 0 || b.AddrNPI > 18 {
		p.add(f+".addr_npi", "want 0..18")
	}
	if b.Window < 1 || b.Window > 1000 {
		p.add(f+".window", "want 1..1000 messages in flight")
	}
	if b.MaxPerSecond < 0 {
		p.add(f+".max_per_second", "must not be negative (0: no cap)")
	}
	if b.EnquireLink < Duration(time.Second) {
		p.add(f+".enquire_link", "want at least 1s")
	}
	if b.EnquireLinkTimeout <= 0 {
		p.add(f+".enquire_link_timeout", "must be positive")
	}
	if b.PartTimeout <= 0 {
		p.add(f+".part_timeout", "must be positive")
	}
	for _, v := range []struct {
		name string
		n    int
	}{{"part_max_bytes", b.PartMaxBytes}, {"parts_max_source_bytes", b.PartsMaxSourceBytes}, {"parts_max_bytes", b.PartsMaxBytes}} {
		if v.n < 0 {
			p.add(f+"."+v.name, "must not be negative (0: the default)")
		}
	}
	if b.PartMaxBytes > 0 && b.PartsMaxSourceBytes > 0 && b.PartMaxBytes > b.PartsMaxSourceBytes {
		p.add(f+".part_max_bytes", "is above parts_max_source_bytes: no part could ever be held")
	}
	if b.PartsMaxSourceBytes > 0 && b.PartsMaxBytes > 0 && b.PartsMaxSourceBytes > b.PartsMaxBytes {
		p.add(f+".parts_max_source_bytes", "is above parts_max_bytes")
	}
	if b.StoreTimeout <= 0 || b.StoreTimeout > Duration(30*time.Second) {
		p.add(f+".store_timeout", "want more than 0 and at most 30s (keep it well under the SMSC's response timeout)")
	}
	if b.RegisteredDelivery != nil && (*b.RegisteredDelivery < 0 || *b.RegisteredDelivery > 2) {
		p.add(f+".registered_delivery", "want 0 (no receipt), 1 (receipt on delivery or failure) or 2 (on failure only)")
	}
}

// checkOrders checks the confirmation-code rules.
func (c *Config) checkOrders(p *problems) {
	if c.Orders.CodeValidity < Duration(time.Minute) {
		p.add("orders.code_validity", "want at least 1m")
	}
	for name, v := range map[string]*int{"max_pending": c.Orders.MaxPending, "wrong_codes_per_hour": c.Orders.WrongCodesPerHour,
		"wrong_codes_per_day": c.Orders.WrongCodesPerDay, "wrong_codes_per_month": c.Orders.WrongCodesPerMonth} {
		if v != nil && *v < 0 {
			p.add("orders."+name, "must not be negative")
		}
	}
	if c.Orders.MaxWrongCodes < 1 || c.Orders.MaxWrongCodes > 3 {
		p.add("orders.max_wrong_codes", "want 1..3")
	}
}

// checkLimits checks the spend limits of every payment method.
func (c *Config) checkLimits(p *problems) {
	methods := make([]string, 0, len(c.Limits))
	for m := range c.Limits {
		methods = append(methods, m)
	}
	sort.Strings(methods)
	for _, method := range methods {
		l := c.Limits[method]
		f := "limits." + method
		if method != "phone" && method != "card" {
			p.add(f, "unknown payment method %q (want phone or card)", method)
			continue
		}
		if l.PerPayment.Money <= 0 {
			p.add(f+".per_payment", "must be positive")
		}
		if l.Daily.Money < l.PerPayment.Money {
			p.add(f+".daily", "%s is below per_payment %s", l.Daily.Money, l.PerPayment.Money)
		}
		if l.Monthly.Money < l.Daily.Money {
			p.add(f+".monthly", "%s is below daily %s", l.Monthly.Money, l.Daily.Money)
		}
	}
}

// checkFrequency checks the frequency rules (0 switches one off).
func (c *Config) checkFrequency(p *problems) {
	if c.Frequency.MinInterval != nil && *c.Frequency.MinInterval < 0 {
		p.add("frequency.min_interval", "must not be negative (0 switches it off)")
	}
	if c.Frequency.PurchasesPerHour != nil && *c.Frequency.PurchasesPerHour < 0 {
		p.add("frequency.purchases_per_hour", "must not be negative (0 switches it off)")
	}
	if c.Frequency.ConfirmationsPerOrder != nil && *c.Frequency.ConfirmationsPerOrder < 0 {
		p.add("frequency.confirmations_per_order", "must not be negative (0 switches it off)")
	}
}

// checkAccounts checks the built-in phone-account charger.
func (c *Config) checkAccounts(p *problems) {
	if c.Accounts.CreditLimit.Money < 0 {
		p.add("accounts.credit_limit", "must not be negative")
	}
}

// checkMerchants checks every merchant and its catalog.
func (c *Config) checkMerchants(p *problems) {
	codes := map[string]int{}
	for i, m := range c.Merchants {
		f := fmt.Sprintf("merchants[%d]", i)
		if !digits.MatchString(m.Code) || len(m.Code) > 8 {
			p.add(f+".code", "%q is not a merchant code of up to 8 digits", m.Code)
		} else if j, dup := codes[m.Code]; dup {
			p.add(f+".code", "%q is also merchants[%d]'s code", m.Code, j)
		}
		codes[m.Code] = i
		c.checkMerchant(p, f, m)
	}
}

// checkMerchant checks one merchant, named f, and its products.
func (c *Config) checkMerchant(p *problems, f string, m Merchant) {
	if strings.TrimSpace(m.Name) == "" {
		p.add(f+".name", "required: subscribers see it in every prompt")
	}
	if !m.OpenAmount && len(m.Products) == 0 {
		p.add(f, "has no products and is not open_amount: nothing can be bought")
	}
	if m.OpenAmount {
		if m.MinAmount.Money <= 0 {
			p.add(f+".min_amount", "must be positive")
		} else if limit, ok := c.buyable(m.MinAmount.Money); !ok {
			p.add(f+".min_amount", "%s is above %s: no amount could ever be bought", m.MinAmount.Money, limit)
		}
		if m.MaxAmount.Money < m.MinAmount.Money {
			p.add(f+".max_amount", "%s is below min_amount %s", m.MaxAmount.Money, m.MinAmount.Money)
		}
	}
	if m.PerMessageFee.Money < 0 {
		p.add(f+".per_message_fee", "must not be negative")
	}
	kws := map[string]bool{}
	for j, pr := range m.Products {
		c.checkProduct(p, fmt.Sprintf("%s.products[%d]", f, j), pr, kws)
	}
}

// checkProduct checks one product, named f; kws holds the keywords its
// merchant's earlier products use.
func (c *Config) checkProduct(p *problems, f string, pr Product, kws map[string]bool) {
	kw := strings.ToUpper(strings.TrimSpace(pr.Keyword))
	switch {
	case kw == "" || !keywordChar.MatchString(kw):
		p.add(f+".keyword", "%q: want letters, digits, '_' or '-'", pr.Keyword)
	case digits.MatchString(kw):
		p.add(f+".keyword", "%q is all digits: it would read as an amount or a code", pr.Keyword)
	case kw == "CX":
		p.add(f+".keyword", "CX is the quota query")
	case c.cardsOn && sms.ParseWallet(kw).Kind != sms.WalletNone:
		p.add(f+".keyword", "%q is a wallet command while card payments are on (YE: the card's balance, MM: a password change)", pr.Keyword)
	case kws[kw]:
		p.add(f+".keyword", "%q is used twice in this merchant", pr.Keyword)
	}
	kws[kw] = true
	if strings.TrimSpace(pr.Name) == "" {
		p.add(f+".name", "required: subscribers see it in the prompt")
	}
	checkPeriod(p, f, pr)
	if pr.Amount.Money <= 0 {
		p.add(f+".amount", "must be positive")
	} else if limit, ok := c.buyable(pr.Amount.Money); !ok {
		p.add(f+".amount", "%s is above %s: the product could never be bought", pr.Amount.Money, limit)
	}
}

// buyable reports whether a payment of amount is within the per-payment
// limit of a payment method that is on (the phone account always, bank
// cards when their keys are set); if not, limit names the limits it breaks.
func (c *Config) buyable(amount billing.Money) (limit string, ok bool) {
	methods := []string{"phone"}
	if c.cardsOn {
		methods = append(methods, "card")
	}
	var over []string
	for _, m := range methods {
		l, set := c.Limits[m]
		if !set || !l.PerPayment.set || amount <= l.PerPayment.Money {
			return "", true
		}
		over = append(over, fmt.Sprintf("limits.%s.per_payment %s", m, l.PerPayment.Money))
	}
	return "the per-payment limit (" + strings.Join(over, ", ") + ")", false
}

// checkSettlement checks the nightly schedules and the download server.
func (c *Config) checkSettlement(p *problems) {
	parser := cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)
	for _, s := range []struct{ field, spec string }{
		{"settlement.statement_schedule", c.Settlement.StatementSchedule},
		{"settlement.daily_bill_schedule", c.Settlement.DailyBillSchedule},
		{"settlement.monthly_bill_schedule", c.Settlement.MonthlyBillSchedule},
	} {
		if _, err := parser.Parse(s.spec); err != nil {
			p.add(s.field, "%q is not a cron schedule (minute hour day month weekday): %v", s.spec, err)
		}
	}
	if c.Settlement.Listen != "" {
		if err := listenAddr(c.Settlement.Listen); err != nil {
			p.add("settlement.listen", "%v", err)
		}
	}
	if c.Settlement.StartDate != "" {
		if _, err := time.Parse(time.DateOnly, c.Settlement.StartDate); err != nil {
			p.add("settlement.start_date", "%q is not a date like 2026-11-01", c.Settlement.StartDate)
		}
	}
}

// checkAdmin checks the card admin endpoint.
func (c *Config) checkAdmin(p *problems) {
	if c.Admin.Listen != "" {
		if err := listenAddr(c.Admin.Listen); err != nil {
			p.add("admin.listen", "%v", err)
		}
	}
}

// checkLog checks the logging settings.
func (c *Config) checkLog(p *problems) {
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		p.add("log.level", "%q: want debug, info, warn or error", c.Log.Level)
	}
	if c.Log.Format != "text" && c.Log.Format != "json" {
		p.add("log.format", "%q: want text or json", c.Log.Format)
	}
}

// IsInvalid reports whether err came from Validate.
func IsInvalid(err error) bool {
	var es Errors
	return errors.As(err, &es)
}
