package deb

import (
	"archive/tar"
	"bytes"
	"fmt"
	"os/exec"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
	"github.com/ulikunitz/xz/lzma"
)

// Test helpers building .debs by hand, so that every corner (member
// names, order, compression, corruption) can be produced.

type tfile struct {
	Name string
	Type byte // tar.TypeReg when 0
	Mode int64
	Body string
	Link string
}

func buildTar(t testing.TB, files []tfile) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := &tar.Header{Name: f.Name, Typeflag: f.Type, Mode: f.Mode, Linkname: f.Link,
			ModTime: time.Unix(1700000000, 0), Format: tar.FormatGNU}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(f.Body))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(f.Body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func compress(t testing.TB, c Compression, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	switch c {
	case None:
		return b
	case Gzip:
		w := gzip.NewWriter(&buf)
		w.Write(b)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	case XZ:
		w, err := xz.NewWriter(&buf)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(b)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	case Zstd:
		w, err := zstd.NewWriter(&buf)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(b)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	case LZMA:
		w, err := lzma.NewWriter(&buf)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(b)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	case Bzip2:
		// The standard library only decompresses bzip2.
		if _, err := exec.LookPath("bzip2"); err != nil {
			t.Skip("bzip2 not installed: cannot build a .bz2 member")
		}
		cmd := exec.Command("bzip2", "-c")
		cmd.Stdin = bytes.NewReader(b)
		out, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		return out
	default:
		t.Fatalf("compress: unknown %q", c)
	}
	return buf.Bytes()
}

// arMember is written verbatim: Name is the 16-byte name field's content
// (so "x/" or "#1/5" variants can be made); BSD names go in Data.
type arMember struct {
	Name string
	Data []byte
}

func arFile(members ...arMember) []byte {
	var buf bytes.Buffer
	buf.WriteString(arMagic)
	for _, m := range members {
		fmt.Fprintf(&buf, "%-16s%-12d%-6d%-6d%-8o%-10d`\n", m.Name, 1700000000, 0, 0, 0o100644, len(m.Data))
		buf.Write(m.Data)
		if len(m.Data)%2 == 1 {
			buf.WriteByte('\n')
		}
	}
	return buf.Bytes()
}

type tdeb struct {
	Control     string  // control file; a default when empty
	ControlMore []tfile // other control archive files
	Data        []tfile
	CComp       Compression
	DComp       Compression
}

const defaultControl = "Package: hello\nVersion: 1.0-1\nArchitecture: amd64\nMaintainer: A <a@example.org>\nDescription: greeting\n more text\n .\n end\n"

func (d tdeb) members(t testing.TB) (control, data arMember) {
	t.Helper()
	ctl := d.Control
	if ctl == "" {
		ctl = defaultControl
	}
	cfiles := append([]tfile{{Name: "./", Type: tar.TypeDir, Mode: 0o755}, {Name: "./control", Body: ctl}}, d.ControlMore...)
	control = arMember{Name: "control.tar" + string(d.CComp), Data: compress(t, d.CComp, buildTar(t, cfiles))}
	data = arMember{Name: "data.tar" + string(d.DComp), Data: compress(t, d.DComp, buildTar(t, d.Data))}
	return control, data
}

func (d tdeb) build(t testing.TB) []byte {
	t.Helper()
	c, dm := d.members(t)
	return arFile(arMember{Name: "debian-binary", Data: []byte("2.0\n")}, c, dm)
}

var sampleData = []tfile{
	{Name: "./", Type: tar.TypeDir, Mode: 0o755},
	{Name: "./etc/", Type: tar.TypeDir, Mode: 0o755},
	{Name: "./etc/hello.conf", Body: "greeting=hi\n"},
	{Name: "./usr/", Type: tar.TypeDir, Mode: 0o755},
	{Name: "./usr/bin/", Type: tar.TypeDir, Mode: 0o755},
	{Name: "./usr/bin/hello", Mode: 0o755, Body: "#!/bin/sh\necho hello\n"},
	{Name: "./usr/bin/hi", Type: tar.TypeSymlink, Mode: 0o777, Link: "hello"},
	{Name: "./usr/bin/hello2", Type: tar.TypeLink, Link: "./usr/bin/hello"},
}

var sampleControlMore = []tfile{
	{Name: "./conffiles", Body: "/etc/hello.conf\nremove-on-upgrade /etc/old.conf\n"},
	{Name: "./md5sums", Body: "0123456789abcdef0123456789abcdef  usr/bin/hello\nfedcba9876543210fedcba9876543210  etc/hello.conf\n"},
	{Name: "./postinst", Mode: 0o755, Body: "#!/bin/sh\nexit 0\n"},
}
