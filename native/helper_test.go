package native

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/debstrap/debstrap/deb"
	"github.com/debstrap/debstrap/dpkg"
	"github.com/debstrap/debstrap/rootfs"
)

// testEpoch is SOURCE_DATE_EPOCH in tests: day 19724 (2024-01-01).
var testEpoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// newStage makes an empty staging root with the directories every root
// has.
func newStage(t *testing.T) *rootfs.Stage {
	t.Helper()
	st, err := rootfs.Create(filepath.Join(t.TempDir(), "root"), rootfs.Options{Arch: "amd64", Epoch: testEpoch})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	for _, d := range []string{"/etc", "/tmp", "/usr/bin", "/usr/sbin", "/usr/lib", "/usr/share", "/var/lib/dpkg/info", "/var/cache", "/var/log", "/root"} {
		if err := st.MkdirAll(d, rootfs.Entry{Mode: 0o755}); err != nil {
			t.Fatal(err)
		}
	}
	for _, l := range []string{"bin", "sbin", "lib"} {
		if err := st.Symlink("usr/"+l, "/"+l, rootfs.Entry{}); err != nil {
			t.Fatal(err)
		}
	}
	// Every command of the registry is "installed", as a binary.
	for name := range registry {
		if strings.Contains(name, "/") {
			continue
		}
		if err := st.WriteFile("/usr/bin/"+name, []byte("\x7fELF stub"), rootfs.Entry{Mode: 0o755}); err != nil {
			t.Fatal(err)
		}
	}
	return st
}

// put writes files into the stage: path → content; a path ending in "/"
// is a directory, content "-> target" a symlink, "x:" a prefix for an
// executable file.
func put(t *testing.T, st *rootfs.Stage, files map[string]string) {
	t.Helper()
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		c := files[p]
		var err error
		switch {
		case strings.HasSuffix(p, "/"):
			err = st.MkdirAll(p, rootfs.Entry{Mode: 0o755})
		case strings.HasPrefix(c, "-> "):
			err = mkparent(st, p)
			if err == nil {
				err = st.Symlink(strings.TrimPrefix(c, "-> "), p, rootfs.Entry{})
			}
		default:
			mode := int64(0o644)
			if strings.HasPrefix(c, "x:") {
				mode, c = 0o755, strings.TrimPrefix(c, "x:")
			}
			err = mkparent(st, p)
			if err == nil {
				err = st.WriteFile(p, []byte(c), rootfs.Entry{Mode: mode})
			}
		}
		if err != nil {
			t.Fatalf("put %s: %v", p, err)
		}
	}
}

func mkparent(st *rootfs.Stage, p string) error {
	return st.MkdirAll(filepath.Dir(p), rootfs.Entry{Mode: 0o755})
}

// get reads a file of the stage, "" when missing.
func get(t *testing.T, st *rootfs.Stage, p string) string {
	t.Helper()
	b, err := st.ReadFile(p)
	if err != nil {
		return ""
	}
	return string(b)
}

// entry returns the entry at p (symlinks not followed).
func entry(t *testing.T, st *rootfs.Stage, p string) rootfs.Entry {
	t.Helper()
	e, err := st.Lstat(p)
	if err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	return e
}

// testSys is a sys over st with packages made from control stanzas.
func testSys(t *testing.T, st *rootfs.Stage, ctrls ...*deb.Control) *sys {
	t.Helper()
	s := &sys{st: st, db: dpkg.New("amd64"), opts: Options{Arch: "amd64", Epoch: testEpoch},
		log: slog.New(slog.DiscardHandler), byName: map[string]*pkgState{}, provides: map[string][]*pkgState{}, report: &Report{}}
	for _, c := range ctrls {
		p := &pkgState{name: c.Get("Package"), arch: c.Get("Architecture"), version: c.Get("Version"), ctrl: c, state: dpkg.Unpacked}
		if f, ok := c.Files["triggers"]; ok {
			in, err := parseInterests(f.Data)
			if err != nil {
				t.Fatal(err)
			}
			p.interests = in
		}
		s.pkgs = append(s.pkgs, p)
		s.byName[p.name] = p
	}
	var err error
	if s.debconf, err = loadDebconf(s); err != nil {
		t.Fatal(err)
	}
	return s
}

// control makes a control archive: fields as "Name: value" lines, then
// members name → content.
func control(fields string, members map[string]string) *deb.Control {
	st, err := deb.ParseStanza([]byte(fields))
	if err != nil {
		panic(err)
	}
	c := &deb.Control{Stanza: st, Raw: []byte(fields), Files: map[string]deb.File{"control": {Name: "control", Mode: 0o644, Data: []byte(fields)}}}
	for n, d := range members {
		mode := int64(0o644)
		switch n {
		case "preinst", "postinst", "prerm", "postrm", "config":
			mode = 0o755
		}
		c.Files[n] = deb.File{Name: n, Mode: mode, Data: []byte(d)}
	}
	return c
}

// sh runs a script in s as a maintainer script of no package; it
// returns the combined output and the error.
func sh(t *testing.T, s *sys, script string, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	run := &shellRun{name: "/test.sh", args: args, stdout: &out, stderr: &out, umask: 0o022,
		env: []string{"DPKG_MAINTSCRIPT_PACKAGE=test", "DPKG_MAINTSCRIPT_NAME=postinst"}}
	err := s.runShell(context.Background(), run, []byte(script))
	return out.String(), err
}

// mustSh is sh failing the test on an error.
func mustSh(t *testing.T, s *sys, script string, args ...string) string {
	t.Helper()
	out, err := sh(t, s, script, args...)
	if err != nil {
		t.Fatalf("script failed: %v\noutput:\n%s", err, out)
	}
	return out
}

// listTree returns "path type mode uid gid [-> link]" for every entry
// under dir, for compact comparisons.
func listTree(st *rootfs.Stage, under string) []string {
	var out []string
	for _, e := range st.Entries() {
		if !strings.HasPrefix(e.Path, under) {
			continue
		}
		l := e.Path
		switch e.Type {
		case tar.TypeSymlink:
			l += " -> " + e.Linkname
		case tar.TypeDir:
			l += "/"
		}
		out = append(out, l)
	}
	return out
}

var _ = io.Discard
