package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// readmeBlocks returns the shell blocks (```sh) of the README section that
// starts with heading, in order.
func readmeBlocks(t *testing.T, heading string) []string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	start := strings.Index(text, "\n"+heading)
	if start < 0 {
		t.Fatalf("README.md has no %q section", heading)
	}
	section := text[start+1:]
	if end := strings.Index(section[len(heading):], "\n## "); end >= 0 {
		section = section[:len(heading)+end]
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
			t.Fatal("README.md: an unterminated ```sh block")
		}
		blocks = append(blocks, section[:j+1])
		section = section[j+1:]
	}
	if len(blocks) == 0 {
		t.Fatalf("README.md's %q has no ```sh blocks", heading)
	}
	return blocks
}

// TestReadmeMerchantAPI runs the README's merchant API section as written,
// in a fresh directory, against the binary built from this tree: serve with
// the API, a key, prepare, the prompt through the simulator, validate, the
// payment, partial and total refunds, a one-step payment cancelled, the
// listing. The only changes: the build line uses the binary built once for
// the test, and the fixed ports become free ones.
func TestReadmeMerchantAPI(t *testing.T) {
	t.Parallel()
	for _, tool := range []string{"bash", "curl"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("the README merchant API section needs %s: %v", tool, err)
			}
			t.Skipf("SKIP: the README merchant API section needs %s", tool)
		}
	}
	blocks := readmeBlocks(t, "## Merchant API")
	const buildLine = "go build -o carrierbill ./cmd/carrierbill\n"
	if !strings.HasPrefix(blocks[0], buildLine) {
		t.Fatalf("the merchant API section does not start by building with %q:\n%s", buildLine, blocks[0])
	}
	dir := t.TempDir()
	bin := filepath.Join(t.TempDir(), "carrierbill")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	script := strings.Join(blocks, "")
	script = strings.Replace(script, buildLine, "cp \"$CARRIERBILL_TEST_BIN\" carrierbill\n", 1)
	simHTTP, api := freePort(t), freePort(t)
	script = strings.ReplaceAll(script, "127.0.0.1:2776", simHTTP)
	script = strings.ReplaceAll(script, "127.0.0.1:8090", api)
	script = strings.ReplaceAll(script, "./carrierbill serve ", "./carrierbill serve -simulator-addr 127.0.0.1:0 -simulator-http "+simHTTP+" ")

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CARRIERBILL_TEST_BIN="+bin)
	for _, k := range []string{"DATABASE_URL", "REDIS_URL", "CARRIERBILL_SMSC_ADDR", "CARRIERBILL_SMSC_SYSTEM_ID", "CARRIERBILL_SMSC_PASSWORD", "CARRIERBILL_CONFIG", envNotifyKey} {
		cmd.Env = append(cmd.Env, k+"=")
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	if err != nil {
		t.Fatalf("the README merchant API section failed: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), errb.String())
	}
	stdout := out.String()
	for _, want := range []string{
		`"paymentStatus":"pending_validation"`, // prepared
		"\n204\n",                              // validated
		`"paymentStatus":"succeeded"`,          // the payment
		`"refundStatus":"succeeded"`,           // the refunds
		`"amount":10`,                          // what was left after the partial refund
		`"type":"total"`,                       // the listing of refunds
		`"paymentStatus":"processing"`,         // the one-step payment
		"\n202\n",                              // cancelled
		"X-Total-Count: 2",                     // the listing of payments
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("the merchant API section's output lacks %q:\n%s", want, stdout)
		}
	}
}
