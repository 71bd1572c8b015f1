package rootfs

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
)

func TestUnpackBasic(t *testing.T) {
	e := newEnv(t, Options{})
	u := e.unpack(t, "hello", pkg(
		dir("usr/"), dir("usr/bin/"),
		tf{name: "usr/bin/hello", body: "#!/bin/sh\necho hi\n", mode: 0o755},
		file("usr/share/doc/hello/copyright", "free"),
		symlink("usr/bin/hi", "hello"),
		tf{name: "etc/hello.conf", body: "x=1\n", mode: 0o640, uid: 0, gid: 42},
	))
	wantPaths := []string{"/.", "/usr", "/usr/bin", "/usr/bin/hello", "/usr/share", "/usr/share/doc",
		"/usr/share/doc/hello", "/usr/share/doc/hello/copyright", "/usr/bin/hi", "/etc", "/etc/hello.conf"}
	if !reflect.DeepEqual(u.Paths, wantPaths) {
		t.Errorf("Paths = %q\nwant %q", u.Paths, wantPaths)
	}
	if got := e.s.Files("hello"); !reflect.DeepEqual(got, wantPaths) {
		t.Errorf("Files = %q", got)
	}
	wantMD5 := map[string]string{
		"/usr/bin/hello":                 md5hex("#!/bin/sh\necho hi\n"),
		"/usr/share/doc/hello/copyright": md5hex("free"),
		"/etc/hello.conf":                md5hex("x=1\n"),
	}
	if !reflect.DeepEqual(u.MD5, wantMD5) {
		t.Errorf("MD5 = %v", u.MD5)
	}
	if got := e.disk(t, "usr/bin/hello"); got != "#!/bin/sh\necho hi\n" {
		t.Errorf("content %q", got)
	}
	conf := e.lookup(t, "/etc/hello.conf")
	if conf.Mode != 0o640 || conf.Gid != 42 || conf.Type != tar.TypeReg || conf.Size != 4 || conf.Package != "hello" || !conf.ModTime.Equal(testTime) {
		t.Errorf("entry %+v", conf)
	}
	if l := e.lookup(t, "/usr/bin/hi"); l.Type != tar.TypeSymlink || l.Linkname != "hello" {
		t.Errorf("symlink %+v", l)
	}
	if target, err := os.Readlink(filepath.Join(e.root, "usr/bin/hi")); err != nil || target != "hello" {
		t.Errorf("disk symlink %q %v", target, err)
	}
	// Disk modes: harmless; the table has the truth.
	for p, want := range map[string]os.FileMode{"usr/bin/hello": 0o755, "etc/hello.conf": 0o644, "usr/bin": 0o755 | fs.ModeDir} {
		fi, err := os.Lstat(filepath.Join(e.root, p))
		if err != nil || fi.Mode()&(fs.ModePerm|fs.ModeDir|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky) != want {
			t.Errorf("disk mode of %s: %v %v, want %v", p, fi.Mode(), err, want)
		}
	}
	if fi, _ := os.Stat(e.root); fi.Mode().Perm() != 0o700 {
		t.Errorf("staging directory mode %v, want 0700", fi.Mode())
	}
	// Entries sorted, and the disk holds exactly the table (no scratch left).
	got := paths(e.s)
	if !sortedStrings(got) {
		t.Errorf("Entries not sorted: %q", got)
	}
	if disk := diskTree(t, e.root); !reflect.DeepEqual(disk, got) {
		t.Errorf("disk %q\ntable %q", disk, got)
	}
	if en, err := e.s.Stat("/usr/bin/hi"); err != nil || en.Path != "/usr/bin/hello" {
		t.Errorf("Stat through symlink: %+v %v", en, err)
	}
	b, err := e.s.ReadFile("/usr/bin/hi")
	if err != nil || string(b) != "#!/bin/sh\necho hi\n" {
		t.Errorf("ReadFile: %q %v", b, err)
	}
}

func sortedStrings(s []string) bool {
	for i := 1; i < len(s); i++ {
		if s[i-1] >= s[i] {
			return false
		}
	}
	return true
}

