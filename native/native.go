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
	// HandOff: a dpkg --configure -a in the root follows (--mode=auto), so
	// native does only what it can do exactly and leaves the rest to it,
	// in dpkg's order. An effect native would leave out (Report.Skipped)
	// is deferred instead: its command line goes into Report.Deferred for
	// that run to carry out before it configures what native left, and
	// its package is configured. Once a package is left unconfigured,
	// a package after it in configure order is left too (unpacked) when
	// its configuring depends on that order (commute.go), so that what
	// scripts allocate in sequence — uids, gids — comes out as a whole
	// dpkg run gives it.
	HandOff bool
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
	// Deferred lists, with HandOff, the commands that make the effects
	// native leaves out, in the order met, each once, for dpkg's run to
	// carry out afterwards.
	Deferred []Deferred
	// DpkgOrder gives, with HandOff, the packages left in the order a
	// whole dpkg run would configure them: the Essential set's run (dpkg
	// --force-configure-any --configure, which takes in what they depend
	// on), then the rest's (-a). dpkg's order is its queue's, with
	// deferrals: a run over only what native left would defer fewer and
	// configure them in another order, so that ids scripts allocate, or
	// a file one script makes when another has not, come out otherwise.
	DpkgOrder struct{ Essential, Rest []string }
}

// Deferred is a command a maintainer script ran that native mode did not
// carry out (HandOff).
type Deferred struct {
	Package string
	Dir     string   // the script's working directory
	Args    []string // as the script gave them, args[0] as invoked
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
	// PreinstRan: its preinst install ran (or it has none), so dpkg's
	// run must not run it again.
	PreinstRan bool
	// Undone: what the failed script did was taken back; the package is
	// as if it had not run.
	Undone bool
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
	var names, noPreinst []string
	for _, f := range r.Failed {
		names = append(names, f.Package)
		if !f.PreinstRan {
			noPreinst = append(noPreinst, f.Package)
		}
	}
	w := fmt.Sprintf("native configuration did not cover %d package(s), left for 'dpkg --configure -a': %s",
		len(names), strings.Join(names, " "))
	if len(noPreinst) > 0 {
		// dpkg --configure never runs a preinst: these need the exec
		// modes' second stage, which does.
		w += fmt.Sprintf("; the preinst of %s did not run, which dpkg --configure -a does not do: build with --mode=auto or --mode=unshare",
			strings.Join(noPreinst, " "))
	}
	return w
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
	preinstRan          bool // preinst install ran, or there is none
	undone              bool // the script that failed was undone (undo.go)
	handed              bool // left for dpkg's run, placed in its queue (HandOff)
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

	overrides []dpkg.StatOverride
	tmpSeq    int // mktemp's counter

	// bud is the budget of the script running (see Limits).
	bud *budget
	// handedOff is, with HandOff, the first package left unconfigured
	// (nil: none yet).
	handedOff *pkgState
	// undo is what the script running may have to put back (undo.go).
	undo *undoState
	// commute is set while a package past the hand-off is configured
	// (commute.go).
	commute *commuteRun
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
	for i, batch := range [][]*pkgState{first, rest} {
		if err := s.install(ctx, batch, i == 0); err != nil {
			return nil, err
		}
	}
	if err := s.finish(); err != nil {
		return nil, err
	}
	for _, f := range s.report.Failed {
		if opts.HandOff { // not a warning: dpkg configures it next
			log.Debug("package left for dpkg", "package", f.Package, "script", f.Script, "state", string(f.State), "err", f.Err)
			continue
		}
		log.Warn("package left unconfigured", "package", f.Package, "script", f.Script, "state", string(f.State), "err", f.Err)
	}
	return s.report, nil
}

