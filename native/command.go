package native

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"mvdan.cc/sh/v3/expand"
	"mvdan.cc/sh/v3/interp"
	"mvdan.cc/sh/v3/syntax"
)

// The registry: every command a script may run, as a Go function acting
// on the stage. Commands are found as the shell would find them — in PATH
// inside the stage, so that a command of a package not in the root is
// "not found" (127) exactly as it would be — and then run from here by
// full path or base name. A command found in the stage that the registry
// lacks runs only if it is a shell script (interpreted the same way);
// anything else stops the script with an UnsupportedError.

// cmd is one invocation.
type cmd struct {
	s      *sys
	ctx    context.Context
	run    *shellRun
	args   []string // args[0] as invoked
	path   string   // where it was found in the stage
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	env    expand.Environ
	dir    string
}

// command is a registry entry.
type command struct {
	fn func(*cmd) error
	// shared: the command reads or changes state other commands share,
	// so it runs holding sys.mu. Such commands must not read their
	// standard input (a pipeline runs its commands at once).
	shared bool
}

var registry = map[string]command{}

// register adds fn under names: base names ("ln") or full paths
// ("/usr/lib/usrmerge/convert-usrmerge"), which take precedence.
func register(fn func(*cmd) error, names ...string) {
	for _, n := range names {
		if _, dup := registry[n]; dup {
			panic("native: command registered twice: " + n)
		}
		registry[n] = command{fn: fn}
	}
}

// registerShared is register for commands holding shared state.
func registerShared(fn func(*cmd) error, names ...string) {
	for _, n := range names {
		if _, dup := registry[n]; dup {
			panic("native: command registered twice: " + n)
		}
		registry[n] = command{fn: fn, shared: true}
	}
}

// internal are the interpreter's own helpers, not looked up in PATH.
var internal = map[string]command{}

// pythonName matches the interpreters (python3, python3.12).
var pythonName = regexp.MustCompile(`^python3(\.[0-9]+)?$`)

func (s *sys) exec(ctx context.Context, run *shellRun, args []string) error {
	err := s.exec1(ctx, run, args)
	var ue *UnsupportedError
	var se *stageError
	if (errors.As(err, &ue) || errors.As(err, &se)) && run.fatal == nil {
		run.fatal = err
	}
	return err
}

func (s *sys) exec1(ctx context.Context, run *shellRun, args []string) error {
	hc := interp.HandlerCtx(ctx)
	c := &cmd{s: s, ctx: ctx, run: run, args: args, stdin: hc.Stdin, stdout: hc.Stdout, stderr: hc.Stderr, env: hc.Env, dir: hc.Dir}
	if c.stdin == nil {
		c.stdin = strings.NewReader("")
	}
	name := args[0]
	if cm, ok := internal[name]; ok {
		return s.call(c, cm)
	}
	full, found := s.lookPath(hc.Env, name)
	if !found {
		fmt.Fprintf(c.stderr, "%s: not found\n", name)
		return interp.NewExitStatus(127)
	}
	c.path = full
	if cm, ok := registry[full]; ok {
		return s.call(c, cm)
	}
	if cm, ok := registry[path.Base(full)]; ok {
		return s.call(c, cm)
	}
	if pythonName.MatchString(path.Base(full)) {
		return s.call(c, command{fn: pythonCmd, shared: true})
	}
	data, err := s.readFile(full)
	if err == nil && isShellScript(data) {
		sub := &shellRun{pkg: run.pkg, name: full, args: args[1:], env: exportedEnv(hc.Env),
			stdin: c.stdin, stdout: c.stdout, stderr: c.stderr, umask: run.umask, debconf: run.debconf}
		err := s.runShell(ctx, sub, data)
		var se *ScriptError
		if errors.As(err, &se) {
			return interp.NewExitStatus(uint8(se.Status))
		}
		return err
	}
	return &UnsupportedError{Command: strings.Join(quoteArgs(args), " "), Reason: "no native implementation of " + full}
}

func (s *sys) call(c *cmd, cm command) error {
	if cm.shared {
		s.mu.Lock()
		defer s.mu.Unlock()
	}
	err := cm.fn(c)
	var se *stageError
	if errors.As(err, &se) && pathError(se.err) {
		// What a path names is the script's business (mktemp with no
		// /tmp): the command fails, as it would in the root.
		fmt.Fprintf(c.stderr, "%s: %v\n", c.name(), se.err)
		return status(1)
	}
	return err
}

