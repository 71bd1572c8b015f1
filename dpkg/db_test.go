package dpkg

import (
	"archive/tar"
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/debstrap/debstrap/deb"
)

var update = flag.Bool("update", false, "rewrite golden files")

// synthPackages exercises what the database records: field order and
// normalisation, conffiles (one flagged remove-on-upgrade), file and
// explicit trigger interests, Multi-Arch: same naming, md5sums dpkg
// generates, symbolic links listed last, a hard link, a fifo, and a file
// taken over by a later package. No preinst or postinst, so that dpkg
// on the host can unpack and configure them into a bare directory.
func synthPackages() []testPkg {
	return []testPkg{
		{
			control: `Package: p1
Version: 0:1.0-1
Architecture: amd64
Maintainer: Test <t@example.org>
Original-Maintainer: Orig <o@example.org>
Priority: Optional
Section: misc
Essential: no
Protected: yes
Multi-Arch: no
Homepage: https://example.org/
Depends: libc6(>=2.34),  foo (<< 2) |bar:any, baz (< 3)
Pre-Depends: q (> 1)
Built-Using: gcc-12 (= 12.2.0-14)
Installed-Size: 12
Provides: virt (= 1.0)
Size: 100
X-Custom: foo
Description: synthetic one
 Long line one.
 .
 Line three.
`,
			members: map[string]string{
				"conffiles": "/etc/p1/a.conf\nremove-on-upgrade /etc/p1/gone.conf\n/etc/p1/b.conf\n",
				"triggers":  "# interests\ninterest /usr/share/p1/trig\ninterest-noawait p1-explicit\nactivate-noawait ldconfig\n",
				"md5sums":   "d404401c8c6495b206fc35c95e55a6d5  usr/share/p1/data\n",
				"postrm":    "#!/bin/sh\nexit 0\n",
				"templates": "Template: p1/q\nType: boolean\n",
				"config":    "#!/bin/sh\nexit 0\n",
			},
			data: defaultData(
				entry{name: "./etc/", typ: tar.TypeDir},
				entry{name: "./etc/p1/", typ: tar.TypeDir},
				entry{name: "./etc/p1/a.conf", typ: tar.TypeReg, body: "a\n"},
				entry{name: "./etc/p1/b.conf", typ: tar.TypeReg, body: "b\n"},
				entry{name: "./usr/", typ: tar.TypeDir},
				entry{name: "./usr/share/", typ: tar.TypeDir},
				entry{name: "./usr/share/p1/", typ: tar.TypeDir},
				entry{name: "./usr/share/p1/link", typ: tar.TypeSymlink, body: "data"},
				entry{name: "./usr/share/p1/data", typ: tar.TypeReg, body: "aa\n"},
				entry{name: "./usr/share/p1/shared", typ: tar.TypeReg, body: "old\n"},
			),
		},
		{
			control: `Package: p2
Version: 2
Architecture: amd64
Multi-Arch: same
Maintainer: T <t@e>
Essential: yes
Protected: yes
Description: no md5sums
`,
			members: map[string]string{
				"triggers": "interest-noawait /usr/share/p2\ninterest p1-explicit\n",
				"shlibs":   "libp2 1 p2\n",
			},
			data: defaultData(
				entry{name: "./usr/", typ: tar.TypeDir},
				entry{name: "./usr/lib/", typ: tar.TypeDir},
				entry{name: "./usr/lib/p2/", typ: tar.TypeDir},
				entry{name: "./usr/lib/p2/link1", typ: tar.TypeSymlink, body: "zz"},
				entry{name: "./usr/lib/p2/zz", typ: tar.TypeReg, body: "zz\n"},
				entry{name: "./usr/lib/p2/fifo", typ: tar.TypeFifo},
				entry{name: "./usr/lib/p2/sub/", typ: tar.TypeDir},
				entry{name: "./usr/lib/p2/link2", typ: tar.TypeSymlink, body: "sub"},
				entry{name: "./usr/lib/p2/sub/f", typ: tar.TypeReg, body: "f\n"},
				entry{name: "./usr/lib/p2/aa", typ: tar.TypeReg, body: "aa\n"},
				entry{name: "./usr/lib/p2/hard", typ: tar.TypeLink, body: "./usr/lib/p2/aa"},
			),
		},
		{
			control: `Package: p3
Version: 3
Architecture: all
Maintainer: T <t@e>
Replaces: p1
Description: takes a file over
`,
			members: map[string]string{
				"md5sums": "9cd599a3523898e6a12e13ec787da50a  usr/share/p1/shared\n",
			},
			data: defaultData(
				entry{name: "./usr/", typ: tar.TypeDir},
				entry{name: "./usr/share/", typ: tar.TypeDir},
				entry{name: "./usr/share/p1/", typ: tar.TypeDir},
				entry{name: "./usr/share/p1/shared", typ: tar.TypeReg, body: "new\n"},
			),
		},
	}
}

