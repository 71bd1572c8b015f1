package resolve

import (
	"sort"

	"github.com/debstrap/debstrap/apt"
)

// The universe mirrors apt's package cache: one pkg per name and
// architecture ("all" counts as the native architecture, as in apt), each
// with its versions (highest first, identical version strings from several
// indexes merged) and the list of versions providing it. Packages are
// numbered in the order apt's cache generator creates them, because apt
// uses that order to break ties (the order of automatic installation, and
// the last resort when choosing between providers).

type depKind uint8

const (
	kindPreDepends depKind = iota
	kindDepends
	kindConflicts
	kindBreaks
	kindRecommends
	kindSuggests // only followed by the autoremover's mark phase
)

func (k depKind) String() string {
	return [...]string{"pre-depends on", "depends on", "conflicts with", "breaks", "recommends", "suggests"}[k]
}

func (k depKind) negative() bool { return k == kindConflicts || k == kindBreaks }
func (k depKind) critical() bool { return k <= kindBreaks }

type mode uint8

const (
	modeKeep mode = iota
	modeInstall
	modeDelete
)

type pkg struct {
	id        int
	name      string // for ":any" pseudo packages, "name:any"
	base      string // the name without qualifier (apt's group)
	arch      string // a configured architecture, or "any" for pseudo packages
	versions  []*ver // highest first
	provides  []provide
	essential bool
	important bool

	// apt's pkgDepCache state
	cand, inst, cur *ver
	mode            mode
	protected       bool
	auto            bool
	autoKept        bool

	// apt caches, per dependency, whether candidates could satisfy it and
	// refreshes that only when a package's state is updated; a candidate
	// dropped without an update leaves it stale. initCand, candHist and
	// snapT let the resolver see candidates as apt's cache does.
	initCand *ver
	candHist []candEvent
	snapT    int

	// for error messages
	fail *failure
	via  *depRef // the relation that first marked it for installation
}

type ver struct {
	pkg       *pkg
	version   string
	stanza    *apt.Package   // first stanza with this version in index order
	also      []*apt.Package // the same version in further indexes
	multiArch string
	priority  int // apt's numbering: required 1 … extra 5, none 0
	seq       int // creation order

	parsed bool
	deps   []dep
	err    error

	provides []*pkg // the packages this version provides
}

type dep struct {
	kind  depKind
	atoms []depAtom
}

type depAtom struct {
	Atom
	target   *pkg
	implicit bool // multi-arch conflict apt adds itself
}

type provide struct {
	owner    *ver
	version  string // provided version; "" when unversioned
	implicit bool
}

type pkgKey struct{ name, arch string }

// names holds, per package name, the package of each configured
// architecture (by position in universe.archs) and the "name:any" pseudo
// package: one string hash per lookup, which matters when every relation of
// every stanza is looked up to number the packages.
type nameEntry struct {
	first [2]*pkg // the first two architectures, without a slice allocation
	more  []*pkg
	any   *pkg
}

func (e *nameEntry) at(i int) *pkg {
	if i < len(e.first) {
		return e.first[i]
	}
	if i -= len(e.first); i < len(e.more) {
		return e.more[i]
	}
	return nil
}

func (e *nameEntry) set(i int, p *pkg) {
	if i < len(e.first) {
		e.first[i] = p
		return
	}
	i -= len(e.first)
	for len(e.more) <= i {
		e.more = append(e.more, nil)
	}
	e.more[i] = p
}

type universe struct {
	native string
	archs  []string // native first, then foreign, as APT::Architectures
	names  map[string]*nameEntry
	other  map[pkgKey]*pkg // architectures not configured (only referenced)

	pkgSlab   []pkg
	entrySlab []nameEntry
	verSlab   []ver
	list      []*pkg       // by id
	indexes   []*apt.Index // canonical order
	verCount  int
}

func priorityNumber(p string) int {
	switch p {
	case "required":
		return 1
	case "important":
		return 2
	case "standard":
		return 3
	case "optional":
		return 4
	case "extra":
		return 5
	}
	return 0
}

var componentRank = map[string]int{
	"main": 0, "restricted": 1, "universe": 2, "multiverse": 3,
	"contrib": 4, "non-free": 5, "non-free-firmware": 6,
}

