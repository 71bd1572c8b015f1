package export

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// Compression settings are fixed: the output must not depend on the
// machine. Levels are those of the gzip, xz and zstd command-line tools.
const (
	gzipLevel = 6
	// zstdConcurrency 2 only pipelines block encoding with writing; the
	// bitstream is that of the single-threaded encoder. (Concurrent blocks,
	// which would change it, stay off.)
	zstdConcurrency = 2
)

// tarName is the member name of path p as mmdebstrap's tarballs have it
// (GNU tar -C ROOT .): "./", "./etc/", "./etc/passwd".
func tarName(p string, dir bool) string {
	if p == "/" {
		return "./"
	}
	if dir {
		return "." + p + "/"
	}
	return "." + p
}

// xattrPrefix is the PAX record prefix GNU tar and bsdtar use for xattrs.
const xattrPrefix = "SCHILY.xattr."

// header is the tar header of an item: numeric owners only, seconds-only
// mtime and no atime/ctime, so no PAX record is written unless a long name,
// a large number or an xattr needs one.
func (p *plan) header(i int) *tar.Header {
	it := &p.items[i]
	h := &tar.Header{
		Typeflag: it.Type,
		Name:     tarName(it.Path, it.Type == tar.TypeDir),
		Mode:     it.Mode,
		Uid:      it.Uid,
		Gid:      it.Gid,
		ModTime:  it.ModTime,
		Format:   tar.FormatPAX,
	}
	switch it.Type {
	case tar.TypeReg:
		h.Size = it.Size
	case tar.TypeSymlink:
		h.Linkname = it.Linkname
	case tar.TypeLink:
		h.Linkname = tarName(p.items[it.link].Path, false)
	case tar.TypeChar, tar.TypeBlock:
		h.Devmajor, h.Devminor = it.Devmajor, it.Devminor
	}
	if len(it.Xattrs) > 0 && it.Type != tar.TypeLink {
		h.PAXRecords = make(map[string]string, len(it.Xattrs))
		for k, v := range it.Xattrs {
			h.PAXRecords[xattrPrefix+k] = v
		}
	}
	return h
}

// ctxReader fails reads once ctx is done, so a long file copy stops on
// cancellation.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(b []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(b)
}

// copyContent copies exactly size bytes of the regular file path from src
// to w, and fails if the file has another length: a tar with a wrong size
// would be corrupt.
func copyContent(ctx context.Context, w io.Writer, src Source, path string, size int64, buf []byte) error {
	rc, err := src.Open(path)
	if err != nil {
		return fmt.Errorf("open content of %s: %w", path, err)
	}
	defer rc.Close()
	var n int64
	if wf, ok := w.(*os.File); ok {
		// File to file (directory output): let the kernel copy, or reflink,
		// with copy_file_range; ctx is checked between files.
		n, err = io.CopyN(wf, rc, size)
		if err == io.EOF {
			err = nil
		}
	} else {
		n, err = io.CopyBuffer(w, io.LimitReader(ctxReader{ctx, rc}, size), buf)
	}
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("copy content of %s: %w", path, err)
	}
	if n != size {
		return fmt.Errorf("content of %s has %d bytes, its entry says %d", path, n, size)
	}
	var one [1]byte
	if m, _ := io.ReadFull(rc, one[:]); m > 0 {
		return fmt.Errorf("content of %s is longer than the %d bytes its entry says", path, size)
	}
	return nil
}

// writeTar writes the root as a tar stream to w.
func writeTar(ctx context.Context, w io.Writer, src Source, p *plan, progress func(done, total int64)) error {
	tw := tar.NewWriter(w)
	buf := make([]byte, 256<<10)
	var done int64
	if progress != nil {
		progress(0, p.total)
	}
	for i := range p.items {
		if err := ctx.Err(); err != nil {
			return err
		}
		it := &p.items[i]
		if err := tw.WriteHeader(p.header(i)); err != nil {
			return fmt.Errorf("tar header of %s: %w", it.Path, err)
		}
		if it.Type != tar.TypeReg || it.Size == 0 {
			continue
		}
		if err := copyContent(ctx, tw, src, it.content, it.Size, buf); err != nil {
			return err
		}
		done += it.Size
		if progress != nil {
			progress(done, p.total)
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("finish tar: %w", err)
	}
	return nil
}

// newGzip returns a gzip writer whose header has no name and mtime 0.
// klauspost's writer (v1.20.3) stores the zero time.Time as 2042-07-14
// rather than 0, unlike compress/gzip, so the mtime is set explicitly.
func newGzip(w io.Writer) (*gzip.Writer, error) {
	zw, err := gzip.NewWriterLevel(w, gzipLevel)
	if err != nil {
		return nil, err
	}
	zw.ModTime = time.Unix(0, 0)
	return zw, nil
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// compressor wraps w in the compressor of format.
func compressor(format Format, w io.Writer) (io.WriteCloser, error) {
	switch format {
	case FormatTar:
		return nopCloser{w}, nil
	case FormatTarGz:
		return newGzip(w)
	case FormatTarXz:
		// xz's defaults: LZMA2 with an 8 MiB dictionary (xz -6), CRC64.
		return xz.WriterConfig{DictCap: 8 << 20, CheckSum: xz.CRC64}.NewWriter(w)
	case FormatTarZst:
		return zstd.NewWriter(w,
			zstd.WithEncoderLevel(zstd.SpeedDefault),
			zstd.WithEncoderConcurrency(zstdConcurrency),
			zstd.WithEncoderCRC(true))
	}
	return nil, fmt.Errorf("format %s is not a tarball", format)
}

// writeTarball writes a (compressed) tarball to target.
func writeTarball(ctx context.Context, src Source, p *plan, target string, format Format, opts Options) (digest string, err error) {
	out, err := openOutput(ctx, target, opts.Stdout)
	if err != nil {
		return "", err
	}
	committed := false
	defer func() {
		if !committed {
			out.abort()
		}
	}()
	h := sha256.New()
	bw := newAsyncWriter(io.MultiWriter(out, h), 1<<20, 4)
	defer bw.Close()
	cw, err := compressor(format, bw)
	if err != nil {
		return "", err
	}
	if err := writeTar(ctx, cw, src, p, opts.Progress); err != nil {
		cw.Close()
		return "", err
	}
	if err := cw.Close(); err != nil {
		return "", fmt.Errorf("finish %s compression: %w", format, err)
	}
	if err := bw.Flush(); err != nil {
		return "", fmt.Errorf("write %s: %w", out.name(), err)
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if err := out.commit(); err != nil {
		return "", err
	}
	committed = true
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}
