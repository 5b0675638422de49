package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// env returns an environment lookup holding kv.
func env(kv ...string) func(string) (string, bool) {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// fieldError returns the error of err that names field, failing t if none
// does (or err is not an Errors).
func fieldError(t *testing.T, err error, field string) FieldError {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one naming %s", field)
	}
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("err = %v (%T), want Errors naming %s", err, err, field)
	}
	for _, e := range es {
		if e.Field == field {
			return e
		}
	}
	t.Fatalf("no error names %s: %v", field, err)
	return FieldError{}
}

// Issue 18.7: yaml.v3 truncated 0.9 into purchases_per_hour (0: the rule
// off) and 2.5 into max_wrong_codes, and config check passed.
func TestFloatWhereAnIntegerBelongsIsAnError(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ doc, field, msg string }{
		{"frequency:\n  purchases_per_hour: 0.9\n", "frequency.purchases_per_hour", "frequency.purchases_per_hour: want an integer, got 0.9 (line 2)"},
		{"orders:\n  max_wrong_codes: 2.5\n", "orders.max_wrong_codes", "orders.max_wrong_codes: want an integer, got 2.5 (line 2)"},
	} {
		_, err := Parse([]byte(tt.doc), noEnv)
		e := fieldError(t, err, tt.field)
		if e.Error() != tt.msg {
			t.Errorf("error = %q, want %q", e.Error(), tt.msg)
		}
	}
}

func TestStrictDecodingNamesTheFieldAndLine(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, doc, field string
		line             int
		msg              string
	}{
		{"string for an integer", "smsc:\n  binds:\n  - addr: h:1\n    system_id: x\n    window: \"10\"\n", "smsc.binds[0].window", 5, `want an integer, got the text "10"`},
		{"bool for an integer", "database:\n  max_conns: true\n", "database.max_conns", 2, "want an integer, got true"},
		{"exponent for an integer", "database:\n  max_conns: 1e3\n", "database.max_conns", 2, "want an integer, got 1e3"},
		{"integer out of range", "database:\n  max_conns: 99999999999999999999\n", "database.max_conns", 2, "want an integer"},
		{"yes for a bool", "accounts:\n  auto_open: yes\n", "accounts.auto_open", 2, `want true or false, got the text "yes"`},
		{"number for a bool", "accounts:\n  auto_open: 1\n", "accounts.auto_open", 2, "want true or false, got 1"},
		{"list for a string", "timezone: [UTC]\n", "timezone", 1, "want a single value, got a list"},
		{"mapping for a list", "merchants: {code: '1'}\n", "merchants", 1, "want a list, got a mapping"},
		{"list for a mapping", "texts: [a, b]\n", "texts", 1, "want a mapping"},
		{"float in a pointer struct", "frequency:\n  card:\n    purchases_per_hour: 1.5\n", "frequency.card.purchases_per_hour", 3, "want an integer, got 1.5"},
		{"negative amount", "limits:\n  phone:\n    per_payment: -5\n", "limits.phone.per_payment", 3, "must not be negative, got -5"},
		{"negative amount in yuan", "accounts:\n  credit_limit: \"-1.50元\"\n", "accounts.credit_limit", 2, "must not be negative"},
		{"negative percentage", "merchants:\n- code: '8001'\n  name: A\n  open_amount: true\n  revenue_share: -30%\n", "merchants[0].revenue_share", 5, "must not be negative, got -30%"},
		{"percentage above 100", "merchants:\n- code: '8001'\n  name: A\n  open_amount: true\n  revenue_share: 130%\n", "merchants[0].revenue_share", 5, "above 100%"},
		{"three decimals", "merchants:\n- code: '8001'\n  name: A\n  products:\n  - {keyword: A, name: B, amount: 1.001}\n", "merchants[0].products[0].amount", 5, "at most two decimals"},
		{"bad duration", "orders:\n  code_validity: 10\n", "orders.code_validity", 2, "not a duration"},
		{"unknown nested key", "merchants:\n- code: '8001'\n  name: A\n  produts: []\n", "merchants[0].produts", 4, "unknown setting (did you mean products?)"},
		{"key set twice", "log:\n  level: info\n  level: debug\n", "log.level", 3, "set twice (first on line 2)"},
		{"not a mapping", "- a\n- b\n", topLevel, 1, "want a mapping of settings"},
		{"two documents", "log: {level: info}\n---\nlog: {level: debug}\n", topLevel, 2, "a second YAML document"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse([]byte(tt.doc), noEnv)
			e := fieldError(t, err, tt.field)
			if e.Line != tt.line || !strings.Contains(e.Msg, tt.msg) {
				t.Fatalf("error = %q (line %d), want line %d and %q", e.Error(), e.Line, tt.line, tt.msg)
			}
		})
	}
}

