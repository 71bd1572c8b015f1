package native

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strings"

	awkinterp "github.com/benhoyt/goawk/interp"
	awkparser "github.com/benhoyt/goawk/parser"
	"mvdan.cc/sh/v3/expand"
)

// awk runs in GoAWK, a POSIX awk, sandboxed: no system() or pipes, no
// file writes, no file reads of its own. Input files are read through the
// stage and given to it as standard input, which is faithful unless the
// program tells files apart (FILENAME, FNR, nextfile) among several.

func init() {
	register(awkCmd, "awk", "mawk", "gawk", "original-awk")
}

var awkPerFile = regexp.MustCompile(`\b(FILENAME|FNR|nextfile)\b`)

func awkCmd(c *cmd) error {
	var vars []string
	var progText string
	haveProg := false
	args := c.args[1:]
	i := 0
	optArg := func(a string, short string) (string, error) {
		if v := strings.TrimPrefix(a, short); v != "" {
			return v, nil
		}
		if i+1 >= len(args) {
			return "", c.failf("option %s needs a value", short)
		}
		i++
		return args[i], nil
	}
	for ; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			i++
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			break
		}
		switch {
		case strings.HasPrefix(a, "-F"):
			v, err := optArg(a, "-F")
			if err != nil {
				return err
			}
			if v == "t" {
				v = "\t"
			}
			vars = append(vars, "FS", v)
		case strings.HasPrefix(a, "-v"):
			v, err := optArg(a, "-v")
			if err != nil {
				return err
			}
			name, val, ok := strings.Cut(v, "=")
			if !ok {
				return c.failf("improper assignment: -v %s", v)
			}
			vars = append(vars, name, unescapeAwk(val))
		case strings.HasPrefix(a, "-f"):
			v, err := optArg(a, "-f")
			if err != nil {
				return err
			}
			data, err := c.s.readFile(c.abs(v))
			if err != nil {
				return c.failf("couldn't open file %s: %s", v, errText(err))
			}
			progText += string(data) + "\n"
			haveProg = true
		default:
			return c.unsupported("option %s", a)
		}
	}
	if !haveProg {
		if i >= len(args) {
			return c.failf("no program given")
		}
		progText = args[i]
		i++
	}
	operands := args[i:]

	// Assignments among the operands apply before the input only when
	// they come before every file.
	var input bytes.Buffer
	var files []string
	for _, o := range operands {
		name, val, ok := strings.Cut(o, "=")
		if ok && awkIdent.MatchString(name) {
			if len(files) > 0 {
				return c.unsupported("an assignment operand after an input file")
			}
			vars = append(vars, name, unescapeAwk(val))
			continue
		}
		files = append(files, o)
	}
	if len(files) > 1 && awkPerFile.MatchString(progText) {
		return c.unsupported("a program telling several input files apart")
	}
	prog, err := awkparser.ParseProgram([]byte(progText), nil)
	if err != nil {
		return c.failf("%v", err)
	}
	stdin := c.stdin
	if len(files) > 0 {
		if err := c.eachInput(files, func(_ string, data []byte) error {
			input.Write(data)
			return nil
		}); err != nil {
			return err
		}
		stdin = &input
	}
	var env []string
	c.env.Each(func(name string, vr expand.Variable) bool {
		if vr.Exported && vr.IsSet() {
			env = append(env, name, vr.String())
		}
		return true
	})
	n, err := awkinterp.ExecProgram(prog, &awkinterp.Config{
		Stdin:        stdin,
		Output:       c.stdout,
		Error:        c.stderr,
		Argv0:        "awk",
		Vars:         vars,
		NoArgVars:    true,
		NoExec:       true,
		NoFileWrites: true,
		NoFileReads:  true,
		Environ:      env,
	})
	if err != nil {
		var ae *awkinterp.Error
		if errors.As(err, &ae) && strings.Contains(err.Error(), "due to No") {
			// A sandbox refusal (system(), a pipe, a file).
			return c.unsupported("%v", err)
		}
		fmt.Fprintf(c.stderr, "awk: %v\n", err)
		return status(2)
	}
	return status(n)
}

var awkIdent = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// unescapeAwk resolves the escapes of a command-line assignment.
func unescapeAwk(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	return strings.NewReplacer(`\\`, `\`, `\n`, "\n", `\t`, "\t", `\"`, `"`, `\/`, "/").Replace(s)
}
