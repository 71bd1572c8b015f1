package main

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/debstrap/debstrap/internal/testarchive"
	"github.com/debstrap/debstrap/spec"
)

func writeSpec(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "debstrap.yaml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSpecFile(t *testing.T) {
	h := newHarness(t, testarchive.Minimal())
	sources := "sources:\n  - uri: " + h.srv.URL + "\n    suites: stable\n    components: [main]\n"
	sp := writeSpec(t, "suite: stable\nvariant: minbase\ninclude: [nano]\n"+sources)
	cmdline := h.run(t.Context(), "resolve", "--variant=minbase", "--include=nano", "stable", h.srv.URL)
	want(t, cmdline, 0, []string{"nano "}, nil)
	want(t, h.run(t.Context(), "resolve", "-f", sp), 0, []string{cmdline.stdout}, nil)

	// The command line wins: its variant, its arguments.
	essential := h.run(t.Context(), "resolve", "--variant=essential", "--include=nano", "stable", h.srv.URL)
	want(t, essential, 0, nil, nil)
	if essential.stdout == cmdline.stdout {
		t.Fatal("the test needs variants that differ")
	}
	want(t, h.run(t.Context(), "resolve", "-f", sp, "--variant=essential"), 0, []string{essential.stdout}, nil)

	// build: target from the spec, or the one argument.
	dir := t.TempDir()
	sp2 := writeSpec(t, "suite: stable\nmode: extract\ntarget: "+filepath.Join(dir, "a.tar")+"\n"+sources)
	want(t, h.run(t.Context(), "build", "-f", sp2), 0, nil, nil)
	want(t, h.run(t.Context(), "build", "-f", sp2, filepath.Join(dir, "b.tar")), 0, nil, nil)
	for _, n := range []string{"a.tar", "b.tar"} {
		if _, err := os.Stat(filepath.Join(dir, n)); err != nil {
			t.Error(err)
		}
	}

	// lock and build through the spec; a changed spec refuses the old lock.
	lf := filepath.Join(dir, "stable.lock")
	sp3 := writeSpec(t, "suite: stable\nmode: extract\ninclude: nano\nlock: "+lf+"\ntarget: "+filepath.Join(dir, "c.tar")+"\n"+sources)
	want(t, h.run(t.Context(), "lock", "-f", sp3), 0, nil, nil)
	want(t, cli(t.Context(), "lock", "--keyring="+h.keyring, "--cache-dir="+h.cache, "-q", "--check", "-f", sp3), 0, nil, nil)
	want(t, cli(t.Context(), "build", "--keyring="+h.keyring, "--cache-dir="+h.cache, "-q", "-f", sp3), 0, nil, nil)
	sp4 := writeSpec(t, "suite: stable\nmode: extract\ninclude: [nano, mawk]\nlock: "+lf+"\ntarget: "+filepath.Join(dir, "d.tar")+"\n")
	want(t, cli(t.Context(), "build", "-q", "-f", sp4), 1, nil, []string{`include is "mawk,nano", but ` + lf + ` was made for "nano"`})

	for _, tc := range []struct{ name, body, want string }{
		{"unknown key", "suite: stable\nvaraint: minbase\n", "debstrap.yaml:2: varaint: unknown key"},
		{"wrong type", "suite: stable\ninclude:\n  nano: yes\n", "debstrap.yaml:2: include: want a string or a list of strings, got a mapping"},
		{"bool", "suite: stable\ninclude-recommends: sometimes\n", "debstrap.yaml:2: include-recommends: want true or false, got a string"},
		{"not a bool", "suite: stable\nvariant: true\n", "debstrap.yaml:2: variant: want a string, got true/false"},
		{"twice", "suite: stable\nsuite: testing\n", "debstrap.yaml:2: suite given twice (first on line 1)"},
		{"bad value", "suite: stable\nmode: fast\n", "--mode=fast: unknown mode"},
		{"list item", "suite: stable\ninclude: [nano, [x]]\n", "debstrap.yaml:2: include: want a list of strings, got a list in it"},
		{"source", "suite: stable\nsources:\n  - suites: [stable]\n", "debstrap.yaml:3: sources: a mapping needs uri:"},
		{"not yaml", "suite: [stable\n", "debstrap.yaml: yaml:"},
		{"epoch", "suite: stable\nepoch: yesterday\n", "debstrap.yaml:2: epoch: want seconds since 1970"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := h.run(t.Context(), "build", "-f", writeSpec(t, tc.body), filepath.Join(t.TempDir(), "x.tar"))
			if r.code == 0 || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("want an error with %q\n%s", tc.want, r)
			}
		})
	}
}

// flagNames are the flags a command's --help lists.
func flagNames(t *testing.T, cmd string) []string {
	t.Helper()
	r := cli(t.Context(), cmd, "--help")
	var names []string
	for _, m := range regexp.MustCompile(`(?m)^  -([a-z0-9-]+)`).FindAllStringSubmatch(r.stdout, -1) {
		names = append(names, m[1])
	}
	if len(names) == 0 {
		t.Fatalf("%s --help lists no flags:\n%s", cmd, r)
	}
	return names
}

// Every flag of every command that reads a spec is a key the others
// accept, and every key of the examples is a flag or an argument key.
func TestSpecKnowsEveryFlag(t *testing.T) {
	var common []string
	all := map[string]bool{}
	cmds := []string{"build", "lock", "resolve", "download", "mirror"}
	for i, cmd := range cmds {
		names := flagNames(t, cmd)
		for _, n := range names {
			all[n] = true
		}
		if i == 0 {
			common = names
		} else {
			common = slices.DeleteFunc(common, func(n string) bool { return !slices.Contains(names, n) })
		}
	}
	for n := range all {
		if !slices.Contains(common, n) && !slices.Contains(otherCommandKeys, n) {
			t.Errorf("flag --%s is not in every command and not in otherCommandKeys: a shared spec with it fails", n)
		}
	}
	examples, _ := filepath.Glob("../../examples/*.yaml")
	if len(examples) < 3 {
		t.Fatalf("examples: %v", examples)
	}
	for _, ex := range examples {
		f, err := spec.Load(ex)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range f.Keys() {
			if !all[k] && !slices.Contains([]string{spec.KeySuite, spec.KeyTarget, spec.KeySources, spec.KeyEpoch}, k) {
				t.Errorf("%s: key %s is no flag", ex, k)
			}
		}
		if _, err := f.Sources("x"); err != nil {
			t.Errorf("%s: %v", ex, err)
		}
	}
}
