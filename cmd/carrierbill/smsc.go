package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/carrierbill/carrierbill/config"
	"github.com/carrierbill/carrierbill/internal/httpserver"
	"github.com/carrierbill/carrierbill/smpp/smsc"
)

func init() {
	register(command{
		name:    "smsc",
		summary: "run the SMSC simulator (for demos, tests and load)",
		run:     runSMSC,
	})
}

func runSMSC(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := withUsage(newFlagSet("smsc", stderr), "carrierbill smsc [flags]",
		"Run the SMSC simulator: an SMPP server the gateway binds to (for demos, tests and load; never real traffic).\n"+
			"serve without a configured SMSC starts the same simulator itself, with this HTTP endpoint on -simulator-http.",
		simulatorHTTPDoc)
	listen := fs.String("listen", "127.0.0.1:2775", "SMPP listen address")
	systemID := fs.String("system-id", "carrierbill", "accepted system_id (empty accepts any)")
	password := fs.String("password", "secret", "accepted password")
	httpAddr := fs.String("http", "", "HTTP control address (POST /mo, POST /receipt, GET /mts); empty disables")
	moFile := fs.String("mo-file", "", "JSON-lines file of MOs to inject once a client is bound")
	receipts := fs.Bool("receipts", true, "send a DELIVRD receipt for MTs that ask for one")
	ids := fs.String("ids", "hex", "message ids in submit_sm_resp: hex or decimal")
	receiptIDs := fs.String("receipt-ids", "", "message ids in receipts: hex or decimal (default: as in submit_sm_resp)")
	receiptFirst := fs.Bool("receipt-first", false, "send each receipt before the submit_sm_resp it reports on")
	tz := fs.String("timezone", "Asia/Shanghai", "time zone of the log's timestamps (the operator's)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments %v", errUsage, fs.Args())
	}
	loc, err := time.LoadLocation(*tz)
	if err != nil {
		return fmt.Errorf("%w: -timezone: %v", errUsage, err)
	}
	for name, v := range map[string]string{"-ids": *ids, "-receipt-ids": *receiptIDs} {
		if v != "" && v != string(smsc.IDHex) && v != string(smsc.IDDecimal) {
			return fmt.Errorf("%w: %s %q: want hex or decimal", errUsage, name, v)
		}
	}
	log := NewZonedLogger(stderr, config.Log{}, loc)
	sim := smsc.New(smsc.Config{SystemID: *systemID, Password: *password, Logger: log, AutoReceipt: *receipts})
	sim.SetMessageIDs(smsc.IDFormat(*ids), smsc.IDFormat(*receiptIDs))
	sim.ReceiptBeforeResp(*receiptFirst)
	if err := sim.Listen(*listen); err != nil {
		return err
	}
	defer sim.Close()
	fmt.Fprintf(stdout, "smsc: SMPP on %s (system_id %q)\n", sim.Addr(), *systemID)

	errc := make(chan error, 2)
	if *httpAddr != "" {
		ln, err := net.Listen("tcp", *httpAddr)
		if err != nil {
			return fmt.Errorf("listening for HTTP on %s: %w", *httpAddr, err)
		}
		hs := httpserver.New(sim.Handler(), httpserver.Timeouts{})
		defer hs.Close()
		go func() {
			if err := hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("serving HTTP: %w", err)
			}
		}()
		fmt.Fprintf(stdout, "smsc: HTTP control on %s\n", ln.Addr())
	}
	if *moFile != "" {
		f, err := os.Open(*moFile)
		if err != nil {
			return fmt.Errorf("opening the MO file: %w", err)
		}
		defer f.Close()
		go func() {
			n, err := sim.InjectFile(ctx, f)
			if err != nil && ctx.Err() == nil {
				errc <- err
				return
			}
			fmt.Fprintf(stdout, "smsc: injected %d MOs from %s\n", n, *moFile)
		}()
	}
	select {
	case <-ctx.Done():
		return nil
	case err := <-errc:
		return err
	}
}
