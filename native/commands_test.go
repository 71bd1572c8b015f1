package native

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestFindLikeGNU runs find expressions natively and with the host's GNU
// find on the same tree and compares the output (sorted: directory order
// differs on disk).
func TestFindLikeGNU(t *testing.T) {
	if _, err := exec.LookPath("find"); err != nil {
		t.Skip("no find on the host")
	}
	files := map[string]string{
		"/usr/lib/php/8.2/sapi/cli":             "",
		"/usr/lib/php/8.2/sapi/apache2":         "",
		"/usr/lib/php/8.2/sapi/cgi.dpkg-old":    "",
		"/usr/lib/php/8.2/sapi/fpm~":            "",
		"/usr/lib/php/8.2/sapi/sub/deeper.conf": "",
		"/usr/lib/php/8.2/sapi/x.bak":           "",
	}
	host, s := hostAndStage(t, files)
	const dir = "/usr/lib/php/8.2/sapi"
	for _, expr := range []string{
		// php8.2-common's postinst.
		`-mindepth 1 -maxdepth 1 ! ( -name *.dpkg-old -name *.dpkg-new -name *~ -name *.bak ) -printf %f\n`,
		`-mindepth 1 -maxdepth 1 ! ( -name *.dpkg-old -o -name *~ -o -name *.bak ) -printf %f\n`,
		`-type f ( -name cli -o -name *.conf ) -print`,
		`-name *.bak -o -type d -printf dir:%p:%h\n`,
		`-type f -not -name cli -a ! -name apache2`,
		`-maxdepth 1 -type d`,
	} {
		args := strings.Fields(expr)
		quoted := make([]string, len(args))
		for i, a := range args {
			quoted[i] = "'" + a + "'"
		}
		got := mustSh(t, s, "cd "+dir+" && find . "+strings.Join(quoted, " "))
		cmd := exec.Command("find", append([]string{"."}, args...)...)
		cmd.Dir = filepath.Join(host, dir)
		want, err := cmd.Output()
		if err != nil {
			t.Fatalf("host find %s: %v", expr, err)
		}
		if sortLines(got) != sortLines(string(want)) {
			t.Errorf("find . %s\n got %q\nwant %q", expr, sortLines(got), sortLines(string(want)))
		}
	}
}

