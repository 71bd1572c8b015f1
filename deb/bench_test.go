package deb

import (
	"archive/tar"
	"bytes"
	stdgzip "compress/gzip"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	blakesmith "github.com/blakesmith/ar"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// Benchmarks. The ones on real packages read $DEBSTRAP_BENCH_DEBS (a
// directory of .debs) or apt's cache, and skip when there are none:
//
//	DEBSTRAP_BENCH_DEBS=/some/dir go test -run - -bench . ./deb/
//
// MB/s is of decompressed data.tar; "in-MB/s" of the compressed member.

type benchDeb struct {
	name   string
	raw    []byte // whole .deb
	member []byte // the compressed data member
	comp   Compression
	size   int64 // decompressed data.tar size
}

var (
	benchOnce sync.Once
	benchSet  []benchDeb
	benchErr  error
)

// loadBenchDebs reads the real packages into memory, so that disk speed is
// not measured.
func loadBenchDebs(b *testing.B) []benchDeb {
	paths := benchDebs(b)
	benchOnce.Do(func() {
		for _, p := range paths {
			raw, err := os.ReadFile(p)
			if err != nil {
				benchErr = err
				return
			}
			bd := benchDeb{name: filepath.Base(p), raw: raw}
			d, err := NewReader(bytes.NewReader(raw), p)
			if err != nil {
				benchErr = err
				return
			}
			h, err := d.nextMember() // NewReader stopped at the control member

			if err != nil {
				benchErr = err
				return
			}
			bd.comp, _ = compressionOf(strings.TrimPrefix(h.Name, "data.tar"))
			bd.member = make([]byte, h.Size)
			if _, err := io.ReadFull(d.ar, bd.member); err != nil {
				benchErr = err
				return
			}
			dec, err := newDecompressor(bd.comp, bytes.NewReader(bd.member))
			if err != nil {
				benchErr = err
				return
			}
			bd.size, benchErr = io.Copy(io.Discard, dec)
			dec.release()
			if benchErr != nil {
				return
			}
			benchSet = append(benchSet, bd)
		}
	})
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	return benchSet
}

func byComp(set []benchDeb) map[Compression][]benchDeb {
	m := map[Compression][]benchDeb{}
	for _, d := range set {
		m[d.comp] = append(m[d.comp], d)
	}
	return m
}

func sizes(set []benchDeb) (in, out int64) {
	for _, d := range set {
		in += int64(len(d.member))
		out += d.size
	}
	return in, out
}

// unpackAll is what the unpacker does minus writing files: control, then
// every data entry's content.
func unpackAll(b *testing.B, bd benchDeb) {
	d, err := NewReader(bytes.NewReader(bd.raw), bd.name)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := d.Control(); err != nil {
		b.Fatal(err)
	}
	tr, err := d.Data()
	if err != nil {
		b.Fatal(err)
	}
	for {
		_, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, tr); err != nil {
			b.Fatal(err)
		}
	}
	d.Close()
}

// BenchmarkDebs reads whole packages, one after the other (serial) and
// with one worker per CPU (parallel), grouped by data compression.
func BenchmarkDebs(b *testing.B) {
	for comp, set := range byComp(loadBenchDebs(b)) {
		in, out := sizes(set)
		b.Run(comp.String()+"/serial", func(b *testing.B) {
			b.SetBytes(out)
			for range b.N {
				for _, bd := range set {
					unpackAll(b, bd)
				}
			}
			b.ReportMetric(float64(in)*float64(b.N)/b.Elapsed().Seconds()/1e6, "in-MB/s")
		})
		b.Run(comp.String()+"/parallel", func(b *testing.B) {
			b.SetBytes(out)
			for range b.N {
				work := make(chan benchDeb)
				var wg sync.WaitGroup
				for range runtime.GOMAXPROCS(0) {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for bd := range work {
							unpackAll(b, bd)
						}
					}()
				}
				for _, bd := range set {
					work <- bd
				}
				close(work)
				wg.Wait()
			}
			b.ReportMetric(float64(in)*float64(b.N)/b.Elapsed().Seconds()/1e6, "in-MB/s")
		})
	}
}

