package sbom

import (
	"bytes"
	"cmp"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"pault.ag/go/debian/version"

	"github.com/debstrap/debstrap/deb"
)

// entry is a package of the status file with what finding its
// dependencies needs.
type entry struct {
	pkg      Package
	version  version.Version
	provides []relation
	depends  [][]relation // Pre-Depends and Depends: groups of alternatives
}

// relation is one alternative of a relationship field:
// "name[:arch] [(op version)]".
type relation struct {
	name, arch string
	op         string // "<<", "<=", "=", ">=", ">>" or "" (any version)
	version    version.Version
}

// dpkg's package states (deb-status(5)) that leave the package's files
// on the root. not-installed and config-files do not.
var onRoot = map[string]bool{
	"half-installed":   true,
	"unpacked":         true,
	"half-configured":  true,
	"triggers-awaited": true,
	"triggers-pending": true,
	"installed":        true,
}

// parseStatus reads a dpkg status file: the packages on the root, sorted
// by name and architecture. A malformed stanza is an error naming its
// package, or its line when it has no name.
func parseStatus(data []byte) ([]*entry, error) {
	var out []*entry
	seen := map[string]bool{}
	lines := bytes.SplitAfter(data, []byte("\n"))
	start := 0 // index of the stanza's first line
	for i := 0; i <= len(lines); i++ {
		if i < len(lines) && len(bytes.TrimSpace(lines[i])) > 0 {
			continue
		}
		if i > start {
			e, err := parseStanza(bytes.Join(lines[start:i], nil), start+1)
			if err != nil {
				return nil, err
			}
			if e != nil {
				if seen[e.pkg.Key()] {
					return nil, fmt.Errorf("package %s (line %d) is listed twice", e.pkg.Key(), start+1)
				}
				seen[e.pkg.Key()] = true
				out = append(out, e)
			}
		}
		start = i + 1
	}
	slices.SortFunc(out, func(a, b *entry) int {
		return cmp.Or(strings.Compare(a.pkg.Name, b.pkg.Name), strings.Compare(a.pkg.Architecture, b.pkg.Architecture))
	})
	return out, nil
}

// parseStanza reads the stanza starting at line lno; nil for a package
// not on the root.
func parseStanza(b []byte, lno int) (*entry, error) {
	s, err := deb.ParseStanza(b)
	if err != nil {
		return nil, fmt.Errorf("stanza at line %d: %w", lno, err)
	}
	name := strings.TrimSpace(s.Get("Package"))
	if name == "" {
		return nil, fmt.Errorf("stanza at line %d: no Package field", lno)
	}
	fail := func(format string, a ...any) error {
		return fmt.Errorf("package %s (line %d): "+format, append([]any{name, lno}, a...)...)
	}
	status := strings.Fields(s.Get("Status"))
	if len(status) != 3 {
		return nil, fail("bad Status %q: want three words, as in \"install ok installed\"", s.Get("Status"))
	}
	if status[2] == "not-installed" || status[2] == "config-files" {
		return nil, nil
	}
	if !onRoot[status[2]] {
		return nil, fail("unknown package state %q in Status", status[2])
	}
	e := &entry{pkg: Package{
		Name:         name,
		Version:      strings.TrimSpace(s.Get("Version")),
		Architecture: strings.TrimSpace(s.Get("Architecture")),
		Status:       status[2],
		MultiArch:    strings.TrimSpace(s.Get("Multi-Arch")),
		Maintainer:   oneLine(s.Get("Maintainer")),
		Homepage:     strings.TrimSpace(s.Get("Homepage")),
	}}
	p := &e.pkg
	if p.Version == "" {
		return nil, fail("no Version field")
	}
	if e.version, err = version.Parse(p.Version); err != nil {
		return nil, fail("Version %q: %w", p.Version, err)
	}
	if p.Architecture == "" {
		return nil, fail("no Architecture field")
	}
	summary, _, _ := strings.Cut(s.Get("Description"), "\n")
	p.Summary = strings.TrimSpace(summary)
	if src := strings.TrimSpace(s.Get("Source")); src != "" {
		m := sourceRE.FindStringSubmatch(src)
		if m == nil {
			return nil, fail("bad Source field %q", src)
		}
		p.Source, p.SourceVersion = m[1], m[2]
	}
	for _, f := range []string{"Pre-Depends", "Depends"} {
		groups, err := parseRelations(s.Get(f))
		if err != nil {
			return nil, fail("%s: %w", f, err)
		}
		e.depends = append(e.depends, groups...)
	}
	provides, err := parseRelations(s.Get("Provides"))
	if err != nil {
		return nil, fail("Provides: %w", err)
	}
	for _, g := range provides {
		if len(g) != 1 || (g[0].op != "" && g[0].op != "=") {
			return nil, fail("Provides: %q is not a name with at most an exact version", s.Get("Provides"))
		}
		e.provides = append(e.provides, g[0])
	}
	return e, nil
}

