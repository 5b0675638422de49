package config

import (
	"strings"
	"testing"
)

func TestSubscriptionsDefaultsAndErrors(t *testing.T) {
	c, err := Parse(nil, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	s := c.Subscriptions
	if s.Schedule != "0 1 * * *" || s.MaxFailures != 3 || s.RetryEvery.D().Hours() != 24 || *s.ReminderDays != 3 {
		t.Fatalf("defaults: %+v", s)
	}
	off, err := Parse([]byte("subscriptions:\n  reminder_days: 0\n"), noEnv)
	if err != nil || *off.Subscriptions.ReminderDays != 0 {
		t.Fatalf("reminder_days 0 switches reminders off: %v %+v", err, off.Subscriptions)
	}
	for _, tt := range []struct{ yaml, field string }{
		{"subscriptions:\n  schedule: every night\n", "subscriptions.schedule"},
		{"subscriptions:\n  max_failures: -1\n", "subscriptions.max_failures"},
		{"subscriptions:\n  retry_every: 10s\n", "subscriptions.retry_every"},
		{"subscriptions:\n  reminder_days: 40\n", "subscriptions.reminder_days"},
		{"merchants:\n  - code: \"8001\"\n    name: 音乐\n    products:\n      - keyword: YUE\n        name: 包月\n        amount: \"10.00\"\n        period: week\n",
			"merchants[0].products[0].period"},
	} {
		_, err := Parse([]byte(tt.yaml), noEnv)
		if err == nil || !strings.Contains(err.Error(), tt.field) {
			t.Errorf("%q: error %v, want one naming %s", tt.yaml, err, tt.field)
		}
	}
}