func rankComponent(c string) int {
	if r, ok := componentRank[c]; ok {
		return r
	}
	return len(componentRank)
}

// newUniverse builds the cache from all stanzas. Index files are taken in
// sources order (Index.Order, then components as they are customarily
// listed, then native before foreign architectures); stanzas of one index
// keep the order they were given in, which is the file order when they come
// from apt.ParsePackages.
func newUniverse(stanzas []*apt.Package, native string, foreign []string) *universe {
	u := &universe{
		native: native,
		archs:  append([]string{native}, foreign...),
		names:  make(map[string]*nameEntry, len(stanzas)+len(stanzas)/2),
		other:  map[pkgKey]*pkg{},
	}
	archRank := map[string]int{}
	for i, a := range u.archs {
		if _, ok := archRank[a]; !ok {
			archRank[a] = i
		}
	}

	// Group stanzas by index, keeping their relative order.
	byIndex := map[*apt.Index][]*apt.Package{}
	var nilIndex []*apt.Package
	for _, s := range stanzas {
		if s.Index == nil {
			nilIndex = append(nilIndex, s)
			continue
		}
		if _, ok := byIndex[s.Index]; !ok {
			u.indexes = append(u.indexes, s.Index)
		}
		byIndex[s.Index] = append(byIndex[s.Index], s)
	}
	rank := func(a string) int {
		if r, ok := archRank[a]; ok {
			return r
		}
		return len(archRank)
	}
	sort.SliceStable(u.indexes, func(i, j int) bool {
		a, b := u.indexes[i], u.indexes[j]
		if a.Order != b.Order {
			return a.Order < b.Order
		}
		if a.Mirror != b.Mirror {
			return a.Mirror < b.Mirror
		}
		if a.Suite != b.Suite {
			return a.Suite < b.Suite
		}
		if ra, rb := rankComponent(a.Component), rankComponent(b.Component); ra != rb {
			return ra < rb
		}
		if a.Component != b.Component {
			return a.Component < b.Component
		}
		if ra, rb := rank(a.Architecture), rank(b.Architecture); ra != rb {
			return ra < rb
		}
		return a.Architecture < b.Architecture
	})

	add := func(s *apt.Package) {
		a := s.Architecture
		if a == "all" {
			a = native
		} else if _, ok := u.archIndex(a); !ok {
			return // apt ignores stanzas of architectures it is not configured for
		}
		p := u.get(s.Name, a)
		v := u.addVersion(p, s)
		if s.Essential {
			p.essential = true
		}
		if s.Protected {
			p.important = true
		}
		// Relation targets are created as apt's cache generator meets them.
		touch := func(name, q string) {
			switch q {
			case "":
				u.get(name, a)
			case "any":
				u.getAny(name)
			case "native":
				u.get(name, native)
			default:
				u.get(name, q)
			}
		}
		for _, f := range [...]string{s.PreDepends, s.Depends, s.Conflicts, s.Breaks, s.Recommends, s.Suggests, s.Replaces} {
			if f != "" {
				scanNames(f, touch)
			}
		}
		// Provides are registered (and what they name created) after the
		// relations, as apt's generator does; apt keeps the provides of
		// the first stanza of a version.
		if v != nil {
			u.addProvides(v)
		}
	}
	for _, idx := range u.indexes {
		for _, s := range byIndex[idx] {
			add(s)
		}
	}
	for _, s := range nilIndex {
		add(s)
	}

	// Sort versions, highest first.
	for _, p := range u.list {
		if len(p.versions) > 1 {
			sort.SliceStable(p.versions, func(i, j int) bool {
				return CompareVersions(p.versions[i].version, p.versions[j].version) > 0
			})
		}
	}
	for _, p := range u.list {
		if len(p.versions) > 0 {
			p.cand = p.versions[0]
			p.initCand = p.cand
		}
	}
	return u
}

func (u *universe) entry(name string) *nameEntry {
	e := u.names[name]
	if e == nil {
		if len(u.entrySlab) == 0 {
			u.entrySlab = make([]nameEntry, 1024)
		}
		e = &u.entrySlab[0]
		u.entrySlab = u.entrySlab[1:]
		u.names[name] = e
	}
	return e
}

