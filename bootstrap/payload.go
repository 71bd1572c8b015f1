package bootstrap

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"sync"

	"github.com/klauspost/compress/zstd"

	"github.com/debstrap/debstrap/apt"
	"github.com/debstrap/debstrap/cache"
	"github.com/debstrap/debstrap/deb"
)

// payloadKind names the cache's derived file holding a .deb's data member
// decompressed and re-compressed as one zstd frame. Change the suffix if
// the form ever changes.
//
// Why: most of Debian's data members are xz, and decoding xz in Go was
// the largest cost of a warm build (deb's BenchmarkPayload
// compares the two forms). zstd at its fastest level costs little to
// write during the first unpack and decodes several times faster.
//
// -2: the cache frames every derived file with a header binding it to its
// .deb's SHA256 and its own digest (cache.OpenDerived); -1 files had none.
const payloadKind = "data.tar.zst-2"

// controlKind names the derived file holding a .deb's control member
// decompressed (a few kB, kept as it is). With it and the payload a warm
// build does not open the .deb: decoding even a small xz member costs the
// Go decoder an 8 MiB dictionary.
const controlKind = "control.tar-2"

// retiredKinds are earlier forms of the stored members, which could not
// prove what they are: never read, removed on sight.
var retiredKinds = [...]string{"data.tar.zst-1", "control.tar-1"}

// maxPayloadTail bounds what may follow the tar archive's end in a stored
// payload, as deb bounds it in the member itself.
const maxPayloadTail = 16 << 20

// payloads keeps decompressed data members in the cache's derived files.
// A nil *payloads keeps nothing.
type payloads struct {
	c   *cache.Cache
	log *slog.Logger
	enc sync.Pool // *zstd.Encoder
	dec sync.Pool // *zstd.Decoder
}

func newPayloads(c *cache.Cache, log *slog.Logger) *payloads {
	if c == nil {
		return nil
	}
	for _, k := range retiredKinds {
		if had, err := c.RemoveDerivedKind(k); err != nil {
			log.Warn("cannot remove an old form of stored members", "kind", k, "err", err)
		} else if had {
			log.Info("removed an old form of stored members from the cache", "kind", k)
		}
	}
	return &payloads{c: c, log: log}
}

// open returns a reader of the stored payload of the .deb with this
// SHA256, or nil if there is none (or payloads is nil).
func (p *payloads) open(sha256 string) *payloadReader {
	if p == nil {
		return nil
	}
	f := p.openFile(payloadKind, sha256)
	if f == nil {
		return nil
	}
	var err error
	zr, _ := p.dec.Get().(*zstd.Decoder)
	if zr == nil {
		zr, err = zstd.NewReader(f, zstd.WithDecoderConcurrency(1))
	} else {
		err = zr.Reset(f)
	}
	if err != nil {
		f.Close()
		p.drop(payloadKind, sha256, err)
		return nil
	}
	return &payloadReader{p: p, f: f, zr: zr, tr: tar.NewReader(zr)}
}

// openFile opens a stored file of kind, or returns nil if there is none
// or it cannot be opened; one that does not prove to be this .deb's
// (cache.DerivedError) is removed.
func (p *payloads) openFile(kind, sha256 string) *cache.DerivedReader {
	f, err := p.c.OpenDerived(kind, sha256)
	if err != nil {
		var de *cache.DerivedError
		switch {
		case errors.As(err, &de):
			p.drop(kind, sha256, err)
		case !errors.Is(err, fs.ErrNotExist):
			p.log.Debug("stored file unusable", "kind", kind, "sha256", sha256, "err", err)
		}
		return nil
	}
	return f
}

// control returns the stored control archive of the .deb with this
// SHA256, parsed, or nil if there is none usable: a damaged one, or one
// not of package name, is removed.
func (p *payloads) control(sha256, name string) *deb.Control {
	if p == nil {
		return nil
	}
	f := p.openFile(controlKind, sha256)
	if f == nil {
		return nil
	}
	defer f.Close()
	c, err := deb.ParseControlArchive(f)
	if err == nil {
		// Nothing parsed is used before the whole file matched its digest.
		err = f.Finish()
	}
	if err == nil && c.Get("Package") != name {
		err = fmt.Errorf("it says Package %q, not %q", c.Get("Package"), name)
	}
	if err != nil {
		p.drop(controlKind, sha256, err)
		return nil
	}
	return c
}

