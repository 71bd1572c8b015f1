package bootstrap

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/debstrap/debstrap/apt"
	"github.com/debstrap/debstrap/cache"
	"github.com/debstrap/debstrap/deb"
	"github.com/debstrap/debstrap/dpkg"
	"github.com/debstrap/debstrap/export"
	"github.com/debstrap/debstrap/hooks"
	"github.com/debstrap/debstrap/lock"
	"github.com/debstrap/debstrap/profile"
	"github.com/debstrap/debstrap/rootfs"
)

// BuildConfig is a Config plus what to make of the resolved set.
type BuildConfig struct {
	Config
	Target string
	// Stdout receives the image when Target is "-" (nil: os.Stdout).
	Stdout io.Writer
	// Lock, when set, fixes the package set: nothing is resolved (see
	// FromLock); Config's request must be the lock's.
	Lock *lock.Lock
	// ToolID names this debstrap exactly (the SHA-256 of its program),
	// asked only when an output may be reused, and ModeKey how it runs
	// scripts here (auto's choice, native limits): with them, a build
	// whose inputs equal an earlier one's writes that output again
	// (result.go). Nil ToolID, or "": never. Rebuild builds anyway (and
	// keeps the new output).
	ToolID  func() string
	ModeKey string
	Rebuild bool
	// SBOM, if set, is a file to write the image's SBOM to (SPDX or
	// CycloneDX JSON by its name, see sbom.FormatFor); an OCI output
	// also carries it, attached to the image. Version is debstrap's,
	// for the SBOM's creator.
	SBOM, Version string
	// Keepable says, after the build, whether its output may be reused
	// (nil: yes): not when the build had warnings a reuse would not
	// repeat (native mode's packages left, effects left out).
	Keepable func() bool
	Format   string // "" = from Target's name
	// ImageMirror is the URL the image's apt sources use instead of the
	// first source's (a mirror made with 'debstrap mirror', as it will
	// be served); the archives beside that source (its security archive)
	// are taken to be beside ImageMirror too. "": the sources built from.
	ImageMirror string
	Mode        string // configure mode: auto, root, unshare, extract, native
	// Image is the user's name, config and annotations of an image
	// format, over the defaults (see imageConfig); a format without them
	// must get the zero value.
	Image export.ImageConfig
	// Epoch is SOURCE_DATE_EPOCH; zero = the Date of the suite's Release,
	// so the same archive state gives the same image.
	Epoch time.Time
	// XZCommand decompresses xz data members when set (a path to xz(1));
	// "" decodes them in Go. See deb.Reader.UseXZCommand.
	XZCommand string
	// TempDir holds the staging root; "" = $TMPDIR if set, else /dev/shm
	// if it has room, else /tmp (see stagingParent).
	TempDir string
	// RemoveTree removes a tree a killed build left that the builder
	// alone cannot (a killed unshare build's files of subordinate ids):
	// configure.RemoveTree. Nil: such a tree stays, with a warning.
	RemoveTree func(ctx context.Context, dir string) error
	// Configure finishes the root after unpacking (the --mode); nil leaves
	// packages unpacked, as --mode=extract does.
	Configure Configurer
	// Phase is told when a phase starts and how many steps it has, and
	// Step when one is done; both optional (progress display).
	Phase func(name string, steps int)
	Step  func()
	// AptConf and DpkgConf are the text of --aptopt and --dpkgopt, for
	// /etc/apt/apt.conf.d/99debstrap and /etc/dpkg/dpkg.cfg.d/99debstrap;
	// DpkgConf's path-exclude and path-include filter what is unpacked.
	AptConf, DpkgConf string
	// Skip names the steps of mmdebstrap's --skip that apply here
	// (Skips lists them).
	Skip map[string]bool
	// Hooks are mmdebstrap's hooks, run at their points by HookRunner
	// (shell hooks) or on the stage (special hooks); HookEnv is what
	// they are told of the build. A build with hooks is never reused.
	Hooks      []hooks.Hook
	HookRunner hooks.Runner
	HookEnv    hooks.Env
	// Profile, when set, makes the root as a well-known image's is made
	// (the official Docker images'): its sources, configuration files,
	// apt marks and what its tarball leaves out; see package profile.
	Profile *profile.Profile
	// ExportProgress is told the bytes of file content written so far
	// and the total while the image is written; optional.
	ExportProgress func(done, total int64)
	// Registry is how a registry target (docker://…) is pushed to:
	// credentials, insecure, retries, upload progress.
	Registry export.Registry
	// Platforms, when set, builds one root per Debian architecture
	// (amd64, arm64, armhf, …) from the same sources, each as a
	// single-architecture build, and writes their images as one image
	// index (an OCI layout, an OCI archive or a registry image).
	// Config.Architectures must then be empty.
	Platforms []string
	// ConfigureFor gives the configure step of one platform's
	// architecture (the host may run one and not another); nil: Configure
	// for every platform.
	ConfigureFor func(arch string) (Configurer, error)
}