func TestTraversalRejected(t *testing.T) {
	outsideRel := "../outside/pwned" // from the staging directory
	tests := []struct {
		name  string
		files []tf
		want  string // in the error
	}{
		{"dotdot", []tf{dir("./"), file("../outside/pwned", "x")}, `"../outside/pwned"`},
		{"dotdot deep", []tf{dir("./"), file("./usr/../../outside/pwned", "x")}, `".."`},
		{"dotdot harmless-looking", []tf{dir("./"), dir("./usr/"), file("./usr/../x", "x")}, `".."`},
		{"dotdot dir", []tf{dir("./"), dir("./../outside/d/")}, `".."`},
		{"dotdot symlink name", []tf{dir("./"), symlink("./../outside/l", "/")}, `".."`},
		{"hardlink dotdot", []tf{dir("./"), hardlink("./h", "../../outside/sentinel")}, "hard link target"},
		{"hardlink absolute outside", []tf{dir("./"), dir("./etc/"), hardlink("./etc/h", "/etc/passwd")}, "does not exist"},
		{"newline", []tf{dir("./"), file("./a\nb", "x")}, "newline"},
		{"root not dir", []tf{{name: ".", typ: tar.TypeReg}}, "not a directory"},
		{"missing parent", []tf{dir("./"), file("./nodir/x", "x")}, "does not exist"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, Options{})
			_, err := e.s.Unpack("evil", tarOf(t, tt.files))
			if err == nil {
				t.Fatalf("no error")
			}
			if !strings.Contains(err.Error(), "evil") || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q should name the package and contain %s", err, tt.want)
			}
			if _, err := os.Lstat(filepath.Join(e.root, outsideRel)); err == nil {
				t.Errorf("%s was written", outsideRel)
			}
		})
	}
}

func TestAbsolutePathsStayInside(t *testing.T) {
	e := newEnv(t, Options{})
	e.unpack(t, "abs", []tf{dir("/"), dir("/etc/"), file("/etc/abs", "inside"), file("//etc//./double", "d"),
		symlink("/etc/link", "/etc/abs")})
	if got := e.disk(t, "etc/abs"); got != "inside" {
		t.Errorf("content %q", got)
	}
	e.lookup(t, "/etc/double")
	if got := e.s.Files("abs"); !reflect.DeepEqual(got, []string{"/.", "/etc", "/etc/abs", "/etc/double", "/etc/link"}) {
		t.Errorf("Files %q", got)
	}
	b, err := e.s.ReadFile("/etc/link")
	if err != nil || string(b) != "inside" {
		t.Errorf("absolute symlink read inside the root: %q %v", b, err)
	}
}

// A package (or an earlier one) makes a symlink that points out of the
// root; what is then shipped under it must land inside the root or be
// refused.
func TestSymlinkEscapes(t *testing.T) {
	// As seen from root/etc, the outside directory is ../../outside.
	targets := []string{"/", "../../..", "../../../../../../../..", "../../outside", "..", "/../../outside"}
	for _, target := range targets {
		for _, split := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/split=%v", target, split), func(t *testing.T) {
				e := newEnv(t, Options{})
				hostOutside := e.outside // absolute host path, only inside the root as a name
				first := pkg(dir("etc/"), symlink("etc/evil", target), symlink("etc/evil2", hostOutside),
					file("usr/lib/real", "real"))
				// No directory entries for etc/evil itself: a directory
				// entry would replace a dangling symlink, as dpkg does.
				second := []tf{
					dir("./"),
					file("./etc/evil/x", "x"),
					dir("./etc/evil/d/"),
					symlink("./etc/evil/l", "/etc/shadow"),
					hardlink("./etc/evil/h", "usr/lib/real"),
				}
				var err error
				if split {
					e.unpack(t, "first", first)
					_, err = e.s.Unpack("second", tarOf(t, second))
				} else {
					_, err = e.s.Unpack("both", tarOf(t, append(first, second[1:]...)))
				}
				// "/" and the ".." variants all resolve to the root.
				if target == "../../outside" || target == "/../../outside" {
					// root/outside does not exist: refused.
					if err == nil {
						t.Fatalf("no error for a file under a symlink to a missing directory")
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				want := "/"
				if target == ".." {
					want = "/"
				}
				for _, p := range []string{"x", "d", "l", "h"} {
					if _, ok := e.s.Lookup(want + p); !ok {
						t.Errorf("/%s not in the table", p)
					}
				}
				if got := e.disk(t, "x"); got != "x" {
					t.Errorf("x = %q", got)
				}
				a, _ := os.Stat(filepath.Join(e.root, "h"))
				b, _ := os.Stat(filepath.Join(e.root, "usr/lib/real"))
				if !os.SameFile(a, b) {
					t.Errorf("hard link not to the root's file")
				}
				// The absolute host path is a name inside the root.
				_, err = e.s.Unpack("third", tarOf(t, []tf{file("./etc/evil2/pwned", "x")}))
				if err == nil {
					t.Errorf("file under a symlink to a host path: no error")
				}
			})
		}
	}
}

