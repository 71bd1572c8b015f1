package native

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/debstrap/debstrap/rootfs"
)

// grep and sed with POSIX regular expressions (basic and extended, GNU
// extensions), translated to Go's syntax and matched leftmost-longest as
// POSIX requires.

func init() {
	register(grepCmd, "grep", "egrep", "fgrep")
	register(sedCmd, "sed")
}

// compileRE translates a POSIX regular expression (BRE unless ere) to Go.
func compileRE(pat string, ere, icase bool) (*regexp.Regexp, error) {
	var b strings.Builder
	if icase {
		b.WriteString("(?i)")
	}
	// atStart: the position where a BRE's "*" is literal and "^" anchors:
	// the start of the pattern or of a group or alternative.
	atStart := true
	for i := 0; i < len(pat); i++ {
		ch := pat[i]
		next := false
		switch {
		case ch == '[':
			j, err := copyBracket(&b, pat, i)
			if err != nil {
				return nil, err
			}
			i = j
		case ch == '\\' && i+1 < len(pat):
			i++
			n := pat[i]
			switch {
			case !ere && strings.IndexByte("(){}|+?", n) >= 0:
				b.WriteByte(n) // \( in a BRE is a group
				next = n == '(' || n == '|'
			case n == '<' || n == '>':
				b.WriteString(`\b`)
			case n == 'n':
				b.WriteString(`\n`)
			case n == 't':
				b.WriteString(`\t`)
			case strings.IndexByte("wWsSbB", n) >= 0:
				b.WriteByte('\\')
				b.WriteByte(n)
			case n >= '1' && n <= '9':
				return nil, fmt.Errorf("back-references are not supported: %q", pat)
			default:
				b.WriteString(regexp.QuoteMeta(string(n)))
			}
		case ere && (ch == '(' || ch == '|'):
			b.WriteByte(ch)
			next = true
		case !ere && strings.IndexByte("(){}|+?", ch) >= 0:
			b.WriteString(regexp.QuoteMeta(string(ch)))
		case !ere && ch == '*' && atStart:
			b.WriteString(`\*`)
		case !ere && ch == '^':
			if atStart {
				b.WriteByte('^')
				next = true
			} else {
				b.WriteString(`\^`)
			}
		case !ere && ch == '$':
			rest := pat[i+1:]
			if rest == "" || strings.HasPrefix(rest, `\)`) || strings.HasPrefix(rest, `\|`) {
				b.WriteByte('$')
			} else {
				b.WriteString(`\$`)
			}
		default:
			b.WriteByte(ch)
		}
		atStart = next
	}
	re, err := regexp.Compile(b.String())
	if err != nil {
		return nil, fmt.Errorf("invalid regular expression %q: %w", pat, err)
	}
	re.Longest()
	return re, nil
}

// copyBracket copies the bracket expression starting at pat[i] ("[")
// and returns the index of its closing "]". In POSIX a backslash inside
// is literal; in Go it escapes.
func copyBracket(b *strings.Builder, pat string, i int) (int, error) {
	j := i + 1
	b.WriteByte('[')
	if j < len(pat) && pat[j] == '^' {
		b.WriteByte('^')
		j++
	}
	first := true
	for ; j < len(pat); j++ {
		ch := pat[j]
		switch {
		case ch == ']' && !first:
			b.WriteByte(']')
			return j, nil
		case ch == '[' && j+1 < len(pat) && (pat[j+1] == ':' || pat[j+1] == '.' || pat[j+1] == '='):
			end := strings.Index(pat[j+2:], string(pat[j+1])+"]")
			if end < 0 {
				return 0, fmt.Errorf("unterminated character class in %q", pat)
			}
			b.WriteString(pat[j : j+2+end+2])
			j += 2 + end + 1
		case ch == '\\' || ch == '[' || (ch == ']' && first):
			b.WriteByte('\\')
			b.WriteByte(ch)
		default:
			b.WriteByte(ch)
		}
		first = false
	}
	return 0, fmt.Errorf("unterminated [ in %q", pat)
}

