package resolve

import "strings"

// apt-get install ends with DoAutomaticRemove: packages that would be newly
// installed but that nothing installed manually needs (apt's mark-and-sweep)
// are not installed after all. It only changes the outcome when marking
// took detours, e.g. installed a package's dependencies and then gave the
// package up for a conflict.

// sourceOf is the source package name and version of v, from the Source
// field ("name" or "name (version)") or defaulting to the binary's.
func sourceOf(v *ver) (string, string) {
	src := v.stanza.Source
	if src == "" {
		return v.pkg.base, v.version
	}
	name, rest, ok := strings.Cut(src, " ")
	if !ok {
		return src, v.version
	}
	rest = strings.TrimSpace(rest)
	if strings.HasPrefix(rest, "(") && strings.HasSuffix(rest, ")") {
		return name, strings.TrimSpace(rest[1 : len(rest)-1])
	}
	return name, v.version
}

func boring(p *pkg) bool {
	if p.cur == nil {
		return p.mode == modeKeep
	}
	return p.mode == modeDelete
}

// target version as the autoremover sees it: what is to be installed, else
// what is installed.
func (p *pkg) markVersion() *ver {
	if p.mode == modeInstall {
		return p.inst
	}
	return p.cur
}

type sweeper struct {
	c        *depCache
	marked   map[*pkg]bool
	explored map[*pkg]bool
}

// markPackage is apt's MarkPackage with Recommends and Suggests followed
// (APT::AutoRemove::RecommendsImportant and SuggestsImportant default on).
func (s *sweeper) markPackage(p *pkg, v *ver, depth int) {
	if v == nil || s.marked[p] {
		return
	}
	if boring(p) {
		s.explored[p] = true
		return
	}
	if depth > 3000 {
		return
	}
	s.marked[p] = true
	for _, d := range s.c.deps(v) {
		if d.kind.negative() {
			continue
		}
		for ai := range d.atoms {
			a := &d.atoms[ai]
			t := a.target
			if t == nil || s.explored[t] {
				continue
			}
			unsatisfied := false
			bySource := map[string][]*ver{}
			var sources []string
			add := func(pv *ver) {
				name, _ := sourceOf(pv)
				if _, ok := bySource[name]; !ok {
					sources = append(sources, name)
				}
				bySource[name] = append(bySource[name], pv)
			}
			if !boring(t) {
				if tv := t.markVersion(); tv != nil {
					if a.satisfiedBy(tv.version) {
						add(tv)
					} else {
						unsatisfied = true
					}
				}
			}
			if len(bySource) == 0 && !unsatisfied {
				s.marked[t] = true
			}
			for _, pv := range t.provides {
				pp := pv.owner.pkg
				if boring(pp) || pp.markVersion() != pv.owner {
					continue
				}
				if a.satisfiedByProvide(pv) {
					add(pv.owner)
				} else {
					unsatisfied = true
				}
			}
			if !unsatisfied {
				s.explored[t] = true
			}
			for _, src := range sources {
				provs := bySource[src]
				// only the binaries of the newest source version count
				_, best := sourceOf(provs[0])
				for _, pv := range provs[1:] {
					if _, sv := sourceOf(pv); CompareVersions(sv, best) > 0 {
						best = sv
					}
				}
				for _, pv := range provs {
					if _, sv := sourceOf(pv); sv == best {
						s.markPackage(pv.pkg, pv, depth+1)
					}
				}
			}
		}
	}
}

// garbage is apt's MarkAndSweep: what is (to be) installed but not reached
// from a manually installed, Essential, Protected or installed
// Priority: required package.
func (c *depCache) garbage() []*pkg {
	s := &sweeper{c: c, marked: map[*pkg]bool{}, explored: map[*pkg]bool{}}
	for _, p := range c.u.list {
		if s.marked[p] || boring(p) {
			continue
		}
		if p.auto && !p.essential && !p.important && !(p.cur != nil && p.cur.priority == 1) {
			continue
		}
		s.markPackage(p, p.markVersion(), 0)
	}
	var out []*pkg
	for _, p := range c.u.list {
		if p.cur != nil && p.cur.priority == 1 {
			continue
		}
		if !s.marked[p] && (p.cur != nil || p.mode == modeInstall) {
			out = append(out, p)
		}
	}
	return out
}

// removeNewGarbage is the part of apt-get's DoAutomaticRemove that runs
// without --auto-remove: new installs that are garbage are not installed;
// if that breaks something, those still depended on are put back.
func (c *depCache) removeNewGarbage() {
	var tooMuch []*pkg
	for _, p := range c.garbage() {
		if p.mode == modeInstall && p.cur == nil {
			tooMuch = append(tooMuch, p)
			c.tracef(0, "not installing garbage %s", p.name)
			c.markDelete(p, 0, false)
		}
	}
	if len(tooMuch) == 0 || !c.anyBroken() {
		return
	}
	for changed := true; changed; {
		changed = false
		for i, p := range tooMuch {
			targets := []*pkg{p}
			if p.cand != nil {
				targets = append(targets, c.providedBy(p.cand)...)
			}
			if c.dependedOn(targets) {
				c.tracef(0, "save %s: an installed package depends on it", p.name)
				c.markInstall(p, false, 0, false)
				tooMuch = append(tooMuch[:i], tooMuch[i+1:]...)
				changed = true
				break
			}
		}
	}
}

func (c *depCache) anyBroken() bool {
	for _, p := range c.u.list {
		if p.inst != nil && c.instPolicyBroken(p) {
			return true
		}
	}
	return false
}

// providedBy lists the packages v provides.
func (c *depCache) providedBy(v *ver) []*pkg {
	var out []*pkg
	groups, _ := ParseRelations(v.stanza.Provides)
	for _, g := range groups {
		for _, a := range g {
			var t *pkg
			switch a.Arch {
			case "any":
				t = c.u.lookupAny(a.Name)
			case "":
				t = c.u.lookup(a.Name, v.pkg.arch)
			default:
				t = c.u.lookup(a.Name, a.Arch)
			}
			if t != nil {
				out = append(out, t)
			}
		}
	}
	return out
}

// dependedOn is apt's check whether a removed garbage package must come
// back: an important relation on one of targets from the installed
// version of a package that stays, or from the candidate of a package
// being installed or upgraded.
func (c *depCache) dependedOn(targets []*pkg) bool {
	for _, n := range c.u.list {
		var v *ver
		switch {
		case n.cur != nil && n.mode == modeKeep:
			v = n.cur
		case n.mode == modeInstall && n.cand != nil && n.cand != n.cur:
			v = n.cand
		default:
			continue
		}
		for _, d := range c.deps(v) {
			if d.kind.negative() || !c.important(&d) {
				continue
			}
			for _, a := range d.atoms {
				for _, t := range targets {
					if a.target == t {
						return true
					}
				}
			}
		}
	}
	return false
}
