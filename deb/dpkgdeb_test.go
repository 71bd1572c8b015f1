package deb

import (
	"archive/tar"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/debstrap/debstrap/internal/testarchive"
)

// Cross-checks against dpkg-deb, when the host has it: packages it builds
// read back with the same file list it reports, and so do real packages.

func needDpkgDeb(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("dpkg-deb"); err != nil {
		t.Skip("dpkg-deb not installed")
	}
}

// contentsLine is one line of `dpkg-deb --contents`:
// "-rwxr-xr-x root/root      1234 2024-06-01 12:00 ./usr/bin/x".
var contentsLine = regexp.MustCompile(`^(\S{10}) \S+/\S+\s+\d+ \d{4}-\d\d-\d\d \d\d:\d\d (.*)$`)

// dpkgContents lists a .deb as dpkg-deb sees it, one "type mode name" per
// entry (mode as ls prints it, hardlink and symlink targets after the name).
func dpkgContents(t *testing.T, path string) []string {
	t.Helper()
	out, err := exec.Command("dpkg-deb", "--contents", path).Output()
	if err != nil {
		t.Fatalf("dpkg-deb --contents %s: %v", path, err)
	}
	var list []string
	for _, line := range strings.Split(strings.TrimSuffix(string(out), "\n"), "\n") {
		m := contentsLine.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("unparsed dpkg-deb --contents line %q", line)
		}
		list = append(list, m[1]+" "+m[2])
	}
	return list
}

