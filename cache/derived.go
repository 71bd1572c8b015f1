package cache

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
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
// always be made again.
//
// A derived file must prove what it is before it is used, since a damaged
// or swapped one would otherwise become a wrong image (a valid zstd or tar
// stream says nothing about which package it is). So every derived file
// starts with a header: magic, format version, its kind, the SHA256 of the
// blob it was made from, and the length and SHA256 of the content that
// follows. The reader checks the first four on open and the digest as the
// content streams through; the last Read (or Finish) fails if the content
// is not what was written. The name already keys the file by the blob's
// SHA256, so binding the header to that SHA256 and to a digest of the
// content is what ties the two together: a file copied from another
// package, another suite or another kind, an empty, truncated or flipped
// one, all fail.

var kindRE = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{0,31}$`)

const (
	derivedMagic   = "DSTRAPDV"
	derivedVersion = 1
	// derivedHeaderSize is the fixed header: magic (8), version (4), kind
	// (32, NUL padded), source SHA256 (32), content length (8), content
	// SHA256 (32), padding to 128.
	derivedHeaderSize = 128
)

type derivedHeader struct {
	kind    string
	source  [sha256.Size]byte
	length  int64
	content [sha256.Size]byte
}

func (h *derivedHeader) marshal() []byte {
	b := make([]byte, derivedHeaderSize)
	copy(b, derivedMagic)
	binary.BigEndian.PutUint32(b[8:], derivedVersion)
	copy(b[12:44], h.kind)
	copy(b[44:76], h.source[:])
	binary.BigEndian.PutUint64(b[76:], uint64(h.length))
	copy(b[84:116], h.content[:])
	return b
}

func parseDerivedHeader(b []byte) (derivedHeader, error) {
	var h derivedHeader
	if len(b) < derivedHeaderSize || string(b[:8]) != derivedMagic {
		return h, errors.New("no derived-file header (not made by this version of debstrap)")
	}
	if v := binary.BigEndian.Uint32(b[8:]); v != derivedVersion {
		return h, fmt.Errorf("header version %d, want %d", v, derivedVersion)
	}
	h.kind = string(bytes.TrimRight(b[12:44], "\x00"))
	copy(h.source[:], b[44:76])
	n := binary.BigEndian.Uint64(b[76:])
	if n > 1<<62 {
		return h, fmt.Errorf("header gives an absurd length %d", n)
	}
	h.length = int64(n)
	copy(h.content[:], b[84:116])
	return h, nil
}

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

// DerivedError says a derived file is not what its name promises; the
// caller removes it (RemoveDerived) and makes it again from the blob.
type DerivedError struct {
	Path string
	Err  error
}

func (e *DerivedError) Error() string { return fmt.Sprintf("stored file %s: %v", e.Path, e.Err) }
func (e *DerivedError) Unwrap() error { return e.Err }

// DerivedReader reads the content of a derived file, checking it against
// its header. Read returns io.EOF only after the whole content has been
// read and its SHA256 matched; until then an error is a *DerivedError.
type DerivedReader struct {
	f    *os.File
	path string
	want [sha256.Size]byte
	left int64
	h    hash.Hash
	err  error
}

// OpenDerived opens the file of this kind derived from the blob sha256 and
// checks its header: the kind, the blob's SHA256, and the content length
// against the file's size. It fails with an error satisfying
// errors.Is(err, fs.ErrNotExist) if there is none yet, and with a
// *DerivedError if the file is there but does not prove to be this one.
func (c *Cache) OpenDerived(kind, sha256 string) (*DerivedReader, error) {
	p, err := c.derivedPath(kind, sha256)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	r, err := checkDerived(f, p, kind, filepath.Base(p))
	if err != nil {
		f.Close()
		return nil, err
	}
	return r, nil
}

func checkDerived(f *os.File, p, kind, sum string) (*DerivedReader, error) {
	bad := func(format string, a ...any) error {
		return &DerivedError{Path: p, Err: fmt.Errorf(format, a...)}
	}
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("stored file %s: %w", p, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, bad("not a regular file")
	}
	b := make([]byte, derivedHeaderSize)
	if n, err := io.ReadFull(f, b); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return nil, bad("%d bytes, shorter than the %d-byte header", n, derivedHeaderSize)
		}
		return nil, fmt.Errorf("stored file %s: %w", p, err)
	}
	h, err := parseDerivedHeader(b)
	if err != nil {
		return nil, bad("%w", err)
	}
	if h.kind != kind {
		return nil, bad("header says kind %q, want %q", h.kind, kind)
	}
	if got := hex.EncodeToString(h.source[:]); got != sum {
		return nil, bad("made from blob %s, not from %s", got, sum)
	}
	if want := derivedHeaderSize + h.length; fi.Size() != want {
		return nil, bad("size mismatch: header says %d bytes, file has %d", want, fi.Size())
	}
	return &DerivedReader{f: f, path: p, want: h.content, left: h.length, h: sha256.New()}, nil
}

func (r *DerivedReader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	if r.left == 0 {
		r.err = r.check()
		if r.err == nil {
			r.err = io.EOF
		}
		return 0, r.err
	}
	if int64(len(p)) > r.left {
		p = p[:r.left]
	}
	n, err := r.f.Read(p)
	r.h.Write(p[:n])
	r.left -= int64(n)
	switch {
	case r.left == 0:
		// Say so with the last bytes, so that a reader that stops at the
		// end of its own format still learns of a mismatch.
		if r.err = r.check(); r.err != nil {
			return n, r.err
		}
		r.err = io.EOF
		return n, nil
	case err == io.EOF:
		r.err = &DerivedError{Path: r.path, Err: fmt.Errorf("truncated while read: %d bytes short", r.left)}
		return n, r.err
	case err != nil:
		r.err = fmt.Errorf("stored file %s: %w", r.path, err)
		return n, r.err
	}
	return n, nil
}

func (r *DerivedReader) check() error {
	if got := r.h.Sum(nil); !bytes.Equal(got, r.want[:]) {
		return &DerivedError{Path: r.path, Err: fmt.Errorf("content SHA256 mismatch: header says %x, got %x", r.want, got)}
	}
	return nil
}

// Finish reads whatever content is left and returns nil only if the whole
// content matched its header: call it before trusting anything read.
func (r *DerivedReader) Finish() error {
	if _, err := io.Copy(io.Discard, r); err != nil {
		return err
	}
	return nil
}

// Name is the file's path, for messages.
func (r *DerivedReader) Name() string { return r.path }

// Close closes the file.
func (r *DerivedReader) Close() error { return r.f.Close() }

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

// RemoveDerivedKind removes every derived file of kind: for a kind whose
// form is retired (an older, unproven version), so that it is never read
// and its space comes back. It reports whether there was anything.
func (c *Cache) RemoveDerivedKind(kind string) (bool, error) {
	if !kindRE.MatchString(kind) {
		return false, fmt.Errorf("derived kind %q is not a plain name", kind)
	}
	d := filepath.Join(c.dir, "derived", kind)
	if _, err := os.Lstat(d); errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err := os.RemoveAll(d); err != nil {
		return true, fmt.Errorf("remove %s: %w", d, err)
	}
	return true, nil
}

// DerivedWriter writes one derived file. Commit puts it in place; Abort
// (or a Commit that fails) leaves nothing behind.
type DerivedWriter struct {
	tmp    *os.File
	dst    string
	hdr    derivedHeader
	h      hash.Hash
	unlock func()
	err    error
	done   bool
}

// ErrDerivedBusy is returned by CreateDerived when another writer, in this
// process or another, is making the same file: the caller goes on without.
var ErrDerivedBusy = errors.New("derived file is being written by another build")

// CreateDerived starts writing the file of this kind derived from the blob
// sha256. It does not wait for another writer of the same file.
func (c *Cache) CreateDerived(kind, sha256sum string) (*DerivedWriter, error) {
	dst, err := c.derivedPath(kind, sha256sum)
	if err != nil {
		return nil, err
	}
	hdr := derivedHeader{kind: kind}
	if _, err := hex.Decode(hdr.source[:], []byte(filepath.Base(dst))); err != nil {
		return nil, err
	}
	// One lock per kind and blob: the members of one .deb are written at
	// once. Hashed, to keep the key a plain SHA256 that New can parse.
	keySum := sha256.Sum256([]byte(kind + "/" + filepath.Base(dst)))
	key := "derived-" + hex.EncodeToString(keySum[:])
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
	// Room for the header, written at Commit when the digest is known.
	if _, err := tmp.Seek(derivedHeaderSize, io.SeekStart); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		unlock()
		return nil, fmt.Errorf("create temporary file: %w", err)
	}
	return &DerivedWriter{tmp: tmp, dst: dst, hdr: hdr, h: sha256.New(), unlock: unlock}, nil
}

func (w *DerivedWriter) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	n, err := w.tmp.Write(p)
	w.h.Write(p[:n])
	w.hdr.length += int64(n)
	if err != nil {
		w.err = err
	}
	return n, err
}

var _ io.Writer = (*DerivedWriter)(nil)

// Commit writes the header and renames the finished file into place.
func (w *DerivedWriter) Commit() error {
	if w.done {
		return errors.New("derived file already committed or aborted")
	}
	w.done = true
	defer w.unlock()
	err := w.err
	if err == nil {
		copy(w.hdr.content[:], w.h.Sum(nil))
		_, err = w.tmp.WriteAt(w.hdr.marshal(), 0)
	}
	if err == nil {
		err = w.tmp.Chmod(0o644)
	}
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
