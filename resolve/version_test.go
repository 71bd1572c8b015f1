package resolve

import (
	"os/exec"
	"reflect"
	"strings"
	"testing"

	"pault.ag/go/debian/version"
)

// versionCases: want is sign(a - b), as dpkg --compare-versions has it.
var versionCases = []struct {
	a, b string
	want int
}{
	{"1.0", "1.0", 0},
	{"1.0", "1.0-0", 0},  // missing revision == "0"
	{"1.0-", "1.0", 0},   // empty revision
	{"0:1.0", "1.0", 0},  // epoch 0 is the default
	{"00:1.0", "1.0", 0}, // leading zeros in the epoch
	{"1:0.1", "2.0", 1},  // epoch wins
	{"2:1", "10:1", -1},  // epochs numerically
	{"1.0~rc1", "1.0", -1},
	{"1.0~rc1", "1.0~rc2", -1},
	{"1.0~~", "1.0~", -1},
	{"1.0~", "1.0", -1},
	{"1.0", "1.0+b1", -1},
	{"1.0", "1.0.1", -1},
	{"1.0a", "1.0", 1},   // letters after the end
	{"1.0a", "1.0+", -1}, // letters before non-letters
	{"1.0a", "1.0.", -1},
	{"1.0.", "1.0+", 1},
	{"1.10", "1.9", 1}, // digits numerically
	{"1.010", "1.10", 0},
	{"1.0-1", "1.0-1.1", -1},
	{"1.0-10", "1.0-9", 1},
	{"1.0-1~bpo1", "1.0-1", -1},
	{"2.36-9+deb12u10", "2.36-9+deb12u9", 1},
	{"7.88.1-10+deb12u12", "7.88.1-10+deb12u5", 1},
	{"1:2.38.1-5+deb12u3", "2.38.1-5+deb12u3", 1},
	{"1.2-3-4", "1.2-3-5", -1}, // the revision is after the last '-'
	{"a", "b", -1},
	{"A", "a", -1},
	{"1:1.0-1", "1:1.0-1", 0},
	{"0.9+git20230101", "0.9", 1},
	{"2~beta", "2", -1},
	{"1.0+dfsg-1", "1.0-1", 1},
	{"", "", 0},
	{"0", "", 0},
}

