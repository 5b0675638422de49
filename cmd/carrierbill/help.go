package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
)

// Help. Every command and every verb answers -h, --help (and a command with
// verbs also a bare "help") with its own usage on stderr and exit status 0:
//
//	carrierbill -h                  the commands
//	carrierbill card -h             card's verbs
//	carrierbill card bind -h        bind's synopsis, what it does, its flags only
//
// A command with verbs registers them with registerVerbs; each verb builds its
// own flag set with newVerbFlagSet, so its help lists only its flags.
// TestEveryCommandHasHelp walks commands and verbsOf.

// verb is one verb of a command (card bind) or of a verb (merchant key issue).
type verb struct {
	name     string
	synopsis string // what follows "carrierbill <command> <verb>": flags and arguments
	summary  string // one line: what it does
	run      func(ctx context.Context, args []string, stdout, stderr io.Writer) error
	verbs    []verb // sub-verbs instead of run (merchant key issue|list|revoke)
}

// verbsOf holds the verbs of each command registered with registerVerbs.
var verbsOf = map[string][]verb{}

// registerVerbs registers a command made of verbs: summary is its line in
// the command list, about what its -h says before the verbs.
func registerVerbs(name, summary, about string, verbs []verb) {
	verbsOf[name] = verbs
	register(command{name: name, summary: summary, run: func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		return runVerbs(ctx, "carrierbill "+name, about, verbs, args, stdout, stderr)
	}})
}

func isHelpArg(s string) bool {
	return s == "-h" || s == "-help" || s == "--help" || s == "help"
}

// runVerbs runs the verb args[0] of path with the rest of args.
func runVerbs(ctx context.Context, path, summary string, verbs []verb, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		verbUsage(stderr, path, summary, verbs)
		return fmt.Errorf("%w: %s needs one of: %s", errUsage, path, verbNames(verbs))
	}
	if isHelpArg(args[0]) {
		verbUsage(stderr, path, summary, verbs)
		return flag.ErrHelp
	}
	for _, v := range verbs {
		if v.name != args[0] {
			continue
		}
		if v.verbs != nil {
			return runVerbs(ctx, path+" "+v.name, v.summary, v.verbs, args[1:], stdout, stderr)
		}
		return v.run(ctx, args[1:], stdout, stderr)
	}
	return fmt.Errorf("%w: unknown verb %q of %s (%s; %s -h)", errUsage, args[0], path, verbNames(verbs), path)
}

func verbNames(verbs []verb) string {
	names := make([]string, len(verbs))
	for i, v := range verbs {
		names[i] = v.name
	}
	return strings.Join(names, ", ")
}

// verbUsage lists the verbs of path.
func verbUsage(w io.Writer, path, summary string, verbs []verb) {
	fmt.Fprintf(w, "Usage: %s <verb> [flags]\n\n%s\n\nVerbs:\n", path, summary)
	width := 8
	for _, v := range verbs {
		width = max(width, len(v.name))
	}
	for _, v := range verbs {
		fmt.Fprintf(w, "  %-*s %s\n", width, v.name, v.summary)
	}
	fmt.Fprintf(w, "\nRun '%s <verb> -h' for a verb's flags.\n", path)
}

// newVerbFlagSet returns the flag set of one verb: its -h prints the
// synopsis, what the verb does, and the flags defined on this set only.
func newVerbFlagSet(path, synopsis, summary string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(path, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { printUsage(fs, path+" "+synopsis, summary, "") }
	return fs
}

// withUsage gives a command's flag set a usage with a synopsis, what the
// command does and, after the flags, more text (formats, examples).
func withUsage(fs *flag.FlagSet, synopsis, summary, more string) *flag.FlagSet {
	fs.Usage = func() { printUsage(fs, synopsis, summary, more) }
	return fs
}

func printUsage(fs *flag.FlagSet, synopsis, summary, more string) {
	w := fs.Output()
	fmt.Fprintf(w, "Usage: %s\n", strings.TrimSpace(synopsis))
	if summary != "" {
		fmt.Fprintf(w, "\n%s\n", summary)
	}
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	if n > 0 {
		fmt.Fprintln(w, "\nFlags:")
		fs.PrintDefaults()
	}
	if more != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimRight(more, "\n"))
	}
}