// The strict decoder reads the struct tags: every field of Config, and any
// field another package adds to it later, refuses a value of the wrong type
// by its path. The test walks Config by reflection and gives each leaf a
// wrong value.
func TestEveryFieldIsDecodedStrictly(t *testing.T) {
	t.Parallel()
	type leaf struct {
		path  string
		keys  []any // mapping keys and list indexes down to the leaf
		wrong any
	}
	var leaves []leaf
	var walk func(t reflect.Type, path string, keys []any)
	walk = func(ty reflect.Type, path string, keys []any) {
		for ty.Kind() == reflect.Pointer {
			ty = ty.Elem()
		}
		add := func(wrong any) {
			leaves = append(leaves, leaf{path, append([]any(nil), keys...), wrong})
		}
		switch {
		case reflect.PointerTo(ty).Implements(unmarshalerType), ty == timeDurationType:
			add([]any{"a"})
			return
		}
		switch ty.Kind() {
		case reflect.Struct:
			fields, _ := yamlFields(ty)
			for name, ft := range fields {
				walk(ft, joinPath(path, name), append(keys, name))
			}
		case reflect.Map:
			key := "phone" // limits are keyed by payment method
			walk(ty.Elem(), joinPath(path, key), append(keys, key))
		case reflect.Slice:
			walk(ty.Elem(), path+"[0]", append(keys, 0))
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			add(0.9)
		case reflect.Bool:
			add("maybe")
		case reflect.String:
			add([]any{"a"})
		case reflect.Float32, reflect.Float64:
			add("many")
		}
	}
	walk(reflect.TypeFor[Config](), "", nil)
	if len(leaves) < 50 {
		t.Fatalf("found %d leaves in Config, want the whole file", len(leaves))
	}
	for _, l := range leaves {
		var doc any = l.wrong
		for i := len(l.keys) - 1; i >= 0; i-- {
			switch k := l.keys[i].(type) {
			case string:
				doc = map[string]any{k: doc}
			case int:
				doc = []any{doc}
			}
		}
		b, err := yaml.Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		_, err = Parse(b, noEnv)
		var es Errors
		if !errors.As(err, &es) {
			t.Errorf("%s: %v: err = %v, want Errors", l.path, l.wrong, err)
			continue
		}
		found := false
		for _, e := range es {
			found = found || e.Field == l.path
		}
		if !found {
			t.Errorf("%s = %v: no error names the field: %v", l.path, l.wrong, err)
		}
	}
}

