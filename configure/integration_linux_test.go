package configure

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/debstrap/debstrap/rootfs"
)

// A root for the real exec path without a Debian archive: the host's
// sh, coreutils, grep, sed and awk with their libraries, a fake dpkg and
// dpkg-query (awk over the status file) and two packages whose
// maintainer scripts check their world and change the root.

const fakeDpkgQuery = `#!/bin/sh
fmt= pkg=
for a do
	case "$a" in
	-W | --show) ;;
	-s | --status) fmt=STANZA ;;
	-f=* | --showformat=*) fmt=${a#*=} ;;
	-*) echo "fake dpkg-query: unsupported option $a" >&2; exit 2 ;;
	*) pkg=$a ;;
	esac
done
exec awk -v fmt="$fmt" -v want="$pkg" '
function flush(  out) {
	if (p == "" || (want != "" && want != p)) return
	found = 1
	if (fmt == "STANZA") { printf "%s\n", stanza; return }
	out = fmt
	gsub(/\$\{binary:Package\}/, p, out)
	gsub(/\$\{Status\}/, status, out)
	st = status; sub(/.* /, "", st)
	gsub(/\$\{db:Status-Status\}/, st, out)
	gsub(/\$\{Version\}/, version, out)
	gsub(/\$\{Architecture\}/, arch, out)
	gsub(/\$\{Conffiles\}/, conff, out)
	printf "%s", out
}
/^$/ { flush(); p = status = version = arch = conff = stanza = ""; inconf = 0; next }
{ stanza = stanza $0 "\n" }
/^Conffiles:/ { inconf = 1; next }
/^ / && inconf { conff = conff "\n" $0; next }
{ inconf = 0 }
/^Package: / { p = $2 }
/^Status: / { status = substr($0, 9) }
/^Version: / { version = $2 }
/^Architecture: / { arch = $2 }
END { flush(); if (want != "" && !found) exit 1 }
' /var/lib/dpkg/status
`

const fakeDpkg = `#!/bin/sh
set -e
echo "dpkg $*" >>/var/lib/dpkg-calls
pkgs= all=
for a do
	case "$a" in
	--configure | --force-configure-any) ;;
	-a | --pending) all=1 ;;
	-*) echo "fake dpkg: unsupported: $*" >&2; exit 2 ;;
	*) pkgs="$pkgs $a" ;;
	esac
done
if [ -n "$all" ]; then
	pkgs=$(awk '/^Package: /{p=$2} /^Status: install ok unpacked$/{print p}' /var/lib/dpkg/status)
fi
for p in $pkgs; do
	echo "Setting up $p ..."
	for f in $(dpkg-query -W -f='${Conffiles}\n' "$p" | awk '$2 == "newconffile" {print $1}'); do
		if [ -e "$f.dpkg-new" ]; then mv -f "$f.dpkg-new" "$f"; fi
	done
	if [ -x "/var/lib/dpkg/info/$p.postinst" ]; then
		DPKG_MAINTSCRIPT_PACKAGE=$p DPKG_MAINTSCRIPT_NAME=postinst "/var/lib/dpkg/info/$p.postinst" configure
	fi
	sed -i "/^Package: $p\$/,/^\$/ s/^Status: install ok unpacked\$/Status: install ok installed/" /var/lib/dpkg/status
done
`

const fakeStatus = `Package: b-pkg
Status: install ok unpacked
Architecture: all
Version: 1

Package: dpkg
Status: install ok installed
Architecture: amd64
Version: 1.21.22

Package: fake-base
Essential: yes
Status: install ok unpacked
Architecture: amd64
Version: 1.0
Conffiles:
 /etc/fake.conf newconffile

`

const fakePreinst = `#!/bin/sh
set -e
test "$1" = install
test "$DPKG_MAINTSCRIPT_NAME" = preinst
test "$DPKG_MAINTSCRIPT_PACKAGE" = fake-base
test "$DPKG_MAINTSCRIPT_ARCH" = amd64
test "$DPKG_RUNNING_VERSION" = 1.21.22
test ! -e /etc/fake.conf
test -f /etc/fake.conf.dpkg-new
test "$0" = /var/lib/dpkg/tmp.ci/preinst
grep -qx "Package: fake-base" /var/lib/dpkg/tmp.ci/control
test -x /var/lib/dpkg/tmp.ci/postinst
if [ ! -e /etc/passwd ]; then echo 'root:*:0:0:root:/root:/bin/sh' >/etc/passwd; fi
touch /var/lib/preinst-ran
echo fake-base >>/var/lib/order
`

