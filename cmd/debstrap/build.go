package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/debstrap/debstrap/apt"
	"github.com/debstrap/debstrap/bootstrap"
	"github.com/debstrap/debstrap/configure"
	"github.com/debstrap/debstrap/distro"
	"github.com/debstrap/debstrap/export"
	"github.com/debstrap/debstrap/hooks"
	"github.com/debstrap/debstrap/internal/progress"
	"github.com/debstrap/debstrap/lock"
	"github.com/debstrap/debstrap/spec"
)

const buildHelp = `Usage: debstrap build [flags] SUITE TARGET [MIRROR...]
       debstrap build --lock=LOCKFILE [flags] TARGET [FALLBACK-MIRROR...]
       debstrap build -f SPEC [flags] [[SUITE] TARGET [MIRROR...]]

Builds a root filesystem of SUITE (bookworm, trixie, noble, ...) and writes
it to TARGET. The format comes from TARGET's name, or --format:

  DIR/ or a name without a dot   a directory
  NAME.tar, .tar.gz, .tar.xz, .tar.zst   a tarball (docker import, podman import)
  NAME.oci                       an OCI image layout directory (skopeo, podman)
  NAME.oci.tar                   an OCI archive (docker load, podman load)
  NAME.docker.tar                a docker-archive (docker load)
  NAME.squashfs, NAME.sqfs       a squashfs image (tar2sqfs, from squashfs-tools-ng)
  NAME.ext4                      an ext4 image sized to fit (mke2fs and debugfs,
                                 from e2fsprogs)
  /dev/null                      null: build and check everything, write nothing
                                 (--format=null takes any TARGET)
  docker://REGISTRY/REPO[:TAG]   pushed to a registry (only the blobs it lacks;
                                 see 'debstrap push --help' for credentials)

Everything runs as an ordinary user; owners, modes and device nodes are
recorded in a table and written into the image as they should be (a
squashfs or ext4 image too: its tool is fed from the table, and a tool
that is missing is named with its package before the build starts). The
output is reproducible: with the same archive state, and SOURCE_DATE_EPOCH
(default: the Date of the suite's Release), two builds are byte-identical
(squashfs and ext4: with the same version of their host tools).

--mode decides how maintainer scripts are run (mmdebstrap's word):
  auto      root if run as root, else unshare, else native (the default)
  root      chroot into the staging root and run the image's own dpkg
  unshare   the same inside a user namespace, as an ordinary user
  native    reproduce the maintainer scripts in Go: no root, no namespaces,
            any architecture
  extract   unpack only; packages stay unpacked for 'dpkg --configure -a'

Speed: the staging root goes to /dev/shm when that is a tmpfs with room
(TMPDIR chooses another place); xz data members are decompressed by the
host's xz(1) when there is one, about twice as fast as in Go
(DEBSTRAP_XZ=go decodes in Go, DEBSTRAP_XZ=PATH names the program); each
package's decompressed data is kept in the cache, so the next build of the
same packages skips decompressing xz altogether.

An image (.oci, .oci.tar, .docker.tar, docker://) is configured as Docker's official
Debian or Ubuntu image (PATH, bash), named after TARGET (bookworm.oci.tar
is bookworm:latest) and annotated with its creation time (the epoch) and
the release's version; --tag (or --name), --env, --label, --annotation,
--cmd, --entrypoint, --workdir and --user change that. --cmd and
--entrypoint take a JSON array ('["bash","-l"]') or words as sh splits
them ('bash -l'), expanding nothing; "" means none.

--platforms=amd64,arm64,armhf builds one root per architecture from the
same sources (opened once, so every platform sees one archive state) and
writes one multi-platform image index: NAME.oci, NAME.oci.tar or
docker://… (a docker-archive holds one image only). Platforms are built two
at a time; --mode=auto runs maintainer scripts where the host can execute
the architecture and configures the others natively. Reproducible as a
single image is.

--lock installs exactly a lock file's packages (see 'debstrap lock'); -f
reads flags and arguments from a YAML spec file (docs/reproducible.md).
--sbom also writes the image's SBOM. A build whose inputs equal an earlier
one's writes that output again from the cache (--rebuild: build anyway).

Examples:
  debstrap build --variant=minbase bookworm bookworm.tar
  debstrap build --lock=bookworm.lock --sbom=bookworm.spdx.json bookworm.oci.tar
  debstrap build -f examples/trixie-curl-ci.yaml
  debstrap build --include=curl,ca-certificates trixie trixie.oci.tar
  debstrap build --tag=registry.example/base:12 --label=org.example.team=infra \
      --env=LANG=C.UTF-8 --cmd='["bash","-l"]' bookworm base.oci
  debstrap build bookworm docker://localhost:5000/debian:bookworm
  debstrap build --platforms=amd64,arm64,armhf bookworm bookworm.oci.tar
  SOURCE_DATE_EPOCH=1700000000 debstrap build bookworm rootfs.tar.zst
  debstrap build --variant=minbase bookworm bookworm.squashfs
  debstrap build --variant=minbase bookworm bookworm.ext4
  debstrap build --variant=minbase --components=main,universe noble noble.tar \
      "deb http://MIRROR/ubuntu noble main universe" \
      "deb http://MIRROR/ubuntu noble-updates main universe"
`

