package faults

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	_ "modernc.org/sqlite" // the embedded store's file, read by the checks

	"github.com/carrierbill/carrierbill/bank/banksim"
	"github.com/carrierbill/carrierbill/bank/httpbank/httpbanktest"
	"github.com/carrierbill/carrierbill/internal/dbtest"
	"github.com/carrierbill/carrierbill/internal/faultproxy"
	"github.com/carrierbill/carrierbill/ocs/ocssim"
	"github.com/carrierbill/carrierbill/smpp/smsc"
)

var (
	seedFlag  = flag.Int64("faults.seed", 0, "seed of the suite's randomness (0: from the clock); printed at the start")
	longFlag  = flag.Bool("faults.long", os.Getenv("CARRIERBILL_FAULTS") == "long", "the full suite (make faults); default: the short one CI runs")
	killsFlag = flag.Int("faults.kills", 0, "kill -9 per store in the kill scenarios (0: 60 long, 3 short)")
	onlyFlag  = flag.String("faults.only", "", "run only the scenarios whose name contains this")
	raceFlag  = flag.Bool("faults.race", false, "build the gateway with the race detector (slow to build: off in CI, whose budget it would eat)")
)

// size is what one run does; the short one fits CI's budget.
type size struct {
	kills        int           // kill -9 per store
	twoGWFor     time.Duration // two gateways under traffic
	twoGWKills   int           // kills of one of the two
	netRounds    int           // database and Redis faults each
	longHang     bool          // one database hang past the charger's timeout
	smscRounds   int
	bankRounds   int // bank faults
	ocsRounds    int // OCS faults
	cards        int // subscribers paying by card in the bank scenario
	workers      int
	phones       int
	quietTimeout time.Duration // for the gateway to finish its work
}

func sizes() size {
	if *longFlag {
		s := size{kills: 60, twoGWFor: 40 * time.Second, twoGWKills: 6, netRounds: 12, longHang: true, smscRounds: 24, bankRounds: 20, cards: 60, ocsRounds: 21,
			workers: 12, phones: 3000, quietTimeout: 3 * time.Minute}
		if *killsFlag > 0 {
			s.kills = *killsFlag
		}
		return s
	}
	s := size{kills: 3, twoGWFor: 6 * time.Second, twoGWKills: 1, netRounds: 3, smscRounds: 6, bankRounds: 5, cards: 12, ocsRounds: 7,
		workers: 6, phones: 600, quietTimeout: 3 * time.Minute}
	if *killsFlag > 0 {
		s.kills = *killsFlag
	}
	return s
}

// tally counts what the whole suite did, for the summary.
type tally struct {
	mu     sync.Mutex
	faults map[string]int
	rows   []string
	mos    int64
	paid   int64
	mts    int64
	dups   int64
}

func (t *tally) fault(kind string) {
	t.mu.Lock()
	t.faults[kind]++
	t.mu.Unlock()
}

func TestFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("starts gateway processes")
	}
	seed := *seedFlag
	if seed == 0 {
		seed = time.Now().UnixNano() % 1_000_000_007
	}
	sz := sizes()
	mode := "short"
	if *longFlag {
		mode = "long"
	}
	fmt.Fprintf(os.Stderr, "faults: seed %d (%s; replay: go test ./faults -run TestFaults -args -faults.seed=%d", seed, mode, seed)
	if *longFlag {
		fmt.Fprint(os.Stderr, " -faults.long")
	}
	fmt.Fprintln(os.Stderr, ")")
	t.Logf("seed %d (%s)", seed, mode)
	bin := buildGateway(t)
	all := &tally{faults: map[string]int{}}
	start := time.Now()

	scenarios := []struct {
		name string
		run  func(e *env)
	}{
		{"kill/embedded", func(e *env) { e.killLoop(sz.kills) }},
		{"kill/postgres", func(e *env) { e.killLoop(sz.kills) }},
		{"two-gateways/postgres", func(e *env) { e.twoGateways(sz) }},
		{"database/postgres", func(e *env) { e.netFaults("database", e.pgProxy, sz.netRounds, sz.longHang) }},
		{"redis/postgres", func(e *env) { e.netFaults("redis", e.redisProxy, sz.netRounds, false) }},
		{"smsc/embedded", func(e *env) { e.smscFaults(sz.smscRounds) }},
		{"bank/postgres", func(e *env) { e.bankFaults(sz.bankRounds, sz.cards) }},
		{"ocs/embedded", func(e *env) { e.ocsFaults(sz.ocsRounds) }},
	}
	// The long run goes one scenario at a time (clean figures); the short
	// one runs them all at once (t.Run from several goroutines, whatever
	// -parallel says): most of a scenario is waiting for the leases a
	// killed gateway held to end (a minute).
	var wg sync.WaitGroup
	for i, sc := range scenarios {
		if *onlyFlag != "" && !strings.Contains(sc.name, *onlyFlag) {
			continue
		}
		run := func() bool {
			return t.Run(sc.name, func(t *testing.T) {
				e := newEnv(t, bin, strings.HasSuffix(sc.name, "/postgres"), rand.New(rand.NewSource(seed+int64(i))), sz, all)
				began := time.Now()
				sc.run(e)
				e.finish(sc.name, time.Since(began))
			})
		}
		if *longFlag {
			if !run() {
				break // the failed scenario's store and logs are in its messages; stop here
			}
			continue
		}
		wg.Add(1)
		go func() { defer wg.Done(); run() }()
	}
	wg.Wait()

	all.mu.Lock()
	defer all.mu.Unlock()
	kinds := make([]string, 0, len(all.faults))
	total := 0
	for k, n := range all.faults {
		kinds = append(kinds, fmt.Sprintf("%s %d", k, n))
		total += n
	}
	sort.Strings(kinds)
	summary := []string{
		fmt.Sprintf("faults: seed %d, %s run, %.0fs", seed, mode, time.Since(start).Seconds()),
		fmt.Sprintf("faults: %d faults injected: %s", total, strings.Join(kinds, ", ")),
		fmt.Sprintf("faults: traffic: %d MOs acknowledged, %d payments charged, %d MTs received, %d duplicate receipts (resent around a fault)", all.mos, all.paid, all.mts, all.dups),
	}
	summary = append(summary, all.rows...)
	for _, l := range summary {
		fmt.Fprintln(os.Stderr, l)
	}
}

// buildGateway builds cmd/carrierbill into a temp dir and returns the
// binary's path. Without -faults.race it is a plain build, whose
// dependencies CI's go vet has already compiled: only the link is left.
func buildGateway(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "carrierbill")
	args := []string{"build", "-o", bin}
	if *raceFlag {
		args = append(args, "-race")
	}
	cmd := exec.Command("go", append(args, "./cmd/carrierbill")...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/carrierbill: %v\n%s", err, out)
	}
	return bin
}

// env is one scenario's world: a store, the simulator, the gateways.
type env struct {
	t     *testing.T
	bin   string
	rng   *rand.Rand // the scenario goroutine's only
	sz    size
	all   *tally
	dir   string
	sim   *smsc.Server
	mts   *mtLog
	pg    bool
	pgURL string // direct, for the checks; "" embedded
	redis struct{ url, prefix string }

	pgProxy, redisProxy *faultproxy.Proxy

	// The bank scenario (bank_test.go): the bank, its gateway, the card
	// holders by number; extraYAML and extraEnv go to every gateway.
	bank      *banksim.Bank
	bankSrv   *httpbanktest.Server
	adminAddr string
	cards     map[string]cardHolder
	extraYAML string
	extraEnv  []string
	ocs       *ocssim.Server // the OCS scenario (ocs_test.go)

	gws     map[string]*gateway // by system_id
	traffic *traffic
	faults  map[string]int
	kills   int
}

func newEnv(t *testing.T, bin string, pg bool, rng *rand.Rand, sz size, all *tally) *env {
	e := &env{t: t, bin: bin, rng: rng, sz: sz, all: all, dir: t.TempDir(), pg: pg, mts: newMTLog(),
		gws: map[string]*gateway{}, faults: map[string]int{}}
	e.sim = smsc.New(smsc.Config{AutoReceipt: true, OnMT: e.mts.add, NoRecord: true,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := e.sim.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.sim.Close() })
	if pg {
		e.pgURL = dbtest.Postgres(t)
		u, err := url.Parse(e.pgURL)
		if err != nil {
			t.Fatal(err)
		}
		e.pgProxy = faultproxy.Start(t, u.Host)
		rdb, prefix := dbtest.Redis(t)
		e.redisProxy = faultproxy.Start(t, rdb.Options().Addr)
		e.redis.url, e.redis.prefix = "redis://"+e.redisProxy.Addr()+"/"+fmt.Sprint(rdb.Options().DB), prefix
	}
	e.traffic = newTraffic(e, rng.Int63())
	return e
}