func TestCompareVersions(t *testing.T) {
	for _, c := range versionCases {
		if got := CompareVersions(c.a, c.b); got != c.want {
			t.Errorf("CompareVersions(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
		if got := CompareVersions(c.b, c.a); got != -c.want {
			t.Errorf("CompareVersions(%q, %q) = %d, want %d", c.b, c.a, got, -c.want)
		}
	}
}

// TestCompareVersionsDpkg checks the table itself against dpkg, where
// there is one.
func TestCompareVersionsDpkg(t *testing.T) {
	dpkg, err := exec.LookPath("dpkg")
	if err != nil {
		t.Skip("dpkg not available")
	}
	for _, c := range versionCases {
		if c.a == "" || c.b == "" || strings.HasSuffix(c.a, "-") || strings.HasSuffix(c.b, "-") {
			continue // dpkg rejects these as invalid
		}
		for _, op := range []struct {
			name string
			ok   bool
		}{{"lt", c.want < 0}, {"eq", c.want == 0}, {"gt", c.want > 0}} {
			err := exec.Command(dpkg, "--compare-versions", c.a, op.name, c.b).Run()
			if (err == nil) != op.ok {
				t.Errorf("dpkg --compare-versions %q %s %q: %v, table says %v", c.a, op.name, c.b, err == nil, op.ok)
			}
		}
	}
}

func TestOpSatisfied(t *testing.T) {
	for _, c := range []struct {
		rel  string
		v    string
		want bool
	}{
		{"a (<< 2)", "1.9", true}, {"a (<< 2)", "2", false},
		{"a (<= 2)", "2", true}, {"a (<= 2)", "2.0.1", false},
		{"a (= 2)", "2", true}, {"a (= 2)", "2-0", true}, {"a (= 2)", "2-1", false},
		{"a (>= 2)", "2", true}, {"a (>= 2)", "2~rc", false},
		{"a (>> 2)", "2.0+b1", true}, {"a (>> 2)", "2", false},
		{"a (< 2)", "2", true}, {"a (< 2)", "2.1", false}, // obsolete: <=
		{"a (> 2)", "2", true}, {"a (> 2)", "1", false}, // obsolete: >=
		{"a", "0", true},
	} {
		gs, err := ParseRelations(c.rel)
		if err != nil {
			t.Fatal(err)
		}
		a := gs[0][0]
		if got := a.Op.Satisfied(c.v, a.Version); got != c.want {
			t.Errorf("%s satisfied by %s: %v, want %v", c.rel, c.v, got, c.want)
		}
	}
}

func TestParseRelations(t *testing.T) {
	got, err := ParseRelations("libc6 (>= 2.34), perl:any, debconf (>= 0.5) | debconf-2.0,tool:native ( << 1:2~a ) , x [amd64] <!nocheck>,y:i386")
	if err != nil {
		t.Fatal(err)
	}
	want := []Group{
		{{Name: "libc6", Op: OpGE, Version: "2.34"}},
		{{Name: "perl", Arch: "any"}},
		{{Name: "debconf", Op: OpGE, Version: "0.5"}, {Name: "debconf-2.0"}},
		{{Name: "tool", Arch: "native", Op: OpLT, Version: "1:2~a"}},
		{{Name: "x"}},
		{{Name: "y", Arch: "i386"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %#v\nwant %#v", got, want)
	}
	if gs, err := ParseRelations("  "); err != nil || len(gs) != 0 {
		t.Errorf("blank: %v %v", gs, err)
	}
	for _, bad := range []string{"a (>= 1", "a (!= 1)", "a (>=)", ", a", "a | , b", "a b", "a:", "a [amd64"} {
		if _, err := ParseRelations(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestScanNames(t *testing.T) {
	var got []string
	scanNames("libc6 (>= 2.34), perl:any | awk,x [amd64], y:i386 (= 1)", func(n, a string) { got = append(got, n+"/"+a) })
	want := []string{"libc6/", "perl/any", "awk/", "x/", "y/i386"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v want %v", got, want)
	}
}

// FuzzVersionCompare: CompareVersions agrees with pault.ag's dpkg
// implementation on every pair it accepts, and is antisymmetric.
func FuzzVersionCompare(f *testing.F) {
	for _, c := range versionCases {
		f.Add(c.a, c.b)
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		got := CompareVersions(a, b)
		if back := CompareVersions(b, a); back != -got {
			t.Fatalf("not antisymmetric: %q %q: %d, %d", a, b, got, back)
		}
		va, err1 := version.Parse(a)
		vb, err2 := version.Parse(b)
		if err1 != nil || err2 != nil || !strict(a) || !strict(b) {
			return
		}
		if want := sign(version.Compare(va, vb)); got != want {
			t.Fatalf("CompareVersions(%q, %q) = %d, pault.ag says %d", a, b, got, want)
		}
	})
}

// strict: a version dpkg would accept (pault.ag is more lenient in places
// where the two may legitimately differ, e.g. stray colons).
func strict(v string) bool {
	if v == "" {
		return false
	}
	e, u, r := splitVersion(v)
	if strings.Count(v, ":") > 0 && e == "" {
		return false
	}
	if u == "" || u[0] < '0' || u[0] > '9' {
		return false
	}
	for _, s := range []string{u, r} {
		for i := 0; i < len(s); i++ {
			c := s[i]
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || strings.IndexByte(".+~-:", c) >= 0) {
				return false
			}
		}
	}
	return !strings.Contains(r, ":") && !strings.Contains(r, "-")
}

// FuzzParseRelation: never panics; what parses prints back to the same
// relations.
func FuzzParseRelation(f *testing.F) {
	for _, s := range []string{"a", "a (>= 1), b | c:any", "x (<< 1:2~b) [amd64] <!nocheck>", "p (= 1) | q (< 2) | r (> 3)"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		scanNames(s, func(string, string) {})
		gs, err := ParseRelations(s)
		if err != nil {
			return
		}
		parts := make([]string, len(gs))
		for i, g := range gs {
			parts[i] = g.String()
		}
		again, err := ParseRelations(strings.Join(parts, ", "))
		if err != nil {
			t.Fatalf("%q printed as %q does not parse: %v", s, strings.Join(parts, ", "), err)
		}
		if !reflect.DeepEqual(gs, again) && !(len(gs) == 0 && len(again) == 0) {
			t.Fatalf("%q: %#v printed and parsed is %#v", s, gs, again)
		}
	})
}
