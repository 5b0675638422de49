//go:build !unix

package banksim

// lockFile is a no-op where flock is not available: one process per file.
func lockFile(string) func() { return func() {} }
