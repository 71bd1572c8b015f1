package rootfs

import (
	"archive/tar"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestMergedUsrLinks(t *testing.T) {
	tests := map[string]string{
		"amd64":      "bin sbin lib lib32 lib64 libx32",
		"i386":       "bin sbin lib lib64 libx32",
		"arm64":      "bin sbin lib",
		"armhf":      "bin sbin lib",
		"ppc64el":    "bin sbin lib lib64",
		"s390x":      "bin sbin lib lib32",
		"mips64el":   "bin sbin lib lib32 lib64 libo32",
		"riscv64":    "bin sbin lib",
		"hurd-amd64": "",
	}
	for arch, want := range tests {
		if got := strings.Join(MergedUsrLinks(arch), " "); got != want {
			t.Errorf("%s: %q, want %q", arch, got, want)
		}
	}
}

// bookworm-style packages: files under /bin, /lib, /lib64.
func unmergedPackages() map[string][]tf {
	return map[string][]tf{
		"base-files": pkg(dir("bin/"), dir("lib/"), dir("sbin/"), dir("usr/bin/"), dir("usr/lib/"), dir("usr/sbin/")),
		"libc6": pkg(
			file("lib/x86_64-linux-gnu/libc.so.6", "libc"),
			file("lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", "ld"),
			symlink("lib64/ld-linux-x86-64.so.2", "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"),
			file("usr/lib/x86_64-linux-gnu/gconv/gconv-modules", "g"),
		),
		"bash": pkg(tf{name: "bin/bash", body: "bash", mode: 0o755}, symlink("bin/rbash", "bash")),
		"gzip": pkg(tf{name: "bin/gzip", body: "gz", mode: 0o755}, hardlink("bin/gunzip", "bin/gzip")),
	}
}

var unmergedOrder = []string{"base-files", "libc6", "bash", "gzip"}

func TestMergedUsrSymlinksFirst(t *testing.T) {
	e := newEnv(t, Options{MergedUsr: true, Arch: "amd64"})
	for _, d := range MergedUsrLinks("amd64") {
		if en := e.lookup(t, "/"+d); en.Type != tar.TypeSymlink || en.Linkname != "usr/"+d || en.Mode != 0o777 {
			t.Errorf("/%s: %+v", d, en)
		}
		if en := e.lookup(t, "/usr/"+d); en.Type != tar.TypeDir {
			t.Errorf("/usr/%s: %+v", d, en)
		}
	}
	pk := unmergedPackages()
	lists := map[string]*Unpacked{}
	for _, name := range unmergedOrder {
		lists[name] = e.unpack(t, name, pk[name])
	}
	for _, p := range []string{"/usr/bin/bash", "/usr/bin/rbash", "/usr/bin/gzip", "/usr/bin/gunzip",
		"/usr/lib/x86_64-linux-gnu/libc.so.6", "/usr/lib64/ld-linux-x86-64.so.2", "/usr/lib/x86_64-linux-gnu/gconv/gconv-modules"} {
		e.lookup(t, p)
	}
	for _, d := range []string{"/bin", "/lib", "/lib64", "/sbin"} {
		if en := e.lookup(t, d); en.Type != tar.TypeSymlink {
			t.Errorf("%s replaced: %+v", d, en)
		}
	}
	// The lists keep the paths as shipped.
	if got := strings.Join(lists["bash"].Paths, " "); got != "/. /bin /bin/bash /bin/rbash" {
		t.Errorf("bash Paths %q", got)
	}
	if lists["gzip"].MD5["/bin/gunzip"] != md5hex("gz") {
		t.Errorf("gzip MD5 %v", lists["gzip"].MD5)
	}
	b, err := e.s.ReadFile("/lib64/ld-linux-x86-64.so.2")
	if err != nil || string(b) != "ld" {
		t.Errorf("ld.so through two symlinks: %q %v", b, err)
	}
	// trixie/noble base-files ships the links: nothing changes.
	u := e.unpack(t, "base-files-new", pkg(symlink("bin", "usr/bin"), symlink("lib64", "usr/lib64")))
	if len(u.Conflicts) != 0 {
		t.Errorf("conflicts %+v", u.Conflicts)
	}
	// The same file by its other name: dpkg does not notice, we report it.
	var asked int
	e.s.opts.OnConflict = func(Conflict) (Resolution, error) { asked++; return Replace, nil }
	u = e.unpack(t, "coreutils", pkg(tf{name: "usr/bin/bash", body: "evil twin", mode: 0o755}))
	if asked != 0 || len(u.Conflicts) != 1 || !u.Conflicts[0].Aliased || u.Conflicts[0].Old != "bash" {
		t.Errorf("aliased conflict: asked %d, %+v", asked, u.Conflicts)
	}
	if !strings.Contains(strings.Join(e.s.Files("bash"), " "), "/bin/bash") {
		t.Errorf("bash lost /bin/bash from its list (dpkg keeps it)")
	}
}

func TestMergeUsrAfterUnpack(t *testing.T) {
	e := newEnv(t, Options{Arch: "amd64"})
	pk := unmergedPackages()
	for _, name := range unmergedOrder {
		e.unpack(t, name, pk[name])
	}
	before := e.s.Files("bash")
	if err := e.s.MergeUsr(); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"/", "/bin", "/lib", "/lib64", "/sbin", "/usr", "/usr/bin", "/usr/bin/bash", "/usr/bin/gunzip", "/usr/bin/gzip",
		"/usr/bin/rbash", "/usr/lib", "/usr/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu/gconv",
		"/usr/lib/x86_64-linux-gnu/gconv/gconv-modules", "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
		"/usr/lib/x86_64-linux-gnu/libc.so.6", "/usr/lib64", "/usr/lib64/ld-linux-x86-64.so.2", "/usr/sbin",
	}
	if got := paths(e.s); !reflect.DeepEqual(got, want) {
		t.Errorf("after merge:\n%q\nwant\n%q", got, want)
	}
	if disk := diskTree(t, e.root); !reflect.DeepEqual(disk, want) {
		t.Errorf("disk after merge:\n%q", disk)
	}
	for _, d := range []string{"bin", "lib", "lib64", "sbin"} {
		if en := e.lookup(t, "/"+d); en.Type != tar.TypeSymlink || en.Linkname != "usr/"+d {
			t.Errorf("/%s: %+v", d, en)
		}
		if l, err := os.Readlink(filepath.Join(e.root, d)); err != nil || l != "usr/"+d {
			t.Errorf("/%s on disk: %q %v", d, l, err)
		}
	}
	if en := e.lookup(t, "/usr/bin/gzip"); en.Type != tar.TypeLink || en.Linkname != "/usr/bin/gunzip" {
		t.Errorf("hard link group after the move: %+v", en)
	}
	if en := e.lookup(t, "/usr/bin/bash"); en.Package != "bash" || en.Mode != 0o755 {
		t.Errorf("bash %+v", en)
	}
	if got := e.s.Files("bash"); !reflect.DeepEqual(got, before) {
		t.Errorf("list changed: %q", got)
	}
	if err := e.s.MergeUsr(); err != nil {
		t.Errorf("second MergeUsr: %v", err)
	}
	b, err := e.s.ReadFile("/lib64/ld-linux-x86-64.so.2")
	if err != nil || string(b) != "ld" {
		t.Errorf("ld.so: %q %v", b, err)
	}
}

