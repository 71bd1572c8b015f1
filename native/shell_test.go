package native

import (
	"errors"
	"strings"
	"testing"
)

// The interpreter's departures from the shell that fixErrexit, makeLazy
// and fixRead correct, checked against what bash and dash print.
func TestShellSemantics(t *testing.T) {
	st := newStage(t)
	s := testSys(t, st)
	put(t, st, map[string]string{"/etc/list": "# head\n/bin/sh\n"})
	for _, c := range []struct{ script, want string }{
		{"set -e; if true; then false && true; fi; echo after-if $?", "after-if 1\n"},
		{"set -e; { false && true; }; echo after-block $?", "after-block 1\n"},
		{"set -e; for i in 1; do false && true; done; echo after-for $?", "after-for 1\n"},
		{"set -e; case x in x) false && true;; esac; echo after-case $?", "after-case 1\n"},
		{"set -e; f() { if true; then return 3; fi; }; f || echo f=$?", "f=3\n"},
		{"set -e; for f in a b; do if [ $f = a ]; then continue; fi; echo $f; done; echo end", "b\nend\n"},
		{"set -e; f() { if false; then :; else return 0; fi; }; f; echo ok", "ok\n"},
		{"set -e; is() { [ -e /etc/list ] && [ -e /etc/nope ]; }; if is; then echo yes; else echo no; fi", "no\n"},
		{"X=; Y=${X:+$(echo called >&2; echo v)}; echo \"[$Y]\"", "[]\n"},
		{"X=a; Y=${X:+$(echo v)}; Z=${U:-$(echo d)}; echo \"[$Y][$Z]\"", "[v][d]\n"},
		{"while IFS='#' read -r line _; do echo \"<$line>\"; done < /etc/list", "<>\n</bin/sh>\n"},
		{"trap 'echo bye' 0; echo hi", "hi\nbye\n"},
		{"umask 077; echo x > /etc/private; umask", "0077\n"},
		{"command -v ln; command -v no-such-tool || echo none", "/usr/bin/ln\nnone\n"},
		{"no-such-tool; echo $?", "no-such-tool: not found\n127\n"},
		{"set -e; if true; then echo in; exit 0; else false || true; fi; echo not-here", "in\n"},
		{"echo $$ ${$} $PPID \"$$\" $((PPID + 0)); (echo $$)", "2 2 1 2 1\n2\n"},
		{"eval 'echo $$ $PPID'; x='echo $(( $$ + PPID ))'; eval \"$x\"; eval 'eval \"echo \\$\\$\"'", "2 1\n3\n2\n"},
		{"set -e; eval 'if true; then echo in; exit 0; else false || true; fi'; echo not-here", "in\n"},
		{"eval 'cat <(echo sub)'", "sub\n"},
		{"printf -- '-x\\n'; printf '%s\\n' -- a", "-x\n--\na\n"}, // as dash
	} {
		out, err := sh(t, s, c.script)
		if err != nil || out != c.want {
			t.Errorf("%s\n got %q, %v\nwant %q", c.script, out, err, c.want)
		}
	}
	if e := entry(t, st, "/etc/private"); e.Mode != 0o600 {
		t.Errorf("umask 077 made mode %o", e.Mode)
	}
}

// A command the registry lacks stops the script, even inside $(...) or
// behind || true.
func TestUnsupportedIsFatal(t *testing.T) {
	st := newStage(t)
	s := testSys(t, st)
	put(t, st, map[string]string{"/usr/sbin/mystery": "x:\x7fELF"})
	for _, script := range []string{"mystery || true", "x=$(mystery); echo $x", "if mystery; then :; fi"} {
		_, err := sh(t, s, script)
		var ue *UnsupportedError
		if !errors.As(err, &ue) {
			t.Errorf("%s: %v, want an UnsupportedError", script, err)
		}
	}
	// An option of a known command that is not implemented is unsupported
	// too: its effect is unknown.
	if _, err := sh(t, s, "cp --sparse=always /a /b"); !strings.Contains(errString(err), "not supported") {
		t.Errorf("cp --sparse: %v", err)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// Shell scripts of the root (helpers like update-shells) are interpreted
// the same way, with the caller's environment and streams.
func TestImageShellScript(t *testing.T) {
	st := newStage(t)
	s := testSys(t, st)
	put(t, st, map[string]string{"/usr/sbin/add-thing": "x:#!/bin/sh\nset -e\necho \"$1 from $DPKG_MAINTSCRIPT_PACKAGE\" >> /etc/things\n"})
	mustSh(t, s, "add-thing one; /usr/sbin/add-thing two")
	if got := get(t, st, "/etc/things"); got != "one from test\ntwo from test\n" {
		t.Errorf("things %q", got)
	}
}

// Scripts never reach the host: paths resolve in the stage, ".." and
// absolute symlinks stay inside it.
func TestSandbox(t *testing.T) {
	st := newStage(t)
	s := testSys(t, st)
	put(t, st, map[string]string{"/etc/escape": "-> /../../../../etc", "/etc/hostfile": "stage\n"})
	out := mustSh(t, s, "cat /../../etc/hostfile; cat /etc/escape/hostfile; [ -e /proc/1/root ] || echo no-proc")
	if out != "stage\nstage\nno-proc\n" {
		t.Errorf("got %q", out)
	}
}
