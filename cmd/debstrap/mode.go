package main

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/debstrap/debstrap/bootstrap"
	"github.com/debstrap/debstrap/configure"
	"github.com/debstrap/debstrap/native"
	"github.com/debstrap/debstrap/rootfs"
)

var modes = []string{"auto", "root", "unshare", "native", "extract"}

// checkMode rejects an unknown --mode before anything is fetched.
func checkMode(mode string) error {
	for _, m := range modes {
		if m == mode {
			return nil
		}
	}
	return fmt.Errorf("--mode=%s: unknown mode (want one of %v)", mode, modes)
}

// configurer picks the configure step for --mode and the native
// architecture; scripts' output goes to w (nil: kept for error messages).
// auto is decided once the packages are unpacked (autoStep). A native
// configure step records its report in out (nil: nowhere).
func configurer(mode, arch string, log *slog.Logger, w io.Writer, lim native.Limits, out *nativeOutcome) (bootstrap.Configurer, error) {
	if arch == "" {
		arch = bootstrap.HostArchitecture()
	}
	if mode == "native" {
		return nativeStep{log: log, lim: lim, out: out}, nil
	}
	c, err := configure.Pick(configure.Mode(mode), arch)
	if mode == "auto" {
		a := &autoStep{log: log, native: nativeStep{log: log, lim: lim, out: out}}
		if err != nil {
			a.cannot = err.Error()
		} else {
			a.exec = &configureStep{c: c, log: log, w: w}
			a.why = "running as root"
			if c.Name() == string(configure.ModeUnshare) {
				a.why = "not root, and user namespaces with subordinate ids are available"
			}
		}
		return a, nil
	}
	if err != nil {
		return nil, err
	}
	return configureStep{c: c, log: log, w: w}, nil
}

// execNeeds are what the exec modes run in the root: the second stage is
// a /bin/sh script (dash, or bash's sh) that runs dpkg --configure -a.
var execNeeds = []struct{ path, from string }{
	{"/bin/sh", "dash or bash"},
	{"/usr/bin/dpkg", "dpkg"},
}

// missingForExec names what the unpacked root lacks for the exec modes
// ("" if nothing).
func missingForExec(st *rootfs.Stage) string {
	var miss []string
	for _, n := range execNeeds {
		if e, err := st.Stat(n.path); err != nil || e.Type != tar.TypeReg {
			miss = append(miss, n.path+" (from "+n.from+")")
		}
	}
	return strings.Join(miss, " and ")
}

// autoStep is --mode=auto: native first, then exec (root, else unshare)
// for what native left, when exec can run here and the package set has
// what it runs; else native alone, which executes nothing. In the first
// case the exec step also runs the commands that make the effects native
// would leave out (byte-compiling, hwdb, …), so the image lacks nothing.
// It says which in one log line.
type autoStep struct {
	log    *slog.Logger
	exec   *configureStep // nil: cannot run scripts here
	why    string         // why exec can run
	cannot string         // why not, when exec is nil
	native nativeStep
	name   string // what ran, once Configure ran
}

func (a *autoStep) Name() string {
	if a.name != "" {
		return a.name
	}
	return "auto"
}

// choose decides for the unpacked root st: whether exec finishes what
// native leaves (false: native alone), and the reason.
func (a *autoStep) choose(st *rootfs.Stage) (withExec bool, why string) {
	if a.exec == nil {
		return false, "maintainer scripts cannot be run here: " + a.cannot
	}
	if miss := missingForExec(st); miss != "" {
		return false, "the package set has no " + miss + ", which --mode=" + a.exec.Name() + " runs; native executes nothing"
	}
	return true, a.why
}

