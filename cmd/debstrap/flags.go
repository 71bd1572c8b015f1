package main

import (
	"cmp"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/debstrap/debstrap/bootstrap"
	"github.com/debstrap/debstrap/cache"
	"github.com/debstrap/debstrap/internal/progress"
	"github.com/debstrap/debstrap/profile"
)

var errHelp = errors.New("help shown")

type usageError struct{ error }

// listFlag accumulates comma- or space-separated values over repeated use,
// as mmdebstrap's --include and --components do.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error {
	// mmdebstrap keeps a path or an apt pattern whole: it may hold commas
	// or spaces ("./debs/my pkg.deb").
	for _, p := range []string{"/", "./", "../", "?", "!", "~", "("} {
		if strings.HasPrefix(s, p) {
			*l = append(*l, s)
			return nil
		}
	}
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
		*l = append(*l, f)
	}
	return nil
}

// common are the flags every command that reads an archive shares.
type common struct {
	variant       string
	include       listFlag
	components    listFlag
	architectures listFlag
	keyring       string
	cacheDir      string
	recommends    bool
	mergedUsr     bool
	profile       string
	prof          *profile.Profile // --profile parsed (applyProfile)
	noUpdates     bool
	noValidUntil  bool
	snapshot      string
	snapshotURL   string
	offline       bool
	quiet         bool
	verbose       bool

	// Download watchdog (cache.Options).
	dlTimeout, dlStall durationFlag
	dlMinRate          sizeFlag

	bar *progress.Bar // nil-safe; drawn only on a terminal

	specFile string   // -f
	fromSpec []string // the flags the spec file set
}

func (c *common) register(fs *flag.FlagSet) {
	fs.StringVar(&c.specFile, "f", "", "read flags and arguments from this spec file (YAML, keys are the flags' names and suite, target, sources, epoch; see examples/); the command line wins")
	fs.StringVar(&c.variant, "variant", "important", "package set: extract, custom, essential, apt, required|minbase, buildd, important|debootstrap|-, standard")
	fs.Var(&c.include, "include", "extra packages (comma-separated; repeatable): NAME, NAME=VERSION, NAME/SUITE")
	fs.Var(&c.components, "components", "archive components (comma-separated; default main)")
	fs.Var(&c.architectures, "architectures", "architectures, the first is native (default: the host's)")
	fs.StringVar(&c.keyring, "keyring", "", "trusted keys: a keyring file or a directory of them (default: embedded Debian and Ubuntu archive keys)")
	fs.StringVar(&c.cacheDir, "cache-dir", "", "download cache (default $XDG_CACHE_HOME/debstrap)")
	fs.BoolVar(&c.recommends, "include-recommends", false, "also install Recommends, as apt does by default")
	fs.BoolVar(&c.mergedUsr, "merged-usr", false, "merge /usr the debootstrap way: the /bin → usr/bin (…) links made before unpacking (where base-files does not ship them: before trixie, before Ubuntu lunar), and \"usrmerge | usr-is-merged\" satisfied by usr-is-merged, without usrmerge and its Perl (as debootstrap and Docker's official images)")
	fs.StringVar(&c.profile, "profile", "", "make the image as a well-known one is made: docker (Docker's official debian:SUITE or ubuntu:SUITE root: minbase, merged /usr, deb822 sources with updates and security, its apt and dpkg settings for containers, every package marked automatic, no apt lists or caches) or docker-slim (debian:SUITE-slim: also without documentation but copyright files, man pages, locales); sets --variant=minbase and --merged-usr unless given")
	fs.BoolVar(&c.noUpdates, "no-updates", false, "leave out a stable suite's SUITE-updates and security suites (added by default unless the sources are given as \"deb …\" entries)")
	fs.BoolVar(&c.noValidUntil, "no-check-valid-until", false, "accept Release files past their Valid-Until, as a snapshot archive's are (one source: its option [check-valid-until=no])")
	fs.StringVar(&c.snapshot, "snapshot", "", "read every source as the snapshot service kept it at this time (20240131T091500Z or 2024-01-31): SERVICE/ARCHIVE/TIME, ARCHIVE the mirror's last path element")
	fs.StringVar(&c.snapshotURL, "snapshot-mirror", "", "the snapshot service's base URL for --snapshot (default $DEBSTRAP_SNAPSHOT_MIRROR)")
	fs.BoolVar(&c.offline, "offline", false, "make no network request: only the cache and local (file://) sources; anything missing is an error naming it")
	fs.BoolVar(&c.quiet, "quiet", false, "print only errors")
	fs.BoolVar(&c.quiet, "q", false, "short for --quiet")
	fs.BoolVar(&c.verbose, "verbose", false, "print what is done, step by step")
	fs.BoolVar(&c.verbose, "v", false, "short for --verbose")
	c.dlStall, c.dlMinRate = durationFlag(defaultStallTimeout), sizeFlag(defaultMinRate)
	fs.Var(&c.dlTimeout, "download-timeout", "longest one attempt at one file may take, e.g. 10m (default: derived from its size: twice --download-stall-timeout plus the size at --download-min-rate)")
	fs.Var(&c.dlStall, "download-stall-timeout", "a download with no answer, or bringing less than --download-min-rate, over this window is retried")
	fs.Var(&c.dlMinRate, "download-min-rate", "slowest download accepted, bytes per second (or with K, M, G)")
}

