package testarchive

import (
	"archive/tar"
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
	"github.com/ulikunitz/xz/lzma"
)

// parseAr is a strict reader of what Ar writes.
func parseAr(t *testing.T, b []byte) []Member {
	t.Helper()
	if !bytes.HasPrefix(b, []byte("!<arch>\n")) {
		t.Fatalf("no ar magic")
	}
	b = b[8:]
	var out []Member
	for len(b) > 0 {
		if len(b) < 60 {
			t.Fatalf("short ar header: %q", b)
		}
		h := b[:60]
		if string(h[58:60]) != "`\n" {
			t.Fatalf("bad ar header end: %q", h)
		}
		name := strings.TrimRight(string(h[:16]), " ")
		size, err := strconv.Atoi(strings.TrimSpace(string(h[48:58])))
		if err != nil {
			t.Fatalf("ar size of %s: %v", name, err)
		}
		if got := string(h[16:48]); got != fmt.Sprintf("%-12d%-6d%-6d%-8s", DefaultTime.Unix(), 0, 0, "100644") {
			t.Errorf("ar header of %s: mtime/uid/gid/mode = %q", name, got)
		}
		b = b[60:]
		out = append(out, Member{Name: name, Data: b[:size]})
		b = b[size:]
		if size%2 == 1 {
			if b[0] != '\n' {
				t.Fatalf("ar pad byte after %s is %q", name, b[0])
			}
			b = b[1:]
		}
	}
	return out
}

func decompress(t *testing.T, name string, data []byte) []byte {
	t.Helper()
	var r io.Reader
	var err error
	switch filepath.Ext(name) {
	case ".tar":
		return data
	case ".gz":
		r, err = gzip.NewReader(bytes.NewReader(data))
	case ".xz":
		r, err = xz.NewReader(bytes.NewReader(data))
	case ".zst":
		var d *zstd.Decoder
		d, err = zstd.NewReader(bytes.NewReader(data))
		r = d
	case ".lzma":
		r, err = lzma.NewReader(bytes.NewReader(data))
	case ".bz2":
		r = bzip2.NewReader(bytes.NewReader(data))
	default:
		t.Fatalf("unknown extension of %s", name)
	}
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return out
}

type tarEntry struct {
	hdr  *tar.Header
	body []byte
}

func readTar(t *testing.T, data []byte) []tarEntry {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(data))
	var out []tarEntry
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, tarEntry{h, b})
	}
}

func names(es []tarEntry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.hdr.Name)
	}
	return out
}

// sampleDeb has one entry of every kind the unpacker must handle.
func sampleDeb() Deb {
	return Deb{
		Name: "sample", Version: "1:1.0-1",
		Fields: []Field{
			{"Depends", "libc6 (>= 2.36), foo | bar"},
			{"Pre-Depends", "dpkg (>= 1.19)"},
			{"X-Custom", "kept"},
			{"Section", "utils"},
			{"Priority", "optional"},
			{"Source", "sample-src (1.0-1)"},
			{"Description", "sample package\nFirst line of the long description.\n\nAfter an empty line."},
		},
		Files: []File{
			{Path: "usr/bin/sample", Mode: 0o4755, Body: []byte("#!/bin/sh\necho sample\n")},
			{Path: "./usr/bin/sample-link", Type: tar.TypeLink, Linkname: "usr/bin/sample"},
			{Path: "./usr/bin/sample-sym", Type: tar.TypeSymlink, Linkname: "sample"},
			{Path: "./etc/sample.conf", Body: []byte("conf=1\n")},
			{Path: "./dev/null", Type: tar.TypeChar, Mode: 0o666, Devmajor: 1, Devminor: 3},
			{Path: "./run/fifo", Type: tar.TypeFifo},
			{Path: "./var/spool/sample/", Mode: 0o2775, Gid: 8, Gname: "mail"},
			{Path: "./usr/bin/ping", Mode: 0o755, Body: []byte("ping"), PAXRecords: map[string]string{
				"SCHILY.xattr.security.capability": "\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00",
			}},
		},
		Scripts: map[string]string{
			"postinst": "#!/bin/sh\nexit 0\n",
			"triggers": "interest-noawait /usr/share/sample\n",
		},
		Conffiles: []string{"/etc/sample.conf"},
	}
}

