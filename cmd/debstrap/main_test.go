package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/debstrap/debstrap/internal/testarchive"
)

// minimalImportant is what the default variant (important) installs from
// testarchive.Minimal(): every Priority required/important package and
// their dependencies, no Recommends.
var minimalImportant = []string{"base-files", "dash", "debconf", "debianutils", "libc6", "mawk", "nano"}

// result is one run of the command line.
type result struct {
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\n--- stdout:\n%s--- stderr:\n%s", r.code, r.stdout, r.stderr)
}

// cli runs debstrap in-process with args.
func cli(ctx context.Context, args ...string) result {
	var o, e bytes.Buffer
	code := run(ctx, args, &o, &e)
	return result{code, o.String(), e.String()}
}

// harness is a test archive served over HTTP, the keyring that trusts it
// and a private download cache.
type harness struct {
	srv     *testarchive.Server
	keyring string
	cache   string
}

func newHarness(t *testing.T, a testarchive.Archive) *harness {
	t.Helper()
	// Nothing may fall back to the user's cache or mirror configuration.
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	t.Setenv("DEBSTRAP_MIRROR", "")
	t.Setenv("SOURCE_DATE_EPOCH", "")
	srv := testarchive.Serve(t, a)
	return &harness{srv: srv, keyring: srv.Key.WriteKeyring(t, t.TempDir()), cache: t.TempDir()}
}

// flags are the flags every archive-reading command of a test needs.
func (h *harness) flags() []string {
	return []string{"--keyring=" + h.keyring, "--cache-dir=" + h.cache, "--architectures=amd64", "-q"}
}

// run runs cmd with the harness's flags, then args.
func (h *harness) run(ctx context.Context, cmd string, args ...string) result {
	return cli(ctx, append(append([]string{cmd}, h.flags()...), args...)...)
}

// want fails the test unless r exited with code and each stream contains
// the given substrings.
func want(t *testing.T, r result, code int, stdout, stderr []string) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit status %d, want %d\n%s", r.code, code, r)
	}
	for _, s := range stdout {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("stdout lacks %q\n%s", s, r)
		}
	}
	for _, s := range stderr {
		if !strings.Contains(r.stderr, s) {
			t.Errorf("stderr lacks %q\n%s", s, r)
		}
	}
}

// listDir returns the names under dir, recursively, relative to it.
func listDir(t *testing.T, dir string) []string {
	t.Helper()
	var names []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != dir {
			rel, _ := filepath.Rel(dir, p)
			names = append(names, rel)
		}
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	slices.Sort(names)
	return names
}

