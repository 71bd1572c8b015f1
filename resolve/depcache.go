package resolve

import (
	"sort"
)

// This file reproduces apt's pkgDepCache marking (MarkInstall and the
// helpers it uses, apt 2.6): the same walk over the same dependencies in
// the same order, the same choice among alternatives and providers
// (CompareProviders), the same protection of user requests and of
// dependencies with a single solution, the same give-up rules. apt's
// result is a consequence of this procedure rather than of a declarative
// rule, so the procedure is what is reproduced. The pkgProblemResolver is
// not: when marking leaves packages broken the resolve fails and says why.

type depCache struct {
	u                    *universe
	clock                int // orders candidate changes and cache updates
	installRecommends    bool
	maxDepth             int
	allowRemoveEssential bool
	trace                func(depth int, format string, args ...any)
}

// which state a relation is checked against
type stateKind uint8

const (
	stateNow stateKind = iota
	stateInstall
	stateCandidate
)

func (p *pkg) version(k stateKind) *ver {
	switch k {
	case stateNow:
		return p.cur
	case stateInstall:
		return p.inst
	}
	return p.cand
}

// ignorable is apt's DepIterator::IsIgnorable for the target package: a
// negative relation never applies to its own package, nor, for
// Multi-Arch: same, to the other architectures of its name unless it is
// apt's own implicit Breaks.
func ignorable(parent *ver, d *depAtom, kind depKind, t *pkg) bool {
	if !kind.negative() {
		return false
	}
	pp := parent.pkg
	if pp.base != t.base {
		return false
	}
	if pp == t {
		return true
	}
	if parent.multiArch == "same" {
		return !d.implicit
	}
	return false
}

// ignorableProvide is IsIgnorable for a provider: conflicts never apply
// to providers of the same name, and implicit ones not to other names.
func ignorableProvide(parent *ver, d *depAtom, kind depKind, pv provide) bool {
	if !kind.negative() {
		return false
	}
	if pv.owner.pkg.base == parent.pkg.base {
		return true
	}
	return d.implicit
}

// checkDep is apt's CheckDep: does the atom match the given state of its
// target or of a provider. For negative relations "true" means the
// conflict applies.
func (c *depCache) checkDep(parent *ver, d *depAtom, kind depKind, k stateKind) bool {
	t := d.target
	if t == nil {
		return false
	}
	if !ignorable(parent, d, kind, t) {
		if v := t.version(k); v != nil && d.satisfiedBy(v.version) {
			return true
		}
	}
	for _, pv := range t.provides {
		if ignorableProvide(parent, d, kind, pv) {
			continue
		}
		if pv.owner.pkg.version(k) != pv.owner {
			continue
		}
		if d.satisfiedByProvide(pv) {
			return true
		}
	}
	return false
}

// okInstall is the DepInstall bit of apt's dependency state: a positive
// atom is satisfied by what is to be installed, a negative one does not
// hit anything that is to be installed.
func (c *depCache) okInstall(parent *ver, d *depAtom, kind depKind) bool {
	r := c.checkDep(parent, d, kind, stateInstall)
	if kind.negative() {
		return !r
	}
	return r
}

// okCandidate is the DepCVer bit as apt has it cached: computed with the
// candidates as they were when the target was last updated.
func (c *depCache) okCandidate(parent *ver, d *depAtom, kind depKind) bool {
	r := c.checkDepCached(parent, d, kind)
	if kind.negative() {
		return !r
	}
	return r
}

func (c *depCache) checkDepCached(parent *ver, d *depAtom, kind depKind) bool {
	t := d.target
	if t == nil {
		return false
	}
	at := t.snapT
	if !ignorable(parent, d, kind, t) {
		if v := t.candAt(at); v != nil && d.satisfiedBy(v.version) {
			return true
		}
	}
	for _, pv := range t.provides {
		if ignorableProvide(parent, d, kind, pv) || pv.owner.pkg.candAt(at) != pv.owner {
			continue
		}
		if d.satisfiedByProvide(pv) {
			return true
		}
	}
	return false
}

