package config

import (
	"errors"
	"testing"
)

func TestBankSection(t *testing.T) {
	t.Parallel()
	noEnv := func(string) (string, bool) { return "", false }
	c, err := Parse([]byte("data_dir: /var/lib/cb\n"), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if c.Bank.Adapter != BankSim || c.BankSimFile() != "/var/lib/cb/banksim.json" || c.Bank.Timeout.D().Seconds() != 5 || c.Bank.KeyID != "carrierbill" {
		t.Fatalf("defaults: %+v, sim file %s", c.Bank, c.BankSimFile())
	}
	c, err = Parse([]byte("bank: {adapter: http, url: \"https://bank.example/cb\", timeout: 3s}\n"), noEnv)
	if err != nil || c.Bank.URL != "https://bank.example/cb" {
		t.Fatalf("http adapter: %v", err)
	}
	tests := []struct{ name, yaml, field string }{
		{"unknown adapter", "bank: {adapter: paypal}", "bank.adapter"},
		{"http without url", "bank: {adapter: http}", "bank.url"},
		{"plain http to a remote bank", "bank: {adapter: http, url: \"http://bank.example\"}", "bank.url"},
		{"not a URL", "bank: {adapter: http, url: \"bank.example\"}", "bank.url"},
		{"user in the URL", "bank: {adapter: http, url: \"https://u:p@bank.example\"}", "bank.url"},
		{"url for the simulator", "bank: {adapter: sim, url: \"https://bank.example\"}", "bank.url"},
		{"sim file for http", "bank: {adapter: http, url: \"https://bank.example\", sim_file: x.json}", "bank.sim_file"},
		{"timeout too long", "bank: {timeout: 10m}", "bank.timeout"},
		{"timeout too short", "bank: {timeout: 1ms}", "bank.timeout"},
	}
	for _, tt := range tests {
		_, err := Parse([]byte(tt.yaml), noEnv)
		var es Errors
		if !errors.As(err, &es) {
			t.Fatalf("%s: %v", tt.name, err)
		}
		found := false
		for _, e := range es {
			found = found || e.Field == tt.field
		}
		if !found {
			t.Fatalf("%s: no error names %s: %v", tt.name, tt.field, err)
		}
	}
	// Loopback http is fine (labs, tests).
	if _, err := Parse([]byte("bank: {adapter: http, url: \"http://127.0.0.1:9000\"}"), noEnv); err != nil {
		t.Fatal(err)
	}
}