func TestUsage(t *testing.T) {
	xdg := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", xdg)
	t.Setenv("SOURCE_DATE_EPOCH", "")
	tests := []struct {
		name           string
		args           []string
		code           int
		stdout, stderr []string
	}{
		{"no args", nil, 2, nil, []string{"Usage:", "debstrap build", "debstrap resolve"}},
		{"unknown command", []string{"frobnicate"}, 2, nil, []string{`unknown command "frobnicate"; see 'debstrap --help'`}},
		{"help", []string{"help"}, 0, []string{"Usage:", "debstrap build"}, nil},
		{"--help", []string{"--help"}, 0, []string{"Usage:"}, nil},
		{"-h", []string{"-h"}, 0, []string{"Usage:"}, nil},
		{"version", []string{"version"}, 0, []string{"debstrap "}, nil},
		{"resolve without suite", []string{"resolve"}, 2, nil,
			[]string{"debstrap resolve: missing SUITE; see 'debstrap resolve --help'"}},
		{"download with one arg", []string{"download", "stable"}, 2, nil,
			[]string{"missing DIR", "'debstrap download --help'"}},
		{"build with one arg", []string{"build", "stable"}, 2, nil,
			[]string{"debstrap build: missing TARGET; see 'debstrap build --help'"}},
		{"build with one arg after flags", []string{"build", "--variant=minbase", "stable"}, 2, nil,
			[]string{"missing TARGET"}},
		{"bad --output", []string{"resolve", "--output=yaml", "stable"}, 2, nil,
			[]string{`--output must be text or json, not "yaml"`}},
		{"unknown flag", []string{"resolve", "--frobnicate", "stable"}, 2, nil,
			[]string{"debstrap resolve: unknown flag --frobnicate; see 'debstrap resolve --help'"}},
		{"flag without value", []string{"build", "stable", "x.tar", "--variant"}, 2, nil,
			[]string{"flag --variant needs a value"}},
		{"bad --mode", []string{"build", "--mode=bogus", "stable", "x.tar"}, 2, nil,
			[]string{"--mode=bogus"}},
		{"diff with one image", []string{"diff", "a.tar"}, 2, nil, []string{"missing B"}},
		{"help unknown", []string{"help", "frobnicate"}, 2, nil, []string{`unknown command "frobnicate"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Chdir(t.TempDir()) // nothing may be written, but if it were, not here
			r := cli(t.Context(), tt.args...)
			want(t, r, tt.code, tt.stdout, tt.stderr)
			if tt.code == 2 && r.stdout != "" {
				t.Errorf("usage error printed to stdout:\n%s", r)
			}
			// A usage error is one line, not the help.
			if tt.code == 2 && tt.args != nil && strings.Count(r.stderr, "\n") != 1 {
				t.Errorf("usage error is not one line:\n%s", r)
			}
			if names := listDir(t, "."); len(names) != 0 {
				t.Errorf("a usage error left files behind: %v", names)
			}
			if names := listDir(t, xdg); tt.code == 2 && len(names) != 0 {
				t.Errorf("a usage error created %v in $XDG_CACHE_HOME", names)
			}
		})
	}
}

// TestCommandHelp: COMMAND --help (and -h) shows that command's usage and
// flags, and exits 0.
func TestCommandHelp(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	for _, tt := range []struct {
		cmd   string
		usage string
		flags []string
	}{
		{"resolve", "Usage: debstrap resolve [flags] SUITE [MIRROR...]", []string{"-variant", "-include", "-keyring", "-output"}},
		{"download", "Usage: debstrap download [flags] SUITE DIR [MIRROR...]", []string{"-variant", "-cache-dir"}},
		{"build", "Usage: debstrap build [flags] SUITE TARGET [MIRROR...]", []string{"-mode", "-format", "-variant"}},
		{"diff", "Usage: debstrap diff [flags] A B", nil},
		{"manifest", "Usage: debstrap manifest IMAGE", nil},
	} {
		for _, h := range []string{"--help", "-h", "help"} {
			t.Run(tt.cmd+h, func(t *testing.T) {
				args := []string{tt.cmd, h}
				if h == "help" {
					args = []string{"help", tt.cmd}
				}
				r := cli(t.Context(), args...)
				if r.code != 0 {
					t.Fatalf("exit status %d, want 0\n%s", r.code, r)
				}
				if r.stderr != "" {
					t.Errorf("help printed to stderr:\n%s", r)
				}
				out := r.stdout
				if !strings.Contains(out, tt.usage) {
					t.Errorf("output lacks %q\n%s", tt.usage, r)
				}
				for _, f := range tt.flags {
					if !strings.Contains(out, "  "+f) {
						t.Errorf("flag list lacks %s\n%s", f, r)
					}
				}
			})
		}
	}
}

// TestHelpLists: build's help names every mode and format the code knows.
func TestHelpLists(t *testing.T) {
	r := cli(t.Context(), "build", "--help")
	for _, m := range modes {
		if !strings.Contains(r.stdout, "  "+m+" ") || !strings.Contains(r.stdout, m+",") && !strings.Contains(r.stdout, ", "+m) {
			t.Errorf("build --help does not list mode %s\n%s", m, r)
		}
	}
	for _, f := range []string{"dir", "tar.zst", "oci-archive", "docker-archive"} {
		if !strings.Contains(r.stdout, f) {
			t.Errorf("build --help does not list format %s", f)
		}
	}
}
