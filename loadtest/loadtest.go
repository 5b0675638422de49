package loadtest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"gopkg.in/yaml.v3"
	_ "modernc.org/sqlite" // the embedded store's file, read after the run

	"github.com/carrierbill/carrierbill/config"
	"github.com/carrierbill/carrierbill/smpp/smsc"
	"github.com/carrierbill/carrierbill/verify"
)

// Gateway is the gateway under test, booted by Boot.
type Gateway interface {
	// Run serves until ctx ends, then finishes in-flight work and returns.
	Run(ctx context.Context) error
	// Close releases the store, the limiter and the binds.
	Close() error
}

// Boot opens the gateway for c, logging to logs, without starting it
// (cmd/carrierbill: OpenGateway). The bench calls Run and Close.
type Boot func(ctx context.Context, c *config.Config, logs io.Writer) (Gateway, error)

// Options configure a run. Zero values take the defaults in brackets.
type Options struct {
	Boot Boot // required

	// Embedded runs on the embedded store and in-process Redis. Otherwise
	// DatabaseURL and RedisURL are required.
	Embedded    bool
	DatabaseURL string
	RedisURL    string
	// FreshDatabase creates a database of its own on DatabaseURL's server
	// (dropped after the run unless KeepDatabase) instead of using
	// DatabaseURL's database, whose activity would mix into the counters.
	FreshDatabase bool
	KeepDatabase  bool
	RedisPrefix   string // [bench:<run>:]
	DataDir       string // the embedded store's directory [a temp dir, removed]

	Payments int           // stop after this many payments; 0: run for Duration
	Duration time.Duration // [30s] when Payments is 0

	Subscribers int // distinct phone numbers [max(2000, InFlight)]
	InFlight    int // subscribers paying at once [200]
	// Rate paces the payments begun to this many per second (open loop,
	// for the MO ack latency at a given load); 0 begins each as soon as a
	// subscriber is free (closed loop, for the highest rate). InFlight
	// still bounds the payments under way.
	Rate     float64
	Binds    int // SMPP binds from the gateway to the simulator [2]
	Window   int // submit_sm window of each bind [10, the gateway's default]
	MaxConns int // the gateway's database.max_conns [0: the gateway's default]
	// NoFrequency turns the frequency rules off; by default they are on,
	// with limits no subscriber reaches, so that their limiter calls are
	// measured (three a payment).
	NoFrequency bool
	MTTimeout   time.Duration

	// PGBench: the database ceiling; "" finds pgbench, "off" skips it.
	PGBench        string
	PGBenchClients int // [32]
	// SMPPCeiling is how long the SMPP-only ceiling runs [min(Duration, 10s)];
	// negative skips it.
	SMPPCeiling time.Duration

	CPUProfile string // file for the gateway run's CPU profile
	MemProfile string // file for a heap profile taken at the end of the run

	Progress io.Writer // a progress line every second [none]
	Logs     io.Writer // the gateway's log [discard]
}

func (o *Options) defaults() {
	if o.Duration <= 0 {
		o.Duration = 30 * time.Second
	}
	if o.InFlight <= 0 {
		o.InFlight = 200
	}
	if o.Subscribers <= 0 {
		o.Subscribers = max(2000, o.InFlight)
	}
	if o.Subscribers < o.InFlight {
		o.InFlight = o.Subscribers
	}
	if o.Binds <= 0 {
		o.Binds = 2
	}
	if o.Window <= 0 {
		o.Window = 10
	}
	if o.MTTimeout <= 0 {
		o.MTTimeout = 30 * time.Second
	}
	if o.PGBenchClients <= 0 {
		o.PGBenchClients = 32
	}
	if o.SMPPCeiling == 0 {
		o.SMPPCeiling = min(o.Duration, 10*time.Second)
	}
	if o.Logs == nil {
		o.Logs = io.Discard
	}
}