// pathError: err is about what a path names (missing, existing, not a
// directory, …), not a failure of the staging root itself.
func pathError(err error) bool {
	for _, e := range []error{fs.ErrNotExist, fs.ErrExist, syscall.ENOTDIR, syscall.EISDIR, syscall.ENOTEMPTY} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

func init() {
	register(shCmd, "sh", "dash", "bash")
}

// shCmd is sh [-eux] FILE [ARG…] or sh [-eux] -c COMMAND [NAME [ARG…]],
// interpreted like any script (postgresql-common's postinst runs sh
// /usr/share/postgresql-common/supported-versions).
func shCmd(c *cmd) error {
	args := c.args[1:]
	var set []string
	command := false
	for len(args) > 0 && len(args[0]) > 1 && (args[0][0] == '-' || args[0][0] == '+') && args[0] != "--" {
		for _, f := range args[0][1:] {
			switch f {
			case 'e', 'u', 'x':
				if f != 'x' {
					set = append(set, string(args[0][0])+string(f))
				}
			case 'c':
				command = true
			default:
				return c.unsupported("%s -%c", c.name(), f)
			}
		}
		args = args[1:]
	}
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	if len(args) == 0 {
		return c.unsupported("%s reading commands from its standard input", c.name())
	}
	var src []byte
	name, params := args[0], args[1:]
	if command {
		src = []byte(args[0])
		name, params = c.name(), nil
		if len(args) > 1 {
			name, params = args[1], args[2:]
		}
	} else {
		data, err := c.s.readFile(c.abs(args[0]))
		if err != nil {
			fmt.Fprintf(c.stderr, "%s: 0: cannot open %s: %s\n", c.name(), args[0], errText(err))
			return status(2)
		}
		src = data
	}
	if len(set) > 0 {
		src = append([]byte("set "+strings.Join(set, " ")+"\n"), src...)
	}
	sub := &shellRun{pkg: c.run.pkg, name: name, args: params, env: exportedEnv(c.env),
		stdin: c.stdin, stdout: c.stdout, stderr: c.stderr, umask: c.run.umask, debconf: c.run.debconf}
	err := c.s.runShell(c.ctx, sub, src)
	var se *ScriptError
	if errors.As(err, &se) {
		return interp.NewExitStatus(uint8(se.Status))
	}
	return err
}

// isShellScript reports whether data starts with a #! line naming a
// Bourne shell.
func isShellScript(data []byte) bool {
	first, _, _ := bytes.Cut(data, []byte("\n"))
	if !bytes.HasPrefix(first, []byte("#!")) {
		return false
	}
	f := strings.Fields(string(first[2:]))
	if len(f) == 0 {
		return false
	}
	switch f[0] {
	case "/bin/sh", "/bin/dash", "/bin/bash", "/usr/bin/sh", "/usr/bin/dash", "/usr/bin/bash":
		return true
	}
	return false
}

// exportedEnv lists the exported variables of env as NAME=value.
func exportedEnv(env expand.Environ) []string {
	var out []string
	env.Each(func(name string, vr expand.Variable) bool {
		if vr.Exported && vr.Kind == expand.String {
			out = append(out, name+"="+vr.Str)
		}
		return true
	})
	sort.Strings(out)
	return out
}

func quoteArgs(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\n'\"$`\\") {
			out[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		} else {
			out[i] = a
		}
	}
	return out
}

// Helpers for commands.

func (c *cmd) name() string { return path.Base(c.args[0]) }

// status returns the exit status n.
func status(n int) error {
	if n == 0 {
		return nil
	}
	return interp.NewExitStatus(uint8(n))
}

// failf prints a message on standard error and returns status 1, as a
// command reports a failure of its own.
func (c *cmd) failf(format string, a ...any) error {
	fmt.Fprintf(c.stderr, "%s: %s\n", c.name(), fmt.Sprintf(format, a...))
	return status(1)
}

// unsupported stops the script: this use of the command is not
// implemented.
func (c *cmd) unsupported(format string, a ...any) error {
	return &UnsupportedError{Command: strings.Join(quoteArgs(c.args), " "), Reason: fmt.Sprintf(format, a...)}
}

// abs makes p absolute against the current directory.
func (c *cmd) abs(p string) string {
	if strings.HasPrefix(p, "/") {
		return path.Clean(p)
	}
	return path.Join(c.dir, p)
}

func (c *cmd) getenv(name string) string { return c.env.Get(name).String() }

// opts is the result of parsing a command line.
type opts struct {
	set      map[string][]string // option → its values ("" for flags), by canonical name
	operands []string
}

