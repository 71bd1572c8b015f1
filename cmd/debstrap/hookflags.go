package main

import (
	"context"
	"flag"
	"io"
	"os"

	"github.com/debstrap/debstrap/configure"
	"github.com/debstrap/debstrap/hooks"
	"github.com/debstrap/debstrap/rootfs"
)

// hookFlags are mmdebstrap's hook options. The order of hooks of one
// point is the command line's; --hook-dir's come after the flags' of
// their point, as mmdebstrap adds them when it reads the option.
type hookFlags struct {
	list []hooks.Hook
	dirs listFlag
}

// hookFlag appends a hook of one point.
type hookFlag struct {
	f *hookFlags
	p hooks.Point
}

func (h hookFlag) String() string { return "" }
func (h hookFlag) Set(s string) error {
	if err := hooks.CheckSpecial(s); err != nil {
		return err
	}
	h.f.list = append(h.f.list, hooks.Hook{Point: h.p, Command: s})
	return nil
}
func (h hookFlag) Repeatable() bool { return true }

func (f *hookFlags) register(fs *flag.FlagSet) {
	help := map[hooks.Point]string{
		hooks.Setup:     "after the root is made, before anything is unpacked",
		hooks.Extract:   "after every package is unpacked, before configuring",
		hooks.Essential: "after the packages are configured (debstrap configures all in one pass), before the customize hooks",
		hooks.Customize: "last, before the image is written",
	}
	for _, p := range hooks.Points {
		fs.Var(hookFlag{f, p}, string(p)+"-hook", "a shell command run on the host with the root's path as $1, as root of the build ("+help[p]+"; repeatable), or a special hook: copy-in, copy-out, tar-in, tar-out, upload, download, sync-in, sync-out")
	}
	fs.Var(&f.dirs, "hook-dir", "run the executable files setup*, extract*, essential*, customize* of this directory as the hooks of those points (repeatable)")
}

// hooks are the flags' hooks, then each --hook-dir's.
func (f *hookFlags) hooks() ([]hooks.Hook, error) {
	out := append([]hooks.Hook(nil), f.list...)
	for _, d := range f.dirs {
		hs, err := hooks.FromDir(d)
		if err != nil {
			return nil, err
		}
		out = append(out, hs...)
	}
	return out, nil
}

// hookRunner runs shell hooks as root of the build: as root itself in
// root mode (or any mode run by root but unshare), else as root of a user
// namespace, as unshare mode runs dpkg; so `chroot "$1" …` works and what
// a hook creates is root's in the image.
func hookRunner(mode string, stdout, stderr io.Writer) hooks.Runner {
	userns := mode == "unshare" || os.Geteuid() != 0
	return func(ctx context.Context, st *rootfs.Stage, command string, env []string) error {
		return configure.RunHook(ctx, st, configure.Options{Stdout: stdout, Stderr: stderr}, userns, command, env)
	}
}

func verbosity(c *common) int {
	switch {
	case c.quiet:
		return 0
	case c.verbose:
		return 2
	}
	return 1
}
