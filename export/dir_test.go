package export

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestDir(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "root")
	var logs bytes.Buffer
	if d := write(t, fixture(), target, Options{Log: slog.New(slog.NewTextHandler(&logs, nil))}); d != "" {
		t.Errorf("directory digest %q, want none", d)
	}
	assertNoTemp(t, dir)
	root := geteuid() == 0
	o := time.Unix(older.Unix(), 0)

	type st struct {
		path     string
		mode     os.FileMode
		uid, gid int
		mtime    time.Time
		content  string
		link     string
	}
	for _, w := range []st{
		{path: "", mode: os.ModeDir | 0o755, mtime: o},
		{path: "bin", mode: os.ModeSymlink | 0o777, mtime: o, link: "usr/bin"},
		{path: "etc", mode: os.ModeDir | 0o755, mtime: o},
		{path: "etc/passwd", mode: 0o644, mtime: o, content: "root:x:0:0:root:/root:/bin/bash\n"},
		{path: "etc/shadow", mode: 0o640, gid: 42, mtime: o, content: "root:*:19000:0:99999:7:::\n"},
		{path: "etc/hostname", mode: 0o644, mtime: epoch, content: "debstrap\n"},
		{path: "etc/empty", mode: 0o644, mtime: o},
		{path: "tmp", mode: os.ModeDir | os.ModeSticky | 0o777, mtime: o},
		{path: "run/initctl", mode: os.ModeNamedPipe | 0o600, mtime: o},
		{path: "usr/bin/passwd", mode: os.ModeSetuid | 0o755, mtime: o, content: "ELF passwd"},
		{path: "usr/lib/y", mode: 0o644, mtime: o, content: "shared inode"},
		{path: "usr/lib/long-link", mode: os.ModeSymlink | 0o777, mtime: o, link: longLink},
		{path: strings.TrimPrefix(longName, "/"), mode: 0o644, mtime: o, content: "long name"},
		{path: "usr/share/big-uid", mode: 0o600, uid: 3_000_000, gid: 3_000_000, mtime: o, content: "owned by a large uid"},
	} {
		p := filepath.Join(target, w.path)
		fi, err := os.Lstat(p)
		if err != nil {
			t.Error(err)
			continue
		}
		if fi.Mode() != w.mode {
			t.Errorf("/%s: mode %v, want %v", w.path, fi.Mode(), w.mode)
		}
		if !fi.ModTime().Equal(w.mtime) {
			t.Errorf("/%s: mtime %v, want %v", w.path, fi.ModTime(), w.mtime)
		}
		if root {
			s := fi.Sys().(*syscall.Stat_t)
			if int(s.Uid) != w.uid || int(s.Gid) != w.gid {
				t.Errorf("/%s: owner %d:%d, want %d:%d", w.path, s.Uid, s.Gid, w.uid, w.gid)
			}
		}
		if fi.Mode().IsRegular() {
			if got := string(readFile(t, p)); got != w.content {
				t.Errorf("/%s: content %q, want %q", w.path, got, w.content)
			}
		}
		if w.link != "" {
			if l, err := os.Readlink(p); err != nil || l != w.link {
				t.Errorf("/%s: link %q %v, want %q", w.path, l, err, w.link)
			}
		}
	}
	for _, pair := range [][2]string{{"usr/lib/y", "usr/lib-z/x"}, {"usr/bin/perl", "usr/bin/perl5.36.0"}} {
		a, err1 := os.Lstat(filepath.Join(target, pair[0]))
		b, err2 := os.Lstat(filepath.Join(target, pair[1]))
		if err1 != nil || err2 != nil || !os.SameFile(a, b) {
			t.Errorf("%s and %s are not one inode (%v %v)", pair[0], pair[1], err1, err2)
		}
	}
	if root {
		// Only a chroot's harmless character devices are made: never
		// the host's disk (the tar and OCI outputs keep dev/sda).
		if _, err := os.Lstat(filepath.Join(target, "dev/sda")); err == nil {
			t.Error("dev/sda, a block device, was made in the directory")
		}
		if !strings.Contains(logs.String(), "device nodes other than null") {
			t.Errorf("no warning about the skipped device node:\n%s", logs.String())
		}
		fi, err := os.Lstat(filepath.Join(target, "dev/null"))
		if err != nil || fi.Mode()&os.ModeCharDevice == 0 || fi.Mode().Perm() != 0o666 {
			t.Fatalf("dev/null: %v %v", fi, err)
		}
		s := fi.Sys().(*syscall.Stat_t)
		if unix.Major(s.Rdev) != 1 || unix.Minor(s.Rdev) != 3 {
			t.Errorf("dev/null: rdev %d,%d", unix.Major(s.Rdev), unix.Minor(s.Rdev))
		}
		buf := make([]byte, 64)
		n, err := unix.Lgetxattr(filepath.Join(target, "usr/bin/ping"), "security.capability", buf)
		switch {
		case err != nil:
			t.Logf("security.capability not readable here (%v); logs: %s", err, logs.String())
		case string(buf[:n]) != capability:
			t.Errorf("security.capability %x, want %x", buf[:n], capability)
		}
	}
}