// BenchmarkDecompress compares the Go decoders with the C tools on the
// same data members (the tools are run as subprocesses, input and output
// through pipes; the startup of ~50 processes is included, it is small).
func BenchmarkDecompress(b *testing.B) {
	groups := byComp(loadBenchDebs(b))
	run := func(name string, set []benchDeb, decode func(b *testing.B, member []byte)) {
		if len(set) == 0 {
			return
		}
		in, out := sizes(set)
		b.Run(name, func(b *testing.B) {
			b.SetBytes(out)
			for range b.N {
				for _, bd := range set {
					decode(b, bd.member)
				}
			}
			b.ReportMetric(float64(in)*float64(b.N)/b.Elapsed().Seconds()/1e6, "in-MB/s")
		})
	}
	copyAll := func(b *testing.B, r io.Reader) {
		if _, err := io.Copy(io.Discard, r); err != nil {
			b.Fatal(err)
		}
	}
	command := func(tool string) func(b *testing.B, member []byte) {
		return func(b *testing.B, member []byte) {
			cmd := exec.Command(tool, "-dc")
			cmd.Stdin = bytes.NewReader(member)
			cmd.Stdout = io.Discard
			if err := cmd.Run(); err != nil {
				b.Fatal(err)
			}
		}
	}
	run("xz/ulikunitz", groups[XZ], func(b *testing.B, m []byte) {
		r, err := xz.NewReader(bytes.NewReader(m))
		if err != nil {
			b.Fatal(err)
		}
		copyAll(b, r)
	})
	run("xz/ulikunitz-singlestream", groups[XZ], func(b *testing.B, m []byte) {
		r, err := xz.ReaderConfig{SingleStream: true}.NewReader(bytes.NewReader(m))
		if err != nil {
			b.Fatal(err)
		}
		copyAll(b, r)
	})
	if _, err := exec.LookPath("xz"); err == nil {
		run("xz/xz-command", groups[XZ], command("xz"))
	}
	run("zst/klauspost", groups[Zstd], func(b *testing.B, m []byte) {
		d := zstdPool.Get().(*zstd.Decoder)
		if err := d.Reset(bytes.NewReader(m)); err != nil {
			b.Fatal(err)
		}
		copyAll(b, d)
		zstdPool.Put(d)
	})
	if _, err := exec.LookPath("zstd"); err == nil {
		run("zst/zstd-command", groups[Zstd], command("zstd"))
	}
	run("gz/klauspost", groups[Gzip], func(b *testing.B, m []byte) {
		r, err := gzip.NewReader(bytes.NewReader(m))
		if err != nil {
			b.Fatal(err)
		}
		copyAll(b, r)
	})
	run("gz/stdlib", groups[Gzip], func(b *testing.B, m []byte) {
		r, err := stdgzip.NewReader(bytes.NewReader(m))
		if err != nil {
			b.Fatal(err)
		}
		copyAll(b, r)
	})
}

// benchPayload is realistic tar data for the hermetic benchmarks: the Go
// tree's sources and a binary.
func benchPayload(b *testing.B) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	root := runtime.GOROOT()
	add := func(p string) {
		data, err := os.ReadFile(p)
		if err != nil {
			return
		}
		tw.WriteHeader(&tar.Header{Name: p, Mode: 0o644, Size: int64(len(data))})
		tw.Write(data)
	}
	add(filepath.Join(root, "bin", "gofmt"))
	filepath.WalkDir(filepath.Join(root, "src", "net"), func(p string, e os.DirEntry, err error) error {
		if err == nil && e.Type().IsRegular() {
			add(p)
		}
		return nil
	})
	tw.Close()
	if buf.Len() < 1<<20 {
		b.Skip("no Go tree to build a payload from")
	}
	return buf.Bytes()
}

// BenchmarkGzip: klauspost's gzip against the standard library's, on the
// same stream (written by the standard library at the default level).
func BenchmarkGzip(b *testing.B) {
	payload := benchPayload(b)
	var z bytes.Buffer
	w := stdgzip.NewWriter(&z)
	w.Write(payload)
	w.Close()
	b.Run("klauspost", func(b *testing.B) {
		b.SetBytes(int64(len(payload)))
		var r gzip.Reader
		for range b.N {
			if err := r.Reset(bytes.NewReader(z.Bytes())); err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, &r)
		}
	})
	b.Run("stdlib", func(b *testing.B) {
		b.SetBytes(int64(len(payload)))
		var r stdgzip.Reader
		for range b.N {
			if err := r.Reset(bytes.NewReader(z.Bytes())); err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, &r)
		}
	})
}