func grepCmd(c *cmd) error {
	o, err := c.parse(optSpec{"q|quiet", "silent", "E|extended-regexp", "F|fixed-strings", "G|basic-regexp", "v|invert-match", "i|ignore-case",
		"c|count", "l|files-with-matches", "s|no-messages", "x|line-regexp", "w|word-regexp", "e|regexp=", "n|line-number", "h|no-filename", "o|only-matching", "a|text"}, false)
	if err != nil {
		return err
	}
	pats := o.set["regexp"]
	ops := o.operands
	if len(pats) == 0 {
		if len(ops) == 0 {
			return c.failf("no pattern")
		}
		pats, ops = []string{ops[0]}, ops[1:]
	}
	ere := o.has("extended-regexp") || c.name() == "egrep"
	fixed := o.has("fixed-strings") || c.name() == "fgrep"
	var res []*regexp.Regexp
	for _, p := range pats {
		for _, p := range strings.Split(p, "\n") {
			var re *regexp.Regexp
			var err error
			src := p
			if fixed {
				src = regexp.QuoteMeta(p)
				if o.has("ignore-case") {
					src = "(?i)" + src
				}
				re, err = regexp.Compile(src)
			} else {
				re, err = compileRE(p, ere, o.has("ignore-case"))
			}
			if err != nil {
				return c.failf("%v", err)
			}
			if o.has("line-regexp") {
				re = regexp.MustCompile("^(?:" + re.String() + ")$")
			} else if o.has("word-regexp") {
				re = regexp.MustCompile(`(?:^|\b)(?:` + re.String() + `)(?:\b|$)`)
			}
			res = append(res, re)
		}
	}
	matched := false
	multi := len(ops) > 1 && !o.has("no-filename")
	if len(ops) == 0 {
		ops = []string{"-"}
	}
	st := 0
	for _, f := range ops {
		var data []byte
		if f == "-" {
			data, err = readAll(c)
		} else {
			data, err = c.s.readFile(c.abs(f))
		}
		if err != nil {
			if !o.has("no-messages") {
				fmt.Fprintf(c.stderr, "grep: %s: %s\n", f, errText(err))
			}
			st = 2
			continue
		}
		count := 0
		for n, l := range lines(data) {
			hit := false
			for _, re := range res {
				if re.MatchString(l) {
					hit = true
					break
				}
			}
			if hit == o.has("invert-match") {
				continue
			}
			count++
			matched = true
			if o.has("quiet") || o.has("silent") {
				return nil
			}
			if o.has("count") || o.has("files-with-matches") {
				continue
			}
			prefix := ""
			if multi {
				prefix = f + ":"
			}
			if o.has("line-number") {
				prefix += strconv.Itoa(n+1) + ":"
			}
			if o.has("only-matching") {
				for _, re := range res {
					for _, m := range re.FindAllString(l, -1) {
						fmt.Fprintln(c.stdout, prefix+m)
					}
				}
				continue
			}
			fmt.Fprintln(c.stdout, prefix+l)
		}
		if o.has("count") {
			if multi {
				fmt.Fprintf(c.stdout, "%s:%d\n", f, count)
			} else {
				fmt.Fprintln(c.stdout, count)
			}
		}
		if o.has("files-with-matches") && count > 0 {
			fmt.Fprintln(c.stdout, f)
		}
	}
	if st == 2 && !(matched && o.has("quiet")) {
		return status(2)
	}
	if !matched {
		return status(1)
	}
	return nil
}

func readAll(c *cmd) ([]byte, error) {
	var b bytes.Buffer
	_, err := b.ReadFrom(c.stdin)
	return b.Bytes(), err
}

// sed.

type sedAddr struct {
	line int            // > 0: that line
	last bool           // $
	re   *regexp.Regexp // /re/
}

type sedInstr struct {
	a1, a2  *sedAddr
	negate  bool
	name    byte
	re      *regexp.Regexp // s
	repl    string
	global  bool
	nth     int
	print   bool
	text    string // a, i, c
	from    []rune // y
	to      []rune
	block   []*sedInstr // {
	inRange bool
	// zeroDone: a 0,/re/ range (GNU), in range from before the first
	// line, has ended.
	zeroDone bool
}

type sedParser struct {
	src string
	i   int
	ere bool
}

func (p *sedParser) eof() bool { return p.i >= len(p.src) }
func (p *sedParser) peek() byte {
	if p.eof() {
		return 0
	}
	return p.src[p.i]
}
func (p *sedParser) skipSpace() {
	for !p.eof() && (p.src[p.i] == ' ' || p.src[p.i] == '\t') {
		p.i++
	}
}

