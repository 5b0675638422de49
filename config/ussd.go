package config

import (
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// USSD is the USSD menu channel (package ussd): over the SMPP binds
// (deliver_sm/submit_sm with ussd_service_op) and over an HTTP aggregator
// callback in the style of Africa's Talking. Off unless Enabled.
type USSD struct {
	Enabled bool `yaml:"enabled"`
	// Timeout: a dialog idle longer has timed out (default 2m; 10s..10m).
	Timeout Duration `yaml:"timeout"`
	// History is how many payments menu 3 lists (default 10, 1..50).
	History int `yaml:"history"`
	// Texts override screen texts by name (see the README's USSD section;
	// refusals use the SMS texts: texts:).
	Texts map[string]string `yaml:"texts"`
	SMPP  USSDSMPP          `yaml:"smpp"`
	HTTP  USSDHTTP          `yaml:"http"`
}

// USSDSMPP is the SMPP transport of USSD and its vendor variants.
type USSDSMPP struct {
	// Off stops taking USSD from the binds (HTTP only). Default: on when
	// ussd is enabled.
	Off bool `yaml:"off"`
	// SessionKey: its_session_info (default) or user_message_reference
	// (each with source_addr).
	SessionKey string `yaml:"session_key"`
	// ServiceType goes into every USSD submit_sm ("USSD" where the SMSC
	// wants it; default empty).
	ServiceType string `yaml:"service_type"`
	// The ussd_service_op codes. Defaults: open [1], answer [18], abort
	// [0x81], continue 2, close 17.
	Open     []int `yaml:"open"`
	Answer   []int `yaml:"answer"`
	Abort    []int `yaml:"abort"`
	Continue *int  `yaml:"continue"`
	Close    *int  `yaml:"close"`
}

// USSDHTTP is the aggregator callback. It is served only when Listen is
// set; requests must carry the shared secret of $CARRIERBILL_USSD_SECRET
// (header X-USSD-Secret or ?secret=) and/or come from Allow.
type USSDHTTP struct {
	Listen string `yaml:"listen"` // e.g. 0.0.0.0:8083; empty: off
	// Path of the callback (default /ussd).
	Path string `yaml:"path"`
	// Allow lists the aggregator's source addresses (IPs or CIDR prefixes).
	Allow []string `yaml:"allow"`
	// Wait bounds how long a callback waits for its screen (default 10s).
	Wait Duration `yaml:"wait"`
}

// EnvUSSDSecret holds the HTTP callback's shared secret (never in the file).
const EnvUSSDSecret = "CARRIERBILL_USSD_SECRET"

func (u *USSD) applyDefaults() {
	if u.Timeout == 0 {
		u.Timeout = Duration(2 * time.Minute)
	}
	if u.History == 0 {
		u.History = 10
	}
	if u.SMPP.SessionKey == "" {
		u.SMPP.SessionKey = "its_session_info"
	}
	if u.SMPP.Open == nil {
		u.SMPP.Open = []int{1}
	}
	if u.SMPP.Answer == nil {
		u.SMPP.Answer = []int{18}
	}
	if u.SMPP.Abort == nil {
		u.SMPP.Abort = []int{0x81}
	}
	if u.SMPP.Continue == nil {
		n := 2
		u.SMPP.Continue = &n
	}
	if u.SMPP.Close == nil {
		n := 17
		u.SMPP.Close = &n
	}
	if u.HTTP.Path == "" {
		u.HTTP.Path = "/ussd"
	}
	if u.HTTP.Wait == 0 {
		u.HTTP.Wait = Duration(10 * time.Second)
	}
}

// AllowPrefixes parses ussd.http.allow (checked by Validate).
func (h USSDHTTP) AllowPrefixes() []netip.Prefix {
	var out []netip.Prefix
	for _, a := range h.Allow {
		if p, ok := parsePrefix(a); ok {
			out = append(out, p)
		}
	}
	return out
}

func parsePrefix(s string) (netip.Prefix, bool) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		return p.Masked(), err == nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, false
	}
	return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), true
}

// checkUSSD checks the ussd section.
func (c *Config) checkUSSD(p *problems) {
	u := c.USSD
	if d := u.Timeout.D(); d < 10*time.Second || d > 10*time.Minute {
		p.add("ussd.timeout", "%v is not between 10s and 10m", d)
	}
	if u.History < 1 || u.History > 50 {
		p.add("ussd.history", "%d is not between 1 and 50", u.History)
	}
	switch u.SMPP.SessionKey {
	case "its_session_info", "user_message_reference":
	default:
		p.add("ussd.smpp.session_key", "%q is not its_session_info or user_message_reference", u.SMPP.SessionKey)
	}
	if len(u.SMPP.ServiceType) > 5 {
		p.add("ussd.smpp.service_type", "longer than 5 characters (SMPP 3.4 service_type)")
	}
	seen := map[int]string{}
	for _, l := range []struct {
		name string
		ops  []int
	}{{"open", u.SMPP.Open}, {"answer", u.SMPP.Answer}, {"abort", u.SMPP.Abort}} {
		if len(l.ops) == 0 && l.name != "abort" {
			p.add("ussd.smpp."+l.name, "needs at least one op code")
		}
		for _, op := range l.ops {
			switch {
			case op < 0 || op > 255:
				p.add("ussd.smpp."+l.name, "%d is not an op code (0..255)", op)
			case seen[op] != "":
				p.add("ussd.smpp."+l.name, "op code %d is also in ussd.smpp.%s", op, seen[op])
			default:
				seen[op] = l.name
			}
		}
	}
	for name, v := range map[string]*int{"continue": u.SMPP.Continue, "close": u.SMPP.Close} {
		if v != nil && (*v < 0 || *v > 255) {
			p.add("ussd.smpp."+name, "%d is not an op code (0..255)", *v)
		}
	}
	if u.SMPP.Continue != nil && u.SMPP.Close != nil && *u.SMPP.Continue == *u.SMPP.Close {
		p.add("ussd.smpp.close", "is the same op code as ussd.smpp.continue")
	}
	h := u.HTTP
	if h.Listen != "" {
		if err := listenAddr(h.Listen); err != nil {
			p.add("ussd.http.listen", "%v", err)
		}
	}
	if !strings.HasPrefix(h.Path, "/") {
		p.add("ussd.http.path", "%q must start with /", h.Path)
	}
	for i, a := range h.Allow {
		if _, ok := parsePrefix(a); !ok {
			p.add(fmt.Sprintf("ussd.http.allow[%d]", i), "%q is not an IP address or CIDR prefix", a)
		}
	}
	if d := h.Wait.D(); d < 100*time.Millisecond || d > time.Minute {
		p.add("ussd.http.wait", "%v is not between 100ms and 1m", d)
	}
	if u.Enabled && u.SMPP.Off && h.Listen == "" {
		p.add("ussd.http.listen", "is required when ussd.smpp.off is set (no transport left)")
	}
}