func (o *opts) has(name string) bool { _, ok := o.set[name]; return ok }

func (o *opts) get(name string) string {
	v := o.set[name]
	if len(v) == 0 {
		return ""
	}
	return v[len(v)-1]
}

// optSpec describes the options a command accepts: each entry is
// "a|long" (short and long names of one option; either may be missing)
// with a trailing "=" when it takes a value. The canonical name is the
// long one if there is one.
type optSpec []string

type optDef struct {
	canon string
	arg   bool
}

// parse parses GNU-style: -abc clusters, -oVALUE, -o VALUE, --long,
// --long=VALUE, --long VALUE, "--" ends options, options may follow
// operands unless posix. An option not in the spec is unsupported: what
// it does is unknown, so the command cannot be carried out faithfully.
func (c *cmd) parse(spec optSpec, posix bool) (*opts, error) {
	short := map[string]optDef{}
	long := map[string]optDef{}
	for _, s := range spec {
		arg := strings.HasSuffix(s, "=")
		s = strings.TrimSuffix(s, "=")
		sh, lg, _ := strings.Cut(s, "|")
		if len(sh) > 1 && lg == "" {
			sh, lg = "", sh
		}
		canon := lg
		if canon == "" {
			canon = sh
		}
		d := optDef{canon, arg}
		if sh != "" {
			short[sh] = d
		}
		if lg != "" {
			long[lg] = d
		}
	}
	o := &opts{set: map[string][]string{}}
	args := c.args[1:]
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			o.operands = append(o.operands, args[i+1:]...)
			return o, nil
		case strings.HasPrefix(a, "--"):
			name, val, hasVal := strings.Cut(a[2:], "=")
			d, ok := long[name]
			if !ok {
				return nil, c.unsupported("option --%s", name)
			}
			if d.arg && !hasVal {
				if i+1 >= len(args) {
					return nil, c.failf("option --%s needs a value", name)
				}
				i++
				val = args[i]
			}
			o.set[d.canon] = append(o.set[d.canon], val)
		case strings.HasPrefix(a, "-") && len(a) > 1:
			for j := 1; j < len(a); j++ {
				d, ok := short[a[j:j+1]]
				if !ok {
					return nil, c.unsupported("option -%c", a[j])
				}
				if d.arg {
					val := a[j+1:]
					if val == "" {
						if i+1 >= len(args) {
							return nil, c.failf("option -%c needs a value", a[j])
						}
						i++
						val = args[i]
					}
					o.set[d.canon] = append(o.set[d.canon], val)
					break
				}
				o.set[d.canon] = append(o.set[d.canon], "")
			}
		default:
			if posix {
				o.operands = append(o.operands, args[i:]...)
				return o, nil
			}
			o.operands = append(o.operands, a)
		}
	}
	return o, nil
}

func init() {
	internal["__native_lookpath"] = command{fn: lookpathCmd}
	internal["__native_umask"] = command{fn: umaskCmd}
	internal["__native_return"] = command{fn: returnCmd}
}

// returnCmd exits with the status given (see fixErrexit).
func returnCmd(c *cmd) error {
	n := 0
	if len(c.args) > 1 {
		n, _ = strconv.Atoi(c.args[1])
	}
	if n != 0 {
		n = 1
	}
	return status(n)
}

// umaskCmd is the shell's umask builtin.
func umaskCmd(c *cmd) error {
	args := c.args[1:]
	if len(args) == 0 {
		fmt.Fprintf(c.stdout, "%04o\n", c.run.umask)
		return nil
	}
	if len(args) != 1 || strings.HasPrefix(args[0], "-") {
		return c.unsupported("umask %v", args)
	}
	n, err := strconv.ParseInt(args[0], 8, 64)
	if err != nil || n > 0o777 {
		return c.unsupported("symbolic umask %s", args[0])
	}
	c.run.umask = n
	return nil
}

