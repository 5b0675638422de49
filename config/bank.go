package config

import (
	"net/url"
	"path/filepath"
	"time"
)

// Bank is the bank adapter of bank-card payments (used when card payments
// are on: $CARRIERBILL_CARD_KEY and $CARRIERBILL_WALLET_PEPPER set).
type Bank struct {
	// Adapter is "sim" (the simulated bank kept in SimFile: labs and
	// demos, no real money) or "http" (a bank's card gateway at URL,
	// requests signed with $CARRIERBILL_BANK_KEY; see the README's bank
	// gateway contract). Default sim.
	Adapter string `yaml:"adapter"`
	// SimFile is the simulated bank's JSON file, the one `carrierbill card
	// issue` and `card bind` use. Default <data_dir>/banksim.json.
	SimFile string `yaml:"sim_file"`
	// URL is the bank gateway's base URL: https (http only to a loopback
	// address).
	URL string `yaml:"url"`
	// KeyID names the shared key in every request. Default "carrierbill".
	KeyID string `yaml:"key_id"`
	// Timeout bounds one request to the bank; past it the outcome is
	// unknown and the recovery sweep asks the bank. Default 5s.
	Timeout Duration `yaml:"timeout"`
}

// Bank adapters.
const (
	BankSim  = "sim"
	BankHTTP = "http"
)

// BankSimFile is the simulated bank's file: bank.sim_file, or
// banksim.json under data_dir.
func (c *Config) BankSimFile() string {
	if c.Bank.SimFile != "" {
		return c.Bank.SimFile
	}
	return filepath.Join(c.DataDir, "banksim.json")
}

func (b *Bank) applyDefaults() {
	if b.Adapter == "" {
		b.Adapter = BankSim
	}
	if b.KeyID == "" {
		b.KeyID = "carrierbill"
	}
	if b.Timeout == 0 {
		b.Timeout = Duration(5 * time.Second)
	}
}

// checkBank checks the bank section.
func (c *Config) checkBank(p *problems) {
	b := c.Bank
	switch b.Adapter {
	case BankSim:
		if b.URL != "" {
			p.add("bank.url", "is for adapter http, not sim")
		}
	case BankHTTP:
		if msg := bankURLProblem(b.URL); msg != "" {
			p.add("bank.url", "%q: %s", b.URL, msg)
		}
		if b.SimFile != "" {
			p.add("bank.sim_file", "is for adapter sim, not http")
		}
	default:
		p.add("bank.adapter", "%q is not sim or http", b.Adapter)
	}
	if b.Timeout.D() < 100*time.Millisecond || b.Timeout.D() > time.Minute {
		p.add("bank.timeout", "%v is not between 100ms and 1m", b.Timeout.D())
	}
	if len(b.KeyID) > 64 {
		p.add("bank.key_id", "longer than 64 characters")
	}
}

func bankURLProblem(raw string) string {
	if raw == "" {
		return "is required for adapter http"
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
		return "not an absolute http(s) URL"
	case u.Scheme == "http" && u.Hostname() != "localhost" && u.Hostname() != "127.0.0.1" && u.Hostname() != "::1":
		return "https is required (http only to a loopback address)"
	case u.User != nil || u.RawQuery != "" || u.Fragment != "":
		return "must not carry a user, a query or a fragment"
	}
	return ""
}
