package dpkg

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/debstrap/debstrap/deb"
)

func TestNormVersion(t *testing.T) {
	for _, tc := range []struct{ in, want, err string }{
		{in: "1.0", want: "1.0"},
		{in: " 1.0-1 ", want: "1.0-1"},
		{in: "0:1.0", want: "1.0"},
		{in: "00:1.0-0", want: "1.0-0"},
		{in: "01:2.3", want: "1:2.3"},
		{in: "1:4.13+dfsg1-1+deb12u2", want: "1:4.13+dfsg1-1+deb12u2"},
		{in: "0:1:2", want: "0:1:2"}, // the colon needs the epoch
		{in: "1.2-3-4", want: "1.2-3-4"},
		{in: "", err: "empty"},
		{in: "1 .0", err: "spaces"},
		{in: "a:1", err: "epoch"},
		{in: ":1", err: "epoch"},
		{in: "1:", err: "nothing after colon"},
		{in: "1.0-", err: "revision"},
		{in: "-1", err: "upstream"},
	} {
		got, err := normVersion(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("normVersion(%q) = %q, %v; want error with %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("normVersion(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

// The expectations were checked with dpkg 1.21 unpacking packages with
// these Depends fields.
func TestNormRelations(t *testing.T) {
	for _, tc := range []struct{ in, want, err string }{
		{in: "libc6 (>= 2.34)", want: "libc6 (>= 2.34)"},
		{in: "libc6(>=2.34),  foo (<< 2) |bar:any, baz (< 3)", want: "libc6 (>= 2.34), foo (<< 2) | bar:any, baz (<= 3)"},
		{in: "q (> 1)", want: "q (>= 1)"},
		{in: "a (= 1 )", want: "a (= 1)"},
		{in: "a ( >= 1.0)", want: "a (>= 1.0)"},
		{in: "a:amd64 (>= 1)", want: "a:amd64 (>= 1)"},
		{in: "A (>= 1)", want: "a (>= 1)"},
		{in: "a (>=  1.0-1 )  |  b", want: "a (>= 1.0-1) | b"},
		{in: "a(>=1)|b(<=2)", want: "a (>= 1) | b (<= 2)"},
		{in: "foo (>= 0:1.0), bar(=1:2-0),\n baz:native (>>3) ,qux", want: "foo (>= 1.0), bar (= 1:2-0), baz:native (>> 3), qux"},
		{in: "a, b,", err: "empty relation"},
		{in: "a,,b", err: "empty relation"},
		{in: "a | ", err: "empty alternative"},
		{in: "a (>=1)(<<2)", err: "syntax error"},
		{in: "a (>= 1:)", err: "nothing after colon"},
		{in: "a (== 1)", err: "bad version relationship"},
		{in: "a [amd64]", err: "syntax error"},
		{in: "a (>= 1) <!nocheck>", err: "syntax error"},
		{in: "a (>= 1", err: "missing ')'"},
		{in: "-a", err: "invalid package name"},
	} {
		got, err := normRelations("Depends", tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("normRelations(%q) = %q, %v; want error with %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("normRelations(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestListName(t *testing.T) {
	for in, want := range map[string]string{
		"./":            "/.",
		".":             "/.",
		"./usr/":        "/usr",
		"./usr/bin/ls":  "/usr/bin/ls",
		"usr/bin/ls":    "/usr/bin/ls",
		"/usr/bin/ls":   "/usr/bin/ls",
		"././bin/sh":    "/bin/sh",
		"./etc/a b.txt": "/etc/a b.txt",
	} {
		if got := listName(in); got != want {
			t.Errorf("listName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseTriggers(t *testing.T) {
	got, err := parseTriggers([]byte("# comment\n\ninterest-noawait /usr/share/x\n  interest   foo  \ninterest-await bar\nactivate-noawait ldconfig\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []interest{{"/usr/share/x", true}, {"foo", false}, {"bar", false}}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("interest %d: got %v, want %v", i, got[i], want[i])
		}
	}
	for _, bad := range []string{"frobnicate x\n", "interest\n", "interest a b\n", "interest File\n", "interest a/b\n"} {
		if _, err := parseTriggers([]byte(bad)); err == nil {
			t.Errorf("parseTriggers(%q): no error", bad)
		}
	}
}

// TestFsysOrder checks the bucket order against files dpkg-divert 1.21
// (amd64) wrote: 30 diversions /x/f1…/x/f30 and a local one of /ü/ä.
func TestFsysOrder(t *testing.T) {
	want := strings.Fields("/x/f28 /x/f29 /x/f20 /x/f21 /x/f22 /x/f23 /x/f24 /x/f25 /x/f26 /x/f27 /x/f8 /x/f9 /x/f2 /x/f3 /x/f1 /x/f6 /x/f7 /x/f4 /x/f5 /ü/ä /x/f30 /x/f11 /x/f10 /x/f13 /x/f12 /x/f15 /x/f14 /x/f17 /x/f16 /x/f19 /x/f18")
	var got []string
	for i := 1; i <= 30; i++ {
		got = append(got, "/x/f"+strconv.Itoa(i))
	}
	got = append(got, "/ü/ä")
	sortFsys(got, func(s string) string { return s }, "amd64")
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("order:\n got %v\nwant %v", got, want)
	}
	// The reference root: dash diverts /bin/sh first, yet the man page
	// comes first in the file.
	d := []string{"/bin/sh", "/usr/share/man/man1/sh.1.gz"}
	sortFsys(d, func(s string) string { return s }, "amd64")
	if d[0] != "/usr/share/man/man1/sh.1.gz" {
		t.Errorf("dash diversions in order %v", d)
	}
}

// TestBookwormStatus writes status stanzas for control files of Debian 12
// packages and compares them with the stanzas dpkg wrote for them in a
// root made by mmdebstrap. Conffile digests (not in the control files)
// are taken from the expected stanzas.
func TestBookwormStatus(t *testing.T) {
	golden, err := os.ReadFile("testdata/bookworm/status.golden")
	if err != nil {
		t.Fatal(err)
	}
	want, err := ParseStatus(bytes.NewReader(golden))
	if err != nil {
		t.Fatal(err)
	}
	db := New("amd64")
	for _, w := range want {
		name := w.Get("Package")
		raw, err := os.ReadFile(filepath.Join("testdata/bookworm", name+".control"))
		if err != nil {
			t.Fatal(err)
		}
		st, err := deb.ParseStanza(raw)
		if err != nil {
			t.Fatal(err)
		}
		ctrl := &deb.Control{Stanza: st, Raw: raw, Files: map[string]deb.File{"control": {Name: "control", Mode: 0o644, Data: raw}}}
		if cf, err := os.ReadFile(filepath.Join("testdata/bookworm", name+".conffiles")); err == nil {
			ctrl.Files["conffiles"] = deb.File{Name: "conffiles", Mode: 0o644, Data: cf}
			ctrl.Files["md5sums"] = deb.File{Name: "md5sums", Mode: 0o644}
		}
		files := []File{{Name: "./", Type: tar.TypeDir}}
		for _, line := range strings.Split(w.Get("Conffiles"), "\n") {
			if f := strings.Fields(line); len(f) >= 2 {
				files = append(files, File{Name: "." + f[0], Type: tar.TypeReg, MD5: f[1]})
			}
		}
		if err := db.Add(Package{Control: ctrl, Files: files, State: Installed}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := db.Status()
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(golden) {
		t.Errorf("status differs from dpkg's:\n%s", firstDiff(string(golden), string(got)))
	}
}

func TestParseStatus(t *testing.T) {
	in := "Package: a\nStatus: install ok installed\nDescription: x\n more\n\n\nPackage: b\nVersion: 1\n"
	got, err := ParseStatus(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Get("Description") != "x\n more" || got[1].Get("Version") != "1" {
		t.Errorf("got %+v", got)
	}
	if _, err := ParseStatus(strings.NewReader("Package: a\nno colon here\n")); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("malformed stanza: err = %v", err)
	}
}
