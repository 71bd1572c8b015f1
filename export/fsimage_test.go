package export

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/debstrap/debstrap/rootfs"
)

// needTools skips a test of format when the host lacks a tool it needs,
// naming the package to install.
func needTools(t testing.TB, format Format, extra ...hostTool) {
	t.Helper()
	for _, tool := range append(formatTools[format], extra...) {
		if _, err := lookTool(format, tool); err != nil {
			t.Skipf("%s: %v", format, err)
		}
	}
}

var toolUnsquashfs = hostTool{"unsquashfs", "squashfs-tools"}

// run runs a host tool found as the exporter finds them (e2fsprogs may
// be outside an ordinary user's PATH).
func run(t *testing.T, tool hostTool, args ...string) *exec.Cmd {
	t.Helper()
	p, err := lookTool("test", tool)
	if err != nil {
		t.Fatal(err)
	}
	return exec.Command(p, args...)
}

// lsMode is a mode as ls -l (and unsquashfs -lln) shows it.
func lsMode(typ byte, mode int64) string {
	b := []byte("-rwxrwxrwx")
	switch typ {
	case tar.TypeDir:
		b[0] = 'd'
	case tar.TypeSymlink:
		b[0] = 'l'
	case tar.TypeChar:
		b[0] = 'c'
	case tar.TypeBlock:
		b[0] = 'b'
	case tar.TypeFifo:
		b[0] = 'p'
	}
	for i := 0; i < 9; i++ {
		if mode&(1<<(8-i)) == 0 {
			b[i+1] = '-'
		}
	}
	special := func(bit int64, i int, set, unset byte) {
		if mode&bit != 0 {
			if b[i] == '-' {
				b[i] = unset
			} else {
				b[i] = set
			}
		}
	}
	special(0o4000, 3, 's', 'S')
	special(0o2000, 6, 's', 'S')
	special(0o1000, 9, 't', 'T')
	return string(b)
}

// asFile is what a member is in a file system: a hardlink is the file
// its group shares.
func asFile(w want) want {
	if w.typ == tar.TypeLink {
		for _, o := range expected() {
			if o.name == w.link {
				o.name = w.name
				return o
			}
		}
	}
	return w
}

// TestSquashfs: the image holds the tar's entries with their owners
// (root, a group, a large uid), modes (setuid, sticky), symlinks, devices
// and a FIFO, as unsquashfs -lln lists them.
func TestSquashfs(t *testing.T) {
	needTools(t, FormatSquashfs, toolUnsquashfs)
	dir := t.TempDir()
	target := filepath.Join(dir, "root.sqfs")
	d := write(t, fixture(), target, Options{})
	if !strings.HasPrefix(d, "sha256:") || d != sha(readFile(t, target)) {
		t.Errorf("digest %s is not that of the file", d)
	}
	if fi, err := os.Stat(target); err != nil || fi.Mode().Perm() != fileMode() {
		t.Errorf("image mode: %v, %v", fi, err)
	}
	out, err := run(t, toolUnsquashfs, "-lln", target).CombinedOutput()
	if err != nil {
		t.Fatalf("unsquashfs -lln: %v\n%s", err, out)
	}
	// perms uid/gid size-or-major,minor date time name [-> target]
	line := regexp.MustCompile(`^(\S+) (\d+)/(\d+) +(\d+|\d+, +\d+) \S+ \S+ squashfs-root(\S*)(?: -> (.*))?$`)
	got := map[string][]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		m := line.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("unsquashfs line %q", l)
		}
		p := m[5]
		if p == "" {
			p = "/"
		}
		got[p] = m
	}
	if len(got) != len(expected()) {
		t.Errorf("%d entries, want %d:\n%s", len(got), len(expected()), out)
	}
	for _, w := range expected() {
		w = asFile(w)
		p := strings.TrimSuffix(strings.TrimPrefix(w.name, "."), "/")
		if p == "" {
			p = "/"
		}
		m, ok := got[p]
		if !ok {
			t.Errorf("%s missing", p)
			continue
		}
		size := strconv.FormatInt(w.size, 10)
		switch w.typ {
		case tar.TypeChar, tar.TypeBlock:
			size = fmt.Sprintf("%d, %d", w.major, w.minor)
		case tar.TypeSymlink:
			size = strconv.Itoa(len(w.link))
		}
		if w.typ == tar.TypeDir {
			size = m[4] // a squashfs directory's own size
		}
		wantLine := []string{lsMode(w.typ, w.mode), strconv.Itoa(w.uid), strconv.Itoa(w.gid), strings.Join(strings.Fields(size), " "), w.link}
		gotLine := []string{m[1], m[2], m[3], strings.Join(strings.Fields(m[4]), " "), m[6]}
		if w.typ != tar.TypeSymlink {
			wantLine[4] = ""
		}
		if fmt.Sprint(gotLine) != fmt.Sprint(wantLine) {
			t.Errorf("%s: %q, want %q", p, gotLine, wantLine)
		}
	}
	assertNoTemp(t, dir)
}