const bPreinst = `#!/bin/sh
set -e
# The Essential set is configured before the others are unpacked.
test -e /etc/generated
echo b-pkg >>/var/lib/order
`

const fakePostinst = `#!/bin/sh
set -e
test "$1" = configure
test "$DEBIAN_FRONTEND" = noninteractive
test "$DEBCONF_NONINTERACTIVE_SEEN" = true
echo probe >/dev/null
test -c /dev/null
test -c /dev/zero
test -e /proc/self/status
test -L /dev/fd
if /usr/sbin/policy-rc.d; then echo "policy-rc.d allowed a start" >&2; exit 1; else test $? = 101; fi
grep -q Fake /usr/sbin/start-stop-daemon
test -f /etc/fake.conf
test ! -e /etc/fake.conf.dpkg-new
test -f /var/lib/preinst-ran
if [ -e /var/lib/fail ]; then echo "postinst told to fail" >&2; exit 3; fi
if [ -e /var/lib/hang ]; then sleep 7778; fi
if [ -e /var/lib/escape ]; then sh /var/lib/escape; fi
chown 42:42 /var/lib/fake 2>/dev/null || touch /var/lib/chown-failed
chmod 4755 /usr/bin/fake-suid
echo generated >/etc/generated
mkdir -p /var/lib/fake/new/sub
echo x >/var/lib/fake/new/sub/file
ln -s ../generated /etc/fake-link
rm /etc/obsolete
rm -r /usr/share/fake-old
echo changed >/usr/share/fake/data
ln /usr/share/fake/data /usr/share/fake/data-link
touch /run/pidfile /tmp/junk
echo log >>/var/log/dpkg.log
sleep 7777 >/dev/null 2>&1 &
`

// hostTools are copied into the fake root with their libraries.
var hostTools = []string{"sh", "id", "cp", "mv", "rm", "mkdir", "touch", "chmod", "chown", "grep", "cat", "sed", "ln", "sleep", "awk", "readlink"}

var lddPath = regexp.MustCompile(`(/\S+) \(0x[0-9a-f]+\)`)

// fakeRoot makes a stage with the fake packages unpacked, the host tools
// and the fake dpkg, as the dpkg database would describe it.
func fakeRoot(t *testing.T, extra ...tfile) *rootfs.Stage {
	t.Helper()
	if _, err := exec.LookPath("ldd"); err != nil {
		t.Skip("no ldd")
	}
	base := []tfile{
		dir("./", 0o755, 0, 0),
		dir("./bin/", 0o755, 0, 0),
		dir("./dev/", 0o755, 0, 0),
		{name: "./dev/null", typ: tar.TypeChar, mode: 0o666, major: 1, minor: 3},
		dir("./etc/", 0o755, 0, 0),
		reg("./etc/fake.conf", 0o644, 0, 0, "conf\n"),
		reg("./etc/obsolete", 0o644, 0, 0, "old\n"),
		dir("./proc/", 0o755, 0, 0),
		dir("./run/", 0o755, 0, 0),
		dir("./sys/", 0o755, 0, 0),
		dir("./tmp/", 0o1777, 0, 0),
		dir("./usr/", 0o755, 0, 0),
		dir("./usr/bin/", 0o755, 0, 0),
		reg("./usr/bin/fake-suid", 0o755, 0, 0, "#!/bin/sh\n"),
		dir("./usr/sbin/", 0o755, 0, 0),
		reg("./usr/sbin/start-stop-daemon", 0o755, 0, 0, "#!/bin/sh\necho real\n"),
		dir("./usr/share/", 0o755, 0, 0),
		dir("./usr/share/fake/", 0o755, 0, 0),
		reg("./usr/share/fake/data", 0o644, 0, 0, "data\n"),
		dir("./usr/share/fake-old/", 0o755, 0, 0),
		reg("./usr/share/fake-old/x", 0o644, 0, 0, "x\n"),
		dir("./var/", 0o755, 0, 0),
		dir("./var/lib/", 0o755, 0, 0),
		dir("./var/lib/fake/", 0o755, 0, 0),
		reg("./var/lib/owned", 0o640, 42, 42, "owned\n"),
		dir("./var/log/", 0o755, 0, 0),
	}
	st := newStage(t, rootfs.Options{}, append(base, extra...), []tfile{
		dir("./", 0o755, 0, 0), dir("./usr/", 0o755, 0, 0), dir("./usr/share/", 0o755, 0, 0),
		dir("./usr/share/b/", 0o755, 0, 0), reg("./usr/share/b/file", 0o644, 0, 0, "b\n"),
	})
	write := func(p string, data []byte, mode int64) {
		t.Helper()
		if err := st.MkdirAll(path.Dir(p), rootfs.Entry{Mode: 0o755}); err != nil {
			t.Fatal(err)
		}
		if err := st.WriteFile(p, data, rootfs.Entry{Mode: mode}); err != nil {
			t.Fatal(err)
		}
	}
	copied := map[string]bool{}
	copyHost := func(host, p string) {
		t.Helper()
		if copied[p] {
			return
		}
		copied[p] = true
		data, err := os.ReadFile(host)
		if err != nil {
			t.Fatal(err)
		}
		write(p, data, 0o755)
	}
	for _, tool := range hostTools {
		host, err := exec.LookPath(tool)
		if err != nil {
			t.Skipf("no %s on the host", tool)
		}
		real, err := filepath.EvalSymlinks(host)
		if err != nil {
			t.Fatal(err)
		}
		dst := "/usr/bin/" + tool
		if tool == "sh" {
			dst = "/bin/sh"
		}
		copyHost(real, dst)
		out, _ := exec.Command("ldd", real).Output()
		for _, m := range lddPath.FindAllStringSubmatch(string(out), -1) {
			copyHost(m[1], m[1])
		}
		for _, line := range strings.Split(string(out), "\n") {
			if f := strings.Fields(line); len(f) >= 3 && f[1] == "=>" && strings.HasPrefix(f[2], "/") {
				copyHost(f[2], f[2])
			}
		}
	}
	write("/usr/bin/dpkg-query", []byte(fakeDpkgQuery), 0o755)
	write("/usr/bin/dpkg", []byte(fakeDpkg), 0o755)
	write("/var/lib/dpkg/status", []byte(fakeStatus), 0o644)
	write("/var/lib/dpkg/info/fake-base.preinst", []byte(fakePreinst), 0o755)
	write("/var/lib/dpkg/info/fake-base.postinst", []byte(fakePostinst), 0o755)
	write("/var/lib/dpkg/info/b-pkg.preinst", []byte(bPreinst), 0o755)
	return st
}

