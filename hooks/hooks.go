// Package hooks runs mmdebstrap's hooks at their points of a build: shell
// commands run on the host with the root's path as $1 (through a Runner
// that knows how the build's mode runs them), and the special hooks
// (copy-in, tar-out, …), which act on the staging root directly, as the
// builder, through rootfs.Stage: they record owners in the metadata table
// and never follow a symlink out of the root.
package hooks

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/debstrap/debstrap/rootfs"
)

// Point is where in a build a hook runs.
type Point string

const (
	// Setup: the root exists, empty (but for what debstrap writes first);
	// nothing is unpacked.
	Setup Point = "setup"
	// Extract: every package is unpacked, the dpkg database written,
	// nothing configured.
	Extract Point = "extract"
	// Essential: after the packages are configured (debstrap configures
	// all in one pass, so this is where mmdebstrap's essential hooks can
	// run), before the customize hooks.
	Essential Point = "essential"
	// Customize: last, before the image is written.
	Customize Point = "customize"
)

// Points are the hook points in build order.
var Points = []Point{Setup, Extract, Essential, Customize}

// Hook is one --POINT-hook.
type Hook struct {
	Point   Point
	Command string
}

func (h Hook) String() string { return fmt.Sprintf("--%s-hook %q", h.Point, h.Command) }

// FromDir returns the hooks of a --hook-dir: its executable files named
// setup*, extract*, essential* and customize*, in name order, each run
// with the root's path as $1. Other files are left alone; a file with a
// hook's name that is not executable is an error, not skipped in silence.
func FromDir(dir string) ([]Hook, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("--hook-dir: %w", err)
	}
	names := make([]string, 0, len(ents))
	for _, e := range ents {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	var out []Hook
	for _, p := range Points {
		for _, n := range names {
			if !strings.HasPrefix(n, string(p)) {
				continue
			}
			f := filepath.Join(dir, n)
			fi, err := os.Stat(f)
			if err != nil {
				return nil, fmt.Errorf("--hook-dir: %w", err)
			}
			if fi.IsDir() {
				continue
			}
			if fi.Mode()&0o111 == 0 {
				return nil, fmt.Errorf("--hook-dir: %s is not executable (chmod +x it, or rename it)", f)
			}
			abs, err := filepath.Abs(f)
			if err != nil {
				return nil, err
			}
			out = append(out, Hook{Point: p, Command: shellQuote(abs) + ` "$1"`})
		}
	}
	return out, nil
}

// shellQuote quotes s for sh.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Runner runs a shell hook: command, with the root's path as $1 and env
// as its environment, as root of the build; what it changes in the root
// goes back into st's table.
type Runner func(ctx context.Context, st *rootfs.Stage, command string, env []string) error

// Env is what hooks learn of the build, as mmdebstrap's environment
// variables say it (DEBSTRAP_* and, for mmdebstrap's own hook scripts,
// MMDEBSTRAP_*).
type Env struct {
	Mode, Suite, Variant, Format string
	Include                      []string
	Verbosity                    int
	Argv0                        string
}

func (e Env) vars(p Point) []string {
	kv := [][2]string{
		{"HOOK", string(p)}, {"MODE", e.Mode}, {"SUITE", e.Suite}, {"VARIANT", e.Variant},
		{"FORMAT", e.Format}, {"INCLUDE", strings.Join(e.Include, ",")},
		{"VERBOSITY", fmt.Sprint(e.Verbosity)}, {"ARGV0", e.Argv0},
	}
	var out []string
	for _, prefix := range []string{"DEBSTRAP_", "MMDEBSTRAP_"} {
		for _, v := range kv {
			out = append(out, prefix+v[0]+"="+v[1])
		}
	}
	return out
}

// Run runs the hooks of point p, in order; the first that fails stops
// the build, named with its exit status.
func Run(ctx context.Context, st *rootfs.Stage, p Point, hooks []Hook, run Runner, env Env) error {
	for _, h := range hooks {
		if h.Point != p {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		var err error
		if name, args, ok := Special(h.Command); ok {
			err = runSpecial(st, name, args)
		} else {
			e := slices.DeleteFunc(os.Environ(), func(s string) bool {
				return strings.HasPrefix(s, "DEBSTRAP_") || strings.HasPrefix(s, "MMDEBSTRAP_")
			})
			err = run(ctx, st, h.Command, append(e, env.vars(p)...))
		}
		if err != nil {
			return fmt.Errorf("%s: %w", h, err)
		}
	}
	return nil
}

// Has reports whether hooks has one at p.
func Has(hooks []Hook, p Point) bool {
	return slices.ContainsFunc(hooks, func(h Hook) bool { return h.Point == p })
}
