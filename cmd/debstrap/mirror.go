package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"github.com/debstrap/debstrap/bootstrap"
	"github.com/debstrap/debstrap/lock"
	"github.com/debstrap/debstrap/mirror"
	"github.com/debstrap/debstrap/spec"
)

const mirrorHelp = `Usage: debstrap mirror [flags] SUITE DIR [MIRROR...]
       debstrap mirror [flags] --lock=LOCKFILE DIR
       debstrap mirror [flags] DIR

Writes into DIR a partial mirror of what SUITE's selection needs (the
flags 'debstrap build' takes: --variant, --include, --architectures,
--components, ...): for each suite read (with a stable suite's -updates
and security), dists/SUITE with the InRelease, Release and Release.gpg
exactly as published and the indexes of the chosen components and
architectures (every compression the archive has, and by-hash/ copies),
and pool/ with only the needed .debs at their archive paths. The
archive's own signature stays valid: no key of yours is needed, and the
image's keyring package still verifies the mirror.

DIR holds one tree per archive, named by the mirror URL's last path
element (DIR/debian, DIR/debian-security, DIR/ubuntu), so that
file:///DIR/debian as a MIRROR finds its security archive beside it.
Each run records its selection in DIR/.debstrap/mirror.json; later runs
add to the mirror (other suites, architectures, variants, includes,
Debian and Ubuntu side by side) and bring every recorded selection up to
date with the archive. 'debstrap mirror DIR' updates the recorded ones;
--list shows them, --forget=N drops one (with --prune, its files too).

A run fetches only what DIR lacks (from the download cache first),
checks every file against the signed chain before it lands, and switches
a suite's dists/ only once the pool it describes is complete: a run that
fails or is killed leaves the previous mirror usable.

--reindex --sign-with=KEYFILE writes new indexes listing only what the
pool holds, signed with your key (public part in DIR/debstrap-mirror.asc;
give it to clients with --keyring or signed-by), for clients that must
never see a package they cannot fetch.

Examples:
  debstrap mirror --variant=minbase --include=curl bookworm /srv/mirror
  debstrap mirror --variant=minbase noble /srv/mirror
  debstrap mirror --lock=bookworm.lock /srv/mirror
  debstrap mirror --list /srv/mirror
  debstrap mirror --forget=2 --prune /srv/mirror
  debstrap build --variant=minbase bookworm out.tar file:///srv/mirror/debian
  debstrap build --variant=minbase --image-mirror=http://mirror.lan/debian \
      bookworm out.tar file:///srv/mirror/debian
`

func runMirror(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("mirror", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c common
	c.register(fs)
	lockFile := fs.String("lock", "", "mirror the set of this lock file (debstrap lock) instead of resolving")
	prune := fs.Bool("prune", false, "remove the pool files and suites no recorded selection needs")
	reindex := fs.Bool("reindex", false, "write new indexes listing only what the pool holds (needs --sign-with)")
	signWith := fs.String("sign-with", "", "with --reindex: sign the new Release and InRelease with this OpenPGP private key file")
	withSources := fs.Bool("with-sources", false, "also mirror the source packages (.dsc, .orig, .debian) and the Sources indexes")
	list := fs.Bool("list", false, "print the selections DIR records, numbered, and stop")
	var forget listFlag
	fs.Var(&forget, "forget", "drop the recorded selection of this number (see --list; comma-separated, repeatable) before updating; --prune then removes its files")
	pos, err := parse(fs, args, nil, mirrorHelp, stdout)
	if err != nil {
		return err
	}
	if *list {
		if len(pos) != 1 {
			return usageError{errors.New("--list takes DIR alone")}
		}
		lines, err := mirror.List(pos[0])
		if err != nil {
			return err
		}
		for _, l := range lines {
			fmt.Fprintln(stdout, l)
		}
		return nil
	}
	var drop []int
	for _, f := range forget {
		n, err := strconv.Atoi(f)
		if err != nil {
			return usageError{fmt.Errorf("--forget=%s: want a selection's number (see --list)", f)}
		}
		drop = append(drop, n)
	}
	if *reindex != (*signWith != "") {
		return usageError{errors.New("--reindex and --sign-with go together: the new indexes need your signature, and only new indexes take it")}
	}
	sp, err := c.loadSpec(fs)
	if err != nil {
		return err
	}
	var req *mirror.Request
	var dir string
	switch {
	case *lockFile != "":
		if len(pos) != 1 {
			return usageError{errors.New("with --lock, give DIR alone (the lock names the suite and sources)")}
		}
		dir = pos[0]
		l, err := lock.ReadFile(*lockFile)
		if err != nil {
			return err
		}
		req = &mirror.Request{Lock: l, WithSources: *withSources,
			Config: bootstrap.Config{Keyring: c.keyring, NoCheckValidUntil: c.noValidUntil}}
	case len(pos) == 1 && sp == nil:
		dir = pos[0]
	default:
		if pos, err = arguments(sp, pos, []string{"SUITE", "DIR"}, []string{spec.KeySuite, ""}, true); err != nil {
			return err
		}
		dir = pos[1]
		req = &mirror.Request{WithSources: *withSources}
	}
	if fi, err := os.Stat(dir); err == nil && !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	opts := mirror.Options{Dir: dir, Add: req, Prune: *prune, Forget: drop}
	if *signWith != "" {
		if opts.SignWith, err = mirror.ReadSigningKey(*signWith); err != nil {
			return err
		}
	}
	log := c.logger(stderr)
	ch, err := c.cache(stderr, log)
	if err != nil {
		return err
	}
	if req != nil && req.Lock == nil {
		req.Config = c.config(pos[0], pos[2:], log)
	}
	opts.Cache, opts.Logger = ch, log
	if c.bar.Enabled() {
		opts.Status = c.bar
	}
	sum, err := mirror.Run(ctx, opts)
	c.bar.Finish()
	if err != nil {
		return err
	}
	abs, _ := filepath.Abs(dir)
	log.Info("mirror written", "dir", abs, "selections", sum.Selections, "suites", len(sum.Suites),
		"packages", sum.Packages, "source-files", sum.Sources, "size", bootstrap.HumanBytes(sum.Bytes),
		"added", sum.Added, "added-size", bootstrap.HumanBytes(sum.AddedBytes),
		"pruned", sum.Pruned, "pruned-size", bootstrap.HumanBytes(sum.PrunedSize), "time", sum.Time.Round(1e6))
	return nil
}