// Report is what a run measured.
type Report struct {
	Started time.Time `json:"started"`
	Store   string    `json:"store"` // postgres or embedded
	Machine Machine   `json:"machine"`
	Setup   Setup     `json:"setup"`

	Seconds        float64     `json:"seconds"`
	Confirmed      int64       `json:"confirmed_payments"`
	PaymentsPerS   float64     `json:"confirmed_payments_per_s"`
	MOs            int64       `json:"mos_acked"`
	MOsPerS        float64     `json:"mos_per_s"`
	MTs            int64       `json:"mts"`
	MTsPerS        float64     `json:"mts_per_s"`
	MOAck          Percentiles `json:"mo_ack"`
	PurchaseToRcpt Percentiles `json:"purchase_to_receipt"`

	Rejections  map[string]int64 `json:"rejections_by_reason"`
	MOTempFails int64            `json:"mo_temp_failures"` // answered with an error status, resent
	MOErrors    int64            `json:"mo_errors"`        // never answered
	MTTimeouts  int64            `json:"mt_timeouts"`
	OddMTs      int64            `json:"unexpected_mts"`
	UnroutedMTs int64            `json:"unrouted_mts"`
	Unfinished  int64            `json:"unfinished_payments"` // begun, not confirmed, not refused

	CPUSeconds    float64 `json:"process_cpu_s"` // the process: gateway and simulator
	CPUPerPayment float64 `json:"process_cpu_ms_per_payment"`
	MaxRSSMB      float64 `json:"process_max_rss_mb"`

	Commits            int64   `json:"commits,omitempty"`
	WALSyncs           int64   `json:"wal_syncs,omitempty"`
	CommitsPerPayment  float64 `json:"commits_per_payment,omitempty"`
	WALSyncsPerPayment float64 `json:"wal_syncs_per_payment,omitempty"`
	WALBytesPerPayment float64 `json:"wal_bytes_per_payment,omitempty"`

	StoredMOs  int64         `json:"stored_mos"`
	Invariants verify.Report `json:"invariants"`

	PGBench   PGBenchResult `json:"pgbench_ceiling"`
	OfPGBench float64       `json:"fraction_of_pgbench,omitempty"`
	SMPP      SMPPResult    `json:"smpp_ceiling"`
	OfSMPP    float64       `json:"mo_fraction_of_smpp,omitempty"`
	Notes     []string      `json:"notes,omitempty"`
}

// Machine describes where the run happened.
type Machine struct {
	CPUs      int    `json:"cpus"`
	GoVersion string `json:"go"`
	LoadAvg   string `json:"loadavg_before"`
	Postgres  string `json:"postgres,omitempty"`
}

// Setup is what the run was asked to do.
type Setup struct {
	Payments    int     `json:"payments,omitempty"`
	Duration    float64 `json:"duration_s,omitempty"`
	Subscribers int     `json:"subscribers"`
	InFlight    int     `json:"in_flight"`
	Rate        float64 `json:"rate_per_s,omitempty"`
	Binds       int     `json:"binds"`
	Window      int     `json:"window"`
	MaxConns    int     `json:"max_conns,omitempty"`
	NoFrequency bool    `json:"no_frequency_rules,omitempty"`
}

// Clean reports whether the run was what a healthy gateway produces: every
// payment confirmed, nothing refused or lost, every invariant held.
func (r *Report) Clean() bool {
	return len(r.Rejections) == 0 && r.MOErrors == 0 && r.MTTimeouts == 0 && r.OddMTs == 0 &&
		r.Unfinished == 0 && r.Invariants.Clean() && len(r.Invariants.Results) > 0 && r.StoredMOs >= r.MOs
}