func TestBuildDebLayout(t *testing.T) {
	d := sampleDeb()
	b, err := BuildDeb(d)
	if err != nil {
		t.Fatal(err)
	}
	ms := parseAr(t, b)
	if got := []string{ms[0].Name, ms[1].Name, ms[2].Name}; !slices.Equal(got, []string{"debian-binary", "control.tar.gz", "data.tar.gz"}) || len(ms) != 3 {
		t.Fatalf("members = %v", got)
	}
	if string(ms[0].Data) != "2.0\n" {
		t.Errorf("debian-binary = %q", ms[0].Data)
	}
	// The header bytes exactly as dpkg-deb writes them.
	if want := "!<arch>\ndebian-binary   " + strconv.FormatInt(DefaultTime.Unix(), 10) + "  0     0     100644  4         `\n2.0\n"; !bytes.HasPrefix(b, []byte(want)) {
		t.Errorf("ar start = %q, want %q", b[:len(want)], want)
	}

	ctrl := readTar(t, decompress(t, ms[1].Name, ms[1].Data))
	if got, want := names(ctrl), []string{"./", "./conffiles", "./control", "./md5sums", "./postinst", "./triggers"}; !slices.Equal(got, want) {
		t.Errorf("control.tar = %v, want %v", got, want)
	}
	members := map[string]tarEntry{}
	for _, e := range ctrl {
		members[e.hdr.Name] = e
		if e.hdr.Uname != "root" || e.hdr.Format != tar.FormatGNU && e.hdr.Format != tar.FormatUnknown {
			t.Errorf("%s: uname %q format %v", e.hdr.Name, e.hdr.Uname, e.hdr.Format)
		}
	}
	if m := members["./postinst"].hdr.Mode; m != 0o755 {
		t.Errorf("postinst mode %o", m)
	}
	if m := members["./triggers"].hdr.Mode; m != 0o644 {
		t.Errorf("triggers mode %o", m)
	}
	wantControl := `Package: sample
Source: sample-src (1.0-1)
Version: 1:1.0-1
Architecture: amd64
Maintainer: Test Maintainer <maint@example.org>
Installed-Size: 14
Pre-Depends: dpkg (>= 1.19)
Depends: libc6 (>= 2.36), foo | bar
Section: utils
Priority: optional
Description: sample package
 First line of the long description.
 .
 After an empty line.
X-Custom: kept
`
	if got := string(members["./control"].body); got != wantControl {
		t.Errorf("control:\n%s\nwant:\n%s", got, wantControl)
	}
	if got := string(members["./conffiles"].body); got != "/etc/sample.conf\n" {
		t.Errorf("conffiles = %q", got)
	}
	sum := func(s string) string { h := md5.Sum([]byte(s)); return hex.EncodeToString(h[:]) }
	wantSums := sum("#!/bin/sh\necho sample\n") + "  usr/bin/sample\n" +
		sum("#!/bin/sh\necho sample\n") + "  usr/bin/sample-link\n" +
		sum("ping") + "  usr/bin/ping\n"
	if got := string(members["./md5sums"].body); got != wantSums {
		t.Errorf("md5sums:\n%s\nwant:\n%s", got, wantSums)
	}

	data := readTar(t, decompress(t, ms[2].Name, ms[2].Data))
	wantNames := []string{
		"./", "./usr/", "./usr/bin/", "./usr/bin/sample", "./usr/bin/sample-link", "./usr/bin/sample-sym",
		"./etc/", "./etc/sample.conf", "./dev/", "./dev/null", "./run/", "./run/fifo",
		"./var/", "./var/spool/", "./var/spool/sample/", "./usr/bin/ping",
	}
	if got := names(data); !slices.Equal(got, wantNames) {
		t.Fatalf("data.tar:\n%v\nwant\n%v", got, wantNames)
	}
	byName := map[string]*tar.Header{}
	for _, e := range data {
		byName[e.hdr.Name] = e.hdr
	}
	checks := []struct {
		name string
		ok   bool
	}{
		{"setuid", byName["./usr/bin/sample"].Mode == 0o4755},
		{"hardlink", byName["./usr/bin/sample-link"].Typeflag == tar.TypeLink && byName["./usr/bin/sample-link"].Linkname == "./usr/bin/sample"},
		{"symlink", byName["./usr/bin/sample-sym"].Typeflag == tar.TypeSymlink && byName["./usr/bin/sample-sym"].Linkname == "sample" && byName["./usr/bin/sample-sym"].Mode == 0o777},
		{"char dev", byName["./dev/null"].Typeflag == tar.TypeChar && byName["./dev/null"].Devmajor == 1 && byName["./dev/null"].Devminor == 3},
		{"fifo", byName["./run/fifo"].Typeflag == tar.TypeFifo},
		{"setgid dir", byName["./var/spool/sample/"].Mode == 0o2775 && byName["./var/spool/sample/"].Gid == 8 && byName["./var/spool/sample/"].Gname == "mail"},
		{"auto dir", byName["./usr/"].Mode == 0o755 && byName["./usr/"].Uname == "root" && byName["./usr/"].ModTime.Equal(DefaultTime)},
		{"xattr", byName["./usr/bin/ping"].PAXRecords["SCHILY.xattr.security.capability"] != "" && byName["./usr/bin/ping"].Format == tar.FormatPAX},
		{"gnu", byName["./usr/bin/sample"].Format == tar.FormatGNU},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("%s: wrong header", c.name)
		}
	}
}

