package main

import (
	"archive/tar"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/debstrap/debstrap/internal/testarchive"
)

// ownersArchive is the Minimal archive with a package whose files are not
// all root's: a setgid directory of group mail, a setuid program owned by
// a user, a file capability, a hardlink and a symlink.
func ownersArchive() testarchive.Archive {
	a := testarchive.Minimal()
	cap := string([]byte{0x01, 0x00, 0x00, 0x02, 0x00, 0x20, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	a.Suites[0].Packages["main"] = append(a.Suites[0].Packages["main"], testarchive.Deb{
		Name: "owners", Version: "1.0",
		Files: []testarchive.File{
			{Path: "./var/", Type: tar.TypeDir},
			{Path: "./var/spool/", Type: tar.TypeDir},
			{Path: "./var/spool/sample/", Type: tar.TypeDir, Mode: 0o2775, Gid: 8, Gname: "mail"},
			{Path: "./usr/", Type: tar.TypeDir},
			{Path: "./usr/bin/", Type: tar.TypeDir},
			{Path: "./usr/bin/owned", Mode: 0o4750, Uid: 1000, Gid: 1000, Body: []byte("owned by a user\n")},
			{Path: "./usr/bin/ping", Mode: 0o755, Body: []byte("ELF ping\n"),
				PAXRecords: map[string]string{"SCHILY.xattr.security.capability": cap}},
			{Path: "./usr/bin/ping6", Type: tar.TypeLink, Linkname: "usr/bin/ping"},
			{Path: "./usr/bin/pong", Type: tar.TypeSymlink, Linkname: "ping"},
		},
	})
	return a
}

// hostTool finds a program as export does (e2fsprogs is in /usr/sbin).
func hostTool(t *testing.T, name, pkg string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, d := range []string{"/usr/sbin", "/sbin"} {
		if _, err := os.Stat(filepath.Join(d, name)); err == nil {
			return filepath.Join(d, name)
		}
	}
	t.Skipf("%s: install the Debian package %s", name, pkg)
	return ""
}

// TestBuildFsImages: a squashfs and an ext4 image hold what the tar holds,
// owners (root's, and a user's and group's, though the build is rootless
// and its staging files are the builder's), modes, devices, symlinks,
// hardlinks and xattrs: 'debstrap diff' finds nothing, unsquashfs and
// debugfs show the owners, and the ext4 image passes e2fsck -fn.
func TestBuildFsImages(t *testing.T) {
	h := newHarness(t, ownersArchive())
	dir := t.TempDir()
	tarball := filepath.Join(dir, "rootfs.tar")
	h.build(t, tarball, "--include=owners")
	for _, tt := range []struct {
		name, format string
		tools        [][2]string // program, package
	}{
		{"rootfs.squashfs", "squashfs", [][2]string{{"tar2sqfs", "squashfs-tools-ng"}, {"sqfs2tar", "squashfs-tools-ng"}, {"unsquashfs", "squashfs-tools"}}},
		{"rootfs.sqfs", "squashfs", [][2]string{{"tar2sqfs", "squashfs-tools-ng"}, {"sqfs2tar", "squashfs-tools-ng"}}},
		{"rootfs.ext4", "ext4", [][2]string{{"mke2fs", "e2fsprogs"}, {"debugfs", "e2fsprogs"}, {"e2fsck", "e2fsprogs"}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			bins := map[string]string{}
			for _, tool := range tt.tools {
				bins[tool[0]] = hostTool(t, tool[0], tool[1])
			}
			target := filepath.Join(dir, tt.name)
			r := h.build(t, target, "--include=owners", "--quiet=false")
			if !regexp.MustCompile(`^` + regexp.QuoteMeta(target) + `: bookworm ` + tt.format + `, 8 packages, sha256:[0-9a-f]{64}, `).MatchString(r.stdout) {
				t.Errorf("stdout %q", r.stdout)
			}
			// The same manifest as the tar's.
			d := cli(t.Context(), "diff", tarball, target)
			want(t, d, 0, nil, nil)
			m := cli(t.Context(), "manifest", target)
			want(t, m, 0, []string{
				"/var/spool/sample dir 2775 0:8\n",
				"/usr/bin/owned file 4750 1000:1000 16 ",
				"/dev/null char 0666 0:0 1,3\n",
				"/usr/bin/pong symlink 0777 0:0 -> ping\n",
				"hardlink=/usr/bin/ping",
				"xattr.security.capability=",
			}, nil)

			switch tt.format {
			case "squashfs":
				if bins["unsquashfs"] == "" {
					return
				}
				out, err := exec.Command(bins["unsquashfs"], "-lln", target).CombinedOutput()
				if err != nil {
					t.Fatalf("unsquashfs -lln: %v\n%s", err, out)
				}
				for _, re := range []string{
					`(?m)^drwxr-xr-x 0/0 .* squashfs-root$`,
					`(?m)^drwxrwsr-x 0/8 .* squashfs-root/var/spool/sample$`,
					`(?m)^-rwsr-x--- 1000/1000 +16 .* squashfs-root/usr/bin/owned$`,
					`(?m)^crw-rw-rw- 0/0 +1, +3 .* squashfs-root/dev/null$`,
					`(?m)^lrwxrwxrwx 0/0 .* squashfs-root/usr/bin/pong -> ping$`,
					`(?m)^-rw-r--r-- 0/0 .* squashfs-root/etc/debian_version$`,
				} {
					if !regexp.MustCompile(re).Match(out) {
						t.Errorf("unsquashfs -lln lacks %s", re)
					}
				}
			case "ext4":
				if out, err := exec.Command(bins["e2fsck"], "-fn", target).CombinedOutput(); err != nil {
					t.Fatalf("e2fsck -fn: %v\n%s", err, out)
				}
				for p, res := range map[string][]string{
					"/":                   {`Type: directory +Mode: +0755 `, `User: +0 +Group: +0 `},
					"/etc/debian_version": {`Type: regular +Mode: +0644 `, `User: +0 +Group: +0 `},
					"/var/spool/sample":   {`Type: directory +Mode: +02775 `, `User: +0 +Group: +8 `},
					"/usr/bin/owned":      {`Type: regular +Mode: +04750 `, `User: +1000 +Group: +1000 `},
					"/usr/bin/ping":       {`Links: 2 `, `security.capability \(20\)`},
					"/dev/null":           {`Type: character special +Mode: +0666 `, `Device major/minor number: 01:03`},
					"/usr/bin/pong":       {`Fast link dest: "ping"`},
				} {
					out, err := exec.Command(bins["debugfs"], "-R", "stat "+p, target).CombinedOutput()
					if err != nil {
						t.Fatalf("debugfs stat %s: %v\n%s", p, err, out)
					}
					for _, re := range res {
						if !regexp.MustCompile(re).Match(out) {
							t.Errorf("debugfs stat %s lacks %s:\n%s", p, re, out)
						}
					}
				}
			}
		})
	}
}

// TestBuildNull: null (TARGET /dev/null, or --format=null with any
// TARGET) builds and checks everything and writes nothing.
func TestBuildNull(t *testing.T) {
	h := newHarness(t, testarchive.Minimal())
	dir := t.TempDir()
	for _, args := range [][]string{
		{"stable", "/dev/null"},
		{"--format=null", "stable", filepath.Join(dir, "x.tar")},
		{"--format=null", "stable", "-"},
	} {
		r := h.run(t.Context(), "build", append(append([]string{"--mode=extract", "--quiet=false"}, args...), h.srv.URL)...)
		want(t, r, 0, nil, nil)
		if !strings.Contains(r.stdout+r.stderr, ": bookworm null, 7 packages in ") {
			t.Errorf("%v: %s", args, r)
		}
		if r.stdout != "" && args[len(args)-1] == "-" {
			t.Errorf("null to -: wrote %q to standard output", r.stdout)
		}
	}
	if names := listDir(t, dir); len(names) != 0 {
		t.Errorf("null wrote %v", names)
	}
}

// TestBuildMissingTool: without the host tool a format needs, the build
// stops before any work with an error naming the Debian package.
func TestBuildMissingTool(t *testing.T) {
	h := newHarness(t, testarchive.Minimal())
	t.Setenv("PATH", t.TempDir())
	dir := t.TempDir()
	r := h.run(t.Context(), "build", "--mode=extract", "stable", filepath.Join(dir, "x.squashfs"), h.srv.URL)
	want(t, r, 1, nil, []string{"the squashfs format needs tar2sqfs", "install the Debian package squashfs-tools-ng"})
	if names := listDir(t, dir); len(names) != 0 {
		t.Errorf("left %v", names)
	}
	// Nothing fetched: the cache has its directories, and no file.
	for _, n := range listDir(t, h.cache) {
		if fi, err := os.Stat(filepath.Join(h.cache, n)); err == nil && !fi.IsDir() {
			t.Errorf("the build started before the check: the cache holds %s", n)
		}
	}
}
