package native

import (
	"archive/tar"
	"bytes"
	"encoding/binary"
	"os"
	"strings"
	"testing"

	"github.com/debstrap/debstrap/dpkg"
	"github.com/debstrap/debstrap/internal/testarchive"
)

func TestAlternatives(t *testing.T) {
	st := newStage(t)
	s := testSys(t, st)
	put(t, st, map[string]string{
		"/usr/bin/more": "x:more", "/usr/bin/less": "x:less",
		"/usr/share/man/man1/more.1.gz": "m", "/usr/share/man/man1/less.1.gz": "l",
	})
	mustSh(t, s, `set -e
update-alternatives --install /usr/bin/pager pager /usr/bin/more 50 --slave /usr/share/man/man1/pager.1.gz pager.1.gz /usr/share/man/man1/more.1.gz
update-alternatives --quiet --install /usr/bin/pager pager /usr/bin/less 77 --slave /usr/share/man/man1/pager.1.gz pager.1.gz /usr/share/man/man1/less.1.gz`)
	if e := entry(t, st, "/etc/alternatives/pager"); e.Linkname != "/usr/bin/less" {
		t.Errorf("pager → %s, want the higher priority", e.Linkname)
	}
	if e := entry(t, st, "/etc/alternatives/pager.1.gz"); e.Linkname != "/usr/share/man/man1/less.1.gz" {
		t.Errorf("pager.1.gz → %s", e.Linkname)
	}
	want := "auto\n/usr/bin/pager\npager.1.gz\n/usr/share/man/man1/pager.1.gz\n\n" +
		"/usr/bin/less\n77\n/usr/share/man/man1/less.1.gz\n/usr/bin/more\n50\n/usr/share/man/man1/more.1.gz\n\n"
	if got := get(t, st, "/var/lib/dpkg/alternatives/pager"); got != want {
		t.Errorf("state:\n%q\nwant\n%q", got, want)
	}
	// Manual choice sticks; removing the current one falls back to auto.
	mustSh(t, s, "update-alternatives --set pager /usr/bin/more")
	if got := get(t, st, "/var/lib/dpkg/alternatives/pager"); !strings.HasPrefix(got, "manual\n") {
		t.Errorf("after --set: %q", got)
	}
	mustSh(t, s, "update-alternatives --remove pager /usr/bin/more")
	if e := entry(t, st, "/etc/alternatives/pager"); e.Linkname != "/usr/bin/less" {
		t.Errorf("after --remove pager → %s", e.Linkname)
	}
	if got := get(t, st, "/var/lib/dpkg/alternatives/pager"); !strings.HasPrefix(got, "auto\n") {
		t.Errorf("after --remove: %q", got)
	}
	// A path that does not exist cannot be an alternative.
	if _, err := sh(t, s, "update-alternatives --install /usr/bin/x x /usr/bin/none 1"); err == nil {
		t.Error("installing a missing path succeeded")
	}
	// A slave whose file is missing is not linked.
	mustSh(t, s, "update-alternatives --install /usr/bin/vi vi /usr/bin/more 1 --slave /usr/share/man/man1/vi.1.gz vi.1.gz /usr/share/man/man1/none.1.gz")
	if _, ok := st.Lookup("/usr/share/man/man1/vi.1.gz"); ok {
		t.Error("slave link made for a missing file")
	}
}

