package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/debstrap/debstrap/bootstrap"
	"github.com/debstrap/debstrap/export"
	"github.com/debstrap/debstrap/lock"
	"github.com/debstrap/debstrap/spec"
)

const lockHelp = `Usage: debstrap lock [flags] SUITE LOCKFILE [MIRROR...]
       debstrap lock --check  [flags] LOCKFILE [MIRROR...]
       debstrap lock --update [flags] LOCKFILE [MIRROR...]

Resolves SUITE as 'debstrap build' would and writes the result to LOCKFILE:
the request (suite, variant, include, architectures, components), the
sources with the Date and SHA-256 of their signed Release, every package's
name, version, architecture, source package, suite, pool path, size and
SHA-256, and the epoch (SOURCE_DATE_EPOCH if set, else the Release's Date).
The file is JSON in a fixed order, so a change shows as a small diff.

'debstrap build --lock=LOCKFILE TARGET' then installs exactly that set,
resolving nothing: each .deb comes from the cache, its source, or a
fallback mirror (--fallback-mirror, the lock's "fallback-mirrors", or
MIRROR arguments — a snapshot archive), checked against the lock's SHA-256.
The same lock gives the same image on any machine and any day.

--check resolves the lock's request again, against MIRROR if given (e.g.
with the -updates and security suites), else the lock's sources, and lists
what changed; it exits 1 when the set is not current (security updates
wait), 0 when it is, 2 on error. --update writes the new set.

Examples:
  debstrap lock --variant=minbase --include=curl bookworm bookworm.lock
  debstrap build --lock=bookworm.lock bookworm.tar
  debstrap lock --check bookworm.lock
  debstrap lock --update bookworm.lock
`