// execModes are the modes the running user can test: root's where the
// helper can mount (not in an unprivileged container), unshare where a
// user namespace works. DEBSTRAP_TEST_USERNS=1 makes a failing probe an
// error instead of a skip.
func execModes(t *testing.T) []Configurer {
	var modes []Configurer
	var why []string
	if os.Geteuid() == 0 {
		tail := &tailWriter{max: 1024}
		err := runHelper(context.Background(), nsSpec{desc: "root"}, []string{"probe", "range"}, nil, tail, nil, testLogger(t))
		if err == nil {
			modes = append(modes, rootMode{})
		} else {
			why = append(why, "root: "+err.Error()+tail.suffix())
		}
	}
	if _, err := probeUserNamespace(); err == nil {
		modes = append(modes, unshareMode{})
	} else {
		why = append(why, "unshare: "+err.Error())
	}
	if len(why) > 0 && os.Getenv("DEBSTRAP_TEST_USERNS") != "" {
		t.Fatal(strings.Join(why, "; "))
	}
	if len(modes) == 0 {
		t.Skipf("no mode can run here: %s", strings.Join(why, "; "))
	}
	return modes
}

func sleepersLeft(t *testing.T, arg string) bool {
	t.Helper()
	matches, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, m := range matches {
		b, _ := os.ReadFile(m)
		if bytes.Equal(b, []byte("sleep\x00"+arg+"\x00")) {
			return true
		}
	}
	return false
}