func TestDiversions(t *testing.T) {
	st := newStage(t)
	s := testSys(t, st)
	put(t, st, map[string]string{"/usr/bin/tool": "x:orig"})
	out := mustSh(t, s, `set -e
dpkg-divert --package pkg --rename --divert /usr/bin/tool.real --add /usr/bin/tool
dpkg-divert --listpackage /usr/bin/tool
dpkg-divert --truename /usr/bin/tool
dpkg-divert --truename /usr/bin/other
dpkg-divert --local --add /etc/foo
dpkg-divert --list '*foo*'`)
	want := "Adding 'diversion of /usr/bin/tool to /usr/bin/tool.real by pkg'\npkg\n/usr/bin/tool.real\n/usr/bin/other\n" +
		"Adding 'local diversion of /etc/foo to /etc/foo.distrib'\nlocal diversion of /etc/foo to /etc/foo.distrib\n"
	if out != want {
		t.Errorf("output:\n%s\nwant\n%s", out, want)
	}
	if got := get(t, st, "/usr/bin/tool.real"); got != "orig" {
		t.Errorf("--rename: %q", got)
	}
	if _, err := sh(t, s, "dpkg-divert --package other --divert /usr/bin/tool.x --add /usr/bin/tool"); err == nil {
		t.Error("clashing diversion accepted")
	}
	mustSh(t, s, "dpkg-divert --package pkg --rename --remove /usr/bin/tool")
	if got := get(t, st, "/usr/bin/tool"); got != "orig" {
		t.Errorf("after --remove --rename: %q", got)
	}
	if len(s.divs) != 1 || s.divs[0].Package != "" {
		t.Errorf("diversions %v", s.divs)
	}
}

func TestAccounts(t *testing.T) {
	st := newStage(t)
	s := testSys(t, st)
	put(t, st, map[string]string{
		"/etc/passwd":                  "root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
		"/etc/shadow":                  "root:*:19000:0:99999:7:::\nnobody:*:19000:0:99999:7:::\n",
		"/etc/group":                   "root:x:0:\nadm:x:4:\nshadow:x:42:\nnogroup:x:65534:\n",
		"/etc/gshadow":                 "root:*::\nadm:*::\nshadow:*::\nnogroup:*::\n",
		"/usr/lib/sysusers.d/net.conf": "u! systemd-network - \"systemd Network Management\"\ng systemd-journal - -\nm systemd-network adm\n",
	})
	mustSh(t, s, `set -e
adduser --system --quiet --home /nonexistent --no-create-home --group messagebus
addgroup --quiet --system netdev
adduser --system --no-create-home _apt
adduser messagebus adm
systemd-sysusers net.conf
getent passwd messagebus >/dev/null`)
	if got, want := get(t, st, "/etc/passwd"), "root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"+
		"messagebus:x:100:100::/nonexistent:/usr/sbin/nologin\n_apt:x:101:65534::/nonexistent:/usr/sbin/nologin\n"+
		"systemd-network:x:998:998:systemd Network Management:/:/usr/sbin/nologin\n"; got != want {
		t.Errorf("passwd:\n%s\nwant\n%s", got, want)
	}
	if got, want := get(t, st, "/etc/group"), "root:x:0:\nadm:x:4:messagebus,systemd-network\nshadow:x:42:\nnogroup:x:65534:\n"+
		"messagebus:x:100:\nnetdev:x:101:\nsystemd-journal:x:999:\nsystemd-network:x:998:\n"; got != want {
		t.Errorf("group:\n%s\nwant\n%s", got, want)
	}
	// useradd's locked "!", sysusers' "!*" after the others (as
	// systemd-sysusers 252 --root writes them) and expired (u!, 254+).
	if got, want := get(t, st, "/etc/shadow"), "root:*:19000:0:99999:7:::\nnobody:*:19000:0:99999:7:::\n"+
		"messagebus:!:19723::::::\n_apt:!:19723::::::\nsystemd-network:!*:19723:::::1:\n"; got != want {
		t.Errorf("shadow:\n%s\nwant\n%s", got, want)
	}
	if got := get(t, st, "/etc/gshadow"); !strings.Contains(got, "messagebus:!::\n") || !strings.Contains(got, "systemd-journal:!*::\n") {
		t.Errorf("gshadow:\n%s", got)
	}
	if _, ok := st.Lookup("/etc/.pwd.lock"); !ok {
		t.Error("no /etc/.pwd.lock")
	}
	// Existing system users are left alone.
	mustSh(t, s, "adduser --system messagebus; addgroup --system netdev")

	// The comment: with usermod -c as is (trixie's adduser), with chfn
	// -f as chfn writes it (bookworm's, noble's).
	mustSh(t, s, `adduser --system --gecos "Daemon One" one`)
	put(t, st, map[string]string{"/usr/bin/adduser": "x:#! /usr/bin/perl\n&systemcall($chfn, '-f', $comment, $new_name);\n"})
	mustSh(t, s, `adduser --system --gecos "Daemon Two" two; adduser --system --comment "Three,Room 3" three`)
	for _, want := range []string{":Daemon One:", ":Daemon Two,,,:", ":Three,Room 3,,:"} {
		if !strings.Contains(get(t, st, "/etc/passwd"), want) {
			t.Errorf("passwd lacks %q:\n%s", want, get(t, st, "/etc/passwd"))
		}
	}
}

