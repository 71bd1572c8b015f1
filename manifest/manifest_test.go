package manifest

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

func sum(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// member is a tar member to write; content is written for regular files.
type tm struct {
	hdr     tar.Header
	content string
}

func reg(name string, mode int64, content string) tm {
	return tm{tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: mode, Size: int64(len(content))}, content}
}

func dir(name string, mode int64) tm {
	return tm{hdr: tar.Header{Name: name, Typeflag: tar.TypeDir, Mode: mode}}
}

func symlink(name, target string) tm {
	return tm{hdr: tar.Header{Name: name, Typeflag: tar.TypeSymlink, Mode: 0o777, Linkname: target}}
}

func hardlink(name, target string) tm {
	return tm{hdr: tar.Header{Name: name, Typeflag: tar.TypeLink, Linkname: target}}
}

func makeTar(t *testing.T, members ...tm) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, m := range members {
		h := m.hdr
		h.ModTime = time.Unix(1700000000, 0)
		h.Format = tar.FormatPAX
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(tw, m.content); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func readPath(t *testing.T, p string) *Manifest {
	t.Helper()
	m, err := Read(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// capability is cap_net_raw=ep, VFS_CAP_REVISION_2.
var capability = string([]byte{0x01, 0x00, 0x00, 0x02, 0x00, 0x20, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})

// rootTar is a root as mmdebstrap's tarballs spell it: "./" names, a
// hardlink whose stored file is not the least path, every entry type.
func rootTar(t *testing.T) []byte {
	ping := reg("./usr/bin/ping", 0o755, "ELF ping")
	ping.hdr.PAXRecords = map[string]string{"SCHILY.xattr.security.capability": capability}
	shadow := reg("./etc/shadow", 0o640, "root:*:19000:0:99999:7:::\n")
	shadow.hdr.Gid = 42
	shadow.hdr.Gname = "shadow" // names are not compared
	// bsdtar's spelling of an xattr.
	ls := reg("./usr/bin/ls", 0o755, "ELF ls")
	ls.hdr.PAXRecords = map[string]string{"LIBARCHIVE.xattr.user.mime%5Ftype": "dGV4dC9wbGFpbg=="}
	return makeTar(t,
		dir("./", 0o755),
		symlink("./bin", "usr/bin"),
		dir("./dev/", 0o755),
		tm{hdr: tar.Header{Name: "./dev/null", Typeflag: tar.TypeChar, Mode: 0o666, Devmajor: 1, Devminor: 3}},
		tm{hdr: tar.Header{Name: "./dev/sda", Typeflag: tar.TypeBlock, Mode: 0o660, Gid: 6, Devmajor: 8}},
		dir("./etc/", 0o755),
		reg("./etc/empty", 0o644, ""),
		reg("./etc/passwd", 0o644, "root:x:0:0:root:/root:/bin/bash\n"),
		shadow,
		reg("./etc/with space\tand\\", 0o644, "odd name\n"),
		dir("./run/", 0o755),
		tm{hdr: tar.Header{Name: "./run/initctl", Typeflag: tar.TypeFifo, Mode: 0o600}},
		dir("./tmp/", 0o1777),
		dir("./usr/", 0o755),
		dir("./usr/bin/", 0o755),
		reg("./usr/bin/passwd", 0o4755, "ELF passwd"),
		reg("./usr/bin/perl5.36.0", 0o755, "ELF perl"),
		hardlink("./usr/bin/perl", "./usr/bin/perl5.36.0"),
		ls,
		ping,
	)
}

func TestReadTarGolden(t *testing.T) {
	m := readPath(t, writeFile(t, "root.tar", rootTar(t)))
	var buf bytes.Buffer
	if _, err := m.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "root.manifest")
	if *update {
		if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("manifest differs from %s (run with -update to accept):\n%s", golden, buf.String())
	}

	perl, _ := m.Lookup("/usr/bin/perl")
	perl5, _ := m.Lookup("/usr/bin/perl5.36.0")
	if perl.Type != TypeFile || perl.SHA256 != sum("ELF perl") || perl.Mode != 0o755 ||
		perl.Hardlink != "/usr/bin/perl" || perl5.Hardlink != "/usr/bin/perl" {
		t.Errorf("hardlink group: got %+v and %+v", perl, perl5)
	}

	// A saved manifest reads back the same, by Parse and by Read.
	back, err := Parse(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := Diff(m, back, DiffOptions{}); len(d) != 0 || !slices.EqualFunc(m.Entries, back.Entries, entryEqual) {
		t.Errorf("parsed manifest differs: %v", d)
	}
	saved := readPath(t, writeFile(t, "root.manifest", buf.Bytes()))
	if !slices.EqualFunc(m.Entries, saved.Entries, entryEqual) {
		t.Error("manifest read from a saved file differs")
	}
}

func entryEqual(a, b Entry) bool { return reflect.DeepEqual(a, b) }

func compress(t *testing.T, kind string, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	var w io.WriteCloser
	var err error
	switch kind {
	case "gz":
		w = gzip.NewWriter(&buf)
	case "xz":
		w, err = xz.NewWriter(&buf)
	case "zst":
		w, err = zstd.NewWriter(&buf)
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// Compression is told from the content: the names here say nothing.
func TestReadCompressed(t *testing.T) {
	plain := rootTar(t)
	want := readPath(t, writeFile(t, "plain", plain))
	for _, kind := range []string{"gz", "xz", "zst"} {
		t.Run(kind, func(t *testing.T) {
			got := readPath(t, writeFile(t, "image.bin", compress(t, kind, plain)))
			if d, _ := Diff(want, got, DiffOptions{}); len(d) != 0 {
				t.Errorf("differences: %v", d)
			}
		})
	}
}

func TestReadErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "empty file"},
		{"not a tar", []byte(strings.Repeat("hello world\n", 100)), "reading tar"},
		{"dangling hardlink", makeTar(t, hardlink("./a", "./b")), "target /b is not earlier"},
		{"dot-dot", makeTar(t, reg("../etc/passwd", 0o644, "x")), `climbs out of the root`},
		{"bad manifest", []byte(header + "\n/x file 0644 0:0 3\n"), "line 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := writeFile(t, "x", tc.data)
			_, err := Read(context.Background(), p)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), p) {
				t.Errorf("got error %v, want one naming %s and saying %q", err, p, tc.want)
			}
		})
	}
	if _, err := Read(context.Background(), filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("no error for a missing path")
	}
}