func runBuild(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("build", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c common
	c.register(fs)
	mode := fs.String("mode", "auto", "how to configure packages: "+strings.Join(modes, ", "))
	format := fs.String("format", "", "output format: "+formatList()+" (default: from TARGET)")
	lockFile := fs.String("lock", "", "install exactly the set of this lock file (debstrap lock), resolving nothing; then give TARGET [MIRROR...], MIRROR being fallback mirrors")
	var fallbacks listFlag
	fs.Var(&fallbacks, "fallback-mirror", "with --lock: a mirror to fetch .debs from by pool path when the lock's sources no longer have them (repeatable)")
	sbomFile := fs.String("sbom", "", "also write the image's SBOM to this file: SPDX 2.3 JSON (NAME.spdx.json) or CycloneDX 1.6 JSON (NAME.cdx.json); an OCI image carries it attached (see docs/sbom.md)")
	imageMirror := fs.String("image-mirror", "", "the URL the image's apt sources use instead of the first MIRROR (where a 'debstrap mirror' will be served); the archives beside it, such as debian-security, are taken to be beside this URL too")
	rebuild := fs.Bool("rebuild", false, "build even when the cache holds the output of a build with the same inputs (lock or resolved set, flags, debstrap itself)")
	var nf nativeFlags
	nf.register(fs)
	var imf imageFlags
	imf.register(fs)
	var hf hookFlags
	hf.register(fs)
	var of optFlags
	of.register(fs)
	var rf registryFlags
	rf.register(fs)
	var platforms listFlag
	fs.Var(&platforms, "platforms", "build one root per Debian architecture (amd64,arm64,armhf,…; comma-separated, repeatable) from the same sources and write them as one multi-platform image index: an OCI layout (.oci), an OCI archive (.oci.tar) or a registry (docker://); --mode applies to each (auto: exec where the host runs the architecture, else native)")
	pos, err := parse(fs, args, nil, buildHelp, stdout)
	if err != nil {
		return err
	}
	// Flags set on the command line, before the spec sets more.
	var cmdline []string
	fs.Visit(func(f *flag.Flag) { cmdline = append(cmdline, f.Name) })
	sp, err := c.loadSpec(fs)
	if err != nil {
		return err
	}
	var locked *lock.Lock
	if *imageMirror != "" {
		if err := apt.CheckURI(*imageMirror); err != nil {
			return usageError{fmt.Errorf("--image-mirror: %w", err)}
		}
	}
	if *lockFile != "" {
		// build --lock=LOCKFILE TARGET [MIRROR...]: the lock names the
		// suite and the set; MIRRORs are fallback mirrors.
		if pos, err = arguments(sp, pos, []string{"TARGET"}, []string{spec.KeyTarget}, false); err != nil {
			return err
		}
		if set := requestFlags(cmdline); len(set) > 0 {
			return usageError{fmt.Errorf("%s with --lock: the lock fixes the package set; change it with 'debstrap lock'", strings.Join(set, ", "))}
		}
		if locked, err = lock.ReadFile(*lockFile); err != nil {
			return err
		}
		if err := c.matchesLock(locked, *lockFile); err != nil {
			return err
		}
		fallbacks = append(fallbacks, pos[1:]...)
		pos = []string{locked.Suite, pos[0]}
	} else {
		if pos, err = arguments(sp, pos, []string{"SUITE", "TARGET"}, []string{spec.KeySuite, spec.KeyTarget}, true); err != nil {
			return err
		}
		if len(fallbacks) > 0 {
			return usageError{errors.New("--fallback-mirror is for --lock builds")}
		}
	}
	if *sbomFile != "" {
		// Before minutes of work, as for the target.
		if fi, err := os.Stat(filepath.Dir(*sbomFile)); err != nil || !fi.IsDir() {
			return fmt.Errorf("--sbom=%s: no directory %s to write it in", *sbomFile, filepath.Dir(*sbomFile))
		}
	}
	epoch, err := specEpoch(sp)
	if err != nil {
		return err
	}
	// A usage error must not touch the disk (the cache directory).
	if err := checkMode(*mode); err != nil {
		return usageError{err}
	}
	if len(platforms) > 0 {
		if err := bootstrap.CheckPlatforms(platforms); err != nil {
			return usageError{fmt.Errorf("--platforms: %w", err)}
		}
	}
	// Image flags a format cannot hold, before minutes of work. A format
	// that cannot be told is the build's error to report.
	if outFormat, err := export.FormatFor(pos[1], *format); err == nil {
		var set []string // the command line's and the spec's
		fs.Visit(func(f *flag.Flag) { set = append(set, f.Name) })
		if err := imf.check(set, outFormat); err != nil {
			return usageError{err}
		}
	}
	if rel, ok := distro.Lookup(pos[0]); ok {
		// A suite the profile does not know, before minutes of work.
		if err := c.prof.Check(rel); err != nil {
			return usageError{err}
		}
	}
	hookList, err := hf.hooks()
	if err != nil {
		return err
	}
	aptConf, dpkgConf, err := of.texts()
	if err != nil {
		return err
	}
	skips, err := of.skips()
	if err != nil {
		return usageError{err}
	}
	log := c.logger(stderr)
	var arch string
	if len(c.architectures) > 0 {
		arch = c.architectures[0]
	}
	var scripts io.Writer
	if c.verbose {
		scripts = stderr
	}
	nout := &nativeOutcome{}
	var conf bootstrap.Configurer
	// Each platform gets its own configure step (ConfigureFor below):
	// auto may run one architecture's scripts and not another's.
	outcomes := map[string]*nativeOutcome{}
	if len(platforms) == 0 {
		if conf, err = configurer(*mode, arch, log, scripts, nf.limits(), nout); err != nil {
			return err
		}
	}
	for _, p := range platforms {
		outcomes[p] = &nativeOutcome{}
	}
	ch, err := c.cache(stderr, log)
	if err != nil {
		return err
	}
	// Phases other than the download count packages on the progress line.
	counter := &stepCounter{bar: c.bar}
	config := c.config(pos[0], pos[2:], log)
	// --aptopt's Install-Recommends and Check-Valid-Until steer the
	// build, as they steer mmdebstrap's apt (an explicit flag wins).
	if rec, nvu := aptSteers(aptConf); locked == nil {
		if rec != nil && !slices.Contains(cmdline, "include-recommends") {
			config.Recommends = *rec
		}
		if nvu != nil && !slices.Contains(cmdline, "no-check-valid-until") {
			config.NoCheckValidUntil = *nvu
		}
	}
	if locked != nil {
		config = lockConfig(&c, locked, nil, log)
		config.FallbackMirrors = fallbacks
	}
	cfg := bootstrap.BuildConfig{
		Config: config,
		Lock:   locked,
		Target: pos[1],
		Stdout: stdout,
		// A killed unshare build's files of subordinate ids.
		RemoveTree:  configure.RemoveTree,
		Format:      *format,
		Mode:        *mode,
		Image:       imf.config(),
		ToolID:      toolID,
		ModeKey:     modeKey(*mode, conf, nf.limits()),
		Rebuild:     *rebuild,
		SBOM:        *sbomFile,
		ImageMirror: *imageMirror,
		Hooks:       hookList,
		Profile:     c.prof,
		AptConf:     aptConf,
		DpkgConf:    dpkgConf,
		Skip:        skips,
		HookRunner:  hookRunner(*mode, stderr, stderr),
		HookEnv: hooks.Env{Mode: *mode, Suite: pos[0], Variant: c.variant, Format: *format,
			Include: c.include, Verbosity: verbosity(&c), Argv0: os.Args[0]},
		Version:   version(),
		Keepable:  nout.quiet,
		Epoch:     epoch,
		Configure: conf,
		XZCommand: xzCommand(os.Getenv("DEBSTRAP_XZ"), log),
		Phase: func(name string, steps int) {
			c.bar.Finish()
			counter.end()
			if steps > 0 {
				log.Info(name, "packages", steps)
			} else {
				log.Info(name)
			}
			counter.start(name, steps)
		},
		Step:      counter.step,
		Registry:  rf.config(c.bar),
		Platforms: platforms,
		ExportProgress: func(done, total int64) {
			if c.bar.Enabled() {
				c.bar.Status(fmt.Sprintf("export %s/%s", bootstrap.HumanBytes(done), bootstrap.HumanBytes(total)))
			}
		},
	}
	if len(platforms) > 0 {
		cfg.ConfigureFor = func(arch string) (bootstrap.Configurer, error) {
			return configurer(*mode, arch, log.With("platform", arch), scripts, nf.limits(), outcomes[arch])
		}
	}
	res, err := bootstrap.Run(ctx, ch, cfg)
	c.bar.Finish()
	counter.end()
	if err != nil {
		return err
	}
	var phases []any
	for _, p := range res.Phases {
		phases = append(phases, p.Name, p.Duration.Round(time.Millisecond))
	}
	log.Debug("phases", phases...)
	nout.printSkipped(log, c.verbose)
	for _, p := range platforms {
		outcomes[p].printSkipped(log.With("platform", p), c.verbose)
	}
	for _, p := range res.Platforms {
		log.Info("image", "platform", p.Architecture, "packages", p.Packages, "digest", p.Digest)
	}
	if !c.quiet {
		// A directory has neither digest nor size.
		extra := ""
		if res.Digest != "" {
			extra += ", " + res.Digest
		}
		if res.Size > 0 {
			extra += ", " + bootstrap.HumanBytes(res.Size)
		}
		// With TARGET "-" standard output is the image itself.
		summary := stdout
		if pos[1] == "-" {
			summary = stderr
		}
		if res.Reused {
			extra += ", the cache's output of the same build"
		}
		what := fmt.Sprintf("%d packages", res.Packages)
		if len(res.Platforms) > 0 {
			var each []string
			for _, p := range res.Platforms {
				each = append(each, fmt.Sprintf("%s %d packages", p.Architecture, p.Packages))
			}
			what = fmt.Sprintf("%d platforms (%s)", len(res.Platforms), strings.Join(each, ", "))
		}
		fmt.Fprintf(summary, "%s: %s %s, %s%s in %s\n", pos[1], res.Codename, res.Format,
			what, extra, res.Duration.Round(10*time.Millisecond))
	}
	return nil
}

// stepCounter draws "unpack 37/96" on the progress line (a terminal's).
type stepCounter struct {
	bar         *progress.Bar // silent unless on a terminal
	mu          sync.Mutex
	name        string
	done, total int
}

func (s *stepCounter) start(name string, total int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.name, s.done, s.total = name, 0, total
}

func (s *stepCounter) step() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.bar.Enabled() || s.total == 0 {
		return
	}
	s.done++
	s.bar.Status(fmt.Sprintf("%s %d/%d", s.name, min(s.done, s.total), s.total))
}

func (s *stepCounter) end() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bar.Finish()
	s.done, s.total = 0, 0
}

// xzCommand is the program that decompresses xz data members: the one
// DEBSTRAP_XZ names, "" (decode in Go) for DEBSTRAP_XZ=go, else xz(1) from
// PATH when there is one.
func xzCommand(env string, log *slog.Logger) string {
	switch env {
	case "go":
		return ""
	case "":
		p, err := exec.LookPath("xz")
		if err != nil {
			log.Debug("no xz command; decompressing xz in Go")
			return ""
		}
		return p
	}
	return env
}

// formatList is export.Formats, for --format's help.
func formatList() string {
	var s []string
	for _, f := range export.Formats {
		s = append(s, string(f))
	}
	return strings.Join(s, ", ")
}
