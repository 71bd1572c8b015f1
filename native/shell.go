package native

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"mvdan.cc/sh/v3/expand"
	"mvdan.cc/sh/v3/interp"
	"mvdan.cc/sh/v3/syntax"
)

// defaultPath is the PATH dpkg gives maintainer scripts.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// shellRun is one script being interpreted.
type shellRun struct {
	pkg    *pkgState // nil for scripts not of a package
	name   string    // $0
	args   []string
	env    []string // on top of the base environment
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	umask  int64 // the shell's, for redirections and the commands
	// debconf is the confmodule session of the script, once it sourced
	// confmodule; scripts it runs share it.
	debconf *dcSession
	// fatal is the first unsupported command or stage failure, kept
	// here because the interpreter turns an error inside $(...) into a
	// plain failure status.
	fatal error
}

// UnsupportedError is a command native mode cannot carry out: the script
// stops there and its package is left unconfigured.
type UnsupportedError struct {
	Command string
	Reason  string
}

func (e *UnsupportedError) Error() string {
	if e.Reason == "" {
		return fmt.Sprintf("%s: not supported by native mode", e.Command)
	}
	return fmt.Sprintf("%s: not supported by native mode: %s", e.Command, e.Reason)
}

// ScriptError is a script that exited with a failure status.
type ScriptError struct {
	Status int
	Output string // the script's last lines of output
}

func (e *ScriptError) Error() string {
	if e.Output == "" {
		return fmt.Sprintf("exit status %d", e.Status)
	}
	return fmt.Sprintf("exit status %d: %s", e.Status, e.Output)
}

// baseEnv is the environment of every script: what dpkg and mmdebstrap
// set, nothing of the host's.
func (s *sys) baseEnv() []string {
	return []string{
		"PATH=" + defaultPath,
		"HOME=/root",
		"LC_ALL=C.UTF-8",
		"LANG=C.UTF-8",
		"LANGUAGE=C.UTF-8",
		"DEBIAN_FRONTEND=noninteractive",
		"DEBCONF_NONINTERACTIVE_SEEN=true",
		"DPKG_ADMINDIR=/var/lib/dpkg",
		"DPKG_ROOT=",
		"DPKG_FRONTEND_LOCKED=true",
		"DPKG_RUNNING_VERSION=" + s.dpkgVersion(),
		"PWD=/",
		"SHELL=/bin/sh",
		"USER=root",
		"LOGNAME=root",
	}
}

