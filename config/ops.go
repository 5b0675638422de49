package config

import (
	"path/filepath"

	"github.com/robfig/cron/v3"
)

// Ops configures operations (issue 16): the endpoint that serves /metrics,
// /healthz, /readyz, the operator API and the console, and the nightly
// operator reports. The operator API and the console need the bearer token
// in $CARRIERBILL_ADMIN_TOKEN; /metrics and the health checks do not.
type Ops struct {
	// Listen is where the operations endpoint listens, e.g.
	// 127.0.0.1:9090; empty: off.
	Listen string `yaml:"listen"`
	// ReportsDir is where the nightly reports are written; default
	// <data_dir>/reports.
	ReportsDir string `yaml:"reports_dir"`
	// ReportSchedule is the cron spec of the nightly reports (the day
	// before; on the 1st also the month before), in the operator's zone.
	// Default "15 3 * * *".
	ReportSchedule string `yaml:"report_schedule"`
}

func (c *Config) applyOpsDefaults() {
	if c.Ops.ReportSchedule == "" {
		c.Ops.ReportSchedule = "15 3 * * *"
	}
}

// ReportsDir is where reports are written: ops.reports_dir, or reports
// under data_dir.
func (c *Config) ReportsDir() string {
	if c.Ops.ReportsDir != "" {
		return c.Ops.ReportsDir
	}
	return filepath.Join(c.DataDir, "reports")
}

// checkOps checks the operations endpoint and the report schedule.
func (c *Config) checkOps(p *problems) {
	if c.Ops.Listen != "" {
		if err := listenAddr(c.Ops.Listen); err != nil {
			p.add("ops.listen", "%v", err)
		}
	}
	parser := cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)
	if _, err := parser.Parse(c.Ops.ReportSchedule); err != nil {
		p.add("ops.report_schedule", "%q is not a cron schedule (minute hour day month weekday): %v", c.Ops.ReportSchedule, err)
	}
}
