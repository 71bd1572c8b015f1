package native

import (
	"hash/fnv"
	"sort"
	"strings"

	"github.com/debstrap/debstrap/dpkg"
)

// dpkg's configure order. What scripts allocate in sequence (system uids
// and gids, above all) depends on the order packages are configured in,
// so native configures in the order dpkg does: for `dpkg --configure
// PKG…` the order given, for `dpkg --configure -a` the order of dpkg's
// package hash table; then its queue, which sends a package whose
// dependencies are still to be configured to the back and, when a round
// made no progress, breaks a dependency cycle (dpkg 1.21/1.22,
// src/main/packages.c process_queue, depcon.c findbreakcycle).

// dpkgHashBins is the size of dpkg's package hash table (lib/dpkg/pkg-hash.c).
const dpkgHashBins = 65521

// dpkgFieldOrder are the relation fields in the order dpkg writes them
// in its status file, which is the order it reads them back in.
var dpkgFieldOrder = []string{"Replaces", "Provides", "Depends", "Pre-Depends", "Recommends", "Suggests", "Breaks", "Conflicts", "Enhances"}

// dpkgDependsOrder are the fields dpkg checks and walks for configuring,
// in the order its package records hold them.
var dpkgDependsOrder = []string{"Depends", "Pre-Depends"}

// hashOrder returns pkgs in the order `dpkg --configure -a` queues them:
// by bin of the FNV-1a hash of the name, within a bin in the order the
// names were first met reading the status file (sorted by name; in each
// stanza the names its relations mention come before its own), and the
// architecture instances of one name in status order.
func (s *sys) hashOrder(pkgs []*pkgState) []*pkgState {
	all := append([]*pkgState(nil), s.pkgs...)
	sort.SliceStable(all, func(i, j int) bool {
		if all[i].name != all[j].name {
			return all[i].name < all[j].name
		}
		return all[i].arch < all[j].arch
	})
	met := map[string]int{}
	meet := func(n string) {
		n = strings.ToLower(n)
		if _, ok := met[n]; !ok {
			met[n] = len(met)
		}
	}
	for _, p := range all {
		for _, f := range dpkgFieldOrder {
			for _, n := range relationNames(p.ctrl.Get(f)) {
				meet(n)
			}
		}
		meet(p.name)
	}
	bin := func(n string) uint32 {
		h := fnv.New32a()
		h.Write([]byte(strings.ToLower(n)))
		return h.Sum32() % dpkgHashBins
	}
	inst := map[*pkgState]int{}
	for i, p := range all {
		inst[p] = i
	}
	out := append([]*pkgState(nil), pkgs...)
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.name != b.name {
			if ba, bb := bin(a.name), bin(b.name); ba != bb {
				return ba < bb
			}
			return met[strings.ToLower(a.name)] < met[strings.ToLower(b.name)]
		}
		return inst[a] < inst[b]
	})
	return out
}

// possi names one alternative of one dependency clause of a package, as
// dpkg's struct deppossi: the unit a cycle is broken at.
type possi struct {
	pkg           *pkgState
	field         string
	clause, which int
}

// dpkgQueue is dpkg's configure queue over one run.
type dpkgQueue struct {
	s     *sys
	queue []*pkgState
	// istobe: queued to be configured in this run (dpkg's
	// PKG_ISTOBE_INSTALLNEW), unless given up.
	istobe map[*pkgState]bool
	// broken are the alternatives marked cyclebreak: taken as met.
	broken       map[possi]bool
	dependtry    int
	sincenothing int
	// providers of each virtual name in the order dpkg walks them: its
	// reverse-dependency lists take each package read from the status
	// file (sorted by name) at their head, so the last comes first.
	providers map[string][]*pkgState
	// forceAny: dpkg --force-configure-any, as the Essential set is
	// configured: an unpacked dependency not in the queue is put at its
	// back ("also configuring X (required by Y)") and waited for.
	forceAny bool
	enqueued map[*pkgState]bool
}

// dpkg's dependtry levels (src/main/main.h) that matter here.
const (
	dependTryNormal = 1
	dependTryCycles = 2
	dependTryLast   = 7
)

func newDpkgQueue(s *sys, order []*pkgState, forceAny bool) *dpkgQueue {
	q := &dpkgQueue{s: s, queue: append([]*pkgState(nil), order...), istobe: map[*pkgState]bool{},
		broken: map[possi]bool{}, dependtry: dependTryNormal, forceAny: forceAny, enqueued: map[*pkgState]bool{}}
	for _, p := range order {
		q.istobe[p] = true
		q.enqueued[p] = true
	}
	q.providers = map[string][]*pkgState{}
	for name, l := range s.provides {
		l = append([]*pkgState(nil), l...)
		sort.SliceStable(l, func(i, j int) bool {
			if l[i].name != l[j].name {
				return l[i].name > l[j].name
			}
			return l[i].arch > l[j].arch
		})
		q.providers[name] = l
	}
	return q
}