func TestAStringFieldKeepsTheDigitsItWasGiven(t *testing.T) {
	t.Parallel()
	c, err := Parse([]byte("service_code: 0106580\nmerchants:\n- {code: 0801, name: 123, open_amount: true}\n"), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if c.ServiceCode != "0106580" || c.Merchants[0].Code != "0801" || c.Merchants[0].Name != "123" {
		t.Fatalf("service code %q, merchant %+v", c.ServiceCode, c.Merchants[0])
	}
}

func TestNullLeavesTheDefault(t *testing.T) {
	t.Parallel()
	c, err := Parse([]byte("frequency:\n  purchases_per_hour:\norders: ~\n"), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if *c.Frequency.PurchasesPerHour != 20 || c.Orders.CodeValidity.D() != 10*time.Minute {
		t.Fatalf("defaults not applied: %+v %+v", c.Frequency, c.Orders)
	}
}

func TestAnchorsAndMergeKeys(t *testing.T) {
	t.Parallel()
	doc := `limits:
  phone: &lim {per_payment: "20.00", daily: "40.00", monthly: "80.00"}
  card:
    <<: *lim
    per_payment: "10.00"
`
	c, err := Parse([]byte(doc), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Limits["card"]; got.PerPayment.Fen() != 1000 || got.Daily.Fen() != 4000 {
		t.Fatalf("card limits = %+v", got)
	}
	_, err = Parse([]byte("frequency: &f\n  purchases_per_hour: 1.5\nlimits:\n  phone:\n    <<: {per_payment: x}\n"), noEnv)
	fieldError(t, err, "frequency.purchases_per_hour")
	fieldError(t, err, "limits.phone.per_payment")
}

// Issue 18.7: config check validates addresses.
func TestConfigCheckValidatesAddresses(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, doc, field string }{
		{"admin", "admin:\n  listen: not-an-address\n", "admin.listen"},
		{"admin port", "admin:\n  listen: 127.0.0.1:http\n", "admin.listen"},
		{"settlement", "settlement:\n  listen: not-an-address\n", "settlement.listen"},
		{"settlement port", "settlement:\n  listen: ':70000'\n", "settlement.listen"},
		{"bind", "smsc:\n  binds:\n  - {addr: not-an-address, system_id: x}\n", "smsc.binds[0].addr"},
		{"bind without host", "smsc:\n  binds:\n  - {addr: ':2775', system_id: x}\n", "smsc.binds[0].addr"},
		{"bind port 0", "smsc:\n  binds:\n  - {addr: 'smsc:0', system_id: x}\n", "smsc.binds[0].addr"},
		{"bind host", "smsc:\n  binds:\n  - {addr: 'bad host!:2775', system_id: x}\n", "smsc.binds[0].addr"},
		{"second bind", "smsc:\n  binds:\n  - {addr: 'h:1', system_id: x}\n  - {name: b, addr: nowhere, system_id: x}\n", "smsc.binds[1].addr"},
		{"database scheme", "database:\n  url: mysql://x/y\n", "database.url"},
		{"database does not parse", "database:\n  url: postgres://u@h/db?sslmode=sometimes\n", "database.url"},
		{"database port", "database:\n  url: postgres://u@h:port/db\n", "database.url"},
		{"redis scheme", "redis:\n  url: memcache://h\n", "redis.url"},
		{"redis does not parse", "redis:\n  url: redis://h:6379/zero\n", "redis.url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse([]byte(tt.doc), noEnv)
			fieldError(t, err, tt.field)
		})
	}
	ok := "admin: {listen: '127.0.0.1:0'}\nsettlement: {listen: ':8081'}\n" +
		"smsc: {binds: [{addr: 'smsc-1.example.net:2775', system_id: x}, {name: b, addr: '[::1]:2775', system_id: x}]}\n" +
		"database: {url: 'postgres://u:p@db:5432/cb?sslmode=disable&pool_max_conns=8'}\nredis: {url: 'rediss://:pw@r:6380/2'}\n"
	if _, err := Parse([]byte(ok), noEnv); err != nil {
		t.Fatalf("good addresses refused: %v", err)
	}
}

func TestDatabaseURLErrorHidesThePassword(t *testing.T) {
	t.Parallel()
	_, err := Parse([]byte("database:\n  url: postgres://u:s3cretpw@h/db?sslmode=sometimes\n"), noEnv)
	fieldError(t, err, "database.url")
	if strings.Contains(err.Error(), "s3cretpw") {
		t.Fatalf("the error shows the password: %v", err)
	}
}

// Issue 18.7: a product priced above the per-payment limit could never be
// bought.
func TestProductAbovePerPaymentLimitIsAnError(t *testing.T) {
	t.Parallel()
	doc := "merchants:\n- code: '8001'\n  name: A\n  products:\n  - {keyword: BIG, name: B, amount: '40.00'}\n"
	_, err := Parse([]byte(doc), noEnv)
	e := fieldError(t, err, "merchants[0].products[0].amount")
	if !strings.Contains(e.Msg, "limits.phone.per_payment 30.00") || e.Line != 5 {
		t.Fatalf("error = %v", e)
	}
	// A card may pay more: with card payments on, the card's limit counts.
	withCards := doc + "limits:\n  card: {per_payment: '50.00'}\n"
	if _, err := Parse([]byte(withCards), env("CARRIERBILL_CARD_KEY", "k")); err != nil {
		t.Fatalf("a product a card can pay was refused: %v", err)
	}
	if _, err := Parse([]byte(withCards), noEnv); err == nil {
		t.Fatal("cards are off: the card's limit must not count")
	}
	// An open amount whose minimum is above the limit: nothing can be bought.
	_, err = Parse([]byte("merchants:\n- {code: '8001', name: A, open_amount: true, min_amount: '31.00', max_amount: '40.00'}\n"), noEnv)
	fieldError(t, err, "merchants[0].min_amount")
	// At the limit is fine.
	if _, err := Parse([]byte("merchants:\n- code: '8001'\n  name: A\n  products:\n  - {keyword: MAX, name: B, amount: '30.00'}\n"), noEnv); err != nil {
		t.Fatal(err)
	}
}

// Issue 18.7: YE and MM are the wallet commands while card payments are on.
func TestWalletCommandsAreNotKeywordsWhileCardsAreOn(t *testing.T) {
	t.Parallel()
	for _, kw := range []string{"YE", "ye", "MM", "Mm", "MM1"} {
		doc := fmt.Sprintf("merchants:\n- code: '8001'\n  name: A\n  products:\n  - {keyword: %s, name: B, amount: 1}\n", kw)
		for _, name := range []string{"CARRIERBILL_CARD_KEY", "CARRIERBILL_WALLET_PEPPER"} {
			_, err := Parse([]byte(doc), env(name, "x"))
			e := fieldError(t, err, "merchants[0].products[0].keyword")
			if !strings.Contains(e.Msg, "wallet command") {
				t.Fatalf("%s: %v", kw, e)
			}
		}
		if _, err := Parse([]byte(doc), noEnv); err != nil {
			t.Fatalf("%s with card payments off: %v", kw, err)
		}
	}
	// A keyword that only starts like a wallet command is a keyword.
	doc := "merchants:\n- code: '8001'\n  name: A\n  products:\n  - {keyword: MMORPG, name: B, amount: 1}\n  - {keyword: YEAR, name: C, amount: 1}\n"
	if _, err := Parse([]byte(doc), env("CARRIERBILL_CARD_KEY", "x")); err != nil {
		t.Fatal(err)
	}
}

// Issue 20.2: the SMSC address alone answered "system_id: required".
func TestSMSCAddressAloneSaysWhichVariablesGoTogether(t *testing.T) {
	t.Parallel()
	_, err := Parse(nil, env(EnvSMSCAddr, "127.0.0.1:2775"))
	e := fieldError(t, err, "smsc.binds[0].system_id")
	for _, name := range []string{EnvSMSCAddr, EnvSMSCSystemID, EnvSMSCPassword} {
		if !strings.Contains(e.Msg, name) {
			t.Errorf("the error does not name %s: %v", name, e)
		}
	}
	_, err = Parse(nil, env(EnvSMSCAddr, "127.0.0.1:2775", EnvSMSCSystemID, "cb"))
	e = fieldError(t, err, "smsc.binds[0].password")
	if !strings.Contains(e.Msg, "go together") || !strings.Contains(e.Msg, EnvSMSCPassword) {
		t.Errorf("error = %v", e)
	}
	// Credentials without an address would be dropped silently.
	_, err = Parse(nil, env(EnvSMSCSystemID, "cb", EnvSMSCPassword, "pw"))
	e = fieldError(t, err, "smsc.binds")
	if !strings.Contains(e.Msg, EnvSMSCAddr) {
		t.Errorf("error = %v", e)
	}
	// The three together make a bind; an address from the environment is
	// blamed on its variable.
	if _, err := Parse(nil, env(EnvSMSCAddr, "127.0.0.1:2775", EnvSMSCSystemID, "cb", EnvSMSCPassword, "pw")); err != nil {
		t.Fatal(err)
	}
	_, err = Parse(nil, env(EnvSMSCAddr, "nowhere", EnvSMSCSystemID, "cb", EnvSMSCPassword, "pw"))
	if e := fieldError(t, err, "smsc.binds[0].addr"); e.Env != EnvSMSCAddr || !strings.Contains(e.Error(), "(from $CARRIERBILL_SMSC_ADDR)") {
		t.Errorf("error = %v", e)
	}
	// A bind in the file keeps its optional password.
	if _, err := Parse([]byte("smsc:\n  binds:\n  - {addr: 'h:1', system_id: x}\n"), noEnv); err != nil {
		t.Fatal(err)
	}
}

func TestValidationErrorsCarryTheLineInFileOrder(t *testing.T) {
	t.Parallel()
	_, err := Parse([]byte("admin: {listen: nowhere}\nlimits:\n  phone:\n    per_payment: 30\n    daily: 20\ntimezone: Mars/Base\n"), noEnv)
	if e := fieldError(t, err, "limits.phone.daily"); e.Line != 5 || !strings.HasSuffix(e.Error(), "(line 5)") {
		t.Fatalf("error = %v, want line 5", e)
	}
	_, err = Parse([]byte("admin: {listen: nowhere}\nlimits:\n  phone:\n    per_payment: 60\ntimezone: Mars/Base\n"), noEnv)
	var es Errors
	errors.As(err, &es)
	var order []string
	for _, e := range es {
		order = append(order, e.Field)
	}
	// limits.phone.daily is not in the file: its default (50.00) is below 60.00.
	if got := strings.Join(order, " "); got != "admin.listen timezone limits.phone.daily" {
		t.Fatalf("errors in the order %s, want the file's (defaulted fields last)", got)
	}
}

// badDocuments are configurations that are wrong in one way or another;
// FuzzParse starts from them too.
var badDocuments = []string{
	"frequency: {purchases_per_hour: 0.9}",
	"orders: {max_wrong_codes: 2.5}",
	"orders: {max_wrong_codes: 9}",
	"orders: {code_validity: 1s}",
	"admin: {listen: not-an-address}",
	"limits: {phone: {per_payment: -1}}",
	"limits: {phone: {per_payment: 0}}",
	"limits: {phone: {daily: 1}}",
	"limits: {cash: {}}",
	"limits: [1]",
	"merchants: [{}]",
	"merchants: [~]",
	"merchants: [[]]",
	"merchants: [{code: x, name: '', products: [{keyword: '', amount: 0}]}]",
	"merchants: [{code: '1', name: a, products: [{keyword: CX, name: b, amount: 1}, {keyword: cx, name: b, amount: 1}]}]",
	"merchants: [{code: '1', name: a, open_amount: true, min_amount: 5, max_amount: 1, per_message_fee: -1}]",
	"smsc: {binds: [{}]}",
	"smsc: {binds: [{addr: 'h:1', system_id: x, mode: both, addr_ton: -1, addr_npi: 99, window: 0, max_per_second: -1, enquire_link: 0s, enquire_link_timeout: -1s, part_timeout: -1s}]}",
	"smsc: {binds: [{name: a, addr: 'h:1', system_id: x}, {name: a, addr: 'h:1', system_id: x}]}",
	"smsc: {binds: {addr: x}}",
	"settlement: {statement_schedule: never, start_date: tomorrow, listen: x}",
	"log: {level: loud, format: xml}",
	"timezone: Mars/Base",
	"service_code: abc",
	"database: {url: 'postgres://%zz', max_conns: -1}",
	"redis: {url: ':::', timeout: -1s}",
	"texts: {a: [b]}",
	"? [a]\n: b",
	"accounts: {credit_limit: '-0.01'}",
	"frequency: {min_interval: -1s, purchases_per_hour: -1, confirmations_per_order: -1, card: {purchases_per_hour: x}}",
	"- 1",
	"just text",
	"a: &a [*a]",
	"x: &x {a: 1}\ny: *x",
	"frequency:\n  <<: [1]",
	"a: 1\n---\nb: 2",
	"timezone: UTC\ntimezone: UTC",
}

// Every bad document is refused, and every error names a field (the YAML
// path, or "(top level)" for the document itself).
func TestBadDocumentsAlwaysNameAField(t *testing.T) {
	t.Parallel()
	for _, doc := range badDocuments {
		_, err := Parse([]byte(doc), noEnv)
		if err == nil {
			t.Errorf("accepted:\n%s", doc)
			continue
		}
		checkNamesFields(t, []byte(doc), err)
	}
}

// checkNamesFields fails t unless err (from parsing data) names a field in
// every one of its errors. A document that is not YAML at all has no
// fields: its error comes from the YAML parser, with a line when it has one.
func checkNamesFields(t *testing.T, data []byte, err error) {
	t.Helper()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var node yaml.Node
		err := dec.Decode(&node)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return // a syntax error
		}
	}
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("err = %v (%T) for\n%q\nwant Errors naming fields", err, err, data)
	}
	if len(es) == 0 {
		t.Fatalf("an empty Errors for %q", data)
	}
	for _, e := range es {
		if e.Field == "" || e.Msg == "" {
			t.Fatalf("an error without a field or message: %#v for\n%q", e, data)
		}
	}
}

// FuzzParse: Parse never panics; an error always names its fields; what it
// accepts validates.
func FuzzParse(f *testing.F) {
	b, _ := os.ReadFile("../carrierbill.example.yaml")
	f.Add(b)
	f.Add([]byte("limits:\n  phone:\n    per_payment: 30\n"))
	f.Add([]byte("merchants: [{code: '1', name: a, products: [{keyword: A, name: b, amount: '1.5'}]}]"))
	for _, d := range badDocuments {
		f.Add([]byte(d))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data, noEnv)
		if err != nil {
			checkNamesFields(t, data, err)
			return
		}
		if c.Validate() != nil {
			t.Fatal("Parse returned a configuration that does not validate")
		}
	})
}
