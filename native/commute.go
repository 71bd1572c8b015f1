package native

import (
	"fmt"
	"strings"
	"sync"

	"github.com/debstrap/debstrap/dpkg"
	"github.com/debstrap/debstrap/rootfs"
)

// Past the hand-off (Options.HandOff), dpkg's run configures the package
// native left and, in dpkg's order, what comes after it. Sending all of
// that to dpkg keeps the order but costs the most time of a large build
// (PostgreSQL left early in the queue sends hundreds of packages after
// it). A package after the hand-off is still configured here when doing
// so now, before the packages dpkg configures ahead of it, gives what the
// whole dpkg run gives:
//
//   - nothing it depends on is left for dpkg (dpkg would not configure it
//     before them);
//   - its postinst changes only what it shipped, what it makes new, and
//     files that are a function of the set of packages rather than of
//     their order (commutingPaths) — not a file scripts edit in
//     sequence (accounts, /etc/shells, ucf's registry, the info
//     directory), whose bytes depend on which script came first;
//   - it does not look up an account that is not there (one a package
//     left for dpkg may be about to make), activate a trigger of a
//     package left for dpkg (which dpkg would have configured by then),
//     or change diversions or stat overrides.
//
// Anything else undoes the postinst (undo.go) and leaves the package
// for dpkg, as before.

// commutingPaths are the files and trees (ending in "/") whose content
// does not depend on the order scripts change them in: links that say
// what is enabled, alternatives (update-alternatives sorts what it
// saves and picks by priority), caches rebuilt from what is installed.
var commutingPaths = []string{
	"/etc/alternatives/",
	"/var/lib/dpkg/alternatives/",
	"/etc/systemd/system/",
	"/etc/systemd/user/",
	"/var/lib/systemd/deb-systemd-helper-enabled/",
	"/var/lib/systemd/deb-systemd-helper-masked/",
	"/var/lib/systemd/deb-systemd-user-helper-enabled/",
	"/etc/ld.so.cache",
}

// commuteRun is the state of a postinst run past the hand-off.
type commuteRun struct {
	mu  sync.Mutex // the commands of a pipeline run concurrently
	why string     // the first reason it does not commute ("" none yet)
}

// orderMiss records, in a run past the hand-off, why the script's
// result may depend on its place in dpkg's order.
func (s *sys) orderMiss(format string, args ...any) {
	c := s.commute
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.why == "" {
		c.why = fmt.Sprintf(format, args...)
	}
}

// handedDepends names a package p depends on that is left for dpkg
// ("" none), when no configured package meets the same clause: p must
// then wait for dpkg's run too.
func (s *sys) handedDepends(q *dpkgQueue, p *pkgState) string {
	for _, field := range dpkgDependsOrder {
		for ci, clause := range relationClauses(p.ctrl.Get(field)) {
			handed := ""
			met := false
			for ai, name := range clause {
				if q.broken[possi{p, field, ci, ai}] {
					met = true // dpkg broke the cycle here
					break
				}
				cands := append(s.byNameArch(p, name), q.providers[name]...)
				for _, c := range cands {
					switch {
					case c == p, c.state == dpkg.Installed && !c.failed:
						met = true
					case c.handed && handed == "":
						handed = c.key()
					}
				}
				if met {
					break
				}
			}
			if !met && handed != "" {
				return handed
			}
		}
	}
	return ""
}

// orderSensitive says why what p's script changed (changes, from the
// stage's checkpoint) does not commute with what dpkg's run does before
// it ("" if it does).
func (s *sys) orderSensitive(p *pkgState, changes []rootfs.Change, u *undoState) string {
	s.commute.mu.Lock()
	why := s.commute.why
	s.commute.mu.Unlock()
	if why != "" {
		return why
	}
	if len(s.divs) != len(u.divs) || len(s.overrides) != len(u.overrides) {
		return "it changes diversions or stat overrides"
	}
	for _, c := range changes {
		if !c.Existed || c.Package == p.name || c.Package == p.key() {
			continue
		}
		if commutes(c.Path) {
			continue
		}
		return "it changes " + c.Path
	}
	return ""
}

func commutes(p string) bool {
	for _, c := range commutingPaths {
		if p == c || strings.HasSuffix(c, "/") && strings.HasPrefix(p, c) {
			return true
		}
	}
	return false
}

// OrderError: past the hand-off, a postinst whose result may depend on
// its place in dpkg's order; it was undone and left for dpkg.
type OrderError struct{ Why string }

func (e *OrderError) Error() string { return "its result depends on dpkg's order: " + e.Why }
