package manifest

import (
	"reflect"
	"strings"
	"testing"
)

func file(p, content string) Entry {
	return Entry{Path: p, Type: TypeFile, Mode: 0o644, Size: int64(len(content)), SHA256: sum(content)}
}

func manifestOf(es ...Entry) *Manifest { return &Manifest{Entries: es} }

func TestDiffCategories(t *testing.T) {
	root := Entry{Path: "/", Type: TypeDir, Mode: 0o755}
	etc := Entry{Path: "/etc", Type: TypeDir, Mode: 0o755}
	with := func(e Entry, f func(*Entry)) Entry { f(&e); return e }
	hostname := file("/etc/hostname", "debstrap\n")
	link := Entry{Path: "/bin", Type: TypeSymlink, Mode: 0o777, Link: "usr/bin"}
	null := Entry{Path: "/dev/null", Type: TypeChar, Mode: 0o666, Major: 1, Minor: 3}
	ping := with(file("/ping", "ELF"), func(e *Entry) { e.Xattrs = map[string]string{"security.capability": "\x01\x02"} })
	for _, tc := range []struct {
		name string
		a, b []Entry
		want []Difference
	}{
		{"same", []Entry{root, etc, hostname}, []Entry{root, etc, hostname}, nil},
		{"only-in-a", []Entry{root, etc, hostname}, []Entry{root, etc},
			[]Difference{{"/etc/hostname", OnlyInA, "file 0644 0:0 9 " + sum("debstrap\n")[:16], ""}}},
		{"only-in-b", []Entry{root}, []Entry{root, link},
			[]Difference{{"/bin", OnlyInB, "", "symlink 0777 0:0 -> usr/bin"}}},
		{"type", []Entry{root, file("/bin", "x")}, []Entry{root, link},
			[]Difference{{"/bin", Type, "file", "symlink"}}},
		{"mode", []Entry{root}, []Entry{with(root, func(e *Entry) { e.Mode = 0o700 })},
			[]Difference{{"/", Mode, "0755", "0700"}}},
		{"owner", []Entry{hostname}, []Entry{with(hostname, func(e *Entry) { e.Gid = 42 })},
			[]Difference{{"/etc/hostname", Owner, "0:0", "0:42"}}},
		{"content", []Entry{hostname}, []Entry{file("/etc/hostname", "other\n")},
			[]Difference{{"/etc/hostname", Content, "9 " + sum("debstrap\n")[:16], "6 " + sum("other\n")[:16]}}},
		{"link", []Entry{link}, []Entry{with(link, func(e *Entry) { e.Link = "/usr/bin" })},
			[]Difference{{"/bin", Link, "usr/bin", "/usr/bin"}}},
		{"device", []Entry{null}, []Entry{with(null, func(e *Entry) { e.Minor = 5 })},
			[]Difference{{"/dev/null", Device, "1,3", "1,5"}}},
		{"xattr", []Entry{ping}, []Entry{with(ping, func(e *Entry) { e.Xattrs = nil })},
			[]Difference{{"/ping", Xattr, "security.capability=0102", ""}}},
		{"several", []Entry{hostname}, []Entry{with(hostname, func(e *Entry) { e.Mode, e.Uid, e.SHA256 = 0o600, 1, sum("x") })},
			[]Difference{
				{"/etc/hostname", Mode, "0644", "0600"},
				{"/etc/hostname", Owner, "0:0", "1:0"},
				{"/etc/hostname", Content, "9 " + sum("debstrap\n")[:16], "9 " + sum("x")[:16]},
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Diff(manifestOf(tc.a...), manifestOf(tc.b...), DiffOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got\n%swant\n%s", lines(got), lines(tc.want))
			}
		})
	}
}

