package resolve

import "sort"

// problemResolver reproduces apt's pkgProblemResolver::ResolveInternal,
// which apt-get runs after marking: when marking left packages broken
// (typically a dependency given up for a conflict with something marked
// later), it scores the packages and, from the highest score down, keeps
// back, removes, or installs alternatives until nothing is broken.
//
// Two things cannot be reproduced exactly: apt walks its packages in the
// order of its hash table, here package number order is used; and apt's
// sort of equal scores is unstable, here ties keep package order.
type problemResolver struct {
	c *depCache

	userProtected []bool // pkgProblemResolver::Protected: the requests
	preInstalled  []bool
	upgradable    []bool
	garbage       []bool
	scores        []int
}

// Score weights, apt's defaults (pkgProblemResolver::Scores::*).
var prioScore = [...]int{0, 3, 2, 1, -1, -2} // none, required … extra

func depScore(k depKind) int {
	switch k {
	case kindDepends, kindPreDepends, kindRecommends:
		return 1
	case kindConflicts, kindBreaks:
		return -1
	}
	return 0
}

const (
	scoreEssentials    = 100
	scoreNotObsolete   = 1
	scoreAddProtected  = 10000
	scoreAddEssential  = 5000
	resolverMaxCounter = 20
)

func newProblemResolver(c *depCache, protected []*pkg) *problemResolver {
	n := len(c.u.list)
	r := &problemResolver{
		c:             c,
		userProtected: make([]bool, n),
		preInstalled:  make([]bool, n),
		upgradable:    make([]bool, n),
		garbage:       make([]bool, n),
		scores:        make([]int, n),
	}
	for _, p := range protected {
		r.userProtected[p.id] = true
	}
	return r
}

func (c *depCache) brokenCount() int {
	n := 0
	for _, p := range c.u.list {
		if p.inst != nil && c.instBroken(p) {
			n++
		}
	}
	return n
}

// nowBroken: the installed version's critical relations are not met by
// what is installed.
func (c *depCache) nowBroken(p *pkg) bool {
	if p.cur == nil {
		return false
	}
	ds := c.deps(p.cur)
	for i := range ds {
		d := &ds[i]
		if !d.kind.critical() {
			continue
		}
		ok := false
		for j := range d.atoms {
			r := c.checkDep(p.cur, &d.atoms[j], d.kind, stateNow)
			if r != d.kind.negative() {
				ok = true
				break
			}
		}
		if !ok {
			return true
		}
	}
	return false
}

// okNow is the DepNow bit: for negative relations, "does not hit".
func (c *depCache) okNow(parent *ver, d *depAtom, kind depKind) bool {
	return c.checkDep(parent, d, kind, stateNow) != kind.negative()
}

func (c *depCache) groupOKNow(v *ver, d *dep) bool {
	for i := range d.atoms {
		if c.okNow(v, &d.atoms[i], d.kind) {
			return true
		}
	}
	return false
}

func (c *depCache) groupOKCandidate(v *ver, d *dep) bool {
	for i := range d.atoms {
		if c.okCandidate(v, &d.atoms[i], d.kind) {
			return true
		}
	}
	return false
}

// allTargets is DepIterator::AllTargets: every version (not only
// candidates) of the target matching the atom, then every providing
// version (apt's provides list is newest first).
func allTargets(parent *ver, a *depAtom, kind depKind) []*ver {
	t := a.target
	if t == nil {
		return nil
	}
	var out []*ver
	if !ignorable(parent, a, kind, t) {
		for _, v := range t.versions {
			if a.satisfiedBy(v.version) {
				out = append(out, v)
			}
		}
	}
	for i := len(t.provides) - 1; i >= 0; i-- {
		pv := t.provides[i]
		if ignorableProvide(parent, a, kind, pv) || !a.satisfiedByProvide(pv) {
			continue
		}
		out = append(out, pv.owner)
	}
	return out
}

// smartTarget is DepIterator::SmartTargetPkg: for a purely virtual target,
// its first provider other than the depending package itself.
func smartTarget(parent *ver, a *depAtom) *pkg {
	t := a.target
	if t == nil || len(t.provides) == 0 || len(t.versions) > 0 {
		return t
	}
	for i := len(t.provides) - 1; i >= 0; i-- {
		if o := t.provides[i].owner.pkg; o != parent.pkg {
			return o
		}
	}
	return t
}

