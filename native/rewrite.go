package native

import (
	"fmt"
	"strings"

	"mvdan.cc/sh/v3/syntax"
)

// maxNesting bounds how deeply a script's text may nest before it is
// parsed: the parser recurses per level, and a million levels overflow
// the Go stack, which kills the process rather than failing a package.
const maxNesting = 10000

// checkNesting over-estimates the nesting of src (brackets and compound
// keywords, quoting ignored) and refuses it past maxNesting.
func checkNesting(src []byte) error {
	depth, max := 0, 0
	word := func(w string) {
		switch w {
		case "if", "while", "until", "for", "case", "select":
			depth++
		case "fi", "done", "esac":
			if depth > 0 {
				depth--
			}
		}
	}
	start := -1
	for i, c := range src {
		isWord := c >= 'a' && c <= 'z'
		if isWord && start < 0 {
			start = i
		}
		if !isWord && start >= 0 {
			word(string(src[start:i]))
			start = -1
		}
		switch c {
		case '(', '{', '[', '`':
			depth++
		case ')', '}', ']':
			if depth > 0 {
				depth--
			}
		}
		if depth > max {
			if max = depth; max > maxNesting {
				return fmt.Errorf("nested more than %d levels deep", maxNesting)
			}
		}
	}
	return nil
}

// rewrite applies every correction below to a parsed script, before it
// runs.
func rewrite(f *syntax.File) error {
	for _, fix := range []func(*syntax.File) error{fixProcSubst, fixPids, makeLazy, fixRead, fixErrexit} {
		if err := fix(f); err != nil {
			return err
		}
	}
	return nil
}

// The interpreter answers $$ and $PPID with debstrap's own process ids,
// before any environment is consulted. fixPids renames them to variables
// the script's environment sets to fixed ids (pidEnv), so no host pid
// reaches a script and an image that records one stays reproducible.
// eval's text gets the same rewrite when it runs (evalRewritten).
func fixPids(f *syntax.File) error {
	syntax.Walk(f, func(n syntax.Node) bool {
		switch x := n.(type) {
		case *syntax.ParamExp:
			if x.Param != nil {
				if v, ok := pidVars[x.Param.Value]; ok {
					x.Param = &syntax.Lit{ValuePos: x.Param.ValuePos, ValueEnd: x.Param.ValueEnd, Value: v}
				}
			}
		case *syntax.ArithmExp:
			renameArithm(x.X)
		case *syntax.ArithmCmd:
			renameArithm(x.X)
		}
		return true
	})
	return nil
}

// renameArithm renames bare PPID in an arithmetic expression ($((PPID))).
func renameArithm(e syntax.ArithmExpr) {
	syntax.Walk(e, func(n syntax.Node) bool {
		if w, ok := n.(*syntax.Word); ok && len(w.Parts) == 1 {
			if l, ok := w.Parts[0].(*syntax.Lit); ok && l.Value == "PPID" {
				l.Value = pidVars["PPID"]
			}
		}
		return true
	})
}

var pidVars = map[string]string{"$": "__native_pid", "PPID": "__native_ppid"}

// pidEnv are the ids a script sees: its own and dpkg's.
var pidEnv = []string{"__native_pid=2", "__native_ppid=1"}

// The interpreter makes a FIFO in the host's temporary directory for
// each process substitution, and opens paths there on the host. So
// fixProcSubst rewrites <(list) into a command substitution that runs
// list to its end and keeps its output in memory, under a path of
// /dev/fd that the open handler serves:
//
//	cat <(list) → cat "$({ list; } | __native_psub)"
//
// Reading happens after list ended instead of alongside, which a
// maintainer script cannot tell. >(list) has no such equivalent and is
// refused.
func fixProcSubst(f *syntax.File) error {
	var err error
	fix := func(parts []syntax.WordPart) {
		for i, p := range parts {
			ps, ok := p.(*syntax.ProcSubst)
			if !ok {
				continue
			}
			if ps.Op != syntax.CmdIn {
				err = fmt.Errorf("process substitution %s...): not supported", ps.Op)
				return
			}
			pipe := &syntax.BinaryCmd{
				Op: syntax.Pipe,
				X:  &syntax.Stmt{Cmd: &syntax.Block{Stmts: ps.Stmts}},
				Y:  &syntax.Stmt{Cmd: &syntax.CallExpr{Args: []*syntax.Word{{Parts: []syntax.WordPart{&syntax.Lit{Value: "__native_psub"}}}}}},
			}
			parts[i] = &syntax.DblQuoted{Parts: []syntax.WordPart{&syntax.CmdSubst{Stmts: []*syntax.Stmt{{Cmd: pipe}}}}}
		}
	}
	syntax.Walk(f, func(n syntax.Node) bool {
		if err != nil {
			return false
		}
		switch x := n.(type) {
		case *syntax.Word:
			fix(x.Parts)
		case *syntax.DblQuoted:
			fix(x.Parts)
		}
		return err == nil
	})
	return err
}