func TestLibcmp(t *testing.T) {
	for _, c := range []struct {
		a, b string
		sign int
	}{
		{"libz.so.1", "libz.so.1", 0},
		{"libfoo.so.10", "libfoo.so.9", 1},
		{"libc.so.6", "libcap.so.2", -1},
		{"libfoo.so.1", "libfoo.so", 1},
		{"ld-linux.so.2", "libc.so.6", -1},
	} {
		got := libcmp(c.a, c.b)
		if (got > 0) != (c.sign > 0) || (got < 0) != (c.sign < 0) {
			t.Errorf("libcmp(%q, %q) = %d, want sign %d", c.a, c.b, got, c.sign)
		}
	}
}

// The cache of two libraries: header, sorted entries, tail-merged
// strings, the extension with the generator.
func TestLDCacheFormat(t *testing.T) {
	entries := []cacheEntry{
		{lib: "libc.so.6", path: "/lib/x86_64-linux-gnu/libc.so.6", flags: 0x303},
		{lib: "libz.so.1", path: "/lib/x86_64-linux-gnu/libz.so.1", flags: 0x303},
	}
	gen := "ldconfig (Debian GLIBC 2.36-9) stable release version 2.36"
	b := buildLDCache(entries, gen, binary.LittleEndian, false)
	if !bytes.HasPrefix(b, []byte("glibc-ld.so.cache1.1")) {
		t.Fatal("bad magic")
	}
	le := binary.LittleEndian
	nlibs, strLen := le.Uint32(b[20:]), le.Uint32(b[24:])
	if nlibs != 2 || b[28] != 2 {
		t.Fatalf("nlibs %d flags %d", nlibs, b[28])
	}
	// Strings: the two paths, the sonames merged into their tails.
	if want := uint32(len("/lib/x86_64-linux-gnu/libz.so.1") + 1 + len("/lib/x86_64-linux-gnu/libc.so.6") + 1); strLen != want {
		t.Errorf("string table %d bytes, want %d", strLen, want)
	}
	str := func(off uint32) string {
		e := bytes.IndexByte(b[off:], 0)
		return string(b[off : off+uint32(e)])
	}
	// Entries in descending soname order: libz first.
	if key := str(le.Uint32(b[48+4:])); key != "libz.so.1" {
		t.Errorf("first entry %q", key)
	}
	if val := str(le.Uint32(b[48+24+8:])); val != "/lib/x86_64-linux-gnu/libc.so.6" {
		t.Errorf("second value %q", val)
	}
	ext := le.Uint32(b[32:])
	if ext%4 != 0 || le.Uint32(b[ext:]) != 0xeaa42174 || !bytes.HasSuffix(b, []byte(gen)) {
		t.Errorf("extension at %d: % x", ext, b[ext:])
	}
}