func synthDB(t *testing.T, state State) *DB {
	t.Helper()
	db := New("amd64", "i386")
	for _, p := range synthPackages() {
		addDeb(t, db, buildDeb(t, p), state)
	}
	return db
}

func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs:\n%s", path, firstDiff(string(want), got))
	}
}

func TestWriteGolden(t *testing.T) {
	for _, state := range []State{Unpacked, Installed} {
		t.Run(string(state), func(t *testing.T) {
			db := synthDB(t, state)
			if state == Installed {
				for _, d := range []Diversion{
					{Path: "/bin/sh", Divert: "/bin/sh.distrib", Package: "dash"},
					{Path: "/usr/share/man/man1/sh.1.gz", Divert: "/usr/share/man/man1/sh.distrib.1.gz", Package: "dash"},
					{Path: "/etc/local", Divert: "/etc/local.orig"},
				} {
					if err := db.AddDiversion(d); err != nil {
						t.Fatal(err)
					}
				}
				if err := db.AddStatOverride(StatOverride{User: "root", Group: "crontab", Mode: 0o2755, Path: "/usr/bin/crontab"}); err != nil {
					t.Fatal(err)
				}
			}
			root := newMemRoot()
			if err := db.Write(root); err != nil {
				t.Fatal(err)
			}
			checkGolden(t, string(state)+".golden", root.dump())
		})
	}
}

// TestStatOverrideOrder checks against a file dpkg-statoverride 1.21
// wrote after adding /x/f1 … /x/f12 in that order.
func TestStatOverrideOrder(t *testing.T) {
	db := New("amd64")
	for i := 1; i <= 12; i++ {
		o := StatOverride{User: "nobody", Group: "nogroup", Mode: 0o644, Path: "/x/f" + strconv.Itoa(i)}
		if i == 1 {
			o = StatOverride{User: "root", Group: "root", Mode: 0o4755, Path: "/x/f1"}
		}
		if err := db.AddStatOverride(o); err != nil {
			t.Fatal(err)
		}
	}
	root := newMemRoot()
	if err := db.Write(root); err != nil {
		t.Fatal(err)
	}
	want := `nobody nogroup 644 /x/f8
nobody nogroup 644 /x/f9
nobody nogroup 644 /x/f2
nobody nogroup 644 /x/f3
root root 4755 /x/f1
nobody nogroup 644 /x/f6
nobody nogroup 644 /x/f7
nobody nogroup 644 /x/f4
nobody nogroup 644 /x/f5
nobody nogroup 644 /x/f11
nobody nogroup 644 /x/f10
nobody nogroup 644 /x/f12
`
	if got := string(root.files[Admin+"/statoverride"].data); got != want {
		t.Errorf("statoverride:\n%s\nwant:\n%s", got, want)
	}
}

