package native

import (
	"fmt"
	"strings"

	"github.com/debstrap/debstrap/dpkg"
)

// relationNames are the package names a relation field mentions, every
// alternative included, version and architecture qualifiers dropped.
func relationNames(field string) []string {
	var names []string
	for _, clause := range relationClauses(field) {
		names = append(names, clause...)
	}
	return names
}

// relationClauses splits a relation field into its clauses, each the
// list of its alternatives' package names.
func relationClauses(field string) [][]string {
	var out [][]string
	for _, clause := range strings.Split(field, ",") {
		var alts []string
		for _, alt := range strings.Split(clause, "|") {
			f := strings.Fields(alt)
			if len(f) == 0 {
				continue
			}
			name, _, _ := strings.Cut(f[0], "(")
			name, _, _ = strings.Cut(name, ":")
			if name != "" {
				alts = append(alts, name)
			}
		}
		if len(alts) > 0 {
			out = append(out, alts)
		}
	}
	return out
}

// depends returns the packages of the run that p depends on (Depends and
// Pre-Depends): for each clause the first alternative present, by name or
// through Provides, as apt would have chosen it.
func (s *sys) depends(p *pkgState) []*pkgState {
	var out []*pkgState
	for _, field := range []string{"Pre-Depends", "Depends"} {
		for _, clause := range relationClauses(p.ctrl.Get(field)) {
			for _, name := range clause {
				// A foreign package's plain dependency is on its own
				// architecture first (Multi-Arch: same), else on what
				// the native or "all" package provides (Multi-Arch: foreign).
				if p.foreign {
					if q := s.byName[name+":"+p.arch]; q != nil {
						out = append(out, q)
						break
					}
				}
				if q := s.byName[name]; q != nil {
					out = append(out, q)
					break
				}
				if prov := s.provides[name]; len(prov) > 0 {
					out = append(out, prov[0])
					break
				}
			}
		}
	}
	return out
}

// essentialSplit divides the packages as mmdebstrap installs them: first
// the Essential: yes packages and what they depend on (its "essential"
// step, one dpkg --install), then the rest (one apt-get install). Both
// keep unpack order.
func (s *sys) essentialSplit() (first, rest []*pkgState) {
	in := map[*pkgState]bool{}
	var visit func(p *pkgState)
	visit = func(p *pkgState) {
		if in[p] {
			return
		}
		in[p] = true
		for _, q := range s.depends(p) {
			visit(q)
		}
	}
	for _, p := range s.pkgs {
		if p.essential {
			visit(p)
		}
	}
	for _, p := range s.pkgs {
		if in[p] {
			first = append(first, p)
		} else {
			rest = append(rest, p)
		}
	}
	return first, rest
}