// TestConfigureExecRestOrder: the packages after the Essential set are
// configured in the order given (native's queue, --mode=auto), those
// already configured skipped, then the rest by -a.
func TestConfigureExecRestOrder(t *testing.T) {
	for _, c := range execModes(t) {
		t.Run(c.Name(), func(t *testing.T) {
			st := fakeRoot(t)
			status, err := st.ReadFile("/var/lib/dpkg/status")
			if err != nil {
				t.Fatal(err)
			}
			more := "Package: c1\nStatus: install ok unpacked\nArchitecture: all\nVersion: 1\n\n" +
				"Package: c2\nStatus: install ok unpacked\nArchitecture: all\nVersion: 1\n\n" +
				"Package: c3\nStatus: install ok unpacked\nArchitecture: all\nVersion: 1\n\n" +
				"Package: c4\nStatus: install ok installed\nArchitecture: all\nVersion: 1\n\n"
			if err := st.WriteFile("/var/lib/dpkg/status", append(status, more...), rootfs.Entry{Mode: 0o644}); err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			err = c.Configure(context.Background(), st, Options{
				Logger: testLogger(t), Order: []string{"fake-base", "b-pkg", "c1", "c2", "c3", "c4"}, Arch: hostArch(),
				Stdout: &out, Stderr: &out, FirstOrder: []string{"fake-base"}, RestOrder: []string{"c3", "c4", "b-pkg", "c1"},
			})
			t.Logf("output:\n%s", out.String())
			if err != nil {
				t.Fatal(err)
			}
			calls, err := st.ReadFile("/var/lib/dpkg-calls")
			if err != nil {
				t.Fatal(err)
			}
			want := "dpkg --force-configure-any --configure fake-base\ndpkg --configure c3 b-pkg c1\ndpkg --configure -a\n"
			if string(calls) != want {
				t.Errorf("dpkg ran as\n%s\nwant\n%s", calls, want)
			}
			if !strings.Contains(out.String(), "Setting up c3 ...\nSetting up b-pkg ...\nSetting up c1 ...\nSetting up c2 ...\n") {
				t.Error("not configured in the order given")
			}
		})
	}
}

func TestConfigureExec(t *testing.T) {
	for _, c := range execModes(t) {
		t.Run(c.Name(), func(t *testing.T) {
			st := fakeRoot(t)
			var out, errs bytes.Buffer
			err := c.Configure(context.Background(), st, Options{
				Logger: testLogger(t), Order: []string{"fake-base", "b-pkg"}, Arch: hostArch(),
				Stdout: &out, Stderr: &errs,
			})
			t.Logf("stdout:\n%s\nstderr:\n%s", out.String(), errs.String())
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out.String(), "Setting up fake-base") {
				t.Error("dpkg's output did not reach Stdout")
			}
			got := byPath(st.Entries())
			read := func(p string) string {
				b, err := st.ReadFile(p)
				if err != nil {
					t.Errorf("%s: %v", p, err)
				}
				return string(b)
			}
			if p := pendingInStatus([]byte(read("/var/lib/dpkg/status"))); len(p) > 0 {
				t.Errorf("still pending: %v", p)
			}
			if s := read("/var/lib/order"); s != "fake-base\nb-pkg\n" {
				t.Errorf("preinsts ran in the order %q", s)
			}
			if s := read("/etc/fake.conf"); s != "conf\n" || got["/etc/fake.conf"].Package != "pkga" {
				t.Errorf("conffile: %q, package %q", s, got["/etc/fake.conf"].Package)
			}
			single := false
			if _, ok := got["/var/lib/chown-failed"]; ok {
				single = true
				t.Log("single-id user namespace: chown to 42 failed inside, as expected")
			} else if e := got["/var/lib/fake"]; e.Uid != 42 || e.Gid != 42 {
				t.Errorf("/var/lib/fake owner %d:%d, want 42:42", e.Uid, e.Gid)
			}
			if e := got["/var/lib/owned"]; e.Uid != 42 || e.Gid != 42 || e.Mode != 0o640 {
				t.Errorf("/var/lib/owned: %o %d:%d (single %v)", e.Mode, e.Uid, e.Gid, single)
			}
			if e := got["/usr/bin/fake-suid"]; e.Mode != 0o4755 {
				t.Errorf("/usr/bin/fake-suid mode %o", e.Mode)
			}
			if e := got["/dev/null"]; e.Type != tar.TypeChar || e.Devmajor != 1 || e.Devminor != 3 || e.Mode != 0o666 {
				t.Errorf("/dev/null: %+v", e)
			}
			if e := got["/etc/fake-link"]; e.Type != tar.TypeSymlink || e.Linkname != "../generated" {
				t.Errorf("/etc/fake-link: %+v", e)
			}
			for p, want := range map[string]string{
				"/etc/generated": "generated\n", "/var/lib/fake/new/sub/file": "x\n",
				"/usr/share/fake/data": "changed\n", "/usr/share/fake/data-link": "changed\n",
				"/usr/sbin/start-stop-daemon": "#!/bin/sh\necho real\n", "/etc/passwd": "root:*:0:0:root:/root:/bin/sh\n",
			} {
				if s := read(p); s != want {
					t.Errorf("%s: %q, want %q", p, s, want)
				}
			}
			for _, p := range []string{
				"/etc/obsolete", "/usr/share/fake-old", "/etc/fake.conf.dpkg-new", "/run/pidfile", "/tmp/junk",
				"/var/log/dpkg.log", "/usr/sbin/policy-rc.d", "/usr/sbin/start-stop-daemon.REAL",
				"/dev/zero", "/dev/pts", "/dev/fd", "/proc/self",
			} {
				if _, ok := got[p]; ok {
					t.Errorf("%s is in the table", p)
				}
			}
			if e := got["/tmp"]; e.Mode != 0o1777 {
				t.Errorf("/tmp mode %o", e.Mode)
			}
			if sleepersLeft(t, "7777") {
				t.Error("a daemon started by a maintainer script survived")
			}
			checkBuilderState(t, st.Dir(), os.Getuid(), os.Getgid())
			checkDiskMatchesTable(t, st)
		})
	}
}