// hostAndStage writes files (path → content) both into a directory of the
// host, for the host's tools to run on, and into a stage.
func hostAndStage(t *testing.T, files map[string]string) (string, *sys) {
	t.Helper()
	host := t.TempDir()
	for p, body := range files {
		full := filepath.Join(host, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	st := newStage(t)
	put(t, st, files)
	return host, testSys(t, st)
}

func sortLines(s string) string {
	l := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	slices.Sort(l)
	return strings.Join(l, "\n")
}

// TestMkdirContext: openssh-server's postinst runs mkdir -pZ; without
// SELinux -Z does nothing.
func TestMkdirContext(t *testing.T) {
	st := newStage(t)
	s := testSys(t, st)
	mustSh(t, s, "mkdir -pZ /etc/ssh/x && mkdir -Z /etc/ssh/y")
	for _, p := range []string{"/etc/ssh/x", "/etc/ssh/y"} {
		if e := entry(t, st, p); e.Mode != 0o755 {
			t.Errorf("%s: mode %o", p, e.Mode)
		}
	}
}

// TestMountpoint: /proc, /sys and /dev are mount points while the exec
// modes run scripts, so native says so too (openjdk's postinst checks
// /proc); anything else is not (util-linux exits 32).
func TestMountpoint(t *testing.T) {
	st := newStage(t)
	put(t, st, map[string]string{"/proc/.keep": "", "/etc/x": ""})
	s := testSys(t, st)
	out := mustSh(t, s, "mountpoint -q /proc && echo proc; mountpoint /etc || echo $?; mountpoint -q /nonexistent || echo $?")
	if out != "proc\n/etc is not a mountpoint\n32\n1\n" {
		t.Errorf("got %q", out)
	}
}

// TestDebSystemdHelperUser: gpg-agent's postinst enables its user
// sockets with deb-systemd-helper --user: links under /etc/systemd/user,
// state under deb-systemd-user-helper-enabled (systemctl --global preset
// first, as with systemctl present; no preset file enables everything).
func TestDebSystemdHelperUser(t *testing.T) {
	st := newStage(t)
	put(t, st, map[string]string{
		"/usr/lib/systemd/user/gpg-agent.socket": "[Socket]\nListenStream=%t/gnupg/S.gpg-agent\n[Install]\nWantedBy=sockets.target\n",
		"/usr/bin/systemctl":                     "x:systemd",
	})
	s := testSys(t, st)
	mustSh(t, s, `set -e
deb-systemd-helper --user unmask 'gpg-agent.socket' >/dev/null || true
if deb-systemd-helper --quiet --user was-enabled 'gpg-agent.socket'; then
	deb-systemd-helper --user enable 'gpg-agent.socket' >/dev/null || true
else
	deb-systemd-helper --user update-state 'gpg-agent.socket' >/dev/null || true
fi`)
	if e := entry(t, st, "/etc/systemd/user/sockets.target.wants/gpg-agent.socket"); e.Linkname != "/usr/lib/systemd/user/gpg-agent.socket" {
		t.Errorf("link → %q", e.Linkname)
	}
	if got := get(t, st, "/var/lib/systemd/deb-systemd-user-helper-enabled/gpg-agent.socket.dsh-also"); got != "/etc/systemd/user/sockets.target.wants/gpg-agent.socket\n" {
		t.Errorf("state %q", got)
	}
	entry(t, st, "/var/lib/systemd/deb-systemd-user-helper-enabled/sockets.target.wants/gpg-agent.socket")
	if _, ok := st.Lookup("/etc/systemd/system/sockets.target.wants/gpg-agent.socket"); ok {
		t.Error("a system link for a user unit")
	}
}

// TestHelpztags: the tags files helpztags writes (vim-runtime's postinst
// runs it on /usr/share/vim/addons/doc); a missing directory is skipped.
func TestHelpztags(t *testing.T) {
	st := newStage(t)
	put(t, st, map[string]string{
		"/doc/foo.txt":   "*foo.txt*  For Vim\n\n*foo-intro* *foo|bar* x*no* *end*\n\tsee |foo-intro| *a\\b*\n",
		"/doc/bar.jax":   "*bar-ja*\n",
		"/doc/README":    "*not-a-help-file*\n",
		"/doc/x y.txt":   "*skipped-name*\n",
		"/doc/later.txt": "*foo-intro* again\n",
	})
	s := testSys(t, st)
	out := mustSh(t, s, "helpztags /nonexistent /doc")
	if out != "Processing /doc\n" {
		t.Errorf("output %q", out)
	}
	want := "a\\b\tfoo.txt\t/*a\\\\b*\nend\tfoo.txt\t/*end*\nfoo-intro\tlater.txt\t/*foo-intro*\nfoo.txt\tfoo.txt\t/*foo.txt*\n"
	if got := get(t, st, "/doc/tags"); got != want {
		t.Errorf("tags\n%q\nwant\n%q", got, want)
	}
	if got := get(t, st, "/doc/tags-ja"); got != "bar-ja\tbar.jax\t/*bar-ja*\n" {
		t.Errorf("tags-ja %q", got)
	}
}

// TestLsLikeGNU compares ls's listings with the host's GNU ls (C locale,
// not a terminal) on the same tree.
func TestLsLikeGNU(t *testing.T) {
	if _, err := exec.LookPath("ls"); err != nil {
		t.Skip("no ls on the host")
	}
	files := map[string]string{
		"/usr/lib/postgresql/15/bin/initdb": "", "/usr/lib/postgresql/13/x": "", "/usr/lib/postgresql/.hidden": "",
		"/usr/lib/postgresql/README": "", "/usr/lib/postgresql/B": "", "/usr/lib/postgresql/a": "",
	}
	host, s := hostAndStage(t, files)
	for _, args := range []string{"", "15", "-A", "-a .", "15 13", "README 15 a", "-d 15", "-1 nosuch 15"} {
		got, _ := sh(t, s, "cd /usr/lib/postgresql && ls "+args)
		cmd := exec.Command("sh", "-c", "ls "+args+" 2>&1")
		cmd.Dir = filepath.Join(host, "/usr/lib/postgresql")
		cmd.Env = []string{"LC_ALL=C", "PATH=/usr/bin:/bin"}
		want, _ := cmd.Output()
		if got != string(want) {
			t.Errorf("ls %s\n got %q\nwant %q", args, got, want)
		}
	}
}

// TestShCommand: sh FILE, sh -c and sh -e run in the interpreter.
func TestShCommand(t *testing.T) {
	st := newStage(t)
	put(t, st, map[string]string{"/usr/share/x/versions": "#!/bin/sh\necho \"$0 $# $1\"\nexit 3\n", "/bin/sh": "x:dash"})
	s := testSys(t, st)
	out := mustSh(t, s, `sh /usr/share/x/versions a b || echo "status $?"
sh -c 'echo "$0:$1"' name arg
sh -e -c 'false; echo not reached' || echo "status $?"
sh -c 'false; echo reached'
sh /nonexistent 2>/dev/null || echo "status $?"`)
	want := "/usr/share/x/versions 2 a\nstatus 3\nname:arg\nstatus 1\nreached\nstatus 2\n"
	if out != want {
		t.Errorf("got %q\nwant %q", out, want)
	}
}

// TestSortGeneralNumeric: sort -g as GNU sort orders (postgresql-common's
// supported-versions).
func TestSortGeneralNumeric(t *testing.T) {
	s := testSys(t, newStage(t))
	out := mustSh(t, s, `printf '15\n9.6\nabc\n13\n1e1\n-2\n' | sort -g; printf '15\n9.6\n13\n' | sort -rg`)
	if want := "abc\n-2\n9.6\n1e1\n13\n15\n15\n13\n9.6\n"; out != want {
		t.Errorf("got %q, want %q", out, want)
	}
}

// TestIdGroups: id -G and -Gn (postgresql-common's postinst checks that
// postgres is in ssl-cert).
func TestIdGroups(t *testing.T) {
	st := newStage(t)
	put(t, st, map[string]string{
		"/etc/passwd": "root:x:0:0:root:/root:/bin/bash\npostgres:x:100:103::/var/lib/postgresql:/bin/bash\n",
		"/etc/group":  "root:x:0:\nssl-cert:x:102:postgres\npostgres:x:103:\nother:x:104:root,postgres\n",
	})
	s := testSys(t, st)
	if out := mustSh(t, s, "id -Gn postgres; id -G postgres; id -G"); out != "postgres ssl-cert other\n103 102 104\n0 104\n" {
		t.Errorf("got %q", out)
	}
}

// TestRunParts: run-parts --test names the executable parts with valid
// names in order; without it each runs with --arg.
func TestRunParts(t *testing.T) {
	st := newStage(t)
	put(t, st, map[string]string{
		"/etc/hooks/20-b":       "x:#!/bin/sh\necho \"b $*\" >> /ran\n",
		"/etc/hooks/10a":        "x:#!/bin/sh\necho \"a $*\" >> /ran\n",
		"/etc/hooks/README":     "not executable",
		"/etc/hooks/x.dpkg-old": "x:#!/bin/sh\necho old >> /ran\n",
	})
	s := testSys(t, st)
	if out := mustSh(t, s, "run-parts --test -- /etc/hooks; run-parts --list /etc/hooks"); out != "/etc/hooks/10a\n/etc/hooks/20-b\n/etc/hooks/10a\n/etc/hooks/20-b\n/etc/hooks/README\n" {
		t.Errorf("got %q", out)
	}
	mustSh(t, s, "run-parts --arg=one --arg=two /etc/hooks")
	if got := get(t, st, "/ran"); got != "a one two\nb one two\n" {
		t.Errorf("ran %q", got)
	}
}

// TestSystemctlDisable: systemctl disable (friendly-recovery's preinst)
// against the host's systemctl --root: the [Install] links and any other
// link to the unit go. A unit that does not exist is left to dpkg's run
// (systemd 252 and 257 exit 0 then, 255 exits 1).
func TestSystemctlDisable(t *testing.T) {
	systemctl, err := exec.LookPath("systemctl")
	if err != nil {
		t.Skip("no systemctl on the host")
	}
	files := map[string]string{
		"/usr/lib/systemd/system/a.service": "[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n",
		"/usr/lib/systemd/system/b.service": "[Service]\nExecStart=/bin/true\n",
		"/usr/bin/systemctl":                "x:systemd",
	}
	links := map[string]string{
		"/etc/systemd/system/multi-user.target.wants/a.service": "/usr/lib/systemd/system/a.service",
		"/etc/systemd/system/timers.target.wants/b.service":     "/usr/lib/systemd/system/b.service",
		"/etc/systemd/system/sockets.target.wants/other.socket": "/usr/lib/systemd/system/other.socket",
	}
	host, s := hostAndStage(t, files)
	for l, to := range links {
		os.MkdirAll(filepath.Join(host, filepath.Dir(l)), 0o755)
		if err := os.Symlink(to, filepath.Join(host, l)); err != nil {
			t.Fatal(err)
		}
		mustSh(t, s, "mkdir -p "+filepath.Dir(l)+" && ln -s "+to+" "+l)
	}
	var want []string
	for _, u := range []string{"a", "b.service"} {
		err := exec.Command(systemctl, "--root="+host, "disable", u).Run()
		want = append(want, u+" "+strconv.Itoa(exitCode(err)))
	}
	out := mustSh(t, s, "for u in a b.service; do systemctl disable $u 2>/dev/null; echo $u $?; done")
	if got := strings.Split(strings.TrimSuffix(out, "\n"), "\n"); !slices.Equal(got, want) {
		t.Errorf("statuses %q, want %q", got, want)
	}
	for l := range links {
		_, err := os.Lstat(filepath.Join(host, l))
		_, ok := s.st.Lookup(l)
		if ok != (err == nil) {
			t.Errorf("%s: here %v, on the host %v", l, ok, err == nil)
		}
	}
	var ue *UnsupportedError
	if _, err := sh(t, s, "systemctl disable c.service"); !errors.As(err, &ue) {
		t.Errorf("a missing unit: %v", err)
	}
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}