var (
	sourceRE   = regexp.MustCompile(`^(\S+)(?:\s*\(\s*(\S+)\s*\))?$`)
	relationRE = regexp.MustCompile(`^([A-Za-z0-9][A-Za-z0-9+.\-]*)(?::([A-Za-z0-9\-]+))?\s*(?:\(\s*(<<|<=|>=|>>|=|<|>)\s*([^\s()]+)\s*\))?$`)
)

// parseRelations reads a relationship field as dpkg writes it to the
// status file: groups separated by ",", alternatives by "|".
func parseRelations(field string) ([][]relation, error) {
	field = strings.TrimSpace(field)
	if field == "" {
		return nil, nil
	}
	var groups [][]relation
	for _, g := range strings.Split(field, ",") {
		var alts []relation
		for _, a := range strings.Split(g, "|") {
			a = oneLine(a)
			m := relationRE.FindStringSubmatch(a)
			if m == nil {
				return nil, fmt.Errorf("bad relation %q", a)
			}
			r := relation{name: strings.ToLower(m[1]), arch: strings.ToLower(m[2]), op: m[3]}
			switch r.op {
			case "<": // obsolete, read as dpkg reads it
				r.op = "<="
			case ">":
				r.op = ">="
			}
			if r.op != "" {
				v, err := version.Parse(m[4])
				if err != nil {
					return nil, fmt.Errorf("relation %q: %w", a, err)
				}
				r.version = v
			}
			alts = append(alts, r)
		}
		groups = append(groups, alts)
	}
	return groups, nil
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// nativeArch is the root's dpkg architecture: the dpkg package's, else
// the one most packages have.
func nativeArch(entries []*entry) string {
	count := map[string]int{}
	for _, e := range entries {
		if e.pkg.Name == "dpkg" && e.pkg.Architecture != "all" {
			return e.pkg.Architecture
		}
		if e.pkg.Architecture != "all" {
			count[e.pkg.Architecture]++
		}
	}
	best := ""
	for a, n := range count {
		if n > count[best] || n == count[best] && a < best {
			best = a
		}
	}
	return best
}

// provider is a package that satisfies a name: its own, or one it
// Provides (with the version it provides, if any).
type provider struct {
	e       *entry
	version *version.Version // nil for an unversioned Provides
}

// dependencies finds, for each entry, the Keys of the entries that
// satisfy an alternative of its Pre-Depends and Depends, sorted: the
// package itself or a package providing the name, of an architecture the
// relation accepts, of a version it accepts (a versioned relation is
// never satisfied by an unversioned Provides, as in dpkg).
func dependencies(entries []*entry, native string) [][]string {
	byName := map[string][]provider{}
	for _, e := range entries {
		byName[e.pkg.Name] = append(byName[e.pkg.Name], provider{e, &e.version})
		for _, r := range e.provides {
			pv := provider{e: e}
			if r.op == "=" {
				pv.version = &r.version
			}
			byName[r.name] = append(byName[r.name], pv)
		}
	}
	out := make([][]string, len(entries))
	for i, e := range entries {
		deps := map[string]bool{}
		for _, g := range e.depends {
			for _, r := range g {
				for _, pv := range byName[r.name] {
					if pv.e != e && archOK(e, pv.e, r.arch, native) && versionOK(pv.version, r) {
						deps[pv.e.pkg.Key()] = true
					}
				}
			}
		}
		for k := range deps {
			out[i] = append(out[i], k)
		}
		slices.Sort(out[i])
	}
	return out
}

// archOK tells whether the package dep may satisfy a relation of the
// package from with architecture qualifier qual, by dpkg's multiarch
// rules: without a qualifier, dep is of from's architecture (an
// Architecture: all package counts as native), or of any with Multi-Arch:
// foreign; ":any" accepts Multi-Arch: allowed too; ":native" and an
// architecture name ask for that architecture.
func archOK(from, dep *entry, qual, native string) bool {
	fa := from.pkg.Architecture
	if fa == "all" {
		fa = native
	}
	da := dep.pkg.Architecture
	if da == "all" {
		da = native
	}
	ma := dep.pkg.MultiArch
	switch qual {
	case "":
		return da == fa || ma == "foreign" || dep.pkg.Architecture == "all"
	case "any":
		return da == fa || ma == "foreign" || ma == "allowed" || dep.pkg.Architecture == "all"
	case "native":
		return da == native || ma == "foreign"
	}
	return da == qual
}

func versionOK(have *version.Version, r relation) bool {
	if r.op == "" {
		return true
	}
	if have == nil {
		return false
	}
	c := version.Compare(*have, r.version)
	switch r.op {
	case "<<":
		return c < 0
	case "<=":
		return c <= 0
	case "=":
		return c == 0
	case ">=":
		return c >= 0
	case ">>":
		return c > 0
	}
	return false
}
