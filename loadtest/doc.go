// Package loadtest is the measuring instrument of carrierbill's throughput
// (issue 11): `carrierbill bench`. It drives the gateway the way the field
// does, over SMPP only: an SMSC simulator (smpp/smsc) plays many
// subscribers over one or more binds; each buys, reads the 6-digit code
// from the prompt MT, confirms, and waits for the receipt. Around that run
// it measures what the issue asks for (payments, MOs and MTs per second;
// MO ack and purchase→receipt latencies; rejections by reason; CPU and
// memory; commits and WAL flushes per payment), checks the store's
// invariants afterwards (package verify), and measures the ceilings in the
// same run: a pgbench script that writes the rows of one payment, and the
// SMPP layer alone against an ESME that acknowledges and drops.
//
// It must never depend on the billing engine's internals: it sees the
// gateway through its configuration, its SMPP binds and its store's tables,
// nothing else, so it measures the engine before and after a reshaping
// alike. It must never run against a database or Redis that serves real
// traffic: it writes payments, and by default it creates (and drops) a
// database of its own on the server it is given. Phone numbers it makes up
// are never real ones, and it logs none.
//
// The gateway is booted by the caller (cmd/carrierbill wires OpenGateway
// and Run) through Boot, in the same process: the CPU time and the max RSS
// it reports are the process's, simulator included; a CPU profile
// (Options.CPUProfile) carries the label side=gateway or side=smsc on every
// sample so the two can be told apart (go tool pprof -tagfocus side=gateway).
package loadtest