// candAt is the candidate of p at time t.
func (p *pkg) candAt(t int) *ver {
	for i := len(p.candHist) - 1; i >= 0; i-- {
		if p.candHist[i].t <= t {
			return p.candHist[i].v
		}
	}
	return p.initCand
}

type candEvent struct {
	t int
	v *ver
}

// setCand changes p's candidate (without apt's Update: callers decide).
func (c *depCache) setCand(p *pkg, v *ver) {
	if p.cand == v {
		return
	}
	c.clock++
	p.candHist = append(p.candHist, candEvent{c.clock, v})
	p.cand = v
}

// update is the cache refresh of apt's pkgDepCache::Update(Pkg): the
// relations on p, and on what its installed and candidate versions
// provide, are recomputed from the present candidates.
func (c *depCache) update(p *pkg) {
	c.clock++
	p.snapT = c.clock
	for _, v := range [...]*ver{p.cur, p.cand} {
		if v == nil {
			continue
		}
		for _, t := range v.provides {
			t.snapT = c.clock
		}
	}
}

func (c *depCache) important(d *dep) bool {
	return d.kind.critical() || (d.kind == kindRecommends && c.installRecommends)
}

func (c *depCache) deps(v *ver) []dep {
	ds, _ := c.u.relations(v)
	return ds
}

func (c *depCache) groupOK(v *ver, d *dep) bool {
	for i := range d.atoms {
		if c.okInstall(v, &d.atoms[i], d.kind) {
			return true
		}
	}
	return false
}

// instBroken: the version to be installed has a critical relation that the
// install state does not satisfy.
func (c *depCache) instBroken(p *pkg) bool {
	if p.inst == nil {
		return false
	}
	ds := c.deps(p.inst)
	for i := range ds {
		if ds[i].kind.critical() && !c.groupOK(p.inst, &ds[i]) {
			return true
		}
	}
	return false
}

func (c *depCache) instPolicyBroken(p *pkg) bool {
	if p.inst == nil {
		return false
	}
	ds := c.deps(p.inst)
	for i := range ds {
		if c.important(&ds[i]) && !c.groupOK(p.inst, &ds[i]) {
			return true
		}
	}
	return false
}

func (c *depCache) isModeChangeOK(m mode, p *pkg, depth int, fromUser bool) bool {
	if depth > c.maxDepth || len(p.versions) == 0 {
		return false
	}
	if fromUser || p.mode == m {
		return true
	}
	if p.protected {
		return false
	}
	if m == modeDelete && (p.essential || p.important) && !c.allowRemoveEssential {
		return false
	}
	return true
}

func (c *depCache) markKeep(p *pkg, fromUser bool, depth int) bool {
	if !c.isModeChangeOK(modeKeep, p, depth, fromUser) {
		return false
	}
	if p.mode == modeKeep {
		return true
	}
	c.tracef(depth, "MarkKeep %s", p.name)
	p.mode = modeKeep
	p.inst = p.cur
	c.update(p)
	return true
}

func (c *depCache) isDeleteOK(p *pkg, fromUser bool) bool {
	// a manual install request is not removed by the solver
	if !fromUser && p.cur == nil && p.inst != nil && !p.auto {
		return false
	}
	return true
}

func (c *depCache) markDelete(p *pkg, depth int, fromUser bool) bool {
	if !c.isModeChangeOK(modeDelete, p, depth, fromUser) {
		return false
	}
	if p.mode == modeDelete || p.inst == nil {
		return true
	}
	if !c.isDeleteOK(p, fromUser) {
		return false
	}
	c.tracef(depth, "MarkDelete %s", p.name)
	p.inst = nil
	if p.cur == nil {
		p.mode = modeKeep
	} else {
		p.mode = modeDelete
	}
	c.update(p)
	return true
}