// The cache's defaults, shown in --help.
const (
	defaultStallTimeout = 60 * time.Second
	defaultMinRate      = 1 << 10
)

// durationFlag is a positive duration: 90s, 10m, 1h30m.
type durationFlag time.Duration

func (f *durationFlag) String() string {
	if *f == 0 {
		return ""
	}
	return time.Duration(*f).String()
}

func (f *durationFlag) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return fmt.Errorf("want a positive duration such as 90s, 10m or 1h")
	}
	*f = durationFlag(d)
	return nil
}

func (c *common) logger(stderr io.Writer) *slog.Logger {
	level := slog.LevelInfo
	switch {
	case c.quiet:
		level = slog.LevelError
	case c.verbose:
		level = slog.LevelDebug
	}
	// On a terminal, log lines go through the progress line, which is
	// cleared for them and drawn again below.
	var w io.Writer = stderr
	if f, ok := stderr.(*os.File); ok && !c.quiet {
		if c.bar = progress.New(f); c.bar.Enabled() {
			w = c.bar
		}
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

func (c *common) config(suite string, mirrors []string, log *slog.Logger) bootstrap.Config {
	include := c.include
	// The profile's own packages (noble's unminimize), unless asked for.
	if c.prof != nil {
		for _, i := range c.prof.Include(suite) {
			if !slices.Contains(include, i) {
				include = append(slices.Clone(include), i)
			}
		}
	}
	return bootstrap.Config{
		Suite:             suite,
		Mirrors:           mirrors,
		Components:        c.components,
		Architectures:     c.architectures,
		Keyring:           c.keyring,
		Variant:           c.variant,
		Include:           include,
		Recommends:        c.recommends,
		MergedUsr:         c.mergedUsr,
		NoUpdates:         c.noUpdates,
		NoCheckValidUntil: c.noValidUntil,
		Snapshot:          c.snapshot,
		SnapshotMirror:    cmp.Or(c.snapshotURL, os.Getenv("DEBSTRAP_SNAPSHOT_MIRROR")),
		MirrorEnv:         os.Getenv("DEBSTRAP_MIRROR"),
		Logger:            log,
	}
}

func (c *common) cache(stderr io.Writer, log *slog.Logger) (*cache.Cache, error) {
	dir := c.cacheDir
	if dir == "" {
		d, err := cache.DefaultDir()
		if err != nil {
			return nil, fmt.Errorf("finding the cache directory (pass --cache-dir): %w", err)
		}
		dir = d
	}
	opts := cache.Options{Dir: dir, Logger: log, Offline: c.offline,
		Timeout: time.Duration(c.dlTimeout), StallTimeout: time.Duration(c.dlStall), MinRate: int64(c.dlMinRate)}
	if c.bar.Enabled() {
		opts.Progress = c.bar
	}
	return cache.New(opts)
}

// parse parses flags and positional arguments in any order, as mmdebstrap
// accepts them, and checks that the positional arguments named in need are
// there. --help (-h) prints help and the flags to stdout; a flag error is
// one line (usageError), never the whole help.
func parse(fs *flag.FlagSet, args []string, need []string, help string, stdout io.Writer) ([]string, error) {
	fs.Usage = func() {}
	fs.SetOutput(io.Discard)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fs.SetOutput(stdout)
				fmt.Fprint(stdout, help, "\nFlags:\n")
				fs.PrintDefaults()
				return nil, errHelp
			}
			return nil, usageError{flagError(err)}
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		if args[0] == "--" {
			pos = append(pos, args[1:]...)
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	if len(pos) < len(need) {
		return nil, usageError{fmt.Errorf("missing %s", strings.Join(need[len(pos):], " and "))}
	}
	return pos, nil
}

var (
	undefinedRE = regexp.MustCompile(`^flag provided but not defined: -+(.*)$`)
	noValueRE   = regexp.MustCompile(`^flag needs an argument: -+(.*)$`)
	badValueRE  = regexp.MustCompile(`^invalid (?:boolean )?value (".*") for (?:flag )?-+([^:]*): (.*)$`)
)

// flagError rewords the flag package's errors with flags spelled --name.
func flagError(err error) error {
	s := err.Error()
	if m := undefinedRE.FindStringSubmatch(s); m != nil {
		return fmt.Errorf("unknown flag %s", dashes(m[1]))
	}
	if m := noValueRE.FindStringSubmatch(s); m != nil {
		return fmt.Errorf("flag %s needs a value", dashes(m[1]))
	}
	if m := badValueRE.FindStringSubmatch(s); m != nil {
		return fmt.Errorf("%s=%s: %s", dashes(m[2]), strings.Trim(m[1], `"`), m[3])
	}
	return err
}

func dashes(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}
