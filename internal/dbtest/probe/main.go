// Command probe tells, before the tests run, whether the PostgreSQL and
// Redis the tests use are reachable, so a machine without them sees at once
// that those tests will SKIP (and under CI=true, FAIL). `make test` runs it.
// It only reads the same environment as package dbtest and dials; it never
// changes anything on either server.
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/jackc/pgx/v5"
	goredis "github.com/redis/go-redis/v9"

	"github.com/carrierbill/carrierbill/internal/dbtest"
)

// quiet drops go-redis's own log lines (dial retries): the probe says it.
type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}

func main() {
	goredis.SetLogger(quiet{})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	var down []string
	if c, err := pgx.Connect(ctx, dbtest.PostgresURL()); err != nil {
		down = append(down, "PostgreSQL")
	} else {
		c.Close(ctx)
	}
	if opt, err := goredis.ParseURL(dbtest.RedisURL()); err != nil {
		down = append(down, "Redis")
	} else {
		c := goredis.NewClient(opt)
		if c.Ping(ctx).Err() != nil {
			down = append(down, "Redis")
		}
		c.Close()
	}
	for _, what := range down {
		if os.Getenv("CI") == "true" {
			fmt.Fprintf(os.Stderr, "probe: %s is not reachable: CI=true, so the tests that need it will FAIL\n", what)
		} else {
			fmt.Fprintf(os.Stderr, "probe: SKIP: %s is not reachable: the tests that need it will skip (run `go test -v` to see them); set CI=true to make them fail\n", what)
		}
	}
	if len(down) == 0 {
		fmt.Fprintln(os.Stderr, "probe: PostgreSQL and Redis reachable: every test runs")
	}
}