// BenchmarkXZ: the ulikunitz reader's options on the same stream.
func BenchmarkXZ(b *testing.B) {
	payload := benchPayload(b)
	var z bytes.Buffer
	w, err := xz.NewWriter(&z)
	if err != nil {
		b.Fatal(err)
	}
	w.Write(payload)
	w.Close()
	for _, tc := range []struct {
		name string
		cfg  xz.ReaderConfig
	}{{"default", xz.ReaderConfig{}}, {"singlestream", xz.ReaderConfig{SingleStream: true}}} {
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(int64(len(payload)))
			for range b.N {
				r, err := tc.cfg.NewReader(bytes.NewReader(z.Bytes()))
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, r)
			}
		})
	}
}

// BenchmarkAr: our ar reader against github.com/blakesmith/ar on an
// archive shaped like a .deb with a large data member.
func BenchmarkAr(b *testing.B) {
	raw := arFile(arMember{Name: "debian-binary", Data: []byte("2.0\n")},
		arMember{Name: "control.tar.xz", Data: bytes.Repeat([]byte("c"), 3001)},
		arMember{Name: "data.tar.xz", Data: bytes.Repeat([]byte("d"), 8<<20)})
	b.Run("own", func(b *testing.B) {
		b.SetBytes(int64(len(raw)))
		for range b.N {
			a, err := newArReader(bytes.NewReader(raw))
			if err != nil {
				b.Fatal(err)
			}
			for {
				if _, err := a.next(); err == io.EOF {
					break
				} else if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, a)
			}
		}
	})
	b.Run("blakesmith", func(b *testing.B) {
		b.SetBytes(int64(len(raw)))
		for range b.N {
			a := blakesmith.NewReader(bytes.NewReader(raw))
			for {
				if _, err := a.Next(); err == io.EOF {
					break
				} else if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, a)
			}
		}
	})
}

// BenchmarkPayload justifies the cache's stored payloads (bootstrap's
// payloadKind): reading the real xz data members, against reading the same
// decompressed tar re-compressed with zstd at its fastest level (what a
// warm build reads), and the cost of writing that form (paid once, by the
// cold build).
func BenchmarkPayload(b *testing.B) {
	set := byComp(loadBenchDebs(b))[XZ]
	if len(set) == 0 {
		b.Skip("no xz-compressed .debs")
	}
	in, out := sizes(set)
	plain := make([][]byte, len(set))
	stored := make([][]byte, len(set))
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))
	if err != nil {
		b.Fatal(err)
	}
	var storedSize int64
	for i, bd := range set {
		r, err := xz.NewReader(bytes.NewReader(bd.member))
		if err != nil {
			b.Fatal(err)
		}
		if plain[i], err = io.ReadAll(r); err != nil {
			b.Fatal(err)
		}
		stored[i] = enc.EncodeAll(plain[i], nil)
		storedSize += int64(len(stored[i]))
	}
	b.Logf("%d xz members: %d bytes compressed, %d decompressed, %d as stored payloads", len(set), in, out, storedSize)
	b.Run("read/xz-member", func(b *testing.B) {
		b.SetBytes(out)
		for range b.N {
			for _, bd := range set {
				r, err := xz.NewReader(bytes.NewReader(bd.member))
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.Copy(io.Discard, r); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("read/zstd-payload", func(b *testing.B) {
		b.SetBytes(out)
		d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1))
		if err != nil {
			b.Fatal(err)
		}
		for range b.N {
			for _, s := range stored {
				if err := d.Reset(bytes.NewReader(s)); err != nil {
					b.Fatal(err)
				}
				if _, err := io.Copy(io.Discard, d); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("write/zstd-payload", func(b *testing.B) {
		b.SetBytes(out)
		for range b.N {
			for _, p := range plain {
				enc.Reset(io.Discard)
				if _, err := enc.Write(p); err != nil {
					b.Fatal(err)
				}
				if err := enc.Close(); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}
