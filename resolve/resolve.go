// Package resolve decides which packages make up a root file system: the
// set apt would install into an empty system, the way mmdebstrap asks it to
// for each variant.
//
// The reference is apt itself (e2e/resolve-oracle.sh runs it against the
// same indexes), so the resolver does not search for "a" solution: it
// replays what apt 2.6's apt-get install does — pkgDepCache marking
// (depcache.go), the problem resolver when marking leaves breakage
// (problemresolver.go), dropping new installs nothing needs
// (autoremove.go) — in the same order, with the same tie-breaks and even
// the same stale cache bits.
//
// mmdebstrap works in two steps, and so does Resolve: first the
// Essential:yes packages of the main suite (on an empty system), then, with
// those installed, the --include packages and the priority set of the
// variant (plus apt, which mmdebstrap itself leaves out where apt is not
// Priority: required, as on Ubuntu). The result is the union.
//
// Order matters to apt, so it matters here: packages are numbered as apt's
// cache generator numbers them, walking the indexes in sources order and
// the stanzas of one index in the order given (file order, as
// apt.ParsePackages returns them).
//
// Not reproduced: apt walks some loops (dist-upgrade's Essential groups,
// the problem resolver's package list) in hash-table order; package order
// is used instead. Pins other than the default (NotAutomatic releases such
// as backports) are not known from apt.Index and are treated as 500.
package resolve

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"

	"github.com/debstrap/debstrap/apt"
)

// Request describes one resolution.
type Request struct {
	Packages     []*apt.Package // every stanza of every index, any order of indexes
	Variant      string         // extract|custom|essential|apt|required|minbase|buildd|important|debootstrap|-|standard; "" = debootstrap
	Include      []string       // "name", "name=version", "name/suite", "name:arch" (and combinations)
	Architecture string         // native, e.g. amd64
	Foreign      []string       // extra dpkg architectures (Multi-Arch)
	Recommends   bool           // also install Recommends (mmdebstrap: Apt::Install-Recommends)
	// First are packages installed before the Essential set (when the
	// indexes have them), so that an alternative they provide is taken
	// over the first one: usr-is-merged for "usrmerge | usr-is-merged",
	// as debootstrap's merged /usr has it. One that no other package of
	// the result names in a relation is left out (Include still installs
	// it).
	First []string

	// Suite is where Essential:yes and Priority are taken from, matched
	// against Index.Suite and Index.Codename (mmdebstrap's SUITE argument).
	// Empty means the suite of the first source (lowest Index.Order).
	Suite string

	// Logger, when it has Debug enabled, receives apt-style marking traces
	// (like Debug::pkgDepCache::Marker). May be nil.
	Logger *slog.Logger
}

// Result is the package set.
type Result struct {
	Packages []*apt.Package // sorted by name, then architecture

	// Essential is the first-step set (Essential:yes and what it needs),
	// which mmdebstrap unpacks and configures before everything else;
	// sorted like Packages. Empty for extract and custom.
	Essential []*apt.Package
}

// Resolve computes the package set for req.
func Resolve(ctx context.Context, req Request) (*Result, error) {
	res, err := resolveOnce(ctx, req)
	if err != nil || len(req.First) == 0 {
		return res, err
	}
	// A First package nothing else installs through a relation was put
	// in for nothing (trixie on, nothing asks for "usrmerge |
	// usr-is-merged": base-files merges /usr itself) and debootstrap does
	// not install it: resolve without it.
	var keep []string
	for _, n := range req.First {
		if neededBy(res.Packages, n, req.Recommends) {
			keep = append(keep, n)
		}
	}
	if len(keep) == len(req.First) {
		return res, nil
	}
	req.First = keep
	return resolveOnce(ctx, req)
}

