package rootfs

import (
	"archive/tar"
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/debstrap/debstrap/deb"
	"github.com/debstrap/debstrap/internal/testarchive"
)

func TestOps(t *testing.T) {
	e := newEnv(t, Options{Epoch: testTime})
	e.unpack(t, "dpkg", pkg(dir("var/lib/dpkg/info/"), dir("etc/"), symlink("etc/evil", "../../../..")))
	s := e.s

	if err := s.WriteFile("/var/lib/dpkg/status", []byte("Package: dpkg\n"), Entry{Mode: 0o644}); err != nil {
		t.Fatal(err)
	}
	en := e.lookup(t, "/var/lib/dpkg/status")
	if en.Type != tar.TypeReg || en.Size != 14 || !en.ModTime.Equal(testTime) || en.Package != "" {
		t.Errorf("status %+v", en)
	}
	// Replace, with owner and mode in the table only.
	if err := s.WriteFile("/var/lib/dpkg/status", []byte("x"), Entry{Mode: 0o4750, Gid: 7, ModTime: testTime.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if en := e.lookup(t, "/var/lib/dpkg/status"); en.Mode != 0o4750 || en.Gid != 7 || en.Size != 1 {
		t.Errorf("status %+v", en)
	}
	if got := e.disk(t, "var/lib/dpkg/status"); got != "x" {
		t.Errorf("content %q", got)
	}
	// Through an escaping symlink: lands at the root.
	if err := s.WriteFile("/etc/evil/etc/escaped", []byte("in"), Entry{Mode: 0o644}); err != nil {
		t.Fatal(err)
	}
	e.lookup(t, "/etc/escaped")
	if err := s.WriteFile("/etc/evil/missing/x", []byte("in"), Entry{Mode: 0o644}); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("write under a missing directory: %v", err)
	}
	if err := s.WriteFile("/etc/evil/rootfile", []byte("in"), Entry{Mode: 0o644}); err != nil {
		t.Fatal(err)
	}
	e.lookup(t, "/rootfile")
	if err := s.WriteFile("/etc/../x", nil, Entry{}); err == nil {
		t.Errorf(`".." accepted`)
	}
	if err := s.WriteFile("/etc", nil, Entry{}); !errors.Is(err, errIsDir) {
		t.Errorf("write over a directory: %v", err)
	}

	if err := s.MkdirAll("/etc/apt/sources.list.d", Entry{Mode: 0o755}); err != nil {
		t.Fatal(err)
	}
	if err := s.MkdirAll("/etc/evil/etc/apt", Entry{Mode: 0o755}); err != nil {
		t.Fatal(err) // the root's own /etc/apt, through the symlink
	}
	if err := s.Mkdir("/etc/apt", Entry{Mode: 0o755}); !errors.Is(err, fs.ErrExist) {
		t.Errorf("Mkdir of an existing directory: %v", err)
	}
	if err := s.MkdirAll("/var/lib/dpkg/status/x", Entry{Mode: 0o755}); !errors.Is(err, errNotDir) {
		t.Errorf("MkdirAll under a file: %v", err)
	}
	if err := s.Symlink("/usr/share/zoneinfo/Etc/UTC", "/etc/localtime", Entry{}); err != nil {
		t.Fatal(err)
	}
	if en := e.lookup(t, "/etc/localtime"); en.Type != tar.TypeSymlink || en.Mode != 0o777 || en.Linkname != "/usr/share/zoneinfo/Etc/UTC" {
		t.Errorf("localtime %+v", en)
	}
	if err := s.Symlink("/usr/share/zoneinfo/Europe/Paris", "/etc/localtime", Entry{}); err != nil {
		t.Fatal(err) // ln -sf
	}
	if err := s.Rename("/var/lib/dpkg/status", "/var/lib/dpkg/status-old"); err != nil {
		t.Fatal(err)
	}
	e.absent(t, "/var/lib/dpkg/status")
	if got := e.disk(t, "var/lib/dpkg/status-old"); got != "x" {
		t.Errorf("renamed content %q", got)
	}
	if err := s.Rename("/etc/apt", "/var/lib/apt"); err != nil {
		t.Fatal(err)
	}
	e.lookup(t, "/var/lib/apt/sources.list.d")
	if err := s.Rename("/var/lib", "/var/lib/apt/x"); err == nil {
		t.Errorf("moved a directory into itself")
	}
	if err := s.Update("/var/lib/dpkg/status-old", func(en *Entry) { en.Uid, en.Mode = 100, 0o600 }); err != nil {
		t.Fatal(err)
	}
	if en := e.lookup(t, "/var/lib/dpkg/status-old"); en.Uid != 100 || en.Mode != 0o600 {
		t.Errorf("update %+v", en)
	}
	ls, err := s.List("/var/lib")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, en := range ls {
		names = append(names, en.Path)
	}
	if strings.Join(names, " ") != "/var/lib/apt /var/lib/dpkg" {
		t.Errorf("List %q", names)
	}
	if err := s.Remove("/var/lib"); !errors.Is(err, errNotEmpty) {
		t.Errorf("Remove of a non-empty directory: %v", err)
	}
	if err := s.RemoveAll("/var/lib"); err != nil {
		t.Fatal(err)
	}
	e.absent(t, "/var/lib")
	if err := s.Remove("/etc/localtime"); err != nil {
		t.Fatal(err)
	}
	e.absent(t, "/etc/localtime")
	if err := s.RemoveAll("/"); err == nil {
		t.Errorf("RemoveAll of the root: no error")
	}
	// Table and disk agree.
	if err := s.Save(); err != nil {
		t.Fatal(err)
	}
	if disk, tab := diskTree(t, e.root), paths(s); !reflect.DeepEqual(disk, tab) {
		t.Errorf("disk %q\ntable %q", disk, tab)
	}
}

func TestSaveOpen(t *testing.T) {
	e := newEnv(t, Options{MergedUsr: true, Arch: "arm64", Epoch: testTime})
	pk := unmergedPackages()
	for _, name := range unmergedOrder {
		e.unpack(t, name, pk[name])
	}
	e.unpack(t, "devs", pkg(tf{name: "dev/null", typ: tar.TypeChar, mode: 0o666, major: 1, minor: 3}))
	if err := e.s.MkdirAll("/etc", Entry{Mode: 0o755}); err != nil {
		t.Fatal(err)
	}
	if err := e.s.WriteFile("/etc/hostname", []byte("h\n"), Entry{Mode: 0o644}); err != nil {
		t.Fatal(err)
	}
	if err := e.s.Save(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(e.root, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if !reflect.DeepEqual(s2.Entries(), e.s.Entries()) {
		t.Errorf("entries differ after Open")
	}
	if !reflect.DeepEqual(s2.Packages(), e.s.Packages()) {
		t.Errorf("packages %q", s2.Packages())
	}
	for _, p := range e.s.Packages() {
		if !reflect.DeepEqual(s2.Files(p), e.s.Files(p)) || !reflect.DeepEqual(s2.MD5Sums(p), e.s.MD5Sums(p)) {
			t.Errorf("lists of %s differ", p)
		}
	}
	if s2.opts.Arch != "arm64" || !s2.opts.MergedUsr || !s2.opts.Epoch.Equal(testTime) {
		t.Errorf("options %+v", s2.opts)
	}
	// Conflict detection survives the reload.
	var asked []Conflict
	s2.opts.OnConflict = func(c Conflict) (Resolution, error) { asked = append(asked, c); return Replace, nil }
	if _, err := s2.Unpack("bash2", tarOf(t, pkg(file("bin/bash", "x")))); err != nil {
		t.Fatal(err)
	}
	if len(asked) != 1 || asked[0].Old != "bash" {
		t.Errorf("asked %+v", asked)
	}
	// One entry per line, readable.
	b, _ := os.ReadFile(MetaPath(e.root))
	if !bytes.Contains(b, []byte("\n{\"path\":\"/dev/null\",\"type\":\"char\",\"mode\":\"0666\"")) {
		t.Errorf("table format:\n%s", b)
	}
	// A corrupt table is refused.
	os.WriteFile(MetaPath(e.root), []byte(`{"format":"other"}`), 0o644)
	if _, err := Open(e.root, Options{}); err == nil {
		t.Errorf("foreign table accepted")
	}
}

func TestCreateNeedsEmptyDir(t *testing.T) {
	d := t.TempDir()
	os.WriteFile(filepath.Join(d, "x"), nil, 0o644)
	if _, err := Create(d, Options{}); err == nil {
		t.Errorf("non-empty directory accepted")
	}
	if _, err := Create(filepath.Join(d, "x"), Options{}); err == nil {
		t.Errorf("file accepted")
	}
	s, err := Create(filepath.Join(d, "new", "root"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := s.Unpack("a", tarOf(t, pkg(file("x", "x")))); err == nil {
		t.Errorf("Unpack after Close: no error")
	}
}

// The real reader: a .deb built like dpkg-deb builds it, read with deb/.
func TestUnpackFromDeb(t *testing.T) {
	d := testarchive.NewDeb("hello", "1.0")
	d.Files = []testarchive.File{
		{Path: "usr/bin/hello", Body: []byte("#!/bin/sh\n"), Mode: 0o755},
		{Path: "usr/bin/hi", Type: tar.TypeLink, Linkname: "usr/bin/hello"},
		{Path: "usr/share/doc/hello/copyright", Body: []byte("free\n")},
		{Path: "usr/bin/ping", Body: []byte("ELF"), Mode: 0o4755, PAXRecords: map[string]string{"SCHILY.xattr.security.capability": "\x01\x00\x00\x02"}},
	}
	d.DataCompression = "xz"
	raw, err := testarchive.BuildDeb(d)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, Options{MergedUsr: true, Arch: "amd64"})
	r, err := deb.NewReader(bytes.NewReader(raw), "hello_1.0_amd64.deb")
	if err != nil {
		t.Fatal(err)
	}
	c, err := r.Control()
	if err != nil {
		t.Fatal(err)
	}
	data, err := r.Data()
	if err != nil {
		t.Fatal(err)
	}
	u, err := e.s.Unpack("hello", data)
	if err != nil {
		t.Fatal(err)
	}
	for p, sum := range c.MD5Sums {
		if u.MD5["/"+p] != sum {
			t.Errorf("%s: md5 %s, md5sums says %s", p, u.MD5["/"+p], sum)
		}
	}
	if len(c.MD5Sums) == 0 {
		t.Errorf("no md5sums to check")
	}
	if u.Paths[0] != "/." || !strings.Contains(strings.Join(u.Paths, " "), "/usr/bin/hi") {
		t.Errorf("Paths %q", u.Paths)
	}
	if en := e.lookup(t, "/usr/bin/ping"); en.Mode != 0o4755 || en.Xattrs["security.capability"] != "\x01\x00\x00\x02" {
		t.Errorf("ping %+v", en)
	}

	// A corrupt data member: nothing of it reaches the root.
	members, err := testarchive.DebMembers(testarchive.Deb{Name: "broken", Version: "1", DataCompression: "none",
		Files: []testarchive.File{{Path: "etc/broken", Body: bytes.Repeat([]byte("x"), 4096)}}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range members {
		if strings.HasPrefix(members[i].Name, "data.tar") {
			members[i].Data = members[i].Data[:len(members[i].Data)/2]
		}
	}
	before := e.s.Entries()
	r, err = deb.NewReader(bytes.NewReader(testarchive.Ar(members...)), "broken_1_amd64.deb")
	if err != nil {
		t.Fatal(err)
	}
	if data, err = r.Data(); err != nil {
		t.Fatal(err)
	}
	_, err = e.s.Unpack("broken", data)
	if err == nil || !strings.Contains(err.Error(), "broken") {
		t.Fatalf("corrupt data member: %v", err)
	}
	if !reflect.DeepEqual(e.s.Entries(), before) {
		t.Errorf("corrupt package changed the table")
	}
	e.absent(t, "/etc/broken")
}

func BenchmarkUnpack(b *testing.B) {
	// 2000 files of 4 KiB in 50 directories: the shape of a base system.
	var files []tf
	body := strings.Repeat("x", 4096)
	for d := 0; d < 50; d++ {
		for f := 0; f < 40; f++ {
			files = append(files, file("usr/share/d"+strconv.Itoa(d)+"/f"+strconv.Itoa(f), body))
		}
	}
	data := tarBytes(b, pkg(files...))
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		b.StopTimer()
		s, err := Create(filepath.Join(b.TempDir(), "root"), Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if _, err := s.Unpack("p", tar.NewReader(bytes.NewReader(data))); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		s.Close()
		b.StartTimer()
	}
}

func TestMknod(t *testing.T) {
	s, err := Create(t.TempDir()+"/root", Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.MkdirAll("/dev", Entry{Mode: 0o755}); err != nil {
		t.Fatal(err)
	}
	if err := s.Mknod("/dev/null", Entry{Type: tar.TypeChar, Mode: 0o666, Devmajor: 1, Devminor: 3}); err != nil {
		t.Fatal(err)
	}
	e, ok := s.Lookup("/dev/null")
	if !ok || e.Type != tar.TypeChar || e.Mode != 0o666 || e.Devmajor != 1 || e.Devminor != 3 {
		t.Fatalf("got %+v", e)
	}
	if err := s.Mknod("/dev/x", Entry{Type: tar.TypeReg}); err == nil {
		t.Fatal("Mknod of a regular file should fail")
	}
}
