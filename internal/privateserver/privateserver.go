// Package privateserver starts a private redis-server or PostgreSQL 15
// cluster for one test, on a free port in a temporary directory, so a fault
// test can really kill a server and start it again.
//
// Tests use it when a proxy (internal/faultproxy) is not enough: a Redis
// that loses its data on restart, a PostgreSQL that crashes (pg_ctl stop
// -m immediate) and recovers, a Redis replica that answers READONLY. It is
// for tests only and must never be imported by production code, and it must
// never touch the shared servers on 5432 and 6379: every server it starts is
// its own, on its own port, and is stopped and deleted when the test ends.
//
// When the binaries are missing the test is skipped with a visible message,
// or fails under CI=true (dbtest.Unavailable).
//
// Example, "Redis stopped → service busy" with a real kill:
//
//	srv := privateserver.StartRedis(t)
//	lim, err := redis.Open(srv.URL(), redis.Options{})
//	...
//	srv.Stop()   // SIGKILL: connections drop, new dials are refused
//	_, err = lim.Allow(ctx, rule, key) // must be an error
//	srv.Start()  // same port, empty data set (nothing is saved)
//
// And a PostgreSQL crash and recovery:
//
//	pg := privateserver.StartPostgres(t) // initdb -A trust --no-sync, fsync=off
//	pool, err := pgxpool.New(ctx, pg.URL())
//	...
//	pg.Stop()  // pg_ctl stop -m immediate: a crash, no checkpoint
//	pg.Start() // crash recovery; committed data is still there
//
// Startup costs about a second for PostgreSQL (initdb) and a few
// milliseconds for Redis. Stop and Start must be called from the test
// goroutine (they call t.Fatal on failure).
package privateserver

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/carrierbill/carrierbill/internal/dbtest"
)

// RedisBinary is the redis-server StartRedis runs.
const RedisBinary = "/usr/bin/redis-server"

// PostgresBinDir holds initdb and pg_ctl for StartPostgres.
const PostgresBinDir = "/usr/lib/postgresql/15/bin"

const startTimeout = 30 * time.Second

// freePort asks the kernel for a free TCP port on 127.0.0.1. The port is
// free when freePort returns; a server started on it right after may still
// lose a race with another process, so callers retry on "address in use".
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// waitFor polls ready every 10 ms until it returns nil or the deadline
// passes; it returns the last error.
func waitFor(d time.Duration, ready func() error) error {
	deadline := time.Now().Add(d)
	for {
		err := ready()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// ---------------------------------------------------------------- Redis

// Redis is a private redis-server. It keeps nothing on disk (--save "",
// --appendonly no), so a restart starts empty, like a failover to an empty
// replica.
type Redis struct {
	t    testing.TB
	dir  string
	port int
	args []string

	mu  sync.Mutex
	cmd *exec.Cmd
	// exited is closed when cmd's process has been waited for.
	exited chan struct{}
}

// StartRedis starts a redis-server on a free port in a temporary directory
// and stops it when the test ends. extraArgs are appended to the command
// line (for example "--replicaof", "127.0.0.1", "6380").
func StartRedis(t testing.TB, extraArgs ...string) *Redis {
	t.Helper()
	if _, err := os.Stat(RedisBinary); err != nil {
		dbtest.Unavailable(t, "redis-server binary", err)
	}
	r := &Redis{t: t, dir: t.TempDir(), args: extraArgs}
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		if r.port, err = freePort(); err != nil {
			break
		}
		if err = r.start(); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("starting private redis-server: %v", err)
	}
	t.Cleanup(func() { r.kill() })
	return r
}

// Addr is host:port of the server.
func (r *Redis) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(r.port)) }

// URL is the server's redis:// URL (database 0).
func (r *Redis) URL() string { return "redis://" + r.Addr() + "/0" }

// Port is the server's TCP port.
func (r *Redis) Port() int { return r.port }

// Stop kills the server with SIGKILL and waits for it to exit: existing
// connections drop and new dials are refused. Its data is lost.
func (r *Redis) Stop() {
	r.t.Helper()
	if err := r.kill(); err != nil {
		r.t.Fatalf("stopping private redis-server: %v", err)
	}
}

// Start starts the server again on the same port, with an empty data set.
func (r *Redis) Start() {
	r.t.Helper()
	if err := r.start(); err != nil {
		r.t.Fatalf("restarting private redis-server: %v", err)
	}
}

func (r *Redis) start() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd != nil {
		return errors.New("redis-server is already running")
	}
	logPath := filepath.Join(r.dir, "redis.log")
	args := append([]string{
		"--port", strconv.Itoa(r.port),
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "no",
		"--dir", r.dir,
		"--logfile", logPath,
		"--daemonize", "no",
	}, r.args...)
	cmd := exec.Command(RedisBinary, args...)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("running %s: %w", RedisBinary, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	err := waitFor(startTimeout, func() error {
		select {
		case <-exited:
			return errExited
		default:
		}
		return pingRedis(r.Addr())
	})
	if err != nil {
		_ = cmd.Process.Kill()
		<-exited
		return fmt.Errorf("waiting for redis-server on port %d: %w; log:\n%s", r.port, err, tail(logPath, 10))
	}
	r.cmd, r.exited = cmd, exited
	return nil
}

var errExited = errors.New("the server process exited")