// config writes the configuration of the gateway that binds as systemID.
func (e *env) config(systemID string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "data_dir: %q\n", e.dir)
	if e.pg {
		u, _ := url.Parse(e.pgURL)
		u.Host = e.pgProxy.Addr()
		fmt.Fprintf(&b, "database: {url: %q, max_conns: 8}\nredis: {url: %q, prefix: %q, timeout: 300ms}\n", u.String(), e.redis.url, e.redis.prefix)
	}
	fmt.Fprintf(&b, `accounts: {auto_open: true, credit_limit: "100.00"}
orders: {recover_after: 12s}
frequency: {min_interval: 0s}
verify: {mo_age: 2m, pending_age: 1m}
log: {level: info}
smsc:
  binds:
    - {name: sim, addr: %q, system_id: %q, password: sim, store_timeout: 2s, enquire_link: 2s, enquire_link_timeout: 2s}
merchants:
  - code: "8001"
    name: 星辰游戏
    products:
      - {keyword: GOLD, name: 金币, amount: "10.00"}
      - {keyword: BIG, name: 大礼包, amount: "30.00"}
`, e.sim.Addr(), systemID)
	b.WriteString(e.extraYAML)
	path := filepath.Join(e.dir, systemID+".yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		e.t.Fatal(err)
	}
	return path
}

// gateway is one `carrierbill serve` process.
type gateway struct {
	cmd    *exec.Cmd
	exited chan struct{}
	log    *os.File
}

