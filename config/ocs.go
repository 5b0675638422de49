package config

import (
	"fmt"
	"strings"
	"time"

	"github.com/carrierbill/carrierbill/billing"
)

// OCS is the operator's Online Charging System, reached over Diameter
// credit control (RFC 4006). When Enabled, phone-account payments are
// charged there (package ocs) instead of in the built-in phone accounts.
type OCS struct {
	// Enabled picks the OCS as the phone-account charger. Default false:
	// the built-in accounts (the subscribers table).
	Enabled bool `yaml:"enabled"`
	// OriginHost and OriginRealm are this gateway's Diameter identity
	// (OriginHost per process; OriginRealm shared).
	OriginHost  string `yaml:"origin_host"`
	OriginRealm string `yaml:"origin_realm"`
	// DestinationRealm is the OCS's realm; DestinationHost, optional, pins
	// one OCS host behind the peers.
	DestinationRealm string `yaml:"destination_realm"`
	DestinationHost  string `yaml:"destination_host"`
	// ServiceContextID names the charging specification the OCS rates by,
	// e.g. "32274@3gpp.org" (required).
	ServiceContextID string `yaml:"service_context_id"`
	// SessionIDPrefix starts every Session-Id (derived from the payment's
	// idempotency key). Every gateway process of one deployment must use
	// the same one. Default origin_realm.
	SessionIDPrefix string `yaml:"session_id_prefix"`
	// Peers are the OCS's Diameter front ends in order of preference:
	// requests go to the first open one and fail over down the list.
	Peers []OCSPeer `yaml:"peers"`
	// AnswerTimeout bounds one request on one peer (default 1.5s); an
	// unanswered request is sent again, same Session-Id and request
	// number, up to Retries times (default 2) to the next open peer.
	AnswerTimeout Duration `yaml:"answer_timeout"`
	Retries       *int     `yaml:"retries"`
	// WatchdogInterval is the DWR interval (Tw, default 30s); a link that
	// stays silent one more interval is closed.
	WatchdogInterval Duration `yaml:"watchdog_interval"`
	// ReconnectMin and ReconnectMax bound the reconnect backoff (1s, 30s).
	ReconnectMin Duration `yaml:"reconnect_min"`
	ReconnectMax Duration `yaml:"reconnect_max"`
	// MerchantInfo is where requests carry the merchant code and product
	// keyword for the OCS: service_information (3GPP Service-Information /
	// Service-Specific-Info, type 1 merchant, 2 product; the default),
	// service_parameter_info (RFC 4006 Service-Parameter-Info, same types)
	// or none.
	MerchantInfo string `yaml:"merchant_info"`
	// Service is how the OCS rates a payment no entry of Services names.
	Service OCSService `yaml:"service"`
	// Services rate one merchant, or one product of it (a product entry
	// wins over its merchant's).
	Services []OCSServiceRule `yaml:"services"`
}

// OCSPeer is one Diameter peer of the OCS.
type OCSPeer struct {
	Addr string `yaml:"addr"` // host:port; Diameter's port is 3868 (5658 over TLS)
	// Host, when set, is the Origin-Host the peer must announce.
	Host string `yaml:"host"`
	// TLS wraps the connection in TLS from the first byte; TLSCAFile (PEM)
	// replaces the system roots; TLSServerName replaces the address's host
	// in the certificate check; TLSSkipVerify skips the check (labs only).
	TLS           bool   `yaml:"tls"`
	TLSCAFile     string `yaml:"tls_ca_file"`
	TLSServerName string `yaml:"tls_server_name"`
	TLSSkipVerify bool   `yaml:"tls_skip_verify"`
}

// OCSService is a Service-Identifier and Rating-Group.
type OCSService struct {
	ServiceIdentifier uint32 `yaml:"service_identifier"`
	RatingGroup       uint32 `yaml:"rating_group"`
}

// OCSServiceRule rates one merchant or one of its products.
type OCSServiceRule struct {
	Merchant   string `yaml:"merchant"`
	Product    string `yaml:"product"` // a product keyword; empty: the whole merchant
	OCSService `yaml:",inline"`
}

// ocsChargeBudget is the engine's bound on one charger call (billing's
// ChargeTimeout): a debit's two requests with all their retries must fit.
var ocsChargeBudget = billing.DefaultConfig().ChargeTimeout

func (o *OCS) applyDefaults() {
	if o.SessionIDPrefix == "" {
		o.SessionIDPrefix = o.OriginRealm
	}
	if o.MerchantInfo == "" {
		o.MerchantInfo = "service_information"
	}
	if o.AnswerTimeout == 0 {
		o.AnswerTimeout = Duration(1500 * time.Millisecond)
	}
	if o.Retries == nil {
		two := 2
		o.Retries = &two
	}
	if o.WatchdogInterval == 0 {
		o.WatchdogInterval = Duration(30 * time.Second)
	}
	if o.ReconnectMin == 0 {
		o.ReconnectMin = Duration(time.Second)
	}
	if o.ReconnectMax == 0 {
		o.ReconnectMax = Duration(30 * time.Second)
	}
}

