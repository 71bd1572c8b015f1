// Package native configures an unpacked root without running anything
// from it: the maintainer scripts (preinst, postinst, config, triggers) of
// the packages are read by a shell interpreter written in Go
// (mvdan.cc/sh), whose every external command is a Go implementation
// acting on the staging root's table — update-alternatives, dpkg-divert,
// adduser, ldconfig, deb-systemd-helper, pam-auth-update, cp, ln, sed, ….
// Nothing of the image is executed, so this works as an ordinary user
// without namespaces and for any architecture.
//
// Each command is one unit of the registry (see command.go), keyed by what
// it does, not by package. A script that calls a command the registry
// does not have, or that fails, leaves its package unconfigured (Unpacked
// or HalfConfigured, for dpkg --configure -a), and the Report says why:
// native mode never marks a package installed whose scripts it did not
// carry out, nor, as dpkg, one whose dependencies are not configured
// (left Unpacked, transitively).
//
// The sequence follows mmdebstrap: the essential set is installed first
// (all preinst install, then postinst configure in dependency order, then
// the triggers it activated), then the remaining packages the same way.
package native

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/debstrap/debstrap/deb"
	"github.com/debstrap/debstrap/dpkg"
	"github.com/debstrap/debstrap/rootfs"
)

// Pkg is one unpacked package to configure.
type Pkg struct {
	// Control is the package's control archive: the control file and the
	// maintainer scripts, config, templates and triggers members.
	Control *deb.Control
}

// Options configure a run.
type Options struct {
	// Arch is the dpkg architecture of the root (amd64, arm64, …).
	Arch string
	// Epoch stands for "now" wherever a script would record the time:
	// the last-change day of shadow entries, mtimes of made files. It
	// should be SOURCE_DATE_EPOCH.
	Epoch time.Time
	// Manual names the packages the user asked for (the variant's seeds
	// and --include); apt's extended_states marks all others
	// Auto-Installed, as apt leaves it after installing them as
	// dependencies. nil writes no extended_states.
	Manual []string
	// Logger receives a record per script run (debug) and per package
	// left unconfigured (warning); nil discards them.
	Logger *slog.Logger
	// Limits bound each script's time, memory, output and writes.
	Limits Limits
	// LeaveSkipped: an effect native mode would leave out (Report.Skipped)
	// leaves its package for dpkg instead — half-configured, so that a
	// real dpkg --configure -a runs its postinst (--mode=auto does) —
	// and is not reported as skipped.
	LeaveSkipped bool
}

// Report says what a run did.
type Report struct {
	// Configured lists the packages now Installed, in configure order.
	Configured []string
	// Failed lists the packages left unconfigured, with the reason.
	Failed []Failure
	// Skipped lists effects native mode knowingly leaves out, as
	// "package: what" (byte-compiling Python modules, say).
	Skipped []string
}

// Failure is a package native mode did not configure.
type Failure struct {
	Package string
	// Script is the one that failed ("preinst", "postinst", "postinst
	// triggered …"), or the relation field ("Depends", "Pre-Depends")
	// when a dependency left unconfigured kept the postinst from running
	// (Err is then a *DependsError).
	Script string
	State  dpkg.State // what the database now says
	Err    error
}

func (f Failure) String() string {
	return fmt.Sprintf("%s (%s, left %s): %v", f.Package, f.Script, f.State, f.Err)
}

// Warning is the one-line summary of r's failures ("" when none): the
// packages to finish with dpkg --configure -a.
func (r *Report) Warning() string {
	if len(r.Failed) == 0 {
		return ""
	}
	var names []string
	for _, f := range r.Failed {
		names = append(names, f.Package)
	}
	return fmt.Sprintf("native configuration did not cover %d package(s), left for 'dpkg --configure -a': %s",
		len(names), strings.Join(names, " "))
}

// pkgState is a package during the run.
type pkgState struct {
	name, arch, version string
	ctrl                *deb.Control
	essential           bool
	state               dpkg.State
	interests           []interest // from its triggers member
	pending             []string   // trigger names awaiting postinst triggered
	failed              bool
	foreign             bool // of an architecture other than the root's (libc6:i386)
}

