// Package faults is carrierbill's fault-injection suite (issue 17): it
// attacks a real gateway process, the `carrierbill serve` binary built from
// this tree, under continuous simulated traffic, and proves afterwards that
// nothing was lost or charged twice.
//
// The suite is a Go test (faults_test.go). It builds the binary, starts an
// SMSC simulator (smpp/smsc) that plays subscribers the way the field does
// (purchase, read the code from the prompt, confirm; an MO not acknowledged
// with ESME_ROK is delivered again), and runs scenarios on both stores:
//
//   - kill -9 of the gateway at random moments, restarted at once, many
//     times (the embedded store and PostgreSQL, batching on as shipped);
//   - two gateways on one database, numbers overlapping, every confirmation
//     delivered to both at the same moment;
//   - PostgreSQL cut (connections reset) and held (no answer) through a TCP
//     proxy the test controls (internal/faultproxy), never the shared server;
//   - Redis cut and held the same way;
//   - the SMSC dropping the link, not answering submit_sm, throttling,
//     redelivering a deliver_sm whose ack was lost, reusing sequence
//     numbers (smpp/smsc/faults.go);
//   - the bank (card payments through the HTTP adapter) and the OCS
//     (Diameter) debiting and then not answering, timing out, refusing.
//
// After each scenario the traffic stops, the gateway finishes its work, and
// the suite checks: every acknowledged MO is stored and processed; no
// phone has more succeeded charges than the confirmation codes it sent; every
// receipt written is received by the SMSC at least once, a duplicate only
// around a fault (the documented at-least-once resend); and `carrierbill
// verify` on the store exits 0 (ledger, one charge/debit/receipt per paid
// order, limits held, quota equals charges, ...).
//
// The randomness (when to kill, which fault, which subscriber buys what) comes
// from one seed, printed at the start and taken by -faults.seed, so that a
// failure found once can be replayed. `go test ./faults` (what CI runs under
// -race) is the short version; `make faults` runs the long one
// (-faults.long: at least 100 kills in all) and prints the figures of
// BENCHMARKS.md's reliability section.
//
// The package has no code of its own outside its tests. It must never stop,
// slow or reconfigure the machine's shared PostgreSQL or Redis (every fault
// goes through a proxy of its own), and it never kills a process it did not
// start.
package faults