func TestBuildDebEvilPaths(t *testing.T) {
	d := Deb{Name: "evil", Version: "1", Files: []File{
		{Path: "../../etc/passwd", Body: []byte("x")},
		{Path: "/etc/shadow", Body: []byte("y")},
		{Path: "./usr/a/../../../b", Body: []byte("z")},
		{Path: "./usr/link", Type: tar.TypeSymlink, Linkname: "/etc"},
		{Path: "./usr/link/escape", Body: []byte("w")},
		{Path: "./usr/hard", Type: tar.TypeLink, Linkname: "../../outside"},
	}}
	b, err := BuildDeb(d)
	if err != nil {
		t.Fatal(err)
	}
	ms := parseAr(t, b)
	got := names(readTar(t, decompress(t, ms[2].Name, ms[2].Data)))
	want := []string{"../../etc/passwd", "/etc/shadow", "./usr/a/../../../b", "./", "./usr/", "./usr/link", "./usr/link/escape", "./usr/hard"}
	if !slices.Equal(got, want) {
		t.Errorf("entries %q, want %q", got, want)
	}

	d.ExactFiles = true
	d.Files = []File{{Path: "usr/bin/x", Body: []byte("x")}}
	b, err = BuildDeb(d)
	if err != nil {
		t.Fatal(err)
	}
	ms = parseAr(t, b)
	if got := names(readTar(t, decompress(t, ms[2].Name, ms[2].Data))); !slices.Equal(got, []string{"usr/bin/x"}) {
		t.Errorf("ExactFiles entries %q", got)
	}
}