// storeControl has the control member of d stored as Control reads it;
// finish commits it if Control succeeded (ok).
func (p *payloads) storeControl(d *deb.Reader, sha256 string) (finish func(ok bool)) {
	if p == nil {
		return func(bool) {}
	}
	dw := p.create(controlKind, sha256)
	if dw == nil {
		return func(bool) {}
	}
	sw := &softWriter{w: dw}
	d.TeeControl(sw)
	return func(ok bool) {
		if !ok || sw.err != nil {
			dw.Abort()
			return
		}
		if err := dw.Commit(); err != nil {
			p.log.Debug("control archive not stored", "sha256", sha256, "err", err)
		}
	}
}

// create starts a derived file of kind, or returns nil (another build is
// writing it, or the cache refuses): storing is only a shortcut.
func (p *payloads) create(kind, sha256 string) *cache.DerivedWriter {
	dw, err := p.c.CreateDerived(kind, sha256)
	if err != nil {
		if !errors.Is(err, cache.ErrDerivedBusy) {
			p.log.Debug("not stored", "kind", kind, "sha256", sha256, "err", err)
		}
		return nil
	}
	return dw
}

// drop removes a stored file found damaged; the caller reads the .deb
// instead, which stores it again.
func (p *payloads) drop(kind, sha256 string, err error) {
	p.log.Warn("stored decompressed member is damaged; using the .deb", "kind", kind, "sha256", sha256, "err", err)
	if err := p.c.RemoveDerived(kind, sha256); err != nil {
		p.log.Warn("cannot remove a damaged file from the cache", "kind", kind, "sha256", sha256, "err", err)
	}
}

// store has the data member of d stored as it is read; finish commits it
// if the unpack read the member whole (ok), else drops it. A failure to
// store never fails the unpack: the payload is only a shortcut.
func (p *payloads) store(d *deb.Reader, sha256 string) (finish func(ok bool)) {
	if p == nil {
		return func(bool) {}
	}
	dw := p.create(payloadKind, sha256)
	if dw == nil {
		return func(bool) {}
	}
	sw := &softWriter{w: dw}
	zw, _ := p.enc.Get().(*zstd.Encoder)
	var err error
	if zw == nil {
		zw, err = zstd.NewWriter(sw, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))
		if err != nil {
			dw.Abort()
			p.log.Debug("payload not stored", "sha256", sha256, "err", err)
			return func(bool) {}
		}
	} else {
		zw.Reset(sw)
	}
	tee := &softWriter{w: zw}
	d.TeeData(tee)
	return func(ok bool) {
		err := zw.Close()
		p.enc.Put(zw)
		for _, e := range []error{tee.err, sw.err} {
			if err == nil {
				err = e
			}
		}
		if !ok || err != nil {
			dw.Abort()
			if err != nil {
				p.log.Debug("payload not stored", "sha256", sha256, "err", err)
			}
			return
		}
		if err := dw.Commit(); err != nil {
			p.log.Debug("payload not stored", "sha256", sha256, "err", err)
		}
	}
}

// softWriter keeps the first write error to itself, so that storing a
// payload cannot fail the unpack that feeds it.
type softWriter struct {
	w   io.Writer
	err error
}

func (s *softWriter) Write(b []byte) (int, error) {
	if s.err == nil {
		_, s.err = s.w.Write(b)
	}
	return len(b), nil
}

// payloadReader reads a stored payload as a tar stream (rootfs.TarReader).
// At the archive's end it reads the rest of the frame, so that zstd checks
// its checksum. err is the first error of the payload itself (as opposed
// to one of the unpack it feeds).
type payloadReader struct {
	p   *payloads
	f   *cache.DerivedReader
	zr  *zstd.Decoder
	tr  *tar.Reader
	err error
}