// Two places where the interpreter (mvdan.cc/sh v3.14) departs from the
// POSIX shell in ways maintainer scripts trip over are corrected by
// rewriting the script before it runs.
//
// The interpreter expands the word of ${VAR:+word} and ${VAR:-word}
// before looking at VAR, so a command substitution in it runs even when
// the shell would not run it: DPKG_ROOT=${DPKG_ROOT:+$(realpath
// "$DPKG_ROOT")} calls realpath with an empty argument. makeLazy rewrites
// such expansions, before the script runs, into a command substitution
// that tests VAR first:
//
//	${VAR:+word} → $(if [ -n "$VAR" ]; then printf '%s' "word"; fi)
//	${VAR:-word} → $(if [ -n "$VAR" ]; then printf '%s' "$VAR"; else printf '%s' "word"; fi)
//
// (and the unset-only forms with "${VAR+x}"). Only words holding a
// command substitution are rewritten; the assigning and failing forms
// (:= and :?) are left alone.

func makeLazy(f *syntax.File) error {
	var err error
	syntax.Walk(f, func(n syntax.Node) bool {
		if err != nil {
			return false
		}
		switch x := n.(type) {
		case *syntax.Word:
			err = lazyParts(x.Parts)
		case *syntax.DblQuoted:
			err = lazyParts(x.Parts)
		}
		return true
	})
	return err
}

func lazyParts(parts []syntax.WordPart) error {
	for i, p := range parts {
		pe, ok := p.(*syntax.ParamExp)
		if !ok || pe.Exp == nil || pe.Exp.Word == nil || !hasCmdSubst(pe.Exp.Word) {
			continue
		}
		if pe.Excl || pe.Length || pe.Width || pe.Index != nil || pe.Slice != nil || pe.Repl != nil || pe.Names != 0 {
			continue
		}
		name := pe.Param.Value
		if name == "@" || name == "*" {
			continue
		}
		var tmpl string
		test := `"${` + name + `}"`
		switch pe.Exp.Op {
		case syntax.AlternateUnsetOrNull, syntax.AlternateUnset:
			if pe.Exp.Op == syntax.AlternateUnset {
				test = `"${` + name + `+x}"`
			}
			tmpl = `$(if [ -n ` + test + ` ]; then printf '%s' "__W__"; fi)`
		case syntax.DefaultUnsetOrNull, syntax.DefaultUnset:
			if pe.Exp.Op == syntax.DefaultUnset {
				test = `"${` + name + `+x}"`
			}
			tmpl = `$(if [ -n ` + test + ` ]; then printf '%s' "${` + name + `}"; else printf '%s' "__W__"; fi)`
		default:
			continue
		}
		repl, err := parseLazyTemplate(tmpl, pe.Exp.Word)
		if err != nil {
			return err
		}
		parts[i] = repl
	}
	return nil
}

func hasCmdSubst(w *syntax.Word) bool {
	found := false
	syntax.Walk(w, func(n syntax.Node) bool {
		if _, ok := n.(*syntax.CmdSubst); ok {
			found = true
		}
		return !found
	})
	return found
}

// parseLazyTemplate parses tmpl and puts word's parts in place of the
// "__W__" placeholder.
func parseLazyTemplate(tmpl string, word *syntax.Word) (syntax.WordPart, error) {
	f, err := syntax.NewParser(syntax.Variant(syntax.LangBash)).Parse(strings.NewReader("x="+tmpl+"\n"), "")
	if err != nil {
		return nil, fmt.Errorf("rewriting an expansion: %w", err)
	}
	var cs *syntax.CmdSubst
	syntax.Walk(f, func(n syntax.Node) bool {
		if c, ok := n.(*syntax.CmdSubst); ok && cs == nil {
			cs = c
		}
		if dq, ok := n.(*syntax.DblQuoted); ok && len(dq.Parts) == 1 {
			if lit, ok := dq.Parts[0].(*syntax.Lit); ok && lit.Value == "__W__" {
				dq.Parts = word.Parts
			}
		}
		return true
	})
	if cs == nil {
		return nil, fmt.Errorf("rewriting an expansion: no command substitution in %q", tmpl)
	}
	return cs, nil
}

