package native

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/debstrap/debstrap/dpkg"
	"github.com/debstrap/debstrap/internal/testarchive"
)

// hostMark is content only the host has: it must never appear in a
// script's output.
const hostMark = "HOST-ONLY-MARK"

// hostileSetup makes a host directory (also the process's TMPDIR) with a
// file, a script to source and an executable, none of them in the stage.
func hostileSetup(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("TMPDIR", dir)
	t.Setenv("DEBSTRAP_HOST_SECRET", hostMark)
	for name, c := range map[string]string{
		"hostfile": hostMark + "\n",
		"hostsrc":  "echo " + hostMark + "\n",
		"hostcmd":  "#!/bin/sh\necho " + hostMark + "\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(c), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func hostFiles(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// Escape attempts through the interpreter: none reaches a file, program,
// variable or PATH entry of the host, and the host's temporary directory
// gains nothing. $1 is the host directory.
func TestHostileEscapes(t *testing.T) {
	host := hostileSetup(t)
	before := strings.Join(hostFiles(t, host), " ")
	st := newStage(t)
	s := testSys(t, st)
	put(t, st, map[string]string{
		"/etc/passwd":  "root:stage\n",
		"/etc/escape":  "-> /../../../../etc",
		"/etc/hostout": "-> " + filepath.Join(host, "hostfile"),
		"/etc/up":      "-> ../../../../..",
	})
	hostname, _ := os.Hostname()
	for _, c := range []struct{ name, script, want string }{
		{"heredoc", "cat <<EOF >/etc/h\nhi $((1+1))\nEOF\ncat /etc/h; cat <<-'E'\n\tq\n\tE", "hi 2\nq\n"},
		{"here-string", `cat <<< "w"`, "w\n"},
		{"process substitution", `cat <(echo ps); while read l; do echo "<$l>"; done < <(printf 'a\nb\n')`, "ps\n<a>\n<b>\n"},
		{"fifo bypass", `echo x > "$1/sh-interp-1"; echo x >> "$TMPDIR/sh-interp-2"; cat "$1/sh-interp-3"; echo end`, "end\n"},
		{"no TMPDIR", `echo "[$TMPDIR]"`, "[]\n"},
		{"host env", `echo "[$DEBSTRAP_HOST_SECRET]" $UID $EUID $GID $HOME`, "[] 0 0 0 /root\n"},
		{"type -P", `PATH="$1:$PATH"; type -P hostcmd || echo none`, "none\n"},
		{"type -p", `PATH="$1:$PATH"; type -p hostcmd || echo none`, "none\n"},
		{"type -t", `PATH="$1:$PATH"; type -t hostcmd || echo none; type -t cp if echo`, "none\nfile\nkeyword\nbuiltin\n"},
		{"type -a", `PATH="$1:$PATH"; type -a hostcmd || echo none; type -a ln`, "none\nln is /usr/bin/ln\nln is /bin/ln\n"},
		{"type", `PATH="$1:$PATH"; type hostcmd 2>/dev/null || echo none; f() { :; }; type f`, "none\nf is a function\n"},
		{"command -v", `PATH="$1:$PATH"; command -v hostcmd || echo none; command -v echo ln`, "none\necho\n/usr/bin/ln\n"},
		{"command -V", `PATH="$1:$PATH"; command -V hostcmd 2>/dev/null || echo none`, "none\n"},
		{"command -p", `PATH="$1:$PATH"; command -p -v hostcmd || echo none`, "none\n"},
		{"hash", `PATH="$1:$PATH"; hash hostcmd 2>/dev/null || echo none; hash -r`, "none\n"},
		{"builtin type", `PATH="$1:$PATH"; builtin type -P hostcmd || echo none`, "none\n"},
		{"command type", `PATH="$1:$PATH"; command type -P hostcmd || echo none; command builtin type -p hostcmd || echo none`, "none\nnone\n"},
		{"run host program", `PATH="$1:$PATH"; hostcmd; "$1/hostcmd"; exec hostcmd`, ""},
		{"source by PATH", `PATH="$1"; . hostsrc 2>/dev/null; echo $?`, "1\n"},
		{"source host path", `. "$1/hostsrc" 2>/dev/null; source /etc/passwd 2>/dev/null; echo end`, "end\n"},
		{"cat host path", `cat "$1/hostfile" 2>/dev/null; echo "$(< "$1/hostfile")" "$(cat /etc/hostname 2>/dev/null)"`, ""},
		{"read host file", `read x < "$1/hostfile"; echo "[$x]"`, "[]\n"},
		{"cd /proc/self/root", `cd /proc/self/root 2>/dev/null || echo nocd; cat /proc/self/environ 2>/dev/null; echo end`, "nocd\nend\n"},
		{"cd above root", `cd /; cd ..; cd ../..; pwd; cd /etc/up; pwd -P; cat "../$1/hostfile" 2>/dev/null; echo end`, "/\n/\nend\n"},
		{"pwd -P", `cd /etc/escape && pwd -P`, "/etc\n"},
		{"symlink out", `cat /etc/hostout 2>/dev/null || echo stays`, "stays\n"},
		{"eval", `eval 'cat "$1/hostfile" 2>/dev/null; echo e'`, "e\n"},
		{"trap", `trap 'cat "$1/hostfile" 2>/dev/null; echo trapped' EXIT; echo main`, "main\ntrapped\n"},
		{"dev tcp", `echo x > /dev/tcp/127.0.0.1/9 2>/dev/null || echo refused; cat < /dev/tcp/127.0.0.1/9 2>/dev/null || echo refused`, "refused\nrefused\n"},
		{"ulimit", `ulimit -v 1 || echo refused`, "refused\n"},
		{"background", `(echo bg > /etc/bg) & wait; cat /etc/bg`, "bg\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			// Standard error is dropped: the messages are the
			// interpreter's; what matters is what reaches stdout.
			out, err := sh(t, s, "{\n"+c.script+"\n} 2>/dev/null", host)
			if strings.Contains(out, hostMark) || (len(hostname) > 3 && strings.Contains(out, hostname)) || strings.Contains(out, "root:x:") {
				t.Errorf("host content in the output: %q", out)
			}
			if c.name == "run host program" {
				if err != nil && !strings.Contains(err.Error(), "not found") {
					t.Logf("%v", err)
				}
			} else if err != nil || out != c.want {
				t.Errorf("got %q, %v; want %q", out, err, c.want)
			}
			if after := strings.Join(hostFiles(t, host), " "); after != before {
				t.Errorf("the host directory now has %s (had %s)", after, before)
			}
		})
	}
	// >(...) cannot be reproduced: refused, not half done.
	var ue *UnsupportedError
	if _, err := sh(t, s, "echo x > >(cat)"); !errors.As(err, &ue) {
		t.Errorf(">(...): %v, want an UnsupportedError", err)
	}
}

// Runaway scripts end, each within its limit, in a *LimitError naming
// the limit; the host's temporary directory gains nothing.
func TestHostileLimits(t *testing.T) {
	host := hostileSetup(t)
	st := newStage(t)
	s := testSys(t, st)
	// kb sets $x to 4 KiB, for loops that reach a limit quickly.
	const kb = "x=$(printf %04096d 0); "
	s.opts.Limits = Limits{Timeout: 2 * time.Second, Memory: 32 << 20, Output: 1 << 20, Writes: 256 << 10, Depth: 50, Procs: 32}
	for _, c := range []struct{ name, script, limit string }{
		{"endless loop", "while :; do :; done", "time"},
		{"sleepless wait", "while true; do x=1; done", "time"},
		{"recursion", "g() { g; }; g", "depth"},
		{"recursion through eval", `e='eval "$e"'; eval "$e"`, "depth"},
		{"recursion in subst", `g() { x=$(g); }; g`, "depth"},
		{"fork bomb", "f() { f | f & }; f; while :; do :; done", "procs"},
		{"pipe bomb", "f() { f | f; }; f", "procs"},
		{"fork bomb, then exit 0", "f() { f | f & }; f; exit 0", "procs"},
		{"classic fork bomb, main returns", ":(){ :|:& };:", "procs"},
		{"background loop, then exit 0", "while :; do :; done & exit 0", "time"},
		{"huge output", "while :; do echo xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; done", "output"},
		{"huge stderr", "while :; do echo xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx >&2; done", "output"},
		{"huge file", "while :; do echo xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; done > /etc/big", "writes"},
		{"growing file", kb + "while :; do echo $x >> /etc/big2; done", "writes"},
		{"many files", kb + "i=0; while :; do echo $x > /tmp/f$i; i=$((i+1)); done", "writes"},
		{"doubling variable", "x=xxxxxxxx; while :; do x=$x$x; done", "memory"},
		{"huge substitution", kb + "x=$x$x$x$x$x$x$x$x; x=$x$x$x$x; y=$(while :; do echo \"$x\"; done)", "memory"},
		{"huge process substitution", kb + "cat <(while :; do echo $x; done)", "output"},
	} {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			_, err := sh(t, s, c.script)
			took := time.Since(start)
			var le *LimitError
			if !errors.As(err, &le) || le.Limit != c.limit {
				t.Fatalf("%v, want the %s limit", err, c.limit)
			}
			if !strings.Contains(err.Error(), c.limit+" limit") {
				t.Errorf("message %q does not name the limit", err)
			}
			if took > 10*time.Second {
				t.Errorf("took %v", took)
			}
			if got := hostFiles(t, host); len(got) != 3 {
				t.Errorf("the host directory now has %v", got)
			}
		})
	}
	// Text nested too deeply for the parser is refused before parsing.
	var ue *UnsupportedError
	if _, err := sh(t, s, strings.Repeat("(", 20000)); !errors.As(err, &ue) {
		t.Errorf("deep nesting: %v", err)
	}
	if _, err := sh(t, s, `eval "$1"`, strings.Repeat("{ ", 20000)); !errors.As(err, &ue) {
		t.Errorf("deep nesting in eval: %v", err)
	}
}