func (a *autoStep) Configure(ctx context.Context, st *rootfs.Stage, b *bootstrap.Build) error {
	withExec, why := a.choose(st)
	if !withExec {
		a.name = "native"
		a.log.Info("--mode=auto chose native", "reason", why)
		return a.native.Configure(ctx, st, b)
	}
	a.log.Info("--mode=auto: native first, then "+a.exec.Name()+" for what native leaves", "reason", why)
	n := a.native
	n.handOff = true
	rep, err := n.run(ctx, st, b)
	if err != nil {
		return err
	}
	if len(rep.Failed) == 0 && len(rep.Deferred) == 0 {
		a.name = "native"
		a.log.Info("native configured every package; nothing left for " + a.exec.Name())
		return nil
	}
	a.name = "native+" + a.exec.Name()
	var names, preinstDone []string
	for _, f := range rep.Failed {
		names = append(names, f.Package)
		if f.PreinstRan {
			preinstDone = append(preinstDone, f.Package)
		}
		a.log.Debug("left for "+a.exec.Name(), "package", f.Package, "script", f.Script, "state", string(f.State), "reason", f.Err)
	}
	deferred := make([]configure.Command, len(rep.Deferred))
	for i, d := range rep.Deferred {
		deferred[i] = configure.Command{Dir: d.Dir, Args: d.Args}
		a.log.Debug("deferred to "+a.exec.Name(), "package", d.Package, "command", strings.Join(d.Args, " "))
	}
	msg := fmt.Sprintf("native configured %d package(s); %s configures the %d left", len(rep.Configured), a.exec.Name(), len(names))
	if len(names) > 0 {
		msg += ": " + strings.Join(names, " ")
	}
	if len(deferred) > 0 {
		msg += fmt.Sprintf(", and runs %d command(s) native deferred", len(deferred))
	}
	a.log.Info(msg)
	if a.native.out != nil {
		a.native.out.handedOff = true
	}
	beside := pythonFreeRest(b, names)
	return a.exec.run(ctx, st, b, preinstDone, deferred, beside, rep.DpkgOrder.Essential, rep.DpkgOrder.Rest)
}

// pythonScript matches what in a maintainer script may byte-compile or
// run Python.
var pythonScript = regexp.MustCompile(`py3?compile|pypy|python`)

// pythonFreeRest says whether no script dpkg's step runs besides the
// deferred commands — those of the packages left (left), and the
// triggered postinst of any package with a trigger interest — mentions
// Python: the deferred byte-compiling may then go on beside dpkg's
// configuring (configure.Options.DeferredBeside).
func pythonFreeRest(b *bootstrap.Build, left []string) bool {
	isLeft := map[string]bool{}
	for _, n := range left {
		name, _, _ := strings.Cut(n, ":")
		isLeft[name] = true
	}
	for _, c := range b.Controls {
		if c == nil {
			continue
		}
		_, interested := c.Files["triggers"]
		if !isLeft[c.Get("Package")] && !interested {
			continue
		}
		for _, script := range []string{"preinst", "postinst", "prerm", "postrm"} {
			if f, ok := c.Files[script]; ok && pythonScript.Match(f.Data) {
				return false
			}
		}
	}
	return true
}

// configureStep adapts a configure.Configurer to the pipeline.
type configureStep struct {
	c   configure.Configurer
	log *slog.Logger
	w   io.Writer
}

func (s configureStep) Name() string { return s.c.Name() }

func (s configureStep) Configure(ctx context.Context, st *rootfs.Stage, b *bootstrap.Build) error {
	if miss := missingForExec(st); miss != "" && s.c.Name() != string(configure.ModeExtract) {
		return fmt.Errorf("the package set has no %s, which this mode runs; use --mode=native or --mode=auto", miss)
	}
	if err := s.run(ctx, st, b, nil, nil, false, nil, nil); err != nil {
		return err
	}
	if s.c.Name() == string(configure.ModeExtract) {
		return nil
	}
	// mmdebstrap installs all but the Essential set with apt, which
	// records what it installed automatically; native mode writes the
	// same (and auto's exec step finds it written).
	pkgs := nativePkgs(b)
	return native.WriteExtendedStates(st, pkgs, b.Plan.Architecture, manualPackages(b, pkgs))
}

