package resolve

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/debstrap/debstrap/apt"
)

// base is a tiny distribution: an Essential set with a dependency, the
// priority classes, apt and build-essential.
const base = `
Package: base-files
Version: 1
Essential: yes
Priority: required
Pre-Depends: libc6

Package: libc6
Version: 2.36
Multi-Arch: same
Priority: optional

Package: sed
Version: 4.9
Essential: yes
Priority: required
Depends: libc6 (>= 2.30)

Package: req-tool
Version: 1
Priority: required
Depends: libreq

Package: libreq
Version: 1
Priority: optional

Package: apt
Version: 2.6
Priority: required
Depends: libc6

Package: imp-tool
Version: 1
Priority: important

Package: std-tool
Version: 1
Priority: standard

Package: opt-tool
Version: 1
Priority: optional

Package: build-essential
Version: 12
Priority: optional
Depends: gcc

Package: gcc
Version: 12
Priority: optional
Depends: libc6
`

type resolveCaseT struct {
	name       string
	indexes    []testIndex
	variant    string
	include    []string
	foreign    []string
	recommends bool
	want       string // oracle-style lines; order irrelevant
	wantErr    string // substring of the error; apt must fail too
	aptDiffers string // why apt is not consulted for this case, if it is not
}

func one(stanzas string) []testIndex { return []testIndex{{stanzas: stanzas}} }