// key is the package's name in the run, as the stage records it: a
// foreign architecture's qualified (libc6:i386), so that it is a package
// of its own beside the native one.
func (p *pkgState) key() string {
	if p.foreign {
		return p.name + ":" + p.arch
	}
	return p.name
}

// id is the name as dpkg writes it in info/ file names.
func (p *pkgState) id() string {
	if strings.EqualFold(p.ctrl.Get("Multi-Arch"), "same") {
		return p.name + ":" + p.arch
	}
	return p.name
}

func (p *pkgState) script(name string) ([]byte, bool) {
	f, ok := p.ctrl.Files[name]
	return f.Data, ok
}

// sys is the state of one run: the stage and what the commands share
// (the dpkg view, alternatives, diversions, accounts, debconf).
type sys struct {
	st   *rootfs.Stage
	db   *dpkg.DB
	opts Options
	log  *slog.Logger

	// mu serialises the commands that read or change shared state (a
	// pipeline runs its commands concurrently).
	mu sync.Mutex

	pkgs   []*pkgState // unpack order
	byName map[string]*pkgState
	// provides maps a virtual package name to the packages providing it.
	provides map[string][]*pkgState

	divs    []dpkg.Diversion
	debconf *debconfDB
	report  *Report
	// current is the package whose script runs, currentScript which one
	// (for dpkg-query's view of its state, debconf).
	current       *pkgState
	currentScript string

	// notYet holds the packages of batches not yet installed: their
	// files are hidden from scripts (see hidden).
	notYet map[string]bool

	overrides []dpkg.StatOverride
	tmpSeq    int // mktemp's counter

	// bud is the budget of the script running (see Limits).
	bud *budget
	// leave holds, with LeaveSkipped, the packages whose scripts met an
	// effect native leaves out, and the first such effect.
	leave map[string]string
}

// Configure configures the unpacked packages pkgs of st (given in unpack
// order), whose database db lists them as Unpacked, and rewrites the
// database. Scripts that cannot be carried out are reported, not
// returned as errors; an error means the stage itself failed.
func Configure(ctx context.Context, st *rootfs.Stage, db *dpkg.DB, pkgs []Pkg, opts Options) (*Report, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.Epoch.IsZero() {
		opts.Epoch = time.Unix(0, 0)
	}
	opts.Epoch = opts.Epoch.UTC()
	s, err := newSys(st, db, pkgs, opts, log)
	if err != nil {
		return nil, err
	}
	if s.debconf, err = loadDebconf(s); err != nil {
		return nil, err
	}

	first, rest := s.essentialSplit()
	s.notYet = map[string]bool{}
	for _, p := range rest {
		s.notYet[p.key()] = true
	}
	for _, batch := range [][]*pkgState{first, rest} {
		for _, p := range batch {
			delete(s.notYet, p.key())
		}
		if err := s.install(ctx, batch); err != nil {
			return nil, err
		}
	}
	// Effects met after a package was configured (by a trigger): it is
	// left half-configured too.
	for _, p := range s.pkgs {
		if why, ok := s.leave[p.key()]; ok && p.state == dpkg.Installed {
			s.report.Configured = slices.DeleteFunc(s.report.Configured, func(k string) bool { return k == p.key() })
			if err := s.fail(p, "postinst", dpkg.HalfConfigured, &LeftError{Effect: why}); err != nil {
				return nil, err
			}
		}
	}
	if err := s.finish(); err != nil {
		return nil, err
	}
	for _, f := range s.report.Failed {
		log.Warn("package left unconfigured", "package", f.Package, "script", f.Script, "state", string(f.State), "err", f.Err)
	}
	return s.report, nil
}

