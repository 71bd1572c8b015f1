package native

import (
	"errors"
	"strings"
	"testing"

	"github.com/debstrap/debstrap/dpkg"
	"github.com/debstrap/debstrap/internal/testarchive"
)

// dependsSet is A, whose postinst runs a command native mode does not
// have; B, which depends on A; C, which depends on B | D (given before D,
// so that it waits for it); D, configured or not as dFails says; and E,
// which depends on C.
func dependsSet(dFails bool) []testarchive.Deb {
	a := testarchive.NewDeb("a", "1")
	a.Files = []testarchive.File{binFile("usr/sbin/a-helper")}
	a.Scripts = map[string]string{"postinst": "#!/bin/sh\nset -e\na-helper --setup\n"}
	b := testarchive.NewDeb("b", "1", "Depends: a (>= 1)")
	b.Scripts = map[string]string{"postinst": "#!/bin/sh\nset -e\necho yes > /b-configured\n"}
	c := testarchive.NewDeb("c", "1", "Depends: b | d")
	c.Scripts = map[string]string{"postinst": "#!/bin/sh\nset -e\necho yes > /c-configured\n"}
	d := testarchive.NewDeb("d", "1", "Provides: d-virtual")
	if dFails {
		d.Scripts = map[string]string{"postinst": "#!/bin/sh\nset -e\na-helper --other\n"}
	}
	e := testarchive.NewDeb("e", "1", "Pre-Depends: c")
	return []testarchive.Deb{toolbox("touch"), a, b, c, d, e}
}

// TestDependsOnUnconfigured: dpkg configures a package only once all its
// Depends and Pre-Depends are configured. A package whose dependency
// native left unconfigured stays unpacked, its postinst not run, and is
// reported with the reason; an OR clause is met by any alternative
// configured.
func TestDependsOnUnconfigured(t *testing.T) {
	for _, dFails := range []bool{false, true} {
		in := unpack(t, dependsSet(dFails)...)
		rep := in.configure(t)
		status := get(t, in.st, "/var/lib/dpkg/status")
		failed := map[string]Failure{}
		for _, f := range rep.Failed {
			failed[f.Package] = f
		}
		wantState := func(pkg string, st dpkg.State) {
			t.Helper()
			if want := "Package: " + pkg + "\nStatus: install ok " + string(st) + "\n"; !strings.Contains(status, want) {
				t.Errorf("dFails=%v: status lacks %q", dFails, want)
			}
		}
		wantDep := func(pkg, field, reason string) {
			t.Helper()
			f, ok := failed[pkg]
			var de *DependsError
			if !ok || f.State != dpkg.Unpacked || f.Script != field || !errors.As(f.Err, &de) || f.Err.Error() != reason {
				t.Errorf("dFails=%v: %s: %+v, want left unpacked: %s", dFails, pkg, f, reason)
			}
			wantState(pkg, dpkg.Unpacked)
		}

		if f := failed["a"]; f.State != dpkg.Unpacked || !f.Undone {
			t.Errorf("dFails=%v: a: %+v", dFails, f)
		}
		wantState("a", dpkg.Unpacked) // its failed postinst undone
		wantDep("b", "Depends", "depends on a, left unconfigured")
		if get(t, in.st, "/b-configured") != "" {
			t.Errorf("dFails=%v: b's postinst ran", dFails)
		}
		if dFails {
			wantState("d", dpkg.Unpacked)
			wantDep("c", "Depends", "depends on b | d, left unconfigured")
			wantDep("e", "Pre-Depends", "pre-depends on c, left unconfigured")
			if get(t, in.st, "/c-configured") != "" {
				t.Error("c's postinst ran")
			}
			if len(rep.Failed) != 5 {
				t.Errorf("failed: %v", rep.Failed)
			}
		} else {
			for _, p := range []string{"c", "d", "e"} {
				wantState(p, dpkg.Installed)
			}
			if get(t, in.st, "/c-configured") == "" {
				t.Error("c's postinst did not run")
			}
			if got, want := strings.Join(rep.Configured, " "), "toolbox d c e"; got != want {
				t.Errorf("configured %q, want %q", got, want)
			}
			if len(rep.Failed) != 2 {
				t.Errorf("failed: %v", rep.Failed)
			}
		}
		for _, p := range []string{"b", "c", "e"} {
			if _, ok := failed[p]; ok && !strings.Contains(rep.Warning(), " "+p) {
				t.Errorf("warning %q lacks %s", rep.Warning(), p)
			}
		}
	}
}

// A dependency met through Provides counts once its provider is
// configured, and not when its provider was left unconfigured.
func TestDependsThroughProvides(t *testing.T) {
	for _, dFails := range []bool{false, true} {
		set := dependsSet(dFails)
		user := testarchive.NewDeb("user", "1", "Depends: d-virtual")
		in := unpack(t, append(set, user)...)
		rep := in.configure(t)
		status := get(t, in.st, "/var/lib/dpkg/status")
		want := "Package: user\nStatus: install ok installed\n"
		if dFails {
			want = "Package: user\nStatus: install ok unpacked\n"
			if !strings.Contains(rep.Warning(), " user") {
				t.Errorf("warning %q", rep.Warning())
			}
		}
		if !strings.Contains(status, want) {
			t.Errorf("dFails=%v: status lacks %q", dFails, want)
		}
	}
}