func (c *depCache) stateChange(p *pkg, fromUser bool) {
	if p.protected && p.inst == p.cand {
		return
	}
	p.autoKept = false
	newInstall := p.cur == nil
	p.mode = modeInstall
	p.inst = p.cand
	if fromUser {
		p.auto = false
	} else if newInstall {
		p.auto = true
	}
	if p.cand == p.cur {
		p.mode = modeKeep
	}
	c.update(p)
}

// discardCandidate: apt sets the candidate without updating its cache.
func (c *depCache) discardCandidate(p *pkg) { c.setCand(p, p.inst) }

func (c *depCache) discardInstall(p *pkg) {
	if p.mode == modeKeep && p.inst == p.cand && p.cand == p.cur {
		return
	}
	p.inst = p.cur
	p.mode = modeKeep
	c.update(p)
	c.discardCandidate(p)
}

// isInstallOK: apt's IsInstallOkMultiArchSameVersionSynced and
// IsInstallOkDependenciesSatisfiableByCandidates.
func (c *depCache) isInstallOK(p *pkg, autoInst bool, depth int, fromUser bool) bool {
	if !fromUser && !(p.mode == modeInstall && p.inst == p.cand) {
		cv := p.cand
		if cv != nil && cv != p.cur && cv.multiArch == "same" {
			for _, oa := range c.u.archs {
				o := c.u.lookup(p.name, oa)
				if o == nil || o == p || o.cur == nil || o.cand == nil || o.cand.version == cv.version || o.cand.multiArch != "same" {
					continue
				}
				p.autoKept = true
				c.tracef(depth, "Ignore MarkInstall of %s as it is not in sync with %s", p.name, o.name+":"+o.arch)
				return false
			}
		}
	}
	if !autoInst {
		return true
	}
	cv := p.cand
	if cv == nil || cv == p.cur {
		return true
	}
	ds := c.deps(cv)
	for i := range ds {
		d := &ds[i]
		if !d.kind.critical() || d.kind.negative() {
			continue
		}
		found := false
		for j := range d.atoms {
			if c.okInstall(cv, &d.atoms[j], d.kind) || c.okCandidate(cv, &d.atoms[j], d.kind) {
				found = true
				break
			}
		}
		if found {
			continue
		}
		c.tracef(depth, "%s %s can't be satisfied", p.name, d.atoms[0].String())
		c.failed(p, cv, d, nil)
		// apt discards the candidate so that nothing tries it again
		if !p.protected {
			if p.cur != nil {
				c.setCandidateVersion(p, p.cur)
			} else {
				c.setCand(p, nil) // no cache update, as in apt
			}
			if p.mode != modeDelete {
				p.mode = modeKeep
			}
		}
		return false
	}
	return true
}

// solutions is apt's getAllPossibleSolutions for the or-group d of parent.
func (c *depCache) solutions(parent *ver, d *dep, sel stateSel, sorted bool) []*ver {
	var upgrade, fresh []*ver
	for i := range d.atoms {
		a := &d.atoms[i]
		list := c.fromDependency(parent, a, d.kind, sel)
		if !sorted {
			upgrade = append(upgrade, list...)
			continue
		}
		if len(list) > 1 {
			t := a.target
			sort.Slice(list, func(i, j int) bool { return c.compareProviders(t, list[i], list[j]) })
		}
		for _, v := range list {
			if v.pkg.cur != nil {
				upgrade = append(upgrade, v)
			} else {
				fresh = append(fresh, v)
			}
		}
	}
	out := append(upgrade, fresh...)
	if !sorted {
		sort.Slice(out, func(i, j int) bool { return out[i].seq < out[j].seq })
	}
	// std::unique: drop adjacent duplicates
	n := 0
	for i, v := range out {
		if i > 0 && out[n-1] == v {
			continue
		}
		out[n] = v
		n++
	}
	out = out[:n]
	if !d.kind.negative() {
		n = 0
		for _, v := range out {
			p := v.pkg
			if p.protected && (p.mode == modeDelete || (p.mode == modeKeep && p.cur == nil)) {
				continue
			}
			out[n] = v
			n++
		}
		out = out[:n]
	}
	return out
}