// Under set -e, a compound command (if, case, for, while, { }) whose
// status is non-zero only because its last command was an && or || list
// (or a negated command) that failed, does not make the shell exit:
//
//	set -e; if true; then which restorecon >/dev/null && restorecon x; fi; echo still here
//
// The interpreter exits there. fixErrexit turns each such compound
// statement S into "! S; ! __native_return $?": negated, the compound is
// exempt from set -e while the commands inside it are not, and the
// second statement restores its status (as 0 or 1) for $? and for a
// function ending with it. Only compounds that can end that way are
// rewritten, and none holding return, break or continue (the negation
// would invert the status they carry out).
func fixErrexit(f *syntax.File) error {
	restore, err := syntax.NewParser().Parse(strings.NewReader("! __native_return $?\n"), "")
	if err != nil || len(restore.Stmts) != 1 {
		return fmt.Errorf("errexit rewrite: %v", err)
	}
	fix := func(stmts []*syntax.Stmt) []*syntax.Stmt {
		var out []*syntax.Stmt
		changed := false
		for _, st := range stmts {
			out = append(out, st)
			if st.Negated || st.Background || st.Coprocess || !isCompound(st.Cmd) || !mayEndIgnored(st.Cmd) || hasJump(st.Cmd) {
				continue
			}
			st.Negated = true
			r := *restore.Stmts[0]
			out = append(out, &r)
			changed = true
		}
		if !changed {
			return stmts
		}
		return out
	}
	syntax.Walk(f, func(n syntax.Node) bool {
		switch x := n.(type) {
		case *syntax.File:
			x.Stmts = fix(x.Stmts)
		case *syntax.Block:
			x.Stmts = fix(x.Stmts)
		case *syntax.Subshell:
			x.Stmts = fix(x.Stmts)
		case *syntax.IfClause:
			x.Then = fix(x.Then)
		case *syntax.CaseItem:
			x.Stmts = fix(x.Stmts)
		case *syntax.WhileClause:
			x.Do = fix(x.Do)
		case *syntax.ForClause:
			x.Do = fix(x.Do)
		case *syntax.CmdSubst:
			x.Stmts = fix(x.Stmts)
		}
		return true
	})
	return nil
}

func isCompound(c syntax.Command) bool {
	switch c.(type) {
	case *syntax.IfClause, *syntax.CaseClause, *syntax.ForClause, *syntax.WhileClause, *syntax.Block:
		return true
	}
	return false
}

// mayEndIgnored reports whether the compound's status can come from a
// command set -e ignores: a body ending in an && or || list, a negated
// command, or such a compound.
func mayEndIgnored(c syntax.Command) bool {
	endsIgnored := func(stmts []*syntax.Stmt) bool {
		if len(stmts) == 0 {
			return false
		}
		last := stmts[len(stmts)-1]
		if last.Negated {
			return true
		}
		if b, ok := last.Cmd.(*syntax.BinaryCmd); ok && (b.Op == syntax.AndStmt || b.Op == syntax.OrStmt) {
			return true
		}
		return isCompound(last.Cmd) && mayEndIgnored(last.Cmd)
	}
	switch x := c.(type) {
	case *syntax.IfClause:
		for ic := x; ic != nil; ic = ic.Else {
			if endsIgnored(ic.Then) {
				return true
			}
		}
	case *syntax.CaseClause:
		for _, it := range x.Items {
			if endsIgnored(it.Stmts) {
				return true
			}
		}
	case *syntax.ForClause:
		return endsIgnored(x.Do)
	case *syntax.WhileClause:
		return endsIgnored(x.Do)
	case *syntax.Block:
		return endsIgnored(x.Stmts)
	}
	return false
}

// hasJump reports whether return, break, continue or exit occur in c
// outside nested function definitions (the negation would invert the
// status "exit 0" leaves: nginx's postinst exits 0 inside such an if).
func hasJump(c syntax.Command) bool {
	found := false
	syntax.Walk(c, func(n syntax.Node) bool {
		if found {
			return false
		}
		switch x := n.(type) {
		case *syntax.FuncDecl:
			return false
		case *syntax.CallExpr:
			if len(x.Args) > 0 {
				switch x.Args[0].Lit() {
				case "return", "break", "continue", "exit":
					found = true
				}
			}
		}
		return true
	})
	return found
}

