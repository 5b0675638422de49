package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/carrierbill/carrierbill/config"
)

func init() {
	register(command{
		name:    "serve",
		summary: "run the gateway: serve [-config FILE] (no file: embedded store, in-process Redis, built-in SMSC)",
		run:     runServe,
	})
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	// SIGHUP (a closed terminal, a log rotator's habit) must never stop the
	// gateway: take it before anything else, then log each one.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	fs := newFlagSet("serve", stderr)
	path := fs.String("config", os.Getenv("CARRIERBILL_CONFIG"), "configuration file (YAML); env CARRIERBILL_CONFIG")
	simAddr := fs.String("simulator-addr", "127.0.0.1:2775", "where the built-in SMSC simulator listens when no SMSC is configured")
	simHTTP := fs.String("simulator-http", "127.0.0.1:2776", "where the built-in SMSC simulator takes MOs over HTTP (POST /mo, GET /mts; see carrierbill smsc -h); empty: off")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments %v", errUsage, fs.Args())
	}
	c, err := config.Load(*path)
	if err != nil {
		return err
	}
	level := new(slog.LevelVar)
	log := NewLeveledLogger(stderr, c.Log, c.Location(), level)
	hctx, hstop := context.WithCancel(ctx)
	defer hstop()
	go logHangups(hctx, hup, log, *path)
	o := GatewayOptions{SimulatorAddr: *simAddr, SimulatorHTTP: *simHTTP, LogLevel: level}
	g, err := OpenGateway(ctx, c, log, o)
	if err != nil {
		return err
	}
	defer g.Close()
	printSimulator(stdout, g)
	return g.Run(ctx, o)
}

// logHangups logs every SIGHUP until ctx ends. The log goes to stderr, so
// there is nothing to reopen, and texts, merchants and limits are read at
// start only; each SIGHUP re-reads the configuration file at path and says
// whether it still loads, so a mistake shows before the next restart.
func logHangups(ctx context.Context, hup <-chan os.Signal, log *slog.Logger, path string) {
	for {
		select {
		case <-hup:
			if _, err := config.Load(path); err != nil {
				log.Warn("SIGHUP received: ignored, still serving; the configuration file no longer loads: fix it before the next restart", "err", err)
				continue
			}
			log.Info("SIGHUP received: ignored, still serving (the log is stderr, nothing to reopen; texts, merchants and limits are read at start: a change needs a restart, SIGTERM then start again; the configuration file loads)")
		case <-ctx.Done():
			return
		}
	}
}
