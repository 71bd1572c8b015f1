package cache

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
)

// Derived files are made by debstrap from a verified blob, never
// downloaded: <Dir>/derived/<kind>/<sha256 of the blob>. The first user is
// a .deb's data member decompressed once and stored re-compressed with
// zstd, so that a warm build does not decode xz again.
//
// A derived file is written from bytes read out of a verified blob, to a
// temporary file that is renamed into place only when the writer says the
// whole derivation succeeded; so, like blobs, it never holds bytes that did
// not come from verified input. It is not fsynced: a derived file can
// always be made again, and its readers check its own framing (zstd's
// checksum) and fall back to the blob, removing it, if it is damaged.

var kindRE = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]*$`)

func (c *Cache) derivedPath(kind, sha256 string) (string, error) {
	if !kindRE.MatchString(kind) {
		return "", fmt.Errorf("derived kind %q is not a plain name", kind)
	}
	sum, err := normSHA256(sha256)
	if err != nil {
		return "", err
	}
	return filepath.Join(c.dir, "derived", kind, sum), nil
}

// OpenDerived opens the file of this kind derived from the blob sha256. It
// fails with an error satisfying errors.Is(err, fs.ErrNotExist) if there is
// none yet.
func (c *Cache) OpenDerived(kind, sha256 string) (*os.File, error) {
	p, err := c.derivedPath(kind, sha256)
	if err != nil {
		return nil, err
	}
	return os.Open(p)
}

// RemoveDerived removes a derived file found damaged.
func (c *Cache) RemoveDerived(kind, sha256 string) error {
	p, err := c.derivedPath(kind, sha256)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// DerivedWriter writes one derived file. Commit puts it in place; Abort
// (or a Commit that fails) leaves nothing behind.
type DerivedWriter struct {
	tmp    *os.File
	dst    string
	unlock func()
	done   bool
}

// ErrDerivedBusy is returned by CreateDerived when another writer, in this
// process or another, is making the same file: the caller goes on without.
var ErrDerivedBusy = errors.New("derived file is being written by another build")

// CreateDerived starts writing the file of this kind derived from the blob
// sha256. It does not wait for another writer of the same file.
func (c *Cache) CreateDerived(kind, sha256 string) (*DerivedWriter, error) {
	dst, err := c.derivedPath(kind, sha256)
	if err != nil {
		return nil, err
	}
	key := "derived-" + filepath.Base(dst)
	release, err := c.locks.tryAcquire(key)
	if err != nil {
		return nil, ErrDerivedBusy
	}
	lf, err := lockFile(context.Background(), c.lockPath(key), false)
	if err != nil {
		release()
		if errors.Is(err, errLocked) {
			return nil, ErrDerivedBusy
		}
		return nil, err
	}
	unlock := func() { unlockFile(lf); release() }
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		unlock()
		return nil, fmt.Errorf("create cache directory: %w", err)
	}
	// Named after the lock key, so New can tell a dead writer's leftovers.
	tmp, err := os.CreateTemp(c.tmpDir(), key+".*")
	if err != nil {
		unlock()
		return nil, fmt.Errorf("create temporary file: %w", err)
	}
	return &DerivedWriter{tmp: tmp, dst: dst, unlock: unlock}, nil
}

func (w *DerivedWriter) Write(p []byte) (int, error) { return w.tmp.Write(p) }

var _ io.Writer = (*DerivedWriter)(nil)

// Commit renames the finished file into place.
func (w *DerivedWriter) Commit() error {
	if w.done {
		return errors.New("derived file already committed or aborted")
	}
	w.done = true
	defer w.unlock()
	err := w.tmp.Chmod(0o644)
	if cerr := w.tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(w.tmp.Name(), w.dst)
	}
	if err != nil {
		os.Remove(w.tmp.Name())
		return fmt.Errorf("store derived file %s: %w", w.dst, err)
	}
	return nil
}

// Abort drops the file. It is harmless after Commit.
func (w *DerivedWriter) Abort() {
	if w.done {
		return
	}
	w.done = true
	w.tmp.Close()
	os.Remove(w.tmp.Name())
	w.unlock()
}