// run runs the scripts; preinstDone names unpacked packages whose preinst
// ran already, deferred the commands to run before configuring them
// (deferredBeside: see configure.Options),
// firstOrder and restOrder the order to configure them in (all native
// mode's, in auto).
func (s configureStep) run(ctx context.Context, st *rootfs.Stage, b *bootstrap.Build, preinstDone []string, deferred []configure.Command, deferredBeside bool, firstOrder, restOrder []string) error {
	order := make([]string, len(b.Order))
	for i, p := range b.Order {
		order[i] = p.Name
	}
	return s.c.Configure(ctx, st, configure.Options{
		Logger: s.log, Arch: b.Plan.Architecture, Order: order, Epoch: b.Epoch,
		Stdout: s.w, Stderr: s.w, Step: b.Step,
		// Beside the staging root: removed with it.
		TempDir:        filepath.Dir(b.StageDir),
		PreinstDone:    preinstDone,
		Deferred:       deferred,
		DeferredBeside: deferredBeside,
		FirstOrder:     firstOrder,
		RestOrder:      restOrder,
	})
}

// nativePkgs are b's packages as native mode takes them, in unpack order.
func nativePkgs(b *bootstrap.Build) []native.Pkg {
	pkgs := make([]native.Pkg, len(b.Controls))
	for i, c := range b.Controls {
		pkgs[i] = native.Pkg{Control: c}
	}
	return pkgs
}

// manualPackages are the packages apt would record as asked for
// (ManualPackages, with the archive's priorities).
func manualPackages(b *bootstrap.Build, pkgs []native.Pkg) []string {
	priority := map[string]string{}
	for _, p := range b.Plan.Packages {
		priority[p.Name] = p.Priority
	}
	return native.ManualPackages(b.Variant, b.Include, pkgs, priority)
}

// nativeStep configures in Go, running nothing from the image.
type nativeStep struct {
	log *slog.Logger
	lim native.Limits
	out *nativeOutcome // nil: the report is not kept
	// handOff: a dpkg run follows (auto's native step,
	// native.Options.HandOff).
	handOff bool
}

// nativeOutcome is what a native configure step leaves for the build's
// final report.
type nativeOutcome struct {
	report *native.Report // nil until native mode ran
	// handedOff: an exec step configured what native left (auto).
	handedOff bool
}

// quiet says native mode had nothing to warn of (nothing left, nothing
// left out), or did not run: only then may the output be reused, since a
// reuse would not repeat the warnings.
func (o *nativeOutcome) quiet() bool {
	return o == nil || o.report == nil || (len(o.report.Failed) == 0 || o.handedOff) && len(o.report.Skipped) == 0
}

// skippedShown is how many of the effects native mode left out the final
// report names without -v.
const skippedShown = 5

// printSkipped names, at the end of a build, the effects native mode
// knowingly left out (Report.Skipped: hwdb.bin, the journal catalog, .pyc
// files, …): the first few, all with verbose. They are not failures (the
// packages are configured) but the image lacks them; docs/fidelity.md
// lists them.
func (o *nativeOutcome) printSkipped(log *slog.Logger, verbose bool) {
	if o == nil || o.report == nil || len(o.report.Skipped) == 0 {
		return
	}
	skipped := o.report.Skipped
	log.Info(fmt.Sprintf("native mode left out %d effect(s) of the maintainer scripts (see docs/fidelity.md)", len(skipped)))
	shown := skipped
	if !verbose && len(shown) > skippedShown {
		shown = shown[:skippedShown]
	}
	for _, e := range shown {
		log.Info("left out", "effect", e)
	}
	if n := len(skipped) - len(shown); n > 0 {
		log.Info(fmt.Sprintf("%d more; -v for all", n))
	}
}

func (nativeStep) Name() string { return "native" }

