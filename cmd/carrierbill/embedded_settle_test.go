package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/carrierbill/carrierbill/config"
	"github.com/carrierbill/carrierbill/settlement"
)

// TestEmbeddedNightlySettlement: the gateway on the embedded store runs the
// nightly settlement too. The demo leaves today's payments in a data
// directory; a gateway started there two days later (its clock moved 48h)
// catches the missed nights up: today's statements come back byte-identical
// to the demo's and the daily bills are written.
func TestEmbeddedNightlySettlement(t *testing.T) {
	dir := t.TempDir()
	runDemoCmd(t, "--script-only", "--data-dir", dir)

	cfg, err := config.Parse(demoCatalog, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	cfg.DataDir = dir
	today := time.Now().In(cfg.Location()).Format("2006-01-02")
	stmt := filepath.Join(cfg.StatementsDir(), "8001", settlement.StatementName("8001", today))
	demoStmt, err := os.ReadFile(stmt)
	if err != nil {
		t.Fatalf("the demo's statement: %v", err)
	}
	if err := os.RemoveAll(cfg.StatementsDir()); err != nil {
		t.Fatal(err)
	}

	o := GatewayOptions{Clock: offsetClock{48 * time.Hour}, SimulatorAddr: "127.0.0.1:0", OutboxPoll: 10 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	g, err := OpenGateway(ctx, cfg, NewLogger(io.Discard, cfg.Log), o)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx, o) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("gateway Run: %v", err)
		}
		g.Close()
	})

	bill := filepath.Join(cfg.StatementsDir(), "8002", settlement.BillName("8002", today))
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, errS := os.Stat(stmt)
		_, errB := os.Stat(bill)
		if errS == nil && errB == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the catch-up did not write %s (%v) and %s (%v)", stmt, errS, bill, errB)
		}
		pctx, pcancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		<-pctx.Done()
		pcancel()
	}
	again, err := os.ReadFile(stmt)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, demoStmt) {
		t.Errorf("the nightly statement differs from the demo's:\n%s\nwant:\n%s", again, demoStmt)
	}
}
