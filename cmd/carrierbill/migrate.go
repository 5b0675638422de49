package main

import (
	"context"
	"fmt"
	"io"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/carrierbill/carrierbill/billing/postgres"
	"github.com/carrierbill/carrierbill/billing/sqlite"
	"github.com/carrierbill/carrierbill/config"
	"path/filepath"
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
	url := *dbURL
	if url == "" {
		url = c.Database.URL
	}
	if url == "" {
		p := filepath.Join(c.DataDir, "carrierbill.db")
		s, err := sqlite.Open(ctx, p, nil) // Open migrates
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "embedded store %s is up to date\n", p)
		return s.Close()
	}
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return fmt.Errorf("opening PostgreSQL: %w", err)
	}
	defer pool.Close()
	applied, err := postgres.Migrate(ctx, pool)
	if err != nil {
		return err
	}
	if len(applied) == 0 {
		fmt.Fprintln(stdout, "PostgreSQL schema is up to date")
		return nil
	}
	fmt.Fprintf(stdout, "applied migrations %v\n", applied)
	return nil
}