// runMaintScript runs a maintainer script of p as dpkg does, with the
// environment dpkg gives it.
func (s *sys) runMaintScript(ctx context.Context, p *pkgState, script string, args ...string) error {
	src, ok := p.script(script)
	if !ok {
		return nil
	}
	var out bytes.Buffer
	name := "/var/lib/dpkg/info/" + p.id() + "." + script
	if script == "preinst" {
		// dpkg runs it from the unpacked control archive.
		name = "/var/lib/dpkg/tmp.ci/preinst"
	}
	run := &shellRun{
		pkg:  p,
		name: name,
		args: args,
		env: []string{
			"DPKG_MAINTSCRIPT_PACKAGE=" + p.name,
			"DPKG_MAINTSCRIPT_PACKAGE_REFCOUNT=1",
			"DPKG_MAINTSCRIPT_ARCH=" + p.arch,
			"DPKG_MAINTSCRIPT_NAME=" + script,
		},
		stdout: &out,
		stderr: &out,
		umask:  0o022, // dpkg's
	}
	prev, prevScript := s.current, s.currentScript
	s.current, s.currentScript = p, script
	defer func() { s.current, s.currentScript = prev, prevScript }()
	err := s.runShell(ctx, run, src)
	if run.debconf != nil {
		s.mu.Lock()
		s.finishSession(run.debconf)
		s.mu.Unlock()
	}
	s.log.Debug("script", "package", p.name, "script", script, "args", args, "err", err, "output", out.String())
	var se *ScriptError
	if errors.As(err, &se) {
		se.Output = lastLines(out.String(), 3)
	}
	return err
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// runShell interprets src. The exit status of the script is its result:
// 0 is nil, anything else a *ScriptError; a command the registry lacks is
// an *UnsupportedError.
func (s *sys) runShell(ctx context.Context, run *shellRun, src []byte) error {
	prog, err := syntax.NewParser(syntax.Variant(syntax.LangBash)).Parse(bytes.NewReader(src), run.name)
	if err != nil {
		return &UnsupportedError{Command: run.name, Reason: fmt.Sprintf("shell syntax: %v", err)}
	}
	if err := makeLazy(prog); err != nil {
		return &UnsupportedError{Command: run.name, Reason: err.Error()}
	}
	if err := fixRead(prog); err != nil {
		return &UnsupportedError{Command: run.name, Reason: err.Error()}
	}
	if err := fixErrexit(prog); err != nil {
		return &UnsupportedError{Command: run.name, Reason: err.Error()}
	}
	params := []string{}
	// "#!/bin/sh -e": the interpreter's options apply.
	if first, _, _ := bytes.Cut(src, []byte("\n")); bytes.HasPrefix(first, []byte("#!")) {
		for _, f := range strings.Fields(string(first[2:]))[1:] {
			if len(f) > 1 && f[0] == '-' && strings.Trim(f[1:], "eux") == "" {
				for _, c := range f[1:] {
					if c != 'x' {
						params = append(params, "-"+string(c))
					}
				}
			}
		}
	}
	params = append(params, "--")
	params = append(params, run.args...)
	funcs := declaredFuncs(prog)

	stdin := run.stdin
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	r, err := interp.New(
		interp.Env(expand.ListEnviron(append(s.baseEnv(), run.env...)...)),
		interp.Dir("/"),
		interp.Params(params...),
		interp.StdIO(stdin, run.stdout, run.stderr),
		interp.OpenHandler(func(ctx context.Context, name string, flag int, perm os.FileMode) (io.ReadWriteCloser, error) {
			return s.openHandler(ctx, name, flag, perm&^os.FileMode(run.umask))
		}),
		interp.StatHandler(s.statHandler),
		interp.AccessHandler(s.accessHandler),
		interp.ReadDirHandler2(s.readDirHandler),
		interp.CallHandler(s.callHandler(funcs, run)),
		interp.ExecHandlers(func(interp.ExecHandlerFunc) interp.ExecHandlerFunc {
			return func(ctx context.Context, args []string) error { return s.exec(ctx, run, args) }
		}),
	)
	if err != nil {
		return fmt.Errorf("shell: %w", err)
	}
	err = r.Run(ctx, prog)
	if run.fatal != nil {
		return run.fatal
	}
	if status, ok := interp.IsExitStatus(err); ok {
		if status == 0 {
			return nil
		}
		return &ScriptError{Status: int(status)}
	}
	return err
}

// declaredFuncs are the names of the functions a script defines anywhere.
func declaredFuncs(f *syntax.File) map[string]bool {
	out := map[string]bool{}
	syntax.Walk(f, func(n syntax.Node) bool {
		if fd, ok := n.(*syntax.FuncDecl); ok {
			out[fd.Name.Value] = true
		}
		return true
	})
	return out
}

// callHandler keeps the interpreter's builtins that look commands up in
// PATH (command -v, type) from looking at the host: they are answered
// from the stage.
func (s *sys) callHandler(funcs map[string]bool, run *shellRun) interp.CallHandlerFunc {
	return func(ctx context.Context, args []string) ([]string, error) {
		switch args[0] {
		case "trap":
			// The interpreter knows EXIT but not its number, 0.
			for i := 2; i < len(args); i++ {
				if args[i] == "0" {
					args[i] = "EXIT"
				}
			}
			return args, nil
		case "umask":
			// The interpreter lacks umask: the run keeps it.
			if funcs["umask"] {
				return args, nil
			}
			return append([]string{"__native_umask"}, args[1:]...), nil
		case "command":
			if len(args) >= 3 && (args[1] == "-v" || args[1] == "-V") {
				name := args[2]
				if funcs[name] || interp.IsBuiltin(name) {
					return args, nil
				}
				return append([]string{"__native_lookpath"}, args[2:]...), nil
			}
		case "type":
			if len(args) == 2 && !funcs[args[1]] && !interp.IsBuiltin(args[1]) {
				return []string{"__native_lookpath", "--type", args[1]}, nil
			}
		}
		return args, nil
	}
}

// lookPath finds name in PATH inside the stage: the first regular file
// with an x bit.
func (s *sys) lookPath(env expand.Environ, name string) (string, bool) {
	if strings.Contains(name, "/") {
		e, ok := s.lookup(name)
		return name, ok && e.Mode&0o111 != 0 && e.Type != tar.TypeDir
	}
	p := defaultPath
	if env != nil {
		if v := env.Get("PATH"); v.IsSet() {
			p = v.String()
		}
	}
	for _, dir := range strings.Split(p, ":") {
		if dir == "" || !strings.HasPrefix(dir, "/") {
			continue
		}
		full := path.Join(dir, name)
		if e, ok := s.lookup(full); ok && e.Type != tar.TypeDir && e.Mode&0o111 != 0 {
			return full, true
		}
	}
	return "", false
}
