package native

import (
	"strings"
	"testing"

	"github.com/debstrap/debstrap/dpkg"
	"github.com/debstrap/debstrap/internal/testarchive"
)

// A small system whose maintainer scripts exercise the mechanisms end to
// end: accounts from a preinst, shadow from pwconv, an alternative, a
// diversion, ldconfig through its trigger, a file trigger, debconf, and
// packages that cannot be configured.
func TestConfigureSystem(t *testing.T) {
	tools := toolbox("update-alternatives", "dpkg-divert", "pwconv", "grpconv", "chown", "chmod", "ln", "cat", "dpkg-trigger", "echo", "groupadd")
	basePasswd := testarchive.NewDeb("base-passwd", "3.6.1", "Essential: yes")
	basePasswd.Scripts = map[string]string{"preinst": `#!/bin/sh
set -e
if [ "$1" = install ] && [ ! -e "$DPKG_ROOT/etc/passwd" ]; then
	cat > "$DPKG_ROOT/etc/passwd" <<'EOF2'
root:*:0:0:root:/root:/bin/bash
nobody:*:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
EOF2
	cat > "$DPKG_ROOT/etc/group" <<'EOF2'
root:*:0:
shadow:*:42:
nogroup:*:65534:
EOF2
fi
`}
	basePasswd.Files = []testarchive.File{{Path: "etc/"}}
	passwd := testarchive.NewDeb("passwd", "1:4.13", "Essential: yes", "Depends: base-passwd")
	passwd.Scripts = map[string]string{"postinst": `#!/bin/sh
set -e
[ -z "$2" ] || exit 0
pwconv
grpconv
chown root:shadow /etc/shadow /etc/gshadow
chmod 640 /etc/shadow /etc/gshadow
`}
	mawk := testarchive.NewDeb("mawk", "1.3.4", "Essential: yes")
	mawk.Files = []testarchive.File{binFile("usr/bin/mawk"), {Path: "usr/share/man/man1/mawk.1.gz", Body: []byte("man")}}
	mawk.Scripts = map[string]string{"postinst": `#!/bin/sh
set -e
update-alternatives --install /usr/bin/awk awk /usr/bin/mawk 5 \
	--slave /usr/share/man/man1/awk.1.gz awk.1.gz /usr/share/man/man1/mawk.1.gz \
	--slave /usr/bin/nawk nawk /usr/bin/mawk
`}
	dash := testarchive.NewDeb("dash", "0.5.12", "Essential: yes")
	dash.Files = []testarchive.File{binFile("bin/dash")}
	dash.Scripts = map[string]string{"postinst": `#!/bin/sh
set -e
if [ -z "$(dpkg-divert --listpackage /bin/sh)" ]; then
	dpkg-divert --package dash --no-rename --divert /bin/sh.distrib --add /bin/sh
	ln -sf dash /bin/sh
fi
`}
	libcBin := testarchive.NewDeb("libc-bin", "2.36-9", "Essential: yes")
	libcBin.Files = []testarchive.File{{Path: "sbin/ldconfig", Mode: 0o755, Body: []byte("\x7fELF\x00ldconfig (Debian GLIBC 2.36-9) stable release version 2.36\x00")},
		{Path: "etc/ld.so.conf", Body: []byte("include /etc/ld.so.conf.d/*.conf\n")},
		{Path: "etc/ld.so.conf.d/"}}
	libcBin.Scripts = map[string]string{
		"triggers": "interest-await ldconfig\n",
		"postinst": "#!/bin/sh\nset -e\nif [ \"$1\" = triggered ] || [ \"$1\" = configure ]; then ldconfig; fi\n",
	}
	libfoo := testarchive.NewDeb("libfoo1", "1.2")
	libfoo.Files = []testarchive.File{{Path: "usr/lib/x86_64-linux-gnu/libfoo.so.1.2", Body: elfLib("libfoo.so.1")}}
	libfoo.Scripts = map[string]string{"triggers": "activate-noawait ldconfig\n"}
	shells := testarchive.NewDeb("shells", "1", "Essential: yes")
	shells.Files = []testarchive.File{{Path: "usr/share/shells.d/"}}
	shells.Scripts = map[string]string{
		"triggers": "interest-noawait /usr/share/shells.d\n",
		"postinst": "#!/bin/sh\nset -e\necho \"$1 $2\" >> /etc/shells.log\n",
	}
	zsh := testarchive.NewDeb("zsh", "5.9")
	zsh.Files = []testarchive.File{{Path: "usr/share/shells.d/zsh", Body: []byte("/bin/zsh\n")}}
	debconf := testarchive.NewDeb("debconf", "1.5.82", "Essential: yes")
	debconf.Files = []testarchive.File{{Path: "usr/share/debconf/confmodule", Body: []byte("# debconf's, never read\n")}}
	asker := testarchive.NewDeb("asker", "1", "Depends: debconf")
	asker.Scripts = map[string]string{
		"templates": "Template: asker/colour\nType: select\nChoices: red, green\nDefault: green\nDescription: Favourite colour?\n Pick one.\n",
		"config":    "#!/bin/sh\nset -e\n. /usr/share/debconf/confmodule\ndb_input high asker/colour || true\ndb_go\n",
		"postinst":  "#!/bin/sh\nset -e\n. /usr/share/debconf/confmodule\ndb_get asker/colour\necho \"$RET\" > /etc/colour\n",
	}
	broken := testarchive.NewDeb("broken", "1")
	broken.Scripts = map[string]string{"postinst": "#!/bin/sh\nset -e\nfrobnicate-the-root\n"}
	opaque := testarchive.NewDeb("opaque", "1")
	opaque.Files = []testarchive.File{binFile("usr/sbin/opaque-helper")}
	opaque.Scripts = map[string]string{"postinst": "#!/bin/sh\nopaque-helper --setup || true\n"}

	in := unpack(t, tools, basePasswd, passwd, mawk, dash, libcBin, shells, debconf, libfoo, zsh, asker, broken, opaque)
	rep := in.configure(t)
	st := in.st

	// Accounts: the preinst's files, then pwconv's.
	if got, want := get(t, st, "/etc/passwd"), "root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"; got != want {
		t.Errorf("passwd:\n%s\nwant\n%s", got, want)
	}
	if got, want := get(t, st, "/etc/shadow"), "root:*:19723:0:99999:7:::\nnobody:*:19723:0:99999:7:::\n"; got != want {
		t.Errorf("shadow:\n%s\nwant\n%s", got, want)
	}
	if got, want := get(t, st, "/etc/gshadow"), "root:*::\nshadow:*::\nnogroup:*::\n"; got != want {
		t.Errorf("gshadow:\n%s\nwant\n%s", got, want)
	}
	if e := entry(t, st, "/etc/shadow"); e.Mode != 0o640 || e.Gid != 42 {
		t.Errorf("shadow mode %o gid %d, want 0640 42", e.Mode, e.Gid)
	}
	if e := entry(t, st, "/etc/passwd-"); e.Mode != 0o600 {
		t.Errorf("passwd- mode %o, want 0600", e.Mode)
	}

	// The alternative.
	if e := entry(t, st, "/usr/bin/awk"); e.Linkname != "/etc/alternatives/awk" {
		t.Errorf("/usr/bin/awk → %q", e.Linkname)
	}
	if e := entry(t, st, "/etc/alternatives/awk"); e.Linkname != "/usr/bin/mawk" {
		t.Errorf("/etc/alternatives/awk → %q", e.Linkname)
	}
	wantAlt := "auto\n/usr/bin/awk\nawk.1.gz\n/usr/share/man/man1/awk.1.gz\nnawk\n/usr/bin/nawk\n\n/usr/bin/mawk\n5\n/usr/share/man/man1/mawk.1.gz\n/usr/bin/mawk\n\n"
	if got := get(t, st, "/var/lib/dpkg/alternatives/awk"); got != wantAlt {
		t.Errorf("alternatives/awk:\n%q\nwant\n%q", got, wantAlt)
	}

	// The diversion, in the database.
	if got, want := get(t, st, "/var/lib/dpkg/diversions"), "/bin/sh\n/bin/sh.distrib\ndash\n"; got != want {
		t.Errorf("diversions %q, want %q", got, want)
	}
	if e := entry(t, st, "/bin/sh"); e.Linkname != "dash" {
		t.Errorf("/bin/sh → %q", e.Linkname)
	}

	// ldconfig ran again for libfoo1 (second batch): cache and link.
	cache := get(t, st, "/etc/ld.so.cache")
	if !strings.HasPrefix(cache, "glibc-ld.so.cache1.1") || !strings.Contains(cache, "/lib/x86_64-linux-gnu/libfoo.so.1\x00") ||
		!strings.HasSuffix(cache, "ldconfig (Debian GLIBC 2.36-9) stable release version 2.36") {
		t.Errorf("ld.so.cache: %q", cache)
	}
	if e := entry(t, st, "/usr/lib/x86_64-linux-gnu/libfoo.so.1"); e.Linkname != "libfoo.so.1.2" {
		t.Errorf("soname link: %+v", e)
	}

	// The file trigger: configured in the first batch, triggered by zsh.
	if got, want := get(t, st, "/etc/shells.log"), "configure \ntriggered /usr/share/shells.d\n"; got != want {
		t.Errorf("shells.log %q, want %q", got, want)
	}

	// debconf: the config script ran first, the default was taken and
	// the question marked seen; the database written.
	if got := get(t, st, "/etc/colour"); got != "green\n" {
		t.Errorf("colour %q", got)
	}
	cfg := get(t, st, "/var/cache/debconf/config.dat")
	if !strings.Contains(cfg, "Name: asker/colour\nTemplate: asker/colour\nValue: green\nOwners: asker\nFlags: seen\n") {
		t.Errorf("config.dat:\n%s", cfg)
	}
	tmpl := get(t, st, "/var/cache/debconf/templates.dat")
	if !strings.Contains(tmpl, "Name: asker/colour\nChoices: red, green\nDefault: green\nDescription: Favourite colour?\nExtended_description: Pick one.\nType: select\nOwners: asker/colour\n") {
		t.Errorf("templates.dat:\n%s", tmpl)
	}

	// States: all installed but the two that cannot be configured.
	failed := map[string]Failure{}
	for _, f := range rep.Failed {
		failed[f.Package] = f
	}
	if len(failed) != 2 || failed["broken"].State != dpkg.Unpacked || failed["opaque"].State != dpkg.Unpacked {
		t.Fatalf("failed: %v", rep.Failed)
	}
	if _, ok := failed["opaque"].Err.(*UnsupportedError); !ok {
		t.Errorf("opaque: %v, want an UnsupportedError", failed["opaque"].Err)
	}
	if !strings.Contains(rep.Warning(), "broken") || !strings.Contains(rep.Warning(), "opaque") {
		t.Errorf("warning %q", rep.Warning())
	}
	status := get(t, st, "/var/lib/dpkg/status")
	for _, want := range []string{"Package: mawk\nEssential: yes\nStatus: install ok installed\n", "Package: broken\nStatus: install ok unpacked\n",
		"Package: zsh\nStatus: install ok installed\n"} {
		if !strings.Contains(status, want) {
			t.Errorf("status lacks %q", want)
		}
	}
	if len(rep.Configured) != len(in.pkgs)-2 {
		t.Errorf("configured %d of %d: %v", len(rep.Configured), len(in.pkgs), rep.Configured)
	}
}