// debugfsStat is debugfs's stat of p in image.
func debugfsStat(t *testing.T, image, p string) string {
	t.Helper()
	out, err := run(t, toolDebugfs, "-R", "stat "+dq(p), image).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Inode:") {
		t.Fatalf("debugfs stat %s: %v\n%s", p, err, out)
	}
	return string(out)
}

// TestExt4: the image passes e2fsck -fn and holds the tar's entries with
// their owners, modes, link counts, devices, symlinks, xattrs and times
// (the epoch clamps), as debugfs shows them.
func TestExt4(t *testing.T) {
	needTools(t, FormatExt4)
	dir := t.TempDir()
	target := filepath.Join(dir, "root.ext4")
	d := write(t, fixture(), target, Options{})
	if d != sha(readFile(t, target)) {
		t.Errorf("digest %s is not that of the file", d)
	}
	if out, err := run(t, toolE2fsck, "-fn", target).CombinedOutput(); err != nil {
		t.Fatalf("e2fsck -fn: %v\n%s", err, out)
	}
	typeName := map[byte]string{tar.TypeReg: "regular", tar.TypeDir: "directory", tar.TypeSymlink: "symlink",
		tar.TypeChar: "character special", tar.TypeBlock: "block special", tar.TypeFifo: "FIFO"}
	inodes := map[string]string{}
	for _, w := range expected() {
		w = asFile(w)
		p := strings.TrimSuffix(strings.TrimPrefix(w.name, "."), "/")
		if p == "" {
			p = "/"
		}
		st := debugfsStat(t, target, p)
		checks := []string{
			fmt.Sprintf(`Type: %s +Mode: +0*%o `, regexp.QuoteMeta(typeName[w.typ]), w.mode),
			fmt.Sprintf(`User: +%d +Group: +%d `, w.uid, w.gid),
			fmt.Sprintf(`mtime: 0x%08x:00000000`, w.mtime.Unix()),
			fmt.Sprintf(`crtime: 0x%08x:00000000`, w.mtime.Unix()),
		}
		switch w.typ {
		case tar.TypeReg:
			checks = append(checks, fmt.Sprintf(`Size: %d\n`, w.size))
		case tar.TypeChar, tar.TypeBlock:
			checks = append(checks, fmt.Sprintf(`Device major/minor number: %02d:%02d`, w.major, w.minor))
		case tar.TypeSymlink:
			if len(w.link) < 60 {
				checks = append(checks, fmt.Sprintf(`Fast link dest: "%s"`, regexp.QuoteMeta(w.link)))
			} else {
				checks = append(checks, fmt.Sprintf(`Size: %d\n`, len(w.link)))
			}
		}
		if len(w.pax) > 0 && strings.HasPrefix(w.pax[0], xattrPrefix) {
			checks = append(checks, `security.capability \(20\) = 01 00 00 02 00 20 00 00`)
		}
		for _, c := range checks {
			if !regexp.MustCompile(c).MatchString(st) {
				t.Errorf("%s: stat does not match %q:\n%s", p, c, st)
			}
		}
		inodes[p] = regexp.MustCompile(`Inode: (\d+)`).FindStringSubmatch(st)[1]
		if links := regexp.MustCompile(`Links: (\d+)`).FindStringSubmatch(st)[1]; w.typ == tar.TypeReg {
			want := "1"
			if p == "/usr/bin/perl" || p == "/usr/bin/perl5.36.0" || p == "/usr/lib/y" || p == "/usr/lib-z/x" {
				want = "2"
			}
			if links != want {
				t.Errorf("%s: %s links, want %s", p, links, want)
			}
		}
	}
	if inodes["/usr/bin/perl"] != inodes["/usr/bin/perl5.36.0"] || inodes["/usr/lib/y"] != inodes["/usr/lib-z/x"] {
		t.Errorf("hardlinks do not share an inode: %v", inodes)
	}
	// The long symlink's target, which lives in a block.
	out, err := run(t, toolDebugfs, "-R", "cat /usr/lib/long-link", target).Output()
	if err != nil || string(out) != longLink {
		t.Errorf("long symlink: %q, %v", out, err)
	}
	assertNoTemp(t, dir)
}