// delimited reads up to the unescaped delimiter d; "\d" becomes d and
// "\n" a newline in regexes.
func (p *sedParser) delimited(d byte, regex bool) (string, error) {
	var b strings.Builder
	for !p.eof() {
		ch := p.src[p.i]
		p.i++
		switch {
		case ch == d:
			return b.String(), nil
		case ch == '\\' && !p.eof():
			n := p.src[p.i]
			p.i++
			switch {
			case n == d:
				b.WriteByte(d)
			case n == 'n' && regex:
				b.WriteString(`\n`)
			case n == 'n':
				b.WriteByte('\n')
			default:
				b.WriteByte('\\')
				b.WriteByte(n)
			}
		case ch == '[' && regex:
			// Brackets may hold the delimiter unescaped.
			j := p.i
			if j < len(p.src) && p.src[j] == '^' {
				j++
			}
			if j < len(p.src) && p.src[j] == ']' {
				j++
			}
			for j < len(p.src) && p.src[j] != ']' {
				if p.src[j] == '[' && j+1 < len(p.src) && p.src[j+1] == ':' {
					if k := strings.Index(p.src[j:], ":]"); k > 0 {
						j += k + 2
						continue
					}
				}
				j++
			}
			b.WriteByte('[')
			b.WriteString(p.src[p.i:min(j+1, len(p.src))])
			p.i = min(j+1, len(p.src))
		default:
			b.WriteByte(ch)
		}
	}
	return "", fmt.Errorf("unterminated address or command in %q", p.src)
}

func (p *sedParser) addr() (*sedAddr, error) {
	switch ch := p.peek(); {
	case ch >= '0' && ch <= '9':
		j := p.i
		for j < len(p.src) && p.src[j] >= '0' && p.src[j] <= '9' {
			j++
		}
		n, _ := strconv.Atoi(p.src[p.i:j])
		p.i = j
		return &sedAddr{line: n}, nil
	case ch == '$':
		p.i++
		return &sedAddr{last: true}, nil
	case ch == '/' || ch == '\\':
		d := byte('/')
		if ch == '\\' {
			p.i++
			d = p.peek()
		}
		p.i++
		pat, err := p.delimited(d, true)
		if err != nil {
			return nil, err
		}
		icase := false
		if p.peek() == 'I' {
			icase = true
			p.i++
		}
		re, err := compileRE(pat, p.ere, icase)
		if err != nil {
			return nil, err
		}
		return &sedAddr{re: re}, nil
	}
	return nil, nil
}

func (p *sedParser) commands(inBlock bool) ([]*sedInstr, error) {
	var out []*sedInstr
	for {
		for !p.eof() && strings.IndexByte(" \t\n;", p.peek()) >= 0 {
			p.i++
		}
		if p.eof() {
			if inBlock {
				return nil, fmt.Errorf("unmatched `{'")
			}
			return out, nil
		}
		if p.peek() == '}' {
			if !inBlock {
				return nil, fmt.Errorf("unexpected `}'")
			}
			p.i++
			return out, nil
		}
		if p.peek() == '#' {
			for !p.eof() && p.peek() != '\n' {
				p.i++
			}
			continue
		}
		c := &sedInstr{}
		var err error
		if c.a1, err = p.addr(); err != nil {
			return nil, err
		}
		if c.a1 != nil && p.peek() == ',' {
			p.i++
			if c.a2, err = p.addr(); err != nil {
				return nil, err
			}
			if c.a2 == nil {
				return nil, fmt.Errorf("unexpected `,'")
			}
		}
		p.skipSpace()
		for p.peek() == '!' {
			c.negate = true
			p.i++
			p.skipSpace()
		}
		if p.eof() {
			return nil, fmt.Errorf("missing command")
		}
		c.name = p.src[p.i]
		p.i++
		switch c.name {
		case '{':
			if c.block, err = p.commands(true); err != nil {
				return nil, err
			}
		case 'd', 'p', 'q', '=', 'D', 'N', 'P', 'h', 'H', 'g', 'G', 'x', 'n':
		case 's':
			d := p.peek()
			p.i++
			pat, err := p.delimited(d, true)
			if err != nil {
				return nil, err
			}
			if c.repl, err = p.delimited(d, false); err != nil {
				return nil, err
			}
			icase := false
			for !p.eof() && strings.IndexByte("gpiI0123456789", p.peek()) >= 0 {
				switch ch := p.peek(); {
				case ch == 'g':
					c.global = true
				case ch == 'p':
					c.print = true
				case ch == 'i' || ch == 'I':
					icase = true
				default:
					c.nth = c.nth*10 + int(ch-'0')
				}
				p.i++
			}
			if !p.eof() && strings.IndexByte(" \t\n;}", p.peek()) < 0 {
				return nil, fmt.Errorf("unknown option to `s': %c", p.peek())
			}
			if c.re, err = compileRE(pat, p.ere, icase); err != nil {
				return nil, err
			}
		case 'y':
			d := p.peek()
			p.i++
			from, err := p.delimited(d, false)
			if err != nil {
				return nil, err
			}
			to, err := p.delimited(d, false)
			if err != nil {
				return nil, err
			}
			c.from, c.to = []rune(unescapeSed(from)), []rune(unescapeSed(to))
			if len(c.from) != len(c.to) {
				return nil, fmt.Errorf("strings for `y' command are different lengths")
			}
		case 'a', 'i', 'c':
			p.skipSpace()
			if p.peek() == '\\' {
				p.i++
				if p.peek() == '\n' {
					p.i++
				}
			}
			var b strings.Builder
			for !p.eof() {
				ch := p.src[p.i]
				p.i++
				if ch == '\\' && !p.eof() {
					b.WriteByte(p.src[p.i])
					p.i++
					continue
				}
				if ch == '\n' {
					break
				}
				b.WriteByte(ch)
			}
			c.text = b.String()
		default:
			return nil, fmt.Errorf("unsupported sed command %q", c.name)
		}
		out = append(out, c)
	}
}