// The interpreter's read splits a line on IFS as if every IFS character
// were white space: with IFS='#', "# comment" gives an empty first field
// in the shell but not in the interpreter (update-shells reads /etc/shells
// this way). fixRead rewrites "read [-r] NAME..." into a raw read of the
// whole line and a split done by __native_split, which follows POSIX:
//
//	{ IFS= read [-r] __native_rl; __native_rs=$?; eval "$(__native_split NAME... -- "$__native_rl")"; __native_return $__native_rs; }
//
// with the original's assignments (IFS=...) on __native_split and its
// redirections on the block. Reads with other options are left alone.
func fixRead(f *syntax.File) error {
	var err error
	syntax.Walk(f, func(n syntax.Node) bool {
		st, ok := n.(*syntax.Stmt)
		if !ok || err != nil {
			return err == nil
		}
		call, ok := st.Cmd.(*syntax.CallExpr)
		if !ok || len(call.Args) < 2 || call.Args[0].Lit() != "read" {
			return true
		}
		raw := false
		var names []string
		for _, a := range call.Args[1:] {
			lit := a.Lit()
			switch {
			case lit == "-r":
				raw = true
			case lit == "" || strings.HasPrefix(lit, "-") || !syntax.ValidName(lit):
				return true // options, or words to expand: left alone
			default:
				names = append(names, lit)
			}
		}
		if len(names) == 0 {
			return true
		}
		r := ""
		if raw {
			r = "-r "
		}
		tmpl := "{ IFS= read " + r + "__native_rl; __native_rs=$?; eval \"$(__native_split " + strings.Join(names, " ") +
			" -- \"$__native_rl\")\"; __native_return $__native_rs; }\n"
		repl, perr := syntax.NewParser().Parse(strings.NewReader(tmpl), "")
		if perr != nil || len(repl.Stmts) != 1 {
			err = fmt.Errorf("read rewrite: %v", perr)
			return false
		}
		block := repl.Stmts[0].Cmd.(*syntax.Block)
		// The split command is inside the command substitution of the
		// eval: give it the original assignments.
		syntax.Walk(block, func(m syntax.Node) bool {
			if c, ok := m.(*syntax.CallExpr); ok && len(c.Args) > 0 && c.Args[0].Lit() == "__native_split" {
				c.Assigns = append(c.Assigns, call.Assigns...)
			}
			return true
		})
		st.Cmd = block
		return false
	})
	return err
}

func init() {
	internal["__native_split"] = command{fn: splitCmd}
}

// splitCmd prints shell assignments of the fields of a line, split on
// IFS as read(1) splits: IFS white space around delimiters is dropped,
// each non-white-space IFS character delimits a field (possibly empty),
// the last name gets the rest of the line less trailing IFS white space.
func splitCmd(c *cmd) error {
	args := c.args[1:]
	var names []string
	for len(args) > 0 && args[0] != "--" {
		names = append(names, args[0])
		args = args[1:]
	}
	if len(args) != 2 {
		return c.unsupported("split usage")
	}
	line := args[1]
	ifs := " \t\n"
	if v := c.env.Get("IFS"); v.IsSet() {
		ifs = v.String()
	}
	for i, v := range readSplit(line, ifs, len(names)) {
		fmt.Fprintf(c.stdout, "%s='%s'\n", names[i], strings.ReplaceAll(v, "'", `'\''`))
	}
	return nil
}

// readSplit splits line into n values as read does.
func readSplit(line, ifs string, n int) []string {
	isWS := func(b byte) bool { return strings.IndexByte(ifs, b) >= 0 && (b == ' ' || b == '\t' || b == '\n') }
	isDelim := func(b byte) bool { return strings.IndexByte(ifs, b) >= 0 && !isWS(b) }
	out := make([]string, n)
	i := 0
	for i < len(line) && isWS(line[i]) {
		i++
	}
	for k := 0; k < n; k++ {
		if k == n-1 {
			rest := line[i:]
			j := len(rest)
			for j > 0 && isWS(rest[j-1]) {
				j--
			}
			out[k] = rest[:j]
			break
		}
		start := i
		for i < len(line) && !isWS(line[i]) && !isDelim(line[i]) {
			i++
		}
		out[k] = line[start:i]
		// Skip one delimiter with the white space around it.
		for i < len(line) && isWS(line[i]) {
			i++
		}
		if i < len(line) && isDelim(line[i]) {
			i++
			for i < len(line) && isWS(line[i]) {
				i++
			}
		}
	}
	return out
}