// TestFsImageReproducible: the same root and epoch give the same bytes,
// and standard output (written through a scratch file) the same as a
// file.
func TestFsImageReproducible(t *testing.T) {
	for _, f := range []Format{FormatSquashfs, FormatExt4} {
		t.Run(string(f), func(t *testing.T) {
			needTools(t, f)
			dir := t.TempDir()
			a := write(t, fixture(), filepath.Join(dir, "a"), Options{Format: f})
			b := write(t, fixture(), filepath.Join(dir, "b"), Options{Format: f})
			var buf bytes.Buffer
			c := write(t, fixture(), "-", Options{Format: f, Stdout: &buf})
			if a != b || a != c || !bytes.Equal(buf.Bytes(), readFile(t, filepath.Join(dir, "a"))) {
				t.Errorf("digests %s, %s, stdout %s", a, b, c)
			}
			other := write(t, fixture(), filepath.Join(dir, "c"), Options{Format: f, Epoch: later})
			if other == a {
				t.Errorf("another epoch, the same image")
			}
			assertNoTemp(t, dir)
		})
	}
}

// TestFsImageLarge: a root bigger than the smallest image, with a
// hardlink group and a directory of many entries, fits the size
// estimated for it.
func TestFsImageLarge(t *testing.T) {
	needTools(t, FormatExt4)
	src := bigSource(600, 100<<10) // 60 MiB in one directory
	target := filepath.Join(t.TempDir(), "big.ext4")
	write(t, src, target, Options{})
	free, _, err := ext4Free(target)
	if err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(target)
	if free*ext4BlockSize > fi.Size()/3 {
		t.Errorf("%d of %d bytes free: not sized to fit", free*ext4BlockSize, fi.Size())
	}
}

// TestNull: null writes nothing, whatever the target names, and still
// checks the root.
func TestNull(t *testing.T) {
	dir := t.TempDir()
	for _, target := range []string{filepath.Join(dir, "out"), filepath.Join(dir, "x.tar"), "-", DevNull} {
		var buf bytes.Buffer
		d, err := Write(context.Background(), fixture(), target, Options{Format: FormatNull, Epoch: epoch, Stdout: &buf})
		if err != nil || d != "" || buf.Len() != 0 {
			t.Errorf("null to %s: %q, %v, %d bytes on stdout", target, d, err, buf.Len())
		}
		if err := CheckTarget(target, FormatNull); err != nil {
			t.Errorf("CheckTarget(%s, null): %v", target, err)
		}
	}
	if names, _ := os.ReadDir(dir); len(names) != 0 {
		t.Errorf("null wrote %v", names)
	}
	if f, err := FormatFor(DevNull, ""); f != FormatNull || err != nil {
		t.Errorf("FormatFor(/dev/null) = %v, %v", f, err)
	}
	short := fixture()
	for i := range short.entries {
		if short.entries[i].Path == "/etc/passwd" {
			short.entries[i].Size = 1000
		}
	}
	if _, err := Write(context.Background(), short, "null", Options{Format: FormatNull}); err == nil || !strings.Contains(err.Error(), "its entry says 1000") {
		t.Errorf("null of a short file: %v", err)
	}
}

// TestMissingTool: without the host tool, the error names the Debian
// package to install, before anything is written.
func TestMissingTool(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	defer func(d []string) { sbinDirs = d }(sbinDirs)
	sbinDirs = nil
	for f, pkg := range map[Format]string{FormatSquashfs: "squashfs-tools-ng", FormatExt4: "e2fsprogs"} {
		dir := t.TempDir()
		target := filepath.Join(dir, "x")
		want := "install the Debian package " + pkg
		if err := CheckTarget(target, f); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("CheckTarget %s: %v", f, err)
		}
		if _, err := Write(context.Background(), fixture(), target, Options{Format: f, Epoch: epoch}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Write %s: %v", f, err)
		}
		if names, _ := os.ReadDir(dir); len(names) != 0 {
			t.Errorf("%s: left %v", f, names)
		}
	}
}

