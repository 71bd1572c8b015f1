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
		{"bookworm-proposed-updates", Debian, "bookworm", true},
		{"buster/updates", Debian, "buster", true},
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

func TestPockets(t *testing.T) {
	for _, tc := range []struct {
		suite, updates, security string
		ok                       bool
	}{
		{"bookworm", "bookworm-updates", "bookworm-security", true},
		{"trixie", "trixie-updates", "trixie-security", true},
		{"bullseye", "bullseye-updates", "bullseye-security", true},
		{"buster", "buster-updates", "buster/updates", true},
		{"stable", "stable-updates", "stable-security", true},
		{"oldstable", "oldstable-updates", "oldstable-security", true},
		{"noble", "noble-updates", "noble-security", true},
		{"jammy", "jammy-updates", "jammy-security", true},
		{"sid", "", "", false},
		{"unstable", "", "", false},
		{"experimental", "", "", false},
		{"testing", "", "", false},
		{"bookworm-updates", "", "", false},
		{"bookworm-security", "", "", false},
		{"buster/updates", "", "", false},
		{"nosuch", "", "", false},
	} {
		u, s, ok := Pockets(tc.suite)
		if u != tc.updates || s != tc.security || ok != tc.ok {
			t.Errorf("Pockets(%q) = %q, %q, %v; want %q, %q, %v", tc.suite, u, s, ok, tc.updates, tc.security, tc.ok)
		}
	}
}