// checkOCS checks the ocs section: always what is written, and when
// enabled that nothing required is missing.
func (c *Config) checkOCS(p *problems) {
	o := c.OCS
	for _, f := range []struct {
		field, v string
		required bool
	}{
		{"ocs.origin_host", o.OriginHost, true},
		{"ocs.origin_realm", o.OriginRealm, true},
		{"ocs.destination_realm", o.DestinationRealm, true},
		{"ocs.destination_host", o.DestinationHost, false},
		{"ocs.session_id_prefix", o.SessionIDPrefix, false},
	} {
		switch {
		case f.v == "" && f.required && o.Enabled:
			p.add(f.field, "is required when ocs.enabled is true")
		case f.v != "" && !diameterIdentity(f.v):
			p.add(f.field, "%q is not a Diameter identity (a host or realm name: letters, digits, '-', '.')", f.v)
		}
	}
	switch {
	case o.ServiceContextID == "" && o.Enabled:
		p.add("ocs.service_context_id", "is required when ocs.enabled is true (e.g. \"32274@3gpp.org\")")
	case len(o.ServiceContextID) > 255 || strings.ContainsAny(o.ServiceContextID, " \t\r\n"):
		p.add("ocs.service_context_id", "%q: at most 255 characters, no spaces", o.ServiceContextID)
	}
	switch o.MerchantInfo {
	case "service_information", "service_parameter_info", "none":
	default:
		p.add("ocs.merchant_info", "%q is not service_information, service_parameter_info or none", o.MerchantInfo)
	}
	if len(o.Peers) == 0 && o.Enabled {
		p.add("ocs.peers", "at least one peer is required when ocs.enabled is true")
	}
	seen := map[string]bool{}
	for i, pe := range o.Peers {
		f := fmt.Sprintf("ocs.peers[%d]", i)
		if err := dialAddr(pe.Addr); err != nil {
			p.add(f+".addr", "%v", err)
		} else if seen[pe.Addr] {
			p.add(f+".addr", "%q is listed twice", pe.Addr)
		}
		seen[pe.Addr] = true
		if pe.Host != "" && !diameterIdentity(pe.Host) {
			p.add(f+".host", "%q is not a Diameter identity", pe.Host)
		}
		if !pe.TLS {
			for _, x := range []struct {
				name string
				set  bool
			}{{"tls_ca_file", pe.TLSCAFile != ""}, {"tls_server_name", pe.TLSServerName != ""}, {"tls_skip_verify", pe.TLSSkipVerify}} {
				if x.set {
					p.add(f+"."+x.name, "is for a TLS peer: set tls: true")
				}
			}
		}
	}
	at, retries := o.AnswerTimeout.D(), *o.Retries
	if at < 100*time.Millisecond || at > 30*time.Second {
		p.add("ocs.answer_timeout", "%v is not between 100ms and 30s", at)
	}
	if retries < 0 || retries > 5 {
		p.add("ocs.retries", "%d is not between 0 and 5", retries)
	}
	if worst := 2 * time.Duration(retries+1) * at; o.Enabled && worst > ocsChargeBudget {
		p.add("ocs.answer_timeout", "%v × (1 + %d retries) × 2 requests = %v exceeds the %v a payment's charge may take: shorten it or retry less",
			at, retries, worst, ocsChargeBudget)
	}
	if w := o.WatchdogInterval.D(); w < 100*time.Millisecond || w > 10*time.Minute {
		p.add("ocs.watchdog_interval", "%v is not between 100ms and 10m (RFC 3539 suggests 30s)", w)
	}
	if lo, hi := o.ReconnectMin.D(), o.ReconnectMax.D(); lo < 10*time.Millisecond || hi > 10*time.Minute || lo > hi {
		p.add("ocs.reconnect_min", "%v..%v: want 10ms <= reconnect_min <= reconnect_max <= 10m", lo, hi)
	}
	if o.Enabled && o.Service.ServiceIdentifier == 0 && len(o.Services) == 0 {
		p.add("ocs.service.service_identifier", "is required when ocs.enabled is true (the OCS rates by it)")
	}
	c.checkOCSServices(p)
}

// checkOCSServices checks that every service entry names a configured
// merchant (and product), once.
func (c *Config) checkOCSServices(p *problems) {
	seen := map[string]bool{}
	for i, r := range c.OCS.Services {
		f := fmt.Sprintf("ocs.services[%d]", i)
		var m *Merchant
		for j := range c.Merchants {
			if c.Merchants[j].Code == r.Merchant {
				m = &c.Merchants[j]
			}
		}
		if m == nil {
			p.add(f+".merchant", "%q is not a configured merchant code", r.Merchant)
			continue
		}
		if r.Product != "" {
			found := false
			for _, pr := range m.Products {
				found = found || strings.EqualFold(pr.Keyword, r.Product)
			}
			if !found {
				p.add(f+".product", "%q is not a product of merchant %s", r.Product, r.Merchant)
			}
		}
		key := r.Merchant + "/" + strings.ToUpper(r.Product)
		if seen[key] {
			p.add(f, "merchant %s product %q is rated twice", r.Merchant, r.Product)
		}
		seen[key] = true
		if r.ServiceIdentifier == 0 {
			p.add(f+".service_identifier", "is required")
		}
	}
}

// diameterIdentity reports whether s is spelled like a DiameterIdentity
// (RFC 6733 4.3.1: an FQDN or realm).
func diameterIdentity(s string) bool {
	if len(s) > 255 || s == "" || strings.HasPrefix(s, ".") || strings.HasSuffix(s, ".") || strings.Contains(s, "..") {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' || r == '_') {
			return false
		}
	}
	return true
}