type stateSel uint8

const (
	selCandidate stateSel = iota
	selInstalled
	selCandAndInst
)

// fromDependency is apt's VersionContainerInterface::FromDependency: the
// target's version and those of providers that match the atom.
func (c *depCache) fromDependency(parent *ver, a *depAtom, kind depKind, sel stateSel) []*ver {
	t := a.target
	if t == nil {
		return nil
	}
	var out []*ver
	collect := func(k stateKind) {
		if v := t.version(k); v != nil && !ignorable(parent, a, kind, t) && a.satisfiedBy(v.version) {
			out = append(out, v)
		}
		for _, pv := range t.provides {
			if ignorableProvide(parent, a, kind, pv) {
				continue
			}
			if pv.owner.pkg.version(k) != pv.owner || !a.satisfiedByProvide(pv) {
				continue
			}
			out = append(out, pv.owner)
		}
	}
	switch sel {
	case selCandidate:
		collect(stateCandidate)
	case selInstalled:
		collect(stateNow)
	case selCandAndInst:
		collect(stateNow)
		collect(stateCandidate)
	}
	return out
}

// compareProviders is apt's CompareProviders: true when a is preferred.
func (c *depCache) compareProviders(target *pkg, av, bv *ver) bool {
	a, b := av.pkg, bv.pkg
	if a.protected != b.protected {
		return a.protected
	}
	if av.multiArch == "same" || bv.multiArch == "same" {
		instA := av.multiArch == "same" && c.siblingInstalled(a)
		instB := bv.multiArch == "same" && c.siblingInstalled(b)
		if instA != instB {
			return instA
		}
	}
	if (a.cur == nil || b.cur == nil) && (a.cur == nil) != (b.cur == nil) {
		return a.cur != nil
	}
	if a.base != b.base {
		if a.base == target.base {
			return true
		}
		if b.base == target.base {
			return false
		}
	}
	if a.essential != b.essential {
		return a.essential
	}
	if a.important != b.important {
		return a.important
	}
	if a.arch != b.arch {
		if a.arch == c.u.native {
			return true
		}
		if b.arch == c.u.native {
			return false
		}
		for _, x := range c.u.archs {
			if x == a.arch {
				return true
			}
			if x == b.arch {
				return false
			}
		}
	}
	if av.priority != bv.priority {
		return av.priority < bv.priority
	}
	return a.id > b.id
}

func (c *depCache) siblingInstalled(p *pkg) bool {
	for _, oa := range c.u.archs {
		if o := c.u.lookup(p.base, oa); o != nil && o.cur != nil {
			return true
		}
	}
	return false
}

type depRef struct {
	v *ver
	d *dep
}

