package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/debstrap/debstrap/internal/testarchive"
)

// skippedArchive is the minimal archive and n packages whose postinst
// byte-compiles Python modules, an effect native mode knowingly leaves
// out (Report.Skipped), and the package shipping py3compile.
func skippedArchive(n int) (testarchive.Archive, []string) {
	a := testarchive.Minimal()
	py := testarchive.NewDeb("python3-minimal", "3.11")
	py.Files = []testarchive.File{{Path: "usr/bin/py3compile", Mode: 0o755, Body: []byte("#!/usr/bin/python3\n")}}
	debs := append(testarchive.MinimalDebs(), py)
	names := []string{"base-files", "libc6", "dash"}
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf("python3-mod%d", i)
		d := testarchive.NewDeb(name, "1", "Depends: python3-minimal")
		d.Scripts = map[string]string{"postinst": "#!/bin/sh\nset -e\npy3compile -p " + name + "\n"}
		debs = append(debs, d)
		names = append(names, name)
	}
	a.Suites[0].Packages = map[string][]testarchive.Deb{"main": debs}
	return a, names
}

// TestNativeBuildPrintsSkipped: at the end of a native build the effects
// native mode left out are named on stderr, the first five and how many
// more; -v names them all.
func TestNativeBuildPrintsSkipped(t *testing.T) {
	a, names := skippedArchive(7)
	h := newHarness(t, a)
	build := func(extra ...string) result {
		target := filepath.Join(t.TempDir(), "x.tar")
		args := append([]string{"build", "--keyring=" + h.keyring, "--cache-dir=" + h.cache, "--architectures=amd64",
			"--mode=native", "--variant=custom", "--include=" + strings.Join(names, ",")}, extra...)
		return cli(t.Context(), append(args, "stable", target, h.srv.URL)...)
	}
	effect := func(i int) string {
		return fmt.Sprintf(`effect="python3-mod%d: byte-compiling Python modules (py3compile)"`, i)
	}

	r := build()
	want(t, r, 0, nil, []string{"native mode left out 7 effect(s)", effect(1), effect(5), "2 more; -v for all"})
	if strings.Contains(r.stderr, effect(6)) {
		t.Errorf("without -v, a sixth effect is named:\n%s", r.stderr)
	}
	if strings.Contains(r.stdout, "left out") {
		t.Errorf("the list went to stdout:\n%s", r.stdout)
	}

	r = build("-v")
	want(t, r, 0, nil, []string{"native mode left out 7 effect(s)", effect(1), effect(6), effect(7)})
	if strings.Contains(r.stderr, "more; -v for all") {
		t.Errorf("with -v, not all are named:\n%s", r.stderr)
	}

	r = build("-q")
	want(t, r, 0, nil, nil)
	if strings.Contains(r.stderr, "left out") {
		t.Errorf("-q prints the list:\n%s", r.stderr)
	}
}
