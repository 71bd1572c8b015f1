package configure

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/debstrap/debstrap/rootfs"
)

func TestPick(t *testing.T) {
	defer func(e func() int, p func() (bool, error), h func() string, b string) {
		geteuid, probeUnshare, hostArch, binfmtDir = e, p, h, b
	}(geteuid, probeUnshare, hostArch, binfmtDir)
	hostArch = func() string { return "amd64" }
	bf := t.TempDir()
	os.WriteFile(filepath.Join(bf, "qemu-aarch64"), []byte("enabled\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\nflags: POCF\noffset 0\n"), 0o644)
	os.WriteFile(filepath.Join(bf, "qemu-riscv64"), []byte("enabled\ninterpreter /usr/bin/qemu-riscv64\nflags: P\n"), 0o644)
	binfmtDir = bf
	noUserns := errors.New("unshare: operation not permitted")

	for _, tc := range []struct {
		mode    Mode
		arch    string
		euid    int
		probe   error
		single  bool
		want    string // Name(), or "" for an error
		wantErr string
	}{
		{mode: ModeAuto, arch: "amd64", euid: 0, want: "root"},
		{mode: ModeAuto, arch: "amd64", euid: 1000, want: "unshare"},
		{mode: "", arch: "", euid: 1000, want: "unshare"},
		{mode: ModeAuto, arch: "amd64", euid: 1000, probe: noUserns, wantErr: "no way to run maintainer scripts"},
		{mode: ModeAuto, arch: "amd64", euid: 1000, probe: noUserns, wantErr: "operation not permitted"},
		{mode: ModeRoot, arch: "amd64", euid: 0, want: "root"},
		{mode: ModeRoot, arch: "amd64", euid: 1000, wantErr: "needs root"},
		{mode: ModeUnshare, arch: "amd64", euid: 1000, want: "unshare"},
		{mode: ModeUnshare, arch: "amd64", euid: 1000, single: true, want: "unshare"},
		{mode: ModeAuto, arch: "amd64", euid: 1000, single: true, wantErr: "no id range"},
		{mode: ModeUnshare, arch: "amd64", euid: 1000, probe: noUserns, wantErr: "--mode=unshare: unshare: operation not permitted"},
		{mode: ModeExtract, arch: "s390x", euid: 1000, probe: noUserns, want: "extract"},
		{mode: ModeNative, arch: "amd64", euid: 0, wantErr: "runs no maintainer script"},
		{mode: "chrootless", arch: "amd64", euid: 0, wantErr: `unknown mode "chrootless"`},
		{mode: ModeRoot, arch: "i386", euid: 0, want: "root"},
		{mode: ModeRoot, arch: "arm64", euid: 0, want: "root"},
		{mode: ModeRoot, arch: "riscv64", euid: 0, wantErr: "lacks the F flag"},
		{mode: ModeRoot, arch: "s390x", euid: 0, wantErr: "no binfmt_misc handler"},
		{mode: ModeAuto, arch: "s390x", euid: 0, wantErr: "use --mode=extract"},
	} {
		geteuid = func() int { return tc.euid }
		probeUnshare = func() (bool, error) { return !tc.single, tc.probe }
		c, err := Pick(tc.mode, tc.arch)
		name := "mode " + string(tc.mode) + " arch " + tc.arch
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%s euid %d: err %v, want %q", name, tc.euid, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s euid %d: %v", name, tc.euid, err)
			continue
		}
		if c.Name() != tc.want {
			t.Errorf("%s euid %d: picked %s, want %s", name, tc.euid, c.Name(), tc.want)
		}
	}
}

func TestCanRunHost(t *testing.T) {
	if err := CanRun(hostArch()); err != nil {
		t.Fatalf("the host's own architecture: %v", err)
	}
	if err := CanRun("no-such-arch"); err == nil || !strings.Contains(err.Error(), "unknown architecture") {
		t.Fatalf("unknown architecture: %v", err)
	}
}

