package bootstrap

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/debstrap/debstrap/internal/testarchive"
)

func writeDeb(t *testing.T, dir, file string, d testarchive.Deb) string {
	t.Helper()
	b, err := testarchive.BuildDeb(d)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, file)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// --include=PATH.deb installs that file, its dependencies from the
// archive, as apt-get install ./PATH.deb does; even a lower version than
// the archive's, and a name with a space in it.
func TestBuildLocalDeb(t *testing.T) {
	dir := t.TempDir()
	local := testarchive.NewDeb("mytool", "1.0-1", "Depends: libc6", "Priority: optional")
	local.Files = []testarchive.File{{Path: "./usr/bin/mytool", Mode: 0o755, Body: []byte("#!/bin/sh\n")}}
	p := writeDeb(t, dir, "my tool_1.0-1_amd64.deb", local)
	// Older than the archive's nano: the file is what is asked for.
	var nano testarchive.Deb
	for _, d := range testarchive.MinimalDebs() {
		if d.Name == "nano" {
			nano = d
		}
	}
	nano.Version = "7.0-1"
	np := writeDeb(t, dir, "nano_7.0-1_amd64.deb", nano)

	b := newTestBuild(t, "out.tar")
	b.cfg.Variant = "custom"
	b.cfg.NoUpdates = true
	b.cfg.Include = []string{p, np}
	res, err := Run(t.Context(), b.cache, b.cfg)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, pkg := range res.Plan.Packages {
		got[pkg.Name] = pkg.Version
	}
	if got["mytool"] != "1.0-1" || got["nano"] != "7.0-1" || got["libc6"] == "" {
		t.Errorf("plan %v: want mytool 1.0-1, nano 7.0-1 and libc6", got)
	}
	if tarNames(t, b.cfg.Target)["usr/bin/mytool"] == nil {
		t.Error("the image has no /usr/bin/mytool")
	}
}

func TestLocalDebErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.deb")
	if err := os.WriteFile(bad, []byte("not a deb"), 0o644); err != nil {
		t.Fatal(err)
	}
	arm := writeDeb(t, dir, "x_1_armhf.deb", testarchive.NewDeb("x", "1", "Architecture: armhf"))
	for _, tc := range []struct{ path, want string }{
		{filepath.Join(dir, "missing.deb"), "missing.deb"},
		{bad, "bad.deb"},
		{arm, "architecture armhf"},
	} {
		_, _, err := localDebs([]string{"hello", tc.path}, []string{"amd64"})
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "--include") {
			t.Errorf("%s: err = %v, want one naming --include and %q", tc.path, err, tc.want)
		}
	}
}

// A local .deb's own index (suite "local", first in order) must not be
// taken for the main suite, whose Essential and Priority seed the set:
// minbase plus a .deb was 46 packages of bookworm's 96, without dash.
func TestLocalDebKeepsVariant(t *testing.T) {
	dir := t.TempDir()
	p := writeDeb(t, dir, "mytool_1.0-1_amd64.deb", testarchive.NewDeb("mytool", "1.0-1", "Depends: libc6", "Priority: optional"))
	names := func(include ...string) map[string]bool {
		b := newTestBuild(t, "out.tar")
		b.cfg.Variant = "minbase"
		b.cfg.NoUpdates = true
		b.cfg.Include = include
		plan, err := Resolve(t.Context(), b.cache, b.cfg.Config)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]bool{}
		for _, pkg := range plan.Packages {
			got[pkg.Name] = true
		}
		return got
	}
	without, with := names(), names(p)
	if !with["mytool"] {
		t.Error("the local .deb is not in the plan")
	}
	for n := range without {
		if !with[n] {
			t.Errorf("%s is missing from minbase plus a local .deb", n)
		}
	}
	if len(with) != len(without)+1 {
		t.Errorf("%d packages with the .deb, %d without", len(with), len(without))
	}
}