func (r *Redis) kill() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd == nil {
		return nil
	}
	if err := r.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("killing redis-server: %w", err)
	}
	<-r.exited
	r.cmd, r.exited = nil, nil
	return nil
}

// pingRedis speaks just enough RESP to see that the server answers.
func pingRedis(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	buf := make([]byte, 64)
	n, err := c.Read(buf)
	if err != nil {
		return err
	}
	if !bytes.HasPrefix(buf[:n], []byte("+PONG")) {
		return fmt.Errorf("PING answered %q", buf[:n])
	}
	return nil
}

// ---------------------------------------------------------------- PostgreSQL

// Postgres is a private PostgreSQL 15 cluster, trust authentication, user
// and database "postgres", fsync off. A committed transaction survives
// Stop/Start: synchronous_commit stays on, so its WAL is written to the
// operating system before COMMIT returns, and only the server process dies.
type Postgres struct {
	t    testing.TB
	dir  string // owned by the postgres OS user when running as root
	port int

	mu      sync.Mutex
	running bool
}

// StartPostgres initializes a cluster in a fresh temporary directory, starts
// it on a free port and, when the test ends, stops it and deletes the
// directory. initdb and pg_ctl refuse to run as root, so as root they run as
// the "postgres" OS user via runuser.
func StartPostgres(t testing.TB) *Postgres {
	t.Helper()
	for _, b := range []string{"initdb", "pg_ctl", "postgres"} {
		if _, err := os.Stat(filepath.Join(PostgresBinDir, b)); err != nil {
			dbtest.Unavailable(t, "PostgreSQL 15 binaries", err)
		}
	}
	dir, err := os.MkdirTemp("", "carrierbill-pg-")
	if err != nil {
		t.Fatalf("creating the cluster directory: %v", err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if os.Geteuid() == 0 {
		if err := chownToPostgres(dir); err != nil {
			dbtest.Unavailable(t, "the postgres OS user", err)
		}
	}
	p := &Postgres{t: t, dir: dir}
	if out, err := p.run("initdb", "-D", p.dataDir(), "-A", "trust", "-U", "postgres",
		"--no-sync", "-E", "UTF8", "--locale=C"); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	for attempt := 0; attempt < 3; attempt++ {
		if p.port, err = freePort(); err != nil {
			break
		}
		if err = p.start(); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("starting private PostgreSQL: %v", err)
	}
	t.Cleanup(func() { _ = p.stop() })
	return p
}

func chownToPostgres(dir string) error {
	u, err := user.Lookup("postgres")
	if err != nil {
		return fmt.Errorf("looking up the postgres user: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(dir, uid, gid); err != nil {
		return fmt.Errorf("chowning %s to postgres: %w", dir, err)
	}
	return nil
}

// Addr is host:port of the server.
func (p *Postgres) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(p.port)) }

// Port is the server's TCP port.
func (p *Postgres) Port() int { return p.port }

// URL is a pgx connection string for the "postgres" database.
func (p *Postgres) URL() string {
	return "postgres://postgres@" + p.Addr() + "/postgres?sslmode=disable"
}

// Stop crashes the server (pg_ctl stop -m immediate) and waits until it is
// gone: connections drop and new dials are refused. Committed data stays.
func (p *Postgres) Stop() {
	p.t.Helper()
	if err := p.stop(); err != nil {
		p.t.Fatalf("stopping private PostgreSQL: %v", err)
	}
}

// Start starts the server again on the same port (running crash recovery
// after Stop) and waits until it accepts connections.
func (p *Postgres) Start() {
	p.t.Helper()
	if err := p.start(); err != nil {
		p.t.Fatalf("restarting private PostgreSQL: %v", err)
	}
}

func (p *Postgres) dataDir() string { return filepath.Join(p.dir, "data") }

func (p *Postgres) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.running {
		return errors.New("PostgreSQL is already running")
	}
	logPath := filepath.Join(p.dir, "server.log")
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off "+
		"-c full_page_writes=off -c max_connections=50", p.port, p.dir)
	out, err := p.run("pg_ctl", "-D", p.dataDir(), "-l", logPath, "-w",
		"-t", strconv.Itoa(int(startTimeout/time.Second)), "-o", opts, "start")
	if err != nil {
		// pg_ctl may have left a postmaster behind that failed later.
		_, _ = p.run("pg_ctl", "-D", p.dataDir(), "-m", "immediate", "-w", "stop")
		return fmt.Errorf("pg_ctl start on port %d: %w\n%s\nlog:\n%s", p.port, err, out, tail(logPath, 10))
	}
	p.running = true
	return nil
}

func (p *Postgres) stop() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.running {
		return nil
	}
	out, err := p.run("pg_ctl", "-D", p.dataDir(), "-m", "immediate", "-w", "stop")
	if err != nil {
		return fmt.Errorf("pg_ctl stop: %w\n%s", err, out)
	}
	p.running = false
	return nil
}

// run runs a PostgreSQL binary, as the postgres OS user when we are root.
func (p *Postgres) run(bin string, args ...string) ([]byte, error) {
	path := filepath.Join(PostgresBinDir, bin)
	var cmd *exec.Cmd
	if os.Geteuid() == 0 {
		cmd = exec.Command("runuser", append([]string{"-u", "postgres", "--", path}, args...)...)
	} else {
		cmd = exec.Command(path, args...)
	}
	cmd.Dir = p.dir
	return cmd.CombinedOutput()
}