// Run runs the bench: the gateway under load, the invariant check, then
// the ceilings. The error is about the bench itself; a gateway that
// refused or lost payments is in the report (Clean).
func Run(ctx context.Context, o Options) (*Report, error) {
	if o.Boot == nil {
		return nil, errors.New("loadtest: Options.Boot is required")
	}
	o.defaults()
	runID := time.Now().Unix()
	rep := &Report{Started: time.Now().UTC(), Store: "postgres", Rejections: map[string]int64{},
		Machine: Machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), LoadAvg: loadAvg()},
		Setup:   Setup{Payments: o.Payments, Subscribers: o.Subscribers, InFlight: o.InFlight, Rate: o.Rate, Binds: o.Binds, Window: o.Window, MaxConns: o.MaxConns, NoFrequency: o.NoFrequency}}
	if o.Payments == 0 {
		rep.Setup.Duration = o.Duration.Seconds()
	}
	if o.Embedded {
		rep.Store = "embedded"
	} else if o.DatabaseURL == "" || o.RedisURL == "" {
		return nil, errors.New("loadtest: PostgreSQL and Redis are required (DATABASE_URL and REDIS_URL), or run with --embedded")
	}

	// The store.
	dbURL := o.DatabaseURL
	var statsPool *pgxpool.Pool
	if !o.Embedded {
		if o.FreshDatabase {
			u, drop, err := freshDatabase(ctx, o.DatabaseURL, fmt.Sprintf("carrierbill_bench_%d", runID))
			if err != nil {
				return nil, err
			}
			dbURL = u
			if !o.KeepDatabase {
				defer drop(context.WithoutCancel(ctx))
			} else {
				rep.Notes = append(rep.Notes, "database kept: "+dbName(dbURL))
			}
		}
		var err error
		statsPool, err = pgxpool.New(ctx, dbURL)
		if err != nil {
			return nil, fmt.Errorf("connecting to PostgreSQL: %w", err)
		}
		defer statsPool.Close()
		_ = statsPool.QueryRow(ctx, "SELECT current_setting('server_version')").Scan(&rep.Machine.Postgres)
	}
	dataDir := o.DataDir
	if dataDir == "" {
		d, err := os.MkdirTemp("", "carrierbill-bench")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(d)
		dataDir = d
	}

	// The SMSC and its subscribers.
	rt := newRouter()
	var sim *smsc.Server
	var simErr error
	pprof.Do(ctx, pprof.Labels("side", "smsc"), func(context.Context) {
		// A delivery receipt for every MT that asks for one, as an SMSC
		// sends them (the gateway asks by default and stores them).
		sim = smsc.New(smsc.Config{SystemID: "bench", Password: "bench", NoRecord: true, OnMT: rt.deliver, AutoReceipt: true})
		simErr = sim.Listen("127.0.0.1:0")
	})
	if simErr != nil {
		return nil, simErr
	}
	defer sim.Close()

	// The gateway.
	prefix := o.RedisPrefix
	if prefix == "" {
		prefix = fmt.Sprintf("bench:%d:", runID)
	}
	c, err := gatewayConfig(o, dbURL, prefix, dataDir, sim.Addr())
	if err != nil {
		return nil, err
	}
	gctx, stopGateway := context.WithCancel(context.WithoutCancel(ctx))
	defer stopGateway()
	var g Gateway
	var bootErr error
	gwDone := make(chan error, 1)
	pprof.Do(gctx, pprof.Labels("side", "gateway"), func(lctx context.Context) {
		g, bootErr = o.Boot(lctx, c, o.Logs)
		if bootErr == nil {
			go func() { gwDone <- g.Run(lctx) }()
		}
	})
	if bootErr != nil {
		return nil, fmt.Errorf("booting the gateway: %w", bootErr)
	}
	closed := false
	stop := func() error {
		if closed {
			return nil
		}
		closed = true
		stopGateway()
		var err error
		select {
		case err = <-gwDone:
		case <-time.After(60 * time.Second):
			err = errors.New("the gateway did not stop within 60s")
		}
		return errors.Join(err, g.Close())
	}
	defer stop()
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	err = sim.WaitBound(wctx, o.Binds)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("the gateway did not bind to the simulator: %w", err)
	}

	var before pgCounters
	if statsPool != nil {
		if before, err = readPGCounters(ctx, statsPool); err != nil {
			return nil, err
		}
	}
	if o.CPUProfile != "" {
		f, err := os.Create(o.CPUProfile)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return nil, err
		}
	}
	cpu0 := cpuTime()
	d := &driver{sim: sim, router: rt, to: c.ServiceCode + benchMerchant, keyword: "VIP",
		numbers: numbersFor(runID, o.Subscribers), inFlight: o.InFlight, mtTimeout: o.MTTimeout, count: int64(o.Payments), pace: newPacer(o.Rate)}
	start := time.Now()
	if o.Payments == 0 {
		d.deadline = start.Add(o.Duration)
	}
	progressDone := make(chan struct{})
	var pwg sync.WaitGroup
	if o.Progress != nil {
		pwg.Add(1)
		go func() {
			defer pwg.Done()
			progress(o.Progress, d, rt, start, o, progressDone)
		}()
	}
	pprof.Do(ctx, pprof.Labels("side", "smsc"), func(lctx context.Context) { d.run(lctx) })
	elapsed := time.Since(start)
	close(progressDone)
	pwg.Wait()
	cpu := cpuTime() - cpu0
	if o.CPUProfile != "" {
		pprof.StopCPUProfile()
	}
	if o.MemProfile != "" {
		if err := writeHeap(o.MemProfile); err != nil {
			return nil, err
		}
	}
	if err := stop(); err != nil {
		rep.Notes = append(rep.Notes, "stopping the gateway: "+err.Error())
	}

	// The figures.
	rep.Seconds = elapsed.Seconds()
	rep.Confirmed = d.c.confirmed.Load()
	rep.PaymentsPerS = float64(rep.Confirmed) / elapsed.Seconds()
	rep.MOs = d.c.mos.Load()
	rep.MOsPerS = float64(rep.MOs) / elapsed.Seconds()
	rep.MTs = rt.mts.Load()
	rep.MTsPerS = float64(rep.MTs) / elapsed.Seconds()
	rep.MOAck = d.moAck.percentiles()
	rep.PurchaseToRcpt = d.payment.percentiles()
	rep.Rejections = d.c.rejections()
	var refused int64
	for _, n := range rep.Rejections {
		refused += n
	}
	rep.MOTempFails, rep.MOErrors = d.c.tempFails.Load(), d.c.moErrors.Load()
	rep.MTTimeouts, rep.OddMTs, rep.UnroutedMTs = d.c.timeouts.Load(), d.c.odd.Load(), rt.unrouted.Load()
	started := min(d.c.started.Load(), int64(o.Payments))
	if o.Payments == 0 {
		started = d.c.started.Load()
	}
	rep.Unfinished = max(0, started-rep.Confirmed-refused)
	rep.CPUSeconds = cpu.Seconds()
	if rep.Confirmed > 0 {
		rep.CPUPerPayment = cpu.Seconds() * 1000 / float64(rep.Confirmed)
	}
	rep.MaxRSSMB = maxRSSMB()

	// The database's counters and the invariants.
	if statsPool != nil {
		after, err := settledPGCounters(ctx, statsPool)
		if err != nil {
			return nil, err
		}
		rep.Commits, rep.WALSyncs = after.XactCommit-before.XactCommit, after.WALSync-before.WALSync
		if rep.Confirmed > 0 {
			n := float64(rep.Confirmed)
			rep.CommitsPerPayment, rep.WALSyncsPerPayment = float64(rep.Commits)/n, float64(rep.WALSyncs)/n
			rep.WALBytesPerPayment = float64(after.WALBytes-before.WALBytes) / n
		}
		rep.Notes = append(rep.Notes, "wal_sync is pg_stat_wal's, for the whole server: other clients of the server count too")
		if err := statsPool.QueryRow(ctx, "SELECT count(*) FROM mo_inbox").Scan(&rep.StoredMOs); err != nil {
			return nil, fmt.Errorf("counting stored MOs: %w", err)
		}
		rep.Invariants, err = verify.Run(ctx, verify.Pgx(statsPool), verify.Postgres, verify.Options{Location: c.Location(), BuiltinCharge: true})
		if err != nil {
			return nil, err
		}
	} else {
		db, err := sql.Open("sqlite", "file:"+filepath.Join(dataDir, "carrierbill.db")+"?_pragma=query_only(ON)")
		if err != nil {
			return nil, err
		}
		defer db.Close()
		if err := db.QueryRowContext(ctx, "SELECT count(*) FROM mo_inbox").Scan(&rep.StoredMOs); err != nil {
			return nil, fmt.Errorf("counting stored MOs: %w", err)
		}
		rep.Invariants, err = verify.Run(ctx, verify.SQL(db), verify.SQLite, verify.Options{Location: c.Location(), BuiltinCharge: true})
		if err != nil {
			return nil, err
		}
	}

	// The ceilings.
	switch {
	case o.Embedded:
		rep.PGBench.Skipped = "embedded store"
	case o.PGBench == "off":
		rep.PGBench.Skipped = "switched off"
	default:
		bin, err := findPGBench(o.PGBench)
		if err != nil {
			rep.PGBench.Skipped = err.Error()
			break
		}
		if o.Progress != nil {
			fmt.Fprintf(o.Progress, "pgbench ceiling: %s for %s...\n", PaymentScriptName, elapsed.Round(time.Second))
		}
		rep.PGBench, err = runPGBench(ctx, bin, dbURL, o.PGBenchClients, o.Subscribers, elapsed, statsPool)
		if err != nil {
			return nil, err
		}
		if rep.PGBench.TPS > 0 {
			rep.OfPGBench = rep.PaymentsPerS / rep.PGBench.TPS
		}
	}
	if o.SMPPCeiling < 0 {
		rep.SMPP.Skipped = "switched off"
	} else {
		if o.Progress != nil {
			fmt.Fprintf(o.Progress, "SMPP ceiling: %d binds, %d senders for %s...\n", o.Binds, o.InFlight, o.SMPPCeiling)
		}
		rep.SMPP, err = runSMPPCeiling(ctx, o.Binds, o.Window, o.InFlight, o.SMPPCeiling)
		if err != nil {
			return nil, err
		}
		if rep.SMPP.MOsPerS > 0 {
			rep.OfSMPP = rep.MOsPerS / rep.SMPP.MOsPerS
		}
	}
	return rep, nil
}