// next pops the next package to try, as process_queue does, escalating
// dependtry when a round made no progress; nil when the queue is empty.
func (q *dpkgQueue) next() *pkgState {
	if len(q.queue) == 0 {
		return nil
	}
	p := q.queue[0]
	q.queue = q.queue[1:]
	delete(q.enqueued, p)
	old := q.sincenothing
	q.sincenothing++
	if old > len(q.queue)*3+2 {
		q.dependtry++
		q.sincenothing = 0
	} else if q.sincenothing > len(q.queue)*2+2 {
		// No trigger processing can make progress here (native runs
		// triggers after the queue): the next level.
		q.dependtry++
		q.sincenothing = 0
	}
	if q.dependtry >= dependTryLast {
		// dpkg aborts (internerr); native gives up the rest in order.
		q.dependtry = dependTryLast
	}
	return p
}

// defer sends p to the back of the queue.
// Deferred, it is to be installed (istobe) even if it came in by
// --force-configure-any, as deferred_configure marks it.
func (q *dpkgQueue) defer_(p *pkgState) {
	q.istobe[p] = true
	q.enqueue(p)
}

// enqueue is dpkg's enqueue_package: to the back, unless queued already.
func (q *dpkgQueue) enqueue(p *pkgState) {
	if !q.enqueued[p] {
		q.enqueued[p] = true
		q.queue = append(q.queue, p)
	}
}

// done records that p was configured or given up: progress. dpkg keeps
// a configured package's istobe (its cycle search still walks it as a
// provider) and clears a given-up one's.
func (q *dpkgQueue) done(p *pkgState, configured bool) {
	if !configured {
		delete(q.istobe, p)
	}
	q.sincenothing = 0
}

// check is dpkg's deferred_configure up to the decision: cycle breaking
// at dependtry ≥ 2, then dependencies_ok. It gives depsMet, depsWait
// (defer) or depsBroken with the reason.
func (q *dpkgQueue) check(p *pkgState) (depVerdict, error) {
	if q.dependtry >= dependTryCycles {
		if q.breakCycle(p) {
			q.sincenothing = 0
		}
	}
	if q.dependtry >= dependTryLast {
		return depsBroken, &DependsError{Field: "Depends", On: []string{"(a dependency loop dpkg gives up on)"}}
	}
	verdict := depsMet
	for _, field := range dpkgDependsOrder {
		for ci, clause := range relationClauses(p.ctrl.Get(field)) {
			found := foundNone
			var present []string
			seen := func(c *pkgState) {
				if !contains(present, c.key()) {
					present = append(present, c.key())
				}
			}
			for ai, name := range clause {
				if q.broken[possi{p, field, ci, ai}] {
					found = foundOK
					break
				}
				for _, c := range q.s.byNameArch(p, name) {
					seen(c)
					found = max(found, q.found(c))
				}
				if found == foundOK {
					break
				}
				for _, c := range q.providers[name] {
					seen(c)
					f := q.found(c)
					if f == foundDefer && c == p {
						f = foundOK // it provides what it depends on
					}
					found = max(found, f)
				}
				if found == foundOK {
					break
				}
			}
			switch {
			case found == foundOK || len(present) == 0:
			case found == foundDefer:
				verdict = depsWait
			default:
				return depsBroken, &DependsError{Field: field, On: present}
			}
		}
	}
	return verdict, nil
}

// dpkg's found_status of one candidate (deppossi_ok_found).
const (
	foundNone = iota
	foundDefer
	foundOK
)

func (q *dpkgQueue) found(c *pkgState) int {
	switch {
	case c.handed, c.state == dpkg.Installed && !c.failed:
		return foundOK
	case q.istobe[c] && (!c.failed || q.s.opts.HandOff):
		return foundDefer // with HandOff, dpkg's run configures a failed one
	case q.forceAny && c.state == dpkg.Unpacked && !c.failed:
		q.enqueue(c)
		q.sincenothing = 0
		return foundDefer
	}
	return foundNone
}

// breakCycle is dpkg's findbreakcycle(p): a depth-first walk of the
// dependencies from p; the first cycle found is broken at the first
// package on it, walking back from the last link, that has no postinst,
// else at the link leaving the package the cycle returns to.
func (q *dpkgQueue) breakCycle(p *pkgState) bool {
	black := map[*pkgState]bool{}
	type link struct {
		prev  *link
		pkg   *pkgState
		possi possi
	}
	var rec func(p *pkgState, sofar *link) bool
	found := func(this *link, sofar *link, on *pkgState) bool {
		sol := sofar
		for sol != nil && sol.pkg != on {
			sol = sol.prev
		}
		if sol == nil {
			return rec(on, this)
		}
		for sol = this; !(sol != this && sol.pkg == on); sol = sol.prev {
			if _, ok := sol.pkg.script("postinst"); !ok {
				break
			}
		}
		q.broken[sol.possi] = true
		return true
	}
	rec = func(p *pkgState, sofar *link) bool {
		if black[p] {
			return false
		}
		this := &link{prev: sofar, pkg: p}
		for _, field := range dpkgDependsOrder {
			for ci, clause := range relationClauses(p.ctrl.Get(field)) {
				for ai, name := range clause {
					ps := possi{p, field, ci, ai}
					if q.broken[ps] {
						continue
					}
					this.possi = ps
					for _, c := range q.s.byNameArch(p, name) {
						if found(this, sofar, c) {
							return true
						}
					}
					for _, c := range q.providers[name] {
						if !q.istobe[c] {
							continue
						}
						if found(this, sofar, c) {
							return true
						}
					}
				}
			}
		}
		black[p] = true
		return false
	}
	return rec(p, nil)
}
