package native

import (
	"fmt"
	"strings"
)

// getopt (util-linux): parse parameters the GNU way and print them
// normalised and quoted for the shell (ucf uses it).

func init() {
	register(getoptCmd, "getopt")
}

func shQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func getoptCmd(c *cmd) error {
	args := c.args[1:]
	var short, name string
	var longs []string
	alt, haveShort := false, false
	i := 0
	for ; i < len(args); i++ {
		a := args[i]
		next := func() (string, error) {
			if i+1 >= len(args) {
				return "", c.failf("option requires an argument -- '%s'", a)
			}
			i++
			return args[i], nil
		}
		var err error
		switch {
		case a == "--":
			i++
			goto params
		case a == "-a" || a == "--alternative":
			alt = true
		case a == "-o" || a == "--options":
			if short, err = next(); err != nil {
				return err
			}
			haveShort = true
		case strings.HasPrefix(a, "--options="):
			short, haveShort = strings.TrimPrefix(a, "--options="), true
		case a == "-l" || a == "--longoptions" || a == "--long":
			v, err := next()
			if err != nil {
				return err
			}
			longs = append(longs, strings.Split(v, ",")...)
		case strings.HasPrefix(a, "--longoptions=") || strings.HasPrefix(a, "--long="):
			_, v, _ := strings.Cut(a, "=")
			longs = append(longs, strings.Split(v, ",")...)
		case a == "-n" || a == "--name":
			if name, err = next(); err != nil {
				return err
			}
		case strings.HasPrefix(a, "--name="):
			name = strings.TrimPrefix(a, "--name=")
		case a == "-q" || a == "-Q" || a == "-u" || a == "-s" || a == "-T":
			return c.unsupported("option %s", a)
		case strings.HasPrefix(a, "-") && len(a) > 1:
			return c.unsupported("option %s", a)
		default:
			goto params
		}
	}
params:
	params := args[i:]
	if !haveShort {
		if len(params) == 0 {
			return c.failf("missing optstring argument")
		}
		short, params = params[0], params[1:]
	}
	if name == "" {
		name = "getopt"
	}
	permute := !strings.HasPrefix(short, "+") && c.getenv("POSIXLY_CORRECT") == ""
	short = strings.TrimLeft(short, "+-")
	argOf := func(opt byte) int { // 0 none, 1 required, 2 optional
		i := strings.IndexByte(short, opt)
		if i < 0 || opt == ':' {
			return -1
		}
		switch {
		case strings.HasPrefix(short[i+1:], "::"):
			return 2
		case strings.HasPrefix(short[i+1:], ":"):
			return 1
		}
		return 0
	}
	longArg := func(n string) (string, int) {
		var matches []string
		for _, l := range longs {
			ln := strings.TrimRight(l, ":")
			if ln == n {
				matches = []string{l}
				break
			}
			if strings.HasPrefix(ln, n) {
				matches = append(matches, l)
			}
		}
		if len(matches) != 1 {
			return "", -1
		}
		l := matches[0]
		switch {
		case strings.HasSuffix(l, "::"):
			return strings.TrimRight(l, ":"), 2
		case strings.HasSuffix(l, ":"):
			return strings.TrimRight(l, ":"), 1
		}
		return l, 0
	}
	var out, rest []string
	bad := func(format string, a ...any) error {
		fmt.Fprintf(c.stderr, "%s: %s\n", name, fmt.Sprintf(format, a...))
		return status(1)
	}
	for k := 0; k < len(params); k++ {
		p := params[k]
		switch {
		case p == "--":
			rest = append(rest, params[k+1:]...)
			k = len(params)
		case strings.HasPrefix(p, "--") || (alt && strings.HasPrefix(p, "-") && len(p) > 2 && !(argOf(p[1]) >= 0 && len(p) == 2)):
			body := strings.TrimLeft(p, "-")
			n, val, hasVal := strings.Cut(body, "=")
			full, kind := longArg(n)
			if kind < 0 {
				if !strings.HasPrefix(p, "--") {
					goto shortOpts
				}
				return bad("unrecognized option '%s'", p)
			}
			out = append(out, "--"+full)
			switch kind {
			case 0:
				if hasVal {
					return bad("option '--%s' doesn't allow an argument", full)
				}
			case 1:
				if !hasVal {
					if k+1 >= len(params) {
						return bad("option '--%s' requires an argument", full)
					}
					k++
					val = params[k]
				}
				out = append(out, shQuote(val))
			case 2:
				out = append(out, shQuote(val))
			}
			continue
		shortOpts:
			fallthrough
		case strings.HasPrefix(p, "-") && len(p) > 1:
			for j := 1; j < len(p); j++ {
				kind := argOf(p[j])
				if kind < 0 {
					return bad("invalid option -- '%c'", p[j])
				}
				out = append(out, "-"+string(p[j]))
				if kind == 0 {
					continue
				}
				val := p[j+1:]
				if val == "" && kind == 1 {
					if k+1 >= len(params) {
						return bad("option requires an argument -- '%c'", p[j])
					}
					k++
					val = params[k]
				}
				out = append(out, shQuote(val))
				break
			}
		default:
			if !permute {
				rest = append(rest, params[k:]...)
				k = len(params)
				continue
			}
			rest = append(rest, p)
		}
	}
	var b strings.Builder
	for _, o := range out {
		b.WriteString(" " + o)
	}
	b.WriteString(" --")
	for _, r := range rest {
		b.WriteString(" " + shQuote(r))
	}
	fmt.Fprintln(c.stdout, b.String())
	return nil
}