// A preinst that fails leaves its package unpacked, never configured.
func TestFailedPreinst(t *testing.T) {
	d := testarchive.NewDeb("grumpy", "1")
	d.Scripts = map[string]string{"preinst": "#!/bin/sh\nexit 3\n", "postinst": "#!/bin/sh\ntouch /etc/never\n"}
	in := unpack(t, toolbox("touch"), d)
	rep := in.configure(t)
	if len(rep.Failed) != 1 || rep.Failed[0].State != dpkg.Unpacked || rep.Failed[0].Script != "preinst" {
		t.Fatalf("failed: %v", rep.Failed)
	}
	if _, err := in.st.ReadFile("/etc/never"); err == nil {
		t.Error("the postinst ran after a failed preinst")
	}
	if !strings.Contains(get(t, in.st, "/var/lib/dpkg/status"), "Package: grumpy\nStatus: install ok unpacked\n") {
		t.Error("grumpy not left unpacked")
	}
	if w := rep.Warning(); !strings.Contains(w, "the preinst of grumpy did not run") {
		t.Errorf("the warning does not say dpkg --configure -a cannot finish grumpy: %s", w)
	}
}

// A package native alone leaves is in dpkg --unpack's state, so that
// the user's `dpkg --configure -a` finishes it: its conffiles as
// NAME.dpkg-new (at NAME, dpkg would keep "newconffile" for good, as it
// did for openssh-server). With HandOff the exec step does this itself.
func TestLeftConffilesAsDpkgNew(t *testing.T) {
	d := testarchive.NewDeb("keyed", "1")
	d.Files = []testarchive.File{{Path: "etc/keyed.conf", Body: []byte("a=1\n")}}
	d.Conffiles = []string{"/etc/keyed.conf"}
	d.Scripts = map[string]string{"postinst": "#!/bin/sh\nssh-keygen -q -f /etc/k -N '' -t rsa\n"}
	in := unpack(t, toolbox("ssh-keygen"), d)
	rep := in.configure(t)
	if len(rep.Failed) != 1 || rep.Failed[0].State != dpkg.Unpacked {
		t.Fatalf("failed: %v", rep.Failed)
	}
	if _, err := in.st.Lstat("/etc/keyed.conf.dpkg-new"); err != nil {
		t.Errorf("no /etc/keyed.conf.dpkg-new: %v", err)
	}
	if _, err := in.st.Lstat("/etc/keyed.conf"); err == nil {
		t.Error("/etc/keyed.conf is in place; dpkg --configure would never record its hash")
	}
	if !strings.Contains(get(t, in.st, "/var/lib/dpkg/status"), " /etc/keyed.conf newconffile\n") {
		t.Error("status does not record /etc/keyed.conf as newconffile")
	}
}