// markInstall is pkgDepCache::MarkInstall.
func (c *depCache) markInstall(p *pkg, autoInst bool, depth int, fromUser bool) bool {
	if p.protected && p.mode == modeKeep && p.cand != nil && p.cand == p.cur {
		// here only to protect the dependencies; no state changes
	} else if !c.isModeChangeOK(modeInstall, p, depth, fromUser) {
		return false
	}
	if p.cand == nil {
		return false
	}
	if !p.protected && !c.instPolicyBroken(p) && !c.instBroken(p) {
		if p.cand == p.cur {
			if p.inst == nil {
				return c.markKeep(p, fromUser, depth+1)
			}
			return true
		} else if p.mode == modeInstall {
			return true
		}
	}
	if !c.isInstallOK(p, autoInst, depth, fromUser) {
		return false
	}
	if fromUser {
		c.stateChange(p, fromUser)
	}
	failEarly := !p.protected && !fromUser
	hasFailed := false
	var toInstall, toRemove []depRef
	var toUpgrade, delayedRemove []*pkg
	if autoInst {
		pv := p.cand
		toInstall, toRemove = c.collectDependencies(pv)
		if !c.removeConflictsIfNotUpgradeable(pv, depth, toRemove, &toUpgrade, &delayedRemove, p.protected, fromUser) {
			if failEarly {
				return false
			}
			hasFailed = true
		}
	}
	if !fromUser {
		c.stateChange(p, fromUser)
	}
	if !autoInst {
		return !hasFailed
	}
	c.tracef(depth, "MarkInstall %s %s FU=%v", p.name, p.cand.version, fromUser)

	// apt's ScopedProtected: the package is protected while its
	// dependencies are processed; whether it was before decides whether
	// protection propagates.
	propagate := p.protected
	if !propagate {
		p.protected = true
		defer func() { p.protected = false }()
	}

	if !c.upgradeOrRemoveConflicts(depth, toUpgrade, propagate, fromUser) {
		if failEarly {
			c.discardInstall(p)
			return false
		}
		hasFailed = true
	}
	if !c.installDependencies(p, depth, toInstall, propagate, fromUser) {
		if failEarly {
			c.discardInstall(p)
			return false
		}
		hasFailed = true
	}
	for _, r := range delayedRemove {
		if !c.markDelete(r, depth, false) {
			if failEarly {
				c.discardInstall(p)
				return false
			}
			hasFailed = true
		}
	}
	return !hasFailed
}

func (c *depCache) collectDependencies(pv *ver) (toInstall, toRemove []depRef) {
	propagate := pv.pkg.protected
	ds := c.deps(pv)
	for i := range ds {
		d := &ds[i]
		if c.groupOK(pv, d) && !propagate {
			continue
		}
		if !c.important(d) {
			continue
		}
		if d.kind.negative() {
			toRemove = append(toRemove, depRef{pv, d})
		} else {
			toInstall = append(toInstall, depRef{pv, d})
		}
	}
	return toInstall, toRemove
}

func (c *depCache) removeConflictsIfNotUpgradeable(pv *ver, depth int, toRemove []depRef, toUpgrade, delayedRemove *[]*pkg, propagate, fromUser bool) bool {
	failed := false
	var badCandidate []*pkg
	for _, r := range toRemove {
		for _, v := range c.solutions(r.v, r.d, selCandidate, true) {
			q := v.pkg
			if q.cand != v {
				continue
			}
			if q.cur != v {
				if q.mode == modeInstall && !c.markKeep(q, false, depth) {
					c.failed(pv.pkg, pv, r.d, q)
					failed = true
					if !propagate && !fromUser {
						break
					}
				} else if propagate {
					c.discardCandidate(q)
					if q.cur == nil {
						q.protected = true
					}
				} else {
					badCandidate = append(badCandidate, q)
				}
			} else if !c.markDeleteForNotUpgradeable(pv, depth, q, propagate, delayedRemove) {
				c.failed(pv.pkg, pv, r.d, q)
				failed = true
				if !propagate && !fromUser {
					break
				}
			}
		}
		if failed && !propagate && !fromUser {
			break
		}
		for _, v := range c.solutions(r.v, r.d, selInstalled, true) {
			q := v.pkg
			bad := false
			for _, b := range badCandidate {
				if b == q {
					bad = true
				}
			}
			switch {
			case q.cand != v && q.cand != nil && !bad:
				*toUpgrade = append(*toUpgrade, q)
			case q.cand == q.cur:
			default:
				if !c.markDeleteForNotUpgradeable(pv, depth, q, propagate, delayedRemove) {
					c.failed(pv.pkg, pv, r.d, q)
					failed = true
				}
			}
			if failed && !propagate && !fromUser {
				break
			}
		}
		if failed && !propagate && !fromUser {
			break
		}
	}
	return !failed
}

