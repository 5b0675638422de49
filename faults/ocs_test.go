package faults

import (
	"fmt"
	"time"

	"github.com/carrierbill/carrierbill/ocs/ocssim"
)

// The OCS scenario: phone-account payments charged at the operator's OCS
// over Diameter credit control (ocs.enabled) against the OCS simulator,
// which debits and drops the connection before answering, stops
// answering, answers late, is too busy, drops its links, drops the first
// request after each CEA, and sends an answer go-diameter cannot decode.

const ocsStartBalance = 1_000_000 // fen, per subscriber

// withOCS starts the OCS simulator, opens every subscriber's account and
// points the gateway's configuration at it.
func (e *env) withOCS() {
	e.ocs = ocssim.New("ocs1.ocs.faults", "ocs.faults", nil)
	if err := e.ocs.Listen("127.0.0.1:0"); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { e.ocs.Close() })
	for i := range e.sz.phones {
		e.ocs.SetAccount(canonical(e.traffic.phone(i)), ocssim.Account{Balance: ocsStartBalance})
	}
	e.extraYAML += fmt.Sprintf(`ocs:
  enabled: true
  origin_host: gw.carrierbill.faults
  origin_realm: carrierbill.faults
  destination_realm: ocs.faults
  service_context_id: 32274@3gpp.org
  peers: [{addr: %q}]
  answer_timeout: 1s
  retries: 2
  reconnect_min: 200ms
  reconnect_max: 2s
  service: {service_identifier: 1, rating_group: 1}
`, e.ocs.Addr())
}

// ocsFaults: traffic while the OCS misbehaves.
func (e *env) ocsFaults(rounds int) {
	e.withOCS()
	e.start("gw1")
	e.traffic.start([]string{"gw1"}, false)
	for i := range rounds {
		e.pause(500*time.Millisecond, 2*time.Second)
		var f ocssim.Faults
		kind := ""
		switch i % 7 {
		case 0:
			f.DropAfterDebit, kind = 1+e.rng.Intn(3), "ocs debited, dropped the link unanswered"
		case 1:
			f.NoAnswer, kind = true, "ocs stopped answering"
		case 2:
			f.Delay, kind = 1500*time.Millisecond, "ocs answering past the timeout"
		case 3:
			f.TooBusy, kind = true, "ocs too busy"
		case 4:
			e.ocs.DropConnections()
			e.fault("ocs links dropped")
			continue
		case 5:
			f.DropFirstAfterCEA, kind = true, "ocs dropping the first request after CEA"
			e.ocs.DropConnections()
		case 6:
			f.Malformed, kind = true, "ocs malformed answers"
		}
		e.ocs.SetFaults(f)
		e.fault(kind)
		e.pause(time.Second, 3*time.Second)
		e.ocs.SetFaults(ocssim.Faults{})
	}
	e.pause(time.Second, 2*time.Second)
}

// checkOCS: what each subscriber's OCS account lost equals its succeeded
// charges (nothing refunded in the traffic): no debit twice, none lost.
func (e *env) checkOCS(db store) {
	if e.ocs == nil {
		return
	}
	sums, err := db.pairs(`SELECT msisdn, '', SUM(amount_fen) FROM charges WHERE status = 'succeeded' AND method = 'phone' GROUP BY msisdn`)
	if err != nil {
		e.t.Fatal(err)
	}
	bad := 0
	for i := range e.sz.phones {
		phone := canonical(e.traffic.phone(i))
		a, _ := e.ocs.Account(phone)
		if spent, charged := ocsStartBalance-a.Balance, sums[[2]string{phone, ""}]; spent != charged {
			if bad++; bad <= 10 {
				e.t.Errorf("%s: the OCS account lost %d fen, the succeeded charges are %d", phone, spent, charged)
			}
		}
	}
}
