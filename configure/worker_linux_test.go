package configure

import (
	"archive/tar"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/debstrap/debstrap/rootfs"
)

// capNetRaw is a v2 security.capability value: cap_net_raw, effective.
var capNetRaw = string([]byte{1, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})

// oddRoot is a data.tar with what materialize and scan must keep.
func oddRoot() []tfile {
	return []tfile{
		dir("./", 0o755, 0, 0),
		dir("./dev/", 0o755, 0, 0),
		{name: "./dev/null", typ: tar.TypeChar, mode: 0o666, major: 1, minor: 3},
		{name: "./dev/sda", typ: tar.TypeBlock, mode: 0o660, gid: 6, major: 8, minor: 0},
		{name: "./dev/initctl", typ: tar.TypeFifo, mode: 0o600},
		dir("./etc/", 0o755, 0, 0),
		reg("./etc/conf", 0o644, 0, 0, "conf\n"),
		reg("./etc/obsolete", 0o644, 0, 0, "old\n"),
		reg("./etc/shadow", 0o640, 0, 42, "root:*:1::::::\n"),
		reg("./etc/was-file", 0o644, 0, 0, "file\n"),
		dir("./tmp/", 0o1777, 0, 0),
		dir("./usr/", 0o755, 0, 0),
		dir("./usr/bin/", 0o755, 0, 0),
		reg("./usr/bin/a", 0o755, 0, 0, "same\n"),
		{name: "./usr/bin/b", typ: tar.TypeLink, link: "./usr/bin/a", mode: 0o755},
		{name: "./usr/bin/ping", typ: tar.TypeReg, mode: 0o755, data: "ping\n", xattrs: map[string]string{"security.capability": capNetRaw}},
		reg("./usr/bin/su", 0o4755, 0, 0, "su\n"),
		{name: "./usr/bin/sym", typ: tar.TypeSymlink, link: "a", mode: 0o777},
		reg("./usr/bin/tool", 0o755, 0, 0, "tool\n"),
		reg("./usr/bin/wall", 0o2755, 0, 5, "wall\n"),
		dir("./usr/share/", 0o755, 0, 0),
		dir("./usr/share/old/", 0o755, 0, 0),
		reg("./usr/share/old/x", 0o644, 0, 0, "x\n"),
		dir("./usr/share/was-dir/", 0o755, 0, 0),
		reg("./usr/share/was-dir/child", 0o644, 0, 0, "child\n"),
		dir("./var/", 0o755, 0, 0),
		dir("./var/log/", 0o755, 0, 0),
		dir("./var/mail/", 0o2775, 0, 8),
		dir("./var/spool/", 0o755, 0, 0),
		dir("./var/spool/cron/", 0o1730, 0, 65534),
	}
}

// needRoot skips tests that need root with its powers: chown, mknod.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	if err := canMknod(t.TempDir()); err != nil {
		t.Skipf("root without the usual powers: %v", err)
	}
}

func canMknod(dir string) error {
	p := filepath.Join(dir, "null")
	if err := unix.Mknod(p, unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))); err != nil {
		return err
	}
	defer os.Remove(p)
	return os.Lchown(p, 42, 42)
}

func jobFor(st *rootfs.Stage, uid, gid int) (*job, []rootfs.Entry) {
	before := st.Entries()
	j := &job{Root: st.Dir(), Uid: uid, Gid: gid}
	for _, e := range before {
		j.Entries = append(j.Entries, toWire(e))
	}
	return j, before
}

func diskStat(t *testing.T, p string) *syscall.Stat_t {
	t.Helper()
	st, err := lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// checkBuilderState checks the disk is as the rootfs stage keeps it.
func checkBuilderState(t *testing.T, dir string, uid, gid int) {
	t.Helper()
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Error(err)
			return nil
		}
		st := diskStat(t, p)
		if int(st.Uid) != uid || int(st.Gid) != gid {
			t.Errorf("%s: owner %d:%d on disk, want the builder %d:%d", p, st.Uid, st.Gid, uid, gid)
		}
		m := st.Mode & 0o7777
		switch st.Mode & syscall.S_IFMT {
		case syscall.S_IFDIR:
			want := uint32(0o755)
			if p == dir {
				want = 0o700
			}
			if m != want {
				t.Errorf("%s: directory mode %o on disk, want %o", p, m, want)
			}
		case syscall.S_IFREG:
			if m != 0o644 && m != 0o755 {
				t.Errorf("%s: file mode %o on disk", p, m)
			}
			if x, _ := listXattrs(p); len(x) > 0 {
				t.Errorf("%s: xattrs left on disk: %v", p, x)
			}
		case syscall.S_IFLNK:
		default:
			t.Errorf("%s: mode %o on disk: not a file, directory or symlink", p, st.Mode)
		}
		return nil
	})
}