func TestLdconfigScan(t *testing.T) {
	st := newStage(t)
	s := testSys(t, st)
	put(t, st, map[string]string{
		"/etc/ld.so.conf":                           "include /etc/ld.so.conf.d/*.conf\n",
		"/etc/ld.so.conf.d/local.conf":              "/usr/local/lib # local\n",
		"/usr/local/lib/":                           "",
		"/sbin/ldconfig":                            "x:\x7fELF..ldconfig (Test GLIBC 9) stable release version 9\x00",
		"/usr/lib/x86_64-linux-gnu/libfoo.so.1.2.3": string(elfLib("libfoo.so.1")),
		"/usr/lib/x86_64-linux-gnu/libfoo.so":       "-> libfoo.so.1.2.3",
		"/usr/lib/x86_64-linux-gnu/libbar.so.2":     "-> libbar.so.2.0",
		"/usr/lib/x86_64-linux-gnu/libbar.so.2.0":   string(elfLib("libbar.so.2")),
		"/usr/lib/x86_64-linux-gnu/libold.so.1":     "-> libold.so.1.0.gone",
		"/usr/lib/x86_64-linux-gnu/libnotelf.so":    "GROUP ( libc.so.6 )",
		"/usr/lib/x86_64-linux-gnu/not-a-lib.so.1":  string(elfLib("x")),
	})
	mustSh(t, s, "ldconfig")
	if e := entry(t, st, "/usr/lib/x86_64-linux-gnu/libfoo.so.1"); e.Linkname != "libfoo.so.1.2.3" {
		t.Errorf("soname link %+v", e)
	}
	if _, ok := st.Lookup("/usr/lib/x86_64-linux-gnu/libold.so.1"); ok {
		t.Error("stale link kept")
	}
	cache := get(t, st, "/etc/ld.so.cache")
	for _, want := range []string{"/lib/x86_64-linux-gnu/libfoo.so.1\x00", "/lib/x86_64-linux-gnu/libbar.so.2\x00", "/lib/x86_64-linux-gnu/libfoo.so\x00"} {
		if !strings.Contains(cache, want) {
			t.Errorf("cache lacks %q", want)
		}
	}
	if strings.Contains(cache, "libnotelf") || strings.Contains(cache, "not-a-lib") {
		t.Error("cache lists a non-library")
	}
	if le := binary.LittleEndian; le.Uint32([]byte(cache[20:])) != 3 {
		t.Errorf("%d entries, want 3", le.Uint32([]byte(cache[20:])))
	}
}

func TestDebconfTemplates(t *testing.T) {
	tmpl := "Template: p/q\nType: boolean\nDefault: true\nDescription: Short?\n Line one\n continues.\n .\n  verbatim\nDescription-de.UTF-8: Kurz?\n Zeile.\n\nTemplate: p/n\nType: note\nDescription: Note\n"
	d := &debconfDB{config: map[string]*dcItem{}, templates: map[string]*dcItem{}, passwords: map[string]*dcItem{}}
	if err := d.loadTemplates([]byte(tmpl), "p"); err != nil {
		t.Fatal(err)
	}
	got := string(formatDebconf(d.templates))
	want := "Name: p/n\nDescription: Note\nType: note\nOwners: p/n\n\n" +
		"Name: p/q\nDefault: true\nDescription: Short?\nDescription-de.utf-8: Kurz?\nExtended_description: Line one continues.\\n\\n verbatim\n" +
		"Extended_description-de.utf-8: Zeile.\nType: boolean\nOwners: p/q\n\n"
	if got != want {
		t.Errorf("templates.dat:\n%q\nwant\n%q", got, want)
	}
	if got, want := string(formatDebconf(d.config)), "Name: p/n\nTemplate: p/n\nOwners: p\n\nName: p/q\nTemplate: p/q\nOwners: p\n\n"; got != want {
		t.Errorf("config.dat:\n%q\nwant\n%q", got, want)
	}
	back, err := (&sys{}).parseDebconf(formatDebconf(d.config))
	if err != nil || len(back) != 2 || !back["p/q"].owners["p"] {
		t.Errorf("round trip: %v %v", back, err)
	}
}

