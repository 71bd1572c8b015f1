package native

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/binary"
	"path/filepath"
	"strings"
	"testing"

	"github.com/debstrap/debstrap/deb"
	"github.com/debstrap/debstrap/dpkg"
	"github.com/debstrap/debstrap/internal/testarchive"
	"github.com/debstrap/debstrap/rootfs"
)

// installed is a root with packages unpacked as the build pipeline leaves
// it: stage, database with every package Unpacked, control archives.
type installed struct {
	st   *rootfs.Stage
	db   *dpkg.DB
	pkgs []Pkg
}

// unpack builds debs and unpacks them in order into a new stage, the
// database written once, as bootstrap does before configuring.
func unpack(t *testing.T, debs ...testarchive.Deb) *installed {
	t.Helper()
	st, err := rootfs.Create(filepath.Join(t.TempDir(), "root"), rootfs.Options{Arch: "amd64", Epoch: testEpoch})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	in := &installed{st: st, db: dpkg.New("amd64", "i386")}
	for _, d := range debs {
		raw, err := testarchive.BuildDeb(d)
		if err != nil {
			t.Fatal(err)
		}
		r, err := deb.NewReader(bytes.NewReader(raw), d.Name+".deb")
		if err != nil {
			t.Fatal(err)
		}
		ctrl, err := r.Control()
		if err != nil {
			t.Fatal(err)
		}
		data, err := r.Data()
		if err != nil {
			t.Fatal(err)
		}
		rec := &recordTar{r: data, types: map[string]byte{}}
		name := d.Name
		if d.Architecture != "" && d.Architecture != "amd64" && d.Architecture != "all" {
			name += ":" + d.Architecture // as bootstrap unpacks a foreign package
		}
		res, err := st.Unpack(name, rec)
		if err != nil {
			t.Fatalf("unpack %s: %v", d.Name, err)
		}
		var files []dpkg.File
		for _, n := range rec.order {
			files = append(files, dpkg.File{Name: n, Type: rec.types[n], MD5: res.MD5[listPath(n)]})
		}
		if err := in.db.Add(dpkg.Package{Control: ctrl, Files: files, State: dpkg.Unpacked}); err != nil {
			t.Fatal(err)
		}
		in.pkgs = append(in.pkgs, Pkg{Control: ctrl})
	}
	if err := in.db.Write(dbRoot{st}); err != nil {
		t.Fatal(err)
	}
	return in
}

func listPath(n string) string {
	n = strings.TrimPrefix(strings.TrimSuffix(n, "/"), "./")
	if n == "" || n == "." {
		return "/."
	}
	return "/" + strings.TrimPrefix(n, "/")
}

type recordTar struct {
	r     rootfs.TarReader
	types map[string]byte
	order []string
}

func (t *recordTar) Next() (*tar.Header, error) {
	h, err := t.r.Next()
	if err == nil {
		if _, seen := t.types[h.Name]; !seen {
			t.order = append(t.order, h.Name)
		}
		t.types[h.Name] = h.Typeflag
	}
	return h, err
}

func (t *recordTar) Read(p []byte) (int, error) { return t.r.Read(p) }

// configure runs Configure on the installed root.
func (in *installed) configure(t *testing.T) *Report {
	t.Helper()
	rep, err := Configure(context.Background(), in.st, in.db, in.pkgs, Options{Arch: "amd64", Epoch: testEpoch})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// sh is an executable shell script file of a package.
func shFile(p, body string) testarchive.File {
	return testarchive.File{Path: p, Mode: 0o755, Body: []byte(body)}
}

// binFile is an "executable" of a package (its content is never run).
func binFile(p string) testarchive.File {
	return testarchive.File{Path: p, Mode: 0o755, Body: []byte("\x7fELF not really")}
}

// toolbox is a package shipping the commands native mode implements, so
// that scripts find them in PATH.
func toolbox(names ...string) testarchive.Deb {
	d := testarchive.NewDeb("toolbox", "1", "Essential: yes")
	for _, n := range names {
		d.Files = append(d.Files, binFile("usr/bin/"+n))
	}
	return d
}

// elfLib returns a minimal little-endian ELF64 x86-64 shared object
// whose dynamic section names soname (empty: none).
func elfLib(soname string) []byte {
	var dynstr bytes.Buffer
	dynstr.WriteByte(0)
	sonameOff := dynstr.Len()
	dynstr.WriteString(soname)
	dynstr.WriteByte(0)
	shstr := []byte("\x00.dynstr\x00.dynamic\x00.shstrtab\x00")
	le := binary.LittleEndian
	const ehsize, shentsize = 64, 64
	dynstrOff := ehsize
	dynOff := dynstrOff + dynstr.Len()
	dynOff = (dynOff + 7) &^ 7
	var dyn bytes.Buffer
	put64 := func(b *bytes.Buffer, v uint64) { binary.Write(b, le, v) }
	if soname != "" {
		put64(&dyn, 14) // DT_SONAME
		put64(&dyn, uint64(sonameOff))
	}
	put64(&dyn, 5) // DT_STRTAB
	put64(&dyn, uint64(dynstrOff))
	put64(&dyn, 0) // DT_NULL
	put64(&dyn, 0)
	shstrOff := dynOff + dyn.Len()
	shOff := (shstrOff + len(shstr) + 7) &^ 7
	out := make([]byte, shOff+4*shentsize)
	copy(out, []byte{0x7f, 'E', 'L', 'F', 2, 1, 1})
	le.PutUint16(out[16:], 3)  // ET_DYN
	le.PutUint16(out[18:], 62) // EM_X86_64
	le.PutUint32(out[20:], 1)
	le.PutUint64(out[40:], uint64(shOff))
	le.PutUint16(out[52:], ehsize)
	le.PutUint16(out[58:], shentsize)
	le.PutUint16(out[60:], 4) // section headers
	le.PutUint16(out[62:], 3) // .shstrtab index
	copy(out[dynstrOff:], dynstr.Bytes())
	copy(out[dynOff:], dyn.Bytes())
	copy(out[shstrOff:], shstr)
	sh := func(i int, name, typ uint32, off, size int, link uint32, entsize uint64) {
		b := out[shOff+i*shentsize:]
		le.PutUint32(b[0:], name)
		le.PutUint32(b[4:], typ)
		le.PutUint64(b[24:], uint64(off))
		le.PutUint64(b[32:], uint64(size))
		le.PutUint32(b[40:], link)
		le.PutUint64(b[56:], entsize)
	}
	sh(1, 1, 3, dynstrOff, dynstr.Len(), 0, 0) // .dynstr SHT_STRTAB
	sh(2, 9, 6, dynOff, dyn.Len(), 1, 16)      // .dynamic SHT_DYNAMIC
	sh(3, 18, 3, shstrOff, len(shstr), 0, 0)   // .shstrtab
	return out
}
