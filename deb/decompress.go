package deb

import (
	"compress/bzip2"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
	"github.com/ulikunitz/xz/lzma"
)

// Compression names the compressor of a .deb member, from its name's
// extension.
type Compression string

const (
	None  Compression = ""
	Gzip  Compression = ".gz"
	XZ    Compression = ".xz"
	Zstd  Compression = ".zst"
	Bzip2 Compression = ".bz2"
	LZMA  Compression = ".lzma"
)

func (c Compression) String() string {
	if c == None {
		return "none"
	}
	return string(c[1:])
}

// compressionOf maps a member-name suffix (after "control.tar"/"data.tar")
// to its compressor; ok is false for anything dpkg would not know.
func compressionOf(ext string) (Compression, bool) {
	switch c := Compression(ext); c {
	case None, Gzip, XZ, Zstd, Bzip2, LZMA:
		return c, true
	}
	return "", false
}

// Decoders are pooled: a zstd decoder holds a few MB of window and tables,
// a gzip reader 40 KB; a build opens hundreds of members.
var (
	zstdPool = sync.Pool{New: func() any {
		// Concurrency 1 decodes synchronously in the caller's goroutine:
		// parallelism comes from decoding several packages at once, and no
		// goroutine is left behind if a pooled decoder is dropped by the GC.
		d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1))
		if err != nil {
			// Only invalid options make NewReader fail.
			panic(fmt.Sprintf("zstd.NewReader: %v", err))
		}
		return d
	}}
	gzipPool sync.Pool // *gzip.Reader
)

const maxLZMADict = 256 << 20

// decompressor is a decompressing reader and the function that returns its
// resources to the pools.
type decompressor struct {
	io.Reader
	release func()
}

// newDecompressor starts decompressing r. klauspost's gzip (about 1.5x the
// standard library's speed, see BenchmarkGzip) and zstd; ulikunitz's xz and
// lzma; the standard library's bzip2.
func newDecompressor(c Compression, r io.Reader) (decompressor, error) {
	d, err := openDecoder(c, r)
	if err != nil {
		return decompressor{}, decodeError(c, err)
	}
	if c != None {
		d.Reader = &decodeErrors{r: d.Reader, c: c}
	}
	return d, nil
}

// decodeErrors says that an error came from decompressing, since the
// decoders' own messages ("unexpected EOF", "maximum output size
// exceeded") do not.
type decodeErrors struct {
	r io.Reader
	c Compression
}

func (e *decodeErrors) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF {
		err = decodeError(e.c, err)
	}
	return n, err
}

func decodeError(c Compression, err error) error {
	var t *truncatedError
	if errors.As(err, &t) {
		return err
	}
	return fmt.Errorf("corrupt %s data: %w", c, err)
}

func openDecoder(c Compression, r io.Reader) (decompressor, error) {
	switch c {
	case None:
		return decompressor{Reader: r, release: func() {}}, nil
	case Gzip:
		if z, ok := gzipPool.Get().(*gzip.Reader); ok {
			if err := z.Reset(r); err != nil {
				gzipPool.Put(z)
				return decompressor{}, err
			}
			return decompressor{Reader: z, release: func() { gzipPool.Put(z) }}, nil
		}
		z, err := gzip.NewReader(r)
		if err != nil {
			return decompressor{}, err
		}
		return decompressor{Reader: z, release: func() { gzipPool.Put(z) }}, nil
	case XZ:
		// SingleStream makes the reader insist on EOF after the first
		// stream; it is no faster (BenchmarkXZ/singlestream), and xz(1) and
		// dpkg accept concatenated streams, so keep the default.
		z, err := xz.ReaderConfig{}.NewReader(r)
		if err != nil {
			return decompressor{}, err
		}
		return decompressor{Reader: z, release: func() {}}, nil
	case Zstd:
		z := zstdPool.Get().(*zstd.Decoder)
		if err := z.Reset(r); err != nil {
			zstdPool.Put(z)
			return decompressor{}, err
		}
		return decompressor{Reader: z, release: func() {
			// Drop the reference to r before pooling.
			_ = z.Reset(nil)
			zstdPool.Put(z)
		}}, nil
	case Bzip2:
		return decompressor{Reader: bzip2.NewReader(r), release: func() {}}, nil
	case LZMA:
		// The .lzma header has no checksum, and the reader allocates the
		// dictionary it states up front; bound it (encoders use at most
		// 64 MiB).
		z, err := lzma.ReaderConfig{DictCap: maxLZMADict}.NewReader(r)
		if err != nil {
			return decompressor{}, err
		}
		return decompressor{Reader: z, release: func() {}}, nil
	}
	return decompressor{}, fmt.Errorf("unknown compression %q", string(c))
}
