package manifest

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/debstrap/debstrap/export"
	"github.com/debstrap/debstrap/rootfs"
)

// e2fsTool finds an e2fsprogs program, in /usr/sbin when PATH lacks it.
func e2fsTool(t *testing.T, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, d := range []string{"/usr/sbin", "/sbin"} {
		if _, err := os.Stat(filepath.Join(d, name)); err == nil {
			return filepath.Join(d, name)
		}
	}
	t.Skipf("%s: install the Debian package e2fsprogs", name)
	return ""
}

// acl is a POSIX ACL as the system.posix_acl_* xattr holds it: owner
// rwx, user 1000 r-x, group r-x, mask r-x, other ---.
func acl() string {
	var b []byte
	b = binary.LittleEndian.AppendUint32(b, 2)
	for _, e := range [][3]uint32{{1, 7, 0xFFFFFFFF}, {2, 5, 1000}, {4, 5, 0xFFFFFFFF}, {0x10, 5, 0xFFFFFFFF}, {0x20, 0, 0xFFFFFFFF}} {
		b = binary.LittleEndian.AppendUint16(b, uint16(e[0]))
		b = binary.LittleEndian.AppendUint16(b, uint16(e[1]))
		b = binary.LittleEndian.AppendUint32(b, e[2])
	}
	return string(b)
}

// An ext4 image describes the same root as the tar, POSIX ACLs (which
// ext4 stores in a form of its own) and a root's own lost+found included.
func TestExt4Manifest(t *testing.T) {
	skipWithout(t, "x.ext4")
	src := exportFixture()
	mtime := time.Unix(1700000000, 0)
	src.entries = append(src.entries,
		rootfs.Entry{Path: "/srv", Type: tar.TypeDir, Mode: 0o2775, Gid: 50, ModTime: mtime,
			Xattrs: map[string]string{"system.posix_acl_access": acl(), "system.posix_acl_default": acl()}},
		rootfs.Entry{Path: "/lost+found", Type: tar.TypeDir, Mode: 0o700, ModTime: mtime},
		rootfs.Entry{Path: "/lost+found/kept", Type: tar.TypeReg, Mode: 0o644, Size: 4, ModTime: mtime})
	src.files["/lost+found/kept"] = []byte("kept")
	dir := t.TempDir()
	ctx := context.Background()
	for _, n := range []string{"root.tar", "root.ext4"} {
		if _, err := export.Write(ctx, src, filepath.Join(dir, n), export.Options{}); err != nil {
			t.Fatal(err)
		}
	}
	a, b := readPath(t, filepath.Join(dir, "root.tar")), readPath(t, filepath.Join(dir, "root.ext4"))
	if d, _ := Diff(a, b, DiffOptions{}); len(d) != 0 {
		t.Errorf("the ext4 image differs from the tar:\n%s", lines(d))
	}
	if e, ok := b.Lookup("/srv"); !ok || e.Xattrs["system.posix_acl_access"] != acl() {
		t.Errorf("/srv: %+v", e)
	}
	if _, ok := b.Lookup("/lost+found/kept"); !ok {
		t.Error("the root's own lost+found was left out")
	}
}

// An ext2 image (block maps, with indirect blocks and holes, 1 KiB
// blocks) made by mke2fs -d reads as the directory it was made from.
func TestExt2Manifest(t *testing.T) {
	mke2fs := e2fsTool(t, "mke2fs")
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	if err := os.MkdirAll(filepath.Join(root, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte("ext2 indirect blocks "), 20_000) // 420 KB: double indirect at 1 KiB
	for name, data := range map[string][]byte{"big": big, "sub/small": []byte("small\n"), "empty": nil} {
		if err := os.WriteFile(filepath.Join(root, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A sparse file: a hole, then data.
	f, err := os.Create(filepath.Join(root, "sparse"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("after the hole"), 300_000); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := os.Symlink(strings.Repeat("long/", 20), filepath.Join(root, "slow-link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("short", filepath.Join(root, "fast-link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(root, "big"), filepath.Join(root, "sub/big-again")); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(dir, "root.ext2")
	if out, err := exec.Command(mke2fs, "-q", "-F", "-t", "ext2", "-b", "1024", "-d", root, img, "4096").CombinedOutput(); err != nil {
		t.Fatalf("mke2fs: %v\n%s", err, out)
	}
	want, got := readPath(t, root), readPath(t, img)
	// The directory's root entry has the test directory's mode and owner;
	// the image's root is mke2fs's.
	if d, _ := Diff(want, got, DiffOptions{Ignore: []string{"/"}}); len(d) != 0 {
		t.Errorf("the ext2 image differs from its directory:\n%s", lines(d))
	}
}

// A damaged image is an error, never a panic or a wrong description.
func TestExt4Damaged(t *testing.T) {
	skipWithout(t, "x.ext4")
	dir := t.TempDir()
	img := filepath.Join(dir, "root.ext4")
	if _, err := export.Write(context.Background(), exportFixture(), img, export.Options{}); err != nil {
		t.Fatal(err)
	}
	good, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	// Damage each region in turn: the superblock, the group descriptors,
	// the inode table, and data blocks.
	for _, off := range []int{1024 + 4, 1024 + 24, 1024 + 40, 1024 + 88, 4096 + 8, 4096 * 3, 4096 * 40, 4096 * 60, 4096 * 100} {
		for _, fill := range []byte{0x00, 0xff, 0x5a} {
			bad := bytes.Clone(good)
			for i := off; i < off+64 && i < len(bad); i++ {
				bad[i] = fill
			}
			p := filepath.Join(dir, "bad.ext4")
			if err := os.WriteFile(p, bad, 0o644); err != nil {
				t.Fatal(err)
			}
			// Must return, with an error or a description; not panic.
			Read(context.Background(), p)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "cut.ext4"), good[:8192], 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(context.Background(), filepath.Join(dir, "cut.ext4")); err == nil {
		t.Error("a cut image read without error")
	}
}

// Without sqfs2tar, reading a squashfs image names the package to
// install.
func TestSquashfsNoTool(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.sqfs")
	if err := os.WriteFile(p, []byte("hsqs and more"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", t.TempDir())
	_, err := Read(context.Background(), p)
	if err == nil || !strings.Contains(err.Error(), "install the Debian package squashfs-tools-ng") {
		t.Errorf("err %v", err)
	}
}