func unescapeSed(s string) string {
	return strings.NewReplacer(`\\`, `\`, `\n`, "\n", `\t`, "\t").Replace(s)
}

// sedState runs a sed program over input lines.
type sedState struct {
	lines  []string
	n      int // current line index
	out    *bytes.Buffer
	quiet  bool
	hold   string
	quit   bool
	append []string
}

func (a *sedAddr) match(st *sedState, pat string) bool {
	switch {
	case a.last:
		return st.n == len(st.lines)-1
	case a.re != nil:
		return a.re.MatchString(pat)
	}
	return st.n+1 == a.line
}

func (c *sedInstr) selects(st *sedState, pat string) bool {
	var m bool
	switch {
	case c.a1 == nil:
		m = true
	case c.a2 == nil:
		m = c.a1.match(st, pat)
	case c.a1.line == 0 && c.a1.re == nil && !c.a1.last:
		if !c.zeroDone {
			m = true
			c.zeroDone = c.a2.match(st, pat)
		}
	case c.inRange:
		m = true
		if c.a2.re == nil && !c.a2.last && st.n+1 >= c.a2.line || c.a2.match(st, pat) {
			c.inRange = false
		}
	case c.a1.match(st, pat):
		m = true
		c.inRange = true
		if c.a2.re == nil && !c.a2.last && c.a2.line <= st.n+1 {
			c.inRange = false
		}
	}
	return m != c.negate
}

// run applies cmds to pat; it returns the pattern space and whether the
// line is deleted.
func (st *sedState) run(cmds []*sedInstr, pat string) (string, bool, error) {
	for _, c := range cmds {
		if st.quit {
			break
		}
		if !c.selects(st, pat) {
			continue
		}
		switch c.name {
		case '{':
			var del bool
			var err error
			if pat, del, err = st.run(c.block, pat); err != nil || del {
				return pat, del, err
			}
		case 'd':
			return pat, true, nil
		case 'p':
			st.out.WriteString(pat + "\n")
		case 'q':
			st.quit = true
		case '=':
			fmt.Fprintf(st.out, "%d\n", st.n+1)
		case 'h':
			st.hold = pat
		case 'H':
			st.hold += "\n" + pat
		case 'g':
			pat = st.hold
		case 'G':
			pat += "\n" + st.hold
		case 'x':
			pat, st.hold = st.hold, pat
		case 'n':
			if !st.quiet {
				st.out.WriteString(pat + "\n")
			}
			if st.n+1 >= len(st.lines) {
				st.quit = true
				return pat, true, nil
			}
			st.n++
			pat = st.lines[st.n]
		case 'N':
			if st.n+1 >= len(st.lines) {
				// GNU sed prints the pattern space when N hits the end.
				st.quit = true
				return pat, false, nil
			}
			st.n++
			pat += "\n" + st.lines[st.n]
		case 'P':
			first, _, _ := strings.Cut(pat, "\n")
			st.out.WriteString(first + "\n")
		case 'D':
			_, rest, ok := strings.Cut(pat, "\n")
			if !ok {
				return pat, true, nil
			}
			return rest, true, fmt.Errorf("sed D with a multi-line pattern space is not supported")
		case 'a':
			// GNU sed's "$a\" with no text only ends the last line with
			// a newline, which every line here gets anyway.
			if c.text != "" {
				st.append = append(st.append, c.text)
			}
		case 'i':
			st.out.WriteString(c.text + "\n")
		case 'c':
			if c.a2 == nil || !c.inRange {
				st.out.WriteString(c.text + "\n")
			}
			return pat, true, nil
		case 'y':
			r := []rune(pat)
			for i, ch := range r {
				for j, f := range c.from {
					if ch == f {
						r[i] = c.to[j]
						break
					}
				}
			}
			pat = string(r)
		case 's':
			newPat, did := sedSubst(c, pat)
			pat = newPat
			if did && c.print {
				st.out.WriteString(pat + "\n")
			}
		}
	}
	return pat, false, nil
}

// sedSubst performs an s command.
func sedSubst(c *sedInstr, pat string) (string, bool) {
	matches := c.re.FindAllStringSubmatchIndex(pat, -1)
	if len(matches) == 0 {
		return pat, false
	}
	var b strings.Builder
	last, did := 0, false
	for k, m := range matches {
		want := (c.nth == 0 && (c.global || k == 0)) || (c.nth > 0 && (k+1 == c.nth || (c.global && k+1 > c.nth)))
		if !want {
			continue
		}
		b.WriteString(pat[last:m[0]])
		b.WriteString(expandRepl(c.repl, pat, m))
		last = m[1]
		did = true
		if !c.global && c.nth == 0 {
			break
		}
	}
	b.WriteString(pat[last:])
	return b.String(), did
}

func expandRepl(repl, src string, m []int) string {
	var b strings.Builder
	for i := 0; i < len(repl); i++ {
		ch := repl[i]
		switch {
		case ch == '&':
			b.WriteString(src[m[0]:m[1]])
		case ch == '\\' && i+1 < len(repl):
			i++
			n := repl[i]
			switch {
			case n >= '0' && n <= '9':
				g := int(n - '0')
				if 2*g+1 < len(m) && m[2*g] >= 0 {
					b.WriteString(src[m[2*g]:m[2*g+1]])
				}
			case n == 'n':
				b.WriteByte('\n')
			case n == 't':
				b.WriteByte('\t')
			default:
				b.WriteByte(n)
			}
		default:
			b.WriteByte(ch)
		}
	}
	return b.String()
}

func sedCmd(c *cmd) error {
	o, err := c.parse(optSpec{"n|quiet", "silent", "e|expression=", "E|regexp-extended", "r", "i|in-place", "s|separate", "z|null-data", "f|file=", "posix"}, false)
	if err != nil {
		return err
	}
	// -i takes an optional suffix glued to it; none is used by scripts.
	if o.has("null-data") || o.has("file") {
		return c.unsupported("-z / -f")
	}
	scripts := o.set["expression"]
	ops := o.operands
	if len(scripts) == 0 {
		if len(ops) == 0 {
			return c.failf("no script")
		}
		scripts, ops = ops[:1], ops[1:]
	}
	p := &sedParser{src: strings.Join(scripts, "\n"), ere: o.has("regexp-extended") || o.has("r")}
	prog, err := p.commands(false)
	if err != nil {
		return c.failf("-e expression: %v", err)
	}
	runOn := func(data []byte) ([]byte, error) {
		st := &sedState{lines: lines(data), out: &bytes.Buffer{}, quiet: o.has("quiet") || o.has("silent")}
		for st.n = 0; st.n < len(st.lines) && !st.quit; st.n++ {
			pat, del, err := st.run(prog, st.lines[st.n])
			if err != nil {
				return nil, err
			}
			if !del && !st.quiet {
				st.out.WriteString(pat + "\n")
			}
			for _, a := range st.append {
				st.out.WriteString(a + "\n")
			}
			st.append = nil
		}
		return st.out.Bytes(), nil
	}
	if o.has("in-place") {
		for _, f := range ops {
			real, e, ok, err := c.s.resolve(c.dir, f, true)
			if err != nil || !ok {
				return c.failf("can't read %s: No such file or directory", f)
			}
			data, err := c.s.st.ReadFile(real)
			if err != nil {
				return &stageError{err}
			}
			out, err := runOn(data)
			if err != nil {
				return c.unsupported("%v", err)
			}
			if err := c.s.st.WriteFile(real, out, rootfs.Entry{Mode: e.Mode, Uid: e.Uid, Gid: e.Gid}); err != nil {
				return &stageError{err}
			}
		}
		return nil
	}
	var all []byte
	if err := c.eachInput(ops, func(_ string, data []byte) error {
		if len(data) > 0 && data[len(data)-1] != '\n' {
			data = append(data, '\n')
		}
		all = append(all, data...)
		return nil
	}); err != nil {
		return err
	}
	out, err := runOn(all)
	if err != nil {
		return c.unsupported("%v", err)
	}
	_, err = c.stdout.Write(out)
	return err
}