func TestConfigureExecFails(t *testing.T) {
	for _, c := range execModes(t) {
		t.Run(c.Name(), func(t *testing.T) {
			st := fakeRoot(t, reg("./var/lib/fail", 0o644, 0, 0, ""))
			before := st.Entries()
			err := c.Configure(context.Background(), st, Options{Logger: testLogger(t)})
			if err == nil {
				t.Fatal("no error")
			}
			for _, want := range []string{"dpkg --configure -a", "postinst told to fail"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
			t.Log(err)
			checkBuilderState(t, st.Dir(), os.Getuid(), os.Getgid())
			if len(st.Entries()) != len(before) {
				t.Error("the table changed after a failure")
			}
			if left, _ := mountsUnder(st.Dir()); len(left) > 0 {
				t.Errorf("mounts left: %v", left)
			}
		})
	}
}

func TestConfigureExecCancel(t *testing.T) {
	for _, c := range execModes(t) {
		t.Run(c.Name(), func(t *testing.T) {
			st := fakeRoot(t, reg("./var/lib/hang", 0o644, 0, 0, ""))
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(2*time.Second, cancel)
			start := time.Now()
			err := c.Configure(ctx, st, Options{Logger: testLogger(t)})
			if err == nil || !strings.Contains(err.Error(), "context canceled") {
				t.Fatalf("err %v", err)
			}
			if d := time.Since(start); d > 30*time.Second {
				t.Errorf("cancellation took %v", d)
			}
			if sleepersLeft(t, "7778") {
				t.Error("the hanging maintainer script survived")
			}
			checkBuilderState(t, st.Dir(), os.Getuid(), os.Getgid())
		})
	}
}

// escapeScript tries the doors out of the root a maintainer script could
// find (MARKER: a file of the host's): the root of PID 1 and of itself,
// their cwds, writes through them; it records what worked.
const escapeScript = `out=/var/lib/escape.out
: >$out
for p in /proc/1/root /proc/self/root /proc/1/cwd /proc/self/cwd /proc/2/root; do
	if cat "$p$MARKER" >/dev/null 2>&1; then echo "read $p$MARKER" >>$out; fi
	if (echo x >"$p$MARKER.w") 2>/dev/null; then echo "wrote $p$MARKER.w" >>$out; fi
done
if (cd /proc/1/root/.. && cat ".$MARKER") >/dev/null 2>&1; then echo "read ../$MARKER" >>$out; fi
if grep -q ' /sys rw[, ]' /proc/self/mountinfo; then echo "/sys is writable" >>$out; fi
echo "pid1 $(readlink /proc/1/exe)" >>$out
`

// TestConfigureExecConfined: the scripts' PID 1 is the root's own shell
// and neither its root nor any other path leads to the host's files (the
// helper's /proc/1/root once did).
func TestConfigureExecConfined(t *testing.T) {
	for _, c := range execModes(t) {
		t.Run(c.Name(), func(t *testing.T) {
			marker := filepath.Join(t.TempDir(), "host-marker")
			if err := os.WriteFile(marker, []byte("host\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			script := "MARKER=" + marker + "\n" + escapeScript
			st := fakeRoot(t, reg("./var/lib/escape", 0o644, 0, 0, script))
			if err := c.Configure(context.Background(), st, Options{Logger: testLogger(t)}); err != nil {
				t.Fatal(err)
			}
			out, err := st.ReadFile("/var/lib/escape.out")
			if err != nil {
				t.Fatal(err)
			}
			if got := string(out); got != "pid1 /bin/sh\n" {
				t.Errorf("a script reached the host, or PID 1 is not the root's shell:\n%s", got)
			}
			if _, err := os.Lstat(marker + ".w"); err == nil {
				t.Error("a script wrote a file of the host's")
			}
		})
	}
}

// TestConfigureExecPreinstDone: a package whose preinst native mode ran
// already is configured without running its preinst again.
func TestConfigureExecPreinstDone(t *testing.T) {
	for _, c := range execModes(t) {
		t.Run(c.Name(), func(t *testing.T) {
			st := fakeRoot(t)
			if err := c.Configure(context.Background(), st, Options{
				Logger: testLogger(t), Order: []string{"fake-base", "b-pkg"}, PreinstDone: []string{"b-pkg"},
			}); err != nil {
				t.Fatal(err)
			}
			b, err := st.ReadFile("/var/lib/order")
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != "fake-base\n" {
				t.Errorf("preinsts ran: %q, want only fake-base's", b)
			}
			data, _ := st.ReadFile("/var/lib/dpkg/status")
			if p := pendingInStatus(data); len(p) > 0 {
				t.Errorf("still pending: %v", p)
			}
		})
	}
}

// TestConfigureExecDeferred: the commands native mode deferred run after
// configuring, in their directory; a failing one is reported, not fatal.
func TestConfigureExecDeferred(t *testing.T) {
	for _, c := range execModes(t) {
		t.Run(c.Name(), func(t *testing.T) {
			st := fakeRoot(t)
			var out bytes.Buffer
			if err := c.Configure(context.Background(), st, Options{
				Logger: testLogger(t), Stdout: &out, Stderr: &out,
				Deferred: []Command{
					{Dir: "/var/lib", Args: []string{"grep", "-q", "no such line", "/etc/fake.conf"}},
					{Dir: "/var/lib", Args: []string{"touch", "deferred it's ran"}},
				},
			}); err != nil {
				t.Fatal(err)
			}
			if _, ok := st.Lookup("/var/lib/deferred it's ran"); !ok {
				t.Errorf("the deferred command did not run in /var/lib")
			}
			if !strings.Contains(out.String(), "the deferred command failed: grep -q no such line /etc/fake.conf") {
				t.Errorf("output lacks the failed command:\n%s", out.String())
			}
		})
	}
}

// RunHook runs a host command with the root as $1, as root of the
// build: what it creates is root's, chroot works (/proc mounted), its
// changes reach the table, and a failing one names the command.
func TestRunHook(t *testing.T) {
	for _, c := range execModes(t) {
		t.Run(c.Name(), func(t *testing.T) {
			st := fakeRoot(t)
			userns := c.Name() == string(ModeUnshare)
			hook := `set -e
test "$(id -u)" = 0
echo made > "$1/etc/made-by-hook"
chmod 600 "$1/etc/made-by-hook"
test -e "$1/proc/self"
chown 42:42 "$1/var/lib/owned"
rm "$1/etc/obsolete"
echo "$DEBSTRAP_HOOK" > "$1/etc/hook-name"`
			var out bytes.Buffer
			err := RunHook(context.Background(), st, Options{Logger: testLogger(t), Stdout: &out, Stderr: &out}, userns, hook,
				append(DefaultEnv(), "DEBSTRAP_HOOK=customize"))
			t.Logf("output: %s", out.String())
			if err != nil {
				t.Fatal(err)
			}
			got := byPath(st.Entries())
			if e := got["/etc/made-by-hook"]; e.Uid != 0 || e.Gid != 0 || e.Mode != 0o600 || e.Type != tar.TypeReg {
				t.Errorf("/etc/made-by-hook: %+v", e)
			}
			if e := got["/var/lib/owned"]; e.Uid != 42 || e.Gid != 42 {
				t.Errorf("the hook's chown: %d:%d", e.Uid, e.Gid)
			}
			if b, _ := st.ReadFile("/etc/hook-name"); string(b) != "customize\n" {
				t.Errorf("the hook's environment: %q", b)
			}
			if _, ok := got["/etc/obsolete"]; ok {
				t.Error("what the hook removed is still in the table")
			}
			if _, ok := got["/proc/self"]; ok {
				t.Error("the mounts are in the table")
			}
			checkBuilderState(t, st.Dir(), os.Getuid(), os.Getgid())
			checkDiskMatchesTable(t, st)

			err = RunHook(context.Background(), st, Options{Logger: testLogger(t)}, userns, "exit 3", DefaultEnv())
			if err == nil || !strings.Contains(err.Error(), `"exit 3"`) || !strings.Contains(err.Error(), "exit status 3") {
				t.Errorf("a failing hook: %v", err)
			}
		})
	}
}