// newSys holds pkgs (in unpack order), all Unpacked, for a run on st.
func newSys(st *rootfs.Stage, db *dpkg.DB, pkgs []Pkg, opts Options, log *slog.Logger) (*sys, error) {
	s := &sys{st: st, db: db, opts: opts, log: log, byName: map[string]*pkgState{},
		provides: map[string][]*pkgState{}, report: &Report{}}
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
func (s *sys) install(ctx context.Context, batch []*pkgState, first bool) error {
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
		if s.handedOff != nil {
			// dpkg's run unpacks (runs the preinst of) this batch after
			// configuring what native left of the one before.
			if err := s.fail(p, "preinst", dpkg.Unpacked, &HandedOffError{After: s.handedOff.key()}); err != nil {
				return err
			}
			continue
		}
		if _, ok := p.script("preinst"); !ok {
			p.preinstRan = true
			continue
		}
		if undone, err := s.runUndoable(ctx, p, "preinst", "install"); err != nil {
			p.undone = undone
			if err := s.fail(p, "preinst", dpkg.Unpacked, err); err != nil {
				return err
			}
			continue
		}
		p.preinstRan = true
	}
	// As dpkg --configure (dpkgQueue): each package only once its
	// dependencies are configured, else to the back of the queue; one
	// whose dependency was left unconfigured stays Unpacked, its postinst
	// not run, and so on transitively; a cycle is broken as dpkg breaks
	// it. The first batch is configured in the order given (`dpkg
	// --configure PKG…`), the rest in dpkg's hash order (`-a`).
	order := batch
	if !first {
		order = s.hashOrder(batch)
	}
	var queued []*pkgState
	for _, p := range order {
		if p.state == dpkg.Installed || p.handed {
			continue // configured (or left) with the Essential set
		}
		// Not one whose preinst failed or was left — unless dpkg's run
		// takes it over (HandOff): the queue still places it then.
		if !p.failed || s.opts.HandOff {
			queued = append(queued, p)
		}
	}
	// The Essential set is configured as dpkg --force-configure-any
	// --configure PKG… does it (configure's second stage, mmdebstrap).
	q := newDpkgQueue(s, queued, first)
	for p := q.next(); p != nil; p = q.next() {
		if err := ctx.Err(); err != nil {
			return err
		}
		verdict, why := q.check(p)
		if verdict == depsWait {
			q.defer_(p)
			continue
		}
		if s.handedOff != nil {
			// Configured here if that gives what dpkg's run would
			// (commute.go), else dpkg's run configures it. The queue
			// goes on as if it had been configured here either way, to
			// find the order a whole dpkg run would configure the rest
			// in (Report.DpkgOrder).
			dep := s.handedOff.key()
			if !first && !p.failed && verdict == depsMet {
				if dep = s.handedDepends(q, p); dep == "" {
					s.commute = &commuteRun{}
					err := s.configureOne(ctx, p)
					s.commute = nil
					if err != nil {
						return err
					}
					if !p.failed {
						q.done(p, true)
						continue
					}
				}
			}
			if !p.failed {
				if err := s.fail(p, "postinst", dpkg.Unpacked, &HandedOffError{After: dep}); err != nil {
					return err
				}
			}
			s.handOver(q, p, first)
			continue
		}
		if verdict == depsBroken {
			if err := s.fail(p, why.(*DependsError).Field, dpkg.Unpacked, why); err != nil {
				return err
			}
		} else if err := s.configureOne(ctx, p); err != nil {
			return err
		}
		if p.failed && s.opts.HandOff {
			s.handOver(q, p, first)
			continue
		}
		q.done(p, !p.failed)
	}
	return s.runTriggers(ctx)
}

// handOver records p, left for dpkg's run, as configured in the queue's
// order (HandOff).
func (s *sys) handOver(q *dpkgQueue, p *pkgState, first bool) {
	p.handed = true
	q.done(p, true)
	if first {
		s.report.DpkgOrder.Essential = append(s.report.DpkgOrder.Essential, p.key())
	} else {
		s.report.DpkgOrder.Rest = append(s.report.DpkgOrder.Rest, p.key())
	}
}

// configureOne runs p's postinst and records the outcome; an error is
// the stage's own.
func (s *sys) configureOne(ctx context.Context, p *pkgState) error {
	if err := s.configure(ctx, p); err != nil {
		state := dpkg.HalfConfigured
		if p.undone {
			state = dpkg.Unpacked // as if it had not run
		}
		return s.fail(p, "postinst", state, err)
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
	undone, err := s.runUndoable(ctx, p, "postinst", "configure", "")
	p.undone = undone
	return err
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
	s.report.Failed = append(s.report.Failed, Failure{Package: p.key(), Script: script, State: state, Err: err, PreinstRan: p.preinstRan, Undone: p.undone})
	if s.opts.HandOff && s.handedOff == nil {
		s.handedOff = p
	}
	return nil
}

// HandedOffError: with HandOff, a package after one native left
// unconfigured is left too, for dpkg to configure in its own order: the
// Essential set's and whatever depends on a package left (After names
// it), or whose postinst does not commute with dpkg's run (commute.go).
type HandedOffError struct{ After string }

func (e *HandedOffError) Error() string {
	return "left for dpkg, which configures it after " + e.After
}

// skipped records an effect native leaves out ("package: what"), made by
// the command c ran: in the report, or with HandOff as a deferred command.
func (s *sys) skipped(c *cmd, entry string) {
	if s.opts.HandOff {
		d := Deferred{Dir: c.dir, Args: slices.Clone(c.args)}
		if c.run.pkg != nil {
			d.Package = c.run.pkg.key()
		}
		for _, e := range s.report.Deferred {
			if e.Dir == d.Dir && slices.Equal(e.Args, d.Args) {
				return
			}
		}
		s.report.Deferred = append(s.report.Deferred, d)
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
		// Alone, what native left is for the user's `dpkg --configure
		// -a`, which expects dpkg --unpack's state. With HandOff the
		// exec step's second stage puts the conffiles aside itself.
		if p.state == dpkg.Unpacked && p.preinstRan && !s.opts.HandOff {
			if err := s.newConffiles(p); err != nil {
				return fmt.Errorf("native: %s: %w", p.key(), err)
			}
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

// newConffiles leaves p's conffiles as dpkg --unpack leaves those of a
// package installed for the first time: NAME.dpkg-new, recorded as
// "newconffile", for dpkg --configure to put in place and record the
// hash of. At NAME, dpkg --configure would keep "newconffile" for good.
func (s *sys) newConffiles(p *pkgState) error {
	f, ok := p.ctrl.Files["conffiles"]
	if !ok {
		return nil
	}
	for _, line := range strings.Split(string(f.Data), "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 || len(fields) > 1 && fields[0] == "remove-on-upgrade" {
			continue
		}
		name := fields[len(fields)-1]
		if _, err := s.st.Lstat(name); err != nil {
			continue // not shipped, or removed by a script
		}
		if _, err := s.st.Lstat(name + ".dpkg-new"); err == nil {
			continue
		}
		if err := s.st.Rename(name, name+".dpkg-new"); err != nil {
			return fmt.Errorf("conffile %s: %w", name, err)
		}
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
