package main

import (
	"context"
	"fmt"
	"io"

	"github.com/carrierbill/carrierbill/clock"
	"github.com/carrierbill/carrierbill/config"
	"github.com/carrierbill/carrierbill/stores"
)

func init() {
	register(command{
		name:    "migrate",
		summary: "apply the embedded schema migrations (PostgreSQL from DATABASE_URL, else the embedded store)",
		run:     runMigrate,
	})
}

func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("migrate", stderr)
	path := fs.String("config", "", "configuration file (YAML)")
	dbURL := fs.String("database-url", "", "PostgreSQL URL (default: $DATABASE_URL, then the configuration)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	c, err := config.Load(*path)
	if err != nil {
		return err
	}
	o := StoreOptions(c, clock.Real{}, nil)
	o.Limiter = false
	if *dbURL != "" {
		o.DatabaseURL = *dbURL
	}
	set, err := stores.Open(ctx, o) // opening migrates, and creates data_dir for the embedded store
	if err != nil {
		return err
	}
	defer set.Close()
	switch {
	case set.Embedded != nil:
		fmt.Fprintf(stdout, "%s is up to date\n", set.Description)
	case len(set.Applied) == 0:
		fmt.Fprintln(stdout, "PostgreSQL schema is up to date")
	default:
		fmt.Fprintf(stdout, "applied migrations %v\n", set.Applied)
	}
	return set.Close()
}