func TestSecondStageScript(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	for _, p := range []scriptParams{
		{Order: []string{"base-files", "libc6:amd64"}, FirstOrder: []string{"base-files"}, RestOrder: []string{"a", "b:i386"}},
		{Order: nil, Env: DefaultEnv(), State: "/debstrap", Bare: true, Cleanup: true},
	} {
		s, err := secondStage(p)
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(sh, "-n")
		cmd.Stdin = strings.NewReader(s)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("sh -n: %v\n%s", err, out)
		}
		for _, want := range []string{"dpkg --configure -a", "preinst", "newconffile", "policy-rc.d", "start-stop-daemon"} {
			if !strings.Contains(s, want) {
				t.Errorf("script lacks %q", want)
			}
		}
	}
	if _, err := secondStage(scriptParams{Order: []string{"foo'; rm -rf /"}}); err == nil {
		t.Error("a bad package name was accepted")
	}
	if _, err := secondStage(scriptParams{Env: []string{"A B=1"}}); err == nil {
		t.Error("a bad environment entry was accepted")
	}
	s, _ := secondStage(scriptParams{Env: []string{"X=it's"}})
	if !strings.Contains(s, `export X='it'\''s'`) {
		t.Error("environment value not quoted")
	}
}

func TestPendingInStatus(t *testing.T) {
	status := `Package: a
Status: install ok installed
Architecture: amd64

Package: b
Status: install ok unpacked
Architecture: all

Package: c
Architecture: amd64
Status: install ok half-configured

Package: d
Status: deinstall ok config-files

Package: e
Status: install ok triggers-pending
Architecture: amd64
`
	got := pendingInStatus([]byte(status))
	want := []string{"b (unpacked)", "c (half-configured)", "e (triggers-pending)"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestExtractMode(t *testing.T) {
	st := newStage(t, rootfs.Options{}, []tfile{
		dir("./", 0o755, 0, 0), dir("./var/", 0o755, 0, 0), dir("./var/lib/", 0o755, 0, 0),
		dir("./var/lib/dpkg/", 0o755, 0, 0),
		reg("./var/lib/dpkg/status", 0o644, 0, 0, "Package: a\nStatus: install ok unpacked\n\n"),
	})
	c, err := Pick(ModeExtract, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Configure(context.Background(), st, Options{Order: []string{"a"}}); err != nil {
		t.Fatal(err)
	}
	e, ok := st.Lookup(SecondStage)
	if !ok || e.Mode != 0o755 || e.Uid != 0 {
		t.Fatalf("second stage entry %+v, %v", e, ok)
	}
	data, err := st.ReadFile(SecondStage)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(data), "#!/bin/sh\n") || !strings.Contains(string(data), "state='/debstrap'") ||
		!strings.Contains(string(data), "export DEBIAN_FRONTEND='noninteractive'") {
		t.Fatalf("second stage:\n%s", data)
	}

	// Nothing unpacked: nothing written.
	st2 := newStage(t, rootfs.Options{}, []tfile{
		dir("./", 0o755, 0, 0), dir("./var/", 0o755, 0, 0), dir("./var/lib/", 0o755, 0, 0),
		dir("./var/lib/dpkg/", 0o755, 0, 0),
		reg("./var/lib/dpkg/status", 0o644, 0, 0, "Package: a\nStatus: install ok installed\n\n"),
	})
	if err := c.Configure(context.Background(), st2, Options{}); err != nil {
		t.Fatal(err)
	}
	if _, ok := st2.Lookup(SecondStage); ok {
		t.Fatal("second stage written for a configured root")
	}
}

func TestEssentialSet(t *testing.T) {
	status := `Package: base-files
Essential: yes
Status: install ok unpacked
Pre-Depends: awk

Package: mawk
Status: install ok unpacked
Provides: awk
Depends: libc6 (>= 2.29)

Package: gawk
Status: install ok unpacked
Provides: awk

Package: libc6
Status: install ok unpacked
Multi-Arch: same
Depends: libgcc-s1,
 libcrypt1 | libxcrypt1

Package: libgcc-s1
Status: install ok unpacked

Package: libcrypt1
Status: install ok unpacked

Package: libxcrypt1
Status: install ok unpacked

Package: dpkg
Essential: yes
Status: install ok installed
Depends: tar (>= 1.28), missing | zlib1g:any

Package: tar
Status: install ok unpacked

Package: zlib1g
Status: install ok unpacked

Package: apt
Status: install ok unpacked
Depends: libc6

Package: old
Essential: yes
Status: deinstall ok config-files
Depends: apt
`
	got := essentialSet(parseStatus([]byte(status)))
	want := []string{"base-files", "dpkg", "gawk", "libc6", "libcrypt1", "libgcc-s1", "mawk", "tar", "zlib1g"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q\nwant %q", got, want)
	}
}

func TestParseStatusNewConffiles(t *testing.T) {
	status := `Package: a
Status: install ok unpacked
Architecture: amd64
Conffiles:
 /etc/a.conf newconffile

Package: b
Status: install ok installed
Architecture: all
Conffiles:
 /etc/b.conf 0123456789abcdef0123456789abcdef

Package: c
Status: install ok unpacked
`
	got := map[string]bool{}
	for _, p := range parseStatus([]byte(status)) {
		got[p.name+":"+p.arch] = p.newConffiles
	}
	want := map[string]bool{"a:amd64": true, "b:all": false, "c:": false}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

// TestDeferredLanes: deferred Python byte-compiling runs beside the other
// deferred commands, each lane in the order met; with a cache remover
// among them, everything runs in one lane, in order.
func TestDeferredLanes(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	bin := t.TempDir()
	log := filepath.Join(t.TempDir(), "log")
	for _, n := range []string{"py3compile", "python3.11", "mandb", "glib-compile-schemas", "py3clean"} {
		body := "#!/bin/sh\necho \"start " + n + " $1\" >> " + log + "\nsleep 0.3\necho \"end " + n + " $1\" >> " + log + "\n"
		if err := os.WriteFile(filepath.Join(bin, n), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// runScript runs the deferred functions of script s, then tail; it gives
	// the log the fake commands wrote.
	runScript := func(s, tail string) []string {
		t.Helper()
		os.Remove(log)
		cmd := exec.Command(sh, "-c", deferredFuncs(s)+tail)
		cmd.Env = append(os.Environ(), "PATH="+bin+":/usr/bin:/bin")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		b, _ := os.ReadFile(log)
		return strings.Split(strings.TrimSpace(string(b)), "\n")
	}
	run := func(cmds ...[]string) []string {
		t.Helper()
		var d []Command
		for _, c := range cmds {
			d = append(d, Command{Dir: "/", Args: c})
		}
		s, err := secondStage(scriptParams{Deferred: d})
		if err != nil {
			t.Fatal(err)
		}
		return runScript(s, "deferred")
	}
	got := run([]string{"python3.11", "a"}, []string{"mandb", "b"}, []string{"py3compile", "c"}, []string{"glib-compile-schemas", "d"})
	idx := func(l []string, s string) int { return slices.Index(l, s) }
	if len(got) != 8 || idx(got, "start mandb b") > idx(got, "end python3.11 a") ||
		idx(got, "start py3compile c") < idx(got, "end python3.11 a") || idx(got, "start glib-compile-schemas d") < idx(got, "end mandb b") {
		t.Errorf("two lanes: %q", got)
	}
	// DeferredBeside: the Python lane goes on past deferred's end, and
	// is waited for at the script's end.
	s, err := secondStage(scriptParams{Deferred: []Command{{Dir: "/", Args: []string{"python3.11", "a"}}}, DeferredBeside: true})
	if err != nil {
		t.Fatal(err)
	}
	got = runScript(s, "deferred; mandb after; deferred_wait")
	if len(got) != 4 || idx(got, "start mandb after") > idx(got, "end python3.11 a") {
		t.Errorf("beside: %q", got)
	}
	if !strings.Contains(s, "dpkg --configure -a </dev/null\ndeferred_wait\n") {
		t.Error("the script does not wait for the Python lane at its end")
	}
	got = run([]string{"python3.11", "a"}, []string{"py3clean", "b"}, []string{"mandb", "c"})
	want := []string{"start python3.11 a", "end python3.11 a", "start py3clean b", "end py3clean b", "start mandb c", "end mandb c"}
	if !slices.Equal(got, want) {
		t.Errorf("one lane: %q", got)
	}
}

// deferredFuncs is the part of a second-stage script that defines
// deferred and deferred_wait.
func deferredFuncs(s string) string {
	start := strings.Index(s, "python_lane=\n")
	d := strings.Index(s, "deferred() {")
	return s[start : d+strings.Index(s[d:], "\n}\n")+3]
}
