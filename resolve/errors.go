package resolve

import (
	"fmt"
	"sort"
	"strings"
)

// failure records why marking a package failed, to explain it later.
type failure struct {
	v        *ver
	d        *dep
	conflict *pkg // for negative relations: the package hit
}

func (c *depCache) failed(p *pkg, v *ver, d *dep, conflict *pkg) {
	p.fail = &failure{v: v, d: d, conflict: conflict}
}

// UnresolvableError is returned when apt would refuse the installation.
// Its message names the chain from the requested package to the relation
// that cannot be met, in apt's words.
type UnresolvableError struct {
	Package string   // the requested (or seed) package
	Chain   []string // one entry per step, the last naming the unmet relation
}

func (e *UnresolvableError) Error() string {
	return fmt.Sprintf("cannot install %s: %s", e.Package, strings.Join(e.Chain, "; "))
}

// NotFoundError is returned for an --include that names no package.
type NotFoundError struct {
	Name     string
	Searched []string // SUITE/COMPONENT/ARCH of every index
}

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("package %q not found in any index (searched: %s)", e.Name, strings.Join(e.Searched, " "))
}

func (u *universe) searched() []string {
	seen := map[string]bool{}
	var out []string
	for _, idx := range u.indexes {
		s := idx.Suite + "/" + idx.Component + "/" + idx.Architecture
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// explain builds the chain of reasons why p cannot be installed.
func (c *depCache) explain(p *pkg, seen map[*pkg]bool) []string {
	if seen[p] || len(seen) > 20 {
		return nil
	}
	seen[p] = true
	if len(p.versions) == 0 {
		return []string{fmt.Sprintf("%s is not available", p.name)}
	}
	var v *ver
	var d *dep
	var conflict *pkg
	switch {
	case p.inst != nil && c.instBroken(p):
		v = p.inst
		d, conflict = c.firstBroken(v)
	case p.fail != nil:
		v, d, conflict = p.fail.v, p.fail.d, p.fail.conflict
	case p.cand != nil:
		v = p.cand
		d, conflict = c.firstUnsatisfiable(v)
	default:
		v = p.versions[0]
		d, conflict = c.firstUnsatisfiable(v)
	}
	if d == nil {
		if q, qv, qd := c.conflictingWith(v); q != nil {
			return []string{fmt.Sprintf("%s cannot be installed alongside %s, which %s it", verLabel(v), verLabel(qv), qd.kind)}
		}
		return []string{fmt.Sprintf("%s %s is not installable", p.name, v.version)}
	}
	if d.kind.negative() {
		who := d.atoms[0].Name
		if conflict != nil {
			who = conflict.name
			if conflict.cand != nil {
				who += " " + conflict.cand.version
			} else if conflict.inst != nil {
				who += " " + conflict.inst.version
			}
		}
		return []string{fmt.Sprintf("%s %s %s %s", p.name, v.version, d.kind, who)}
	}
	head := fmt.Sprintf("%s %s %s %s", p.name, v.version, d.kind, depString(d))
	// Why does no alternative work?
	for i := range d.atoms {
		a := &d.atoms[i]
		t := a.target
		var cands []*ver
		if t != nil {
			for _, tv := range t.versions {
				if a.satisfiedBy(tv.version) {
					cands = append(cands, tv)
				}
			}
			for _, pv := range t.provides {
				if a.satisfiedByProvide(pv) {
					cands = append(cands, pv.owner)
				}
			}
		}
		if len(cands) > 0 {
			// Something would satisfy it: follow the first one that failed.
			for _, cv := range cands {
				if cv.pkg == p {
					continue
				}
				if sub := c.explain(cv.pkg, seen); sub != nil {
					return append([]string{head}, sub...)
				}
			}
			continue
		}
		if i < len(d.atoms)-1 {
			continue
		}
		// The last alternative decides the wording, as in apt.
		switch {
		case t == nil || (len(t.versions) == 0 && len(t.provides) == 0):
			return []string{head + ", but it is not installable"}
		case len(t.versions) == 0:
			return []string{head + ", but it is a virtual package and no provider matches"}
		case len(t.versions) == 1:
			return []string{fmt.Sprintf("%s, but %s is the only version available", head, t.versions[0].version)}
		default:
			vs := make([]string, len(t.versions))
			for i, tv := range t.versions {
				vs[i] = tv.version
			}
			return []string{fmt.Sprintf("%s, but only versions %s are available", head, strings.Join(vs, ", "))}
		}
	}
	return []string{head + ", but it is not going to be installed"}
}

func verLabel(v *ver) string { return v.pkg.name + " " + v.version }

// conflictingWith finds a package to be installed whose Conflicts or
// Breaks hit v: the usual reason a satisfiable dependency was given up.
func (c *depCache) conflictingWith(v *ver) (*pkg, *ver, *dep) {
	for _, q := range c.u.list {
		if q.mode != modeInstall || q.inst == nil || q == v.pkg {
			continue
		}
		ds := c.deps(q.inst)
		for i := range ds {
			d := &ds[i]
			if !d.kind.negative() {
				continue
			}
			a := &d.atoms[0]
			if a.target == v.pkg && !ignorable(q.inst, a, d.kind, v.pkg) && a.satisfiedBy(v.version) {
				return q, q.inst, d
			}
			if a.target != nil {
				for _, pv := range a.target.provides {
					if pv.owner == v && !ignorableProvide(q.inst, a, d.kind, pv) && a.satisfiedByProvide(pv) {
						return q, q.inst, d
					}
				}
			}
		}
	}
	return nil, nil, nil
}

func depString(d *dep) string {
	parts := make([]string, len(d.atoms))
	for i, a := range d.atoms {
		parts[i] = a.Atom.String()
	}
	return strings.Join(parts, " | ")
}

func (c *depCache) firstBroken(v *ver) (*dep, *pkg) {
	ds := c.deps(v)
	for i := range ds {
		d := &ds[i]
		if !d.kind.critical() || c.groupOK(v, d) {
			continue
		}
		if d.kind.negative() {
			return d, c.hit(v, d, stateInstall)
		}
		return d, nil
	}
	return nil, nil
}

func (c *depCache) firstUnsatisfiable(v *ver) (*dep, *pkg) {
	ds := c.deps(v)
	for i := range ds {
		d := &ds[i]
		if !d.kind.critical() {
			continue
		}
		ok := false
		for j := range d.atoms {
			if c.okInstall(v, &d.atoms[j], d.kind) || (!d.kind.negative() && c.okCandidate(v, &d.atoms[j], d.kind)) {
				ok = true
			}
		}
		if !ok {
			if d.kind.negative() {
				return d, c.hit(v, d, stateInstall)
			}
			return d, nil
		}
	}
	return nil, nil
}

// hit names the package a negative relation applies to.
func (c *depCache) hit(v *ver, d *dep, k stateKind) *pkg {
	a := &d.atoms[0]
	t := a.target
	if t == nil {
		return nil
	}
	if tv := t.version(k); tv != nil && !ignorable(v, a, d.kind, t) && a.satisfiedBy(tv.version) {
		return t
	}
	for _, pv := range t.provides {
		if !ignorableProvide(v, a, d.kind, pv) && pv.owner.pkg.version(k) == pv.owner && a.satisfiedByProvide(pv) {
			return pv.owner.pkg
		}
	}
	return nil
}

// brokenError reports the first seed (in order) that is not installed or
// broken, or any broken package.
func (c *depCache) brokenError(seeds []*pkg) error {
	for _, p := range seeds {
		// to be installed (or staying installed) and not broken
		if p.inst != nil && !c.instBroken(p) {
			continue
		}
		return &UnresolvableError{Package: p.name, Chain: c.explain(p, map[*pkg]bool{})}
	}
	var broken []*pkg
	for _, p := range c.u.list {
		if p.inst != nil && c.instBroken(p) {
			broken = append(broken, p)
		}
	}
	if len(broken) == 0 {
		return nil
	}
	sort.Slice(broken, func(i, j int) bool { return broken[i].id < broken[j].id })
	b := broken[0]
	// Walk back to the requested package that pulled it in.
	var steps []string
	top := b
	seen := map[*pkg]bool{b: true}
	for top.via != nil && !seen[top.via.v.pkg] {
		v := top.via.v
		steps = append([]string{fmt.Sprintf("%s %s %s %s", v.pkg.name, v.version, top.via.d.kind, depString(top.via.d))}, steps...)
		top = v.pkg
		seen[top] = true
	}
	return &UnresolvableError{Package: top.name, Chain: append(steps, c.explain(b, map[*pkg]bool{})...)}
}