// A package whose script goes over a limit is left unconfigured, named in
// the report with the limit; the others are configured.
func TestLimitFailsPackage(t *testing.T) {
	in := unpack(t,
		testarchive.Deb{Name: "spinner", Version: "1", Scripts: map[string]string{"postinst": "#!/bin/sh\nwhile :; do :; done\n"}},
		testarchive.Deb{Name: "fine", Version: "1", Scripts: map[string]string{"postinst": "#!/bin/sh\nexit 0\n"}},
	)
	rep, err := Configure(context.Background(), in.st, in.db, in.pkgs,
		Options{Arch: "amd64", Epoch: testEpoch, Limits: Limits{Timeout: 300 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Failed) != 1 || rep.Failed[0].Package != "spinner" || rep.Failed[0].State != dpkg.Unpacked {
		t.Fatalf("failed %v", rep.Failed)
	}
	if msg := rep.Failed[0].String(); !strings.Contains(msg, "time limit (300ms)") || !strings.Contains(msg, "--native-script-timeout") {
		t.Errorf("failure %q does not name the limit", msg)
	}
	if strings.Join(rep.Configured, " ") != "fine" {
		t.Errorf("configured %v", rep.Configured)
	}
}

// A foreign architecture's package beside the native one of the same
// name (libc6:i386 beside libc6) is a package of its own: configured,
// named and ordered by its qualified name; its plain dependencies are on
// its own architecture's packages first.
func TestForeignArchitecturePackages(t *testing.T) {
	in := unpack(t,
		testarchive.Deb{Name: "libc6", Version: "1", Architecture: "amd64", Fields: []testarchive.Field{{Name: "Multi-Arch", Value: "same"}},
			Scripts: map[string]string{"postinst": "#!/bin/sh\necho amd64 >> /order\n"}},
		testarchive.Deb{Name: "libc6", Version: "1", Architecture: "i386", Fields: []testarchive.Field{{Name: "Multi-Arch", Value: "same"}},
			Scripts: map[string]string{"postinst": "#!/bin/sh\necho i386 >> /order\n"}},
		testarchive.Deb{Name: "libz", Version: "1", Architecture: "i386", Fields: []testarchive.Field{{Name: "Multi-Arch", Value: "same"}, {Name: "Depends", Value: "libc6"}},
			Scripts: map[string]string{"postinst": "#!/bin/sh\necho libz:i386 >> /order\n"}},
	)
	rep, err := Configure(context.Background(), in.st, in.db, in.pkgs, Options{Arch: "amd64", Epoch: testEpoch})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Failed) != 0 {
		t.Fatalf("failed %v", rep.Failed)
	}
	got := strings.Join(rep.Configured, " ")
	for _, want := range []string{"libc6", "libc6:i386", "libz:i386"} {
		if !slices.Contains(rep.Configured, want) {
			t.Errorf("configured %q, want %s among them", got, want)
		}
	}
	if i, j := slices.Index(rep.Configured, "libc6:i386"), slices.Index(rep.Configured, "libz:i386"); i > j {
		t.Errorf("configured %q: libz:i386 before its libc6:i386", got)
	}
}