// neededBy reports whether a package of pkgs other than name names it
// in a relation that installs: Depends, Pre-Depends, and Recommends when
// they are installed.
func neededBy(pkgs []*apt.Package, name string, recommends bool) bool {
	found := false
	seen := func(n, _ string) { found = found || n == name }
	for _, p := range pkgs {
		if p.Name == name {
			continue
		}
		scanNames(p.Depends, seen)
		scanNames(p.PreDepends, seen)
		if recommends {
			scanNames(p.Recommends, seen)
		}
		if found {
			return true
		}
	}
	return false
}

func resolveOnce(ctx context.Context, req Request) (*Result, error) {
	if req.Architecture == "" {
		return nil, fmt.Errorf("resolve: no native architecture given")
	}
	variant, err := normalizeVariant(req.Variant)
	if err != nil {
		return nil, err
	}
	u := newUniverse(req.Packages, req.Architecture, req.Foreign)
	if len(u.list) == 0 && (variant != "extract" && variant != "custom" || len(req.Include) > 0) {
		return nil, fmt.Errorf("resolve: no packages in the given indexes")
	}
	suite := req.Suite
	if suite == "" && len(u.indexes) > 0 {
		suite = u.indexes[0].Suite
	}
	c := &depCache{u: u, installRecommends: req.Recommends, maxDepth: 3000}
	if req.Logger != nil && req.Logger.Enabled(ctx, slog.LevelDebug) {
		c.trace = func(depth int, format string, args ...any) {
			req.Logger.Debug(strings.Repeat(" ", depth) + fmt.Sprintf(format, args...))
		}
	}
	r := &resolver{u: u, c: c, suite: suite}

	includes := make([]request, 0, len(req.Include))
	for _, s := range req.Include {
		rq, err := r.parseInclude(s)
		if err != nil {
			return nil, err
		}
		includes = append(includes, rq)
	}

	// Step 1: what mmdebstrap downloads and installs first.
	var first []request
	userRequest := true
	switch variant {
	case "extract", "custom":
		first = includes
	case "apt":
		// mmdebstrap: "apt-get dist-upgrade" on an empty system, which
		// installs everything flagged Essential (from any suite) and apt,
		// which apt treats as essential itself.
		first = r.essentialSeeds(false)
		if p := u.lookup("apt", u.native); p != nil && len(p.versions) > 0 {
			p.essential = true
			first = append(first, request{p: p, v: p.cand})
		}
		sortRequests(first)
		userRequest = false
	default:
		first = r.essentialSeeds(true)
	}
	if variant != "extract" && variant != "custom" {
		var pre []request
		for _, n := range req.First {
			pre = append(pre, r.named(n)...)
		}
		first = append(pre, first...)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := r.install(first, userRequest); err != nil {
		return nil, err
	}
	essential := r.installed()

	// Step 2: the rest, on top of the installed first step (a new apt
	// run: candidates are fresh).
	r.commit()
	var second []request
	switch variant {
	case "extract", "custom":
	default:
		second = append(second, includes...)
		switch variant {
		case "buildd":
			second = append(second, r.named("build-essential")...)
			fallthrough
		case "required":
			second = append(second, r.prioritySeeds("required")...)
		case "important":
			second = append(second, r.prioritySeeds("required", "important")...)
		case "standard":
			second = append(second, r.prioritySeeds("required", "important", "standard")...)
		}
		// apt after the pattern: where it is Priority: required (Debian)
		// it keeps its place in the pattern, as with mmdebstrap itself.
		if variant == "buildd" || variant == "required" || variant == "important" || variant == "standard" {
			second = append(second, r.named("apt")...)
		}
	}
	if len(second) > 0 {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := r.install(second, true); err != nil {
			return nil, err
		}
	}

	res := &Result{Packages: stanzas(r.installed())}
	if variant != "extract" && variant != "custom" {
		res.Essential = stanzas(essential)
	}
	return res, nil
}

func normalizeVariant(v string) (string, error) {
	switch v {
	case "", "debootstrap", "-", "important":
		return "important", nil
	case "minbase", "required":
		return "required", nil
	case "extract", "custom", "essential", "apt", "buildd", "standard":
		return v, nil
	}
	return "", fmt.Errorf("resolve: unknown variant %q (want extract, custom, essential, apt, required, minbase, buildd, important, debootstrap, - or standard)", v)
}

type resolver struct {
	u     *universe
	c     *depCache
	suite string
}

// request is one package asked for, at a chosen version.
type request struct {
	p       *pkg
	v       *ver
	release string // "name/suite": switch dependencies to that release where needed
}

func sortRequests(rs []request) {
	sort.SliceStable(rs, func(i, j int) bool { return rs[i].p.id < rs[j].p.id })
}

func (r *resolver) inSuite(s *apt.Package) bool {
	return s.Index != nil && (s.Index.Suite == r.suite || s.Index.Codename == r.suite)
}

// matchesSuite is apt's ?or(?archive(^SUITE$),?codename(^SUITE$)) on a
// version: true if any index carrying it belongs to the suite.
func (r *resolver) matchesSuite(v *ver) bool {
	if r.suite == "" {
		return true // mmdebstrap with an empty SUITE: any suite
	}
	if r.inSuite(v.stanza) {
		return true
	}
	for _, s := range v.also {
		if r.inSuite(s) {
			return true
		}
	}
	return false
}

// essentialSeeds is mmdebstrap's
// ?narrow(?or(?archive(^S$),?codename(^S$)),?architecture(NATIVE),?essential):
// native packages flagged Essential with a version in the main suite, in
// package order, each at its candidate version. With narrow false, any
// suite (apt's dist-upgrade).
func (r *resolver) essentialSeeds(narrow bool) []request {
	var out []request
	for _, p := range r.u.list {
		if p.arch != r.u.native || !p.essential || p.cand == nil {
			continue
		}
		ok := !narrow
		for _, v := range p.versions {
			if ok {
				break
			}
			ok = r.matchesSuite(v)
		}
		if ok {
			out = append(out, request{p: p, v: p.cand})
		}
	}
	return out
}

// prioritySeeds is mmdebstrap's
// ?narrow(SUITE,?architecture(NATIVE),?and(?priority(P)…,?not(?essential))).
func (r *resolver) prioritySeeds(prios ...string) []request {
	want := map[int]bool{}
	for _, p := range prios {
		want[priorityNumber(p)] = true
	}
	var out []request
	for _, p := range r.u.list {
		if p.arch != r.u.native || p.essential || p.cand == nil {
			continue
		}
		for _, v := range p.versions {
			if want[v.priority] && r.matchesSuite(v) {
				out = append(out, request{p: p, v: p.cand})
				break
			}
		}
	}
	return out
}

// named adds a package by name if it exists (build-essential, apt).
func (r *resolver) named(name string) []request {
	p := r.u.lookup(name, r.u.native)
	if p == nil || p.cand == nil {
		return nil
	}
	return []request{{p: p, v: p.cand}}
}

// parseInclude interprets an --include argument as apt-get install does.
func (r *resolver) parseInclude(s string) (request, error) {
	spec := strings.TrimSpace(s)
	name, verStr, release := spec, "", ""
	if i := strings.LastIndexAny(spec, "/="); i >= 0 {
		if spec[i] == '=' {
			verStr = spec[i+1:]
		} else {
			release = spec[i+1:]
		}
		name = spec[:i]
	}
	arch := ""
	if i := strings.LastIndexByte(name, ':'); i >= 0 {
		name, arch = name[:i], name[i+1:]
		if arch == "all" || arch == "native" {
			arch = r.u.native
		}
	}
	if name == "" {
		return request{}, fmt.Errorf("resolve: empty package name in --include %q", s)
	}
	var p *pkg
	if arch != "" {
		p = r.u.lookup(name, arch)
		if p == nil || (len(p.versions) == 0 && len(p.provides) == 0) {
			return request{}, &NotFoundError{Name: name + ":" + arch, Searched: r.u.searched()}
		}
	} else {
		// apt's FindPreferredPkg: the native package, else the first
		// architecture that has versions, else a virtual native one.
		for _, a := range r.u.archs {
			if q := r.u.lookup(name, a); q != nil && len(q.versions) > 0 {
				p = q
				break
			}
		}
		if p == nil {
			p = r.u.lookup(name, r.u.native)
		}
		if p == nil || (len(p.versions) == 0 && len(p.provides) == 0) {
			return request{}, &NotFoundError{Name: name, Searched: r.u.searched()}
		}
	}
	if len(p.versions) == 0 {
		// A virtual package: apt takes its provider when there is one.
		var provs []*ver
		seen := map[*pkg]bool{}
		for _, pv := range p.provides {
			if pv.owner.pkg.cand == pv.owner && !seen[pv.owner.pkg] {
				seen[pv.owner.pkg] = true
				provs = append(provs, pv.owner)
			}
		}
		switch len(provs) {
		case 0:
			return request{}, fmt.Errorf("resolve: package %q has no installation candidate (it is a virtual package nothing installable provides)", spec)
		case 1:
			p = provs[0].pkg
		default:
			names := make([]string, len(provs))
			for i, v := range provs {
				names[i] = v.pkg.name
			}
			sort.Strings(names)
			return request{}, fmt.Errorf("resolve: package %q is a virtual package provided by %s; include one of them", spec, strings.Join(names, ", "))
		}
	}
	rq := request{p: p, v: p.cand}
	switch {
	case verStr != "":
		rq.v = nil
		for _, v := range p.versions {
			if v.version == verStr {
				rq.v = v
				break
			}
		}
		if rq.v == nil {
			vs := make([]string, len(p.versions))
			for i, v := range p.versions {
				vs[i] = v.version
			}
			return request{}, fmt.Errorf("resolve: version %q of package %q not found (available: %s)", verStr, p.name, strings.Join(vs, ", "))
		}
	case release != "":
		rq.v, rq.release = nil, release
		for _, v := range p.versions {
			if v.inRelease(release) {
				rq.v = v
				break
			}
		}
		if rq.v == nil {
			return request{}, fmt.Errorf("resolve: release %q for package %q not found", release, p.name)
		}
	}
	if rq.v == nil {
		return request{}, fmt.Errorf("resolve: package %q has no installation candidate", spec)
	}
	return rq, nil
}

func (v *ver) inRelease(rel string) bool {
	in := func(s *apt.Package) bool {
		return s.Index != nil && (s.Index.Suite == rel || s.Index.Codename == rel)
	}
	if in(v.stanza) {
		return true
	}
	for _, s := range v.also {
		if in(s) {
			return true
		}
	}
	return false
}

// install replays "apt-get install" of the requests: each is pinned to its
// version, protected and marked without dependencies, then every one that
// is broken gets its dependencies installed, in package order.
func (r *resolver) install(reqs []request, fromUser bool) error {
	c := r.c
	var seeds []*pkg
	seen := map[*pkg]bool{}
	for _, rq := range reqs {
		c.setCandidateVersion(rq.p, rq.v)
		if fromUser {
			rq.p.protected = true
			c.markInstall(rq.p, false, 0, true)
		}
		if !seen[rq.p] {
			seen[rq.p] = true
			seeds = append(seeds, rq.p)
		}
	}
	for _, rq := range reqs {
		if rq.release != "" {
			r.switchRelease(rq.v, rq.release, map[*ver]bool{})
		}
	}
	c.tracef(0, "install: %d requests, fromUser=%v", len(reqs), fromUser)
	// apt-get completes the requests in command-line order (a pattern
	// expands in package order, which the requests already have).
	for _, p := range seeds {
		// apt-get install: MarkInstall(P, true) for every request, broken
		// or not; dist-upgrade: MarkInstall(P, true, 0, false).
		c.markInstall(p, true, 0, fromUser)
	}
	// apt-get then runs its problem resolver; it changes nothing unless
	// something is broken.
	if c.brokenCount() > 0 {
		var protected []*pkg
		if fromUser {
			protected = seeds
		}
		c.tracef(0, "problem resolver: %d broken", c.brokenCount())
		pr := newProblemResolver(c, protected)
		// apt swept for garbage when the last marking finished; the
		// resolver consults that.
		for _, g := range c.garbage() {
			pr.garbage[g.id] = true
		}
		pr.resolve(fromUser)
	}
	var err error
	if fromUser {
		err = c.brokenError(seeds)
	} else {
		// dist-upgrade ignores what cannot be installed; only breakage
		// among what is installed is an error.
		err = c.brokenError(nil)
	}
	if err != nil {
		return err
	}
	c.removeNewGarbage()
	if err := c.brokenError(nil); err != nil {
		return fmt.Errorf("removing unneeded packages broke others (apt: \"AutoRemover broke stuff\"): %w", err)
	}
	return nil
}

// switchRelease is apt's SetCandidateRelease for "name/suite": versioned
// dependencies the current candidates cannot meet are switched to the
// version from the same release, recursively.
func (r *resolver) switchRelease(v *ver, rel string, done map[*ver]bool) bool {
	if done[v] {
		return true
	}
	done[v] = true
	for _, d := range r.c.deps(v) {
		if d.kind != kindDepends && d.kind != kindPreDepends {
			continue
		}
		fine := false
		for _, a := range d.atoms {
			t := a.target
			if t == nil || (len(t.versions) == 0 && len(t.provides) == 0) {
				continue
			}
			if t.cur != nil && a.satisfiedBy(t.cur.version) {
				fine = true
				break
			}
			if a.Op == OpNone || (t.cand != nil && a.satisfiedBy(t.cand.version)) {
				fine = true
				break
			}
		}
		if fine {
			continue
		}
		for _, a := range d.atoms {
			t := a.target
			if a.Op == OpNone || t == nil {
				continue
			}
			for _, tv := range t.versions {
				if tv.inRelease(rel) && a.satisfiedBy(tv.version) {
					old := t.cand
					r.c.setCandidateVersion(t, tv)
					if r.switchRelease(tv, rel, done) {
						fine = true
					} else {
						r.c.setCandidateVersion(t, old)
					}
					break
				}
			}
			if fine {
				break
			}
		}
	}
	return true
}

// installed lists what is to be installed now.
func (r *resolver) installed() []*ver {
	var out []*ver
	for _, p := range r.u.list {
		switch {
		case p.mode == modeInstall && p.inst != nil:
			out = append(out, p.inst)
		case p.mode != modeDelete && p.cur != nil:
			out = append(out, p.cur)
		}
	}
	return out
}

// commit makes the marked packages the installed ones, as after dpkg ran,
// and resets the rest of the state for the next apt-get call.
func (r *resolver) commit() {
	for _, p := range r.u.list {
		switch {
		case p.mode == modeInstall && p.inst != nil:
			p.cur = p.inst
		case p.mode == modeDelete:
			p.cur = nil
		}
		p.inst = p.cur
		p.mode = modeKeep
		p.protected = false
		p.autoKept = false
		p.auto = false // no extended_states: what is installed counts as manual
		p.fail = nil
		p.via = nil
		if len(p.versions) > 0 {
			p.cand = p.versions[0]
		} else {
			p.cand = nil
		}
		p.initCand, p.candHist, p.snapT = p.cand, nil, 0
	}
}

func stanzas(vs []*ver) []*apt.Package {
	out := make([]*apt.Package, len(vs))
	for i, v := range vs {
		out[i] = v.stanza
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return out[i].Architecture < out[j].Architecture
	})
	return out
}
