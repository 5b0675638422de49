package main

import (
	"log/slog"
	"os"
	"time"

	"github.com/carrierbill/carrierbill/billing"
	billingredis "github.com/carrierbill/carrierbill/billing/redis"
	"github.com/carrierbill/carrierbill/config"
	"github.com/carrierbill/carrierbill/risk"
)

// redisFor is the Redis the risk rules and the USSD sessions use and its
// per-call timeout: REDIS_URL with redis.timeout, or the in-process Redis
// (reached through memory) with billing/redis.DefaultEmbeddedTimeout.
func redisFor(g *Gateway, c *config.Config) (url string, timeout time.Duration) {
	if c.Redis.URL == "" {
		return "redis://" + g.stores.EmbeddedRedis, billingredis.DefaultEmbeddedTimeout
	}
	return c.Redis.URL, c.Redis.Timeout.D()
}

// openRisk opens the risk rules (config risk:, on by default) on the Redis
// the frequency rules use (REDIS_URL, or the in-process one), with the
// built-in phone accounts' balances when they are the charger
// (prepaid_drain). It returns nil when the rules are off: the engine then
// checks the block and allow lists only.
func openRisk(g *Gateway, c *config.Config, builtInAccounts bool, log *slog.Logger) (billing.Risk, error) {
	if !c.RiskEnabled() {
		return nil, nil
	}
	url, timeout := redisFor(g, c)
	o := risk.Options{
		Rules: c.RiskRules(), KeyPrefix: c.Risk.KeyPrefix, KeySalt: []byte(os.Getenv(envRedisKeySalt)),
		Location: c.Location(), Clock: g.Clock, Timeout: timeout, Logger: log.With("component", "risk"),
	}
	if builtInAccounts {
		o.Balances = risk.AccountBalances{Accounts: g.stores.Accounts}
	}
	r, err := risk.Open(url, o)
	if err != nil {
		return nil, err
	}
	g.closers = append(g.closers, r.Close)
	return r, nil
}