// INPUT at a priority below debconf's (high) is not "shown" and so not
// marked seen; at high it is (DEBCONF_NONINTERACTIVE_SEEN=true).
func TestDebconfInput(t *testing.T) {
	st := newStage(t)
	put(t, st, map[string]string{"/usr/share/debconf/confmodule": "#"})
	p := control("Package: q\nVersion: 1\nArchitecture: all\n", map[string]string{
		"templates": "Template: q/low\nType: string\nDefault: a\nDescription: low\n\nTemplate: q/high\nType: select\nChoices: x, y\nDefault: z\nDescription: high\n",
		"postinst":  "#!/bin/sh\nset -e\n. /usr/share/debconf/confmodule\ndb_input medium q/low || true\ndb_input high q/high || true\ndb_go\ndb_get q/high\necho $RET > /etc/high\n",
	})
	s := testSys(t, st, p)
	if err := s.runMaintScript(t.Context(), s.byName["q"], "postinst", "configure", ""); err != nil {
		t.Fatal(err)
	}
	cfg := string(formatDebconf(s.debconf.config))
	// A select whose default is not a choice gets the first choice.
	if !strings.Contains(cfg, "Name: q/high\nTemplate: q/high\nValue: x\nOwners: q\nFlags: seen\n") ||
		!strings.Contains(cfg, "Name: q/low\nTemplate: q/low\nValue: a\nOwners: q\n\n") {
		t.Errorf("config.dat:\n%s", cfg)
	}
	if got := get(t, st, "/etc/high"); got != "x\n" {
		t.Errorf("db_get %q", got)
	}
}

// A program (ucf --debconf-ok) loading confmodule from a postinst that
// does not: a session of its own, with no owner, as debconf's frontend.
func TestDebconfProgram(t *testing.T) {
	st := newStage(t)
	put(t, st, map[string]string{
		"/usr/share/debconf/confmodule": "#",
		"/usr/bin/prog":                 "x:#!/bin/sh\nset -e\n. /usr/share/debconf/confmodule\ndb_version 2.0\necho \"$RET\" > /etc/v\n",
	})
	p := control("Package: r\nVersion: 1\nArchitecture: all\n", map[string]string{"postinst": "#!/bin/sh\nset -e\nprog\n"})
	s := testSys(t, st, p)
	if err := s.runMaintScript(t.Context(), s.byName["r"], "postinst", "configure", ""); err != nil {
		t.Fatal(err)
	}
	if got := get(t, st, "/etc/v"); got != "2.0\n" {
		t.Errorf("VERSION %q", got)
	}
}

func TestPamAuthUpdate(t *testing.T) {
	st := newStage(t)
	tmpl, err := os.ReadFile("testdata/pam/common-auth")
	if err != nil {
		t.Fatal(err)
	}
	put(t, st, map[string]string{
		"/usr/share/pam-configs/unix":                 "Name: Unix authentication\nDefault: yes\nPriority: 256\nAuth-Type: Primary\nAuth:\n\t[success=end default=ignore]\tpam_unix.so nullok try_first_pass\nAuth-Initial:\n\t[success=end default=ignore]\tpam_unix.so nullok\nSession-Type: Additional\nSession:\n\trequired\tpam_unix.so\n",
		"/usr/share/pam-configs/extra":                "Name: Extra\nDefault: yes\nPriority: 0\nAuth-Type: Additional\nAuth:\n\toptional\tpam_extra.so\n",
		"/usr/share/pam/common-auth":                  string(tmpl),
		"/etc/pam.d/":                                 "",
		"/var/lib/dpkg/info/libpam-runtime.templates": "Template: libpam-runtime/profiles\nType: multiselect\nChoices: ${profiles}\nDescription: PAM profiles to enable:\n\nTemplate: libpam-runtime/override\nType: boolean\nDefault: false\nDescription: Override?\n",
	})
	for _, typ := range []string{"account", "password", "session", "session-noninteractive"} {
		r := strings.NewReplacer("common-auth", "common-"+typ, "\nauth\t", "\n"+typ+"\t")
		put(t, st, map[string]string{"/usr/share/pam/common-" + typ: r.Replace(string(tmpl))})
	}
	s := testSys(t, st)
	mustSh(t, s, "pam-auth-update --package --force")
	got := get(t, st, "/etc/pam.d/common-auth")
	for _, want := range []string{"(the \"Primary\" block)\nauth\t[success=1 default=ignore]\tpam_unix.so nullok\n# here's the fallback if no module succeeds\nauth\trequisite", "# and here are more per-package modules (the \"Additional\" block)\nauth\toptional\tpam_extra.so \n"} {
		if !strings.Contains(got, want) {
			t.Errorf("common-auth lacks %q:\n%s", want, got)
		}
	}
	if got := get(t, st, "/var/lib/pam/seen"); got != "unix\nextra\n" {
		t.Errorf("seen %q", got)
	}
	if got := get(t, st, "/var/lib/pam/auth"); got != "Module: unix\n[success=end default=ignore]\tpam_unix.so nullok\nModule: extra\noptional\tpam_extra.so\n" {
		t.Errorf("state %q", got)
	}
	// A second run (another package's) finds its own state and keeps it.
	mustSh(t, s, "pam-auth-update --package")
	if again := get(t, st, "/etc/pam.d/common-auth"); again != got {
		t.Errorf("second run changed common-auth:\n%s", again)
	}
	if v, _ := s.debconf.value("libpam-runtime/profiles"); v != "unix, extra" {
		t.Errorf("profiles %q", v)
	}
}