// start starts a gateway binding as systemID and waits for its bind.
func (e *env) start(systemID string) *gateway {
	e.t.Helper()
	cfg := e.config(systemID)
	before := e.sim.Binds()
	logf, err := os.OpenFile(filepath.Join(e.dir, systemID+".log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		e.t.Fatal(err)
	}
	cmd := exec.Command(e.bin, "serve", "-config", cfg)
	cmd.Env = e.childEnv()
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	g := &gateway{cmd: cmd, exited: make(chan struct{}), log: logf}
	go func() { _ = cmd.Wait(); close(g.exited) }()
	e.t.Cleanup(func() { g.kill() })
	e.gws[systemID] = g
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	bound := make(chan error, 1)
	go func() { bound <- e.sim.WaitBound(ctx, before+1) }()
	select {
	case err := <-bound:
		if err != nil {
			e.t.Fatalf("gateway %s never bound: %v\n%s", systemID, err, e.logTail(systemID))
		}
	case <-g.exited:
		cancel()
		e.t.Fatalf("gateway %s exited at start:\n%s", systemID, e.logTail(systemID))
	}
	return g
}

func (e *env) logTail(systemID string) string {
	b, _ := os.ReadFile(filepath.Join(e.dir, systemID+".log"))
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// kill sends SIGKILL and waits for the process to be gone.
func (g *gateway) kill() {
	select {
	case <-g.exited:
	default:
		_ = g.cmd.Process.Signal(syscall.SIGKILL)
		<-g.exited
	}
	g.log.Close()
}

// stop asks for a graceful stop (SIGTERM), SIGKILL after 30s.
func (g *gateway) stop() {
	_ = g.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-g.exited:
	case <-time.After(30 * time.Second):
	}
	g.kill()
}

// pause waits a random moment in [lo, hi).
func (e *env) pause(lo, hi time.Duration) {
	d := lo + time.Duration(e.rng.Int63n(int64(hi-lo)))
	t := time.NewTimer(d)
	<-t.C
}

func (e *env) fault(kind string) {
	e.faults[kind]++
	e.all.fault(kind)
}

// killLoop: traffic flows while the gateway is killed n times at random
// moments and started again at once.
func (e *env) killLoop(n int) {
	e.start("gw1")
	e.traffic.start([]string{"gw1"}, false)
	for range n {
		e.pause(100*time.Millisecond, 2500*time.Millisecond)
		e.gws["gw1"].kill()
		e.fault("kill -9")
		e.start("gw1")
	}
	e.pause(time.Second, 2*time.Second)
}

// twoGateways: two processes on one database and Redis, MOs of one number
// delivered to either, every confirmation to both at once; one of them is
// killed now and then.
func (e *env) twoGateways(sz size) {
	e.start("gw1")
	e.start("gw2")
	e.traffic.start([]string{"gw1", "gw2"}, true)
	deadline := time.Now().Add(sz.twoGWFor)
	per := sz.twoGWFor / time.Duration(sz.twoGWKills+1)
	for range sz.twoGWKills {
		e.pause(per/2, per)
		victim := []string{"gw1", "gw2"}[e.rng.Intn(2)]
		e.gws[victim].kill()
		e.fault("kill -9")
		e.start(victim)
	}
	if d := time.Until(deadline); d > 0 {
		e.pause(d, d+time.Millisecond)
	}
}

// netFaults cuts and holds the connections to a server (PostgreSQL or
// Redis) through its proxy, rounds times, under traffic.
func (e *env) netFaults(what string, p *faultproxy.Proxy, rounds int, longHang bool) {
	e.start("gw1")
	e.traffic.start([]string{"gw1"}, false)
	for i := range rounds {
		e.pause(500*time.Millisecond, 2*time.Second)
		switch i % 3 {
		case 0:
			p.CutAll()
			e.fault(what + " cut")
		case 1:
			p.Block()
			e.fault(what + " down")
			e.pause(time.Second, 3*time.Second)
			p.Unblock()
		case 2:
			p.Hang()
			e.fault(what + " held")
			e.pause(time.Second, 4*time.Second)
			p.Unblock()
		}
	}
	if longHang {
		// Past the charger's 10s timeout: a debit may have committed while
		// its caller gave up; the recovery sweep must settle it once.
		p.Hang()
		e.fault(what + " held 12s")
		e.pause(12*time.Second, 12*time.Second+time.Millisecond)
		p.Unblock()
	}
	e.pause(time.Second, 2*time.Second)
}

// smscFaults: the SMSC misbehaves in every way the simulator knows.
func (e *env) smscFaults(rounds int) {
	e.start("gw1")
	e.traffic.start([]string{"gw1"}, false)
	for i := range rounds {
		e.pause(500*time.Millisecond, 2*time.Second)
		switch i % 6 {
		case 0:
			e.sim.DropLinks()
			e.fault("smsc link dropped")
		case 1:
			e.sim.Hold()
			e.fault("smsc submit_sm unanswered")
			e.pause(time.Second, 4*time.Second)
			e.sim.Release()
		case 2:
			e.sim.Throttle(5 + e.rng.Intn(25))
			e.fault("smsc throttling")
		case 3:
			e.sim.LoseAcks(3 + e.rng.Intn(8))
			e.fault("smsc deliver_sm ack lost, redelivered")
		case 4:
			e.sim.ReuseSeqs(2 + e.rng.Intn(4))
			e.fault("smsc sequence number reused")
		case 5:
			// A deliver_sm under the sequence number of a submit_sm the
			// gateway is still waiting for.
			e.sim.Hold()
			if e.waitHeld(5 * time.Second) {
				phone := e.traffic.phone(e.rng.Intn(e.sz.phones))
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				st, err := e.sim.InjectMO(ctx, smsc.MO{From: phone, To: "106580088001", Text: "CX", ReuseSeq: true})
				cancel()
				if err == nil && len(st) == 1 && st[0] == 0 {
					e.traffic.acked(phone, "CX")
				}
				e.fault("smsc deliver_sm reusing a pending submit_sm's sequence number")
			}
			e.sim.Release()
		}
	}
	e.pause(time.Second, 2*time.Second)
}

// waitHeld waits until the simulator holds a submit_sm.
func (e *env) waitHeld(d time.Duration) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if len(e.sim.HeldSeqs("")) > 0 {
			return true
		}
		e.pause(20*time.Millisecond, 21*time.Millisecond)
	}
	return false
}

// finish stops the traffic, lets the gateways finish, checks everything
// and stops them.
func (e *env) finish(name string, took time.Duration) {
	t := e.t
	e.traffic.stop()
	db := e.openDB()
	defer db.close()
	q0 := time.Now()
	if err := e.quiesce(db); err != nil {
		t.Fatalf("the gateway did not finish its work: %v\n%s", err, e.logTail("gw1"))
	}
	t.Logf("quiet after %.1fs", time.Since(q0).Seconds())
	mos, paid, dups := e.check(db)
	e.checkBank(db)
	e.checkOCS(db)
	verify := exec.Command(e.bin, "verify", "-config", e.config("gw1"))
	verify.Env = e.childEnv()
	out, err := verify.CombinedOutput()
	if err != nil {
		t.Errorf("carrierbill verify after %s: %v\n%s", name, err, out)
	}
	for _, g := range e.gws {
		g.stop()
	}
	kinds := make([]string, 0, len(e.faults))
	n := 0
	for k, c := range e.faults {
		kinds = append(kinds, fmt.Sprintf("%s %d", k, c))
		n += c
	}
	sort.Strings(kinds)
	row := fmt.Sprintf("faults: %-22s %4d faults (%s); %5d MOs acked, %4d payments, %5d MTs, %d duplicate receipts; verify clean: %v; %.0fs",
		name, n, strings.Join(kinds, ", "), mos, paid, e.mts.count(), dups, err == nil && !t.Failed(), took.Seconds())
	t.Log(row)
	e.all.mu.Lock()
	e.all.rows = append(e.all.rows, row)
	e.all.mos += mos
	e.all.paid += paid
	e.all.mts += e.mts.count()
	e.all.dups += dups
	e.all.mu.Unlock()
}

