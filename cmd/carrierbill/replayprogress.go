package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
)

// Offline replay's progress: a bar on stderr, drawn from the bytes of the
// trace the reader has consumed (the file's size is the total; standard
// input has none, so it shows bytes and a rate). stdout keeps only the
// events. The bar is on when stderr is a terminal (--progress auto) and can
// be forced on or off.

// progressWanted says whether --progress mode asks for a bar on stderr.
func progressWanted(mode string, stderr io.Writer) (bool, error) {
	switch mode {
	case "auto", "":
		return isTerminal(stderr), nil
	case "on":
		return true, nil
	case "off":
		return false, nil
	}
	return false, fmt.Errorf("%w: --progress %q: want auto, on or off", errUsage, mode)
}

// traceInput is the opened trace: what the trace reader reads, and the bar
// that counts it (nil without progress).
type traceInput struct {
	r    io.Reader
	name string
	bar  *progressbar.ProgressBar
	f    *os.File
}

// openTraceInput opens path ("-": standard input); with progress set, the
// bytes read are counted on a bar drawn to progress.
func openTraceInput(path string, progress io.Writer) (*traceInput, error) {
	in := &traceInput{name: path, r: os.Stdin}
	size := int64(-1)
	if path == "-" {
		in.name = "stdin"
	} else {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("opening trace: %w", err)
		}
		in.f, in.r = f, f
		if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
			size = fi.Size()
		}
	}
	if progress == nil {
		return in, nil
	}
	in.bar = progressbar.NewOptions64(size,
		progressbar.OptionSetWriter(progress),
		progressbar.OptionSetDescription("replaying "+in.name),
		progressbar.OptionShowBytes(true),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionShowElapsedTimeOnFinish(),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(progress) }),
	)
	in.r = io.TeeReader(in.r, in.bar)
	return in, nil
}

// clear removes the bar from the line before other text goes to stderr.
func (in *traceInput) clear() {
	if in.bar != nil {
		_ = in.bar.Clear()
	}
}

// finish draws the bar complete and ends its line, before the summary.
func (in *traceInput) finish() {
	if in.bar != nil {
		_ = in.bar.Finish()
	}
}

func (in *traceInput) Close() error {
	if in.f != nil {
		return in.f.Close()
	}
	return nil
}
