package native

import (
	"archive/tar"
	"fmt"
	"path"
	"strconv"
	"strings"
)

// find, for the expressions scripts use: -type, -name, -iname, -path,
// -print, -printf, -maxdepth/-mindepth, -exec CMD {} \;, with !/-not,
// ( ), -o/-or and -a/-and (or implicit). Starting points are walked in
// directory order (sorted, as the table lists them).

func init() {
	register(findCmd, "find")
}

type findExpr struct {
	op   string // type, name, iname, path, print, printf, exec, not, and, or, true
	arg  string
	args []string
	sub  *findExpr // not; and, or: the left operand
	rhs  *findExpr // and, or: the right operand
}

// findParser reads a find expression (GNU find's grammar: -o binds
// weaker than -a, which may be left out; ! binds tightest).
type findParser struct {
	c      *cmd
	args   []string
	i      int
	action bool // -print, -printf or -exec seen: no implicit -print
	minD   int
	maxD   int
}

func (fp *findParser) peek() string {
	if fp.i < len(fp.args) {
		return fp.args[fp.i]
	}
	return ""
}

func (fp *findParser) or() (*findExpr, error) {
	l, err := fp.and()
	if err != nil {
		return nil, err
	}
	for fp.peek() == "-o" || fp.peek() == "-or" {
		fp.i++
		r, err := fp.and()
		if err != nil {
			return nil, err
		}
		l = &findExpr{op: "or", sub: l, rhs: r}
	}
	return l, nil
}

func (fp *findParser) and() (*findExpr, error) {
	l, err := fp.unary()
	if err != nil {
		return nil, err
	}
	for {
		switch fp.peek() {
		case "", "-o", "-or", ")":
			return l, nil
		case "-a", "-and":
			fp.i++
		}
		r, err := fp.unary()
		if err != nil {
			return nil, err
		}
		l = &findExpr{op: "and", sub: l, rhs: r}
	}
}

func (fp *findParser) unary() (*findExpr, error) {
	c := fp.c
	a := fp.peek()
	if a == "" {
		return nil, c.failf("expected an expression")
	}
	fp.i++
	next := func() (string, error) {
		if fp.i >= len(fp.args) {
			return "", c.failf("missing argument to '%s'", a)
		}
		fp.i++
		return fp.args[fp.i-1], nil
	}
	switch a {
	case "!", "-not":
		x, err := fp.unary()
		if err != nil {
			return nil, err
		}
		return &findExpr{op: "not", sub: x}, nil
	case "(":
		x, err := fp.or()
		if err != nil {
			return nil, err
		}
		if fp.peek() != ")" {
			return nil, c.failf("expected ')'")
		}
		fp.i++
		return x, nil
	case "-type", "-name", "-path", "-iname":
		v, err := next()
		if err != nil {
			return nil, err
		}
		return &findExpr{op: strings.TrimPrefix(a, "-"), arg: v}, nil
	case "-maxdepth", "-mindepth":
		v, err := next()
		if err != nil {
			return nil, err
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			return nil, c.failf("invalid depth %q", v)
		}
		if a == "-maxdepth" {
			fp.maxD = n
		} else {
			fp.minD = n
		}
		return &findExpr{op: "true"}, nil
	case "-print":
		fp.action = true
		return &findExpr{op: "print"}, nil
	case "-printf":
		v, err := next()
		if err != nil {
			return nil, err
		}
		fp.action = true
		return &findExpr{op: "printf", arg: v}, nil
	case "-exec":
		var cmdArgs []string
		for fp.i < len(fp.args) && fp.args[fp.i] != ";" {
			cmdArgs = append(cmdArgs, fp.args[fp.i])
			fp.i++
		}
		if fp.i >= len(fp.args) {
			return nil, c.failf("missing argument to '-exec'")
		}
		fp.i++
		fp.action = true
		return &findExpr{op: "exec", args: cmdArgs}, nil
	}
	return nil, c.unsupported("find expression %s", a)
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
	fp := &findParser{c: c, args: args, maxD: -1}
	expr := &findExpr{op: "true"}
	if len(args) > 0 {
		var err error
		if expr, err = fp.or(); err != nil {
			return err
		}
		if fp.i < len(args) {
			return c.failf("unexpected '%s'", args[fp.i])
		}
	}
	if !fp.action {
		expr = &findExpr{op: "and", sub: expr, rhs: &findExpr{op: "print"}}
	}
	minDepth, maxDepth := fp.minD, fp.maxD
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
			if _, err := c.findTest(expr, p, e.Type); err != nil {
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

func (c *cmd) findTest(e *findExpr, p string, typ byte) (bool, error) {
	switch e.op {
	case "true":
		return true, nil
	case "not":
		ok, err := c.findTest(e.sub, p, typ)
		return !ok, err
	case "and", "or":
		ok, err := c.findTest(e.sub, p, typ)
		if err != nil || ok == (e.op == "or") {
			return ok, err
		}
		return c.findTest(e.rhs, p, typ)
	case "printf":
		out, err := c.findPrintf(e.arg, p)
		if err != nil {
			return false, err
		}
		fmt.Fprint(c.stdout, out)
		return true, nil
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

// findPrintf formats -printf's directives for p: %p %f %h %%, and the
// escapes \n \t \\.
func (c *cmd) findPrintf(format, p string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(format); i++ {
		ch := format[i]
		if (ch != '%' && ch != '\\') || i+1 >= len(format) {
			b.WriteByte(ch)
			continue
		}
		i++
		switch d := format[i]; {
		case ch == '\\' && d == 'n':
			b.WriteByte('\n')
		case ch == '\\' && d == 't':
			b.WriteByte('\t')
		case ch == '\\' && d == '\\':
			b.WriteByte('\\')
		case ch == '%' && d == '%':
			b.WriteByte('%')
		case ch == '%' && d == 'p':
			b.WriteString(p)
		case ch == '%' && d == 'f':
			b.WriteString(path.Base(p))
		case ch == '%' && d == 'h':
			b.WriteString(path.Dir(p))
		default:
			return "", c.unsupported("-printf %c%c", ch, d)
		}
	}
	return b.String(), nil
}
