package main

import (
	"archive/tar"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/debstrap/debstrap/internal/testarchive"
)

// mmdebstrap's hooks: the special ones act on the root as the builder,
// owners in the table; shell hooks run as root of the build.
func TestHooks(t *testing.T) {
	h := newHarness(t, testarchive.Minimal())
	dir := t.TempDir()
	in := filepath.Join(dir, "motd")
	os.WriteFile(in, []byte("hello\n"), 0o640)
	os.MkdirAll(filepath.Join(dir, "tree", "sub"), 0o755)
	os.WriteFile(filepath.Join(dir, "tree", "sub", "f"), []byte("f\n"), 0o600)
	os.Symlink("sub/f", filepath.Join(dir, "tree", "link"))
	// A tarball whose file belongs to 1000:1000.
	tin := filepath.Join(dir, "in.tar")
	tf, _ := os.Create(tin)
	tw := tar.NewWriter(tf)
	tw.WriteHeader(&tar.Header{Name: "./data/", Typeflag: tar.TypeDir, Mode: 0o750, Uid: 1000, Gid: 1000})
	tw.WriteHeader(&tar.Header{Name: "./data/owned", Typeflag: tar.TypeReg, Mode: 0o644, Uid: 1000, Gid: 1000, Size: 3})
	tw.Write([]byte("own"))
	tw.Close()
	tf.Close()
	out := filepath.Join(dir, "out")
	os.Mkdir(out, 0o755)
	target := filepath.Join(dir, "image.tar")
	h.build(t, target,
		"--setup-hook=upload "+in+" /etc/motd",
		"--extract-hook=copy-in "+filepath.Join(dir, "tree")+" /opt",
		"--customize-hook=tar-in "+tin+" /srv",
		"--customize-hook=download /etc/nanorc "+filepath.Join(out, "nanorc"),
		"--customize-hook=tar-out /opt "+filepath.Join(out, "opt.tar"),
		"--customize-hook=sync-out /opt/tree "+filepath.Join(out, "sync"),
		"--essential-hook=sync-in "+filepath.Join(dir, "tree")+" /srv/synced",
		"--customize-hook=copy-out /etc/nanorc /opt/tree "+out,
	)
	img := readImage(t, target)
	for p, want := range map[string]struct {
		mode     int64
		uid, gid int
		body     string
	}{
		"etc/motd":         {0o640, 0, 0, "hello\n"},
		"opt/tree/sub/f":   {0o600, 0, 0, "f\n"},
		"srv/data":         {0o750, 1000, 1000, ""},
		"srv/data/owned":   {0o644, 1000, 1000, "own"},
		"srv/synced/sub/f": {0o600, 0, 0, "f\n"},
	} {
		e, ok := img.entries[p]
		if !ok {
			t.Errorf("%s is not in the image", p)
			continue
		}
		if e.hdr.Mode&0o7777 != want.mode || e.hdr.Uid != want.uid || e.hdr.Gid != want.gid || string(e.body) != want.body {
			t.Errorf("%s: mode %o %d:%d %q, want %o %d:%d %q", p, e.hdr.Mode, e.hdr.Uid, e.hdr.Gid, e.body, want.mode, want.uid, want.gid, want.body)
		}
	}
	if e := img.entries["opt/tree/link"]; e.hdr.Typeflag != tar.TypeSymlink || e.hdr.Linkname != "sub/f" {
		t.Errorf("opt/tree/link: %+v", e.hdr)
	}
	if b, err := os.ReadFile(filepath.Join(out, "nanorc")); err != nil || string(b) != "# nanorc\n" {
		t.Errorf("download: %q %v", b, err)
	}
	if b, err := os.ReadFile(filepath.Join(out, "tree", "sub", "f")); err != nil || string(b) != "f\n" {
		t.Errorf("copy-out: %q %v", b, err)
	}
	if b, err := os.ReadFile(filepath.Join(out, "sync", "sub", "f")); err != nil || string(b) != "f\n" {
		t.Errorf("sync-out: %q %v", b, err)
	}
	tarOut := &image{entries: map[string]imageEntry{}}
	readTarInto(t, tarOut, open(t, filepath.Join(out, "opt.tar")))
	if e, ok := tarOut.entries["tree/sub/f"]; !ok || e.hdr.Uid != 0 || string(e.body) != "f\n" {
		t.Errorf("tar-out: %v", tarOut.order)
	}

	// Bad special hooks are named before any work; a failing shell hook
	// fails the build with its command and status, and leaves no target.
	r := h.run(t.Context(), "build", "--mode=extract", "--customize-hook=copy-in onlyone", "stable", filepath.Join(dir, "x.tar"), h.srv.URL)
	if r.code == 0 || !strings.Contains(r.stderr, "copy-in takes two or more arguments") {
		t.Errorf("bad copy-in: %s", r)
	}
	if os.Geteuid() != 0 {
		t.Skip("the shell hooks need root or a user namespace; the configure package tests them")
	}
	failed := filepath.Join(dir, "failed.tar")
	r = h.run(t.Context(), "build", "--mode=extract", "--customize-hook=echo bad >&2; exit 7", "stable", failed, h.srv.URL)
	if r.code == 0 || !strings.Contains(r.stderr, `--customize-hook "echo bad >&2; exit 7"`) || !strings.Contains(r.stderr, "exit status 7") {
		t.Errorf("failing hook: %s", r)
	}
	if _, err := os.Stat(failed); err == nil {
		t.Error("a failed build left its target")
	}
	shell := filepath.Join(dir, "shell.tar")
	h.build(t, shell, `--customize-hook=echo "$DEBSTRAP_HOOK $DEBSTRAP_MODE" > "$1/etc/from-hook"; mkdir "$1/var/made"`)
	img = readImage(t, shell)
	if e := img.entries["etc/from-hook"]; string(e.body) != "customize extract\n" || e.hdr.Uid != 0 {
		t.Errorf("shell hook: %q uid %d", e.body, e.hdr.Uid)
	}
	if e, ok := img.entries["var/made"]; !ok || e.hdr.Typeflag != tar.TypeDir || e.hdr.Uid != 0 {
		t.Errorf("var/made: %+v", e.hdr)
	}
}