func TestSetState(t *testing.T) {
	db := synthDB(t, Unpacked)
	if err := db.SetState("p1", "", Installed); err != nil {
		t.Fatal(err)
	}
	st, err := db.Status()
	if err != nil {
		t.Fatal(err)
	}
	stanzas, err := ParseStatus(bytes.NewReader(st))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range stanzas {
		want := "install ok unpacked"
		if s.Get("Package") == "p1" {
			want = "install ok installed"
			if !strings.Contains(s.Get("Conffiles"), "/etc/p1/a.conf 60b725f10c9c85c70d97880dfe8191b3") {
				t.Errorf("p1 conffiles: %q", s.Get("Conffiles"))
			}
		}
		if got := s.Get("Status"); got != want {
			t.Errorf("%s: Status %q, want %q", s.Get("Package"), got, want)
		}
	}
	for _, tc := range []struct {
		name, arch string
		state      State
		err        string
	}{
		{"nope", "", Installed, "not in the database"},
		{"p1", "", "configured", "unknown state"},
		{"p2", "i386", Installed, "not in the database"},
	} {
		if err := db.SetState(tc.name, tc.arch, tc.state); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("SetState(%s, %s, %s) = %v, want %q", tc.name, tc.arch, tc.state, err, tc.err)
		}
	}
}

func TestAddErrors(t *testing.T) {
	control := func(extra string) *deb.Control {
		raw := "Package: x\nVersion: 1\nArchitecture: amd64\nMaintainer: T <t@e>\nDescription: d\n" + extra
		s, err := deb.ParseStanza([]byte(raw))
		if err != nil {
			t.Fatal(err)
		}
		return &deb.Control{Stanza: s, Raw: []byte(raw), Files: map[string]deb.File{
			"control": {Name: "control", Mode: 0o644, Data: []byte(raw)},
			"md5sums": {Name: "md5sums", Mode: 0o644},
		}}
	}
	with := func(c *deb.Control, name, data string) *deb.Control {
		c.Files[name] = deb.File{Name: name, Mode: 0o644, Data: []byte(data)}
		return c
	}
	root := []File{{Name: "./", Type: tar.TypeDir}}
	conf := append(root, File{Name: "./etc/x.conf", Type: tar.TypeReg})
	stanza := func(raw string) *deb.Control {
		s, err := deb.ParseStanza([]byte(raw))
		if err != nil {
			t.Fatal(err)
		}
		return &deb.Control{Stanza: s, Files: map[string]deb.File{}}
	}
	for _, tc := range []struct {
		name string
		p    Package
		err  string
	}{
		{"no control", Package{State: Installed}, "no control data"},
		{"bad state", Package{Control: control(""), State: "configured"}, "unknown state"},
		{"no version", Package{Control: stanza("Package: x\nArchitecture: all\n"), State: Installed}, "no Version"},
		{"no arch", Package{Control: stanza("Package: x\nVersion: 1\n"), State: Installed}, "no Architecture"},
		{"foreign arch", Package{Control: stanza("Package: x\nVersion: 1\nArchitecture: arm64\n"), State: Installed}, "architecture arm64"},
		{"same all", Package{Control: stanza("Package: x\nVersion: 1\nArchitecture: all\nMulti-Arch: same\n"), State: Installed}, "Multi-Arch: same with Architecture: all"},
		{"bad multiarch", Package{Control: control("Multi-Arch: maybe\n"), State: Installed}, "Multi-Arch"},
		{"bad essential", Package{Control: control("Essential: perhaps\n"), State: Installed}, "Essential"},
		{"bad depends", Package{Control: control("Depends: a,\n"), State: Installed}, "Depends field"},
		{"bad version", Package{Control: stanza("Package: x\nVersion: 1:\nArchitecture: all\n"), State: Installed}, "nothing after colon"},
		{"bad member", Package{Control: with(control(""), "a b", ""), State: Installed}, "invalid control member"},
		{"bad conffiles", Package{Control: with(control(""), "conffiles", "remove-on-upgrade etc/x\n"), State: Installed}, "not an absolute path"},
		{"conffile flag", Package{Control: with(control(""), "conffiles", "keep /etc/x\n"), State: Installed}, "unknown flag"},
		{"bad triggers", Package{Control: with(control(""), "triggers", "poke x\n"), State: Installed}, "unknown directive"},
		{"no conffile md5", Package{Control: with(control(""), "conffiles", "/etc/x.conf\n"), Files: conf, State: Installed}, "no MD5 digest"},
		{"bad md5", Package{Control: control(""), Files: append(root, File{Name: "./a", Type: tar.TypeReg, MD5: "xyz"}), State: Installed}, "not a hex MD5"},
		{"duplicate path", Package{Control: control(""), Files: append(root, File{Name: "./usr/", Type: tar.TypeDir}, File{Name: "./usr", Type: tar.TypeDir}), State: Installed}, "twice"},
		{"no md5sums", Package{Control: stanza("Package: x\nVersion: 1\nArchitecture: all\n"), Files: append(root, File{Name: "./a", Type: tar.TypeReg}), State: Installed}, "no md5sums"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := New("amd64")
			if err := db.Add(tc.p); err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("Add: %v, want error with %q", err, tc.err)
			}
		})
	}

	// A conffile is unpacked without its digest: dpkg records "newconffile".
	db := New("amd64")
	if err := db.Add(Package{Control: with(control(""), "conffiles", "/etc/x.conf\n"), Files: conf, State: Unpacked}); err != nil {
		t.Fatal(err)
	}
	if err := db.SetState("x", "", Installed); err == nil || !strings.Contains(err.Error(), "no MD5 digest") {
		t.Errorf("SetState without conffile digest: %v", err)
	}
	if err := db.Add(Package{Control: control(""), State: Installed}); err == nil || !strings.Contains(err.Error(), "added twice") {
		t.Errorf("second x: %v", err)
	}
}