// store is the scenario's store as the checks read it: PostgreSQL
// directly (not through the proxy), or the embedded file read-only.
type store struct {
	rows    func(ctx context.Context, query string, args ...any) (rowsIter, error)
	closeFn func()
}

type rowsIter interface {
	Next() bool
	Scan(...any) error
	Err() error
	Close()
}

type sqlRows struct{ *sql.Rows }

func (r sqlRows) Close() { r.Rows.Close() }

func (e *env) openDB() store {
	if e.pg {
		pool, err := pgxpool.New(context.Background(), e.pgURL)
		if err != nil {
			e.t.Fatal(err)
		}
		return store{
			rows: func(ctx context.Context, query string, args ...any) (rowsIter, error) {
				return pool.Query(ctx, query, args...)
			},
			closeFn: pool.Close,
		}
	}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(e.dir, "carrierbill.db")+"?_pragma=query_only(ON)&_pragma=busy_timeout(5000)")
	if err != nil {
		e.t.Fatal(err)
	}
	return store{
		rows: func(ctx context.Context, query string, args ...any) (rowsIter, error) {
			r, err := db.QueryContext(ctx, toSQLite(query), args...)
			if err != nil {
				return nil, err
			}
			return sqlRows{r}, nil
		},
		closeFn: func() { db.Close() },
	}
}

var pgParam = regexp.MustCompile(`\$([0-9]+)`)

func toSQLite(q string) string { return pgParam.ReplaceAllString(q, "?$1") }

// ints runs a query returning one row of n integers.
func (s store) ints(n int, query string, args ...any) ([]int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := s.rows(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	if !r.Next() {
		return nil, fmt.Errorf("no row: %v", r.Err())
	}
	v := make([]int64, n)
	ptrs := make([]any, n)
	for i := range v {
		ptrs[i] = &v[i]
	}
	if err := r.Scan(ptrs...); err != nil {
		return nil, err
	}
	return v, r.Err()
}

func (s store) close() { s.closeFn() }

// quiesce waits until every MO is processed, no charge is pending, no
// order is charging and every MT is sent.
func (e *env) quiesce(db store) error {
	deadline := time.Now().Add(e.sz.quietTimeout)
	var last string
	var prev []int64
	for time.Now().Before(deadline) {
		v, err := db.ints(4, `SELECT
			(SELECT count(*) FROM mo_inbox WHERE processed_at IS NULL),
			(SELECT count(*) FROM charges WHERE status = 'pending'),
			(SELECT count(*) FROM orders WHERE status = 'charging'),
			(SELECT count(*) FROM outbox WHERE sent_at IS NULL)`)
		if err == nil && v[0]+v[1]+v[2]+v[3] == 0 {
			return nil
		}
		if testing.Verbose() && fmt.Sprint(v) != fmt.Sprint(prev) {
			e.t.Logf("%s left: %v (unprocessed MOs, pending charges, charging orders, unsent MTs)", time.Now().Format("15:04:05.0"), v)
			prev = v
		}
		last = fmt.Sprintf("left: %v (unprocessed MOs, pending charges, charging orders, unsent MTs), err %v", v, err)
		e.pause(200*time.Millisecond, 201*time.Millisecond)
	}
	return fmt.Errorf("after %s: %s", e.sz.quietTimeout, last)
}

// childEnv is the environment of the gateways and tools the test runs: the
// configuration file decides, not the caller's environment (an exported
// DATABASE_URL would point them all at another database), plus the
// scenario's own variables.
func (e *env) childEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); k != "DATABASE_URL" && k != "REDIS_URL" && !strings.HasPrefix(k, "CARRIERBILL_") {
			out = append(out, kv)
		}
	}
	return append(out, e.extraEnv...)
}
