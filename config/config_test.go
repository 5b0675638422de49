package config

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

func noEnv(string) (string, bool) { return "", false }

func TestExampleFileIsValid(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../carrierbill.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse(b, noEnv)
	if err != nil {
		t.Fatalf("the example configuration does not validate: %v", err)
	}
	if len(c.Merchants) != 2 || c.Merchants[0].Products[0].Amount.Fen() != 1500 {
		t.Fatalf("merchants = %+v", c.Merchants)
	}
	if got := c.Merchants[0].RevenueShare.BasisPoints; got != 3000 {
		t.Fatalf("revenue share = %d bp, want 3000", got)
	}
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	c, err := Parse(nil, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if c.Timezone != "Asia/Shanghai" || c.ServiceCode != "10658008" {
		t.Fatalf("timezone/service code defaults: %q %q", c.Timezone, c.ServiceCode)
	}
	l := c.Limits["phone"]
	if l.PerPayment.Fen() != 3000 || l.Daily.Fen() != 5000 || l.Monthly.Fen() != 10000 {
		t.Fatalf("phone limits = %v/%v/%v, want 30.00/50.00/100.00", l.PerPayment, l.Daily, l.Monthly)
	}
	if c.Frequency.MinInterval.D() != time.Minute || c.Orders.CodeValidity.D() != 10*time.Minute {
		t.Fatalf("min interval %v, code validity %v", c.Frequency.MinInterval.D(), c.Orders.CodeValidity.D())
	}
	if len(c.SMSC.Binds) != 0 {
		t.Fatalf("binds without configuration: %v", c.SMSC.Binds)
	}
}

func TestZeroSwitchesFrequencyRulesOff(t *testing.T) {
	t.Parallel()
	c, err := Parse([]byte("frequency:\n  min_interval: 0s\n  purchases_per_hour: 0\n"), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if c.Frequency.MinInterval.D() != 0 || *c.Frequency.PurchasesPerHour != 0 {
		t.Fatalf("zero did not switch the rules off: %+v", c.Frequency)
	}
}

func TestEnvironmentOverrides(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"DATABASE_URL":               "postgres://u@db/x",
		"REDIS_URL":                  "redis://r:6379/1",
		"CARRIERBILL_SMSC_ADDR":      "10.0.0.5:2775",
		"CARRIERBILL_SMSC_SYSTEM_ID": "cb",
		"CARRIERBILL_SMSC_PASSWORD":  "s3cret",
	}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	c, err := Parse([]byte("database:\n  url: postgres://file/db\n"), lookup)
	if err != nil {
		t.Fatal(err)
	}
	if c.Database.URL != env["DATABASE_URL"] || c.Redis.URL != env["REDIS_URL"] {
		t.Fatalf("urls: %q %q", c.Database.URL, c.Redis.URL)
	}
	if len(c.SMSC.Binds) != 1 || c.SMSC.Binds[0].Addr != "10.0.0.5:2775" || c.SMSC.Binds[0].SystemID != "cb" || c.SMSC.Binds[0].Password != "s3cret" {
		t.Fatalf("binds: %+v", c.SMSC.Binds)
	}
}

func TestErrorsNameTheField(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, yaml, field string
	}{
		{"bad zone", "timezone: Mars/Olympus", "timezone"},
		{"daily below per payment", "limits:\n  phone:\n    per_payment: 30\n    daily: 20\n", "limits.phone.daily"},
		{"three decimals", "limits:\n  card:\n    per_payment: 30.001\n", "limits.card.per_payment"},
		{"unknown method", "limits:\n  cash:\n    per_payment: 1\n    daily: 1\n    monthly: 1\n", "limits.cash"},
		{"dup merchant", "merchants:\n- {code: '8001', name: A, open_amount: true}\n- {code: '8001', name: B, open_amount: true}\n", "merchants[1].code"},
		{"digit keyword", "merchants:\n- code: '8001'\n  name: A\n  products:\n  - {keyword: '10', name: X, amount: 1}\n", "merchants[0].products[0].keyword"},
		{"no product", "merchants:\n- {code: '8001', name: A}\n", "merchants[0]"},
		{"bind addr", "smsc:\n  binds:\n  - {system_id: x, addr: nowhere}\n", "smsc.binds[0].addr"},
		{"bind password", "smsc:\n  binds:\n  - {system_id: x, addr: 'h:1', password: toolongpassword}\n", "smsc.binds[0].password"},
		{"cron", "settlement:\n  statement_schedule: 'at two'\n", "settlement.statement_schedule"},
		{"unknown key", "limts: {}\n", "limts"},
		{"db scheme", "database:\n  url: mysql://x\n", "database.url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse([]byte(tt.yaml), noEnv)
			if err == nil {
				t.Fatal("Parse accepted an invalid configuration")
			}
			if tt.field == "" {
				return // a YAML decoding error, with its line number
			}
			var es Errors
			if !errors.As(err, &es) {
				t.Fatalf("err = %v, want Errors", err)
			}
			for _, e := range es {
				if e.Field == tt.field {
					return
				}
			}
			t.Fatalf("no error names %q: %v", tt.field, err)
		})
	}
}

func TestUnknownKeyIsAnErrorWithLine(t *testing.T) {
	t.Parallel()
	_, err := Parse([]byte("timezone: Asia/Shanghai\nlimts: {}\n"), noEnv)
	if err == nil || !strings.Contains(err.Error(), "limts: unknown setting (did you mean limits?) (line 2)") {
		t.Fatalf("err = %v, want the unknown key and its line", err)
	}
}