// newSys holds pkgs (in unpack order), all Unpacked, for a run on st.
func newSys(st *rootfs.Stage, db *dpkg.DB, pkgs []Pkg, opts Options, log *slog.Logger) (*sys, error) {
	s := &sys{st: st, db: db, opts: opts, log: log, byName: map[string]*pkgState{},
		provides: map[string][]*pkgState{}, report: &Report{}, leave: map[string]string{}}
	for _, p := range pkgs {
		if p.Control == nil {
			return nil, errors.New("native: a package without control data")
		}
		ps := &pkgState{
			name:      p.Control.Get("Package"),
			arch:      p.Control.Get("Architecture"),
			version:   p.Control.Get("Version"),
			ctrl:      p.Control,
			essential: strings.EqualFold(p.Control.Get("Essential"), "yes"),
			state:     dpkg.Unpacked,
		}
		if ps.arch != "all" && opts.Arch != "" && ps.arch != opts.Arch {
			ps.foreign = true
		}
		if _, dup := s.byName[ps.key()]; dup {
			return nil, fmt.Errorf("native: package %s given twice", ps.key())
		}
		if f, ok := p.Control.Files["triggers"]; ok {
			in, err := parseInterests(f.Data)
			if err != nil {
				return nil, fmt.Errorf("native: package %s: triggers: %w", ps.name, err)
			}
			ps.interests = in
		}
		s.pkgs = append(s.pkgs, ps)
		s.byName[ps.key()] = ps
		for _, v := range relationNames(p.Control.Get("Provides")) {
			s.provides[v] = append(s.provides[v], ps)
		}
	}
	return s, nil
}

// install does for a batch what dpkg --install does for packages already
// unpacked: every preinst install, then configure in dependency order,
// then the triggers the batch activated.
func (s *sys) install(ctx context.Context, batch []*pkgState) error {
	// Packages configured before this batch see its activations; those
	// configured in it do not (dpkg records triggers only for packages
	// that are configured, and configuring covers them).
	for _, p := range batch {
		s.activateUnpack(p)
	}
	for _, p := range batch {
		if err := ctx.Err(); err != nil {
			return err
		}
		if _, ok := p.script("preinst"); !ok {
			continue
		}
		if err := s.runMaintScript(ctx, p, "preinst", "install"); err != nil {
			if err := s.fail(p, "preinst", dpkg.Unpacked, err); err != nil {
				return err
			}
		}
	}
	// As dpkg --configure: in dependency order, each package only once
	// its dependencies are configured. One whose dependency was left
	// unconfigured stays Unpacked, its postinst not run, and so on
	// transitively; one waiting for a package still to come is tried
	// again after it. When only waiting packages remain, they wait on
	// each other (a cycle): the first in order is configured anyway, as
	// dpkg breaks a cycle.
	queue := s.configureOrder(batch)
	open := map[*pkgState]bool{}
	for _, p := range queue {
		open[p] = true
	}
	for len(queue) > 0 {
		var waiting []*pkgState
		progress := false
		for _, p := range queue {
			if err := ctx.Err(); err != nil {
				return err
			}
			if p.failed { // its preinst failed
				delete(open, p)
				continue
			}
			verdict, why := s.checkDepends(p, open)
			if verdict == depsWait {
				waiting = append(waiting, p)
				continue
			}
			delete(open, p)
			progress = true
			if verdict == depsBroken {
				if err := s.fail(p, why.(*DependsError).Field, dpkg.Unpacked, why); err != nil {
					return err
				}
				continue
			}
			if err := s.configureOne(ctx, p); err != nil {
				return err
			}
		}
		if !progress && len(waiting) > 0 {
			p := waiting[0]
			delete(open, p)
			if err := s.configureOne(ctx, p); err != nil {
				return err
			}
			waiting = waiting[1:]
		}
		queue = waiting
	}
	return s.runTriggers(ctx)
}

// configureOne runs p's postinst and records the outcome; an error is
// the stage's own.
func (s *sys) configureOne(ctx context.Context, p *pkgState) error {
	if err := s.configure(ctx, p); err != nil {
		return s.fail(p, "postinst", dpkg.HalfConfigured, err)
	}
	if why, ok := s.leave[p.key()]; ok {
		return s.fail(p, "postinst", dpkg.HalfConfigured, &LeftError{Effect: why})
	}
	p.state = dpkg.Installed
	p.pending = nil
	s.report.Configured = append(s.report.Configured, p.key())
	return nil
}

// configure runs what dpkg --configure runs for a package installed for
// the first time: the debconf config script when the postinst does not
// load debconf itself is not run (as with dpkg alone), then postinst
// configure with no old version.
func (s *sys) configure(ctx context.Context, p *pkgState) error {
	if _, ok := p.script("postinst"); !ok {
		return nil
	}
	return s.runMaintScript(ctx, p, "postinst", "configure", "")
}

