// Package config is carrierbill's one configuration file: a YAML document
// (see carrierbill.example.yaml at the repository root) plus environment
// overrides for addresses and secrets.
//
// Load reads the file strictly (decode.go: an unknown key, a key given
// twice or a value of the wrong type — 0.9 for an integer, "yes" for true —
// is an error, so nothing silently falls back to a default or is coerced),
// applies the environment, fills explicit defaults and validates
// (validate.go, one named step per section); every error names the field it
// is about, as a YAML path, with its line or the environment variable that
// set it ("merchants[1].products[0].amount: must be positive (line 30)").
// A field added to Config is decoded strictly with no code of its own.
//
// The package only describes configuration: it never opens connections,
// resolves names or starts anything, and it never logs or prints a secret
// (a database URL's error leaves the URL out).
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"time"

	"gopkg.in/yaml.v3"
)

// Config is the whole configuration.
type Config struct {
	// Timezone is the operator's time zone: days and months of the spend
	// limits and the business dates of settlement are calendar periods here.
	Timezone string `yaml:"timezone"`
	// ServiceCode is the SMS service code; a merchant's address is the
	// service code followed by its merchant code ("10658008" + "8001").
	ServiceCode string `yaml:"service_code"`
	// DataDir holds the embedded store and the statements when no database
	// or directory is configured.
	DataDir string `yaml:"data_dir"`

	Database      Database          `yaml:"database"`
	Redis         Redis             `yaml:"redis"`
	SMSC          SMSC              `yaml:"smsc"`
	Orders        Orders            `yaml:"orders"`
	Limits        map[string]Limits `yaml:"limits"` // by payment method: phone, card
	Frequency     Frequency         `yaml:"frequency"`
	Accounts      Accounts          `yaml:"accounts"`
	Numbering     Numbering         `yaml:"numbering"`
	Merchants     []Merchant        `yaml:"merchants"`
	Texts         map[string]string `yaml:"texts"`
	SMS           SMS               `yaml:"sms"`
	Settlement    Settlement        `yaml:"settlement"`
	Admin         Admin             `yaml:"admin"`
	Bank          Bank              `yaml:"bank"`
	Verify        Verify            `yaml:"verify"`
	OCS           OCS               `yaml:"ocs"` // Diameter credit control to the operator's OCS (config/ocs.go)
	Subscriptions Subscriptions     `yaml:"subscriptions"`
	API           API               `yaml:"api"` // the merchant API (api.go)
	USSD          USSD              `yaml:"ussd"`
	Log           Log               `yaml:"log"`
	Ops           Ops               `yaml:"ops"`
	Risk          Risk              `yaml:"risk"` // the risk rules (config/risk.go)

	// What Parse learnt besides the values, for Validate's messages.
	lines       map[string]int    // YAML path -> line in the file
	fromEnv     map[string]string // YAML path -> the environment variable that set it
	smscFromEnv bool              // smsc.binds[0] was made from $CARRIERBILL_SMSC_ADDR
	smscOrphans []string          // SMSC variables set with no bind to apply them to
	cardsOn     bool              // $CARRIERBILL_CARD_KEY or $CARRIERBILL_WALLET_PEPPER is set
}

// Admin is the operator's HTTP endpoint for bank cards (bind, unbind,
// list, default, wallet unlock). It is served only when Listen is set and
// the bearer token is in $CARRIERBILL_ADMIN_TOKEN.
type Admin struct {
	Listen string `yaml:"listen"` // e.g. 127.0.0.1:8082; empty: off
}

// Database is the production store. Empty URL: the embedded store under DataDir.
type Database struct {
	URL      string `yaml:"url"` // env DATABASE_URL
	MaxConns int    `yaml:"max_conns"`
}

// Redis carries the frequency rules. Empty URL: an in-process Redis.
type Redis struct {
	URL     string   `yaml:"url"` // env REDIS_URL
	Prefix  string   `yaml:"prefix"`
	Timeout Duration `yaml:"timeout"`
}

// SMSC is the SMPP side. No binds: the built-in SMSC simulator.
type SMSC struct {
	Binds []Bind `yaml:"binds"`
}