// PaymentScriptName is the pgbench script's path in the repository.
const PaymentScriptName = "loadtest/payment.pgbench"

const benchMerchant = "8001"

// gatewayConfig is the bench's configuration: one merchant, limits and
// frequency rules (benchFrequency) that let every subscriber pay again and again (the bench
// measures throughput, not the rules), refusal texts the subscribers can
// read, the simulator's binds.
func gatewayConfig(o Options, dbURL, prefix, dataDir, simAddr string) (*config.Config, error) {
	binds := make([]map[string]any, o.Binds)
	for i := range binds {
		binds[i] = map[string]any{"name": fmt.Sprintf("bench%d", i+1), "addr": simAddr, "system_id": "bench", "password": "bench", "window": o.Window}
	}
	doc := map[string]any{
		"timezone": "Asia/Shanghai",
		"data_dir": dataDir,
		"smsc":     map[string]any{"binds": binds},
		"orders":   map[string]any{"code_validity": "10m"},
		"limits": map[string]any{
			"phone": map[string]any{"per_payment": "30.00", "daily": "10000000.00", "monthly": "10000000.00"},
			"card":  map[string]any{"per_payment": "30.00", "daily": "10000000.00", "monthly": "10000000.00"},
		},
		"frequency": benchFrequency(o.NoFrequency),
		"accounts":  map[string]any{"auto_open": true, "credit_limit": "100000000.00"},
		"merchants": []map[string]any{{
			"code": benchMerchant, "name": "星辰游戏", "open_amount": true,
			"products": []map[string]any{{"keyword": "VIP", "name": "月度会员", "amount": "1.00"}},
		}},
		"risk":       benchRisk(),
		"texts":      rejectTexts(),
		"settlement": map[string]any{"dir": filepath.Join(dataDir, "statements")},
		"log":        map[string]any{"level": "warn"},
	}
	if !o.Embedded {
		db := map[string]any{"url": dbURL}
		if o.MaxConns > 0 {
			db["max_conns"] = o.MaxConns
		}
		doc["database"] = db
		// 2 s, not the default 200 ms: on an oversubscribed machine a
		// Redis answer can wait that long for a CPU, and the rules fail
		// closed (service_busy), which would end the run unclean.
		doc["redis"] = map[string]any{"url": o.RedisURL, "prefix": prefix, "timeout": "2s"}
	}
	b, err := yaml.Marshal(doc)
	if err != nil {
		return nil, err
	}
	// The bench's own settings, not the environment's: an exported
	// DATABASE_URL must not turn an embedded run into a PostgreSQL one.
	c, err := config.Parse(b, func(string) (string, bool) { return "", false })
	if err != nil {
		return nil, fmt.Errorf("the bench's gateway configuration: %w", err)
	}
	return c, nil
}

