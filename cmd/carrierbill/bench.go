package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/carrierbill/carrierbill/config"
	"github.com/carrierbill/carrierbill/loadtest"
)

func init() {
	register(command{
		name:    "bench",
		summary: "measure throughput over SMPP: the gateway, the invariants after, the pgbench and SMPP ceilings (BENCHMARKS.md)",
		run:     runBench,
	})
}

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("bench", stderr)
	var o loadtest.Options
	fs.BoolVar(&o.Embedded, "embedded", false, "the embedded store and in-process Redis instead of PostgreSQL and Redis")
	fs.StringVar(&o.DatabaseURL, "database-url", os.Getenv("DATABASE_URL"), "PostgreSQL server; env DATABASE_URL")
	fs.StringVar(&o.RedisURL, "redis-url", os.Getenv("REDIS_URL"), "Redis; env REDIS_URL")
	fresh := fs.Bool("fresh-db", true, "create a database of its own on the server (dropped after the run) instead of using the URL's")
	fs.BoolVar(&o.KeepDatabase, "keep-db", false, "keep the fresh database after the run")
	fs.StringVar(&o.RedisPrefix, "redis-prefix", "", "Redis key prefix (default bench:<run>:)")
	fs.IntVar(&o.Payments, "payments", 0, "stop after this many payments (0: run for -duration)")
	fs.DurationVar(&o.Duration, "duration", 30*time.Second, "how long to run when -payments is 0")
	fs.IntVar(&o.Subscribers, "subscribers", 2000, "distinct phone numbers")
	fs.IntVar(&o.InFlight, "in-flight", 200, "subscribers paying at once")
	fs.Float64Var(&o.Rate, "rate", 0, "begin this many payments per second (open loop: MO ack latency at a given load); 0: as fast as the gateway answers")
	fs.IntVar(&o.Binds, "binds", 2, "SMPP binds from the gateway to the simulator")
	fs.IntVar(&o.Window, "window", 10, "submit_sm window of each bind")
	fs.IntVar(&o.MaxConns, "max-conns", 0, "the gateway's database.max_conns (0: its default)")
	fs.BoolVar(&o.NoFrequency, "no-frequency", false, "switch the frequency rules off (by default on, with limits no subscriber reaches, so their limiter calls are measured)")
	fs.StringVar(&o.PGBench, "pgbench", "", `pgbench binary for the database ceiling ("" finds it, "off" skips it)`)
	fs.IntVar(&o.PGBenchClients, "pgbench-clients", 32, "pgbench connections")
	fs.DurationVar(&o.SMPPCeiling, "smpp-ceiling", 10*time.Second, "how long the SMPP-only ceiling runs (negative skips it)")
	fs.StringVar(&o.CPUProfile, "cpuprofile", "", "write a CPU profile of the run here (samples labelled side=gateway|smsc)")
	fs.StringVar(&o.MemProfile, "memprofile", "", "write a heap profile at the end of the run here")
	jsonPath := fs.String("json", "", "also write the report as JSON here")
	logPath := fs.String("log", "", "write the gateway's log here (default: discarded)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments %v", errUsage, fs.Args())
	}
	if !o.Embedded && (o.DatabaseURL == "" || o.RedisURL == "") {
		return fmt.Errorf("%w: set DATABASE_URL and REDIS_URL (or -database-url, -redis-url), or run with -embedded", errUsage)
	}
	o.FreshDatabase = *fresh
	o.Progress = stderr
	if *logPath != "" {
		f, err := os.Create(*logPath)
		if err != nil {
			return err
		}
		defer f.Close()
		o.Logs = f
	}
	o.Boot = bootBenchGateway
	rep, err := loadtest.Run(ctx, o)
	if err != nil {
		return err
	}
	if err := rep.WriteTable(stdout); err != nil {
		return err
	}
	if *jsonPath != "" {
		if err := rep.WriteJSON(*jsonPath); err != nil {
			return fmt.Errorf("writing %s: %w", *jsonPath, err)
		}
	}
	if !rep.Clean() {
		return fmt.Errorf("the run was not clean: refusals, lost messages or invariant violations (see the report)")
	}
	return nil
}

// bootBenchGateway opens the gateway serve would open for c.
func bootBenchGateway(ctx context.Context, c *config.Config, logs io.Writer) (loadtest.Gateway, error) {
	g, err := OpenGateway(ctx, c, NewLogger(logs, c.Log), GatewayOptions{})
	if err != nil {
		return nil, err
	}
	return benchGateway{g}, nil
}

type benchGateway struct{ g *Gateway }

func (b benchGateway) Run(ctx context.Context) error { return b.g.Run(ctx, GatewayOptions{}) }
func (b benchGateway) Close() error                  { return b.g.Close() }
