package config

import "time"

// Verify configures the invariant checks `serve` runs on a schedule (the
// checks of `carrierbill verify`, package verify).
type Verify struct {
	// Every is how often serve runs the checks and logs the result; 0 (the
	// default) never. An hour suits a large store (see BENCHMARKS.md).
	Every Duration `yaml:"every"`
	// MOAge is how long an acknowledged MO may wait unprocessed before the
	// check reports it. Default 5m.
	MOAge Duration `yaml:"mo_age"`
	// PendingAge is how long a charge may stay pending before the check
	// reports it. Default orders.recover_after plus 30s (a sweep and a
	// charger call).
	PendingAge Duration `yaml:"pending_age"`
}

func (v *Verify) applyDefaults(c *Config) {
	if c.Orders.RecoverAfter == 0 {
		c.Orders.RecoverAfter = Duration(2 * time.Minute)
	}
	if v.MOAge == 0 {
		v.MOAge = Duration(5 * time.Minute)
	}
	if v.PendingAge == 0 {
		v.PendingAge = c.Orders.RecoverAfter + Duration(30*time.Second)
	}
}

// checkVerify checks the verify section and orders.recover_after, which
// bounds the pending-charge check.
func (c *Config) checkVerify(p *problems) {
	if c.Orders.RecoverAfter < Duration(11*time.Second) {
		p.add("orders.recover_after", "want at least 11s (more than the 10s a charger call may take)")
	}
	if c.Verify.Every < 0 || (c.Verify.Every > 0 && c.Verify.Every < Duration(time.Minute)) {
		p.add("verify.every", "want 0 (off) or at least 1m")
	}
	if c.Verify.MOAge < Duration(10*time.Second) {
		p.add("verify.mo_age", "want at least 10s")
	}
	if c.Verify.PendingAge <= c.Orders.RecoverAfter {
		p.add("verify.pending_age", "want more than orders.recover_after (%s)", time.Duration(c.Orders.RecoverAfter))
	}
}