func (r *problemResolver) makeScores() {
	c := r.c
	s := r.scores
	for i := range s {
		s[i] = 0
	}
	for _, p := range c.u.list {
		iv := p.inst
		if iv == nil {
			continue
		}
		if p.essential || p.important {
			s[p.id] += scoreEssentials
		}
		if iv.priority >= 0 && iv.priority < len(prioScore) {
			s[p.id] += prioScore[iv.priority]
		} else {
			s[p.id] += prioScore[5]
		}
		if p.cur != nil && p.cand != nil {
			s[p.id] += scoreNotObsolete
		}
		for _, d := range c.deps(iv) {
			w := depScore(d.kind)
			if w == 0 {
				continue
			}
			for ai := range d.atoms {
				a := &d.atoms[ai]
				t := a.target
				if t == nil {
					continue
				}
				if !ignorable(iv, a, d.kind, t) {
					if a.Op != OpNone && (t.inst == nil || !a.satisfiedBy(t.inst.version)) {
						continue
					}
					s[t.id] += w
				}
				seen := map[*pkg]bool{}
				for _, pv := range t.provides {
					pp := pv.owner.pkg
					if ignorableProvide(iv, a, d.kind, pv) || pv.owner != pp.inst || !a.satisfiedByProvide(pv) || seen[pp] {
						continue
					}
					seen[pp] = true
					s[pp.id] += w
				}
			}
		}
	}
	old := append([]int(nil), s...)
	// one level of inheritance from what depends on a package
	for _, q := range c.u.list {
		if q.inst == nil || old[q.id] <= 0 {
			continue
		}
		for _, d := range c.deps(q.inst) {
			if d.kind != kindDepends && d.kind != kindPreDepends && d.kind != kindRecommends {
				continue
			}
			for _, a := range d.atoms {
				if t := a.target; t != nil && t.inst != nil {
					s[t.id] += old[q.id]
				}
			}
		}
	}
	// along provides
	for _, p := range c.u.list {
		transfer := s[p.id] - old[p.id]
		if transfer < 0 {
			transfer = -transfer
		}
		if transfer == 0 {
			continue
		}
		seen := map[*pkg]bool{}
		for _, pv := range p.provides {
			pp := pv.owner.pkg
			if pv.implicit || pv.owner != pp.inst || seen[pp] {
				continue
			}
			seen[pp] = true
			s[pp.id] += transfer
		}
	}
	for _, p := range c.u.list {
		if r.userProtected[p.id] {
			s[p.id] += scoreAddProtected
		}
		if p.essential || p.important {
			s[p.id] += scoreAddEssential
		}
	}
}

func statusUpgradable(p *pkg) bool {
	if p.cand == nil {
		return false
	}
	return p.cur == nil || CompareVersions(p.cand.version, p.cur.version) > 0
}

// doUpgrade is pkgProblemResolver::DoUpgrade: install p's candidate if
// its critical dependencies can be met the same way.
func (r *problemResolver) doUpgrade(p *pkg, depth int) bool {
	c := r.c
	if !r.upgradable[p.id] || !statusUpgradable(p) || r.userProtected[p.id] || depth > c.maxDepth {
		return false
	}
	r.upgradable[p.id] = false
	wasKept := p.mode == modeKeep
	if !c.markInstall(p, false, 0, false) || p.inst == nil {
		return false
	}
	fail := false
	ds := c.deps(p.inst)
	for i := range ds {
		d := &ds[i]
		if !d.kind.critical() {
			continue
		}
		for j := range d.atoms {
			if c.groupOK(p.inst, d) {
				break
			}
			a := &d.atoms[j]
			t := smartTarget(p.inst, a)
			switch {
			case t != nil && t.protected:
				fail = true
			case c.okCandidate(p.inst, a, d.kind):
				if t == nil || !r.doUpgrade(t, depth+1) {
					fail = true
				} else {
					fail = false
				}
			default:
				if d.kind.negative() {
					break
				}
				fail = true
			}
			if !fail && c.okCandidate(p.inst, a, d.kind) {
				break
			}
		}
		if fail {
			break
		}
	}
	if fail {
		if wasKept {
			c.markKeep(p, false, 0)
		} else {
			c.markDelete(p, 0, false)
		}
		return false
	}
	return true
}

type kill struct {
	p   *pkg
	v   *ver // depending version
	dep *dep
}