// lookpathCmd answers, from the stage, what the builtins that search
// PATH answer from the host (see guardBuiltin): type [-afptP] NAME...,
// command -v|-V NAME..., hash [-r] [-t] [NAME...] and pwd -P.
func lookpathCmd(c *cmd) error {
	if len(c.args) < 2 {
		return c.unsupported("lookpath usage")
	}
	mode, args := c.args[1], c.args[2:]
	switch mode {
	case "--pwd-P":
		real, _, _, err := c.s.resolve("/", c.dir, true)
		if err != nil {
			return c.failf("%v", err)
		}
		fmt.Fprintln(c.stdout, real)
		return nil
	case "--hash":
		show := false
		for len(args) > 0 && strings.HasPrefix(args[0], "-") {
			switch args[0] {
			case "-r":
			case "-t":
				show = true
			case "--":
			default:
				return c.unsupported("hash %s", args[0])
			}
			args = args[1:]
		}
		st := 0
		for _, a := range args {
			if full, ok := c.s.lookPath(c.env, a); !ok {
				fmt.Fprintf(c.stderr, "hash: %s: not found\n", a)
				st = 1
			} else if show {
				fmt.Fprintln(c.stdout, full)
			}
		}
		return status(st)
	case "--command-v", "--command-V":
		st := 0
		for _, a := range args {
			kind, full := c.kindOf(a, false)
			switch {
			case kind == "":
				st = 1
				if mode == "--command-V" {
					fmt.Fprintf(c.stderr, "command: %s: not found\n", a)
				}
			case mode == "--command-v" && kind == "file":
				fmt.Fprintln(c.stdout, full)
			case mode == "--command-v":
				fmt.Fprintln(c.stdout, a)
			default:
				fmt.Fprintln(c.stdout, describe(a, kind, full))
			}
		}
		return status(st)
	case "--type":
	default:
		return c.unsupported("lookpath %s", mode)
	}
	var all, noFuncs, pathOnly, forcePath, word bool
	for len(args) > 0 && strings.HasPrefix(args[0], "-") && len(args[0]) > 1 {
		if args[0] == "--" {
			args = args[1:]
			break
		}
		for _, f := range args[0][1:] {
			switch f {
			case 'a':
				all = true
			case 'f':
				noFuncs = true
			case 'p':
				pathOnly = true
			case 'P':
				forcePath = true
			case 't':
				word = true
			default:
				return c.failf("-%c: invalid option", f)
			}
		}
		args = args[1:]
	}
	st := 0
	for _, a := range args {
		var found []string // kinds, with the path for files
		var paths []string
		if !forcePath {
			if k, _ := c.kindOf(a, noFuncs); k != "" && k != "file" {
				found, paths = append(found, k), append(paths, "")
			}
		}
		if forcePath || all || len(found) == 0 {
			for _, full := range c.s.lookPathAll(c.env, a, !all) {
				found, paths = append(found, "file"), append(paths, full)
				if !all {
					break
				}
			}
		}
		if len(found) == 0 {
			st = 1
			if !word && !pathOnly && !forcePath {
				fmt.Fprintf(c.stderr, "type: %s: not found\n", a)
			}
			continue
		}
		if !all {
			found, paths = found[:1], paths[:1]
		}
		for i, k := range found {
			switch {
			case word:
				fmt.Fprintln(c.stdout, k)
			case pathOnly || forcePath:
				if k == "file" {
					fmt.Fprintln(c.stdout, paths[i])
				}
			default:
				fmt.Fprintln(c.stdout, describe(a, k, paths[i]))
			}
		}
	}
	return status(st)
}

// kindOf says what the shell would run for name: keyword, function,
// builtin or file (with its path), or "" for nothing.
func (c *cmd) kindOf(name string, noFuncs bool) (kind, full string) {
	switch {
	case syntax.IsKeyword(name):
		return "keyword", ""
	case !noFuncs && c.run.funcs[name]:
		return "function", ""
	case interp.IsBuiltin(name):
		return "builtin", ""
	}
	if full, ok := c.s.lookPath(c.env, name); ok {
		return "file", full
	}
	return "", ""
}

func describe(name, kind, full string) string {
	switch kind {
	case "keyword":
		return name + " is a shell keyword"
	case "function":
		return name + " is a function"
	case "builtin":
		return name + " is a shell builtin"
	}
	return name + " is " + full
}

func init() {
	internal["__native_psub"] = command{fn: psubCmd}
}

// psubCmd keeps its standard input as the content of a process
// substitution (see fixProcSubst) and prints the path it is read from.
func psubCmd(c *cmd) error {
	b := budgetOf(c.ctx)
	if b == nil {
		return c.unsupported("process substitution outside a script")
	}
	// What list printed is output of the script: it counts as such.
	data, err := io.ReadAll(io.LimitReader(c.stdin, b.lim.Output+1))
	if err != nil {
		return c.failf("%v", err)
	}
	if !b.addOutput(len(data)) {
		return errOutputLimit
	}
	fmt.Fprint(c.stdout, b.addPsub(data))
	return nil
}
