// Command carrierbill is the carrier-billing gateway: one binary, many
// subcommands (serve, migrate, smsc, replay, settle, audit, demo, ...).
//
// main only wires: each subcommand lives in its own file, registers itself
// with register in an init function, parses its own flags and builds its
// dependencies from configuration. Business logic lives in the packages:
// main must never decide a payment, render a subscriber text or hold SQL.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

// command is one subcommand.
type command struct {
	name    string
	summary string // one line for the usage listing
	// run executes the subcommand. ctx is cancelled on SIGINT/SIGTERM.
	run func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

var commands = map[string]command{}

func register(c command) {
	if _, dup := commands[c.name]; dup {
		panic("carrierbill: command registered twice: " + c.name)
	}
	commands[c.name] = c
}

// errUsage marks an error the user fixes by changing the command line; main
// exits 2 for it.
var errUsage = errors.New("usage")

// Exit codes: 0 done, 1 failed, 2 usage; a command that completed but found
// something an operator must act on exits with its own code (a *findings).
const (
	exitFailed      = 1
	exitUsage       = 2
	exitDiscrepancy = 3 // audit: the month does not match the carrier's file
)

// findings is the error of a command that ran to the end and found
// something cron should alert on; main exits with code.
type findings struct {
	code int
	msg  string
}

func (f *findings) Error() string { return f.msg }

func main() {
	os.Exit(runMain(os.Args[1:], os.Stdout, os.Stderr))
}

// runMain is main with its exit code: the command's context ends on SIGINT
// or SIGTERM (a graceful stop). SIGHUP is no stop: serve logs it and keeps
// serving (see serve.go).
func runMain(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return run(ctx, args, stdout, stderr)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "carrierbill: unknown command %q\n\n", args[0])
		usage(stderr)
		return 2
	}
	err := c.run(ctx, args[1:], stdout, stderr)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "carrierbill %s: %v\n", c.name, err)
		return exitUsage
	}
	fmt.Fprintf(stderr, "carrierbill %s: %v\n", c.name, err)
	if f := (*findings)(nil); errors.As(err, &f) {
		return f.code
	}
	return exitFailed
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "carrierbill — SMS/USSD carrier-billing gateway")
	fmt.Fprintln(w, "\nUsage: carrierbill <command> [flags]\n\nCommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'carrierbill <command> -h' for a command's flags.")
	fmt.Fprintln(w, "Exit codes: 0 done, 1 failed, 2 wrong command line, 3 audit found discrepancies or verify found violations.")
}

// newFlagSet returns a flag set for a subcommand that reports errors instead
// of exiting, writing its usage to stderr.
func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("carrierbill "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	// -h: the synopsis and what the command does, then its flags (help.go).
	return withUsage(fs, "carrierbill "+name+" [flags]", commands[name].summary, "")
}
