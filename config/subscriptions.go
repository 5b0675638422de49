package config

import (
	"time"

	"github.com/robfig/cron/v3"
)

// Subscriptions configures monthly subscriptions (products with
// `period: month`): the renewal job and its retry and lapse policy.
type Subscriptions struct {
	// Schedule is the cron spec (operator's zone) of the renewal job.
	// Default "0 1 * * *": every night at 01:00. The job also runs when
	// serve starts, so renewals missed while the gateway was down are
	// caught up.
	Schedule string `yaml:"schedule"`
	// MaxFailures is how many failed attempts to renew one period are
	// allowed before the subscription lapses. Default 3.
	MaxFailures int `yaml:"max_failures"`
	// RetryEvery is the wait between two attempts of one period. Default 24h.
	RetryEvery Duration `yaml:"retry_every"`
	// ReminderDays: the reminder SMS goes this many days before each
	// renewal. Default 3; 0 switches reminders off.
	ReminderDays *int `yaml:"reminder_days"`
	// ListValidity is how long the numbers of a 0000 listing can be
	// replied to. Default 24h.
	ListValidity Duration `yaml:"list_validity"`
}

func (s *Subscriptions) applyDefaults() {
	if s.Schedule == "" {
		s.Schedule = "0 1 * * *"
	}
	if s.MaxFailures == 0 {
		s.MaxFailures = 3
	}
	if s.RetryEvery == 0 {
		s.RetryEvery = Duration(24 * time.Hour)
	}
	if s.ReminderDays == nil {
		n := 3
		s.ReminderDays = &n
	}
	if s.ListValidity == 0 {
		s.ListValidity = Duration(24 * time.Hour)
	}
}

// checkSubscriptions checks the subscriptions section.
func (c *Config) checkSubscriptions(p *problems) {
	s := c.Subscriptions
	if _, err := cron.ParseStandard(s.Schedule); err != nil {
		p.add("subscriptions.schedule", "%q is not a cron spec (minute hour day month weekday): %v", s.Schedule, err)
	}
	if s.MaxFailures < 1 || s.MaxFailures > 31 {
		p.add("subscriptions.max_failures", "%d: want 1 to 31", s.MaxFailures)
	}
	if s.RetryEvery.D() < time.Minute {
		p.add("subscriptions.retry_every", "%s: want at least 1m", s.RetryEvery.D())
	}
	if s.ReminderDays != nil && (*s.ReminderDays < 0 || *s.ReminderDays > 27) {
		p.add("subscriptions.reminder_days", "%d: want 0 (off) to 27", *s.ReminderDays)
	}
	if s.ListValidity.D() < time.Minute {
		p.add("subscriptions.list_validity", "%s: want at least 1m", s.ListValidity.D())
	}
}

// checkPeriod checks a product's period.
func checkPeriod(p *problems, f string, pr Product) {
	switch pr.Period {
	case "", "month":
	default:
		p.add(f+".period", "%q: want month (a monthly subscription) or nothing (a one-off product)", pr.Period)
	}
}