var resolveCases = []resolveCaseT{
	{
		name: "essential variant: Essential:yes and their dependencies", variant: "essential",
		indexes: one(base),
		want:    "base-files 1 amd64\nlibc6 2.36 amd64\nsed 4.9 amd64",
	},
	{
		name: "apt variant: essential plus apt", variant: "apt",
		indexes: one(base),
		want:    "base-files 1 amd64\nlibc6 2.36 amd64\nsed 4.9 amd64\napt 2.6 amd64",
	},
	{
		name: "minbase: essential, Priority required, apt", variant: "minbase",
		indexes: one(base),
		want:    "base-files 1 amd64\nlibc6 2.36 amd64\nsed 4.9 amd64\napt 2.6 amd64\nreq-tool 1 amd64\nlibreq 1 amd64",
	},
	{
		name: "minbase includes apt even where it is Priority important (Ubuntu)", variant: "minbase",
		indexes: one(strings.Replace(base, "Version: 2.6\nPriority: required", "Version: 2.6\nPriority: important", 1)),
		want:    "base-files 1 amd64\nlibc6 2.36 amd64\nsed 4.9 amd64\napt 2.6 amd64\nreq-tool 1 amd64\nlibreq 1 amd64",
		// mmdebstrap itself would leave apt out; the oracle adds it as
		// debootstrap and mmdebstrap's manual do.
	},
	{
		name: "buildd adds build-essential", variant: "buildd",
		indexes: one(base),
		want:    "base-files 1 amd64\nlibc6 2.36 amd64\nsed 4.9 amd64\napt 2.6 amd64\nreq-tool 1 amd64\nlibreq 1 amd64\nbuild-essential 12 amd64\ngcc 12 amd64",
	},
	{
		name: "important (the default) adds Priority important", variant: "",
		indexes: one(base),
		want:    "base-files 1 amd64\nlibc6 2.36 amd64\nsed 4.9 amd64\napt 2.6 amd64\nreq-tool 1 amd64\nlibreq 1 amd64\nimp-tool 1 amd64",
	},
	{
		name: "standard adds Priority standard", variant: "standard",
		indexes: one(base),
		want:    "base-files 1 amd64\nlibc6 2.36 amd64\nsed 4.9 amd64\napt 2.6 amd64\nreq-tool 1 amd64\nlibreq 1 amd64\nimp-tool 1 amd64\nstd-tool 1 amd64",
	},
	{
		name: "extract: only what is included", variant: "extract", include: []string{"sed"},
		indexes: one(base),
		want:    "sed 4.9 amd64\nlibc6 2.36 amd64",
	},
	{
		name: "custom with nothing included is empty", variant: "custom",
		indexes: one(base),
		want:    "",
	},
	{
		name: "priority and Essential only from the main suite, candidates from all", variant: "minbase",
		indexes: []testIndex{
			{stanzas: base},
			{suite: "test-updates", order: 1, stanzas: `
Package: libreq
Version: 2
Priority: optional

Package: upd-required
Version: 1
Priority: required

Package: upd-essential
Version: 1
Essential: yes
Priority: required
`},
		},
		want: "base-files 1 amd64\nlibc6 2.36 amd64\nsed 4.9 amd64\napt 2.6 amd64\nreq-tool 1 amd64\nlibreq 2 amd64",
	},
	{
		name: "highest version across sources wins", variant: "custom", include: []string{"x"},
		indexes: []testIndex{
			{stanzas: "Package: x\nVersion: 1.0-2"},
			{suite: "other", order: 1, stanzas: "Package: x\nVersion: 1:0.9"},
			{suite: "third", order: 2, stanzas: "Package: x\nVersion: 1.0-10"},
		},
		want: "x 1:0.9 amd64",
	},
	{
		name: "alternatives: the first installable one", variant: "custom", include: []string{"x"},
		indexes: one(`
Package: x
Version: 1
Depends: b | c

Package: b
Version: 1
Depends: missing

Package: c
Version: 1
`),
		want: "x 1 amd64\nc 1 amd64",
	},
	{
		name: "alternatives: first one when installable", variant: "custom", include: []string{"x"},
		indexes: one(`
Package: x
Version: 1
Depends: b | c

Package: b
Version: 1

Package: c
Version: 1
`),
		want: "x 1 amd64\nb 1 amd64",
	},
	{
		name: "alternatives: satisfied by something already requested", variant: "custom", include: []string{"x", "c"},
		indexes: one(`
Package: x
Version: 1
Depends: b | c

Package: b
Version: 1

Package: c
Version: 1
`),
		want: "x 1 amd64\nc 1 amd64",
	},
	{
		name: "alternatives: one conflicting with a requested package is skipped", variant: "custom", include: []string{"x", "y"},
		indexes: one(`
Package: x
Version: 1
Depends: b | c

Package: b
Version: 1
Conflicts: y

Package: c
Version: 1

Package: y
Version: 1
`),
		want: "x 1 amd64\ny 1 amd64\nc 1 amd64",
	},
	{
		name: "alternatives: Breaks with a version range", variant: "custom", include: []string{"x", "y"},
		indexes: one(`
Package: x
Version: 1
Depends: b | c

Package: b
Version: 1
Breaks: y (<< 2)

Package: c
Version: 1

Package: y
Version: 1.5
`),
		want: "x 1 amd64\ny 1.5 amd64\nc 1 amd64",
	},
	{
		name: "alternatives: versioned alternative not met falls through", variant: "custom", include: []string{"x"},
		indexes: one(`
Package: x
Version: 1
Depends: b (>= 2) | c

Package: b
Version: 1

Package: c
Version: 1
`),
		want: "x 1 amd64\nc 1 amd64",
	},
	{
		name: "virtual package with one provider", variant: "custom", include: []string{"x"},
		indexes: one(`
Package: x
Version: 1
Depends: mail-transport-agent

Package: postfix
Version: 3
Provides: mail-transport-agent
`),
		want: "x 1 amd64\npostfix 3 amd64",
	},
	{
		name: "virtual package: the provider with the higher Priority", variant: "custom", include: []string{"x"},
		indexes: one(`
Package: x
Version: 1
Depends: awk

Package: gawk
Version: 5
Priority: optional
Provides: awk

Package: mawk
Version: 1.3
Priority: required
Provides: awk

Package: original-awk
Version: 1
Priority: extra
Provides: awk
`),
		want: "x 1 amd64\nmawk 1.3 amd64",
	},
	{
		name: "virtual package: equal providers, the later-numbered one (apt's last resort)", variant: "custom", include: []string{"x"},
		indexes: one(`
Package: x
Version: 1
Depends: v

Package: p1
Version: 1
Provides: v

Package: p2
Version: 1
Provides: v
`),
		want: "x 1 amd64\np2 1 amd64",
	},
	{
		name: "virtual package: Essential provider preferred", variant: "custom", include: []string{"x"},
		indexes: one(`
Package: x
Version: 1
Depends: v

Package: p1
Version: 1
Essential: yes
Provides: v

Package: p2
Version: 1
Priority: required
Provides: v
`),
		want: "x 1 amd64\np1 1 amd64",
	},
	{
		name: "real package preferred over providers of its name", variant: "custom", include: []string{"x"},
		indexes: one(`
Package: x
Version: 1
Depends: v

Package: p1
Version: 1
Priority: required
Provides: v

Package: v
Version: 1
Priority: extra
`),
		want: "x 1 amd64\nv 1 amd64",
	},
	{
		name: "versioned Provides", variant: "custom", include: []string{"x"},
		indexes: one(`
Package: x
Version: 1
Depends: v (>= 2)

Package: p1
Version: 1
Priority: required
Provides: v (= 1)

Package: p2
Version: 1
Provides: v (= 2.1)

Package: p3
Version: 1
Priority: required
Provides: v
`),
		want: "x 1 amd64\np2 1 amd64",
	},
	{
		name: "unversioned Provides does not satisfy a versioned relation", variant: "custom", include: []string{"x"},
		indexes: one(`
Package: x
Version: 1
Depends: v (>= 1)

Package: p1
Version: 1
Provides: v
`),
		wantErr: "cannot install x: x 1 depends on v (>= 1), but it is a virtual package and no provider matches",
	},
	{
		name: "all relation operators", variant: "custom", include: []string{"x"},
		indexes: one(`
Package: x
Version: 1
Depends: a (<< 2), b (<= 1), c (= 1:1.0-1), d (>= 1~rc1), e (>> 1), f (< 2), g (> 1)

Package: a
Version: 2~beta

Package: b
Version: 1

Package: c
Version: 1:1.0-1

Package: d
Version: 1~rc2

Package: e
Version: 1.0+b1

Package: f
Version: 2

Package: g
Version: 1
`),
		want: "x 1 amd64\na 2~beta amd64\nb 1 amd64\nc 1:1.0-1 amd64\nd 1~rc2 amd64\ne 1.0+b1 amd64\nf 2 amd64\ng 1 amd64",
	},
	{
		name: "Pre-Depends are processed before Depends", variant: "custom", include: []string{"x"},
		indexes: one(`
Package: x
Version: 1
Depends: b
Pre-Depends: a | b

Package: a
Version: 1

Package: b
Version: 1
`),
		want: "x 1 amd64\na 1 amd64\nb 1 amd64",
	},
	{
		name: "depth first: a provider pulled in earlier satisfies a later virtual", variant: "custom", include: []string{"x"},
		indexes: one(`
Package: x
Version: 1
Depends: y, v

Package: y
Version: 1
Depends: p1

Package: p1
Version: 1
Provides: v

Package: p2
Version: 1
Priority: required
Provides: v
`),
		want: "x 1 amd64\ny 1 amd64\np1 1 amd64",
	},
	{
		name: ":any is satisfied by Multi-Arch: allowed", variant: "custom", include: []string{"x"},
		indexes: one(`
Package: x
Version: 1
Depends: perl:any (>= 5)

Package: perl
Version: 5.36
Multi-Arch: allowed
`),
		want: "x 1 amd64\nperl 5.36 amd64",
	},
	{
		name: ":any is not satisfied without Multi-Arch: allowed", variant: "custom", include: []string{"x"},
		indexes: one(`
Package: x
Version: 1
Depends: tool:any

Package: tool
Version: 1
`),
		wantErr: "cannot install x: x 1 depends on tool:any",
	},
	{
		name: ":native", variant: "custom", include: []string{"x"},
		indexes: one(`
Package: x
Version: 1
Depends: tool:native

Package: tool
Version: 1
`),
		want: "x 1 amd64\ntool 1 amd64",
	},
	{
		name: "Multi-Arch: foreign from a foreign architecture", variant: "custom", include: []string{"x"}, foreign: []string{"i386"},
		indexes: []testIndex{
			{stanzas: "Package: x\nVersion: 1\nDepends: tool"},
			{arch: "i386", stanzas: "Package: tool\nVersion: 1\nMulti-Arch: foreign"},
		},
		want: "x 1 amd64\ntool 1 i386",
	},
	{
		name: "foreign architecture package and its Multi-Arch: same library", variant: "minbase", include: []string{"libc6:i386", "hello:i386"}, foreign: []string{"i386"},
		indexes: []testIndex{
			{stanzas: base},
			{arch: "i386", stanzas: `
Package: libc6
Version: 2.36
Multi-Arch: same
Priority: optional

Package: hello
Version: 2
Depends: libc6 (>= 2.34)
`},
		},
		want: "base-files 1 amd64\nlibc6 2.36 amd64\nlibc6 2.36 i386\nsed 4.9 amd64\napt 2.6 amd64\nreq-tool 1 amd64\nlibreq 1 amd64\nhello 2 i386",
	},
	{
		name: "Recommends are not installed by default", variant: "custom", include: []string{"x"},
		indexes: one("Package: x\nVersion: 1\nRecommends: r\n\nPackage: r\nVersion: 1"),
		want:    "x 1 amd64",
	},
	{
		name: "Recommends when asked, unsatisfiable ones ignored", variant: "custom", include: []string{"x"}, recommends: true,
		indexes: one("Package: x\nVersion: 1\nRecommends: r, missing\n\nPackage: r\nVersion: 1"),
		want:    "x 1 amd64\nr 1 amd64",
	},
	{
		name: "name=version pins that version", variant: "custom", include: []string{"x=1"},
		indexes: []testIndex{
			{stanzas: "Package: x\nVersion: 1"},
			{suite: "newer", order: 1, stanzas: "Package: x\nVersion: 2"},
		},
		want: "x 1 amd64",
	},
	{
		name: "name/suite takes the version of that suite and switches its dependencies", variant: "custom", include: []string{"x/newer"},
		indexes: []testIndex{
			{stanzas: "Package: x\nVersion: 1\n\nPackage: lib\nVersion: 1\n\nPackage: other\nVersion: 3"},
			{suite: "newer", order: 1, stanzas: "Package: x\nVersion: 2\nDepends: lib (>= 2), other\n\nPackage: lib\nVersion: 2\n\nPackage: other\nVersion: 2"},
		},
		want: "x 2 amd64\nlib 2 amd64\nother 3 amd64",
	},
	{
		name: "name:arch", variant: "custom", include: []string{"tool:i386"}, foreign: []string{"i386"},
		indexes: []testIndex{
			{stanzas: "Package: tool\nVersion: 1"},
			{arch: "i386", stanzas: "Package: tool\nVersion: 1"},
		},
		want: "tool 1 i386",
	},
	{
		name: "including a virtual package with one provider", variant: "custom", include: []string{"v"},
		indexes: one("Package: p\nVersion: 1\nProvides: v"),
		want:    "p 1 amd64",
	},
	{
		name: "versioned dependency not met", variant: "custom", include: []string{"curl"},
		indexes: one(`
Package: curl
Version: 7.88.1-10
Depends: libcurl4 (= 7.88.1-10)

Package: libcurl4
Version: 7.88.1-9
`),
		wantErr: "cannot install curl: curl 7.88.1-10 depends on libcurl4 (= 7.88.1-10), but 7.88.1-9 is the only version available",
	},
	{
		name: "missing dependency deeper down names the chain", variant: "custom", include: []string{"a"},
		indexes: one(`
Package: a
Version: 1
Depends: b

Package: b
Version: 2
Depends: c (>= 3)

Package: c
Version: 1
`),
		wantErr: "cannot install a: a 1 depends on b; b 2 depends on c (>= 3), but 1 is the only version available",
	},
	{
		name: "dependency on a package that does not exist", variant: "custom", include: []string{"a"},
		indexes: one("Package: a\nVersion: 1\nDepends: nowhere"),
		wantErr: "cannot install a: a 1 depends on nowhere, but it is not installable",
	},
	{
		name: "requested packages conflicting", variant: "custom", include: []string{"a", "b"},
		indexes: one("Package: a\nVersion: 1\nConflicts: b\n\nPackage: b\nVersion: 1"),
		wantErr: "cannot install a: a 1 conflicts with b 1",
	},
	{
		name: "self-conflict through Provides is ignored", variant: "custom", include: []string{"a"},
		indexes: one("Package: a\nVersion: 1\nProvides: v\nConflicts: v, a"),
		want:    "a 1 amd64",
	},
}