// resolve is ResolveInternal.
func (r *problemResolver) resolve(brokenFix bool) bool {
	c := r.c
	for again := true; again; {
		again = false
		for _, p := range c.u.list {
			if p.mode == modeInstall {
				r.preInstalled[p.id] = true
			} else {
				if brokenFix && p.inst != nil && c.instBroken(p) {
					c.markInstall(p, false, 0, false)
					if p.mode == modeInstall {
						again = true
					}
				}
				r.preInstalled[p.id] = false
			}
			r.upgradable[p.id] = true
		}
	}
	r.makeScores()
	plist := append([]*pkg(nil), c.u.list...)
	sort.SliceStable(plist, func(i, j int) bool { return r.scores[plist[i].id] > r.scores[plist[j].id] })

	var killList []kill
	change := true
	for counter := 0; counter < resolverMaxCounter && change; counter++ {
		change = false
		for _, I := range plist {
			if I.cand != I.inst && I.cur != nil && I.inst != nil && r.preInstalled[I.id] && !I.protected {
				// apt's "Try to Re-Instate" (only for upgrades of
				// installed packages; its flag update clears them all)
				oldBreaks := c.brokenCount()
				oldVer := I.inst
				r.preInstalled[I.id], r.upgradable[I.id], r.userProtected[I.id] = false, false, false
				c.markInstall(I, false, 0, false)
				if c.instBroken(I) || oldBreaks < c.brokenCount() {
					if oldVer == nil {
						c.markDelete(I, 0, false)
					} else {
						c.markKeep(I, false, 0)
					}
				}
			}
			if I.inst == nil || !c.instBroken(I) {
				continue
			}
			c.tracef(0, "Investigating (%d) %s", counter, I.name)
			killList = killList[:0]
			ds := c.deps(I.inst)
			iv := I.inst
		groups:
			for gi := range ds {
				// like apt, the relations of the version under
				// investigation are walked even if it is given up midway
				d := &ds[gi]
				if !d.kind.critical() {
					continue
				}
				inOr := len(d.atoms) > 1
				oldSize := len(killList)
				orKeep := false
				for ai := range d.atoms {
					if c.groupOK(iv, d) {
						inOr = false
						continue
					}
					start := &d.atoms[ai]
					c.tracef(0, "Broken %s %s %s", I.name, d.kind, start.Atom.String())
					vlist := allTargets(iv, start, d.kind)
					if len(vlist) == 0 && !I.protected && !d.kind.negative() && !c.nowBroken(I) {
						if inOr {
							continue
						}
						change = true
						c.markKeep(I, false, 0)
						break groups
					}
					done := false
					for _, V := range vlist {
						P := V.pkg
						if P.inst != V && d.kind.negative() {
							continue
						}
						c.tracef(0, "  Considering %s %d as a solution to %s %d", P.name, r.scores[P.id], I.name, r.scores[I.id])
						if r.scores[I.id] <= r.scores[P.id] || (!c.okNow(iv, start, d.kind) && !d.kind.negative()) {
							if I.protected {
								if r.doUpgrade(P, 0) {
									if r.scores[P.id] > r.scores[I.id] {
										r.scores[P.id] = r.scores[I.id]
									}
									break
								}
								continue
							}
							installed := I.mode == modeInstall
							c.markKeep(I, false, 0)
							if !c.instBroken(I) {
								orKeep = true
								if inOr && installed {
									c.markInstall(I, false, 0, false)
								}
							} else if !brokenFix || !r.doUpgrade(I, 0) {
								if !inOr || r.garbage[I.id] {
									c.tracef(0, "  Removing %s rather than change %s", I.name, start.Name)
									c.markDelete(I, 0, false)
									if counter > 1 && r.scores[P.id] > r.scores[I.id] {
										r.scores[I.id] = r.scores[P.id]
									}
								} else if t := start.target; t != nil && t.cur == nil && t.mode != modeDelete && t.cand != nil {
									// install the first alternative not
									// installed before instead
									c.tracef(0, "  Try Installing %s before changing %s", t.name, I.name)
									oldBroken := c.brokenCount()
									c.markInstall(t, true, 1, false)
									if c.instBroken(t) || c.brokenCount() > oldBroken {
										c.markDelete(t, 1, false)
									}
								}
							}
							change = true
							done = true
							break
						}
						if d.kind == kindBreaks && c.groupOKCandidate(iv, d) {
							c.markInstall(P, false, 0, false)
							continue
						}
						if P.protected && P.mode != modeDelete {
							continue
						}
						killList = append(killList, kill{p: P, v: iv, dep: d})
						if !d.kind.negative() {
							break
						}
					}
					if len(vlist) == 0 && !d.kind.negative() && !I.protected {
						installed := I.mode == modeInstall
						c.markKeep(I, false, 0)
						if !c.instBroken(I) {
							orKeep = true
							if inOr && installed {
								c.markInstall(I, false, 0, false)
							}
						} else if !inOr {
							c.markDelete(I, 0, false)
						}
						change = true
						done = true
					}
					if inOr {
						continue
					}
					if done {
						break groups
					}
				}
				// end of an or-group: nothing to kill means give I up
				if inOr && oldSize == len(killList) {
					if !orKeep {
						if !I.protected {
							c.tracef(0, "  Or group remove for %s", I.name)
							c.markDelete(I, 0, false)
							change = true
						}
					} else {
						c.markKeep(I, false, 0)
						change = true
					}
				}
			}
			if I.inst != nil {
				for _, k := range killList {
					found := false
					if !c.groupOKNow(k.v, k.dep) {
						if k.dep.kind.negative() && c.markDelete(k.p, 0, false) {
							found = true
						}
					} else if c.markKeep(k.p, false, 0) {
						found = true
					}
					if !found || counter > 1 {
						if r.scores[I.id] > r.scores[k.p.id] {
							r.scores[k.p.id] = r.scores[I.id]
							change = true
						}
					}
					if found {
						change = true
					}
				}
			}
		}
	}
	if c.brokenCount() != 0 {
		return false
	}
	for _, p := range c.u.list {
		if p.mode == modeInstall && p.cur == nil && !r.preInstalled[p.id] {
			p.auto = true
		}
	}
	return true
}