func runLock(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("lock", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c common
	c.register(fs)
	check := fs.Bool("check", false, "resolve the lock's request again; list what changed; exit 1 unless current")
	update := fs.Bool("update", false, "resolve the lock's request again and rewrite LOCKFILE")
	var fallbacks listFlag
	fs.Var(&fallbacks, "fallback-mirror", "a mirror to fetch locked .debs from by pool path when the sources no longer have them (repeatable), recorded in the lock")
	pos, err := parse(fs, args, nil, lockHelp, stdout)
	if err != nil {
		return err
	}
	if *check && *update {
		return usageError{errors.New("--check and --update: choose one")}
	}
	var cmdline []string
	fs.Visit(func(f *flag.Flag) { cmdline = append(cmdline, f.Name) })
	sp, err := c.loadSpec(fs)
	if err != nil {
		return err
	}
	epoch, err := specEpoch(sp)
	if err != nil {
		return err
	}
	if !*check && !*update {
		if pos, err = arguments(sp, pos, []string{"SUITE", "LOCKFILE"}, []string{spec.KeySuite, "lock"}, true); err != nil {
			return err
		}
		log := c.logger(stderr)
		ch, err := c.cache(stderr, log)
		if err != nil {
			return err
		}
		cfg := c.config(pos[0], pos[2:], log)
		cfg.FallbackMirrors = fallbacks
		plan, err := bootstrap.Resolve(ctx, ch, cfg)
		if err != nil {
			return err
		}
		l := plan.Lock(cfg, lockEpoch(epoch, plan))
		if err := writeLock(ctx, l, pos[1]); err != nil {
			return err
		}
		if !c.quiet {
			fmt.Fprintf(stdout, "%s: %d packages from %d sources\n", pos[1], len(l.Packages), len(l.Sources))
		}
		return nil
	}

	// --check, --update: the request is the lock's.
	if pos, err = arguments(sp, pos, []string{"LOCKFILE"}, []string{"lock"}, false); err != nil {
		return err
	}
	if set := requestFlags(cmdline); len(set) > 0 {
		return usageError{fmt.Errorf("%s: the lock fixes the request; with --check or --update give only sources (MIRROR) and cache flags", strings.Join(set, ", "))}
	}
	old, err := lock.ReadFile(pos[0])
	if err != nil {
		return exitStatus{2, err}
	}
	if err := c.matchesLock(old, pos[0]); err != nil {
		return exitStatus{2, err}
	}
	log := c.logger(stderr)
	ch, err := c.cache(stderr, log)
	if err != nil {
		return exitStatus{2, err}
	}
	cfg := lockConfig(&c, old, pos[1:], log)
	cfg.FallbackMirrors = append(old.FallbackMirrors, fallbacks...)
	plan, err := bootstrap.Resolve(ctx, ch, cfg)
	if err != nil {
		return exitStatus{2, err}
	}
	if epoch.IsZero() && !*update {
		epoch = time.Unix(old.Epoch, 0)
	}
	l := plan.Lock(cfg, lockEpoch(epoch, plan))
	changes := lock.Diff(old, l)
	for _, ch := range changes {
		fmt.Fprintln(stdout, ch)
	}
	if *update {
		if len(changes) == 0 && sameSources(old, l) {
			if !c.quiet {
				fmt.Fprintf(stderr, "%s: current, not rewritten\n", pos[0])
			}
			return nil
		}
		if err := writeLock(ctx, l, pos[0]); err != nil {
			return exitStatus{2, err}
		}
		if !c.quiet {
			fmt.Fprintf(stderr, "%s: updated, %d package(s) changed\n", pos[0], len(changes))
		}
		return nil
	}
	if len(changes) > 0 {
		return exitStatus{1, fmt.Errorf("%s: %d package(s) not current; 'debstrap lock --update %s' takes them", pos[0], len(changes), pos[0])}
	}
	if !c.quiet {
		fmt.Fprintf(stderr, "%s: current (%d packages)\n", pos[0], len(l.Packages))
	}
	return nil
}

// lockEpoch is the epoch a lock records: SOURCE_DATE_EPOCH when set, else
// the Date of the first source's Release — what a build would take.
func lockEpoch(env time.Time, plan *bootstrap.Plan) time.Time {
	if !env.IsZero() {
		return env
	}
	return plan.Archives[0].Release().Date
}

// requestFlags are those of the flags named that change what is
// resolved (the lock fixes them).
func requestFlags(names []string) []string {
	var set []string
	for _, n := range names {
		switch n {
		case "variant", "include", "components", "architectures", "include-recommends", "no-updates", "merged-usr":
			set = append(set, "--"+n)
		}
	}
	return set
}

// lockConfig is the resolve configuration of l's request: its sources
// (spelled out, so nothing is added to them) unless mirrors are given.
func lockConfig(c *common, l *lock.Lock, mirrors []string, log *slog.Logger) bootstrap.Config {
	cfg := c.config(l.Suite, mirrors, log)
	cfg.Variant, cfg.Include, cfg.Architectures, cfg.Components, cfg.Recommends = l.Variant, l.Include, l.Architectures, l.Components, l.Recommends
	cfg.MergedUsr = l.MergedUsr
	if len(mirrors) == 0 {
		for _, s := range l.Sources {
			cfg.Mirrors = append(cfg.Mirrors, s.Entry().String())
		}
	}
	return cfg
}

func sameSources(a, b *lock.Lock) bool {
	if len(a.Sources) != len(b.Sources) {
		return false
	}
	for i := range a.Sources {
		if a.Sources[i].SHA256 != b.Sources[i].SHA256 || a.Sources[i].URI != b.Sources[i].URI {
			return false
		}
	}
	return a.Epoch == b.Epoch
}

// writeLock writes l to name whole or not at all, as an image is written.
func writeLock(ctx context.Context, l *lock.Lock, name string) error {
	var b bytes.Buffer
	if err := l.Write(&b); err != nil {
		return fmt.Errorf("lock %s: %w", name, err)
	}
	if err := export.Copy(ctx, &b, name, nil); err != nil {
		return fmt.Errorf("writing the lock: %w", err)
	}
	return nil
}