// The disk may disagree with the table (something else touched it): the
// os.Root still refuses to leave the staging directory.
func TestDiskTamperingStaysInside(t *testing.T) {
	e := newEnv(t, Options{})
	e.unpack(t, "a", pkg(dir("usr/lib/")))
	if err := os.Remove(filepath.Join(e.root, "usr/lib")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(e.outside, filepath.Join(e.root, "usr/lib")); err != nil {
		t.Fatal(err)
	}
	_, err := e.s.Unpack("b", tarOf(t, []tf{file("./usr/lib/pwned", "x")}))
	if err == nil {
		t.Fatal("no error writing through a tampered directory")
	}
	if err := e.s.WriteFile("/usr/lib/pwned2", []byte("x"), Entry{Mode: 0o644}); err == nil {
		t.Fatal("no error writing through a tampered directory")
	}
	os.Remove(filepath.Join(e.root, "usr/lib"))
}

func TestHardlinkOnlyInsideRoot(t *testing.T) {
	e := newEnv(t, Options{})
	e.unpack(t, "base", pkg(file("etc/passwd", "root:x:0:0::/root:/bin/sh\n"), symlink("etc/up", "../../../../..")))
	e.unpack(t, "l", []tf{hardlink("./etc/pw", "etc/up/etc/passwd")})
	a, _ := os.Stat(filepath.Join(e.root, "etc/pw"))
	b, _ := os.Stat(filepath.Join(e.root, "etc/passwd"))
	host, _ := os.Stat("/etc/passwd")
	if !os.SameFile(a, b) || (host != nil && os.SameFile(a, host)) {
		t.Errorf("hard link through an escaping symlink did not stay inside")
	}
	for _, target := range []string{"../../outside/sentinel", "etc/up/../outside/sentinel"} {
		if _, err := e.s.Unpack("bad", tarOf(t, []tf{hardlink("./etc/bad", target)})); err == nil {
			t.Errorf("hard link to %s: no error", target)
		}
	}
	if _, err := e.s.Unpack("dirlink", tarOf(t, []tf{hardlink("./etc/d", "etc")})); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("hard link to a directory: %v", err)
	}
	if _, err := e.s.Unpack("later", tarOf(t, []tf{hardlink("./etc/early", "etc/late"), file("./etc/late", "x")})); err == nil {
		t.Errorf("hard link before its target: no error")
	}
}