// Configurer finishes an unpacked root: it runs (or reproduces) the
// maintainer scripts and leaves the metadata table describing the result.
type Configurer interface {
	Name() string
	Configure(ctx context.Context, st *rootfs.Stage, b *Build) error
}

// Build is a build in progress, as a Configurer sees it.
type Build struct {
	Plan     *Plan
	Debs     map[*apt.Package]string // the verified .deb of each package in the cache
	Order    []*apt.Package          // unpack order
	Controls []*deb.Control          // control member of each package, in Order
	Variant  string
	Include  []string
	DB       *dpkg.DB
	Epoch    time.Time
	StageDir string
	// Step is BuildConfig.Step: a Configurer calls it as each package
	// is configured. Never nil.
	Step func()
}

// Result summarises a finished build.
type Result struct {
	Plan     *Plan // nil when Reused from a lock
	Codename string
	Packages int
	// Reused: the output is an earlier build's, kept in the cache.
	Reused   bool
	Format   export.Format
	Digest   string
	Size     int64 // of the target file; 0 for directories
	Duration time.Duration
	Phases   []PhaseTime
	// Platforms are the parts of a multi-platform build, in the order
	// asked; nil for a single root. Plan is then the first platform's,
	// Packages the sum, Digest the index's.
	Platforms []PlatformResult
}

// PhaseTime is how long one phase took.
type PhaseTime struct {
	Name     string
	Duration time.Duration
}

// Run builds cfg.Target: resolve, download, unpack, write the dpkg
// database, configure, export. The target appears whole or not at all; the
// staging directory is removed whatever happens.
func Run(ctx context.Context, c *cache.Cache, cfg BuildConfig) (*Result, error) {
	if len(cfg.Platforms) > 0 {
		return runPlatforms(ctx, c, cfg)
	}
	start := time.Now()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	log := cfg.Logger
	res := &Result{}
	phase := func(name string, steps int) func() {
		if cfg.Phase != nil {
			cfg.Phase(name, steps)
		}
		t := time.Now()
		return func() { res.Phases = append(res.Phases, PhaseTime{name, time.Since(t)}) }
	}
	format, err := export.FormatFor(cfg.Target, cfg.Format)
	if err != nil {
		return nil, err
	}
	res.Format = format
	remove, err := prepareBuild(ctx, cfg, format, log)
	if err != nil {
		return nil, err
	}

	// reused finishes a build whose output was kept: res says so.
	reused := func(key string) bool {
		if cfg.Rebuild || key == "" {
			return false
		}
		meta, ok := reuse(ctx, c, key, cfg, log)
		if !ok {
			return false
		}
		log.Info("the same build's output is in the cache: written again", "key", key[:12])
		res.Reused, res.Codename, res.Packages, res.Digest = true, meta.Codename, meta.Packages, meta.Digest
		if fi, err := os.Stat(cfg.Target); err == nil && !fi.IsDir() {
			res.Size = fi.Size()
		}
		res.Duration = time.Since(start)
		return true
	}
	var key string
	// locked is the set as a lock, the lock's or the resolved plan's: the
	// kept-output key and the image config come from it.
	locked := cfg.Lock
	if l := cfg.Lock; l != nil {
		epoch := cfg.Epoch
		if epoch.IsZero() {
			epoch = time.Unix(l.Epoch, 0)
		}
		if key, err = resultKey(cfg, format, epoch.UTC().Truncate(time.Second), l); err != nil {
			return nil, err
		}
		if reused(key) {
			return res, nil
		}
	}

	done := phase("resolve", 0)
	var plan *Plan
	if cfg.Lock != nil {
		plan, err = FromLock(ctx, c, cfg.Lock, cfg.Config)
	} else {
		plan, err = Resolve(ctx, c, cfg.Config)
	}
	if err != nil {
		return nil, err
	}
	done()
	res.Plan = plan
	epoch := cfg.Epoch
	switch {
	case !epoch.IsZero():
	case cfg.Lock != nil:
		epoch = time.Unix(cfg.Lock.Epoch, 0)
	default:
		epoch = plan.Archives[0].Release().Date
	}
	epoch = epoch.UTC().Truncate(time.Second)
	res.Codename, res.Packages = plan.Release.Codename, len(plan.Packages)
	if cfg.Lock == nil {
		locked = plan.Lock(cfg.Config, epoch)
		if key, err = resultKey(cfg, format, epoch, locked); err != nil {
			return nil, err
		}
		if reused(key) {
			return res, nil
		}
	}

	st, closeRoot, err := makeRoot(ctx, c, cfg, cfg.Configure, plan, epoch, phase, remove, log)
	if err != nil {
		return nil, err
	}
	defer closeRoot()
	done = phase("export", 0)
	arch, variant, err := export.OCIPlatform(plan.Architecture)
	if err != nil && format.HoldsConfig() {
		return nil, err
	}
	var sbomData []byte
	var referrers []export.Referrer
	if cfg.SBOM != "" {
		data, f, err := makeSBOM(st, plan, cfg.SBOM, cfg.Version, epoch)
		if err != nil {
			return nil, err
		}
		sbomData = data
		if attachable(format) {
			referrers = []export.Referrer{{ArtifactType: f.MediaType(), Data: data}}
		}
	}
	rd := st.Reader()
	defer rd.Close()
	res.Digest, err = export.Write(ctx, export.FromFiles(rd), cfg.Target, export.Options{
		Format: format, Epoch: epoch, Architecture: arch, Variant: variant, Log: log, Stdout: cfg.Stdout,
		Progress: cfg.ExportProgress, Referrers: referrers, Image: imageConfig(cfg.Image, format, locked),
		Registry: cfg.Registry,
	})
	if err != nil {
		return nil, err
	}
	if sbomData != nil {
		if err := export.Copy(ctx, bytes.NewReader(sbomData), cfg.SBOM, nil); err != nil {
			return nil, fmt.Errorf("writing the SBOM: %w", err)
		}
	}
	done()
	if fi, err := os.Stat(cfg.Target); err == nil && fi.Mode().IsRegular() && format != export.FormatNull && format != export.FormatRegistry {
		res.Size = fi.Size()
	}
	if key != "" && (cfg.Keepable == nil || cfg.Keepable()) {
		keep(c, key, cfg.Target, resultMeta{Codename: res.Codename, Packages: res.Packages, Digest: res.Digest}, log)
	}
	res.Duration = time.Since(start)
	return res, nil
}

