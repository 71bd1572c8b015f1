package dpkg

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/debstrap/debstrap/deb"
)

// dirRoot writes into a real directory, as the staging root will.
type dirRoot string

func (d dirRoot) WriteFile(name string, data []byte, mode int64) error {
	p := filepath.Join(string(d), name)
	if err := os.WriteFile(p, data, os.FileMode(mode)); err != nil {
		return err
	}
	return os.Chmod(p, os.FileMode(mode)) // not reduced by umask
}

func (d dirRoot) MkdirAll(name string, mode int64) error {
	return os.MkdirAll(filepath.Join(string(d), name), os.FileMode(mode))
}

// memRoot keeps what is written, for golden comparisons.
type memRoot struct {
	files map[string]memFile
	dirs  map[string]int64
}

type memFile struct {
	data []byte
	mode int64
}

func newMemRoot() *memRoot {
	return &memRoot{files: map[string]memFile{}, dirs: map[string]int64{}}
}

func (m *memRoot) WriteFile(name string, data []byte, mode int64) error {
	if _, dup := m.files[name]; dup {
		return fmt.Errorf("%s written twice", name)
	}
	m.files[name] = memFile{append([]byte(nil), data...), mode}
	return nil
}

func (m *memRoot) MkdirAll(name string, mode int64) error {
	m.dirs[name] = mode
	return nil
}

// dump renders the tree as one text: each file's path, mode and content.
func (m *memRoot) dump() string {
	var names []string
	for n := range m.files {
		names = append(names, n)
	}
	for n := range m.dirs {
		names = append(names, n+"/")
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		if strings.HasSuffix(n, "/") {
			fmt.Fprintf(&b, "=== %s %04o\n", n, m.dirs[strings.TrimSuffix(n, "/")])
			continue
		}
		f := m.files[n]
		fmt.Fprintf(&b, "=== %s %04o\n%s", n, f.mode, f.data)
		if len(f.data) > 0 && !bytes.HasSuffix(f.data, []byte("\n")) {
			b.WriteString("\\ no newline at end\n")
		}
	}
	return b.String()
}

// entry is one data archive member of a test package.
type entry struct {
	name string // "./usr/bin/x", "./usr/"
	typ  byte
	body string // content, or link target
}

// testPkg describes a synthetic package.
type testPkg struct {
	control string            // control file text
	members map[string]string // other control members: conffiles, triggers, postrm, …
	data    []entry
}

func defaultData(files ...entry) []entry {
	return append([]entry{{name: "./", typ: tar.TypeDir}}, files...)
}

// buildDeb assembles a .deb (ar, control.tar.gz, data.tar.gz) with the
// data members in exactly the given order.
func buildDeb(t testing.TB, p testPkg) []byte {
	t.Helper()
	mtime := time.Unix(1700000000, 0)
	tgz := func(write func(tw *tar.Writer)) []byte {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		tw := tar.NewWriter(zw)
		write(tw)
		if err := tw.Close(); err != nil {
			t.Fatal(err)
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	control := tgz(func(tw *tar.Writer) {
		add := func(name, body string, mode int64) {
			h := &tar.Header{Name: "./" + name, Mode: mode, Size: int64(len(body)), ModTime: mtime, Typeflag: tar.TypeReg, Uname: "root", Gname: "root"}
			if err := tw.WriteHeader(h); err != nil {
				t.Fatal(err)
			}
			io.WriteString(tw, body)
		}
		tw.WriteHeader(&tar.Header{Name: "./", Mode: 0o755, ModTime: mtime, Typeflag: tar.TypeDir})
		add("control", p.control, 0o644)
		var names []string
		for n := range p.members {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			mode := int64(0o644)
			switch n {
			case "preinst", "postinst", "prerm", "postrm", "config":
				mode = 0o755
			}
			add(n, p.members[n], mode)
		}
	})
	data := tgz(func(tw *tar.Writer) {
		for _, e := range p.data {
			h := &tar.Header{Name: e.name, ModTime: mtime, Typeflag: e.typ, Uname: "root", Gname: "root"}
			switch e.typ {
			case tar.TypeDir:
				h.Mode = 0o755
			case tar.TypeReg:
				h.Mode, h.Size = 0o644, int64(len(e.body))
			case tar.TypeSymlink, tar.TypeLink:
				h.Mode, h.Linkname = 0o777, e.body
				if e.typ == tar.TypeLink {
					h.Mode = 0o644
				}
			case tar.TypeFifo:
				h.Mode = 0o644
			}
			if err := tw.WriteHeader(h); err != nil {
				t.Fatal(err)
			}
			if e.typ == tar.TypeReg {
				io.WriteString(tw, e.body)
			}
		}
	})
	var ar bytes.Buffer
	ar.WriteString("!<arch>\n")
	member := func(name string, body []byte) {
		fmt.Fprintf(&ar, "%-16s%-12d%-6d%-6d%-8s%-10d`\n", name, 1700000000, 0, 0, "100644", len(body))
		ar.Write(body)
		if len(body)%2 == 1 {
			ar.WriteByte('\n')
		}
	}
	member("debian-binary", []byte("2.0\n"))
	member("control.tar.gz", control)
	member("data.tar.gz", data)
	return ar.Bytes()
}

// readPackage reads a .deb into a Package, with MD5 digests of regular
// files computed from the data as an unpacker would.
func readPackage(t testing.TB, r io.Reader, name string, state State) Package {
	t.Helper()
	d, err := deb.NewReader(r, name)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctrl, err := d.Control()
	if err != nil {
		t.Fatal(err)
	}
	tr, err := d.Data()
	if err != nil {
		t.Fatal(err)
	}
	var files []File
	sums := map[string]string{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		f := File{Name: h.Name, Type: h.Typeflag}
		switch h.Typeflag {
		case tar.TypeReg:
			m := md5.New()
			if _, err := io.Copy(m, tr); err != nil {
				t.Fatal(err)
			}
			f.MD5 = hex.EncodeToString(m.Sum(nil))
			sums[listName(h.Name)] = f.MD5
		case tar.TypeLink:
			f.MD5 = sums[listName(h.Linkname)]
		}
		files = append(files, f)
	}
	return Package{Control: ctrl, Files: files, State: state}
}

func addDeb(t testing.TB, db *DB, debBytes []byte, state State) {
	t.Helper()
	if err := db.Add(readPackage(t, bytes.NewReader(debBytes), "test.deb", state)); err != nil {
		t.Fatal(err)
	}
}