func (c *depCache) markDeleteForNotUpgradeable(pv *ver, depth int, q *pkg, propagate bool, delayedRemove *[]*pkg) bool {
	if !propagate {
		if q.mode == modeDelete {
			return true
		}
		if !c.isModeChangeOK(modeDelete, q, depth, false) || !c.isDeleteOK(q, false) {
			return false
		}
		*delayedRemove = append(*delayedRemove, q)
		return true
	}
	if q.mode != modeDelete && !c.markDelete(q, depth+1, false) {
		return false
	}
	c.discardCandidate(q)
	q.protected = true
	return true
}

func (c *depCache) upgradeOrRemoveConflicts(depth int, toUpgrade []*pkg, propagate, fromUser bool) bool {
	failed := false
	for _, q := range toUpgrade {
		if q.mode != modeInstall && !c.markInstall(q, true, depth+1, false) {
			if !c.markDelete(q, depth+1, false) {
				failed = true
				if !propagate && !fromUser {
					break
				}
			} else if propagate {
				q.protected = true
			}
		}
	}
	return !failed
}

func (c *depCache) installDependencies(p *pkg, depth int, toInstall []depRef, propagate, fromUser bool) bool {
	failed := false
	for _, r := range toInstall {
		d := r.d
		found := c.groupOK(r.v, d)
		if found && !propagate {
			continue
		}
		critical := d.kind.critical()
		if found {
			// try propagating protection to this satisfied dependency
			if !critical {
				continue
			}
			sols := c.solutions(r.v, d, selCandAndInst, false)
			if len(sols) != 1 {
				continue
			}
			q := sols[0].pkg
			if q.protected {
				continue
			}
			q.protected = true
			if !c.markInstall(q, true, depth+1, false) {
				failed = true
			}
			continue
		}
		if p.cur != nil && !critical && !c.recommendsWorthFollowing(p, d) {
			continue
		}
		sols := c.solutions(r.v, d, selCandidate, true)
		for _, v := range sols {
			q := v.pkg
			if q.cand != v {
				continue
			}
			c.tracef(depth, "Installing %s as %s of %s", q.name, d.kind, p.name)
			if q.mode != modeInstall && q.via == nil {
				q.via = &depRef{r.v, d}
			}
			if propagate && critical && len(sols) == 1 {
				if !c.markInstall(q, false, depth+1, false) {
					continue
				}
				q.protected = true
			}
			if !c.markInstall(q, true, depth+1, false) {
				continue
			}
			found = true
			break
		}
		if !found && critical {
			c.failed(p, r.v, d, nil)
			failed = true
			if !propagate && !fromUser {
				break
			}
		}
	}
	return !failed
}

// recommendsWorthFollowing: for an upgrade apt follows a non-critical
// relation only if it is new or was satisfied before (bug #470115).
func (c *depCache) recommendsWorthFollowing(p *pkg, d *dep) bool {
	target := d.atoms[0].target
	isNew := true
	ds := c.deps(p.cur)
	for i := range ds {
		od := &ds[i]
		if od.kind.critical() || !c.important(od) || od.atoms[0].target != target {
			continue
		}
		isNew = false
		for j := range od.atoms {
			if c.checkDep(p.cur, &od.atoms[j], od.kind, stateNow) {
				return true
			}
		}
	}
	return isNew
}

func (c *depCache) tracef(depth int, format string, args ...any) {
	if c.trace != nil {
		c.trace(depth, format, args...)
	}
}

// setCandidateVersion is apt's SetCandidateVersion (with the update).
func (c *depCache) setCandidateVersion(p *pkg, v *ver) {
	if p.cand == v {
		return
	}
	if p.cand == p.inst && p.mode == modeInstall {
		p.inst = v
	}
	c.setCand(p, v)
	c.update(p)
}