// makeRoot builds the staging root of plan: download, unpack, the dpkg
// database, apt's sources, configure (conf; nil leaves packages
// unpacked), device nodes and apt's state. The caller exports it, then
// calls closeRoot, which removes it.
func makeRoot(ctx context.Context, c *cache.Cache, cfg BuildConfig, conf Configurer, plan *Plan, epoch time.Time,
	phase func(string, int) func(), remove func(string) error, log *slog.Logger) (st *rootfs.Stage, closeRoot func(), err error) {
	// Not closeRoot itself: an error return sets it to nil first.
	var cleanups []func()
	cleanup := func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
		cleanups = nil
	}
	defer func() {
		if err != nil {
			cleanup()
		}
	}()
	if err := cfg.Profile.Check(plan.Release); err != nil {
		return nil, nil, err
	}
	done := phase("download", len(plan.Packages))
	paths, err := c.FetchAll(ctx, plan.Items())
	if err != nil {
		return nil, nil, err
	}
	done()
	b := &Build{Plan: plan, Debs: map[*apt.Package]string{}, Epoch: epoch, Variant: cfg.Variant, Include: cfg.Include, Step: cfg.Step}
	if b.Step == nil {
		b.Step = func() {}
	}
	for i, p := range plan.Packages {
		b.Debs[p] = paths[i]
	}

	var installed int64
	for _, p := range plan.Packages {
		installed += p.InstalledSize << 10
	}
	tmp, lock, err := makeStaging(stagingParent(cfg.TempDir, installed, log))
	if err != nil {
		return nil, nil, err
	}
	cleanups = append(cleanups, func() {
		// Removed under the mark: a sweep must not take it for dead.
		if err := remove(tmp); err != nil {
			log.Warn("could not remove the staging directory", "dir", tmp, "err", err)
		}
		lock.Release()
	})
	b.StageDir = filepath.Join(tmp, "root")
	byName := map[string]*apt.Package{}
	for _, p := range plan.Packages {
		byName[p.Name] = p
	}
	var filters dpkg.Filters
	filters.AddConfig(cfg.Profile.Excludes(plan.Release))
	filters.AddConfig(cfg.DpkgConf)
	ropts := rootfs.Options{
		MergedUsr:  cfg.MergedUsr,
		Arch:       plan.Architecture,
		Epoch:      epoch,
		Logger:     log,
		OnConflict: conflictPolicy(byName),
	}
	if cfg.Lock != nil {
		ropts.MergedUsr = cfg.Lock.MergedUsr
	}
	if ropts.MergedUsr && baseFilesMergesUsr(plan.Release) {
		// debootstrap merges after unpacking, the directories there are:
		// base-files' own links leave nothing to do (and no lib32).
		ropts.MergedUsr = false
	}
	if !filters.Empty() {
		ropts.Skip = filters.Skip
	}
	st, err = rootfs.Create(b.StageDir, ropts)
	if err != nil {
		return nil, nil, err
	}
	// Not st itself: an error return sets it to nil before cleaning up.
	stage := st
	cleanups = append(cleanups, func() { stage.Close() })
	if err := writeOptions(st, cfg); err != nil {
		return nil, nil, err
	}
	if err := runHooks(ctx, st, cfg, hooks.Setup); err != nil {
		return nil, nil, err
	}

	b.Order = UnpackOrder(plan.Packages)
	done = phase("unpack", len(b.Order))
	units, err := unpackAll(ctx, st, b.Order, b.Debs, readOptions{payloads: newPayloads(c, log), xzCommand: cfg.XZCommand, cache: c, log: log, native: plan.Architecture}, unpackWorkers(), log, cfg.Step)
	if err != nil {
		return nil, nil, err
	}
	b.DB = dpkg.New(plan.Architecture, plan.Foreign...)
	for _, u := range units {
		b.Controls = append(b.Controls, u.control)
		control := u.control
		if cfg.Profile != nil {
			control = indexClass(control, u.pkg, plan)
		}
		if err := b.DB.Add(dpkg.Package{Control: control, Files: u.files, State: dpkg.Unpacked}); err != nil {
			return nil, nil, fmt.Errorf("dpkg database: %s: %w", u.pkg.Name, err)
		}
	}
	if err := b.DB.Write(dbRoot{st}); err != nil {
		return nil, nil, fmt.Errorf("writing the dpkg database: %w", err)
	}
	if err := writeAptConfig(st, plan, cfg.Config, cfg.ImageMirror, cfg.Profile); err != nil {
		return nil, nil, err
	}
	done()

	if err := runHooks(ctx, st, cfg, hooks.Extract); err != nil {
		return nil, nil, err
	}

	if conf != nil {
		done = phase("configure", len(b.Order))
		if err := conf.Configure(ctx, st, b); err != nil {
			return nil, nil, fmt.Errorf("configure (--mode=%s): %w", conf.Name(), err)
		}
		done()
	}

	if !cfg.Skip["output/dev"] {
		if err := addDevNodes(st); err != nil {
			return nil, nil, err
		}
	}
	if err := finishApt(st); err != nil {
		return nil, nil, fmt.Errorf("apt state: %w", err)
	}
	if p := cfg.Profile; p != nil {
		if err := p.Configured(st, plan.Release, installedPackages(plan), plan.Architecture, manualPackages(cfg), epoch); err != nil {
			return nil, nil, fmt.Errorf("--profile=%s: %w", p.Name, err)
		}
	}
	err = withAptLists(ctx, st, cfg, plan, func() error {
		if err := runHooks(ctx, st, cfg, hooks.Essential); err != nil {
			return err
		}
		return runHooks(ctx, st, cfg, hooks.Customize)
	})
	if err != nil {
		return nil, nil, err
	}
	if p := cfg.Profile; p != nil {
		if err := p.Finish(st, plan.Release, plan.Architecture); err != nil {
			return nil, nil, fmt.Errorf("--profile=%s: %w", p.Name, err)
		}
	}
	return st, cleanup, nil
}

