package sqlite

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/carrierbill/carrierbill/billing/storetest"
)

// TestInitialPasswordNeverOnDisk is issue 18.3 on the embedded store: after
// a first card binding sent the initial wallet password and the sweep
// scrubbed it, no byte of the database file (free pages included) or of its
// WAL holds the password, neither while the store is open nor once it is
// closed and checkpointed. Before the fix the MT body held it in clear and
// the scrubbed row's old page kept it.
func TestInitialPasswordNeverOnDisk(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "carrierbill.db")
	s := openTestFile(t, path)
	pw := storetest.SendInitialPassword(t, storetest.SecretScanEnv{Store: s, Cards: s, SetOwner: s.SetOwner})
	scan := func(when string) {
		t.Helper()
		for _, f := range []string{path, path + "-wal", path + "-journal"} {
			data, err := os.ReadFile(f)
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			if storetest.HoldsPassword(data, pw) {
				t.Errorf("%s: %s holds the initial password", when, filepath.Base(f))
			}
		}
	}
	scan("open")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	scan("closed")
}
