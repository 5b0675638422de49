package main

import (
	"context"
	"fmt"
	"io"

	"github.com/carrierbill/carrierbill/config"
)

func init() {
	register(command{
		name:    "config",
		summary: "check a configuration file: config check -config FILE",
		run:     runConfig,
	})
}

func runConfig(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "check" {
		return fmt.Errorf("%w: carrierbill config check -config FILE", errUsage)
	}
	fs := newFlagSet("config check", stderr)
	path := fs.String("config", "", "configuration file (YAML)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *path == "" && fs.NArg() == 1 {
		*path = fs.Arg(0)
	}
	if *path == "" {
		return fmt.Errorf("%w: -config FILE is required", errUsage)
	}
	c, err := config.Load(*path)
	if err != nil {
		return err
	}
	store := "embedded SQLite under " + c.DataDir
	if c.Database.URL != "" {
		store = "PostgreSQL"
	}
	smsc := "built-in SMSC simulator"
	if n := len(c.SMSC.Binds); n > 0 {
		smsc = fmt.Sprintf("%d SMPP bind(s)", n)
	}
	fmt.Fprintf(stdout, "%s: OK (%d merchants, store: %s, SMSC: %s, time zone %s)\n",
		*path, len(c.Merchants), store, smsc, c.Timezone)
	return nil
}