// prepareBuild clears what killed builds left — their temporaries would make
// a directory target look full, and hold memory in /dev/shm — and finds
// an unusable target or image config before minutes of work, not after.
// It returns how staging trees are removed (on cancellation too).
func prepareBuild(ctx context.Context, cfg BuildConfig, format export.Format, log *slog.Logger) (func(string) error, error) {
	remove := treeRemover(context.WithoutCancel(ctx), cfg.RemoveTree)
	export.Sweep(cfg.Target, log)
	sweepStaging(stagingParents(cfg.TempDir), remove, log)
	if err := export.CheckTarget(cfg.Target, format); err != nil {
		return nil, err
	}
	if err := checkImage(cfg.Image, format, cfg.Target); err != nil {
		return nil, err
	}
	return remove, nil
}

func unpackWorkers() int {
	n := runtime.GOMAXPROCS(0) + 1
	if n > 8 {
		n = 8
	}
	return n
}

// ImageEntries are the sources an image's apt is pointed at: entries,
// with the first one's URI replaced by imageMirror and the URIs beside it
// (same parent: "debian-security" beside "debian") moved beside
// imageMirror; other archives unchanged. "" leaves entries as they are.
func ImageEntries(entries []apt.Entry, imageMirror string) []apt.Entry {
	if imageMirror == "" || len(entries) == 0 {
		return entries
	}
	imageMirror = strings.TrimRight(imageMirror, "/")
	first := strings.TrimRight(entries[0].URI, "/")
	parent := func(u string) string { return u[:strings.LastIndex(u, "/")+1] }
	out := make([]apt.Entry, len(entries))
	for i, e := range entries {
		u := strings.TrimRight(e.URI, "/")
		switch {
		case u == first:
			e.URI = imageMirror
		case parent(u) == parent(first):
			e.URI = parent(imageMirror) + u[len(parent(u)):]
		}
		out[i] = e
	}
	return out
}