// A hardlink on one side and a copy on the other is one hardlink
// difference per path, and no other.
func TestDiffHardlink(t *testing.T) {
	linked := func(p string) Entry { e := file(p, "ELF perl"); e.Hardlink = "/usr/bin/perl"; return e }
	a := manifestOf(linked("/usr/bin/perl"), linked("/usr/bin/perl5.36.0"))
	b := manifestOf(file("/usr/bin/perl", "ELF perl"), file("/usr/bin/perl5.36.0", "ELF perl"))
	got, _ := Diff(a, b, DiffOptions{})
	want := []Difference{
		{"/usr/bin/perl", Hardlink, "/usr/bin/perl5.36.0", ""},
		{"/usr/bin/perl5.36.0", Hardlink, "/usr/bin/perl", ""},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%swant\n%s", lines(got), lines(want))
	}

	// A group whose other member is missing on one side shows only that
	// path's only-in difference.
	got, _ = Diff(manifestOf(linked("/usr/bin/perl"), linked("/usr/bin/perl5.36.0")), manifestOf(linked("/usr/bin/perl")), DiffOptions{})
	if len(got) != 1 || got[0].Category != OnlyInA {
		t.Errorf("got %v, want one only-in-a", got)
	}
}

func TestDiffIgnore(t *testing.T) {
	a := manifestOf(
		Entry{Path: "/", Type: TypeDir, Mode: 0o755},
		file("/etc/machine-id", "a"),
		Entry{Path: "/var/log", Type: TypeDir, Mode: 0o755},
		Entry{Path: "/var/log/apt", Type: TypeDir, Mode: 0o755},
		file("/var/log/apt/history.log", "a"),
		file("/var/log/dpkg.log", "a"),
	)
	b := manifestOf(
		Entry{Path: "/", Type: TypeDir, Mode: 0o755},
		file("/etc/machine-id", "b"),
		Entry{Path: "/var/log", Type: TypeDir, Mode: 0o700},
		file("/var/log/dpkg.log", "b"),
	)
	got, err := Diff(a, b, DiffOptions{Ignore: []string{"/var/log/*", "etc/machine-id"}})
	if err != nil {
		t.Fatal(err)
	}
	want := []Difference{{"/var/log", Mode, "0755", "0700"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%swant\n%s", lines(got), lines(want))
	}
	got, _ = Diff(a, b, DiffOptions{Ignore: []string{"./var/"}, IgnoreCategories: []string{Content}})
	if len(got) != 0 {
		t.Errorf("got %v, want nothing", got)
	}
	if _, err := Diff(a, b, DiffOptions{Ignore: []string{"/var/["}}); err == nil {
		t.Error("no error for a bad glob")
	}
	if _, err := Diff(a, b, DiffOptions{IgnoreCategories: []string{"colour"}}); err == nil {
		t.Error("no error for an unknown category")
	}
	s := Summarize([]Difference{{Category: Mode}, {Category: Mode}, {Category: OnlyInA}})
	if !reflect.DeepEqual(s, map[string]int{Mode: 2, OnlyInA: 1}) {
		t.Errorf("Summarize: got %v", s)
	}
}

func TestDifferenceString(t *testing.T) {
	d := Difference{Path: "/etc/a b", Category: OnlyInA, A: "file 0644 0:0 1 abc"}
	if got, want := d.String(), `only-in-a /etc/a\040b: file 0644 0:0 1 abc → -`; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// Comparing two tars exercises the whole path, as debstrap diff does.
func TestDiffTars(t *testing.T) {
	a := readPath(t, writeFile(t, "a.tar", makeTar(t,
		dir("./", 0o755), dir("./etc/", 0o755), reg("./etc/hostname", 0o644, "a\n"), symlink("./bin", "usr/bin"),
		reg("./usr/bin/perl", 0o755, "perl"), hardlink("./usr/bin/perl5", "./usr/bin/perl"))))
	b := readPath(t, writeFile(t, "b.tar", makeTar(t,
		dir("/", 0o755), dir("etc", 0o755), reg("etc/hostname", 0o600, "b\n"), reg("bin", 0o755, ""),
		reg("usr/bin/perl5", 0o755, "perl"), reg("usr/bin/perl", 0o755, "perl"))))
	got, err := Diff(a, b, DiffOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var cats []string
	for _, d := range got {
		cats = append(cats, d.Category+" "+d.Path)
	}
	want := "type /bin|mode /etc/hostname|content /etc/hostname|hardlink /usr/bin/perl|hardlink /usr/bin/perl5"
	if strings.Join(cats, "|") != want {
		t.Errorf("got %s\nwant %s", strings.Join(cats, "|"), want)
	}
}