func TestMultiArchSame(t *testing.T) {
	db := New("amd64", "i386")
	for _, arch := range []string{"i386", "amd64"} {
		raw := "Package: libx\nVersion: 1\nArchitecture: " + arch + "\nMulti-Arch: same\nMaintainer: T <t@e>\nDescription: d\n"
		s, _ := deb.ParseStanza([]byte(raw))
		c := &deb.Control{Stanza: s, Files: map[string]deb.File{"md5sums": {Name: "md5sums", Mode: 0o644}}}
		if err := db.Add(Package{Control: c, Files: []File{{Name: "./", Type: tar.TypeDir}}, State: Installed}); err != nil {
			t.Fatal(err)
		}
	}
	root := newMemRoot()
	if err := db.Write(root); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"info/libx:amd64.list", "info/libx:i386.list", "info/libx:i386.md5sums"} {
		if _, ok := root.files[Admin+"/"+f]; !ok {
			t.Errorf("%s not written", f)
		}
	}
	st := string(root.files[Admin+"/status"].data)
	if i, j := strings.Index(st, "Architecture: amd64"), strings.Index(st, "Architecture: i386"); i < 0 || j < i {
		t.Errorf("status not sorted by architecture:\n%s", st)
	}
	if got := string(root.files[Admin+"/arch"].data); got != "amd64\ni386\n" {
		t.Errorf("arch = %q", got)
	}
	if err := db.SetState("libx", "", Installed); err == nil || !strings.Contains(err.Error(), "several architectures") {
		t.Errorf("SetState without arch: %v", err)
	}
}

func TestDiversionErrors(t *testing.T) {
	db := New("amd64")
	if err := db.AddDiversion(Diversion{Path: "/a", Divert: "/a.distrib", Package: "p"}); err != nil {
		t.Fatal(err)
	}
	for _, d := range []Diversion{
		{Path: "a", Divert: "/b"},
		{Path: "/b", Divert: "/b"},
		{Path: "/a", Divert: "/c"},
		{Path: "/c", Divert: "/a.distrib"},
	} {
		if err := db.AddDiversion(d); err == nil {
			t.Errorf("AddDiversion(%+v): no error", d)
		}
	}
	for _, o := range []StatOverride{
		{User: "root", Group: "root", Mode: 0o755, Path: "rel"},
		{User: "", Group: "root", Mode: 0o755, Path: "/x"},
		{User: "root", Group: "root", Mode: 0o10755, Path: "/x"},
	} {
		if err := db.AddStatOverride(o); err == nil {
			t.Errorf("AddStatOverride(%+v): no error", o)
		}
	}
}