func TestTmpfiles(t *testing.T) {
	st := newStage(t)
	s := testSys(t, st)
	put(t, st, map[string]string{
		"/etc/group":                 "root:x:0:\nsystemd-journal:x:999:\n",
		"/etc/passwd":                "root:x:0:0::/root:/bin/sh\n",
		"/var/log/":                  "",
		"/usr/lib/tmpfiles.d/a.conf": "d /var/log/journal 2755 root systemd-journal - -\nd /run/x 0755 - - -\nf /etc/flag 0600 - - - hello\\n\nL /etc/mtab - - - - ../proc/self/mounts\nd! /boot/only - - -\nd /etc/first 0700 - - -\n",
		"/usr/lib/tmpfiles.d/b.conf": "d /etc/first 0755 - - -\na+ /var/log/journal - - - - d:group::r-x\nz /dev/snd/seq 0660 - - -\n",
	})
	mustSh(t, s, "systemd-tmpfiles --create a.conf b.conf")
	if e := entry(t, st, "/var/log/journal"); e.Mode != 0o2755 || e.Gid != 999 {
		t.Errorf("journal: %o %d", e.Mode, e.Gid)
	}
	if e := entry(t, st, "/etc/first"); e.Mode != 0o700 {
		t.Errorf("first line for a path should win: %o", e.Mode)
	}
	if got := get(t, st, "/etc/flag"); got != "hello\n" || entry(t, st, "/etc/flag").Mode != 0o600 {
		t.Errorf("flag %q", got)
	}
	if e := entry(t, st, "/etc/mtab"); e.Linkname != "../proc/self/mounts" {
		t.Errorf("mtab %+v", e)
	}
	for _, p := range []string{"/run/x", "/boot/only", "/dev/snd"} {
		if _, ok := st.Lookup(p); ok {
			t.Errorf("%s made", p)
		}
	}
	if len(s.report.Skipped) != 1 || !strings.Contains(s.report.Skipped[0], "ACLs") {
		t.Errorf("skipped %v", s.report.Skipped)
	}
}

func TestConvertUsrmerge(t *testing.T) {
	st := newStage(t)
	// newStage links bin, sbin, lib; undo that for an unmerged root. Its
	// stub shells in /usr/bin would be a second copy of /bin's.
	for _, d := range []string{"/bin", "/sbin", "/lib", "/usr/bin/sh", "/usr/bin/dash", "/usr/bin/bash"} {
		st.Remove(d)
	}
	put(t, st, map[string]string{
		"/bin/sh":                         "-> dash",
		"/bin/dash":                       "x:dash",
		"/bin/touch":                      "x:touch",
		"/usr/bin/touch":                  "-> /bin/touch",
		"/lib/x86_64-linux-gnu/libc.so.6": "libc",
		"/usr/lib/os-release":             "os",
		"/lib64/ld-linux-x86-64.so.2":     "-> /lib/x86_64-linux-gnu/ld.so",
		"/etc/shells":                     "# shells\n/bin/sh\n/bin/dash\n/usr/bin/sh\n",
	})
	s := testSys(t, st)
	put(t, st, map[string]string{"/usr/lib/usrmerge/convert-usrmerge": "x:#!/usr/bin/perl", "/usr/lib/usrmerge/convert-etc-shells": "x:#!/usr/bin/perl"})
	mustSh(t, s, "/usr/lib/usrmerge/convert-usrmerge && /usr/lib/usrmerge/convert-etc-shells")
	for p, want := range map[string]string{"/bin": "usr/bin", "/lib": "usr/lib", "/lib64": "usr/lib64"} {
		if e := entry(t, st, p); e.Linkname != want {
			t.Errorf("%s → %q, want %q", p, e.Linkname, want)
		}
	}
	if got := get(t, st, "/usr/bin/touch"); got != "touch" {
		t.Errorf("/usr/bin/touch %q: the file should replace the link back to it", got)
	}
	if got := get(t, st, "/etc/shells"); got != "# shells\n/bin/sh\n/bin/dash\n/usr/bin/sh\n/usr/bin/dash\n" {
		t.Errorf("shells %q", got)
	}
}

