package native

import (
	"fmt"
	"math/big"
	"strings"
	"unicode/utf8"
)

// expr as GNU coreutils has it: integers of any size, string
// comparisons where an operand is not a number, ":" matching a BRE
// anchored at the start.

func init() {
	register(exprCmd, "expr")
}

type exprParser struct {
	args []string
	pos  int
}

// exprErr is a syntax or evaluation error: exit status 2.
type exprErr struct{ msg string }

func (e *exprErr) Error() string { return e.msg }

func exprCmd(c *cmd) error {
	args := c.args[1:]
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	p := &exprParser{args: args}
	if len(args) == 0 {
		fmt.Fprintln(c.stderr, "expr: missing operand")
		return status(2)
	}
	v, err := p.or()
	if err == nil && p.pos < len(p.args) {
		err = &exprErr{"syntax error: unexpected argument '" + p.args[p.pos] + "'"}
	}
	if err != nil {
		fmt.Fprintf(c.stderr, "expr: %s\n", err)
		return status(2)
	}
	fmt.Fprintln(c.stdout, v)
	if exprNull(v) {
		return status(1)
	}
	return nil
}

func exprNull(v string) bool {
	if v == "" {
		return true
	}
	n, ok := exprInt(v)
	return ok && n.Sign() == 0
}

func exprInt(v string) (*big.Int, bool) {
	s := v
	if strings.HasPrefix(s, "-") {
		s = s[1:]
	}
	if s == "" || strings.Trim(s, "0123456789") != "" {
		return nil, false
	}
	n, ok := new(big.Int).SetString(v, 10)
	return n, ok
}

func (p *exprParser) peek() (string, bool) {
	if p.pos < len(p.args) {
		return p.args[p.pos], true
	}
	return "", false
}

func (p *exprParser) binary(ops []string, next func() (string, error), apply func(op, a, b string) (string, error)) (string, error) {
	a, err := next()
	if err != nil {
		return "", err
	}
	for {
		op, ok := p.peek()
		if !ok || !contains(ops, op) {
			return a, nil
		}
		p.pos++
		b, err := next()
		if err != nil {
			return "", err
		}
		if a, err = apply(op, a, b); err != nil {
			return "", err
		}
	}
}

func (p *exprParser) or() (string, error) {
	return p.binary([]string{"|"}, p.and, func(_, a, b string) (string, error) {
		if !exprNull(a) {
			return a, nil
		}
		if !exprNull(b) {
			return b, nil
		}
		return "0", nil
	})
}

func (p *exprParser) and() (string, error) {
	return p.binary([]string{"&"}, p.compare, func(_, a, b string) (string, error) {
		if exprNull(a) || exprNull(b) {
			return "0", nil
		}
		return a, nil
	})
}

func (p *exprParser) compare() (string, error) {
	return p.binary([]string{"<", "<=", "=", "==", "!=", ">=", ">"}, p.additive, func(op, a, b string) (string, error) {
		var c int
		x, ok1 := exprInt(a)
		y, ok2 := exprInt(b)
		if ok1 && ok2 {
			c = x.Cmp(y)
		} else {
			c = strings.Compare(a, b)
		}
		r := false
		switch op {
		case "<":
			r = c < 0
		case "<=":
			r = c <= 0
		case "=", "==":
			r = c == 0
		case "!=":
			r = c != 0
		case ">=":
			r = c >= 0
		case ">":
			r = c > 0
		}
		if r {
			return "1", nil
		}
		return "0", nil
	})
}

func exprArith(op, a, b string) (string, error) {
	x, ok1 := exprInt(a)
	y, ok2 := exprInt(b)
	if !ok1 || !ok2 {
		return "", &exprErr{"non-integer argument"}
	}
	z := new(big.Int)
	switch op {
	case "+":
		z.Add(x, y)
	case "-":
		z.Sub(x, y)
	case "*":
		z.Mul(x, y)
	case "/", "%":
		if y.Sign() == 0 {
			return "", &exprErr{"division by zero"}
		}
		if op == "/" {
			z.Quo(x, y)
		} else {
			z.Rem(x, y)
		}
	}
	return z.String(), nil
}

func (p *exprParser) additive() (string, error) {
	return p.binary([]string{"+", "-"}, p.multiplicative, exprArith)
}

func (p *exprParser) multiplicative() (string, error) {
	return p.binary([]string{"*", "/", "%"}, p.match, exprArith)
}

func (p *exprParser) match() (string, error) {
	return p.binary([]string{":"}, p.primary, exprMatch)
}

// exprMatch is STRING : REGEX.
func exprMatch(_, s, pat string) (string, error) {
	re, err := compileRE(pat, false, false)
	if err != nil {
		return "", &exprErr{err.Error()}
	}
	re.Longest()
	m := re.FindStringSubmatchIndex(s)
	if m == nil || m[0] != 0 {
		if re.NumSubexp() > 0 {
			return "", nil
		}
		return "0", nil
	}
	if re.NumSubexp() > 0 {
		if m[2] < 0 {
			return "", nil
		}
		return s[m[2]:m[3]], nil
	}
	return fmt.Sprint(utf8.RuneCountInString(s[:m[1]])), nil
}

func (p *exprParser) primary() (string, error) {
	t, ok := p.peek()
	if !ok {
		return "", &exprErr{"syntax error: missing argument"}
	}
	p.pos++
	switch t {
	case "(":
		v, err := p.or()
		if err != nil {
			return "", err
		}
		if c, ok := p.peek(); !ok || c != ")" {
			return "", &exprErr{"syntax error: expecting ')'"}
		}
		p.pos++
		return v, nil
	case "+":
		// GNU: the next token is a string, whatever it looks like.
		v, ok := p.peek()
		if !ok {
			return "", &exprErr{"syntax error: missing argument after '+'"}
		}
		p.pos++
		return v, nil
	case "length":
		v, err := p.primary()
		return fmt.Sprint(utf8.RuneCountInString(v)), err
	case "match":
		a, err := p.primary()
		if err != nil {
			return "", err
		}
		b, err := p.primary()
		if err != nil {
			return "", err
		}
		return exprMatch(":", a, b)
	case "index":
		a, err := p.primary()
		if err != nil {
			return "", err
		}
		b, err := p.primary()
		if err != nil {
			return "", err
		}
		i := strings.IndexAny(a, b)
		if i < 0 {
			return "0", nil
		}
		return fmt.Sprint(utf8.RuneCountInString(a[:i]) + 1), nil
	case "substr":
		var v [3]string
		for i := range v {
			var err error
			if v[i], err = p.primary(); err != nil {
				return "", err
			}
		}
		r := []rune(v[0])
		pos, ok1 := exprInt(v[1])
		n, ok2 := exprInt(v[2])
		if !ok1 || !ok2 || pos.Sign() <= 0 || n.Sign() <= 0 || pos.Int64() > int64(len(r)) {
			return "", nil
		}
		start := pos.Int64() - 1
		end := min(start+n.Int64(), int64(len(r)))
		return string(r[start:end]), nil
	case ")":
		return "", &exprErr{"syntax error: unexpected ')'"}
	}
	return t, nil
}
