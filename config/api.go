package config

import (
	"net"
	"net/url"
	"time"
)

// API is the merchant API (GSMA CAMARA Carrier Billing v0.5 and Refund
// v0.3; README "Merchant API"). Merchants authenticate with the keys of
// `carrierbill merchant key issue`; notifications are signed with
// per-merchant secrets derived from $CARRIERBILL_NOTIFY_KEY, which serve
// requires when the API is on.
type API struct {
	// Listen is the API's address, e.g. 127.0.0.1:8090; empty: off.
	Listen string `yaml:"listen"`
	// PublicURL is how merchants reach the API (https://pay.example.com),
	// the source of the notifications' CloudEvents. Default
	// http://<listen>.
	PublicURL string `yaml:"public_url"`
	// RateLimit is how many requests one merchant may make per RatePeriod
	// (redis_rate; the in-process Redis without REDIS_URL). 0: no limit.
	// Default 50 per 1s.
	RateLimit  *int     `yaml:"rate_limit"`
	RatePeriod Duration `yaml:"rate_period"`
	// NotifyPoll is how often due notifications are looked for (default
	// 1s); NotifyTimeout bounds one delivery (default 10s).
	NotifyPoll    Duration `yaml:"notify_poll"`
	NotifyTimeout Duration `yaml:"notify_timeout"`
	// ConfirmWithoutCode lists the merchants allowed to confirm a payment
	// the subscriber has not validated (they take consent themselves).
	ConfirmWithoutCode []string `yaml:"confirm_without_code"`
	// SignedRequests lists the merchants that must sign every request
	// (X-Carrierbill-Signature with their `merchant secret`); any merchant
	// may sign, and a signed request is checked and used once.
	SignedRequests []string `yaml:"signed_requests"`
}

func (a *API) applyDefaults() {
	if a.RateLimit == nil {
		n := 50
		a.RateLimit = &n
	}
	if a.RatePeriod == 0 {
		a.RatePeriod = Duration(time.Second)
	}
	if a.NotifyPoll == 0 {
		a.NotifyPoll = Duration(time.Second)
	}
	if a.NotifyTimeout == 0 {
		a.NotifyTimeout = Duration(10 * time.Second)
	}
	if a.PublicURL == "" && a.Listen != "" {
		a.PublicURL = "http://" + a.Listen
	}
}

// checkAPI checks the api section.
func (c *Config) checkAPI(p *problems) {
	a := c.API
	if a.Listen != "" {
		if _, _, err := net.SplitHostPort(a.Listen); err != nil {
			p.add("api.listen", "%q is not host:port", a.Listen)
		}
	}
	if a.PublicURL != "" {
		u, err := url.Parse(a.PublicURL)
		if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") || u.User != nil {
			p.add("api.public_url", "%q is not an absolute http(s) URL", a.PublicURL)
		}
	}
	if a.RateLimit != nil && (*a.RateLimit < 0 || *a.RateLimit > 1_000_000) {
		p.add("api.rate_limit", "%d is not between 0 and 1000000", *a.RateLimit)
	}
	if a.RatePeriod != 0 && (a.RatePeriod.D() < time.Millisecond || a.RatePeriod.D() > time.Hour) {
		p.add("api.rate_period", "%v is not between 1ms and 1h", a.RatePeriod.D())
	}
	if a.NotifyPoll != 0 && (a.NotifyPoll.D() < 10*time.Millisecond || a.NotifyPoll.D() > time.Minute) {
		p.add("api.notify_poll", "%v is not between 10ms and 1m", a.NotifyPoll.D())
	}
	if a.NotifyTimeout != 0 && (a.NotifyTimeout.D() < 100*time.Millisecond || a.NotifyTimeout.D() > time.Minute) {
		p.add("api.notify_timeout", "%v is not between 100ms and 1m", a.NotifyTimeout.D())
	}
	known := map[string]bool{}
	for _, m := range c.Merchants {
		known[m.Code] = true
	}
	for _, code := range a.ConfirmWithoutCode {
		if !known[code] {
			p.add("api.confirm_without_code", "%q is not a configured merchant", code)
		}
	}
	for _, code := range a.SignedRequests {
		if !known[code] {
			p.add("api.signed_requests", "%q is not a configured merchant", code)
		}
	}
}
