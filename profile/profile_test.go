package profile

import (
	"flag"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/debstrap/debstrap/apt"
	"github.com/debstrap/debstrap/distro"
	"github.com/debstrap/debstrap/native"
	"github.com/debstrap/debstrap/rootfs"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

func newStage(t *testing.T) *rootfs.Stage {
	t.Helper()
	st, err := rootfs.Create(filepath.Join(t.TempDir(), "root"), rootfs.Options{Arch: "amd64"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// put writes files (a body), symlinks ("-> target") and directories
// (a path ending in /).
func put(t *testing.T, st *rootfs.Stage, files map[string]string) {
	t.Helper()
	names := slices.Sorted(func(yield func(string) bool) {
		for k := range files {
			if !yield(k) {
				return
			}
		}
	})
	for _, p := range names {
		body := files[p]
		var err error
		if strings.HasSuffix(p, "/") {
			err = st.MkdirAll(p, rootfs.Entry{Mode: 0o755})
		} else if err = st.MkdirAll(path.Dir(p), rootfs.Entry{Mode: 0o755}); err == nil {
			if target, ok := strings.CutPrefix(body, "-> "); ok {
				err = st.Symlink(target, p, rootfs.Entry{})
			} else {
				err = st.WriteFile(p, []byte(body), rootfs.Entry{Mode: 0o644})
			}
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	file := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("%s differs (go test -update rewrites it):\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

func TestParse(t *testing.T) {
	for _, c := range []struct {
		in   string
		slim bool
		err  string
	}{
		{in: ""},
		{in: "docker"},
		{in: "docker-slim", slim: true},
		{in: "slim", err: `no profile "slim": there are docker, docker-slim`},
	} {
		p, err := Parse(c.in)
		switch {
		case c.err != "":
			if err == nil || err.Error() != c.err {
				t.Errorf("Parse(%q): %v, want %s", c.in, err, c.err)
			}
		case err != nil:
			t.Errorf("Parse(%q): %v", c.in, err)
		case c.in == "" && p != nil, c.in != "" && (p == nil || p.Name != c.in || p.Slim != c.slim):
			t.Errorf("Parse(%q) = %+v", c.in, p)
		}
	}
	bullseye, _ := distro.Lookup("bullseye")
	if err := (&Profile{Name: "docker"}).Check(bullseye); err == nil {
		t.Error("docker profile of bullseye: no error")
	}
	noble, _ := distro.Lookup("noble")
	if err := (&Profile{Name: "docker-slim", Slim: true}).Check(noble); err == nil {
		t.Error("docker-slim of noble: no error")
	}
	trixie, _ := distro.Lookup("trixie")
	if err := (&Profile{Name: "docker-slim", Slim: true}).Check(trixie); err != nil {
		t.Error(err)
	}
}

// fold is GNU fold -w 76 -s: the blank stays at the end of the line.
func TestFold(t *testing.T) {
	for _, c := range []struct {
		in    string
		width int
		want  []string
	}{
		{"abc def", 76, []string{"abc def"}},
		{"aa bb cc", 5, []string{"aa ", "bb cc"}},
		{"aa bb cc", 6, []string{"aa bb ", "cc"}},
		{"abcdefgh ij", 4, []string{"abcd", "efgh", " ij"}},
		{"aaaa bbbb", 4, []string{"aaaa", " ", "bbbb"}},
	} {
		if got := fold(c.in, c.width); !slices.Equal(got, c.want) {
			t.Errorf("fold(%q, %d) = %q, want %q", c.in, c.width, got, c.want)
		}
	}
}

// Sources: one deb822 stanza per archive, the release, security and
// updates in debuerreotype's order, the keyring the image has.
func TestSources(t *testing.T) {
	bookworm, _ := distro.Lookup("bookworm")
	entries := []apt.Entry{
		{URI: "http://mirror.invalid/debian", Suite: "bookworm", Components: []string{"main"}},
		{URI: "http://mirror.invalid/debian", Suite: "bookworm-updates", Components: []string{"main"}},
		{URI: "http://mirror.invalid/debian-security", Suite: "bookworm-security", Components: []string{"main"}},
	}
	st := newStage(t)
	put(t, st, map[string]string{
		"/etc/apt/sources.list":                               "deb http://mirror.invalid/debian bookworm main\n",
		"/usr/share/keyrings/debian-archive-keyring.gpg":      "keys",
		"/usr/share/keyrings/debian-archive-keyring.pgp":      "keys",
		"/usr/share/keyrings/debian-archive-removed-keys.gpg": "keys",
	})
	p := &Profile{Name: "docker"}
	if err := p.Sources(st, bookworm, entries, true); err != nil {
		t.Fatal(err)
	}
	if _, ok := st.Lookup("/etc/apt/sources.list"); ok {
		t.Error("/etc/apt/sources.list is still there")
	}
	got, err := st.ReadFile("/etc/apt/sources.list.d/debian.sources")
	if err != nil {
		t.Fatal(err)
	}
	want := `Types: deb
URIs: http://mirror.invalid/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.pgp

Types: deb
URIs: http://mirror.invalid/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.pgp
`
	if string(got) != want {
		t.Errorf("debian.sources:\n%s\nwant:\n%s", got, want)
	}
	// A keyring of the user's: no Signed-By.
	if err := p.Sources(st, bookworm, entries[:1], false); err != nil {
		t.Fatal(err)
	}
	if got, _ := st.ReadFile("/etc/apt/sources.list.d/debian.sources"); strings.Contains(string(got), "Signed-By") {
		t.Errorf("--keyring: %s", got)
	}
}

// markAuto marks every package but those asked for, in apt's cache
// order, Architecture: all under the native architecture.
func TestMarkAuto(t *testing.T) {
	st := newStage(t)
	put(t, st, map[string]string{"/var/lib/apt/": ""})
	pkgs := []native.Installed{{Name: "dpkg", Architecture: "amd64"}, {Name: "coreutils", Architecture: "amd64"},
		{Name: "libsmartcols1", Architecture: "amd64"}, {Name: "tzdata", Architecture: "all"}, {Name: "curl", Architecture: "amd64"}}
	if err := markAuto(st, pkgs, "amd64", []string{"curl"}); err != nil {
		t.Fatal(err)
	}
	got, _ := st.ReadFile("/var/lib/apt/extended_states")
	// debian:bookworm's extended_states begins dpkg, libsmartcols1, …,
	// coreutils: apt's hash order.
	want := "Package: dpkg\nArchitecture: amd64\nAuto-Installed: 1\n\n" +
		"Package: libsmartcols1\nArchitecture: amd64\nAuto-Installed: 1\n\n" +
		"Package: coreutils\nArchitecture: amd64\nAuto-Installed: 1\n\n" +
		"Package: tzdata\nArchitecture: amd64\nAuto-Installed: 1\n\n"
	if string(got) != want {
		t.Errorf("extended_states:\n%s\nwant:\n%s", got, want)
	}
}

// slimify removes what debuerreotype-slimify removes and writes its
// dpkg.cfg.d/docker, the "dpkg -S" comments included.
func TestSlimify(t *testing.T) {
	st := newStage(t)
	put(t, st, map[string]string{
		"/var/lib/dpkg/status": "Package: bash\nStatus: install ok installed\nArchitecture: amd64\n\n" +
			"Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nMulti-Arch: same\n\n" +
			"Package: dash\nStatus: install ok installed\nArchitecture: amd64\n",
		"/var/lib/dpkg/info/bash.list": "/.\n/usr\n/usr/share\n/usr/share/doc\n/usr/share/doc/bash\n/usr/share/doc/bash/copyright\n" +
			"/usr/share/doc/bash/changelog.gz\n/usr/share/man\n/usr/share/man/man1\n/usr/share/man/man1/bash.1.gz\n" +
			"/usr/share/locale/de/LC_MESSAGES/bash.mo\n/usr/share/doc/bash-doc\n",
		"/var/lib/dpkg/info/libc6:amd64.list": "/usr/share/doc/libc6/copyright\n/usr/share/doc/libc6/NEWS.gz\n/usr/share/locale/locale.alias\n/usr/share/lintian/overrides/libc6\n",
		"/var/lib/dpkg/info/dash.list":        "/usr/share/man/man1/dash.1.gz\n",
		"/var/lib/dpkg/diversions":            "/usr/share/man/man1/sh.1.gz\n/usr/share/man/man1/sh.distrib.1.gz\ndash\n",

		"/usr/share/doc/bash/copyright":            "bash copyright",
		"/usr/share/doc/bash/changelog.gz":         "changes",
		"/usr/share/doc/bash-doc":                  "-> bash",
		"/usr/share/doc/gone":                      "-> notes",
		"/usr/share/doc/notes/README":              "readme",
		"/usr/share/doc/libc6/copyright":           "libc copyright",
		"/usr/share/doc/libc6/NEWS.gz":             "news",
		"/usr/share/doc/empty/copyright":           "",
		"/usr/share/man/man1/bash.1.gz":            "man",
		"/usr/share/man/man1/sh.distrib.1.gz":      "-> dash.1.gz",
		"/usr/share/man/man1/dash.1.gz":            "man",
		"/usr/share/man/de/man1/bash.1.gz":         "man",
		"/usr/share/man/man5/":                     "",
		"/usr/share/locale/de/LC_MESSAGES/bash.mo": "mo",
		"/usr/share/locale/locale.alias":           "aliases",
		"/usr/share/lintian/overrides/libc6":       "overrides",
		"/usr/share/info/dir":                      "info",
		"/usr/share/zoneinfo/UTC":                  "kept",
	})
	if err := slimify(st); err != nil {
		t.Fatal(err)
	}
	var tree []string
	for _, e := range st.Entries() {
		if strings.HasPrefix(e.Path, "/usr/share") {
			tree = append(tree, e.Path+" "+string(e.Type)+" "+strings.TrimPrefix(e.Linkname, ""))
		}
	}
	cfg, err := st.ReadFile("/etc/dpkg/dpkg.cfg.d/docker")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "slim.tree", strings.Join(tree, "\n")+"\n")
	golden(t, "slim.cfg", string(cfg))
	if e, _ := st.Lookup("/usr/share/man/man1"); e.Mode != 0o775 {
		t.Errorf("man1 made again with mode %o, want 0775 (debuerreotype's umask)", e.Mode)
	}
}

// Finish leaves out what debuerreotype-tar does.
func TestFinish(t *testing.T) {
	st := newStage(t)
	put(t, st, map[string]string{
		"/dev/null":                        "",
		"/etc/machine-id":                  "",
		"/var/lib/apt/lists/lock":          "",
		"/var/lib/apt/lists/partial/":      "",
		"/var/cache/apt/archives/partial/": "",
		"/var/log/dpkg.log":                "log",
		"/var/log/apt/eipp.log.xz":         "kept",
		"/var/lib/dpkg/arch":               "amd64\n",
		"/var/cache/ldconfig/aux-cache":    "cache",
		"/run/mount/utab":                  "",
		"/etc/hostname":                    "debuerreotype\n",
	})
	bookworm, _ := distro.Lookup("bookworm")
	if err := (&Profile{Name: "docker"}).Finish(st, bookworm, "amd64"); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range st.Entries() {
		got = append(got, e.Path)
	}
	want := []string{"/", "/dev", "/etc", "/etc/hostname", "/run", "/var", "/var/cache", "/var/cache/apt", "/var/cache/ldconfig",
		"/var/lib", "/var/lib/apt", "/var/lib/apt/lists", "/var/lib/dpkg", "/var/log", "/var/log/apt", "/var/log/apt/eipp.log.xz"}
	if !slices.Equal(got, want) {
		t.Errorf("after Finish:\n%q\nwant\n%q", got, want)
	}
}

// The user ubuntu as configure_oci's useradd leaves it.
func TestUbuntuUser(t *testing.T) {
	st := newStage(t)
	put(t, st, map[string]string{
		"/etc/passwd":       "root:x:0:0:root:/root:/bin/bash\n",
		"/etc/group":        "root:x:0:\nadm:x:4:syslog\naudio:x:29:\ncdrom:x:24:\ndialout:x:20:\ndip:x:30:\nfloppy:x:25:\nplugdev:x:46:\nsudo:x:27:\nvideo:x:44:\n",
		"/etc/shadow":       "root:*:19000:0:99999:7:::\n",
		"/etc/subuid":       "",
		"/etc/login.defs":   "HOME_MODE\t0750\nPASS_MAX_DAYS\t99999\n",
		"/etc/skel/.bashrc": "# bashrc\n",
		"/var/log/lastlog":  "",
	})
	epoch := time.Unix(1714003200, 0) // 2024-04-25
	if err := addUbuntuUser(st, "amd64", epoch); err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{
		"/etc/passwd":          "root:x:0:0:root:/root:/bin/bash\nubuntu:x:1000:1000:Ubuntu:/home/ubuntu:/bin/bash\n",
		"/etc/passwd-":         "root:x:0:0:root:/root:/bin/bash\n",
		"/etc/group":           "root:x:0:\nadm:x:4:syslog,ubuntu\naudio:x:29:ubuntu\ncdrom:x:24:ubuntu\ndialout:x:20:ubuntu\ndip:x:30:ubuntu\nfloppy:x:25:ubuntu\nplugdev:x:46:ubuntu\nsudo:x:27:ubuntu\nvideo:x:44:ubuntu\nubuntu:x:1000:\n",
		"/etc/shadow":          "root:*:19000:0:99999:7:::\nubuntu:!:19838:0:99999:7:::\n",
		"/etc/subuid":          "ubuntu:100000:65536\n",
		"/home/ubuntu/.bashrc": "# bashrc\n",
	} {
		if got, err := st.ReadFile(file); err != nil || string(got) != want {
			t.Errorf("%s: %q (%v), want %q", file, got, err, want)
		}
	}
	if e, _ := st.Lookup("/home/ubuntu"); e.Mode != 0o750 || e.Uid != 1000 || e.Gid != 1000 {
		t.Errorf("/home/ubuntu: %o %d:%d", e.Mode, e.Uid, e.Gid)
	}
	if e, _ := st.Lookup("/var/log/lastlog"); e.Size != 1001*292 {
		t.Errorf("lastlog: %d bytes, want a record for uid 1000", e.Size)
	}
	if err := addUbuntuUser(st, "amd64", epoch); err == nil {
		t.Error("a second ubuntu: no error")
	}
}

// noble: sources moved to ubuntu.sources with every component and
// backports; unminimize; the path excludes.
func TestUbuntu(t *testing.T) {
	noble, _ := distro.Lookup("noble")
	st := newStage(t)
	put(t, st, map[string]string{"/usr/share/keyrings/ubuntu-archive-keyring.gpg": "keys", "/etc/apt/": ""})
	entries := []apt.Entry{
		{URI: "http://mirror.invalid/ubuntu", Suite: "noble", Components: []string{"main"}},
		{URI: "http://mirror.invalid/ubuntu", Suite: "noble-updates", Components: []string{"main"}},
		{URI: "http://security.invalid/ubuntu", Suite: "noble-security", Components: []string{"main"}},
	}
	p := &Profile{Name: "docker"}
	if err := p.Sources(st, noble, entries, true); err != nil {
		t.Fatal(err)
	}
	got, _ := st.ReadFile("/etc/apt/sources.list.d/ubuntu.sources")
	for _, want := range []string{
		"\nTypes: deb\nURIs: http://mirror.invalid/ubuntu\nSuites: noble noble-updates noble-backports\nComponents: main universe restricted multiverse\nSigned-By: /usr/share/keyrings/ubuntu-archive-keyring.gpg\n",
		"\nTypes: deb\nURIs: http://security.invalid/ubuntu\nSuites: noble-security\n",
	} {
		if !strings.Contains(string(got), want) {
			t.Errorf("ubuntu.sources lacks %q:\n%s", want, got)
		}
	}
	if got, _ := st.ReadFile("/etc/apt/sources.list"); !strings.HasPrefix(string(got), "# Ubuntu sources have moved") {
		t.Errorf("sources.list: %q", got)
	}
	if got := p.Include("noble"); !slices.Equal(got, []string{"unminimize"}) {
		t.Errorf("Include(noble) = %q", got)
	}
	if got := p.Include("bookworm"); got != nil {
		t.Errorf("Include(bookworm) = %q", got)
	}
	if ex := p.Excludes(noble); !strings.Contains(ex, "path-exclude=/usr/share/man/*\n") {
		t.Errorf("Excludes(noble) = %q", ex)
	}
	jammy, _ := distro.Lookup("jammy")
	if err := p.Check(jammy); err == nil {
		t.Error("jammy: no error")
	}
}
