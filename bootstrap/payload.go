package bootstrap

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"sync"

	"github.com/klauspost/compress/zstd"

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
const payloadKind = "data.tar.zst-1"

// controlKind names the derived file holding a .deb's control member
// decompressed (a few kB, kept as it is). With it and the payload a warm
// build does not open the .deb: decoding even a small xz member costs the
// Go decoder an 8 MiB dictionary.
const controlKind = "control.tar-1"

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
		p.log.Debug("stored payload unusable", "sha256", sha256, "err", err)
		return nil
	}
	return &payloadReader{p: p, f: f, zr: zr, tr: tar.NewReader(zr)}
}

// openFile opens a stored file of kind, or returns nil if there is none
// or it cannot be opened.
func (p *payloads) openFile(kind, sha256 string) *os.File {
	f, err := p.c.OpenDerived(kind, sha256)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
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
	f   *os.File
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
		}
	}
	if err != nil && err != io.EOF {
		r.err = fmt.Errorf("stored payload %s: %w", r.f.Name(), err)
		return nil, r.err
	}
	return h, err
}

func (r *payloadReader) Read(b []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	n, err := r.tr.Read(b)
	if err != nil && err != io.EOF {
		r.err = fmt.Errorf("stored payload %s: %w", r.f.Name(), err)
		return n, r.err
	}
	return n, err
}

func (r *payloadReader) close() {
	r.p.dec.Put(r.zr)
	r.f.Close()
}
