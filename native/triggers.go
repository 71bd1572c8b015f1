package native

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/debstrap/debstrap/dpkg"
)

// Triggers (deb-triggers(5)), as dpkg processes them: a package's
// triggers member declares interests (in an explicit trigger name, or in
// a path: a file trigger) and activations. Unpacking a package activates
// its "activate" directives and the file triggers of the paths it ships;
// scripts activate with dpkg-trigger. dpkg records an activation only
// for interested packages already configured (configuring covers the
// rest) and, once the run's packages are configured, runs
// "postinst triggered NAMES" for each package with pending triggers.

type interest struct {
	name     string // trigger name or absolute path
	activate bool   // an activate directive rather than an interest
}

func parseInterests(b []byte) ([]interest, error) {
	var out []interest
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 2 {
			return nil, fmt.Errorf("line %d: %q: want a directive and a trigger name", i+1, line)
		}
		switch f[0] {
		case "interest", "interest-await", "interest-noawait":
			out = append(out, interest{name: f[1]})
		case "activate", "activate-await", "activate-noawait":
			out = append(out, interest{name: f[1], activate: true})
		default:
			return nil, fmt.Errorf("line %d: unknown directive %q", i+1, f[0])
		}
	}
	return out, nil
}

// activate records trigger name as activated, for every configured
// package interested in it.
func (s *sys) activate(name string) {
	for _, q := range s.pkgs {
		if q.handed && slices.ContainsFunc(q.interests, func(in interest) bool { return !in.activate && in.name == name }) {
			s.orderMiss("it activates trigger %s of %s, which dpkg configures before it", name, q.key())
		}
		if q.state != dpkg.Installed || q.failed {
			continue
		}
		for _, in := range q.interests {
			if !in.activate && in.name == name {
				q.addPending(name)
			}
		}
	}
}

func (p *pkgState) addPending(name string) {
	for _, n := range p.pending {
		if n == name {
			return
		}
	}
	p.pending = append(p.pending, name)
}

// activateUnpack activates what unpacking p activates: its activate
// directives and the file triggers its paths fall under.
func (s *sys) activateUnpack(p *pkgState) {
	for _, in := range p.interests {
		if in.activate {
			s.activate(in.name)
		}
	}
	var paths []string
	for _, q := range s.pkgs {
		for _, in := range q.interests {
			if !in.activate && strings.HasPrefix(in.name, "/") {
				paths = append(paths, in.name)
			}
		}
	}
	if len(paths) == 0 {
		return
	}
	for _, f := range s.st.Files(p.name) {
		for _, t := range paths {
			if f == t || strings.HasPrefix(f, strings.TrimSuffix(t, "/")+"/") {
				s.activate(t)
			}
		}
	}
}

// maxTriggerRounds bounds trigger processing that keeps activating
// triggers (dpkg detects such loops too).
const maxTriggerRounds = 50

// runTriggers runs postinst triggered for every configured package with
// pending triggers, until none are left.
func (s *sys) runTriggers(ctx context.Context) error {
	for round := 0; ; round++ {
		var next *pkgState
		for _, p := range s.pkgs {
			if len(p.pending) > 0 && p.state == dpkg.Installed && !p.failed {
				next = p
				break
			}
		}
		if next == nil {
			return nil
		}
		if round >= maxTriggerRounds {
			return s.fail(next, "postinst triggered", dpkg.HalfConfigured, fmt.Errorf("trigger processing loops (%s)", strings.Join(next.pending, " ")))
		}
		names := strings.Join(next.pending, " ")
		next.pending = nil
		if err := s.runMaintScript(ctx, next, "postinst", "triggered", names); err != nil {
			if err := s.fail(next, "postinst triggered "+names, dpkg.HalfConfigured, err); err != nil {
				return err
			}
		}
	}
}
