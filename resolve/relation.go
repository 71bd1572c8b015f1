package resolve

import (
	"fmt"
	"strings"
)

// Op is the operator of a versioned relation.
type Op uint8

const (
	OpNone Op = iota // unversioned
	OpLT             // <<
	OpLE             // <= (and the obsolete <)
	OpEQ             // =
	OpGE             // >= (and the obsolete >)
	OpGT             // >>
)

func (o Op) String() string {
	if o == opNE {
		return "!="
	}
	return [...]string{"", "<<", "<=", "=", ">=", ">>"}[o]
}

// Satisfied reports whether version v satisfies "op want".
func (o Op) Satisfied(v, want string) bool {
	if o == OpNone {
		return true
	}
	c := CompareVersions(v, want)
	switch o {
	case OpLT:
		return c < 0
	case OpLE:
		return c <= 0
	case OpEQ:
		return c == 0
	case OpGE:
		return c >= 0
	case OpGT:
		return c > 0
	}
	return false
}

// Atom is one alternative of a relation: "name[:arch] [(op version)]".
type Atom struct {
	Name    string
	Arch    string // qualifier after ':' ("any", "native", an architecture) or ""
	Op      Op
	Version string
}

func (a Atom) String() string {
	s := a.Name
	if a.Arch != "" {
		s += ":" + a.Arch
	}
	if a.Op != OpNone {
		s += " (" + a.Op.String() + " " + a.Version + ")"
	}
	return s
}

// Group is an or-group: satisfied when any of its atoms is.
type Group []Atom

func (g Group) String() string {
	parts := make([]string, len(g))
	for i, a := range g {
		parts[i] = a.String()
	}
	return strings.Join(parts, " | ")
}

// ParseRelations parses a relation field as the archive writes it
// ("a (>= 1), b | c:any, d [amd64] <!nocheck>"). Architecture restrictions
// and build profiles belong to source packages; in binary indexes they do
// not occur, and are accepted and ignored here. The obsolete operators "<"
// and ">" mean "<=" and ">=", as in dpkg and apt.
//
// pault.ag/go/debian/dependency is not used: it rejects "<" and ">" and
// builds strings rune by rune, which shows in resolver profiles.
func ParseRelations(s string) ([]Group, error) {
	var groups []Group
	p := relParser{s: s}
	for {
		p.space()
		if p.eof() {
			return groups, nil
		}
		var g Group
		for {
			a, err := p.atom()
			if err != nil {
				return nil, fmt.Errorf("relation %q: %w", s, err)
			}
			g = append(g, a)
			p.space()
			if p.peek() == '|' {
				p.i++
				continue
			}
			break
		}
		groups = append(groups, g)
		p.space()
		switch {
		case p.eof():
			return groups, nil
		case p.peek() == ',':
			p.i++
		default:
			return nil, fmt.Errorf("relation %q: unexpected %q at offset %d", s, p.peek(), p.i)
		}
	}
}

type relParser struct {
	s string
	i int
}

func (p *relParser) eof() bool { return p.i >= len(p.s) }

func (p *relParser) peek() byte {
	if p.i < len(p.s) {
		return p.s[p.i]
	}
	return 0
}

func (p *relParser) space() {
	for p.i < len(p.s) && isSpace(p.s[p.i]) {
		p.i++
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// nameEnd reports whether c ends a package name or architecture word.
func nameEnd(c byte) bool {
	return isSpace(c) || c == ',' || c == '|' || c == '(' || c == '[' || c == '<' || c == ':' || c == ')' || c == ']' || c == '>'
}

func (p *relParser) word() string {
	start := p.i
	for p.i < len(p.s) && !nameEnd(p.s[p.i]) {
		p.i++
	}
	return p.s[start:p.i]
}

func (p *relParser) atom() (Atom, error) {
	var a Atom
	p.space()
	a.Name = p.word()
	if a.Name == "" {
		if p.eof() {
			return a, fmt.Errorf("missing package name at end")
		}
		return a, fmt.Errorf("missing package name at offset %d", p.i)
	}
	if p.peek() == ':' {
		p.i++
		a.Arch = p.word()
		if a.Arch == "" {
			return a, fmt.Errorf("empty architecture qualifier after %q", a.Name)
		}
	}
	p.space()
	if p.peek() == '(' {
		p.i++
		p.space()
		op, err := p.op()
		if err != nil {
			return a, fmt.Errorf("%s: %w", a.Name, err)
		}
		p.space()
		start := p.i
		for p.i < len(p.s) && p.s[p.i] != ')' && !isSpace(p.s[p.i]) {
			p.i++
		}
		a.Op, a.Version = op, p.s[start:p.i]
		p.space()
		if p.peek() != ')' {
			return a, fmt.Errorf("%s: unterminated version", a.Name)
		}
		if a.Version == "" {
			return a, fmt.Errorf("%s: empty version", a.Name)
		}
		p.i++
		p.space()
	}
	// Architecture restrictions and build profiles: skip.
	for p.peek() == '[' || p.peek() == '<' {
		closer := byte(']')
		if p.peek() == '<' {
			closer = '>'
		}
		end := strings.IndexByte(p.s[p.i:], closer)
		if end < 0 {
			return a, fmt.Errorf("%s: unterminated %q", a.Name, p.peek())
		}
		p.i += end + 1
		p.space()
	}
	return a, nil
}

func (p *relParser) op() (Op, error) {
	rest := p.s[p.i:]
	switch {
	case strings.HasPrefix(rest, "<<"):
		p.i += 2
		return OpLT, nil
	case strings.HasPrefix(rest, "<="):
		p.i += 2
		return OpLE, nil
	case strings.HasPrefix(rest, ">>"):
		p.i += 2
		return OpGT, nil
	case strings.HasPrefix(rest, ">="):
		p.i += 2
		return OpGE, nil
	case strings.HasPrefix(rest, "="):
		p.i++
		return OpEQ, nil
	case strings.HasPrefix(rest, "<"):
		p.i++
		return OpLE, nil
	case strings.HasPrefix(rest, ">"):
		p.i++
		return OpGE, nil
	}
	return OpNone, fmt.Errorf("bad operator at offset %d", p.i)
}

// scanNames calls fn for every package name (and its architecture
// qualifier) of a relation field, in order, without parsing versions or
// allocating. It is used to number packages the way apt's cache generator
// does, which needs the names of every relation of every stanza.
func scanNames(s string, fn func(name, arch string)) {
	i := 0
	for i < len(s) {
		// start of an atom: skip separators and blanks
		for i < len(s) && (isSpace(s[i]) || s[i] == ',' || s[i] == '|') {
			i++
		}
		start := i
		for i < len(s) && !nameEnd(s[i]) {
			i++
		}
		name := s[start:i]
		arch := ""
		if i < len(s) && s[i] == ':' {
			i++
			as := i
			for i < len(s) && !nameEnd(s[i]) {
				i++
			}
			arch = s[as:i]
		}
		if name != "" {
			fn(name, arch)
		} else if i < len(s) && !isSpace(s[i]) && s[i] != ',' && s[i] != '|' {
			i++ // stray character; avoid looping
		}
		// skip to the end of this atom
		for i < len(s) && s[i] != ',' && s[i] != '|' {
			i++
		}
	}
}