// ourContents lists a .deb in dpkgContents' format.
func ourContents(t *testing.T, path string) ([]string, *Control) {
	t.Helper()
	d, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	c, err := d.Control()
	if err != nil {
		t.Fatal(err)
	}
	tr, err := d.Data()
	if err != nil {
		t.Fatal(err)
	}
	var list []string
	for {
		h, err := tr.Next()
		if err != nil {
			if err.Error() == "EOF" {
				break
			}
			t.Fatal(err)
		}
		// tar -tv, which dpkg-deb runs, escapes backslashes.
		name := strings.ReplaceAll(h.Name, `\`, `\\`)
		switch h.Typeflag {
		case tar.TypeSymlink:
			name += " -> " + h.Linkname
		case tar.TypeLink:
			name += " link to " + h.Linkname
		}
		list = append(list, lsMode(h)+" "+name)
	}
	return list, c
}

func lsMode(h *tar.Header) string {
	t := map[byte]byte{tar.TypeReg: '-', tar.TypeDir: 'd', tar.TypeSymlink: 'l', tar.TypeLink: 'h',
		tar.TypeChar: 'c', tar.TypeBlock: 'b', tar.TypeFifo: 'p'}[h.Typeflag]
	b := []byte{t}
	const rwx = "rwxrwxrwx"
	for i := 0; i < 9; i++ {
		if h.Mode&(1<<(8-i)) != 0 {
			b = append(b, rwx[i])
		} else {
			b = append(b, '-')
		}
	}
	special := func(i int, bit int64, set, unset byte) {
		if h.Mode&bit != 0 {
			if b[i] == '-' {
				b[i] = unset
			} else {
				b[i] = set
			}
		}
	}
	special(3, 0o4000, 's', 'S')
	special(6, 0o2000, 's', 'S')
	special(9, 0o1000, 't', 'T')
	return string(b)
}

func compareWithDpkg(t *testing.T, path string) *Control {
	t.Helper()
	want := dpkgContents(t, path)
	got, c := ourContents(t, path)
	for i := 0; i < max(len(got), len(want)); i++ {
		var g, w string
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = want[i]
		}
		if g != w {
			t.Errorf("%s: entry %d of %d differs from dpkg-deb --contents:\n got %q\nwant %q", path, i, len(want), g, w)
			break
		}
	}
	ctl, err := exec.Command("dpkg-deb", "--info", path, "control").Output()
	if err != nil {
		t.Fatalf("dpkg-deb --info %s control: %v", path, err)
	}
	if !bytes.Equal(ctl, c.Raw) {
		t.Errorf("%s: control file differs from dpkg-deb's:\n got %q\nwant %q", path, c.Raw, ctl)
	}
	return c
}

func TestDpkgDebBuild(t *testing.T) {
	needDpkgDeb(t)
	root := filepath.Join(t.TempDir(), "pkg")
	write := func(rel, body string, mode os.FileMode) {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil { // past the umask
			t.Fatal(err)
		}
	}
	write("DEBIAN/control", "Package: dtest\nVersion: 1.0-1\nArchitecture: all\nMaintainer: T <t@example.org>\nX-Custom: first\nDescription: test\n for the deb reader\n", 0o644)
	write("DEBIAN/conffiles", "/etc/dtest.conf\n", 0o644)
	write("DEBIAN/postinst", "#!/bin/sh\nexit 0\n", 0o755)
	write("etc/dtest.conf", "x=1\n", 0o644)
	write("usr/bin/dtest", strings.Repeat("binary\x00", 5000), 0o755)
	write("usr/bin/setuid", "s", 0o4755)
	write("usr/share/doc/dtest/file with spaces", "s", 0o644)
	long := "usr/share/" + strings.Repeat("long-directory-name/", 8) + "file"
	write(long, "deep", 0o644)
	if err := os.MkdirAll(filepath.Join(root, "var/empty"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("dtest", filepath.Join(root, "usr/bin/dtest-link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(root, "usr/bin/dtest"), filepath.Join(root, "usr/bin/dtest-hard")); err != nil {
		t.Fatal(err)
	}
	for _, z := range []string{"xz", "gzip", "zstd", "none"} {
		t.Run(z, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "dtest.deb")
			cmd := exec.Command("dpkg-deb", "--root-owner-group", "-Z"+z, "--build", root, out)
			if msg, err := cmd.CombinedOutput(); err != nil {
				if z == "zstd" && bytes.Contains(msg, []byte("zstd")) {
					t.Skipf("this dpkg-deb cannot write zstd: %s", msg)
				}
				t.Fatalf("dpkg-deb --build: %v\n%s", err, msg)
			}
			c := compareWithDpkg(t, out)
			if c.Get("X-Custom") != "first" || len(c.Conffiles) != 1 || c.Files["postinst"].Mode != 0o755 {
				t.Errorf("control: %+v", c)
			}
		})
	}
}

// Packages from testarchive (the builder the other packages' tests use).
func TestTestarchiveDebs(t *testing.T) {
	for _, z := range []string{"none", "gz", "xz", "zst", "lzma", "bz2"} {
		t.Run(z, func(t *testing.T) {
			d := testarchive.NewDeb("hello", "1.0-1", "Depends: libc6", "Description: hi\n there")
			d.Files = []testarchive.File{
				{Path: "usr/bin/hello", Mode: 0o755, Body: []byte("#!/bin/sh\n")},
				{Path: "etc/hello.conf", Body: []byte("x\n")},
				{Path: "usr/bin/hi", Type: tar.TypeSymlink, Linkname: "hello"},
			}
			d.Conffiles = []string{"/etc/hello.conf"}
			d.Scripts = map[string]string{"postinst": "#!/bin/sh\n"}
			d.DataCompression, d.ControlCompression = z, z
			raw, err := testarchive.BuildDeb(d)
			if err != nil {
				if strings.Contains(err.Error(), "bzip2") {
					t.Skip(err)
				}
				t.Fatal(err)
			}
			p := filepath.Join(t.TempDir(), "hello.deb")
			if err := os.WriteFile(p, raw, 0o644); err != nil {
				t.Fatal(err)
			}
			got, c := ourContents(t, p)
			joined := strings.Join(got, "\n")
			for _, want := range []string{"drwxr-xr-x ./usr/bin/", "-rwxr-xr-x ./usr/bin/hello", "lrwxrwxrwx ./usr/bin/hi -> hello"} {
				if !strings.Contains(joined, want) {
					t.Errorf("no %q in\n%s", want, joined)
				}
			}
			if c.Get("Package") != "hello" || c.Get("Depends") != "libc6" || fmt.Sprint(c.Conffiles) != "[/etc/hello.conf]" ||
				c.MD5Sums["usr/bin/hello"] == "" || c.Files["postinst"].Mode != 0o755 {
				t.Errorf("control: %+v", c)
			}
			// dpkg-deb refuses control.tar.lzma and .bz2; we accept them.
			if _, err := exec.LookPath("dpkg-deb"); err == nil && z != "lzma" && z != "bz2" {
				compareWithDpkg(t, p)
			}
		})
	}
}

// benchDebs returns real packages to measure and check against:
// $DEBSTRAP_BENCH_DEBS (a directory) or apt's cache.
func benchDebs(tb testing.TB) []string {
	dir := os.Getenv("DEBSTRAP_BENCH_DEBS")
	if dir == "" {
		dir = "/var/cache/apt/archives"
	}
	paths, _ := filepath.Glob(filepath.Join(dir, "*.deb"))
	if len(paths) == 0 {
		tb.Skipf("no .deb files in %s (set DEBSTRAP_BENCH_DEBS)", dir)
	}
	return paths
}

func TestRealDebs(t *testing.T) {
	needDpkgDeb(t)
	paths := benchDebs(t)
	if testing.Short() && len(paths) > 5 {
		paths = paths[:5]
	}
	for _, p := range paths {
		t.Run(filepath.Base(p), func(t *testing.T) {
			c := compareWithDpkg(t, p)
			if c.Files["md5sums"].Data != nil && len(c.MD5Sums) == 0 {
				t.Error("md5sums not parsed")
			}
		})
	}
}
