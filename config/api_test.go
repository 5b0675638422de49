package config

import (
	"strings"
	"testing"
	"time"
)

func TestAPIDefaultsAndErrors(t *testing.T) {
	t.Parallel()
	c, err := Parse([]byte("api:\n  listen: 127.0.0.1:8090\n"), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	a := c.API
	if *a.RateLimit != 50 || a.RatePeriod.D() != time.Second || a.NotifyPoll.D() != time.Second || a.NotifyTimeout.D() != 10*time.Second ||
		a.PublicURL != "http://127.0.0.1:8090" {
		t.Fatalf("defaults: %+v", a)
	}
	for doc, field := range map[string]string{
		"api:\n  listen: nope\n":                     "api.listen",
		"api:\n  public_url: ftp://x\n":              "api.public_url",
		"api:\n  rate_limit: -1\n":                   "api.rate_limit",
		"api:\n  rate_period: 2h\n":                  "api.rate_period",
		"api:\n  notify_poll: 1ms\n":                 "api.notify_poll",
		"api:\n  notify_timeout: 5m\n":               "api.notify_timeout",
		"api:\n  confirm_without_code: [\"9999\"]\n": "api.confirm_without_code",
		"api:\n  colour: red\n":                      "colour",
	} {
		if _, err := Parse([]byte(doc), noEnv); err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("%q: %v, want an error naming %s", doc, err, field)
		}
	}
}