func TestDevicesAsUser(t *testing.T) {
	e := newEnv(t, Options{})
	e.unpack(t, "devs", pkg(
		tf{name: "dev/null", typ: tar.TypeChar, mode: 0o666, major: 1, minor: 3},
		tf{name: "dev/sda", typ: tar.TypeBlock, mode: 0o660, gid: 6, major: 8, minor: 0},
		tf{name: "run/initctl", typ: tar.TypeFifo, mode: 0o600},
	))
	for _, c := range []struct {
		path         string
		typ          byte
		mode         int64
		gid          int
		major, minor int64
	}{
		{"/dev/null", tar.TypeChar, 0o666, 0, 1, 3},
		{"/dev/sda", tar.TypeBlock, 0o660, 6, 8, 0},
		{"/run/initctl", tar.TypeFifo, 0o600, 0, 0, 0},
	} {
		en := e.lookup(t, c.path)
		if en.Type != c.typ || en.Mode != c.mode || en.Gid != c.gid || en.Devmajor != c.major || en.Devminor != c.minor {
			t.Errorf("%s: %+v", c.path, en)
		}
		fi, err := os.Lstat(filepath.Join(e.root, c.path))
		if err != nil || !fi.Mode().IsRegular() || fi.Size() != 0 {
			t.Errorf("%s on disk should be an empty placeholder file: %v %v", c.path, fi, err)
		}
	}
	if _, err := e.s.Open("/dev/null"); err == nil {
		t.Errorf("Open of a device: no error")
	}
}

