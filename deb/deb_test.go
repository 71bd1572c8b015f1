package deb

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

type entry struct {
	Name, Link string
	Type       byte
	Mode       int64
	Body       string
}

// readAll reads a whole .deb through the public API.
func readAll(t testing.TB, r io.Reader, name string) (*Control, []entry, error) {
	t.Helper()
	d, err := NewReader(r, name)
	if err != nil {
		return nil, nil, err
	}
	defer d.Close()
	c, err := d.Control()
	if err != nil {
		return nil, nil, err
	}
	es, err := readData(d)
	return c, es, err
}

func readData(d *Reader) ([]entry, error) {
	tr, err := d.Data()
	if err != nil {
		return nil, err
	}
	var es []entry
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return es, err
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return es, err
		}
		es = append(es, entry{Name: h.Name, Link: h.Linkname, Type: h.Typeflag, Mode: h.Mode, Body: string(b)})
	}
	return es, nil
}

func wantEntries(files []tfile) []entry {
	var es []entry
	for _, f := range files {
		e := entry{Name: f.Name, Link: f.Link, Type: f.Type, Mode: f.Mode, Body: f.Body}
		if e.Type == 0 {
			e.Type = tar.TypeReg
		}
		if e.Mode == 0 {
			e.Mode = 0o644
		}
		es = append(es, e)
	}
	return es
}

var allComps = []Compression{None, Gzip, XZ, Zstd, Bzip2, LZMA}

func TestCompressions(t *testing.T) {
	for _, cc := range allComps {
		for _, dc := range allComps {
			t.Run("control"+cc.String()+"/data"+dc.String(), func(t *testing.T) {
				raw := tdeb{ControlMore: sampleControlMore, Data: sampleData, CComp: cc, DComp: dc}.build(t)
				c, es, err := readAll(t, bytes.NewReader(raw), "hello.deb")
				if err != nil {
					t.Fatal(err)
				}
				checkSampleControl(t, c)
				if want := wantEntries(sampleData); !reflect.DeepEqual(es, want) {
					t.Errorf("data entries:\n got %+v\nwant %+v", es, want)
				}
			})
		}
	}
}

func checkSampleControl(t *testing.T, c *Control) {
	t.Helper()
	if string(c.Raw) != defaultControl {
		t.Errorf("Raw = %q", c.Raw)
	}
	var names []string
	for _, f := range c.Fields {
		names = append(names, f.Name)
	}
	if want := []string{"Package", "Version", "Architecture", "Maintainer", "Description"}; !reflect.DeepEqual(names, want) {
		t.Errorf("field order %v, want %v", names, want)
	}
	if got, want := c.Get("description"), "greeting\n more text\n .\n end"; got != want {
		t.Errorf("Description = %q, want %q", got, want)
	}
	if got := c.Files["postinst"]; got.Mode != 0o755 || got.Data == nil {
		t.Errorf("postinst = %+v", got)
	}
	if got := c.Files["md5sums"]; got.Mode != 0o644 {
		t.Errorf("md5sums mode %o", got.Mode)
	}
	if !reflect.DeepEqual(c.Conffiles, []string{"/etc/hello.conf"}) || !reflect.DeepEqual(c.RemoveOnUpgrade, []string{"/etc/old.conf"}) {
		t.Errorf("conffiles %q, remove-on-upgrade %q", c.Conffiles, c.RemoveOnUpgrade)
	}
	if got := c.MD5Sums["usr/bin/hello"]; got != "0123456789abcdef0123456789abcdef" || len(c.MD5Sums) != 2 {
		t.Errorf("MD5Sums = %v", c.MD5Sums)
	}
}