func TestMergeUsrFailures(t *testing.T) {
	tests := []struct {
		name  string
		files []tf
		want  string
	}{
		{"file on both sides", pkg(file("bin/foo", "a"), file("usr/bin/foo", "b")), "cannot move non-directory /bin/foo"},
		{"usr side is a symlink", pkg(dir("bin/"), dir("usr/"), symlink("usr/bin", "../opt")), "destination exists as a symlink"},
		{"relative symlink crossing the top", pkg(symlink("lib/foo", "../usr/share/foo"), dir("usr/lib/")), "crossing the top-level directory"},
		{"directory onto file", pkg(dir("lib/x/"), file("usr/lib/x", "f")), "destination is not a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, Options{})
			e.unpack(t, "p", tt.files)
			err := e.s.MergeUsr()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want %q", err, tt.want)
			}
		})
	}
}

func TestCanUsrmergeSymlink(t *testing.T) {
	tests := []struct {
		path, target string
		ok           bool
	}{
		{"/lib/foo", "/usr/lib/foo", true},
		{"/lib/foo", "bar", true},
		{"/lib/foo", "x/bar", true},
		{"/lib/foo", "../usr/lib/foo", false},
		{"/lib/foo", "..", false},
		{"/lib/a/foo", "..", true},
		{"/lib/a/foo", "../bar", true},
		{"/lib/a/foo", "../../bar", false},
		{"/lib/a/foo", ".//../bar", true},
		{"/lib/foo", "x/../bar", false},
	}
	for _, tt := range tests {
		if got := canUsrmergeSymlink(tt.path, tt.target); got != tt.ok {
			t.Errorf("%s → %s: %v, want %v", tt.path, tt.target, got, tt.ok)
		}
	}
}

// A directory replaced by a symlink in a merged root: a package shipping
// the symlink after another created the real directory leaves it (dpkg),
// and MergeUsr then converts it.
func TestDirectoryThenBaseFilesSymlink(t *testing.T) {
	e := newEnv(t, Options{})
	e.unpack(t, "early", pkg(dir("usr/lib/"), file("lib/udev/rules", "r")))
	e.unpack(t, "base-files", pkg(symlink("lib", "usr/lib")))
	if en := e.lookup(t, "/lib"); en.Type != tar.TypeDir {
		t.Fatalf("/lib %+v", en)
	}
	if err := e.s.MergeUsr(); err != nil {
		t.Fatal(err)
	}
	if en := e.lookup(t, "/lib"); en.Type != tar.TypeSymlink {
		t.Errorf("/lib %+v", en)
	}
	e.lookup(t, "/usr/lib/udev/rules")
}
