package settlement

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
)

// pendingFile is a file being written under a temporary name in its final
// directory. Commit fsyncs it, writes the .sha256 beside it the same way and
// renames both into place; Abort removes the temporary file.
type pendingFile struct {
	f     *os.File
	final string
	h     hash.Hash
	w     io.Writer
}

func createPending(final string) (*pendingFile, error) {
	dir := filepath.Dir(final)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("creating directory %s: %w", dir, err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(final)+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("creating temporary file for %s: %w", final, err)
	}
	h := sha256.New()
	return &pendingFile{f: f, final: final, h: h, w: io.MultiWriter(f, h)}, nil
}

func (p *pendingFile) Write(b []byte) (int, error) { return p.w.Write(b) }

// Sum is the hex SHA-256 of what was written so far.
func (p *pendingFile) Sum() string { return hex.EncodeToString(p.h.Sum(nil)) }

// Abort removes the temporary file.
func (p *pendingFile) Abort() {
	p.f.Close()
	os.Remove(p.f.Name())
}

// Finish makes the temporary file durable and closes it; it is still
// invisible under its final name until Commit.
func (p *pendingFile) Finish() error {
	if err := p.f.Chmod(0o640); err != nil {
		p.Abort()
		return fmt.Errorf("setting mode of %s: %w", p.final, err)
	}
	if err := p.f.Sync(); err != nil {
		p.Abort()
		return fmt.Errorf("syncing %s: %w", p.final, err)
	}
	if err := p.f.Close(); err != nil {
		os.Remove(p.f.Name())
		return fmt.Errorf("closing %s: %w", p.final, err)
	}
	return nil
}

// Commit makes a finished file and its checksum visible under their final
// names; the checksum file first, so a visible file always has one.
func (p *pendingFile) Commit() error {
	sum := p.Sum() + "  " + filepath.Base(p.final) + "\n"
	if err := writeAtomic(p.final+".sha256", []byte(sum), false); err != nil {
		os.Remove(p.f.Name())
		return err
	}
	if err := os.Rename(p.f.Name(), p.final); err != nil {
		os.Remove(p.f.Name())
		return fmt.Errorf("renaming %s into place: %w", p.final, err)
	}
	return syncDir(filepath.Dir(p.final))
}

// writeAtomic writes data to path through a temporary file, fsync and
// rename, then fsyncs the directory when syncDirectory is set (a caller that
// renames more into the same directory syncs it once at the end).
func writeAtomic(path string, data []byte, syncDirectory bool) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("creating directory %s: %w", dir, err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("creating temporary file for %s: %w", path, err)
	}
	fail := func(what string, err error) error {
		f.Close()
		os.Remove(f.Name())
		return fmt.Errorf("%s %s: %w", what, path, err)
	}
	if _, err := f.Write(data); err != nil {
		return fail("writing", err)
	}
	if err := f.Chmod(0o640); err != nil {
		return fail("setting mode of", err)
	}
	if err := f.Sync(); err != nil {
		return fail("syncing", err)
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("closing %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("renaming %s into place: %w", path, err)
	}
	if !syncDirectory {
		return nil
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("opening directory %s to sync: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing directory %s: %w", dir, err)
	}
	return nil
}
