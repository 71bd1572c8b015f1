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
	// funcs are the functions the script defines (see declaredFuncs).
	funcs map[string]bool
	// srcPrefix marks the paths guardBuiltin gives to source.
	srcPrefix string
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
// an *UnsupportedError; going over one of the Limits a *LimitError. The
// scripts a script runs share its limits.
func (s *sys) runShell(ctx context.Context, run *shellRun, src []byte) error {
	if budgetOf(ctx) != nil {
		return s.runShell1(ctx, run, src)
	}
	bctx, b, done := newBudget(ctx, s.opts.Limits)
	defer done()
	prev := s.bud
	s.bud = b
	defer func() { s.bud = prev }()
	run.stdout = limitWriter{run.stdout, b}
	run.stderr = limitWriter{run.stderr, b}
	err := s.runShell1(bctx, run, src)
	b.settle(bctx)
	if le := limitErr(bctx); le != nil {
		return le
	}
	return err
}

// shellInterpreters are the #! programs whose scripts native interprets.
var shellInterpreters = map[string]bool{"sh": true, "bash": true, "dash": true}

func (s *sys) runShell1(ctx context.Context, run *shellRun, src []byte) error {
	if err := checkNesting(src); err != nil {
		return &UnsupportedError{Command: run.name, Reason: err.Error()}
	}
	if first, _, _ := bytes.Cut(src, []byte("\n")); bytes.HasPrefix(first, []byte("#!")) {
		f := strings.Fields(string(first[2:]))
		if len(f) > 1 && path.Base(f[0]) == "env" {
			f = f[1:]
		}
		if len(f) > 0 && !shellInterpreters[path.Base(f[0])] {
			// A Perl or Python program: say so, not "shell syntax".
			return &UnsupportedError{Command: run.name, Reason: "a " + path.Base(f[0]) + " program (" + string(first) + "), not a shell script"}
		}
	}
	prog, err := syntax.NewParser(syntax.Variant(syntax.LangBash)).Parse(bytes.NewReader(src), run.name)
	if err != nil {
		return &UnsupportedError{Command: run.name, Reason: fmt.Sprintf("shell syntax: %v", err)}
	}
	if err := rewrite(prog); err != nil {
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
	run.funcs = declaredFuncs(prog)
	secret, err := secretDir()
	if err != nil {
		return err
	}
	run.srcPrefix = secret + "/source"

	stdin := run.stdin
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	// Every handler is ours: the interpreter's defaults would run host
	// programs and open, stat and list host paths.
	r, err := interp.New(
		interp.Env(&sandboxEnv{Environ: expand.ListEnviron(append(append(s.baseEnv(), pidEnv...), run.env...)...), tmpdir: secret}),
		interp.Dir("/"),
		interp.Params(params...),
		interp.StdIO(stdin, run.stdout, run.stderr),
		interp.OpenHandler(func(ctx context.Context, name string, flag int, perm os.FileMode) (io.ReadWriteCloser, error) {
			if p, ok := strings.CutPrefix(name, run.srcPrefix); ok {
				// A file source reads (see guardBuiltin).
				f, err := s.openHandler(ctx, p, flag, perm)
				if err != nil {
					return nil, err
				}
				data, err := io.ReadAll(f)
				f.Close()
				if err != nil {
					return nil, err
				}
				if err := checkNesting(data); err != nil {
					return nil, &UnsupportedError{Command: "source " + p, Reason: err.Error()}
				}
				return readOnly{bytes.NewReader(data)}, nil
			}
			return s.openHandler(ctx, name, flag, perm&^os.FileMode(run.umask))
		}),
		interp.StatHandler(s.statHandler),
		interp.AccessHandler(s.accessHandler),
		interp.ReadDirHandler2(s.readDirHandler),
		interp.CallHandler(s.callHandler(run)),
		interp.ExecHandlers(func(interp.ExecHandlerFunc) interp.ExecHandlerFunc {
			return func(ctx context.Context, args []string) error { return s.exec(ctx, run, args) }
		}),
	)
	if err != nil {
		return fmt.Errorf("shell: %w", err)
	}
	err = r.Run(ctx, prog)
	// Background jobs finish before the script counts as done, so that
	// none of its effects comes after its package's result.
	waited := make(chan struct{})
	go func() {
		defer close(waited)
		r.Run(ctx, waitStmt)
	}()
	select {
	case <-waited:
	case <-ctx.Done():
	}
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

var waitStmt = &syntax.Stmt{Cmd: &syntax.CallExpr{Args: []*syntax.Word{{Parts: []syntax.WordPart{&syntax.Lit{Value: "wait"}}}}}}

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

// callHandler checks the depth limit before every command, and keeps
// the interpreter's builtins that would look at the host (type, command
// -v, hash, pwd -P and source search PATH or resolve paths on the host's
// file system) from doing so: they are answered from the stage.
func (s *sys) callHandler(run *shellRun) interp.CallHandlerFunc {
	return func(ctx context.Context, args []string) ([]string, error) {
		if b := budgetOf(ctx); b != nil {
			if err := b.checkDepth(); err != nil {
				return nil, err
			}
		}
		if len(args) == 0 || run.funcs[args[0]] {
			return args, nil
		}
		if args[0] == "eval" {
			return evalRewritten(args)
		}
		return s.guardBuiltin(ctx, run, args), nil
	}
}

// evalRewritten gives eval's text the corrections the script's own text
// had (rewrite: $$ and $PPID, process substitution, …), so that eval
// reaches no more of the host than the script. Text that does not parse
// is left to the interpreter, which reports the syntax error.
func evalRewritten(args []string) ([]string, error) {
	text := strings.Join(args[1:], " ")
	if err := checkNesting([]byte(text)); err != nil {
		return nil, &UnsupportedError{Command: "eval", Reason: err.Error()}
	}
	f, err := syntax.NewParser(syntax.Variant(syntax.LangBash)).Parse(strings.NewReader(text), "eval")
	if err != nil {
		return args, nil
	}
	if err := rewrite(f); err != nil {
		return nil, &UnsupportedError{Command: "eval", Reason: err.Error()}
	}
	var b strings.Builder
	if err := syntax.NewPrinter().Print(&b, f); err != nil {
		return nil, &UnsupportedError{Command: "eval", Reason: err.Error()}
	}
	return []string{"eval", b.String()}, nil
}

// guardBuiltin rewrites a call of a builtin (functions aside) that would
// look at the host.
func (s *sys) guardBuiltin(ctx context.Context, run *shellRun, args []string) []string {
	switch args[0] {
	case "trap":
		// The interpreter knows EXIT but not its number, 0.
		for i := 2; i < len(args); i++ {
			if args[i] == "0" {
				args[i] = "EXIT"
			}
		}
	case "printf":
		// dash and bash end printf's options at "--"; the interpreter
		// would print it as the format.
		if len(args) > 1 && args[1] == "--" {
			return append([]string{"printf"}, args[2:]...)
		}
	case "umask":
		// The interpreter lacks umask: the run keeps it.
		return append([]string{"__native_umask"}, args[1:]...)
	case "builtin":
		if len(args) > 1 {
			if out := s.guardBuiltin(ctx, run, args[1:]); out[0] != args[1] {
				return out
			} else {
				return append([]string{"builtin"}, out...)
			}
		}
	case "command":
		i, show := 1, ""
	flags:
		for ; i < len(args) && strings.HasPrefix(args[i], "-") && len(args[i]) > 1; i++ {
			if args[i] == "--" {
				i++
				break
			}
			for _, c := range args[i][1:] {
				switch c {
				case 'v', 'V':
					show = "-" + string(c)
				case 'p':
					// The default PATH is the stage's anyway.
				default:
					break flags
				}
			}
		}
		if i < len(args) && strings.HasPrefix(args[i], "-") {
			return args // an unknown option: the interpreter rejects it
		}
		if i >= len(args) {
			return []string{"command"}
		}
		if show != "" {
			return append([]string{"__native_lookpath", "--command" + show}, args[i:]...)
		}
		// command NAME ARGS: a builtin runs without the shell looking
		// again, so guard it here.
		if out := s.guardBuiltin(ctx, run, args[i:]); out[0] != args[i] {
			return out
		} else {
			return append([]string{"command"}, out...)
		}
	case "type":
		return append([]string{"__native_lookpath", "--type"}, args[1:]...)
	case "hash":
		return append([]string{"__native_lookpath", "--hash"}, args[1:]...)
	case "pwd":
		for _, a := range args[1:] {
			if a == "-P" {
				return []string{"__native_lookpath", "--pwd-P"}
			}
		}
	case "source", ".":
		if len(args) < 2 {
			return args
		}
		// The interpreter searches the host's PATH and stats host
		// paths: hand it a path found in the stage under a prefix it
		// cannot find on the host, which the open handler takes off.
		name, dir := args[1], "/"
		if hc := interp.HandlerCtx(ctx); hc.Dir != "" {
			dir = hc.Dir
		}
		full := path.Join(dir, name)
		if strings.HasPrefix(name, "/") {
			full = path.Clean(name)
		} else if !strings.Contains(name, "/") {
			if p, ok := s.lookSource(interp.HandlerCtx(ctx).Env, name); ok {
				full = p
			}
		}
		out := append([]string{args[0], run.srcPrefix + full}, args[2:]...)
		return out
	}
	return args
}

// lookSource finds a file to source in PATH inside the stage, as the
// shell does for a name without a slash: any regular file will do.
func (s *sys) lookSource(env expand.Environ, name string) (string, bool) {
	p := defaultPath
	if env != nil {
		if v := env.Get("PATH"); v.IsSet() {
			p = v.String()
		}
	}
	for _, dir := range strings.Split(p, ":") {
		if !strings.HasPrefix(dir, "/") {
			continue
		}
		full := path.Join(dir, name)
		if e, ok := s.lookup(full); ok && e.Type != tar.TypeDir {
			return full, true
		}
	}
	return "", false
}

// lookPath finds name in PATH inside the stage: the first regular file
// with an x bit.
func (s *sys) lookPath(env expand.Environ, name string) (string, bool) {
	if strings.Contains(name, "/") {
		e, ok := s.lookup(name)
		return name, ok && e.Mode&0o111 != 0 && e.Type != tar.TypeDir
	}
	all := s.lookPathAll(env, name, true)
	if len(all) == 0 {
		return "", false
	}
	return all[0], true
}

// lookPathAll lists every match of name in PATH inside the stage (only
// the first if first).
func (s *sys) lookPathAll(env expand.Environ, name string, first bool) []string {
	if strings.Contains(name, "/") {
		if full, ok := s.lookPath(env, name); ok {
			return []string{full}
		}
		return nil
	}
	p := defaultPath
	if env != nil {
		if v := env.Get("PATH"); v.IsSet() {
			p = v.String()
		}
	}
	var out []string
	for _, dir := range strings.Split(p, ":") {
		if dir == "" || !strings.HasPrefix(dir, "/") {
			continue
		}
		full := path.Join(dir, name)
		if e, ok := s.lookup(full); ok && e.Type != tar.TypeDir && e.Mode&0o111 != 0 {
			out = append(out, full)
			if first {
				break
			}
		}
	}
	return out
}