func TestSetuidAndCapabilities(t *testing.T) {
	// cap_net_raw=ep as setcap writes it (VFS_CAP_REVISION_2), binary.
	capv := string([]byte{0x01, 0x00, 0x00, 0x02, 0x00, 0x20, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	e := newEnv(t, Options{})
	e.unpack(t, "tools", pkg(
		tf{name: "usr/bin/ping", body: "ELF", mode: 0o755, pax: map[string]string{"SCHILY.xattr.security.capability": capv}},
		tf{name: "usr/bin/su", body: "ELF", mode: 0o4755},
		tf{name: "usr/bin/wall", body: "ELF", mode: 0o2755, gid: 5},
		tf{name: "tmp/", typ: tar.TypeDir, mode: 0o1777},
	))
	check := func(s *Stage) {
		t.Helper()
		for p, want := range map[string]int64{"/usr/bin/ping": 0o755, "/usr/bin/su": 0o4755, "/usr/bin/wall": 0o2755, "/tmp": 0o1777} {
			en, ok := s.Lookup(p)
			if !ok || en.Mode != want {
				t.Errorf("%s mode %o, want %o", p, en.Mode, want)
			}
		}
		if en, _ := s.Lookup("/usr/bin/ping"); en.Xattrs["security.capability"] != capv {
			t.Errorf("capability xattr %q", en.Xattrs)
		}
		if en, _ := s.Lookup("/usr/bin/wall"); en.Gid != 5 {
			t.Errorf("wall gid %d", en.Gid)
		}
	}
	check(e.s)
	for _, p := range []string{"usr/bin/su", "usr/bin/wall", "tmp"} {
		fi, _ := os.Lstat(filepath.Join(e.root, p))
		if fi.Mode()&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky) != 0 || fi.Mode().Perm()&0o022 != 0 {
			t.Errorf("%s on disk has mode %v", p, fi.Mode())
		}
	}
	if err := e.s.Save(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(e.root, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	check(s2)
}

func TestFileReplacedByLaterPackage(t *testing.T) {
	tests := []struct {
		name    string
		res     Resolution
		err     error
		nilHook bool
		content string
		owner   string
	}{
		{name: "replaces", res: Replace, content: "new", owner: "b"},
		{name: "kept", res: KeepExisting, content: "old", owner: "a"},
		{name: "refused", err: errors.New("b does not Replace a"), content: "old", owner: "a"},
		{name: "no hook", nilHook: true, content: "new", owner: "b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var asked []Conflict
			opts := Options{}
			if !tt.nilHook {
				opts.OnConflict = func(c Conflict) (Resolution, error) {
					asked = append(asked, c)
					return tt.res, tt.err
				}
			}
			e := newEnv(t, opts)
			e.unpack(t, "a", pkg(file("usr/bin/tool", "old"), file("usr/bin/other", "o")))
			u, err := e.s.Unpack("b", tarOf(t, pkg(file("usr/bin/tool", "new"))))
			if tt.err != nil {
				if err == nil || !strings.Contains(err.Error(), "also in package a") || !strings.Contains(err.Error(), "/usr/bin/tool") {
					t.Fatalf("error %v", err)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if !tt.nilHook && (len(asked) != 1 || asked[0] != (Conflict{Path: "/usr/bin/tool", Old: "a", New: "b"})) {
				t.Errorf("asked %+v", asked)
			}
			if got := e.disk(t, "usr/bin/tool"); got != tt.content {
				t.Errorf("content %q, want %q", got, tt.content)
			}
			if en := e.lookup(t, "/usr/bin/tool"); en.Package != tt.owner {
				t.Errorf("owner %q, want %q", en.Package, tt.owner)
			}
			aList := strings.Join(e.s.Files("a"), " ")
			if tt.owner == "b" {
				if strings.Contains(aList, "/usr/bin/tool") {
					t.Errorf("a still lists the file: %s", aList)
				}
				if _, ok := e.s.MD5Sums("a")["/usr/bin/tool"]; ok {
					t.Errorf("a still has the md5")
				}
				if e.s.MD5Sums("b")["/usr/bin/tool"] != md5hex("new") {
					t.Errorf("b md5 %v", e.s.MD5Sums("b"))
				}
				if len(u.Conflicts) != 1 || u.Conflicts[0].Resolution != Replace {
					t.Errorf("conflicts %+v", u.Conflicts)
				}
			} else {
				if !strings.Contains(aList, "/usr/bin/tool") {
					t.Errorf("a lost the file: %s", aList)
				}
			}
			if tt.res == KeepExisting && tt.err == nil {
				if strings.Contains(strings.Join(u.Paths, " "), "/usr/bin/tool") {
					t.Errorf("b lists a kept file: %q", u.Paths)
				}
				// Shared directories are listed by both.
				if !strings.Contains(strings.Join(u.Paths, " "), "/usr/bin") {
					t.Errorf("b does not list the shared directory")
				}
			}
		})
	}
}

func TestDirectoryAndSymlinkRules(t *testing.T) {
	t.Run("symlink over a directory keeps the directory", func(t *testing.T) {
		e := newEnv(t, Options{})
		e.unpack(t, "a", pkg(file("lib/x86_64-linux-gnu/libc.so.6", "libc")))
		u := e.unpack(t, "base-files", pkg(dir("usr/lib/"), symlink("lib", "usr/lib")))
		if en := e.lookup(t, "/lib"); en.Type != tar.TypeDir || en.Package != "a" {
			t.Errorf("/lib became %+v", en)
		}
		if !strings.Contains(strings.Join(u.Paths, " "), "/lib") {
			t.Errorf("base-files does not list /lib: %q", u.Paths)
		}
	})
	t.Run("directory under a symlink to a directory", func(t *testing.T) {
		e := newEnv(t, Options{})
		e.unpack(t, "a", pkg(dir("usr/lib/"), symlink("lib", "usr/lib")))
		u := e.unpack(t, "b", pkg(dir("lib/"), file("lib/libz.so", "z")))
		if en := e.lookup(t, "/lib"); en.Type != tar.TypeSymlink {
			t.Errorf("/lib became %+v", en)
		}
		e.lookup(t, "/usr/lib/libz.so")
		if _, ok := e.s.Lookup("/lib/libz.so"); ok {
			t.Errorf("/lib/libz.so in the table")
		}
		if got := strings.Join(u.Paths, " "); got != "/. /lib /lib/libz.so" {
			t.Errorf("Paths %q", got)
		}
	})
	t.Run("symlink to the same directory", func(t *testing.T) {
		e := newEnv(t, Options{})
		e.unpack(t, "a", pkg(dir("usr/lib/"), symlink("lib", "usr/lib")))
		e.unpack(t, "b", pkg(symlink("lib", "/usr/lib")))
		if en := e.lookup(t, "/lib"); en.Linkname != "usr/lib" || en.Package != "a" {
			t.Errorf("/lib %+v", en)
		}
	})
	t.Run("symlink to another directory is replaced", func(t *testing.T) {
		e := newEnv(t, Options{})
		e.unpack(t, "a", pkg(dir("usr/lib/"), dir("opt/"), symlink("lib", "usr/lib")))
		e.unpack(t, "b", pkg(symlink("lib", "opt")))
		if en := e.lookup(t, "/lib"); en.Linkname != "opt" || en.Package != "b" {
			t.Errorf("/lib %+v", en)
		}
	})
	t.Run("file replaced by a directory", func(t *testing.T) {
		e := newEnv(t, Options{})
		e.unpack(t, "a", pkg(file("etc/thing", "f")))
		u := e.unpack(t, "b", pkg(dir("etc/thing/"), file("etc/thing/x", "x")))
		if en := e.lookup(t, "/etc/thing"); en.Type != tar.TypeDir {
			t.Errorf("%+v", en)
		}
		if len(u.Conflicts) != 1 {
			t.Errorf("conflicts %+v", u.Conflicts)
		}
	})
	t.Run("empty directory replaced by a file", func(t *testing.T) {
		e := newEnv(t, Options{})
		e.unpack(t, "a", pkg(dir("etc/thing/")))
		e.unpack(t, "b", pkg(file("etc/thing", "f")))
		if en := e.lookup(t, "/etc/thing"); en.Type != tar.TypeReg || e.disk(t, "etc/thing") != "f" {
			t.Errorf("%+v", en)
		}
	})
	t.Run("non-empty directory is not replaced by a file", func(t *testing.T) {
		e := newEnv(t, Options{})
		e.unpack(t, "a", pkg(file("etc/thing/x", "x")))
		_, err := e.s.Unpack("b", tarOf(t, pkg(file("etc/thing", "f"))))
		if err == nil || !strings.Contains(err.Error(), "non-empty directory") {
			t.Fatalf("error %v", err)
		}
		e.lookup(t, "/etc/thing/x")
	})
	t.Run("symlink loop", func(t *testing.T) {
		e := newEnv(t, Options{})
		e.unpack(t, "a", pkg(symlink("a", "b"), symlink("b", "a")))
		_, err := e.s.Unpack("b", tarOf(t, []tf{file("./a/x", "x")}))
		if err == nil || !errors.Is(err, errLoop) {
			t.Fatalf("error %v", err)
		}
	})
	t.Run("file under a file", func(t *testing.T) {
		e := newEnv(t, Options{})
		e.unpack(t, "a", pkg(file("f", "f")))
		_, err := e.s.Unpack("b", tarOf(t, []tf{file("./f/x", "x")}))
		if err == nil || !errors.Is(err, errNotDir) {
			t.Fatalf("error %v", err)
		}
	})
	t.Run("same package twice", func(t *testing.T) {
		e := newEnv(t, Options{})
		e.unpack(t, "a", pkg(file("f", "f")))
		if _, err := e.s.Unpack("a", tarOf(t, pkg(file("f", "f")))); err == nil {
			t.Fatal("no error")
		}
	})
}

func TestHardlinksAcrossPackages(t *testing.T) {
	e := newEnv(t, Options{})
	e.unpack(t, "a", pkg(tf{name: "usr/bin/zcat", body: "gzip", mode: 0o755}))
	gunzip, uncompress := hardlink("usr/bin/gunzip", "usr/bin/zcat"), hardlink("usr/bin/uncompress", "./usr/bin/zcat")
	gunzip.mode, uncompress.mode = 0o755, 0o755
	u := e.unpack(t, "b", pkg(gunzip, uncompress))
	if u.MD5["/usr/bin/gunzip"] != md5hex("gzip") {
		t.Errorf("md5 of the link %v", u.MD5)
	}
	same := func(a, b string) bool {
		fa, err1 := os.Stat(filepath.Join(e.root, a))
		fb, err2 := os.Stat(filepath.Join(e.root, b))
		return err1 == nil && err2 == nil && os.SameFile(fa, fb)
	}
	if !same("usr/bin/zcat", "usr/bin/gunzip") || !same("usr/bin/zcat", "usr/bin/uncompress") {
		t.Errorf("not hard links on disk")
	}
	// The least path is the file, the others link to it.
	ents := map[string]Entry{}
	for _, en := range e.s.Entries() {
		ents[en.Path] = en
	}
	if en := ents["/usr/bin/gunzip"]; en.Type != tar.TypeReg || en.Size != 4 || en.Mode != 0o755 {
		t.Errorf("primary %+v", en)
	}
	for _, p := range []string{"/usr/bin/uncompress", "/usr/bin/zcat"} {
		if en := ents[p]; en.Type != tar.TypeLink || en.Linkname != "/usr/bin/gunzip" || en.Package == "" {
			t.Errorf("%s: %+v", p, en)
		}
	}
	// A later package replaces the primary: the link breaks, the others keep
	// the old content.
	e.unpack(t, "c", pkg(file("usr/bin/gunzip", "new")))
	if same("usr/bin/zcat", "usr/bin/gunzip") || e.disk(t, "usr/bin/zcat") != "gzip" {
		t.Errorf("replacing one link changed the others")
	}
	ents = map[string]Entry{}
	for _, en := range e.s.Entries() {
		ents[en.Path] = en
	}
	if ents["/usr/bin/gunzip"].Type != tar.TypeReg || ents["/usr/bin/uncompress"].Type != tar.TypeReg ||
		ents["/usr/bin/zcat"].Linkname != "/usr/bin/uncompress" {
		t.Errorf("after replace: %+v %+v %+v", ents["/usr/bin/gunzip"], ents["/usr/bin/uncompress"], ents["/usr/bin/zcat"])
	}
	// Table round trip keeps the groups.
	if err := e.s.Save(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(e.root, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if !reflect.DeepEqual(s2.Entries(), e.s.Entries()) {
		t.Errorf("round trip changed entries")
	}
}

func TestCorruptDataMember(t *testing.T) {
	good := tarBytes(t, pkg(file("usr/share/a", strings.Repeat("a", 5000)), file("usr/share/b", "b")))
	badSum := append([]byte(nil), good...)
	badSum[600] ^= 0xff // inside the second header
	tests := map[string][]byte{
		"truncated in content":  good[:512*4+100],
		"truncated in header 4": good[:512*3+100],
		"truncated header":      good[:512+200],
		"garbage":               bytes.Repeat([]byte("garbage!"), 200),
		"bad header checksum":   badSum,
	}
	for name, data := range tests {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, Options{})
			_, err := e.s.Unpack("broken", tar.NewReader(bytes.NewReader(data)))
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), "broken") {
				t.Errorf("error %q does not name the package", err)
			}
			if got := paths(e.s); !reflect.DeepEqual(got, []string{"/"}) {
				t.Errorf("table changed: %q", got)
			}
			if d, _ := os.ReadDir(e.root); len(d) != 0 {
				t.Errorf("staging directory not empty: %v", d)
			}
		})
	}
}

func TestParallelPrepareIsDeterministic(t *testing.T) {
	pkgs := make([][]tf, 12)
	for i := range pkgs {
		files := []tf{file("usr/share/common", fmt.Sprintf("from %d", i))}
		for j := 0; j < 20; j++ {
			files = append(files, file(fmt.Sprintf("usr/share/p%d/f%d", i, j), strings.Repeat("x", i*j)))
		}
		if i > 0 {
			files = append(files, hardlink(fmt.Sprintf("usr/share/p%d/link", i), fmt.Sprintf("usr/share/p%d/f3", i-1)))
		}
		pkgs[i] = pkg(files...)
	}
	run := func(parallel bool) ([]Entry, map[string][]string) {
		e := newEnv(t, Options{})
		prepared := make([]*Prepared, len(pkgs))
		if parallel {
			var wg sync.WaitGroup
			errs := make([]error, len(pkgs))
			for i := range pkgs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					prepared[i], errs[i] = e.s.Prepare(fmt.Sprintf("p%d", i), tarOf(t, pkgs[i]))
				}()
			}
			wg.Wait()
			for _, err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			for _, p := range prepared {
				if _, err := p.Commit(); err != nil {
					t.Fatal(err)
				}
			}
		} else {
			for i := range pkgs {
				e.unpack(t, fmt.Sprintf("p%d", i), pkgs[i])
			}
		}
		if got := e.disk(t, "usr/share/common"); got != "from 11" {
			t.Errorf("last package should win: %q", got)
		}
		lists := map[string][]string{}
		for _, p := range e.s.Packages() {
			lists[p] = e.s.Files(p)
		}
		return e.s.Entries(), lists
	}
	seqE, seqL := run(false)
	parE, parL := run(true)
	if !reflect.DeepEqual(seqE, parE) || !reflect.DeepEqual(seqL, parL) {
		t.Errorf("parallel Prepare changed the result")
	}
}