// A tar and a directory holding the same root have the same manifest,
// whichever member of a hardlink group the tar stores.
func TestTarEqualsDir(t *testing.T) {
	uid, gid := os.Getuid(), os.Getgid()
	root := t.TempDir()
	mk := func(p string, content string, mode os.FileMode) {
		if err := os.WriteFile(filepath.Join(root, p), []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(filepath.Join(root, p), mode); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"etc", "usr/bin", "tmp"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	mk("etc/hostname", "debstrap\n", 0o644)
	mk("usr/bin/perl5.36.0", "ELF perl", 0o755)
	if err := os.Link(filepath.Join(root, "usr/bin/perl5.36.0"), filepath.Join(root, "usr/bin/perl")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("usr/bin", filepath.Join(root, "bin")); err != nil {
		t.Fatal(err)
	}
	for p, m := range map[string]os.FileMode{".": 0o755, "etc": 0o755, "usr": 0o755, "usr/bin": 0o755, "tmp": 0o1777 | os.ModeSticky} {
		if err := os.Chmod(filepath.Join(root, p), m); err != nil {
			t.Fatal(err)
		}
	}
	own := func(m tm) tm { m.hdr.Uid, m.hdr.Gid = uid, gid; return m }
	tarball := makeTar(t,
		own(dir("./", 0o755)), own(symlink("./bin", "usr/bin")),
		own(dir("./etc/", 0o755)), own(reg("./etc/hostname", 0o644, "debstrap\n")),
		own(dir("./tmp/", 0o1777)),
		own(dir("./usr/", 0o755)), own(dir("./usr/bin/", 0o755)),
		own(reg("./usr/bin/perl", 0o755, "ELF perl")),
		own(hardlink("./usr/bin/perl5.36.0", "./usr/bin/perl")),
	)
	a := readPath(t, root)
	b := readPath(t, writeFile(t, "root.tar", tarball))
	if d, err := Diff(a, b, DiffOptions{}); err != nil || len(d) != 0 {
		t.Errorf("directory and tar differ (%v):\n%s", err, lines(d))
	}
	if len(a.Entries) != 9 {
		t.Errorf("got %d entries, want 9:\n%v", len(a.Entries), a.Entries)
	}
}

func lines(d []Difference) string {
	var b strings.Builder
	for _, x := range d {
		fmt.Fprintln(&b, x)
	}
	return b.String()
}