func TestOpensslRehash(t *testing.T) {
	pemData, err := os.ReadFile("testdata/test-ca.pem")
	if err != nil {
		t.Fatal(err)
	}
	st := newStage(t)
	s := testSys(t, st)
	put(t, st, map[string]string{
		"/usr/share/ca-certificates/test/Test_CA.crt": string(pemData),
		"/etc/ssl/certs/Test_CA.pem":                  "-> /usr/share/ca-certificates/test/Test_CA.crt",
		"/etc/ssl/certs/Copy.pem":                     string(pemData),
		"/etc/ssl/certs/deadbeef.0":                   "-> Gone.pem",
	})
	mustSh(t, s, "cd /etc/ssl/certs && openssl rehash .")
	// 0bb6848f is what OpenSSL 3 prints for the test certificate
	// (openssl x509 -hash): its subject " Example   Corp " canonicalised.
	if e := entry(t, st, "/etc/ssl/certs/0bb6848f.0"); e.Linkname != "Copy.pem" {
		t.Errorf("hash link %+v", e)
	}
	if _, ok := st.Lookup("/etc/ssl/certs/0bb6848f.1"); ok {
		t.Error("duplicate certificate linked twice")
	}
	if _, ok := st.Lookup("/etc/ssl/certs/deadbeef.0"); ok {
		t.Error("stale hash link kept")
	}
}

func TestSystemdEnable(t *testing.T) {
	st := newStage(t)
	put(t, st, map[string]string{
		"/lib/systemd/system/apt-daily.timer": "[Install]\nWantedBy=timers.target\n",
		"/lib/systemd/system/foo.service":     "[Install]\nWantedBy=multi-user.target\nAlias=bar.service\nAlso=apt-daily.timer\n",
		"/etc/init.d/hwclock.sh":              "x:### BEGIN INIT INFO\n# Default-Start: S\n# Default-Stop: 0 6\n### END INIT INFO\n",
	})
	s := testSys(t, st)
	st.Remove("/usr/bin/systemctl") // deb-systemd-helper without systemd
	mustSh(t, s, `set -e
deb-systemd-helper unmask foo.service
if deb-systemd-helper --quiet was-enabled foo.service; then deb-systemd-helper enable foo.service; fi
update-rc.d hwclock.sh defaults`)
	for p, want := range map[string]string{
		"/etc/systemd/system/multi-user.target.wants/foo.service": "/lib/systemd/system/foo.service",
		"/etc/systemd/system/bar.service":                         "/lib/systemd/system/foo.service",
		"/etc/systemd/system/timers.target.wants/apt-daily.timer": "/lib/systemd/system/apt-daily.timer",
		"/etc/rcS.d/S01hwclock.sh":                                "../init.d/hwclock.sh",
		"/etc/rc6.d/K01hwclock.sh":                                "../init.d/hwclock.sh",
	} {
		if e := entry(t, st, p); e.Linkname != want {
			t.Errorf("%s → %q, want %q", p, e.Linkname, want)
		}
	}
	want := "/etc/systemd/system/timers.target.wants/apt-daily.timer\n/etc/systemd/system/bar.service\n/etc/systemd/system/multi-user.target.wants/foo.service\n"
	if got := get(t, st, "/var/lib/systemd/deb-systemd-helper-enabled/foo.service.dsh-also"); got != want {
		t.Errorf("state %q, want %q", got, want)
	}
	if _, ok := st.Lookup("/var/lib/systemd/deb-systemd-helper-enabled/multi-user.target.wants/foo.service"); !ok {
		t.Error("no enabled-state file")
	}
}