// checkDiskMatchesTable checks that the staging directory holds exactly
// the table's paths, each of the right kind, and that the table reloads.
func checkDiskMatchesTable(t *testing.T, st *rootfs.Stage) {
	t.Helper()
	table := byPath(st.Entries())
	seen := map[string]bool{}
	filepath.WalkDir(st.Dir(), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Error(err)
			return nil
		}
		tp := "/" + strings.TrimPrefix(strings.TrimPrefix(p, st.Dir()), "/")
		seen[tp] = true
		e, ok := table[tp]
		if !ok {
			t.Errorf("%s on disk, not in the table", tp)
			return nil
		}
		fi, _ := os.Lstat(p)
		switch kind(e.Type) {
		case tar.TypeDir:
			if !fi.IsDir() {
				t.Errorf("%s: a directory in the table, %v on disk", tp, fi.Mode())
			}
		case tar.TypeSymlink:
			target, err := os.Readlink(p)
			if err != nil || target != e.Linkname {
				t.Errorf("%s: symlink to %q in the table, %q (%v) on disk", tp, e.Linkname, target, err)
			}
		case tar.TypeReg:
			if !fi.Mode().IsRegular() {
				t.Errorf("%s: a file in the table, %v on disk", tp, fi.Mode())
			} else if e.Type == tar.TypeReg && fi.Size() != e.Size {
				t.Errorf("%s: size %d in the table, %d on disk", tp, e.Size, fi.Size())
			}
		default:
			if !fi.Mode().IsRegular() || fi.Size() != 0 {
				t.Errorf("%s: a %q in the table, not an empty placeholder on disk (%v)", tp, e.Type, fi.Mode())
			}
		}
		return nil
	})
	for p := range table {
		if !seen[p] {
			t.Errorf("%s in the table, not on disk", p)
		}
	}
	if err := st.Save(); err != nil {
		t.Fatal(err)
	}
	re, err := rootfs.Open(st.Dir(), rootfs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer re.Close()
	if got, want := re.Entries(), st.Entries(); !reflect.DeepEqual(got, want) {
		t.Error("the saved table reloads differently")
	}
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// TestMaterializeRescan: a table with odd owners, setuid and setgid
// bits, a capability, devices, a fifo and hard links goes to disk and
// comes back the same; the disk then is the builder's again.
func TestMaterializeRescan(t *testing.T) {
	needRoot(t)
	st := newStage(t, rootfs.Options{}, oddRoot())
	const builder = 4321
	j, before := jobFor(st, builder, builder)
	w, err := newWorker(j, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.materialize(j.Entries); err != nil {
		t.Fatal(err)
	}
	dir := st.Dir()
	for _, c := range []struct {
		path     string
		mode     uint32
		uid, gid uint32
		rdev     uint64
	}{
		{"/dev/null", syscall.S_IFCHR | 0o666, 0, 0, unix.Mkdev(1, 3)},
		{"/dev/sda", syscall.S_IFBLK | 0o660, 0, 6, unix.Mkdev(8, 0)},
		{"/dev/initctl", syscall.S_IFIFO | 0o600, 0, 0, 0},
		{"/etc/shadow", syscall.S_IFREG | 0o640, 0, 42, 0},
		{"/usr/bin/su", syscall.S_IFREG | 0o4755, 0, 0, 0},
		{"/usr/bin/wall", syscall.S_IFREG | 0o2755, 0, 5, 0},
		{"/var/mail", syscall.S_IFDIR | 0o2775, 0, 8, 0},
		{"/var/spool/cron", syscall.S_IFDIR | 0o1730, 0, 65534, 0},
		{"/tmp", syscall.S_IFDIR | 0o1777, 0, 0, 0},
		{"/", syscall.S_IFDIR | 0o755, 0, 0, 0},
	} {
		s := diskStat(t, w.disk(c.path))
		if s.Mode != c.mode || s.Uid != c.uid || s.Gid != c.gid || s.Rdev != c.rdev {
			t.Errorf("%s on disk: mode %o %d:%d rdev %x, want %o %d:%d %x", c.path, s.Mode, s.Uid, s.Gid, s.Rdev, c.mode, c.uid, c.gid, c.rdev)
		}
	}
	if v, err := unix.Getxattr(w.disk("/usr/bin/ping"), "security.capability", make([]byte, 64)); err != nil || v != len(capNetRaw) {
		t.Errorf("capability on disk: %d bytes, %v", v, err)
	}
	snap, err := w.snapshot(j.Entries)
	if err != nil {
		t.Fatal(err)
	}
	scan, err := w.scan(snap)
	if err != nil {
		t.Fatal(err)
	}
	if len(scan) != len(j.Entries) {
		t.Errorf("scan has %d paths, table %d", len(scan), len(j.Entries))
	}
	for i, n := range scan {
		if i >= len(j.Entries) {
			break
		}
		o := j.Entries[i]
		got := wireEntry{Path: n.Path, Type: n.Type, Mode: n.Mode, Uid: n.Uid, Gid: n.Gid, Size: n.Size,
			Linkname: n.Linkname, Devmajor: n.Devmajor, Devminor: n.Devminor, Xattrs: n.Xattrs, MTime: n.MTime}
		if !reflect.DeepEqual(got, o) {
			t.Errorf("scan %+v\n table %+v", got, o)
		}
		if n.Changed || n.MTimeChanged {
			t.Errorf("%s: unchanged path reported changed", n.Path)
		}
	}
	if err := w.restore(); err != nil {
		t.Fatal(err)
	}
	checkBuilderState(t, dir, builder, builder)
	// Give the directory back to root for the Stage's own operations.
	w.uid, w.gid = 0, 0
	if err := w.restore(); err != nil {
		t.Fatal(err)
	}
	if err := apply(st, before, scan, testLogger(t)); err != nil {
		t.Fatal(err)
	}
	if after := st.Entries(); !reflect.DeepEqual(after, before) {
		t.Errorf("the table changed on a round trip")
	}
	checkDiskMatchesTable(t, st)
}

// TestRescanChanges: what maintainer scripts do to a root reaches the
// table.
func TestRescanChanges(t *testing.T) {
	needRoot(t)
	st := newStage(t, rootfs.Options{}, oddRoot())
	j, before := jobFor(st, 0, 0)
	w, err := newWorker(j, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.materialize(j.Entries); err != nil {
		t.Fatal(err)
	}
	snap, err := w.snapshot(j.Entries)
	if err != nil {
		t.Fatal(err)
	}
	d := w.disk
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	// What scripts would do.
	must(os.WriteFile(d("/etc/passwd"), []byte("root:x:0:0:root:/root:/bin/sh\n"), 0o644))
	must(os.MkdirAll(d("/var/lib/new/sub"), 0o700))
	must(os.WriteFile(d("/var/lib/new/sub/file"), []byte("new\n"), 0o600))
	must(os.Lchown(d("/var/lib/new"), 42, 42))
	must(os.Symlink("/usr/bin/ping", d("/etc/alt")))
	f, err := os.OpenFile(d("/etc/conf"), os.O_WRONLY|os.O_TRUNC, 0)
	must(err)
	f.Write([]byte("edited in place\n"))
	f.Close()
	must(os.Lchown(d("/usr/bin/tool"), 0, 0))
	must(syscall.Chmod(d("/usr/bin/tool"), 0o4711))
	must(unix.Lsetxattr(d("/usr/bin/tool"), "security.capability", []byte(capNetRaw), 0))
	must(os.Lchown(d("/var/log"), 0, 4))
	must(os.Remove(d("/etc/obsolete")))
	must(os.RemoveAll(d("/usr/share/old")))
	must(os.Remove(d("/etc/was-file")))
	must(os.Mkdir(d("/etc/was-file"), 0o750))
	must(os.WriteFile(d("/etc/was-file/inside"), []byte("in\n"), 0o644))
	must(os.RemoveAll(d("/usr/share/was-dir")))
	must(os.Symlink("elsewhere", d("/usr/share/was-dir")))
	must(os.Link(d("/usr/bin/tool"), d("/usr/bin/tool2")))
	must(os.Remove(d("/usr/bin/sym")))
	must(os.Symlink("ping", d("/usr/bin/sym")))
	must(os.WriteFile(d("/usr/bin/b.new"), []byte("b is different now\n"), 0o755))
	must(os.Rename(d("/usr/bin/b.new"), d("/usr/bin/b")))
	must(unix.Mkfifo(d("/tmp/fifo"), 0o600))
	// Same size, same mtime (touch --reference), maybe the same inode
	// number: still a change.
	must(os.Remove(d("/etc/shadow")))
	must(os.WriteFile(d("/etc/shadow"), []byte("root:!:1::::::\n"), 0o640))
	must(os.Lchown(d("/etc/shadow"), 0, 42))
	must(os.Chtimes(d("/etc/shadow"), epoch, epoch))

	scan, err := w.scan(snap)
	must(err)
	must(w.restore())
	checkBuilderState(t, st.Dir(), 0, 0)
	must(apply(st, before, scan, testLogger(t)))

	got := byPath(st.Entries())
	for _, c := range []struct {
		path    string
		typ     byte
		mode    int64
		uid     int
		gid     int
		content string // regular files
		link    string
	}{
		{"/etc/passwd", tar.TypeReg, 0o644, 0, 0, "root:x:0:0:root:/root:/bin/sh\n", ""},
		{"/var/lib/new", tar.TypeDir, 0o700, 42, 42, "", ""},
		{"/var/lib/new/sub", tar.TypeDir, 0o700, 0, 0, "", ""},
		{"/var/lib/new/sub/file", tar.TypeReg, 0o600, 0, 0, "new\n", ""},
		{"/etc/alt", tar.TypeSymlink, 0o777, 0, 0, "", "/usr/bin/ping"},
		{"/etc/conf", tar.TypeReg, 0o644, 0, 0, "edited in place\n", ""},
		{"/usr/bin/tool", tar.TypeReg, 0o4711, 0, 0, "tool\n", ""},
		{"/usr/bin/tool2", tar.TypeReg, 0o4711, 0, 0, "tool\n", ""},
		{"/var/log", tar.TypeDir, 0o755, 0, 4, "", ""},
		{"/etc/was-file", tar.TypeDir, 0o750, 0, 0, "", ""},
		{"/etc/was-file/inside", tar.TypeReg, 0o644, 0, 0, "in\n", ""},
		{"/usr/share/was-dir", tar.TypeSymlink, 0o777, 0, 0, "", "elsewhere"},
		{"/usr/bin/sym", tar.TypeSymlink, 0o777, 0, 0, "", "ping"},
		{"/usr/bin/a", tar.TypeReg, 0o755, 0, 0, "same\n", ""},
		{"/usr/bin/b", tar.TypeReg, 0o755, 0, 0, "b is different now\n", ""},
		{"/dev/null", tar.TypeChar, 0o666, 0, 0, "", ""},
		{"/etc/shadow", tar.TypeReg, 0o640, 0, 42, "root:!:1::::::\n", ""},
	} {
		e, ok := got[c.path]
		if !ok {
			t.Errorf("%s: not in the table", c.path)
			continue
		}
		if e.Type != c.typ || e.Mode != c.mode || e.Uid != c.uid || e.Gid != c.gid || e.Linkname != c.link {
			t.Errorf("%s: %q %o %d:%d %q, want %q %o %d:%d %q", c.path, e.Type, e.Mode, e.Uid, e.Gid, e.Linkname, c.typ, c.mode, c.uid, c.gid, c.link)
		}
		if c.typ == tar.TypeReg {
			data, err := st.ReadFile(c.path)
			if err != nil || string(data) != c.content {
				t.Errorf("%s: content %q (%v), want %q", c.path, data, err, c.content)
			}
		}
	}
	if x := got["/usr/bin/tool"].Xattrs["security.capability"]; x != capNetRaw {
		t.Errorf("/usr/bin/tool capability %q", x)
	}
	if got["/usr/bin/ping"].Xattrs["security.capability"] != capNetRaw {
		t.Errorf("/usr/bin/ping lost its capability")
	}
	if !got["/etc/passwd"].ModTime.After(epoch) {
		t.Errorf("/etc/passwd has the old mtime %v", got["/etc/passwd"].ModTime)
	}
	if !got["/usr/bin/a"].ModTime.Equal(epoch) || !got["/usr/bin/ping"].ModTime.Equal(epoch) {
		t.Errorf("unchanged files got new mtimes")
	}
	if got["/etc/conf"].Package != "pkga" || got["/etc/was-file"].Package != "pkga" || got["/etc/passwd"].Package != "" {
		t.Errorf("packages: conf %q, was-file %q, passwd %q", got["/etc/conf"].Package, got["/etc/was-file"].Package, got["/etc/passwd"].Package)
	}
	for _, p := range []string{"/etc/obsolete", "/usr/share/old", "/usr/share/old/x", "/usr/share/was-dir/child", "/tmp/fifo"} {
		if _, ok := got[p]; ok {
			t.Errorf("%s still in the table", p)
		}
	}
	checkDiskMatchesTable(t, st)
}

// TestRestoreAfterFailure: a materialized disk given back unscanned.
func TestRestoreAfterFailure(t *testing.T) {
	needRoot(t)
	st := newStage(t, rootfs.Options{}, oddRoot())
	j, _ := jobFor(st, 0, 0)
	w, err := newWorker(j, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	// The disk disagrees with the table: materialize stops, restore still
	// gives back what it did.
	if err := os.Remove(w.disk("/var/spool/cron")); err != nil {
		t.Fatal(err)
	}
	err = w.materialize(j.Entries)
	if err == nil || !strings.Contains(err.Error(), "/var/spool/cron") {
		t.Fatalf("materialize: %v", err)
	}
	if err := w.restore(); err != nil {
		t.Fatal(err)
	}
	checkBuilderState(t, st.Dir(), 0, 0)
}
