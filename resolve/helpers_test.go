package resolve

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/debstrap/debstrap/apt"
)

// testIndex is one Packages index of a synthetic archive, written in the
// archive's own format (one stanza per paragraph).
type testIndex struct {
	suite     string // default "test"
	codename  string // default = suite
	component string // default "main"
	arch      string // default "amd64"
	order     int
	stanzas   string
}

func (ti testIndex) norm() testIndex {
	if ti.suite == "" {
		ti.suite = "test"
	}
	if ti.codename == "" {
		ti.codename = ti.suite
	}
	if ti.component == "" {
		ti.component = "main"
	}
	if ti.arch == "" {
		ti.arch = "amd64"
	}
	return ti
}

// stanzasOf builds apt.Package values from stanza text directly (not via
// apt.ParsePackages, so these tests do not depend on the index parser).
func stanzasOf(t testing.TB, ti testIndex, idx *apt.Index) []*apt.Package {
	t.Helper()
	var out []*apt.Package
	for _, para := range strings.Split(strings.TrimSpace(ti.stanzas), "\n\n") {
		para = strings.TrimSpace(para)
		if para == "" {
			continue
		}
		p := &apt.Package{Index: idx, Priority: "optional"}
		for _, line := range strings.Split(para, "\n") {
			k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
			if !ok {
				t.Fatalf("bad stanza line %q", line)
			}
			v = strings.TrimSpace(v)
			switch k {
			case "Package":
				p.Name = v
			case "Version":
				p.Version = v
			case "Architecture":
				p.Architecture = v
			case "Multi-Arch":
				p.MultiArch = v
			case "Essential":
				p.Essential = v == "yes"
			case "Protected":
				p.Protected = v == "yes"
			case "Priority":
				p.Priority = v
			case "Depends":
				p.Depends = v
			case "Pre-Depends":
				p.PreDepends = v
			case "Recommends":
				p.Recommends = v
			case "Suggests":
				p.Suggests = v
			case "Conflicts":
				p.Conflicts = v
			case "Breaks":
				p.Breaks = v
			case "Provides":
				p.Provides = v
			case "Replaces":
				p.Replaces = v
			default:
				t.Fatalf("unknown field %q", k)
			}
		}
		if p.Name == "" || p.Version == "" {
			t.Fatalf("stanza without Package or Version: %q", para)
		}
		if p.Architecture == "" {
			p.Architecture = ti.arch
		}
		p.Filename = fmt.Sprintf("pool/%s_%s_%s.deb", p.Name, p.Version, p.Architecture)
		out = append(out, p)
	}
	return out
}

func buildPackages(t testing.TB, indexes []testIndex) []*apt.Package {
	t.Helper()
	var all []*apt.Package
	for _, ti := range indexes {
		ti = ti.norm()
		idx := &apt.Index{Mirror: "file:/nonexistent", Suite: ti.suite, Codename: ti.codename,
			Component: ti.component, Architecture: ti.arch, Order: ti.order}
		all = append(all, stanzasOf(t, ti, idx)...)
	}
	return all
}

// lines renders a package set as the oracle prints it.
func lines(pkgs []*apt.Package) string {
	var out []string
	for _, p := range pkgs {
		out = append(out, p.Name+" "+p.Version+" "+p.Architecture)
	}
	return strings.Join(out, "\n")
}

func normWant(s string) string {
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		if l = strings.Join(strings.Fields(l), " "); l != "" {
			out = append(out, l)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := strings.Fields(out[i]), strings.Fields(out[j])
		if a[0] != b[0] {
			return a[0] < b[0]
		}
		return a[2] < b[2]
	})
	return strings.Join(out, "\n")
}

