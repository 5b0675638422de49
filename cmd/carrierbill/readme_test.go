package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// readmeQuickStart returns the shell blocks (```sh) of the README's "Quick
// start" section, in order.
func readmeQuickStart(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	start := strings.Index(text, "\n## Quick start")
	if start < 0 {
		t.Fatal("README.md has no \"## Quick start\" section")
	}
	section := text[start+1:]
	if end := strings.Index(section, "\n## "); end >= 0 {
		section = section[:end]
	}
	var blocks []string
	for {
		i := strings.Index(section, "\n```sh\n")
		if i < 0 {
			break
		}
		section = section[i+len("\n```sh\n"):]
		j := strings.Index(section, "\n```\n")
		if j < 0 {
			t.Fatal("README.md: an unterminated ```sh block in the quick start")
		}
		blocks = append(blocks, section[:j+1])
		section = section[j+1:]
	}
	if len(blocks) == 0 {
		t.Fatal("README.md's quick start has no ```sh blocks")
	}
	return blocks
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestReadmeQuickStart runs the README's quick start as written, in a fresh
// directory, against the binary built from this tree: the demo, the
// configuration, serve with the built-in simulator, a purchase and its
// confirmation over HTTP, the receipt, the statement preview, a merchant key
// and a download, the help. So an edit to the README or to the binary that
// breaks the quick start fails here (issue 20, done when). The only changes:
// the build line uses the binary built once for the test, and the fixed
// ports become free ones (the SMPP port of serve's simulator included).
func TestReadmeQuickStart(t *testing.T) {
	t.Parallel()
	for _, tool := range []string{"bash", "curl"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("the README quick start needs %s: %v", tool, err)
			}
			t.Skipf("SKIP: the README quick start needs %s", tool)
		}
	}
	blocks := readmeQuickStart(t)
	const buildLine = "go build -o carrierbill ./cmd/carrierbill\n"
	if !strings.HasPrefix(blocks[0], buildLine) {
		t.Fatalf("the quick start does not start by building with %q:\n%s", buildLine, blocks[0])
	}

	dir := t.TempDir()
	bin := filepath.Join(t.TempDir(), "carrierbill")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	script := strings.Join(blocks, "")
	script = strings.Replace(script, buildLine, "cp \"$CARRIERBILL_TEST_BIN\" carrierbill\n", 1)
	simHTTP, downloads := freePort(t), freePort(t)
	script = strings.ReplaceAll(script, "127.0.0.1:2776", simHTTP)
	script = strings.ReplaceAll(script, "127.0.0.1:8081", downloads)
	script = strings.ReplaceAll(script, "./carrierbill serve ", "./carrierbill serve -simulator-addr 127.0.0.1:0 -simulator-http "+simHTTP+" ")

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CARRIERBILL_TEST_BIN="+bin)
	for _, k := range []string{"DATABASE_URL", "REDIS_URL", "CARRIERBILL_SMSC_ADDR", "CARRIERBILL_SMSC_SYSTEM_ID", "CARRIERBILL_SMSC_PASSWORD", "CARRIERBILL_CONFIG"} {
		cmd.Env = append(cmd.Env, k+"=") // a newcomer's shell: none of these
	}
	// Its own process group, so that a failing run takes serve with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // serve, if the script left it
	}
	if err != nil {
		t.Fatalf("the README quick start failed: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), errb.String())
	}
	stdout := out.String() + errb.String() // help is on stderr
	for _, want := range []string{
		`{"statuses":[0]}`,                     // the MO was stored
		"验证码",                                  // the prompt
		"支付成功",                                 // the receipt
		"summary,",                             // the statement preview
		"net",                                  // settle's totals
		`"statement-8001-`,                     // the merchant's file list
		"time,transaction_id,",                 // the downloaded statement
		"Usage: carrierbill card bind -msisdn", // the help
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("the quick start's output lacks %q:\n%s", want, stdout)
		}
	}
	if strings.Contains(stdout, "usage: ") {
		t.Errorf("a command of the quick start was misused:\n%s", stdout)
	}
}
