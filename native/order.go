package native

import (
	"fmt"
	"strings"
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

// candidates are the packages of the run that can satisfy the
// alternative name in a dependency of p: for a foreign p its own
// architecture's package first, then the package of that name, then
// those providing it.
func (s *sys) candidates(p *pkgState, name string) []*pkgState {
	return append(s.byNameArch(p, name), s.provides[name]...)
}

// byNameArch are the packages of the run named name that can satisfy a
// dependency of p: for a foreign p its own architecture's first.
func (s *sys) byNameArch(p *pkgState, name string) []*pkgState {
	var out []*pkgState
	if p.foreign {
		if q := s.byName[name+":"+p.arch]; q != nil {
			out = append(out, q)
		}
	}
	if q := s.byName[name]; q != nil {
		out = append(out, q)
	}
	return out
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