// writeArchive lays the indexes out as an archive tree for
// e2e/resolve-oracle.sh: DIR/dists/SUITE/{Release,COMP/binary-ARCH/Packages}.
func writeArchive(t testing.TB, dir string, indexes []testIndex) {
	t.Helper()
	type key struct{ suite, codename string }
	suites := map[key]map[string]bool{}
	for _, ti := range indexes {
		ti = ti.norm()
		k := key{ti.suite, ti.codename}
		if suites[k] == nil {
			suites[k] = map[string]bool{}
		}
		suites[k][ti.component] = true
		d := filepath.Join(dir, "dists", ti.suite, ti.component, "binary-"+ti.arch)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		for _, p := range stanzasOf(t, ti, nil) {
			fmt.Fprintf(&b, "Package: %s\nVersion: %s\nArchitecture: %s\n", p.Name, p.Version, p.Architecture)
			opt := func(k, v string) {
				if v != "" {
					fmt.Fprintf(&b, "%s: %s\n", k, v)
				}
			}
			opt("Multi-Arch", p.MultiArch)
			if p.Essential {
				opt("Essential", "yes")
			}
			if p.Protected {
				opt("Protected", "yes")
			}
			opt("Priority", p.Priority)
			opt("Pre-Depends", p.PreDepends)
			opt("Depends", p.Depends)
			opt("Recommends", p.Recommends)
			opt("Suggests", p.Suggests)
			opt("Conflicts", p.Conflicts)
			opt("Breaks", p.Breaks)
			opt("Provides", p.Provides)
			opt("Replaces", p.Replaces)
			fmt.Fprintf(&b, "Filename: %s\nSize: 1\nSHA256: %s\n\n", p.Filename, strings.Repeat("0", 64))
		}
		f := filepath.Join(d, "Packages")
		old, _ := os.ReadFile(f)
		if err := os.WriteFile(f, append(old, b.String()...), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for k, comps := range suites {
		var cs []string
		for c := range comps {
			cs = append(cs, c)
		}
		sort.Strings(cs)
		rel := fmt.Sprintf("Origin: Test\nLabel: Test\nSuite: %s\nCodename: %s\nComponents: %s\n", k.suite, k.codename, strings.Join(cs, " "))
		if err := os.WriteFile(filepath.Join(dir, "dists", k.suite, "Release"), []byte(rel), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// oracleScript finds e2e/resolve-oracle.sh and checks apt is there to run it.
func oracleScript(t testing.TB) string {
	t.Helper()
	if _, err := exec.LookPath("apt-get"); err != nil {
		t.Skip("apt-get not available: cannot compare with apt")
	}
	s, err := filepath.Abs(filepath.Join("..", "e2e", "resolve-oracle.sh"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(s); err != nil {
		t.Skipf("oracle script missing: %v", err)
	}
	return s
}

// runOracle runs apt on the synthetic archive; err is apt's failure.
func runOracle(t testing.TB, script string, indexes []testIndex, variant string, include, foreign []string, recommends bool) (string, error) {
	t.Helper()
	dir := t.TempDir()
	writeArchive(t, dir, indexes)
	var suites []string
	comps := map[string]bool{}
	ordered := append([]testIndex(nil), indexes...)
	sort.SliceStable(ordered, func(i, j int) bool { return ordered[i].order < ordered[j].order })
	for _, ti := range ordered {
		ti = ti.norm()
		comps[ti.component] = true
		if len(suites) == 0 || !contains(suites, ti.suite) {
			suites = append(suites, ti.suite)
		}
	}
	var cs []string
	for c := range comps {
		cs = append(cs, c)
	}
	sort.Slice(cs, func(i, j int) bool { return rankComponent(cs[i]) < rankComponent(cs[j]) })
	if variant == "" {
		variant = "debootstrap"
	}
	args := []string{"-v", variant, "-a", "amd64", "-c", strings.Join(cs, ",")}
	if len(include) > 0 {
		args = append(args, "-i", strings.Join(include, ","))
	}
	if len(foreign) > 0 {
		args = append(args, "-f", strings.Join(foreign, ","))
	}
	if recommends {
		args = append(args, "-r")
	}
	args = append(args, suites[0], dir)
	args = append(args, suites[1:]...)
	cmd := exec.Command(script, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%v: %s", err, stderr.String())
	}
	return strings.TrimSpace(string(out)), nil
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func resolveCase(t testing.TB, indexes []testIndex, variant string, include, foreign []string, recommends bool) (*Result, error) {
	t.Helper()
	return Resolve(context.Background(), Request{
		Packages:     buildPackages(t, indexes),
		Variant:      variant,
		Include:      include,
		Architecture: "amd64",
		Foreign:      foreign,
		Recommends:   recommends,
	})
}