// configureOrder orders a batch as dpkg configures it: every package
// after the packages of the batch it depends on (Pre-Depends and
// Depends), otherwise in the order given; a dependency cycle is broken
// where it is found. Essential packages come first, as mmdebstrap's
// essential step and apt's ordering have it: a package need not declare
// a dependency on an Essential one (Policy 3.8), so every other package
// of the batch waits for each Essential package that does not itself
// need it. Without that, a non-essential package an Essential one
// depends on (usrmerge, through init-system-helpers) was configured
// before Essential packages met later in the order (debianutils, whose
// postinst makes /etc/shells and the which alternative usrmerge's
// postinst uses).
func (s *sys) configureOrder(batch []*pkgState) []*pkgState {
	inBatch := map[*pkgState]bool{}
	var essential []*pkgState
	for _, p := range batch {
		inBatch[p] = true
		if p.essential {
			essential = append(essential, p)
		}
	}
	// needs[e] is what Essential e depends on in the batch, transitively.
	needs := map[*pkgState]map[*pkgState]bool{}
	for _, e := range essential {
		seen := map[*pkgState]bool{}
		var walk func(p *pkgState)
		walk = func(p *pkgState) {
			for _, q := range s.depends(p) {
				if inBatch[q] && !seen[q] {
					seen[q] = true
					walk(q)
				}
			}
		}
		walk(e)
		needs[e] = seen
	}
	state := map[*pkgState]int{} // 1 visiting, 2 done
	var out, stack []*pkgState
	// needsStack says whether e depends on a package being visited: it
	// is not put before that one, which would break a cycle that is none.
	needsStack := func(e *pkgState) bool {
		for _, p := range stack {
			if needs[e][p] {
				return true
			}
		}
		return false
	}
	var visit func(p *pkgState)
	visit = func(p *pkgState) {
		if state[p] != 0 {
			return
		}
		state[p] = 1
		stack = append(stack, p)
		for _, q := range s.depends(p) {
			if inBatch[q] {
				visit(q)
			}
		}
		if !p.essential {
			for _, e := range essential {
				if state[e] == 0 && !needsStack(e) {
					visit(e)
				}
			}
		}
		stack = stack[:len(stack)-1]
		state[p] = 2
		out = append(out, p)
	}
	for _, p := range essential {
		visit(p)
	}
	for _, p := range batch {
		visit(p)
	}
	return out
}

// candidates are the packages of the run that can satisfy the
// alternative name in a dependency of p: for a foreign p its own
// architecture's package first, then the package of that name, then
// those providing it.
func (s *sys) candidates(p *pkgState, name string) []*pkgState {
	var out []*pkgState
	if p.foreign {
		if q := s.byName[name+":"+p.arch]; q != nil {
			out = append(out, q)
		}
	}
	if q := s.byName[name]; q != nil {
		out = append(out, q)
	}
	return append(out, s.provides[name]...)
}

// depVerdict is what a package's dependencies allow at one point of the
// configure loop.
type depVerdict int

const (
	depsMet    depVerdict = iota // every clause has an alternative configured
	depsWait                     // some clause waits for a package still to be configured
	depsBroken                   // some clause can no longer be satisfied
)

// DependsError is why a package was left unconfigured without running
// its postinst: a package it depends on (every alternative of one clause
// of its Depends or Pre-Depends) was left unconfigured, as dpkg leaves a
// package whose dependencies are not configured.
type DependsError struct {
	Field string   // "Depends" or "Pre-Depends"
	On    []string // the alternatives present in the run, none configured
}

func (e *DependsError) Error() string {
	verb := "depends on"
	if e.Field == "Pre-Depends" {
		verb = "pre-depends on"
	}
	return fmt.Sprintf("%s %s, left unconfigured", verb, strings.Join(e.On, " | "))
}

// checkDepends applies dpkg's rule to p: it is configured only once each
// clause of its Pre-Depends and Depends has an alternative (by name or
// through Provides) configured; merely unpacked does not count. A clause
// waits while an alternative is open (of this batch, not yet tried); it
// is broken when every alternative present was left unconfigured or
// belongs to a later batch. A clause none of whose alternatives is in the
// run is not native's to judge (apt resolved it) and counts as met.
func (s *sys) checkDepends(p *pkgState, open map[*pkgState]bool) (depVerdict, error) {
	verdict := depsMet
	for _, field := range []string{"Pre-Depends", "Depends"} {
		for _, clause := range relationClauses(p.ctrl.Get(field)) {
			met, wait := false, false
			var present []string
			for _, name := range clause {
				for _, q := range s.candidates(p, name) {
					switch {
					case q == p || (q.state == dpkg.Installed && !q.failed):
						met = true
					case open[q] && !q.failed:
						wait = true
					}
					if !contains(present, q.key()) {
						present = append(present, q.key())
					}
				}
			}
			switch {
			case met || len(present) == 0:
			case wait:
				verdict = depsWait
			default:
				return depsBroken, &DependsError{Field: field, On: present}
			}
		}
	}
	return verdict, nil
}