func TestPreparedDiscard(t *testing.T) {
	e := newEnv(t, Options{})
	p, err := e.s.Prepare("a", tarOf(t, pkg(file("x", "x"))))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Discard(); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Commit(); err == nil {
		t.Errorf("Commit after Discard: no error")
	}
	if d, _ := os.ReadDir(e.root); len(d) != 0 {
		t.Errorf("scratch left: %v", d)
	}
}

// TestPrepareSums: an MD5 the package's md5sums gives is taken as given
// (dpkg installs md5sums as shipped); a file it lacks, or a malformed
// entry, is hashed. The content is the same either way.
func TestPrepareSums(t *testing.T) {
	e := newEnv(t, Options{})
	big := strings.Repeat("x", maxMemFile+1) // through the scratch directory
	sums := map[string]string{
		"usr/bin/hello": strings.ToUpper(md5hex("other")), // as the package says
		"usr/share/big": md5hex("also other"),
		"usr/share/bad": "not-a-digest",
	}
	p, err := e.s.PrepareSums("hello", tarOf(t, pkg(
		file("usr/bin/hello", "hi"), file("usr/share/big", big), file("usr/share/bad", "b"), file("etc/hello.conf", "c"))), sums)
	if err != nil {
		t.Fatal(err)
	}
	u, err := p.Commit()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"/usr/bin/hello":  md5hex("other"),
		"/usr/share/big":  md5hex("also other"),
		"/usr/share/bad":  md5hex("b"),
		"/etc/hello.conf": md5hex("c"),
	}
	if !reflect.DeepEqual(u.MD5, want) {
		t.Errorf("MD5 = %v\nwant %v", u.MD5, want)
	}
	if got := e.disk(t, "usr/share/big"); got != big || e.disk(t, "usr/bin/hello") != "hi" {
		t.Error("content")
	}
}