// dpkg-deb accepts GNU "name/" and skips "_" members; odd sizes are
// padded, except possibly the last member.
func TestArVariants(t *testing.T) {
	c, d := tdeb{Data: sampleData, CComp: XZ, DComp: Gzip}.members(t)
	bsd := func(m arMember) arMember {
		return arMember{Name: "#1/" + strconv.Itoa(len(m.Name)), Data: append([]byte(m.Name), m.Data...)}
	}
	gnu := func(m arMember) arMember { return arMember{Name: m.Name + "/", Data: m.Data} }
	db := arMember{Name: "debian-binary", Data: []byte("2.0\n")}
	odd := arMember{Name: "_extra", Data: []byte("odd")}
	tests := []struct {
		name string
		raw  []byte
	}{
		{"gnu", arFile(gnu(db), gnu(c), gnu(d))},
		{"bsd", arFile(bsd(db), bsd(c), bsd(d))},
		{"gnu-name-table", arFile(
			arMember{Name: "//", Data: []byte("debian-binary/\ncontrol.tar.xz/\ndata.tar.gz/\n")},
			arMember{Name: "/0", Data: db.Data}, arMember{Name: "/15", Data: c.Data}, arMember{Name: "/31", Data: d.Data})},
		{"underscore-members", arFile(db, odd, c, odd, d, odd)},
		{"format-2.1-extra-lines", arFile(arMember{Name: "debian-binary", Data: []byte("2.1\nmore\n")}, c, d)},
		{"no-final-padding", bytes.TrimSuffix(arFile(db, c, arMember{Name: "data.tar.gz", Data: append(d.Data, make([]byte, 1-len(d.Data)%2)...)}), []byte("\n"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, es, err := readAll(t, bytes.NewReader(tt.raw), "v.deb")
			if err != nil {
				t.Fatal(err)
			}
			if want := wantEntries(sampleData); !reflect.DeepEqual(es, want) {
				t.Errorf("entries %+v", es)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	c, d := tdeb{Data: sampleData, CComp: Gzip, DComp: XZ}.members(t)
	db := arMember{Name: "debian-binary", Data: []byte("2.0\n")}
	good := arFile(db, c, d)
	corrupt := func(m arMember) arMember {
		b := bytes.Clone(m.Data)
		for i := len(b) / 3; i < len(b)/3+16 && i < len(b); i++ {
			b[i] ^= 0x5a
		}
		return arMember{Name: m.Name, Data: b}
	}
	_, dgz := tdeb{Data: sampleData, DComp: Gzip}.members(t)
	_, dzst := tdeb{Data: sampleData, DComp: Zstd}.members(t)
	garbage := func(name string) arMember {
		return arMember{Name: name, Data: bytes.Repeat([]byte("garbage!"), 100)}
	}
	tests := []struct {
		name   string
		raw    []byte
		member string // expected in the error
		want   string
	}{
		{"empty", nil, "", "empty file"},
		{"not-ar", []byte("hello world, this is text\n"), "", "not an ar archive"},
		{"only-magic", []byte(arMagic), "", "empty ar archive"},
		{"version-3", arFile(arMember{Name: "debian-binary", Data: []byte("3.0\n")}, c, d), "debian-binary", "format version 3.0 is not supported"},
		{"version-no-newline", arFile(arMember{Name: "debian-binary", Data: []byte("2.0")}, c, d), "debian-binary", "no newline"},
		{"version-garbage", arFile(arMember{Name: "debian-binary", Data: []byte("two\n")}, c, d), "debian-binary", "invalid format version"},
		{"first-not-debian-binary", arFile(c, db, d), "control.tar.gz", "not a Debian binary package"},
		{"data-before-control", arFile(db, d, c), "data.tar.xz", "unexpected member before control.tar"},
		{"two-controls", arFile(db, c, c, d), "control.tar.gz", "second control member"},
		{"other-member", arFile(db, c, arMember{Name: "foo", Data: []byte("x")}, d), "foo", "unexpected member before data.tar"},
		{"no-data", arFile(db, c), "", "no data.tar member"},
		{"no-control", arFile(db), "", "no control.tar member"},
		{"unknown-data-compression", arFile(db, c, arMember{Name: "data.tar.lz4", Data: d.Data}), "data.tar.lz4", "unknown compression"},
		{"unknown-control-compression", arFile(db, arMember{Name: "control.tar.rar", Data: c.Data}, d), "control.tar.rar", "unknown compression"},
		{"corrupt-xz-data", arFile(db, c, corrupt(d)), "data.tar.xz", ""},
		{"corrupt-gz-data", arFile(db, c, corrupt(dgz)), "data.tar.gz", ""},
		{"corrupt-zst-data", arFile(db, c, corrupt(dzst)), "data.tar.zst", ""},
		{"garbage-xz", arFile(db, c, garbage("data.tar.xz")), "data.tar.xz", "xz"},
		{"garbage-gz", arFile(db, c, garbage("data.tar.gz")), "data.tar.gz", "gzip"},
		{"garbage-zst", arFile(db, c, garbage("data.tar.zst")), "data.tar.zst", ""},
		{"garbage-bz2", arFile(db, c, garbage("data.tar.bz2")), "data.tar.bz2", "bzip2"},
		{"garbage-control", arFile(db, garbage("control.tar.gz"), d), "control.tar.gz", "gzip"},
		{"trailing-garbage-in-data", arFile(db, c, arMember{Name: d.Name, Data: append(bytes.Clone(d.Data), "junk"...)}), "data.tar.xz", ""},
		{"bad-fmag", bytes.Replace(good, []byte("`\n"), []byte("XX"), 1), "", "bad header terminator"},
		{"bad-size", bytes.Replace(good, []byte("4         `\n"), []byte("4x        `\n"), 1), "", "bad size field"},
		{"no-control-file", arFile(db, arMember{Name: "control.tar", Data: buildTar(t, []tfile{{Name: "./md5sums"}})}, d), "control.tar", "no control file"},
		{"control-no-package", arFile(db, arMember{Name: "control.tar", Data: buildTar(t, []tfile{{Name: "./control", Body: "Version: 1\n"}})}, d), "control.tar", "no Package field"},
		{"control-bad-line", arFile(db, arMember{Name: "control.tar", Data: buildTar(t, []tfile{{Name: "./control", Body: "Package: a\nnonsense\n"}})}, d), "control.tar", "line 2: not a field"},
		{"control-symlink", arFile(db, arMember{Name: "control.tar", Data: buildTar(t, []tfile{{Name: "./control", Type: tar.TypeSymlink, Link: "/etc/passwd"}})}, d), "control.tar", "unexpected type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := readAll(t, bytes.NewReader(tt.raw), "bad.deb")
			if err == nil {
				t.Fatal("no error")
			}
			var de *Error
			if !errors.As(err, &de) {
				t.Fatalf("error %q (%T) is not a *deb.Error", err, err)
			}
			if de.File != "bad.deb" || de.Member != tt.member {
				t.Errorf("error %q names file %q member %q, want member %q", err, de.File, de.Member, tt.member)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
			t.Logf("%v", err)
		})
	}
}

// Every truncation of a .deb must give an error, never a silent success.
func TestTruncated(t *testing.T) {
	for _, dc := range []Compression{None, Gzip, XZ, Zstd} {
		t.Run(dc.String(), func(t *testing.T) {
			raw := tdeb{ControlMore: sampleControlMore, Data: sampleData, CComp: Gzip, DComp: dc}.build(t)
			for n := 0; n < len(raw)-1; n++ { // the last byte is optional padding
				_, _, err := readAll(t, bytes.NewReader(raw[:n]), "cut.deb")
				if err == nil {
					t.Fatalf("truncated to %d of %d bytes: no error", n, len(raw))
				}
				var de *Error
				if !errors.As(err, &de) && !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Fatalf("truncated to %d: error %q (%T) is not a *deb.Error", n, err, err)
				}
			}
			_, _, err := readAll(t, bytes.NewReader(raw[:len(raw)/2]), "cut.deb")
			t.Logf("at half: %v", err)
		})
	}
}

func TestOrderOfCalls(t *testing.T) {
	raw := tdeb{Data: sampleData, CComp: XZ, DComp: Zstd}.build(t)
	// Data without Control skips the control member.
	d, err := NewReader(bytes.NewReader(raw), "x.deb")
	if err != nil {
		t.Fatal(err)
	}
	es, err := readData(d)
	if err != nil || len(es) != len(sampleData) {
		t.Fatalf("Data without Control: %d entries, %v", len(es), err)
	}
	if _, err := d.Control(); err == nil || !strings.Contains(err.Error(), "Control called after Data") {
		t.Errorf("Control after Data: %v", err)
	}
	d.Close()
	if _, err := d.Data(); err == nil {
		t.Error("Data after Close: no error")
	}
	if cm, dm := d.Members(); cm != "control.tar.xz" || dm != "data.tar.zst" {
		t.Errorf("Members = %q, %q", cm, dm)
	}
	// Close in the middle of the data releases the decoder; reading on is
	// an error, not a crash.
	d, _ = NewReader(bytes.NewReader(raw), "x.deb")
	tr, _ := d.Data()
	tr.Next()
	d.Close()
	if _, err := tr.Next(); err == nil {
		t.Error("Next after Close: no error")
	}
	if err := d.Finish(); err == nil {
		t.Error("Finish after Close: no error")
	}
}

// Finish reads to the end of the input, so a hash computed while
// streaming covers the whole file, trailing members included.
func TestFinishReadsEverything(t *testing.T) {
	c, d := tdeb{Data: sampleData, DComp: Gzip}.members(t)
	raw := arFile(arMember{Name: "debian-binary", Data: []byte("2.0\n")}, c, d, arMember{Name: "_sig", Data: bytes.Repeat([]byte("s"), 1000)})
	h := sha256.New()
	if _, _, err := readAll(t, io.TeeReader(bytes.NewReader(raw), h), "x.deb"); err != nil {
		t.Fatal(err)
	}
	if got, want := h.Sum(nil), sha256.Sum256(raw); !bytes.Equal(got, want[:]) {
		t.Error("hash of the bytes read differs from the file's")
	}
}

func TestOpen(t *testing.T) {
	p := filepath.Join(t.TempDir(), "hello_1.0-1_amd64.deb")
	if err := os.WriteFile(p, tdeb{ControlMore: sampleControlMore, Data: sampleData, CComp: XZ, DComp: XZ}.build(t), 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	c, err := d.Control()
	if err != nil {
		t.Fatal(err)
	}
	checkSampleControl(t, c)
	if _, err := readData(d); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(filepath.Join(t.TempDir(), "missing.deb")); err == nil || !strings.Contains(err.Error(), "missing.deb") {
		t.Errorf("Open of a missing file: %v", err)
	}
}

// Several packages at once share the decoder pools.
func TestConcurrent(t *testing.T) {
	var debs [][]byte
	for _, c := range []Compression{Gzip, XZ, Zstd, None} {
		debs = append(debs, tdeb{ControlMore: sampleControlMore, Data: sampleData, CComp: c, DComp: c}.build(t))
	}
	errs := make(chan error, 8*len(debs))
	for i := 0; i < 8; i++ {
		for _, raw := range debs {
			go func() {
				_, es, err := readAll(t, bytes.NewReader(raw), "c.deb")
				if err == nil && len(es) != len(sampleData) {
					err = errors.New("wrong entry count")
				}
				errs <- err
			}()
		}
	}
	for i := 0; i < cap(errs); i++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// Arbitrary input gives an error or a result, never a panic or a hang.
func FuzzReader(f *testing.F) {
	for _, c := range []Compression{None, Gzip, XZ, Zstd} {
		f.Add(tdeb{ControlMore: sampleControlMore, Data: sampleData, CComp: c, DComp: c}.build(f))
	}
	f.Add([]byte(arMagic + "debian-binary/  "))
	f.Fuzz(func(t *testing.T, raw []byte) {
		readAll(t, bytes.NewReader(raw), "fuzz.deb")
	})
}

func TestTeeData(t *testing.T) {
	for _, dc := range allComps {
		t.Run(dc.String(), func(t *testing.T) {
			raw := tdeb{Data: sampleData, DComp: dc}.build(t)
			d, err := NewReader(bytes.NewReader(raw), "x.deb")
			if err != nil {
				t.Fatal(err)
			}
			var tee bytes.Buffer
			d.TeeData(&tee)
			if _, err := readData(d); err != nil {
				t.Fatal(err)
			}
			if want := buildTar(t, sampleData); !bytes.Equal(tee.Bytes(), want) {
				t.Errorf("tee got %d bytes, want the %d of the decompressed member", tee.Len(), len(want))
			}
		})
	}
	t.Run("write error", func(t *testing.T) {
		d, err := NewReader(bytes.NewReader(tdeb{Data: sampleData, DComp: XZ}.build(t)), "x.deb")
		if err != nil {
			t.Fatal(err)
		}
		d.TeeData(failWriter{})
		if _, err := readData(d); err == nil || !strings.Contains(err.Error(), "disk full") {
			t.Errorf("err = %v, want the writer's", err)
		}
	})
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestTeeControl(t *testing.T) {
	raw := tdeb{ControlMore: sampleControlMore, Data: sampleData, CComp: XZ, DComp: Gzip}.build(t)
	d, err := NewReader(bytes.NewReader(raw), "x.deb")
	if err != nil {
		t.Fatal(err)
	}
	var tee bytes.Buffer
	d.TeeControl(&tee)
	want, err := d.Control()
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseControlArchive(&tee)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("control from the tee differs:\n got %+v\nwant %+v", got, want)
	}
	if _, err := ParseControlArchive(strings.NewReader("junk")); err == nil {
		t.Error("junk parsed as a control archive")
	}
}