// Packages and name entries are allocated in slabs: there are about as
// many as stanzas, and one allocation each shows in the profile.
func (u *universe) newPkg(name, base, arch string) *pkg {
	if len(u.pkgSlab) == 0 {
		u.pkgSlab = make([]pkg, 1024)
	}
	p := &u.pkgSlab[0]
	u.pkgSlab = u.pkgSlab[1:]
	*p = pkg{id: len(u.list), name: name, base: base, arch: arch}
	u.list = append(u.list, p)
	return p
}

// archIndex is the position of arch in archs; a scan beats a map for the
// one or two architectures there usually are.
func (u *universe) archIndex(arch string) (int, bool) {
	for i, a := range u.archs {
		if a == arch {
			return i, true
		}
	}
	return 0, false
}

func (u *universe) get(name, arch string) *pkg {
	i, ok := u.archIndex(arch)
	if !ok {
		k := pkgKey{name, arch}
		if p := u.other[k]; p != nil {
			return p
		}
		p := u.newPkg(name, name, arch)
		u.other[k] = p
		return p
	}
	e := u.entry(name)
	if p := e.at(i); p != nil {
		return p
	}
	p := u.newPkg(name, name, arch)
	e.set(i, p)
	return p
}

func (u *universe) getAny(name string) *pkg {
	e := u.entry(name)
	if e.any == nil {
		e.any = u.newPkg(name+":any", name+":any", "any") // apt: its own group "name:any"
	}
	return e.any
}

func (u *universe) lookup(name, arch string) *pkg {
	i, ok := u.archIndex(arch)
	if !ok {
		return u.other[pkgKey{name, arch}]
	}
	if e := u.names[name]; e != nil {
		return e.at(i)
	}
	return nil
}

func (u *universe) lookupAny(name string) *pkg {
	if e := u.names[name]; e != nil {
		return e.any
	}
	return nil
}

// addVersion adds the version of stanza s to p, or records s as another
// file of an existing version (then returning nil).
func (u *universe) addVersion(p *pkg, s *apt.Package) *ver {
	for _, v := range p.versions {
		if v.version == s.Version || CompareVersions(v.version, s.Version) == 0 {
			// the same version in another index: one version, several files
			v.also = append(v.also, s)
			return nil
		}
	}
	u.verCount++
	if len(u.verSlab) == 0 {
		u.verSlab = make([]ver, 1024)
	}
	v := &u.verSlab[0]
	u.verSlab = u.verSlab[1:]
	*v = ver{
		pkg:       p,
		version:   s.Version,
		stanza:    s,
		multiArch: s.MultiArch,
		priority:  priorityNumber(s.Priority),
		seq:       u.verCount,
	}
	p.versions = append(p.versions, v)
	return v
}

// addProvides registers what version v provides: its explicit Provides
// (only unversioned or "=" ones count, as in apt), and the implicit
// multi-arch ones: "name:any" for Multi-Arch: allowed, the name in every
// other architecture for Multi-Arch: foreign.
func (u *universe) addProvides(v *ver) {
	s := v.stanza
	a := v.pkg.arch
	foreign := v.multiArch == "foreign"
	if s.Provides != "" {
		groups, err := ParseRelations(s.Provides)
		if err != nil {
			v.err = err
		}
		for _, g := range groups {
			for _, at := range g {
				if at.Op != OpNone && at.Op != OpEQ {
					continue // apt ignores non-equal Provides
				}
				pv := provide{owner: v, version: at.Version}
				switch {
				case at.Arch == "any":
					u.addProvide(u.getAny(at.Name), pv)
				case at.Arch != "":
					u.addProvide(u.get(at.Name, at.Arch), pv)
				case foreign:
					for _, fa := range u.archs {
						u.addProvide(u.get(at.Name, fa), pv)
					}
				default:
					u.addProvide(u.get(at.Name, a), pv)
				}
			}
		}
	}
	switch {
	case v.multiArch == "allowed":
		u.addProvide(u.getAny(v.pkg.name), provide{owner: v, version: v.version, implicit: true})
	case foreign && len(u.archs) > 1:
		for _, fa := range u.archs {
			if fa == a {
				continue
			}
			u.addProvide(u.get(v.pkg.name, fa), provide{owner: v, version: v.version, implicit: true})
		}
	}
}

func (u *universe) addProvide(t *pkg, pv provide) {
	t.provides = append(t.provides, pv)
	for _, x := range pv.owner.provides {
		if x == t {
			return
		}
	}
	pv.owner.provides = append(pv.owner.provides, t)
}