func TestBuildDebOverrides(t *testing.T) {
	d := Deb{
		Name: "ov", Version: "1", Architecture: "arm64",
		Control: "Package: other\nVersion: 2\n",
		Scripts: map[string]string{"md5sums": "bogus\n"},
		Files:   []File{{Path: "./x", Body: []byte("x")}},
	}
	ms, err := DebMembers(d)
	if err != nil {
		t.Fatal(err)
	}
	ctrl := map[string]string{}
	for _, e := range readTar(t, decompress(t, ms[1].Name, ms[1].Data)) {
		ctrl[e.hdr.Name] = string(e.body)
	}
	if ctrl["./control"] != "Package: other\nVersion: 2\n" || ctrl["./md5sums"] != "bogus\n" {
		t.Errorf("control members %q", ctrl)
	}
	// Reordered members still make an ar archive.
	slices.Reverse(ms)
	if got := parseAr(t, Ar(ms...)); got[0].Name != "data.tar.gz" {
		t.Errorf("reordered: first member %s", got[0].Name)
	}
	raw := []byte("not a deb")
	if b, _ := BuildDeb(Deb{Raw: raw}); !bytes.Equal(b, raw) {
		t.Error("Raw not used as is")
	}
	if _, err := BuildDeb(Deb{Name: "x"}); err == nil {
		t.Error("no error for a Deb without Version")
	}
	if _, err := BuildDeb(Deb{Name: "x", Version: "1", Files: []File{{Path: "d/", Body: []byte("x")}}}); err == nil {
		t.Error("no error for a directory with a Body")
	}
	if _, err := BuildDeb(Deb{Name: "x", Version: "1", DataCompression: "rar"}); err == nil {
		t.Error("no error for an unknown compression")
	}
}

func TestNewDeb(t *testing.T) {
	d := NewDeb("bash", "5.2-1", "Essential: yes", "Architecture: all", "Pre-Depends: libc6 (>= 2.36)", "junk")
	if d.Architecture != "all" || d.Field("essential") != "yes" || d.Field("Pre-Depends") != "libc6 (>= 2.36)" || len(d.Fields) != 2 {
		t.Errorf("NewDeb = %+v", d)
	}
}

// TestBuildDebDpkgDeb reads the generated .debs back with the real
// dpkg-deb, for every compression dpkg supports.
func TestBuildDebDpkgDeb(t *testing.T) {
	dpkgDeb, err := exec.LookPath("dpkg-deb")
	if err != nil {
		t.Skip("dpkg-deb not installed")
	}
	tests := []struct{ data, control string }{
		{"gz", "gz"},
		{"xz", "xz"},
		{"zst", "zst"},
		{"none", "none"},
		{"bz2", "gz"},  // dpkg reads bzip2 only in data.tar
		{"lzma", "xz"}, // and lzma likewise
	}
	for _, tt := range tests {
		t.Run(tt.data+"/"+tt.control, func(t *testing.T) {
			d := sampleDeb()
			d.DataCompression, d.ControlCompression = tt.data, tt.control
			b, err := BuildDeb(d)
			if errors.Is(err, ErrNoBzip2) {
				t.Skip(err)
			}
			if err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(t.TempDir(), "sample.deb")
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
			run := func(args ...string) string {
				out, err := exec.Command(dpkgDeb, args...).CombinedOutput()
				if err != nil {
					t.Fatalf("dpkg-deb %v: %v\n%s", args, err, out)
				}
				return string(out)
			}
			info := run("--info", p)
			for _, want := range []string{" new Debian package, version 2.0.", "Package: sample", "Version: 1:1.0-1", " postinst ", " First line of the long description."} {
				if !strings.Contains(info, want) {
					t.Errorf("--info lacks %q:\n%s", want, info)
				}
			}
			contents := run("--contents", p)
			for _, want := range []string{
				"-rwsr-xr-x root/root", "./usr/bin/sample\n",
				"hrwsr-xr-x root/root", "./usr/bin/sample-link link to ./usr/bin/sample",
				"./usr/bin/sample-sym -> sample",
				"crw-rw-rw- root/root", "1,3", "./dev/null",
				"prw-r--r--", "./run/fifo",
				"drwxrwsr-x root/mail", "./var/spool/sample/",
			} {
				if !strings.Contains(contents, want) {
					t.Errorf("--contents lacks %q:\n%s", want, contents)
				}
			}
			if got := run("--field", p, "Package", "Version"); got != "Package: sample\nVersion: 1:1.0-1\n" {
				t.Errorf("--field = %q", got)
			}
			run("--ctrl-tarfile", p)
			run("--fsys-tarfile", p)
		})
	}
}