// Bind is one SMPP bind to an SMSC.
type Bind struct {
	Name               string   `yaml:"name"`
	Addr               string   `yaml:"addr"`      // host:port; env CARRIERBILL_SMSC_ADDR overrides the first bind
	SystemID           string   `yaml:"system_id"` // env CARRIERBILL_SMSC_SYSTEM_ID
	Password           string   `yaml:"password"`  // env CARRIERBILL_SMSC_PASSWORD
	SystemType         string   `yaml:"system_type"`
	Mode               string   `yaml:"mode"` // transceiver (default) or transmitter+receiver
	AddrTON            int      `yaml:"addr_ton"`
	AddrNPI            int      `yaml:"addr_npi"`
	TLS                bool     `yaml:"tls"`
	TLSSkipVerify      bool     `yaml:"tls_skip_verify"`
	Window             int      `yaml:"window"`
	MaxPerSecond       int      `yaml:"max_per_second"`
	EnquireLink        Duration `yaml:"enquire_link"`
	EnquireLinkTimeout Duration `yaml:"enquire_link_timeout"`
	PartTimeout        Duration `yaml:"part_timeout"`
	// Memory of incomplete multipart MOs, in bytes (0: the smpp package's
	// defaults, 2 KiB, 256 KiB and 32 MiB): one part, one source address,
	// the whole bind. Parts beyond them are refused (ESME_RMSGQFUL).
	PartMaxBytes        int `yaml:"part_max_bytes"`
	PartsMaxSourceBytes int `yaml:"parts_max_source_bytes"`
	PartsMaxBytes       int `yaml:"parts_max_bytes"`
	// StoreTimeout bounds storing one MO or receipt before it is answered
	// ESME_RX_T_APPN (0x64); default 2s, well under an SMSC's timeout.
	StoreTimeout Duration `yaml:"store_timeout"`
	// RegisteredDelivery is the registered_delivery of every MT on the bind:
	// 0 no receipt, 1 a receipt on delivery or failure (default), 2 on
	// failure only.
	RegisteredDelivery *int `yaml:"registered_delivery"`
}

// SMS are the subscriber-facing choices of the SMS channel besides the
// texts themselves.
type SMS struct {
	// Hotline is the customer-service number the refusal and lock-out
	// texts name ({hotline}); empty leaves that sentence out.
	Hotline string `yaml:"hotline"`
	// ExpiryNotice texts the subscriber when an order expires unconfirmed
	// (default off: the prompt already says how long the code is valid).
	ExpiryNotice bool `yaml:"expiry_notice"`
}

// Orders are the confirmation-code rules.
type Orders struct {
	CodeValidity  Duration `yaml:"code_validity"`
	MaxWrongCodes int      `yaml:"max_wrong_codes"`
	// MaxPending caps the pending orders of one number (default 2; 0: no
	// cap). WrongCodesPer* cap the wrong codes of one number across its
	// orders per clock hour, day and month (defaults 3, 5, 12; 0: no cap):
	// under the defaults a blind guesser's odds stay below one in a
	// million a day (billing/guard.go).
	MaxPending         *int `yaml:"max_pending"`
	WrongCodesPerHour  *int `yaml:"wrong_codes_per_hour"`
	WrongCodesPerDay   *int `yaml:"wrong_codes_per_day"`
	WrongCodesPerMonth *int `yaml:"wrong_codes_per_month"`
	// RecoverAfter is how long a charge may stay pending (a crash or a
	// charger that did not answer) before the recovery sweep asks the
	// charger how it ended. Default 2m; more than the charger's timeout.
	RecoverAfter Duration `yaml:"recover_after"`
}

// Limits are the spend limits of one payment method.
type Limits struct {
	PerPayment Yuan `yaml:"per_payment"`
	Daily      Yuan `yaml:"daily"`
	Monthly    Yuan `yaml:"monthly"`
}

// Frequency are the frequency rules. A zero value switches a rule off.
type Frequency struct {
	MinInterval           *Duration `yaml:"min_interval"`
	PurchasesPerHour      *int      `yaml:"purchases_per_hour"`
	ConfirmationsPerOrder *int      `yaml:"confirmations_per_order"`
	// Card are the rules of bank-card payments, counted apart from the
	// phone account's; a field left out takes the value above.
	Card *CardFrequency `yaml:"card"`
}

// CardFrequency are the frequency rules of bank-card payments.
type CardFrequency struct {
	MinInterval      *Duration `yaml:"min_interval"`
	PurchasesPerHour *int      `yaml:"purchases_per_hour"`
}

// Accounts configure the built-in phone-account charger.
type Accounts struct {
	// AutoOpen opens an unknown subscriber as a postpaid account with
	// CreditLimit (labs, demos, replay). Operators with a real subscriber
	// registry leave it off: an unknown number is refused.
	AutoOpen    bool `yaml:"auto_open"`
	CreditLimit Yuan `yaml:"credit_limit"`
}

