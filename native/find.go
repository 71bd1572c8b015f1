package native

import (
	"archive/tar"
	"fmt"
	"path"
	"strconv"
	"strings"
)

// find, for the expressions scripts use: -type, -name, -path, -print,
// -maxdepth/-mindepth, -exec CMD {} \;, ! and -not, implicit -a. Starting
// points are walked in directory order (sorted, as the table lists them).

func init() {
	register(findCmd, "find")
}

type findExpr struct {
	op   string // type, name, path, print, exec, not, true
	arg  string
	args []string
	sub  *findExpr
}

func findCmd(c *cmd) error {
	args := c.args[1:]
	follow := false
	for len(args) > 0 && (args[0] == "-L" || args[0] == "-P" || args[0] == "-H") {
		follow = args[0] == "-L"
		args = args[1:]
	}
	var starts []string
	for len(args) > 0 && !strings.HasPrefix(args[0], "-") && args[0] != "!" && args[0] != "(" {
		starts = append(starts, args[0])
		args = args[1:]
	}
	if len(starts) == 0 {
		starts = []string{"."}
	}
	minDepth, maxDepth := 0, -1
	var exprs []*findExpr
	printed := false
	for i := 0; i < len(args); i++ {
		a := args[i]
		next := func() (string, error) {
			if i+1 >= len(args) {
				return "", c.failf("missing argument to '%s'", a)
			}
			i++
			return args[i], nil
		}
		var e *findExpr
		switch a {
		case "!", "-not":
			e = &findExpr{op: "not"}
		case "-a", "-and":
			continue
		case "-type", "-name", "-path", "-iname":
			v, err := next()
			if err != nil {
				return err
			}
			e = &findExpr{op: strings.TrimPrefix(a, "-"), arg: v}
		case "-maxdepth", "-mindepth":
			v, err := next()
			if err != nil {
				return err
			}
			n, err := strconv.Atoi(v)
			if err != nil {
				return c.failf("invalid depth %q", v)
			}
			if a == "-maxdepth" {
				maxDepth = n
			} else {
				minDepth = n
			}
			continue
		case "-print":
			e = &findExpr{op: "print"}
			printed = true
		case "-exec":
			var cmdArgs []string
			for i+1 < len(args) && args[i+1] != ";" {
				i++
				cmdArgs = append(cmdArgs, args[i])
			}
			if i+1 >= len(args) {
				return c.failf("missing argument to '-exec'")
			}
			i++
			e = &findExpr{op: "exec", args: cmdArgs}
			printed = true
		default:
			return c.unsupported("find expression %s", a)
		}
		exprs = append(exprs, e)
	}
	// Fold "!" into the expression after it.
	var chain []*findExpr
	for i := 0; i < len(exprs); i++ {
		if exprs[i].op == "not" {
			if i+1 >= len(exprs) {
				return c.failf("expected an expression after '!'")
			}
			chain = append(chain, &findExpr{op: "not", sub: exprs[i+1]})
			i++
			continue
		}
		chain = append(chain, exprs[i])
	}
	if !printed {
		chain = append(chain, &findExpr{op: "print"})
	}
	st := 0
	var walk func(p string, depth int) error
	walk = func(p string, depth int) error {
		_, e, ok, err := c.s.resolve(c.dir, p, follow)
		if err != nil || !ok {
			fmt.Fprintf(c.stderr, "find: '%s': No such file or directory\n", p)
			st = 1
			return nil
		}
		if depth >= minDepth {
			if _, err := c.findEval(chain, p, e.Type); err != nil {
				return err
			}
		}
		if e.Type == tar.TypeDir && (maxDepth < 0 || depth < maxDepth) {
			real, _, _, _ := c.s.resolve(c.dir, p, follow)
			kids, err := c.s.list(real)
			if err != nil {
				return nil
			}
			for _, k := range kids {
				if err := walk(strings.TrimSuffix(p, "/")+"/"+path.Base(k.Path), depth+1); err != nil {
					return err
				}
			}
		}
		return nil
	}
	for _, s := range starts {
		if err := walk(s, 0); err != nil {
			return err
		}
	}
	return status(st)
}

// findEval evaluates an AND chain for path p of type typ.
func (c *cmd) findEval(chain []*findExpr, p string, typ byte) (bool, error) {
	for _, e := range chain {
		ok, err := c.findTest(e, p, typ)
		if err != nil || !ok {
			return false, err
		}
	}
	return true, nil
}

func (c *cmd) findTest(e *findExpr, p string, typ byte) (bool, error) {
	switch e.op {
	case "not":
		ok, err := c.findTest(e.sub, p, typ)
		return !ok, err
	case "type":
		want := map[string]byte{"f": tar.TypeReg, "d": tar.TypeDir, "l": tar.TypeSymlink, "p": tar.TypeFifo, "c": tar.TypeChar, "b": tar.TypeBlock}[e.arg]
		if want == 0 {
			return false, c.unsupported("-type %s", e.arg)
		}
		if want == tar.TypeReg && typ == tar.TypeLink {
			return true, nil
		}
		return typ == want, nil
	case "name", "iname":
		base := path.Base(p)
		pat := e.arg
		if e.op == "iname" {
			base, pat = strings.ToLower(base), strings.ToLower(pat)
		}
		m, _ := path.Match(pat, base)
		return m, nil
	case "path":
		m, _ := path.Match(e.arg, p)
		return m, nil
	case "print":
		fmt.Fprintln(c.stdout, p)
		return true, nil
	case "exec":
		args := make([]string, len(e.args))
		for i, a := range e.args {
			args[i] = strings.ReplaceAll(a, "{}", p)
		}
		if len(args) == 0 {
			return false, c.failf("empty -exec")
		}
		if args[0] == "test" || args[0] == "[" {
			// The shell's test, on the stage.
			return c.findTestBuiltin(args[1:])
		}
		return false, c.unsupported("-exec %s", args[0])
	}
	return false, c.unsupported("find %s", e.op)
}

// findTestBuiltin evaluates test -e/-f/-d/-L FILE for -exec test.
func (c *cmd) findTestBuiltin(args []string) (bool, error) {
	if len(args) != 2 {
		return false, c.unsupported("-exec test %v", args)
	}
	follow := args[0] != "-L" && args[0] != "-h"
	_, e, ok, err := c.s.resolve(c.dir, args[1], follow)
	exists := err == nil && ok
	switch args[0] {
	case "-e":
		return exists, nil
	case "-f":
		return exists && (e.Type == tar.TypeReg || e.Type == tar.TypeLink), nil
	case "-d":
		return exists && e.Type == tar.TypeDir, nil
	case "-L", "-h":
		return exists && e.Type == tar.TypeSymlink, nil
	}
	return false, c.unsupported("-exec test %s", args[0])
}