// Skip (dpkg's path filters) leaves paths out of the root and the table
// but in the package's list.
func TestUnpackSkip(t *testing.T) {
	e := newEnv(t, Options{Skip: func(p string, dirLike bool) bool {
		return strings.HasPrefix(p, "/usr/share/doc/") && p != "/usr/share/doc/hello/copyright" && !(dirLike && p == "/usr/share/doc/hello")
	}})
	u := e.unpack(t, "hello", pkg(
		dir("usr/"), dir("usr/bin/"), file("usr/bin/hello", "hi"),
		dir("usr/share/"), dir("usr/share/doc/"), dir("usr/share/doc/hello/"),
		file("usr/share/doc/hello/copyright", "free"), file("usr/share/doc/hello/README", "read me"),
		dir("usr/share/doc/other/"), file("usr/share/doc/other/x", "x"),
	))
	for _, p := range []string{"/usr/share/doc/hello/README", "/usr/share/doc/other", "/usr/share/doc/other/x"} {
		if _, ok := e.s.Lookup(p); ok {
			t.Errorf("%s was unpacked", p)
		}
		if _, err := os.Lstat(filepath.Join(e.root, p)); err == nil {
			t.Errorf("%s is on disk", p)
		}
		if !slices.Contains(u.Paths, p) {
			t.Errorf("%s left the package's list", p)
		}
	}
	for _, p := range []string{"/usr/share/doc/hello/copyright", "/usr/bin/hello"} {
		if _, ok := e.s.Lookup(p); !ok {
			t.Errorf("%s was not unpacked", p)
		}
	}
}