// TestDirAsUser: without root, owners are skipped with one warning,
// set-id bits are stripped, and everything else is written.
func TestDirAsUser(t *testing.T) {
	saved := geteuid
	geteuid = func() int { return 4242 }
	defer func() { geteuid = saved }()
	var logs bytes.Buffer
	target := filepath.Join(t.TempDir(), "root")
	write(t, fixture(), target, Options{Log: slog.New(slog.NewTextHandler(&logs, nil))})
	if n := strings.Count(logs.String(), "owners not set"); n != 1 {
		t.Errorf("%d owner warnings, want 1:\n%s", n, logs.String())
	}
	// Owned by the builder, a setuid file would run as the builder.
	if fi, err := os.Lstat(filepath.Join(target, "usr/bin/passwd")); err != nil || fi.Mode() != 0o755 {
		t.Errorf("passwd: %v %v, want 0755 without the setuid bit", fi.Mode(), err)
	}
	if n := strings.Count(logs.String(), "setuid/setgid bits stripped"); n != 1 {
		t.Errorf("%d set-id warnings, want 1:\n%s", n, logs.String())
	}
}

// TestDirReadOnlyDirs: a 0555 directory still receives its children, and
// ends with its mode.
func TestDirReadOnlyDirs(t *testing.T) {
	src := fixture()
	for i := range src.entries {
		if src.entries[i].Path == "/usr/bin" {
			src.entries[i].Mode = 0o555
		}
	}
	target := filepath.Join(t.TempDir(), "root")
	write(t, src, target, Options{})
	fi, err := os.Stat(filepath.Join(target, "usr/bin"))
	if err != nil || fi.Mode().Perm() != 0o555 {
		t.Errorf("usr/bin: %v %v", fi, err)
	}
	if _, err := os.Lstat(filepath.Join(target, "usr/bin/ping")); err != nil {
		t.Error(err)
	}
}

// diskSource is a staging root on disk, as rootfs.Stage keeps one.
type diskSource struct {
	*memSource
	dir string
}

func (d diskSource) Open(p string) (*os.File, error) { return os.Open(filepath.Join(d.dir, p)) }

// TestFromFiles: a root whose contents are files on disk, written as a
// directory (file-to-file copies) and as a tar, gives the same result as
// the in-memory one.
func TestFromFiles(t *testing.T) {
	mem := fixture()
	stage := t.TempDir()
	for p, b := range mem.files {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(stage, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(stage, p), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	src := FromFiles(diskSource{mem, stage})
	out := t.TempDir()
	if a, b := write(t, src, filepath.Join(out, "a.tar"), Options{}), write(t, mem, filepath.Join(out, "b.tar"), Options{}); a != b {
		t.Errorf("disk source tar %s, memory source tar %s", a, b)
	}
	root := filepath.Join(out, "root")
	write(t, src, root, Options{})
	if got := string(readFile(t, filepath.Join(root, "etc/passwd"))); got != string(mem.files["/etc/passwd"]) {
		t.Errorf("etc/passwd %q", got)
	}
	delete(mem.files, "/etc/passwd")
	os.Remove(filepath.Join(stage, "etc/passwd"))
	_, err := Write(context.Background(), src, filepath.Join(out, "c.tar"), Options{})
	if err == nil || !strings.Contains(err.Error(), "/etc/passwd") {
		t.Errorf("missing file: %v", err)
	}
}