// fail records that p is left in state because script failed. Errors of
// the stage itself are returned instead, to abort the run.
func (s *sys) fail(p *pkgState, script string, state dpkg.State, err error) error {
	var se *stageError
	if errors.As(err, &se) {
		return fmt.Errorf("native: %s %s: %w", p.name, script, se.err)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	p.failed = true
	p.state = state
	s.report.Failed = append(s.report.Failed, Failure{Package: p.key(), Script: script, State: state, Err: err})
	return nil
}

// LeftError: with LeaveSkipped, the package is left for dpkg because its
// scripts need an effect native mode leaves out.
type LeftError struct{ Effect string }

func (e *LeftError) Error() string { return "left for dpkg: " + e.Effect }

// skipped records an effect native leaves out ("package: what"): in the
// report, or with LeaveSkipped as the reason to leave pkg for dpkg.
func (s *sys) skipped(pkg, entry string) {
	if s.opts.LeaveSkipped && pkg != "" && pkg != "?" {
		if _, ok := s.leave[pkg]; !ok {
			s.leave[pkg] = entry
		}
		return
	}
	if !contains(s.report.Skipped, entry) {
		s.report.Skipped = append(s.report.Skipped, entry)
	}
}

// stageError wraps a failure of the staging root (disk full, a table
// inconsistency): it aborts the run rather than failing one package.
type stageError struct{ err error }

func (e *stageError) Error() string { return e.err.Error() }
func (e *stageError) Unwrap() error { return e.err }

// finish writes what the run leaves besides the scripts' own effects:
// package states and diversions into the dpkg database, the database
// itself, debconf's database and apt's extended_states.
func (s *sys) finish() error {
	for _, p := range s.pkgs {
		if err := s.db.SetState(p.name, p.arch, p.state); err != nil {
			return fmt.Errorf("native: %w", err)
		}
	}
	for _, o := range s.overrides {
		if err := s.db.AddStatOverride(o); err != nil {
			return fmt.Errorf("native: %w", err)
		}
	}
	divs := append([]dpkg.Diversion(nil), s.divs...)
	sort.Slice(divs, func(i, j int) bool { return divs[i].Path < divs[j].Path })
	for _, d := range divs {
		if err := s.db.AddDiversion(d); err != nil {
			return fmt.Errorf("native: %w", err)
		}
	}
	if err := s.cleanup(); err != nil {
		return fmt.Errorf("native: %w", err)
	}
	if err := s.db.Write(dbRoot{s.st}); err != nil {
		return fmt.Errorf("native: writing the dpkg database: %w", err)
	}
	if err := s.debconf.save(); err != nil {
		return fmt.Errorf("native: writing the debconf database: %w", err)
	}
	if err := s.writeExtendedStates(); err != nil {
		return fmt.Errorf("native: %w", err)
	}
	return nil
}

// dbRoot lets the dpkg database write into the stage, owned by root.
type dbRoot struct{ st *rootfs.Stage }

func (r dbRoot) WriteFile(path string, data []byte, mode int64) error {
	return r.st.WriteFile(path, data, rootfs.Entry{Mode: mode})
}

func (r dbRoot) MkdirAll(path string, mode int64) error {
	return r.st.MkdirAll(path, rootfs.Entry{Mode: mode})
}

// cleanup removes what a build leaves that is not part of the image, as
// mmdebstrap's cleanup does: the contents of /run (but /run/lock) and
// /tmp, the D-Bus machine id, and an /etc/machine-id reduced to an empty
// file (machine-id(5): an image gets its id at first boot).
func (s *sys) cleanup() error {
	for _, d := range []string{"/run", "/tmp"} {
		ents, err := s.st.List(d)
		if err != nil {
			continue
		}
		for _, e := range ents {
			if e.Path == "/run/lock" {
				continue
			}
			if err := s.st.RemoveAll(e.Path); err != nil {
				return err
			}
		}
	}
	if _, ok := s.st.Lookup("/var/lib/dbus/machine-id"); ok {
		if err := s.st.Remove("/var/lib/dbus/machine-id"); err != nil {
			return err
		}
	}
	if e, ok := s.st.Lookup("/etc/machine-id"); ok && e.Type == tar.TypeReg {
		if err := s.st.WriteFile("/etc/machine-id", nil, rootfs.Entry{Mode: 0o644}); err != nil {
			return err
		}
	}
	return nil
}
