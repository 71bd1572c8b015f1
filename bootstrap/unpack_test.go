package bootstrap

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/debstrap/debstrap/apt"
	"github.com/debstrap/debstrap/rootfs"
)

func pkg(name, preDepends string) *apt.Package {
	return &apt.Package{Name: name, Version: "1.0", Architecture: "amd64", PreDepends: preDepends}
}

func namesOf(pkgs []*apt.Package) []string {
	var out []string
	for _, p := range pkgs {
		s := p.Name
		if p.Architecture != "amd64" {
			s += ":" + p.Architecture
		}
		out = append(out, s)
	}
	return out
}

// orderWithin runs UnpackOrder, failing the test if it does not return
// promptly (a Pre-Depends cycle must not hang it).
func orderWithin(t *testing.T, pkgs []*apt.Package) []*apt.Package {
	t.Helper()
	done := make(chan []*apt.Package, 1)
	go func() { done <- UnpackOrder(pkgs) }()
	select {
	case out := <-done:
		return out
	case <-time.After(5 * time.Second):
		t.Fatal("UnpackOrder did not return")
		return nil
	}
}

func TestUnpackOrder(t *testing.T) {
	tests := []struct {
		name string
		pkgs []*apt.Package
		want []string
	}{
		{
			name: "empty",
			pkgs: nil,
			want: nil,
		},
		{
			// The Minimal archive's set: base-files first although its
			// Pre-Depends (awk) is virtual; dash after libc6 and
			// debianutils; the rest by name.
			name: "base system",
			pkgs: []*apt.Package{
				pkg("nano", ""), pkg("mawk", ""), pkg("libc6", ""),
				pkg("debianutils", "libc6 (>= 2.34)"),
				pkg("dash", "libc6 (>= 2.34), debianutils (>= 5.6-0.1)"),
				pkg("debconf", ""), pkg("base-files", "awk"),
			},
			want: []string{"base-files", "libc6", "debianutils", "dash", "debconf", "mawk", "nano"},
		},
		{
			name: "base-files first without Pre-Depends",
			pkgs: []*apt.Package{pkg("a", ""), pkg("base-files", ""), pkg("b", "")},
			want: []string{"base-files", "a", "b"},
		},
		{
			name: "Pre-Depends before, transitively",
			pkgs: []*apt.Package{pkg("a", "b"), pkg("b", "c"), pkg("c", "")},
			want: []string{"c", "b", "a"},
		},
		{
			// Versions, arch qualifiers and every alternative count.
			name: "relation syntax",
			pkgs: []*apt.Package{
				pkg("a", "z:any (>= 1:2.0) | y, x:amd64"),
				pkg("x", ""), pkg("y", ""), pkg("z", ""),
			},
			want: []string{"z", "y", "x", "a"},
		},
		{
			name: "no space before the version",
			pkgs: []*apt.Package{pkg("a", "b(>= 1)"), pkg("b", "")},
			want: []string{"b", "a"},
		},
		{
			name: "Pre-Depends on a package outside the set",
			pkgs: []*apt.Package{pkg("b", "nosuch"), pkg("a", "")},
			want: []string{"a", "b"},
		},
		{
			// A cycle is broken where the walk meets it; everything is
			// unpacked exactly once.
			name: "cycle",
			pkgs: []*apt.Package{pkg("b", "a"), pkg("a", "b"), pkg("c", "")},
			want: []string{"b", "a", "c"},
		},
		{
			name: "self Pre-Depends",
			pkgs: []*apt.Package{pkg("a", "a"), pkg("b", "")},
			want: []string{"a", "b"},
		},
		{
			name: "cycle through base-files",
			pkgs: []*apt.Package{pkg("base-files", "mawk"), pkg("mawk", "base-files"), pkg("a", "")},
			want: []string{"mawk", "base-files", "a"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := namesOf(orderWithin(t, tt.pkgs)); !slices.Equal(got, tt.want) {
				t.Errorf("UnpackOrder = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestUnpackOrderDeterministic: the order depends on the set, not on the
// order it is given in, and every package comes out once, after what it
// Pre-Depends on (outside cycles).
func TestUnpackOrderDeterministic(t *testing.T) {
	mk := func() []*apt.Package {
		multi := func(arch string) *apt.Package {
			p := pkg("libc6", "")
			p.Architecture = arch
			p.MultiArch = "same"
			return p
		}
		return []*apt.Package{
			pkg("base-files", "awk"), pkg("mawk", "libc6"), pkg("libc6", ""), multi("i386"),
			pkg("dash", "libc6, debianutils"), pkg("debianutils", "libc6"), pkg("coreutils", ""),
			pkg("p", "q"), pkg("q", "p"), pkg("r", "p | q"), pkg("zlib1g", "libc6:amd64 (>= 2.14)"),
		}
	}
	want := namesOf(UnpackOrder(mk()))
	if len(want) != len(mk()) {
		t.Fatalf("UnpackOrder returned %d packages for %d: %v", len(want), len(mk()), want)
	}
	seen := map[string]bool{}
	for _, n := range want {
		if seen[n] {
			t.Errorf("%s twice in %v", n, want)
		}
		seen[n] = true
	}
	if want[0] != "base-files" {
		t.Errorf("first is %s, want base-files: %v", want[0], want)
	}
	pos := func(n string) int { return slices.Index(want, n) }
	for _, dep := range [][2]string{{"libc6", "mawk"}, {"libc6", "dash"}, {"debianutils", "dash"}, {"libc6", "zlib1g"}, {"libc6:i386", "mawk"}} {
		if pos(dep[0]) > pos(dep[1]) {
			t.Errorf("%s after %s, which Pre-Depends on it: %v", dep[0], dep[1], want)
		}
	}

	rng := rand.New(rand.NewPCG(1, 2))
	for range 50 {
		in := mk()
		rng.Shuffle(len(in), func(i, j int) { in[i], in[j] = in[j], in[i] })
		if got := namesOf(orderWithin(t, in)); !slices.Equal(got, want) {
			t.Fatalf("input %v\ngave %v\nwant %v", namesOf(in), got, want)
		}
	}
}

func TestRelationNames(t *testing.T) {
	for field, want := range map[string][]string{
		"":                          nil,
		"a":                         {"a"},
		"a, b":                      {"a", "b"},
		"a (>= 1) | b:any, c:amd64": {"a", "b", "c"},
		"a(<<2)":                    {"a"},
		" a ,, b ":                  {"a", "b"},
	} {
		if got := relationNames(field); !slices.Equal(got, want) {
			t.Errorf("relationNames(%q) = %q, want %q", field, got, want)
		}
	}
}

func TestConflictPolicy(t *testing.T) {
	mk := func(name, version, replaces string) *apt.Package {
		return &apt.Package{Name: name, Version: version, Architecture: "amd64", Replaces: replaces}
	}
	tests := []struct {
		name     string
		pkgs     []*apt.Package
		old, new string
		want     rootfs.Resolution
		err      string // substring of the error; "" = no error
	}{
		{
			name: "same package, another architecture",
			pkgs: []*apt.Package{mk("libc6", "2.36-9", "")},
			old:  "libc6:amd64", new: "libc6:i386",
			want: rootfs.Replace,
		},
		{
			name: "same package",
			pkgs: []*apt.Package{mk("foo", "1", "")},
			old:  "foo", new: "foo",
			want: rootfs.Replace,
		},
		{
			name: "Replaces without version",
			pkgs: []*apt.Package{mk("old", "1.0", ""), mk("new", "2.0", "other, old")},
			old:  "old", new: "new",
			want: rootfs.Replace,
		},
		{
			name: "Replaces with a version the old one satisfies",
			pkgs: []*apt.Package{mk("old", "1.0-1", ""), mk("new", "2.0", "old (<< 1.1)")},
			old:  "old", new: "new",
			want: rootfs.Replace,
		},
		{
			name: "Replaces with an epoch",
			pkgs: []*apt.Package{mk("old", "1:1.0", ""), mk("new", "2.0", "old (<= 1:1.0)")},
			old:  "old", new: "new",
			want: rootfs.Replace,
		},
		{
			name: "Replaces with a version the old one does not satisfy",
			pkgs: []*apt.Package{mk("old", "1.1", ""), mk("new", "2.0", "old (<< 1.1)")},
			old:  "old", new: "new",
			err: "trying to overwrite '/usr/bin/x', which is also in package old",
		},
		{
			name: "old package Replaces the new one",
			pkgs: []*apt.Package{mk("old", "2.0", "new (<< 3)"), mk("new", "1.0", "")},
			old:  "old", new: "new",
			want: rootfs.KeepExisting,
		},
		{
			name: "arch-qualified names",
			pkgs: []*apt.Package{mk("old", "1.0", ""), mk("new", "2.0", "old")},
			old:  "old:amd64", new: "new:amd64",
			want: rootfs.Replace,
		},
		{
			name: "no Replaces",
			pkgs: []*apt.Package{mk("old", "1.0", ""), mk("new", "2.0", "")},
			old:  "old", new: "new",
			err: "trying to overwrite '/usr/bin/x', which is also in package old",
		},
		{
			name: "Replaces of a third package",
			pkgs: []*apt.Package{mk("old", "1.0", ""), mk("new", "2.0", "third")},
			old:  "old", new: "new",
			err: "trying to overwrite '/usr/bin/x'",
		},
		{
			name: "package outside the set",
			pkgs: []*apt.Package{mk("new", "2.0", "old")},
			old:  "old", new: "new",
			err: "trying to overwrite '/usr/bin/x'",
		},
		{
			name: "unparsable Replaces",
			pkgs: []*apt.Package{mk("old", "1.0", ""), mk("new", "2.0", "old (<< ")},
			old:  "old", new: "new",
			err: "trying to overwrite",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			byName := map[string]*apt.Package{}
			for _, p := range tt.pkgs {
				byName[p.Name] = p
			}
			got, err := conflictPolicy(byName)(rootfs.Conflict{Path: "/usr/bin/x", Old: tt.old, New: tt.new})
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			if got != tt.want {
				t.Errorf("resolution %v, want %v", got, tt.want)
			}
		})
	}
}
