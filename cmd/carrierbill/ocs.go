package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/config"
	"github.com/carrierbill/carrierbill/msisdn"
	"github.com/carrierbill/carrierbill/ocs/ocssim"
	"github.com/carrierbill/carrierbill/redact"
)

func init() {
	register(command{
		name:    "ocs",
		summary: "run the OCS simulator: Diameter credit control with prepaid balances (for demos, tests and load)",
		run:     runOCS,
	})
}

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

const ocsSimDoc = `Accounts (repeatable flags; numbers in any spelling the default numbering plan takes):
  -account +8613800138000=50.00   a prepaid account with 50.00 yuan
  -suspended +8613800138001       an account that exists but is suspended (4010)
  any other number is unknown (5030), unless -open-balance opens it at its first payment.
The simulator answers CER, DWR, DPR; CCR-Initial reserves, CCR-Terminate debits what
was used, CCR-Event REFUND_ACCOUNT refunds; a repeated request (same Session-Id,
request type and number) gets its first answer and moves no money again.

Fault knobs: -silent, -no-answer, -delay 3s, -too-busy, -drop-after-debit N,
-drop-first-after-cea, -partial-grant, -malformed.

Point the gateway at it (carrierbill.yaml):
  ocs: {enabled: true, origin_host: gw1.carrierbill.test, origin_realm: carrierbill.test,
        destination_realm: ocs.test, service_context_id: 32274@3gpp.org,
        peers: [{addr: "127.0.0.1:3868"}], service: {service_identifier: 1, rating_group: 1}}`

func runOCS(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := withUsage(newFlagSet("ocs", stderr), "carrierbill ocs [flags]",
		"Run the OCS simulator: a Diameter credit-control server (RFC 4006) with prepaid balances in memory\n"+
			"(for demos, tests and load; never real money). The gateway charges it when ocs.enabled is true.",
		ocsSimDoc)
	listen := fs.String("listen", "127.0.0.1:3868", "Diameter listen address")
	host := fs.String("origin-host", "ocs1.ocs.test", "the simulator's Origin-Host")
	realm := fs.String("origin-realm", "ocs.test", "the simulator's Origin-Realm")
	var accounts, suspended listFlag
	fs.Var(&accounts, "account", "NUMBER=YUAN: a prepaid account (repeatable)")
	fs.Var(&suspended, "suspended", "NUMBER: a suspended account (repeatable)")
	openBalance := fs.String("open-balance", "0", "yuan: an unknown number opens an account with this at its first payment (0: unknown numbers are refused 5030)")
	certFile := fs.String("tls-cert", "", "PEM certificate: serve TLS from the first byte (with -tls-key)")
	keyFile := fs.String("tls-key", "", "PEM private key of -tls-cert")
	var f ocssim.Faults
	fs.BoolVar(&f.Silent, "silent", false, "fault: answer nothing, not even DWR (a hung OCS)")
	fs.BoolVar(&f.NoAnswer, "no-answer", false, "fault: process credit-control requests but never answer")
	fs.DurationVar(&f.Delay, "delay", 0, "fault: answer credit-control requests this late")
	fs.BoolVar(&f.TooBusy, "too-busy", false, "fault: answer 3004 DIAMETER_TOO_BUSY")
	fs.IntVar(&f.DropAfterDebit, "drop-after-debit", 0, "fault: after each of the next N debits, drop the connection unanswered")
	fs.BoolVar(&f.DropFirstAfterCEA, "drop-first-after-cea", false, "fault: silently drop the first request after each CEA")
	fs.BoolVar(&f.PartialGrant, "partial-grant", false, "fault: a reservation grants half of what was asked")
	fs.BoolVar(&f.Malformed, "malformed", false, "fault: answers carry a Failed-AVP holding a zero-filled grouped AVP")
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
	log := NewZonedLogger(stderr, config.Log{}, loc)
	sim := ocssim.New(*host, *realm, log.With("component", "ocs-simulator"))
	plan := msisdn.DefaultPlan()
	number := func(flagName, raw string) (string, error) {
		n, err := plan.Normalize(raw, 0, 0)
		if err != nil {
			return "", fmt.Errorf("%w: %s %q: %v", errUsage, flagName, raw, err)
		}
		return n, nil
	}
	for _, a := range accounts {
		num, amount, ok := strings.Cut(a, "=")
		if !ok {
			return fmt.Errorf("%w: -account %q: want NUMBER=YUAN", errUsage, a)
		}
		n, err := number("-account", num)
		if err != nil {
			return err
		}
		y, err := billing.ParseYuan(amount)
		if err != nil {
			return fmt.Errorf("%w: -account %q: %v", errUsage, a, err)
		}
		sim.SetAccount(n, ocssim.Account{Balance: int64(y)})
	}
	for _, s := range suspended {
		n, err := number("-suspended", s)
		if err != nil {
			return err
		}
		a, _ := sim.Account(n)
		a.Suspended = true
		sim.SetAccount(n, a)
	}
	ob, err := billing.ParseYuan(*openBalance)
	if err != nil {
		return fmt.Errorf("%w: -open-balance: %v", errUsage, err)
	}
	sim.SetAutoOpen(int64(ob))
	sim.SetFaults(f)
	if (*certFile == "") != (*keyFile == "") {
		return fmt.Errorf("%w: -tls-cert and -tls-key go together", errUsage)
	}
	if *certFile != "" {
		cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
		if err != nil {
			return fmt.Errorf("loading the TLS certificate: %w", err)
		}
		ln, err := tls.Listen("tcp", *listen, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
		if err != nil {
			return err
		}
		sim.Serve(ln)
	} else if err := sim.Listen(*listen); err != nil {
		return err
	}
	defer sim.Close()
	fmt.Fprintf(stdout, "ocs: Diameter credit control on %s (Origin-Host %s, realm %s), %d accounts\n", sim.Addr(), *host, *realm, len(accounts)+len(suspended))
	<-ctx.Done()
	fmt.Fprintf(stdout, "ocs: %d debits, %d refunds, %d credit-control sessions open\n", sim.Debits(), sim.Refunds(), sim.OpenSessions())
	for _, a := range accounts {
		num, _, _ := strings.Cut(a, "=")
		n, _ := number("-account", num)
		if acc, ok := sim.Account(n); ok {
			fmt.Fprintf(stdout, "ocs: %s balance %s\n", redact.Phone(n), billing.Money(acc.Balance))
		}
	}
	return nil
}
