package native

import (
	"strings"
	"testing"

	"github.com/debstrap/debstrap/internal/testarchive"
)

// TestConfigureOrderEssentialFirst is bookworm's usrmerge case: a package
// unpacked early Pre-Depends on init-system-helpers (Essential), which
// Depends on usrmerge | usr-is-merged; usrmerge Depends on perl and
// Pre-Depends on libc6, and its postinst needs what debianutils's postinst
// makes (/etc/shells, the which alternative), though it does not declare
// it: debianutils is Essential. Configuring in dependency order from the
// unpack order alone put usrmerge before debianutils ("which: not found").
func TestConfigureOrderEssentialFirst(t *testing.T) {
	libc := testarchive.NewDeb("libc6", "2.36")
	libc.Files = []testarchive.File{{Path: "etc/"}}
	perlBase := testarchive.NewDeb("perl-base", "5.36", "Essential: yes", "Pre-Depends: libc6 (>= 2.34)")
	perl := testarchive.NewDeb("perl", "5.36", "Depends: perl-base (= 5.36)")
	ish := testarchive.NewDeb("init-system-helpers", "1.65", "Essential: yes", "Pre-Depends: perl-base",
		"Depends: usrmerge | usr-is-merged")
	usrmerge := testarchive.NewDeb("usrmerge", "35", "Pre-Depends: libc6", "Depends: perl:any, libc6")
	usrmerge.Scripts = map[string]string{"postinst": `#!/bin/sh
set -e
[ -f /etc/shells ] || { echo "/etc/shells missing" >&2; exit 1; }
[ -e /usr/bin/which ] || { echo "which: not found" >&2; exit 1; }
echo ok > /etc/usrmerge-configured
`}
	debianutils := testarchive.NewDeb("debianutils", "5.7", "Essential: yes", "Pre-Depends: libc6 (>= 2.34)")
	debianutils.Files = []testarchive.File{binFile("usr/bin/which.debianutils")}
	debianutils.Scripts = map[string]string{"postinst": `#!/bin/sh
set -e
update-alternatives --install /usr/bin/which which /usr/bin/which.debianutils 0
echo /bin/sh > /etc/shells
`}
	bash := testarchive.NewDeb("bash", "5.2", "Essential: yes", "Depends: base-files, debianutils (>= 5.6)")
	daemon := testarchive.NewDeb("anacron", "2.3", "Pre-Depends: init-system-helpers (>= 1.54~)")
	tools := toolbox("update-alternatives")

	// As bootstrap.UnpackOrder has it: by name, what is pre-depended on
	// first (anacron's init-system-helpers, its perl-base, their libc6).
	in := unpack(t, tools, libc, perlBase, ish, daemon, bash, debianutils, perl, usrmerge)
	rep := in.configure(t)
	if len(rep.Failed) != 0 {
		t.Fatalf("failed: %v", rep.Failed)
	}
	if get(t, in.st, "/etc/usrmerge-configured") != "ok\n" {
		t.Error("usrmerge's postinst did not finish")
	}
	pos := map[string]int{}
	for i, p := range rep.Configured {
		pos[p] = i
	}
	order := strings.Join(rep.Configured, " ")
	for _, before := range [][2]string{
		{"debianutils", "usrmerge"}, // Essential first
		{"bash", "usrmerge"},
		{"perl", "usrmerge"}, // dependencies first
		{"libc6", "usrmerge"},
		{"usrmerge", "init-system-helpers"},
		{"perl-base", "perl"},
		{"libc6", "perl-base"},
		{"libc6", "debianutils"},
		{"debianutils", "bash"},
		{"init-system-helpers", "anacron"},
		{"bash", "anacron"}, // Essential before the rest of the batch
	} {
		a, okA := pos[before[0]]
		b, okB := pos[before[1]]
		if !okA || !okB || a > b {
			t.Errorf("%s not configured before %s: %s", before[0], before[1], order)
		}
	}
}

// A cycle among Essential packages and their dependencies is broken once:
// each of the others still comes after what it depends on.
func TestConfigureOrderEssentialCycle(t *testing.T) {
	libc := testarchive.NewDeb("libc6", "2.36", "Depends: libgcc-s1")
	gcc := testarchive.NewDeb("libgcc-s1", "12", "Depends: gcc-12-base, libc6")
	base := testarchive.NewDeb("gcc-12-base", "12")
	dpkgPkg := testarchive.NewDeb("dpkg", "1.21", "Essential: yes", "Pre-Depends: libc6", "Depends: tar")
	tar := testarchive.NewDeb("tar", "1.34", "Essential: yes", "Pre-Depends: libc6")
	files := testarchive.NewDeb("base-files", "12", "Essential: yes")
	in := unpack(t, files, dpkgPkg, base, gcc, libc, tar)
	rep := in.configure(t)
	if len(rep.Failed) != 0 || len(rep.Configured) != 6 {
		t.Fatalf("configured %v, failed %v", rep.Configured, rep.Failed)
	}
	pos := map[string]int{}
	for i, p := range rep.Configured {
		pos[p] = i
	}
	for _, before := range [][2]string{{"gcc-12-base", "libgcc-s1"}, {"libc6", "dpkg"}, {"libgcc-s1", "dpkg"}, {"libc6", "tar"}, {"tar", "dpkg"}} {
		if pos[before[0]] > pos[before[1]] {
			t.Errorf("%s not configured before %s: %v", before[0], before[1], rep.Configured)
		}
	}
}
