package native

import (
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/debstrap/debstrap/internal/testarchive"
)

// orderScript records the configure order, in native and in dpkg run with
// --force-script-chrootless.
const orderScript = "#!/bin/sh\nset -e\necho \"$DPKG_MAINTSCRIPT_PACKAGE\" >> \"$DPKG_ROOT/order\"\n"

// realDpkgOrder installs debs with the host's dpkg into a fresh
// directory as the exec modes' second stage does — unpack in the order
// given, `dpkg --configure` the Essential part (first), then `dpkg
// --configure -a` — and returns the order the postinsts ran in.
func realDpkgOrder(t *testing.T, debs []testarchive.Deb, first []string) []string {
	t.Helper()
	if _, err := exec.LookPath("dpkg"); err != nil {
		t.Skip("no dpkg on the host")
	}
	root := t.TempDir()
	for _, d := range []string{"var/lib/dpkg/info", "var/lib/dpkg/updates", "var/lib/dpkg/triggers"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"var/lib/dpkg/status", "var/lib/dpkg/available"} {
		if err := os.WriteFile(filepath.Join(root, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var files []string
	for _, d := range debs {
		raw, err := testarchive.BuildDeb(d)
		if err != nil {
			t.Fatal(err)
		}
		f := filepath.Join(t.TempDir(), d.Name+".deb")
		if err := os.WriteFile(f, raw, 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	dpkg := func(args ...string) {
		t.Helper()
		base := []string{"--root=" + root, "--force-not-root", "--force-script-chrootless", "--force-depends",
			"--force-unsafe-io", "--log=/dev/null", "--no-triggers"}
		cmd := exec.Command("dpkg", append(base, args...)...)
		cmd.Env = append(os.Environ(), "PATH=/usr/sbin:/usr/bin:/sbin:/bin")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Skipf("dpkg %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	for _, f := range files {
		dpkg("--unpack", f)
	}
	if len(first) > 0 {
		dpkg(append([]string{"--force-configure-any", "--configure"}, first...)...)
	}
	dpkg("--configure", "-a")
	data, err := os.ReadFile(filepath.Join(root, "order"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(string(data))
}

// nativeOrder configures debs natively and returns the order the
// postinsts ran in.
func nativeOrder(t *testing.T, debs []testarchive.Deb) []string {
	t.Helper()
	in := unpack(t, append([]testarchive.Deb{toolbox()}, debs...)...)
	if rep := in.configure(t); len(rep.Failed) > 0 {
		t.Fatalf("failed: %v", rep.Failed)
	}
	return strings.Fields(get(t, in.st, "/order"))
}

// TestConfigureOrderLikeDpkg: native configures in the order the host's
// dpkg does, for the sets that broke before and for random sets with
// dependency cycles, alternatives and Provides.
func TestConfigureOrderLikeDpkg(t *testing.T) {
	// A package with the field X-No-Postinst has none: dpkg breaks a
	// cycle at such a package when it can.
	withScript := func(d testarchive.Deb) testarchive.Deb {
		if !slices.ContainsFunc(d.Fields, func(f testarchive.Field) bool { return f.Name == "X-No-Postinst" }) {
			d.Scripts = map[string]string{"postinst": orderScript}
		}
		return d
	}
	type set struct {
		name  string
		debs  []testarchive.Deb
		first []string // the Essential packages and what they depend on, in unpack order
	}
	sets := []set{
		{"usrmerge", []testarchive.Deb{
			testarchive.NewDeb("libc6", "2.36"),
			testarchive.NewDeb("perl-base", "5.36", "Essential: yes", "Pre-Depends: libc6 (>= 2.34)"),
			testarchive.NewDeb("init-system-helpers", "1.65", "Essential: yes", "Pre-Depends: perl-base", "Depends: usrmerge | usr-is-merged"),
			testarchive.NewDeb("anacron", "2.3", "Pre-Depends: init-system-helpers (>= 1.54~)"),
			testarchive.NewDeb("bash", "5.2", "Essential: yes", "Depends: debianutils (>= 5.6)"),
			testarchive.NewDeb("debianutils", "5.7", "Essential: yes", "Pre-Depends: libc6 (>= 2.34)"),
			testarchive.NewDeb("perl", "5.36", "Multi-Arch: allowed", "Depends: perl-base (= 5.36)"),
			testarchive.NewDeb("usrmerge", "35", "Pre-Depends: libc6", "Depends: perl:any, libc6"),
		}, []string{"libc6", "perl-base", "init-system-helpers", "bash", "debianutils", "perl", "usrmerge"}},
		{"essential cycle", []testarchive.Deb{
			testarchive.NewDeb("base-files", "12", "Essential: yes"),
			testarchive.NewDeb("dpkg", "1.21", "Essential: yes", "Pre-Depends: libc6", "Depends: tar"),
			testarchive.NewDeb("gcc-12-base", "12"),
			testarchive.NewDeb("libgcc-s1", "12", "Depends: gcc-12-base, libc6"),
			testarchive.NewDeb("libc6", "2.36", "Depends: libgcc-s1"),
			testarchive.NewDeb("tar", "1.34", "Essential: yes", "Pre-Depends: libc6"),
		}, []string{"base-files", "dpkg", "gcc-12-base", "libgcc-s1", "libc6", "tar"}},
		// noble's gzip: --force-configure-any takes the unpacked
		// install-info into the Essential run ("also configuring").
		{"also configuring", []testarchive.Deb{
			testarchive.NewDeb("gzip", "1.12", "Essential: yes", "Depends: dpkg (>= 1.15.4) | install-info"),
			testarchive.NewDeb("install-info", "7.1", "Depends: libc6"),
			testarchive.NewDeb("libc6", "2.39"),
			testarchive.NewDeb("dpkg", "1.22", "Essential: yes"),
			testarchive.NewDeb("other", "1"),
		}, []string{"gzip", "dpkg"}},
	}
	for _, np := range []string{"", "x", "y"} {
		no := func(name string) string {
			if name == np {
				return "X-No-Postinst: yes"
			}
			return ""
		}
		sets = append(sets, set{name: "cycle, no postinst in " + np, debs: []testarchive.Deb{
			testarchive.NewDeb("z", "1", "Depends: x"),
			testarchive.NewDeb("x", "1", "Depends: y", no("x")),
			testarchive.NewDeb("y", "1", "Depends: x", no("y")),
		}})
	}
	rng := rand.New(rand.NewSource(1))
	for n := range 8 {
		var debs []testarchive.Deb
		const size = 40
		for i := range size {
			var fields []string
			var deps []string
			for range rng.Intn(4) {
				a := fmt.Sprintf("p%02d", rng.Intn(size))
				if rng.Intn(5) == 0 {
					a += fmt.Sprintf(" | v%d", rng.Intn(5))
				}
				deps = append(deps, a)
			}
			if len(deps) > 0 {
				fields = append(fields, "Depends: "+strings.Join(deps, ", "))
			}
			if rng.Intn(6) == 0 {
				fields = append(fields, "Pre-Depends: "+fmt.Sprintf("p%02d", rng.Intn(size)))
			}
			if rng.Intn(5) == 0 {
				fields = append(fields, fmt.Sprintf("Provides: v%d", rng.Intn(5)))
			}
			if rng.Intn(4) == 0 {
				fields = append(fields, "X-No-Postinst: yes")
			}
			debs = append(debs, testarchive.NewDeb(fmt.Sprintf("p%02d", i), "1", fields...))
		}
		rng.Shuffle(len(debs), func(i, j int) { debs[i], debs[j] = debs[j], debs[i] })
		sets = append(sets, set{name: fmt.Sprintf("random %d", n), debs: debs})
	}
	for _, s := range sets {
		t.Run(s.name, func(t *testing.T) {
			var debs []testarchive.Deb
			for _, d := range s.debs {
				debs = append(debs, withScript(d))
			}
			want := realDpkgOrder(t, debs, s.first)
			got := nativeOrder(t, debs)
			if !slices.Equal(got, want) {
				t.Errorf("native configured\n  %v\ndpkg configured\n  %v", got, want)
				for _, d := range debs {
					t.Logf("%s %v", d.Name, d.Fields)
				}
			}
		})
	}
}
