package native

import (
	"context"
	"errors"
	"maps"
	"slices"

	"github.com/debstrap/debstrap/dpkg"
	"github.com/debstrap/debstrap/rootfs"
)

// A maintainer script that fails halfway is undone: the stage (through a
// rootfs checkpoint) and the run's own state are put back as they were
// before it, and its package is left as if the script had never run. The
// dpkg run that follows (--mode=auto, or the user's dpkg --configure -a)
// then runs the script once, whole, rather than repeating the half
// native already did — ucf rotating its backups twice, a system user
// made on the first try and another id on the second, debconf's
// questions registered in another order.

// undoState is what a script may change besides the stage.
type undoState struct {
	divs      []dpkg.Diversion
	overrides []dpkg.StatOverride
	tmpSeq    int
	pending   []int // len(pending) of each package
	deferred  int
	skipped   int
	// debconf is a copy of the database, taken before the script's
	// first debconf session (nil: it has not touched it).
	debconf *debconfDB
}

// runUndoable runs script as runMaintScript does; if it fails, undone
// says whether its effects were taken back. They stay (as dpkg leaves a
// failed script's) only when an operation that cannot be undone ran
// (merging /usr); a failure to put the stage back is a stage error.
func (s *sys) runUndoable(ctx context.Context, p *pkgState, script string, args ...string) (undone bool, err error) {
	if s.undo != nil { // nested: the outer script's checkpoint covers it
		return false, s.runMaintScript(ctx, p, script, args...)
	}
	if cerr := s.st.Checkpoint(); cerr != nil {
		return false, &stageError{cerr}
	}
	u := &undoState{
		divs:      slices.Clone(s.divs),
		overrides: slices.Clone(s.overrides),
		tmpSeq:    s.tmpSeq,
		pending:   make([]int, len(s.pkgs)),
		deferred:  len(s.report.Deferred),
		skipped:   len(s.report.Skipped),
	}
	for i, q := range s.pkgs {
		u.pending[i] = len(q.pending)
	}
	s.undo = u
	err = s.runMaintScript(ctx, p, script, args...)
	s.undo = nil
	if err == nil && s.commute != nil {
		if why := s.orderSensitive(p, s.st.Changes(), u); why != "" {
			err = &OrderError{Why: why}
		}
	}
	if err == nil {
		if rerr := s.st.Release(); rerr != nil {
			return false, &stageError{rerr}
		}
		return false, nil
	}
	if rerr := s.st.Rollback(); rerr != nil {
		if errors.Is(rerr, rootfs.ErrNoRollback) {
			return false, err
		}
		return false, &stageError{rerr}
	}
	s.divs, s.overrides, s.tmpSeq = u.divs, u.overrides, u.tmpSeq
	for i, q := range s.pkgs {
		q.pending = q.pending[:u.pending[i]]
	}
	s.report.Deferred = s.report.Deferred[:u.deferred]
	s.report.Skipped = s.report.Skipped[:u.skipped]
	if u.debconf != nil {
		s.debconf = u.debconf
	}
	return true, err
}

// keepDebconf saves the debconf database before a script that can be
// undone first changes it. Callers hold s.mu.
func (s *sys) keepDebconf() {
	if s.undo != nil && s.undo.debconf == nil {
		s.undo.debconf = s.debconf.clone()
	}
}

func (d *debconfDB) clone() *debconfDB {
	c := *d
	c.config, c.templates, c.passwords = cloneItems(d.config), cloneItems(d.templates), cloneItems(d.passwords)
	return &c
}

func cloneItems(m map[string]*dcItem) map[string]*dcItem {
	out := make(map[string]*dcItem, len(m))
	for k, it := range m {
		out[k] = &dcItem{fields: maps.Clone(it.fields), owners: maps.Clone(it.owners),
			flags: maps.Clone(it.flags), variables: maps.Clone(it.variables)}
	}
	return out
}
