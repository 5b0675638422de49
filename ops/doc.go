// Package ops is the gateway's operations side (issue 16): the Prometheus
// exporter (Metrics, an observer of billing and smpp, which import no
// Prometheus), /healthz and /readyz (Health), the operator's actions shared
// by the CLI, the admin API and the console (Operator), and the operations
// endpoint that serves them all on ops.listen (NewServer), the console
// included (embedded static files, no build step).
//
// It observes and acts only through the billing engine's typed API and the
// stores' small interfaces: it must never decide a payment, write to the
// ledger itself, or show a phone number unmasked, a confirmation code
// outside the phone simulator, a password or a token.
package ops
