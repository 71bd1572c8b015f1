package distro

import "testing"

func TestLookup(t *testing.T) {
	for _, tc := range []struct {
		suite    string
		distro   Distribution
		codename string
		ok       bool
	}{
		{"bookworm", Debian, "bookworm", true},
		{"bookworm-updates", Debian, "bookworm", true},
		{"trixie-security", Debian, "trixie", true},
		{"unstable", Debian, "sid", true},
		{"stable", Debian, "", true},
		{"noble", Ubuntu, "noble", true},
		{"noble-updates", Ubuntu, "noble", true},
		{"jammy-proposed", Ubuntu, "jammy", true},
		{"nosuch", "", "", false},
	} {
		r, ok := Lookup(tc.suite)
		if ok != tc.ok || r.Distribution != tc.distro || r.Codename != tc.codename {
			t.Errorf("Lookup(%q) = %+v, %v; want %s %s %v", tc.suite, r, ok, tc.distro, tc.codename, tc.ok)
		}
	}
}

func TestAtLeast(t *testing.T) {
	b, _ := Lookup("bookworm")
	if !b.AtLeast("bullseye") || !b.AtLeast("bookworm") || b.AtLeast("trixie") || b.AtLeast("noble") {
		t.Error("AtLeast wrong for bookworm")
	}
	s, _ := Lookup("testing")
	if !s.AtLeast("trixie") {
		t.Error("an alias with no codename counts as newest")
	}
}