// benchFrequency keeps the frequency rules on (unless off), each asking
// the limiter at every payment as in production, with limits no simulated
// subscriber reaches: it pays about once a second at the most.
func benchFrequency(off bool) map[string]any {
	if off {
		return map[string]any{"min_interval": "0s", "purchases_per_hour": 0, "confirmations_per_order": 0}
	}
	return map[string]any{"min_interval": "1ms", "purchases_per_hour": 1_000_000, "confirmations_per_order": 1000}
}

// benchRisk keeps the risk rules on, so that their cost (one Redis round
// trip at each purchase and confirmation) is measured, with thresholds no
// bench reaches: the simulated subscribers answer within milliseconds
// (fast_confirmation, a pure clock check, is off) and pay one merchant
// hundreds of times a second.
func benchRisk() map[string]any {
	huge := 1_000_000_000
	money := "10000000.00"
	return map[string]any{"rules": map[string]any{
		"fast_confirmation": map[string]any{"enabled": false},
		"number_velocity":   map[string]any{"max": huge},
		"merchant_velocity": map[string]any{"max": huge},
		"prefix_velocity":   map[string]any{"max": huge},
		"merchant_burst":    map[string]any{"max_numbers": huge},
		"merchant_spend":    map[string]any{"floor": money},
		"unusual_hours":     map[string]any{"min_amount": money},
		"prepaid_drain":     map[string]any{"min_spend": money},
		"failure_rate":      map[string]any{"min_count": huge},
		"refund_rate":       map[string]any{"min_count": huge},
	}}
}

func progress(w io.Writer, d *driver, rt *router, start time.Time, o Options, done chan struct{}) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	var last int64
	for {
		select {
		case <-done:
			fmt.Fprintln(w)
			return
		case <-t.C:
		}
		n := d.c.confirmed.Load()
		goal := fmt.Sprintf("%s/%s", time.Since(start).Round(time.Second), o.Duration)
		if o.Payments > 0 {
			goal = fmt.Sprintf("%d/%d payments", n, o.Payments)
		}
		var refused int64
		for _, r := range d.c.rejections() {
			refused += r
		}
		fmt.Fprintf(w, "\r%s  confirmed %d (%d/s)  MOs %d  MTs %d  refused %d  timeouts %d   ",
			goal, n, n-last, d.c.mos.Load(), rt.mts.Load(), refused, d.c.timeouts.Load())
		last = n
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func maxRSSMB() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Maxrss) / 1024 // KiB on Linux
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	s := string(b)
	for i, n := 0, 0; i < len(s); i++ {
		if s[i] == ' ' {
			if n++; n == 3 {
				return s[:i]
			}
		}
	}
	return s
}

func writeHeap(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	runtime.GC()
	return pprof.WriteHeapProfile(f)
}