// Merchant is one merchant and its catalog.
type Merchant struct {
	Code          string    `yaml:"code"`
	Name          string    `yaml:"name"`
	OpenAmount    bool      `yaml:"open_amount"` // accepts an amount in yuan as the purchase text
	MinAmount     Yuan      `yaml:"min_amount"`
	MaxAmount     Yuan      `yaml:"max_amount"`
	RevenueShare  Percent   `yaml:"revenue_share"`   // the operator's share, e.g. "30%"
	PerMessageFee Yuan      `yaml:"per_message_fee"` // charged to the merchant per MT, if any
	Products      []Product `yaml:"products"`
}

// Product is one product of a merchant's catalog.
type Product struct {
	Keyword string `yaml:"keyword"` // what the subscriber texts, case-insensitive
	Name    string `yaml:"name"`
	Amount  Yuan   `yaml:"amount"`
	// Period "month" makes the product a monthly subscription (包月),
	// renewed by the nightly job; empty: a one-off product.
	Period string `yaml:"period"`
}

// Settlement configures the nightly jobs and the merchant download server.
type Settlement struct {
	Dir                 string `yaml:"dir"`
	StatementSchedule   string `yaml:"statement_schedule"`
	DailyBillSchedule   string `yaml:"daily_bill_schedule"`
	MonthlyBillSchedule string `yaml:"monthly_bill_schedule"`
	Listen              string `yaml:"listen"` // merchant download server; empty: off
	StartDate           string `yaml:"start_date"`
}

// Log configures structured logging.
type Log struct {
	Level  string `yaml:"level"`  // debug, info, warn, error
	Format string `yaml:"format"` // text or json
}

// Load reads, overrides from the environment, defaults and validates the
// file at path. An empty path means "no file": defaults and environment only.
func Load(path string) (*Config, error) {
	var data []byte
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("reading configuration: %w", err)
		}
		data = b
	}
	return Parse(data, os.LookupEnv)
}

// Parse is Load on bytes, with env as the environment lookup.
func Parse(data []byte, env func(string) (string, bool)) (*Config, error) {
	c := &Config{}
	if err := c.decode(data); err != nil {
		return nil, err
	}
	c.applyEnv(env)
	c.applyDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// decode reads data into c strictly (decode.go): a value of the wrong type,
// an unknown key or a key given twice is an Errors naming every such field.
// A document that is not YAML is an error with the line yaml.v3 gives.
func (c *Config) decode(data []byte) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil
		}
		return fmt.Errorf("configuration: %w", err)
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case err == nil:
		return Errors{{Field: topLevel, Line: next.Line,
			Msg: "a second YAML document (after ---): put every setting in one document"}}
	case !errors.Is(err, io.EOF):
		return fmt.Errorf("configuration: %w", err)
	}
	es, lines := checkDocument(&doc, reflect.TypeFor[Config]())
	if len(es) > 0 {
		return es
	}
	if err := doc.Decode(c); err != nil { // checkDocument let through what yaml.v3 refuses
		return Errors{{Field: topLevel, Msg: unmarshalMessage(err)}}
	}
	c.lines = lines
	return nil
}

// The environment variables Parse reads.
const (
	EnvDatabaseURL  = "DATABASE_URL"
	EnvRedisURL     = "REDIS_URL"
	EnvSMSCAddr     = "CARRIERBILL_SMSC_ADDR"
	EnvSMSCSystemID = "CARRIERBILL_SMSC_SYSTEM_ID"
	EnvSMSCPassword = "CARRIERBILL_SMSC_PASSWORD"
	envCardKey      = "CARRIERBILL_CARD_KEY"      // read by the gateway; here only: card payments are on
	envWalletPepper = "CARRIERBILL_WALLET_PEPPER" // idem
	smscEnvTogether = EnvSMSCAddr + ", " + EnvSMSCSystemID + " and " + EnvSMSCPassword
)

func (c *Config) applyEnv(env func(string) (string, bool)) {
	c.fromEnv = map[string]string{}
	get := func(name string) string {
		v, ok := env(name)
		if !ok {
			return ""
		}
		return v
	}
	set := func(dst *string, field, name string) {
		if v := get(name); v != "" {
			*dst = v
			c.fromEnv[field] = name
		}
	}
	set(&c.Database.URL, "database.url", EnvDatabaseURL)
	set(&c.Redis.URL, "redis.url", EnvRedisURL)
	if get(EnvSMSCAddr) != "" && len(c.SMSC.Binds) == 0 {
		c.SMSC.Binds = []Bind{{Name: "smsc"}}
		c.smscFromEnv = true
	}
	if len(c.SMSC.Binds) > 0 {
		b := &c.SMSC.Binds[0]
		set(&b.Addr, "smsc.binds[0].addr", EnvSMSCAddr)
		set(&b.SystemID, "smsc.binds[0].system_id", EnvSMSCSystemID)
		set(&b.Password, "smsc.binds[0].password", EnvSMSCPassword)
	} else {
		for _, name := range []string{EnvSMSCSystemID, EnvSMSCPassword} {
			if get(name) != "" {
				c.smscOrphans = append(c.smscOrphans, name)
			}
		}
	}
	c.cardsOn = get(envCardKey) != "" || get(envWalletPepper) != ""
	c.applyRiskEnv(get)
}