func (r *payloadReader) Next() (*tar.Header, error) {
	if r.err != nil {
		return nil, r.err
	}
	h, err := r.tr.Next()
	if err == io.EOF {
		n, cerr := io.CopyN(io.Discard, r.zr, maxPayloadTail+1)
		switch {
		case cerr != nil && cerr != io.EOF:
			err = cerr
		case n > maxPayloadTail:
			err = fmt.Errorf("more than %d bytes after the end of the tar archive", maxPayloadTail)
		default:
			// The end of the tar stream is not the end of the proof: the
			// whole file must match its digest before the unpack it fed
			// may be committed.
			err = r.f.Finish()
		}
		if err == nil {
			err = io.EOF
		}
	}
	if err != nil && err != io.EOF {
		r.fail(err)
		return nil, r.err
	}
	return h, err
}

// fail keeps err as the payload's own, naming the file once.
func (r *payloadReader) fail(err error) {
	var de *cache.DerivedError
	if errors.As(err, &de) {
		r.err = err
		return
	}
	r.err = fmt.Errorf("stored payload %s: %w", r.f.Name(), err)
}

// verify reads the rest of the stored file, after an unpack from it
// failed, and keeps an error if it does not match its digest: damage can
// look like a bad package (a strange path, a conflict), and only an intact
// payload may put the blame on the package.
func (r *payloadReader) verify() {
	if r.err == nil {
		if err := r.f.Finish(); err != nil {
			r.fail(err)
		}
	}
}

func (r *payloadReader) Read(b []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	n, err := r.tr.Read(b)
	if err != nil && err != io.EOF {
		r.fail(err)
		return n, r.err
	}
	return n, err
}

func (r *payloadReader) close() {
	r.p.dec.Put(r.zr)
	r.f.Close()
}

// debReader reads a cached .deb, hashing and counting every byte, so that
// what is unpacked from it (and stored from it) is known to be the blob its
// index names and not a copy damaged on disk since it was verified.
type debReader struct {
	f    *os.File
	h    hash.Hash
	n    int64
	path string
}

func openDeb(path string) (*debReader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	return &debReader{f: f, h: sha256.New(), path: path}, nil
}

func (r *debReader) Read(b []byte) (int, error) {
	n, err := r.f.Read(b)
	r.h.Write(b[:n])
	r.n += int64(n)
	return n, err
}

// check reads what is left of the file and compares it with what the
// index promised. Nothing read from the .deb may be kept unless it
// returns nil. The error is a *damagedDeb if the file is not that blob.
func (r *debReader) check(p *apt.Package) error {
	if _, err := io.Copy(io.Discard, r); err != nil {
		return fmt.Errorf("%s: %w", r.path, err)
	}
	got := hex.EncodeToString(r.h.Sum(nil))
	if got != strings.ToLower(p.SHA256) || (p.Size > 0 && r.n != p.Size) {
		return &damagedDeb{path: r.path, pkg: p.Name, wantSHA: p.SHA256, gotSHA: got, wantSize: p.Size, gotSize: r.n}
	}
	return nil
}

func (r *debReader) close() { r.f.Close() }

// damagedDeb is a cached .deb that no longer matches its index: the cache
// is to blame, not the package, and the .deb is fetched again.
type damagedDeb struct {
	path, pkg, wantSHA, gotSHA string
	wantSize, gotSize          int64
	cause                      error // what reading it ran into, if anything
}

func (e *damagedDeb) Error() string {
	s := fmt.Sprintf("cached %s of %s is damaged: expected SHA256 %s (%d bytes), got %s (%d bytes)",
		e.path, e.pkg, e.wantSHA, e.wantSize, e.gotSHA, e.gotSize)
	if e.cause != nil {
		s += " (reading it: " + e.cause.Error() + ")"
	}
	return s
}

// refetch replaces a damaged cached .deb: Verify re-hashes it under the
// blob's lock and removes it (unless another build already replaced it),
// and Fetch downloads and verifies it again.
func refetch(ctx context.Context, c *cache.Cache, p *apt.Package) (string, error) {
	if err := c.Verify(p.SHA256); err != nil {
		var ve *cache.VerifyError
		if !errors.As(err, &ve) && !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
	}
	return c.Fetch(ctx, cache.Item{Name: DebName(p), URLs: []string{p.URL()}, Size: p.Size, SHA256: p.SHA256})
}