// TestFsImageRefuses: what a format cannot hold is an error naming the
// path, never an image without it.
func TestFsImageRefuses(t *testing.T) {
	mod := func(f func(m *memSource)) *memSource {
		m := fixture()
		f(m)
		return m
	}
	tests := []struct {
		format Format
		src    *memSource
		err    string
	}{
		{FormatSquashfs, mod(func(m *memSource) {
			m.entries = append(m.entries, rootfs.Entry{Path: "/acl", Type: tar.TypeDir, Mode: 0o755, Xattrs: map[string]string{"system.posix_acl_default": "x"}})
		}), "/acl has the xattr system.posix_acl_default, which squashfs cannot hold"},
		{FormatExt4, mod(func(m *memSource) {
			m.entries = append(m.entries, rootfs.Entry{Path: "/odd", Type: tar.TypeDir, Mode: 0o755, Xattrs: map[string]string{"os2.x": "x"}})
		}), `/odd has the xattr "os2.x", which ext4 cannot hold`},
		{FormatExt4, mod(func(m *memSource) {
			m.entries = append(m.entries, rootfs.Entry{Path: "/etc/a\nb", Type: tar.TypeDir, Mode: 0o755})
		}), "cannot take a name with a newline"},
		{FormatExt4, mod(func(m *memSource) {
			m.entries = append(m.entries, rootfs.Entry{Path: "/lost+found", Type: tar.TypeSymlink, Linkname: "x"})
		}), "/lost+found is a symlink"},
		{FormatExt4, mod(func(m *memSource) {
			m.entries = append(m.entries, rootfs.Entry{Path: "/dev/big", Type: tar.TypeChar, Devmajor: 8, Devminor: 70000})
		}), "/dev/big: debugfs, which writes the ext4 image, takes device numbers up to 65535 (8, 70000)"},
	}
	for _, tt := range tests {
		needTools(t, tt.format)
		dir := t.TempDir()
		_, err := Write(context.Background(), tt.src, filepath.Join(dir, "x"), Options{Format: tt.format, Epoch: epoch})
		if err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("%s: %v, want %q", tt.format, err, tt.err)
		}
		if names, _ := os.ReadDir(dir); len(names) != 0 {
			t.Errorf("%s: left %v", tt.format, names)
		}
	}
}

// TestExt4Names: names debugfs's parser treats specially (quotes,
// spaces, a backslash, a leading '#' or '-') arrive as they are.
func TestExt4Names(t *testing.T) {
	needTools(t, FormatExt4)
	names := []string{`/a"b`, "/a b", `/a\b`, "/#x", "/-x", "/a'b", "/tab\tx", "/ünï"}
	m := &memSource{files: map[string][]byte{}}
	m.entries = append(m.entries, rootfs.Entry{Path: "/", Type: tar.TypeDir, Mode: 0o755})
	for i, n := range names {
		m.entries = append(m.entries, rootfs.Entry{Path: n, Type: tar.TypeReg, Mode: 0o644, Size: 1})
		m.files[n] = []byte{byte('0' + i)}
	}
	m.entries = append(m.entries, rootfs.Entry{Path: "/dev", Type: tar.TypeDir, Mode: 0o755},
		rootfs.Entry{Path: `/dev/"q u"`, Type: tar.TypeChar, Mode: 0o600, Devmajor: 300, Devminor: 65535},
		rootfs.Entry{Path: "/l", Type: tar.TypeSymlink, Linkname: `-> "x" y`})
	target := filepath.Join(t.TempDir(), "n.ext4")
	write(t, m, target, Options{})
	for i, n := range names {
		out, err := run(t, toolDebugfs, "-R", "cat "+dq(n), target).Output()
		if err != nil || string(out) != string([]byte{byte('0' + i)}) {
			t.Errorf("%q: %q, %v", n, out, err)
		}
	}
	if st := debugfsStat(t, target, `/dev/"q u"`); !strings.Contains(st, "Device major/minor number: 300:65535") {
		t.Errorf("device: %s", st)
	}
	if st := debugfsStat(t, target, "/l"); !strings.Contains(st, `Fast link dest: "-> "x" y"`) {
		t.Errorf("symlink: %s", st)
	}
}
