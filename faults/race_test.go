//go:build race

package faults

// raceEnabled: the suite runs under the race detector, so the gateway it
// builds does too.
const raceEnabled = true
