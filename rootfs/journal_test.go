package rootfs

import (
	"archive/tar"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// fingerprint describes the stage completely: every table entry, and
// for each on-disk object its type, disk mode, content and which other
// paths share its inode.
func fingerprint(t *testing.T, e *env) string {
	t.Helper()
	var b strings.Builder
	inodes := map[uint64]string{}
	for _, en := range e.s.Entries() {
		fmt.Fprintf(&b, "%+v\n", en)
		fi, err := os.Lstat(filepath.Join(e.root, en.Path))
		if err != nil {
			t.Fatalf("%s: %v", en.Path, err)
		}
		fmt.Fprintf(&b, "  disk %v", fi.Mode())
		if fi.Mode().IsRegular() {
			ino := fi.Sys().(*syscall.Stat_t).Ino
			if first, ok := inodes[ino]; ok {
				fmt.Fprintf(&b, " same inode as %s", first)
			} else {
				inodes[ino] = en.Path
			}
			fmt.Fprintf(&b, " %q", e.disk(t, en.Path))
		}
		b.WriteString("\n")
	}
	d := slices.DeleteFunc(diskTree(t, e.root), func(p string) bool {
		return strings.HasPrefix(p, "/"+spoolPrefix+"journal-") // while a checkpoint is active
	})
	if p := paths(e.s); !slices.Equal(d, p) {
		fmt.Fprintf(&b, "disk %q\ntable %q\n", d, p)
	}
	return b.String()
}

func TestRollback(t *testing.T) {
	must := func(t *testing.T, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	reg := Entry{Mode: 0o644}
	tests := []struct {
		name string
		ops  func(t *testing.T, s *Stage)
	}{
		{"write, replace, create", func(t *testing.T, s *Stage) {
			must(t, s.WriteFile("/etc/a", []byte("changed"), Entry{Mode: 0o600, Uid: 3}))
			must(t, s.WriteFile("/etc/new", []byte("new"), reg))
			must(t, s.Mkdir("/etc/n", Entry{Mode: 0o755}))
			must(t, s.WriteFile("/etc/n/z", []byte("z"), reg))
			must(t, s.MkdirAll("/var/lib/x/y", Entry{Mode: 0o700}))
		}},
		{"remove a tree, make it again", func(t *testing.T, s *Stage) {
			must(t, s.RemoveAll("/etc/d"))
			must(t, s.Mkdir("/etc/d", Entry{Mode: 0o700}))
			must(t, s.WriteFile("/etc/d/f1", []byte("other"), reg))
		}},
		{"change inside, then remove the tree", func(t *testing.T, s *Stage) {
			must(t, s.WriteFile("/etc/d/f1", []byte("other"), reg))
			must(t, s.WriteFile("/etc/d/f3", []byte("new"), reg))
			must(t, s.Update("/etc/d", func(e *Entry) { e.Mode = 0o700 }))
			must(t, s.RemoveAll("/etc/d"))
			must(t, s.MkdirAll("/etc/d/q", Entry{Mode: 0o755}))
		}},
		{"renames", func(t *testing.T, s *Stage) {
			must(t, s.Rename("/etc/d", "/etc/e"))
			must(t, s.Rename("/etc/a", "/etc/l"))
			must(t, s.Rename("/usr/bin/x", "/etc/x"))
			must(t, s.WriteFile("/etc/e/f2", []byte("moved and changed"), reg))
		}},
		{"hard links", func(t *testing.T, s *Stage) {
			must(t, s.Update("/usr/bin/y", func(e *Entry) { e.Mode = 0o4711; e.Uid = 9 }))
			must(t, s.WriteFile("/usr/bin/x", []byte("broken link"), reg))
			must(t, s.Remove("/usr/bin/y"))
		}},
		{"symlinks and devices", func(t *testing.T, s *Stage) {
			must(t, s.Symlink("d/f1", "/etc/l", Entry{}))
			must(t, s.Remove("/etc/l"))
			must(t, s.Symlink("nowhere", "/etc/l2", Entry{}))
			must(t, s.Remove("/dev/null"))
			must(t, s.Mknod("/dev/null", Entry{Type: tar.TypeChar, Mode: 0o600, Devmajor: 1, Devminor: 5}))
			must(t, s.Update("/dev/zero", func(e *Entry) { e.Devminor = 7 }))
		}},
		{"through a replaced directory symlink", func(t *testing.T, s *Stage) {
			must(t, s.Remove("/bin"))
			must(t, s.Symlink("usr/bin", "/bin", Entry{}))
			must(t, s.WriteFile("/bin/x", []byte("via the link"), reg))
			must(t, s.Remove("/bin"))
			must(t, s.Mkdir("/bin", Entry{Mode: 0o755}))
			must(t, s.WriteFile("/bin/x", []byte("in the directory"), reg))
		}},
		{"failed operations", func(t *testing.T, s *Stage) {
			if err := s.Remove("/etc/d"); err == nil {
				t.Fatal("removed a non-empty directory")
			}
			if err := s.WriteFile("/etc", nil, reg); err == nil {
				t.Fatal("wrote over a directory")
			}
			must(t, s.WriteFile("/etc/a", []byte("after failures"), reg))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, Options{Epoch: testTime})
			e.unpack(t, "base", pkg(dir("etc/"), file("etc/a", "A"), dir("etc/d/"), file("etc/d/f1", "1"), file("etc/d/f2", "2"),
				symlink("etc/l", "a"), dir("usr/"), dir("usr/bin/"), file("usr/bin/x", "X"), hardlink("usr/bin/y", "usr/bin/x"), dir("dev/"), dir("bin/")))
			s := e.s
			must(t, s.Mknod("/dev/null", Entry{Type: tar.TypeChar, Mode: 0o666, Devmajor: 1, Devminor: 3}))
			must(t, s.Mknod("/dev/zero", Entry{Type: tar.TypeChar, Mode: 0o666, Devmajor: 1, Devminor: 5}))
			before := fingerprint(t, e)

			must(t, s.Checkpoint())
			tt.ops(t, s)
			changed := fingerprint(t, e)
			if changed == before {
				t.Fatal("the operations changed nothing")
			}
			must(t, s.Rollback())
			if got := fingerprint(t, e); got != before {
				t.Errorf("after rollback:\n%s\nwant:\n%s", got, before)
			}

			// The same operations kept by Release.
			must(t, s.Checkpoint())
			tt.ops(t, s)
			must(t, s.Release())
			if got := fingerprint(t, e); got != changed {
				t.Errorf("after release:\n%s\nwant:\n%s", got, changed)
			}
			top, _ := os.ReadDir(e.root)
			for _, d := range top {
				if strings.HasPrefix(d.Name(), spoolPrefix) {
					t.Errorf("%s left in the root", d.Name())
				}
			}
		})
	}
}

func TestRollbackRefused(t *testing.T) {
	e := newEnv(t, Options{Epoch: testTime})
	e.unpack(t, "base", pkg(dir("bin/"), file("bin/sh", "sh"), dir("usr/"), dir("usr/bin/")))
	s := e.s
	if err := s.Rollback(); err == nil {
		t.Error("rollback with no checkpoint")
	}
	if err := s.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	if err := s.Checkpoint(); err == nil {
		t.Error("a second checkpoint accepted")
	}
	if err := s.WriteFile("/bin/sh", []byte("changed"), Entry{Mode: 0o755}); err != nil {
		t.Fatal(err)
	}
	if err := s.MergeUsr(); err != nil {
		t.Fatal(err)
	}
	if err := s.Rollback(); !errors.Is(err, ErrNoRollback) {
		t.Errorf("rollback past MergeUsr: %v", err)
	}
	if got := e.disk(t, "usr/bin/sh"); got != "changed" {
		t.Errorf("/usr/bin/sh %q", got)
	}
	if d, p := diskTree(t, e.root), paths(s); !slices.Equal(d, p) {
		t.Errorf("disk %q, table %q", d, p)
	}
}

func TestChanges(t *testing.T) {
	e := newEnv(t, Options{Epoch: testTime})
	e.unpack(t, "base", pkg(dir("etc/"), file("etc/a", "A"), file("etc/b", "B"), dir("var/")))
	s := e.s
	if got := s.Changes(); got != nil {
		t.Fatalf("changes without a checkpoint: %v", got)
	}
	if err := s.WriteFile("/etc/made", []byte("by a script"), Entry{Mode: 0o644}); err != nil {
		t.Fatal(err)
	}
	if err := s.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	steps := []func() error{
		func() error { return s.WriteFile("/etc/a", []byte("changed"), Entry{Mode: 0o644}) },
		func() error { return s.WriteFile("/etc/a", []byte("again"), Entry{Mode: 0o644}) },
		func() error { return s.WriteFile("/var/new", []byte("new"), Entry{Mode: 0o644}) },
		func() error { return s.Update("/etc/b", func(e *Entry) { e.Mode = 0o600 }) },
		func() error { return s.Remove("/etc/made") },
	}
	for _, f := range steps {
		if err := f(); err != nil {
			t.Fatal(err)
		}
	}
	want := []Change{
		{Path: "/etc/a", Existed: true, Package: "base"},
		{Path: "/var/new"},
		{Path: "/etc/b", Existed: true, Package: "base", Meta: true},
		{Path: "/etc/made", Existed: true},
	}
	if got := s.Changes(); !slices.Equal(got, want) {
		t.Errorf("changes:\n%+v\nwant:\n%+v", got, want)
	}
	if err := s.Release(); err != nil {
		t.Fatal(err)
	}
}