func (s nativeStep) Configure(ctx context.Context, st *rootfs.Stage, b *bootstrap.Build) error {
	rep, err := s.run(ctx, st, b)
	if err != nil {
		return err
	}
	if w := rep.Warning(); w != "" {
		s.log.Warn(w)
	}
	return nil
}

// run configures natively and keeps the report for the build's end.
func (s nativeStep) run(ctx context.Context, st *rootfs.Stage, b *bootstrap.Build) (*native.Report, error) {
	pkgs := nativePkgs(b)
	rep, err := native.Configure(ctx, st, b.DB, pkgs, native.Options{
		Arch:    b.Plan.Architecture,
		Epoch:   b.Epoch,
		Manual:  manualPackages(b, pkgs),
		Logger:  s.log,
		Limits:  s.lim,
		HandOff: s.handOff,
	})
	if err != nil {
		return nil, err
	}
	if s.out != nil {
		s.out.report = rep
	}
	return rep, nil
}

// nativeFlags bound each maintainer script native mode interprets.
type nativeFlags struct {
	timeout                time.Duration
	memory, output, writes sizeFlag
}

func (n *nativeFlags) register(fs *flag.FlagSet) {
	d := native.DefaultLimits
	n.timeout = d.Timeout
	n.memory, n.output, n.writes = sizeFlag(d.Memory), sizeFlag(d.Output), sizeFlag(d.Writes)
	fs.DurationVar(&n.timeout, "native-script-timeout", n.timeout, "native mode: wall-clock time one maintainer script may take")
	fs.Var(&n.memory, "native-script-memory", "native mode: memory one maintainer script may take (bytes, or with K, M, G)")
	fs.Var(&n.output, "native-script-output", "native mode: output one maintainer script may print (bytes, or with K, M, G)")
	fs.Var(&n.writes, "native-script-writes", "native mode: bytes one maintainer script may write into the root's files (or with K, M, G)")
}

func (n *nativeFlags) limits() native.Limits {
	return native.Limits{Timeout: n.timeout, Memory: int64(n.memory), Output: int64(n.output), Writes: int64(n.writes)}
}

// sizeFlag is a positive byte count: 4096, 64K, 512M, 1G (powers of 1024).
type sizeFlag int64

func (f *sizeFlag) String() string { return strconv.FormatInt(int64(*f), 10) }

func (f *sizeFlag) Set(s string) error {
	mult := int64(1)
	num := strings.TrimSuffix(strings.ToUpper(s), "B")
	if i := strings.IndexAny(num, "KMG"); i >= 0 && i == len(num)-1 {
		mult = map[byte]int64{'K': 1 << 10, 'M': 1 << 20, 'G': 1 << 30}[num[i]]
		num = num[:i]
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 || n > math.MaxInt64/mult {
		return fmt.Errorf("want a positive size in bytes, or with K, M or G")
	}
	*f = sizeFlag(n * mult)
	return nil
}

// modeKey names how this build runs maintainer scripts, for the reuse of
// an earlier build's output (bootstrap.BuildConfig.ModeKey): the mode,
// auto's choice here (exec or native alone, which may leave packages),
// and native mode's limits (a script over one is left).
func modeKey(mode string, conf bootstrap.Configurer, lim native.Limits) string {
	k := mode
	if a, ok := conf.(*autoStep); ok {
		if a.exec != nil {
			k += "+" + a.exec.Name()
		} else {
			k += "+native"
		}
	}
	return fmt.Sprintf("%s %+v", k, lim)
}

// toolID is the SHA-256 of this program: an earlier build's output is
// reused only by the very same debstrap. "" if it cannot be read.
func toolID() string {
	exe, err := os.Executable()
	if err != nil {
		return ""
	}
	f, err := os.Open(exe)
	if err != nil {
		return ""
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return ""
	}
	return hex.EncodeToString(h.Sum(nil))
}