// relations parses the relations of v that the resolver acts on, in apt's
// order (Pre-Depends, Depends, Conflicts, Breaks, Recommends, Suggests), resolving
// each name to its package. Parsing happens once, on first use.
func (u *universe) relations(v *ver) ([]dep, error) {
	if v.parsed {
		return v.deps, v.err
	}
	v.parsed = true
	s := v.stanza
	fields := [...]struct {
		kind depKind
		text string
	}{
		{kindPreDepends, s.PreDepends},
		{kindDepends, s.Depends},
		{kindConflicts, s.Conflicts},
		{kindBreaks, s.Breaks},
		{kindRecommends, s.Recommends},
		{kindSuggests, s.Suggests},
	}
	for _, f := range fields {
		if f.text == "" {
			continue
		}
		groups, err := ParseRelations(f.text)
		if err != nil {
			if v.err == nil {
				v.err = err
			}
			continue
		}
		for _, g := range groups {
			if f.kind.negative() {
				// Negative relations have no or-groups in apt: each
				// alternative is a relation of its own; without an
				// architecture qualifier it applies to the name in every
				// architecture.
				for _, at := range g {
					if at.Arch != "" || len(u.archs) == 1 {
						v.deps = append(v.deps, dep{kind: f.kind, atoms: []depAtom{u.resolveAtom(v, at)}})
						continue
					}
					var ts []*pkg
					for _, a := range u.archs {
						if t := u.lookup(at.Name, a); t != nil {
							ts = append(ts, t)
						}
					}
					sort.Slice(ts, func(i, j int) bool { return ts[i].id < ts[j].id })
					if len(ts) == 0 {
						ts = append(ts, nil)
					}
					for _, t := range ts {
						v.deps = append(v.deps, dep{kind: f.kind, atoms: []depAtom{{Atom: at, target: t}}})
					}
				}
				continue
			}
			d := dep{kind: f.kind, atoms: make([]depAtom, len(g))}
			for i, at := range g {
				d.atoms[i] = u.resolveAtom(v, at)
			}
			v.deps = append(v.deps, d)
		}
	}
	// apt's implicit multi-arch relations between the architectures of one
	// name: Multi-Arch: same versions break other versions, all others
	// conflict.
	if len(u.archs) > 1 && v.pkg.arch != "any" {
		for _, oa := range u.archs {
			if oa == v.pkg.arch {
				continue
			}
			t := u.lookup(v.pkg.name, oa)
			if t == nil || len(t.versions) == 0 {
				continue
			}
			if v.multiArch == "same" {
				v.deps = append(v.deps, dep{kind: kindBreaks, atoms: []depAtom{{
					Atom: Atom{Name: v.pkg.name, Arch: oa, Op: opNE, Version: v.version}, target: t, implicit: true}}})
			} else {
				v.deps = append(v.deps, dep{kind: kindConflicts, atoms: []depAtom{{
					Atom: Atom{Name: v.pkg.name, Arch: oa}, target: t, implicit: true}}})
			}
		}
	}
	return v.deps, v.err
}

// opNE is "!=", which only apt's implicit multi-arch Breaks use.
const opNE Op = 99

func (u *universe) resolveAtom(v *ver, at Atom) depAtom {
	d := depAtom{Atom: at}
	switch at.Arch {
	case "":
		d.target = u.lookup(at.Name, v.pkg.arch)
	case "any":
		d.target = u.lookupAny(at.Name)
	case "native":
		d.target = u.lookup(at.Name, u.native)
	default:
		d.target = u.lookup(at.Name, at.Arch)
	}
	return d
}

// satisfiedBy reports whether version string vs satisfies the atom.
func (d *depAtom) satisfiedBy(vs string) bool {
	if d.Op == opNE {
		return CompareVersions(vs, d.Version) != 0
	}
	return d.Op.Satisfied(vs, d.Version)
}

// satisfiedByProvide: an unversioned Provides never satisfies a versioned
// relation.
func (d *depAtom) satisfiedByProvide(pv provide) bool {
	if d.Op == OpNone {
		return true
	}
	if pv.version == "" {
		return false
	}
	return d.satisfiedBy(pv.version)
}
