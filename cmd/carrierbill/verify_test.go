package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/carrierbill/carrierbill/config"
	"github.com/carrierbill/carrierbill/settlement"
	"github.com/carrierbill/carrierbill/verify"
)

// TestVerifyCommand: the demo's store is clean (exit 0, one ok line per
// check); a statement that differs from the ledger makes verify exit 3 and
// name it.
func TestVerifyCommand(t *testing.T) {
	t.Setenv("DATABASE_URL", "")
	t.Setenv("REDIS_URL", "")
	dir := t.TempDir()
	runDemoCmd(t, "--script-only", "--data-dir", dir)
	cfgPath := filepath.Join(t.TempDir(), "carrierbill.yaml")
	if err := os.WriteFile(cfgPath, append([]byte(fmt.Sprintf("data_dir: %q\n", dir)), demoCatalog...), 0o600); err != nil {
		t.Fatal(err)
	}

	code, out, errs := runCmd(t, "verify", "-config", cfgPath)
	if code != 0 {
		t.Fatalf("verify on the demo's store exited %d\n%s%s", code, out, errs)
	}
	if n, want := strings.Count(out, "\nok    "), len(verify.Checks())+1; n != want {
		t.Errorf("want %d ok lines, got %d:\n%s", want, n, out)
	}

	cfg, err := config.Parse(demoCatalog, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	cfg.DataDir = dir
	day := time.Now().In(cfg.Location()).AddDate(0, 0, -3).Format("2006-01-02")
	bad := filepath.Join(cfg.StatementsDir(), "8001", settlement.StatementName("8001", day))
	if err := os.MkdirAll(filepath.Dir(bad), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("time\nsummary,1,9.00,0.00,9.00\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, _ = runCmd(t, "verify", "-config", cfgPath)
	if code != exitDiscrepancy || !strings.Contains(out, "FAIL  statements") || !strings.Contains(out, "payments 9.00 refunds 0.00, ledger 0.00 and 0.00") {
		t.Errorf("verify with a wrong statement exited %d:\n%s", code, out)
	}
	code, out, _ = runCmd(t, "verify", "-config", cfgPath, "-json")
	if code != exitDiscrepancy || !strings.Contains(out, `"check": "statements"`) {
		t.Errorf("verify -json exited %d:\n%s", code, out)
	}
}