func (c *Config) applyDefaults() {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&c.Timezone, "Asia/Shanghai")
	def(&c.ServiceCode, "10658008")
	def(&c.DataDir, "carrierbill-data")
	def(&c.Redis.Prefix, "carrierbill:")
	if c.Redis.Timeout == 0 {
		c.Redis.Timeout = Duration(200 * time.Millisecond)
	}
	for i := range c.SMSC.Binds {
		b := &c.SMSC.Binds[i]
		def(&b.Name, fmt.Sprintf("bind%d", i+1))
		def(&b.Mode, "transceiver")
		if b.Window == 0 {
			b.Window = 10
		}
		if b.EnquireLink == 0 {
			b.EnquireLink = Duration(30 * time.Second)
		}
		if b.EnquireLinkTimeout == 0 {
			b.EnquireLinkTimeout = Duration(10 * time.Second)
		}
		if b.PartTimeout == 0 {
			b.PartTimeout = Duration(2 * time.Minute)
		}
		if b.StoreTimeout == 0 {
			b.StoreTimeout = Duration(2 * time.Second)
		}
		if b.RegisteredDelivery == nil {
			one := 1
			b.RegisteredDelivery = &one
		}
	}
	if c.Orders.CodeValidity == 0 {
		c.Orders.CodeValidity = Duration(10 * time.Minute)
	}
	if c.Orders.MaxWrongCodes == 0 {
		c.Orders.MaxWrongCodes = 3
	}
	for _, d := range []struct {
		p   **int
		def int
	}{{&c.Orders.MaxPending, 2}, {&c.Orders.WrongCodesPerHour, 3}, {&c.Orders.WrongCodesPerDay, 5}, {&c.Orders.WrongCodesPerMonth, 12}} {
		if *d.p == nil {
			v := d.def
			*d.p = &v
		}
	}
	if c.Limits == nil {
		c.Limits = map[string]Limits{}
	}
	for _, m := range []string{"phone", "card"} {
		l := c.Limits[m]
		if !l.PerPayment.set {
			l.PerPayment = yuan(3000)
		}
		if !l.Daily.set {
			l.Daily = yuan(5000)
		}
		if !l.Monthly.set {
			l.Monthly = yuan(10000)
		}
		c.Limits[m] = l
	}
	if c.Frequency.MinInterval == nil {
		d := Duration(60 * time.Second)
		c.Frequency.MinInterval = &d
	}
	if c.Frequency.PurchasesPerHour == nil {
		n := 20
		c.Frequency.PurchasesPerHour = &n
	}
	if c.Frequency.ConfirmationsPerOrder == nil {
		n := 5
		c.Frequency.ConfirmationsPerOrder = &n
	}
	c.Numbering.applyDefaults()
	c.Bank.applyDefaults()
	c.Verify.applyDefaults(c)
	c.OCS.applyDefaults()
	c.Subscriptions.applyDefaults()
	c.API.applyDefaults()
	c.USSD.applyDefaults()
	if !c.Accounts.CreditLimit.set {
		c.Accounts.CreditLimit = yuan(10000)
	}
	for i := range c.Merchants {
		m := &c.Merchants[i]
		if !m.MinAmount.set {
			m.MinAmount = yuan(10)
		}
		if !m.MaxAmount.set {
			m.MaxAmount = yuan(3000)
		}
	}
	def(&c.Settlement.StatementSchedule, "0 2 * * *")
	def(&c.Settlement.DailyBillSchedule, "30 2 * * *")
	def(&c.Settlement.MonthlyBillSchedule, "0 3 1 * *")
	def(&c.Log.Level, "info")
	def(&c.Log.Format, "text")
	c.applyOpsDefaults()
	c.applyRiskDefaults()
}

// Location returns the operator's time zone. Validate has checked it loads.
func (c *Config) Location() *time.Location {
	loc, err := time.LoadLocation(c.Timezone)
	if err != nil {
		return time.FixedZone(c.Timezone, 0)
	}
	return loc
}

// StatementsDir is where statements and bills are written.
func (c *Config) StatementsDir() string {
	if c.Settlement.Dir != "" {
		return c.Settlement.Dir
	}
	return c.DataDir + string(os.PathSeparator) + "statements"
}