func TestResolve(t *testing.T) {
	for _, tc := range resolveCases {
		t.Run(tc.name, func(t *testing.T) {
			res, err := resolveCase(t, tc.indexes, tc.variant, tc.include, tc.foreign, tc.recommends)
			if tc.wantErr != "" {
				if err == nil {
					t.Fatalf("want error %q, got %s", tc.wantErr, lines(res.Packages))
				}
				if !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error\n got %q\nwant %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got, want := lines(res.Packages), normWant(tc.want); got != want {
				t.Errorf("got\n%s\nwant\n%s", got, want)
			}
		})
	}
}

// TestResolveAgainstApt runs the same cases through apt itself (via
// e2e/resolve-oracle.sh) when apt is installed: the expectations above
// are apt's answers, not ours.
func TestResolveAgainstApt(t *testing.T) {
	if testing.Short() {
		t.Skip("runs apt-get")
	}
	script := oracleScript(t)
	for _, tc := range resolveCases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.aptDiffers != "" {
				t.Skip(tc.aptDiffers)
			}
			got, err := runOracle(t, script, tc.indexes, tc.variant, tc.include, tc.foreign, tc.recommends)
			if tc.wantErr != "" {
				if err == nil {
					t.Fatalf("apt succeeded where an error is expected:\n%s", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if want := normWant(tc.want); normWant(got) != want {
				t.Errorf("apt says\n%s\ncase expects\n%s", got, want)
			}
		})
	}
}

func TestResultEssentialAndStanzas(t *testing.T) {
	indexes := []testIndex{
		{stanzas: base},
		{suite: "test-updates", order: 1, stanzas: "Package: libc6\nVersion: 2.36\nMulti-Arch: same"},
	}
	res, err := resolveCase(t, indexes, "minbase", nil, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := lines(res.Essential), normWant("base-files 1 amd64\nlibc6 2.36 amd64\nsed 4.9 amd64"); got != want {
		t.Errorf("Essential\n%s\nwant\n%s", got, want)
	}
	for _, p := range res.Packages {
		if p.Name == "libc6" && p.Index.Suite != "test" {
			t.Errorf("equal versions: want the stanza of the first source, got %s", p.Index.Suite)
		}
	}
}

func TestNotFound(t *testing.T) {
	_, err := resolveCase(t, []testIndex{{stanzas: base}, {suite: "test-updates", component: "contrib", order: 1, stanzas: "Package: z\nVersion: 1"}},
		"minbase", []string{"foo"}, nil, false)
	var nf *NotFoundError
	if !errors.As(err, &nf) {
		t.Fatalf("want NotFoundError, got %v", err)
	}
	if want := `package "foo" not found in any index (searched: test/main/amd64 test-updates/contrib/amd64)`; err.Error() != want {
		t.Errorf("got %q\nwant %q", err, want)
	}
}

func TestIncludeErrors(t *testing.T) {
	idx := []testIndex{{stanzas: "Package: x\nVersion: 1\n\nPackage: p1\nVersion: 1\nProvides: v\n\nPackage: p2\nVersion: 1\nProvides: v"}}
	for _, tc := range []struct{ include, want string }{
		{"x=2", `version "2" of package "x" not found (available: 1)`},
		{"x/nowhere", `release "nowhere" for package "x" not found`},
		{"v", `package "v" is a virtual package provided by p1, p2`},
		{"x:armhf", `package "x:armhf" not found in any index`},
	} {
		_, err := resolveCase(t, idx, "custom", []string{tc.include}, nil, false)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("include %q: got %v, want %q", tc.include, err, tc.want)
		}
	}
}

func TestBadRequest(t *testing.T) {
	pkgs := buildPackages(t, one(base))
	if _, err := Resolve(context.Background(), Request{Packages: pkgs, Variant: "huge", Architecture: "amd64"}); err == nil || !strings.Contains(err.Error(), `unknown variant "huge"`) {
		t.Errorf("bad variant: %v", err)
	}
	if _, err := Resolve(context.Background(), Request{Packages: pkgs}); err == nil {
		t.Error("no architecture: no error")
	}
	if _, err := Resolve(context.Background(), Request{Architecture: "amd64", Variant: "minbase"}); err == nil {
		t.Error("no packages: no error")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Resolve(ctx, Request{Packages: pkgs, Architecture: "amd64"}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

// TestDeterministic: the order of indexes in the input does not matter.
func TestDeterministic(t *testing.T) {
	indexes := []testIndex{
		{stanzas: base},
		{suite: "test-updates", order: 1, stanzas: "Package: libreq\nVersion: 2\n\nPackage: p1\nVersion: 1\nProvides: v"},
		{component: "contrib", stanzas: "Package: x\nVersion: 1\nDepends: v\nPriority: required\n\nPackage: p2\nVersion: 1\nProvides: v"},
	}
	pkgs := buildPackages(t, indexes)
	want := ""
	for i := 0; i < 6; i++ {
		// rotate whole indexes
		byIdx := map[*apt.Index][]*apt.Package{}
		var order []*apt.Index
		for _, p := range pkgs {
			if _, ok := byIdx[p.Index]; !ok {
				order = append(order, p.Index)
			}
			byIdx[p.Index] = append(byIdx[p.Index], p)
		}
		var in []*apt.Package
		for j := range order {
			in = append(in, byIdx[order[(j+i)%len(order)]]...)
		}
		res, err := Resolve(context.Background(), Request{Packages: in, Variant: "minbase", Architecture: "amd64", Suite: "test"})
		if err != nil {
			t.Fatal(err)
		}
		got := lines(res.Packages)
		if i == 0 {
			want = got
		} else if got != want {
			t.Fatalf("rotation %d:\n%s\nwant\n%s", i, got, want)
		}
	}
}

// First: a package installed before the Essential set satisfies an
// alternative of it (debootstrap's merged /usr: usr-is-merged rather than
// usrmerge and its Perl).
func TestFirst(t *testing.T) {
	idx := []testIndex{{stanzas: `Package: init-system-helpers
Version: 1.65
Essential: yes
Priority: required
Depends: usrmerge | usr-is-merged

Package: usrmerge
Version: 35
Depends: perl

Package: perl
Version: 5.36

Package: usr-is-merged
Version: 35`}}
	for _, c := range []struct {
		first []string
		want  string
	}{
		{nil, "init-system-helpers 1.65 amd64\nperl 5.36 amd64\nusrmerge 35 amd64"},
		{[]string{"usr-is-merged"}, "init-system-helpers 1.65 amd64\nusr-is-merged 35 amd64"},
		{[]string{"not-in-the-archive"}, "init-system-helpers 1.65 amd64\nperl 5.36 amd64\nusrmerge 35 amd64"},
	} {
		res, err := Resolve(context.Background(), Request{Packages: buildPackages(t, idx), Variant: "minbase", Architecture: "amd64", First: c.first})
		if err != nil {
			t.Fatal(err)
		}
		if got := lines(res.Packages); got != normWant(c.want) {
			t.Errorf("First %v:\n%s\nwant\n%s", c.first, got, normWant(c.want))
		}
	}
	// trixie: nothing depends on usr-is-merged any more, and debootstrap
	// installs none; --include still does.
	idx[0].stanzas = strings.Replace(idx[0].stanzas, "Depends: usrmerge | usr-is-merged\n", "", 1)
	for _, c := range []struct {
		include []string
		want    string
	}{
		{nil, "init-system-helpers 1.65 amd64"},
		{[]string{"usr-is-merged"}, "init-system-helpers 1.65 amd64\nusr-is-merged 35 amd64"},
	} {
		res, err := Resolve(context.Background(), Request{Packages: buildPackages(t, idx), Variant: "minbase", Architecture: "amd64", First: []string{"usr-is-merged"}, Include: c.include})
		if err != nil {
			t.Fatal(err)
		}
		if got := lines(res.Packages); got != normWant(c.want) {
			t.Errorf("First usr-is-merged, Include %v, nothing depending on it:\n%s\nwant\n%s", c.include, got, normWant(c.want))
		}
	}
}