func TestCaps(t *testing.T) {
	st := newStage(t)
	s := testSys(t, st)
	put(t, st, map[string]string{"/usr/bin/ping": "x:ping"})
	out := mustSh(t, s, "setcap cap_net_raw+ep /usr/bin/ping && getcap /usr/bin/ping")
	if out != "/usr/bin/ping cap_net_raw=ep\n" {
		t.Errorf("getcap %q", out)
	}
	x := entry(t, st, "/usr/bin/ping").Xattrs[xattrCaps]
	if want := "\x01\x00\x00\x02\x00\x20\x00\x00" + strings.Repeat("\x00", 12); x != want {
		t.Errorf("xattr % x", x)
	}
}

// dpkg's view: versions compare as dpkg does, queries see the run's
// states.
func TestDpkgQueries(t *testing.T) {
	st := newStage(t)
	s := testSys(t, st, control("Package: base-files\nVersion: 12.4+deb12u1\nArchitecture: amd64\nDescription: base\n", nil))
	s.byName["base-files"].state = dpkg.Installed
	out := mustSh(t, s, `dpkg --compare-versions 1.0~rc1 lt 1.0 && echo lt
dpkg --compare-versions '' lt-nl 1.0 || echo nl
dpkg-query -f '${Version} ${Status}\n' -W base-files
dpkg-query -W no-such 2>/dev/null || echo missing
dpkg --print-architecture`)
	if want := "lt\nnl\n12.4+deb12u1 install ok installed\nmissing\namd64\n"; !strings.HasSuffix(out, want) {
		t.Errorf("got %q", out)
	}
}

// TestConvertUsrmergeHardLinks: convert-usrmerge copies each file of /
// into /usr on its own, so a hard-linked pair under /bin (bookworm's
// gzip ships gunzip and uncompress so) comes out as two files, while a
// pair already under /usr stays linked — as the exec modes leave them.
func TestConvertUsrmergeHardLinks(t *testing.T) {
	gz := testarchive.NewDeb("gzip", "1")
	gz.Files = []testarchive.File{
		{Path: "bin/gunzip", Mode: 0o755, Body: []byte("#!/bin/sh\n")},
		{Path: "bin/uncompress", Type: tar.TypeLink, Linkname: "bin/gunzip"},
		{Path: "usr/bin/perl", Mode: 0o755, Body: []byte("perl")},
		{Path: "usr/bin/perl5", Type: tar.TypeLink, Linkname: "usr/bin/perl"},
	}
	um := testarchive.NewDeb("usrmerge", "1")
	um.Files = []testarchive.File{binFile("usr/lib/usrmerge/convert-usrmerge")}
	um.Scripts = map[string]string{"postinst": "#!/bin/sh\nset -e\n/usr/lib/usrmerge/convert-usrmerge\n"}
	in := unpack(t, toolbox(), gz, um)
	if rep := in.configure(t); len(rep.Failed) > 0 {
		t.Fatalf("failed: %v", rep.Failed)
	}
	for p, want := range map[string]byte{"/usr/bin/gunzip": tar.TypeReg, "/usr/bin/uncompress": tar.TypeReg, "/usr/bin/perl5": tar.TypeLink} {
		e := entry(t, in.st, p)
		if e.Type != want {
			t.Errorf("%s: type %c (%q), want %c", p, e.Type, e.Linkname, want)
		}
	}
	if got := get(t, in.st, "/usr/bin/uncompress"); got != "#!/bin/sh\n" {
		t.Errorf("uncompress %q", got)
	}
	if e := entry(t, in.st, "/bin"); e.Type != tar.TypeSymlink {
		t.Errorf("/bin not a link: %c", e.Type)
	}
}