// dbRoot lets the dpkg database write into the stage, owned by root.
type dbRoot struct{ st *rootfs.Stage }

func (r dbRoot) WriteFile(path string, data []byte, mode int64) error {
	return r.st.WriteFile(path, data, rootfs.Entry{Mode: mode})
}

func (r dbRoot) MkdirAll(path string, mode int64) error {
	return r.st.MkdirAll(path, rootfs.Entry{Mode: mode})
}

// writeAptConfig points the image's apt at the mirrors the build used, as
// mmdebstrap does (/etc/apt/sources.list, one line a source) or as prof's
// image has them, and trusts a --keyring that is not one of the
// distribution's own.
func writeAptConfig(st *rootfs.Stage, plan *Plan, cfg Config, imageMirror string, prof *profile.Profile) error {
	entries := ImageEntries(plan.Entries, imageMirror)
	// Variants without apt (essential, custom) have no /etc/apt yet;
	// mmdebstrap creates it before unpacking, whatever the variant.
	for _, d := range []string{"/etc/apt", "/etc/apt/trusted.gpg.d"} {
		if err := st.MkdirAll(d, rootfs.Entry{Mode: 0o755}); err != nil {
			return fmt.Errorf("creating %s: %w", d, err)
		}
	}
	if prof != nil {
		if err := prof.Sources(st, plan.Release, entries, cfg.Keyring == ""); err != nil {
			return fmt.Errorf("--profile=%s: %w", prof.Name, err)
		}
	} else {
		var b strings.Builder
		for _, e := range entries {
			// Options (signed-by of the host's key path) do not carry over.
			fmt.Fprintf(&b, "deb %s %s %s\n", e.URI, e.Suite, strings.Join(e.Components, " "))
		}
		if err := st.WriteFile("/etc/apt/sources.list", []byte(b.String()), rootfs.Entry{Mode: 0o644}); err != nil {
			return fmt.Errorf("writing /etc/apt/sources.list: %w", err)
		}
	}
	if cfg.Keyring != "" {
		fi, err := os.Stat(cfg.Keyring)
		if err != nil {
			return err
		}
		if !fi.IsDir() {
			data, err := os.ReadFile(cfg.Keyring)
			if err != nil {
				return err
			}
			ext := ".gpg"
			if strings.HasPrefix(string(data), "-----BEGIN") {
				ext = ".asc"
			}
			if err := st.WriteFile("/etc/apt/trusted.gpg.d/debstrap-keyring"+ext, data, rootfs.Entry{Mode: 0o644}); err != nil {
				return err
			}
		}
	}
	return nil
}

// removeAll removes a staging directory, making directories writable on
// the way down (a configured root has read-only ones).
func removeAll(dir string) error {
	err := os.RemoveAll(dir)
	if err == nil || !errors.Is(err, os.ErrPermission) {
		return err
	}
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chmod(p, 0o700)
		}
		return nil
	})
	return os.RemoveAll(dir)
}

// EpochFromEnv reads SOURCE_DATE_EPOCH (seconds since 1970); "" = zero time.
func EpochFromEnv(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH=%q: not a number of seconds", s)
	}
	return time.Unix(n, 0).UTC(), nil
}
