package native

import (
	"bytes"
	"strings"
	"testing"

	"mvdan.cc/sh/v3/syntax"
)

// FuzzRewrite checks that the script rewriter (fixProcSubst, makeLazy,
// fixRead, fixErrexit) never panics on a script the parser accepts, and
// leaves an AST the printer can print.
func FuzzRewrite(f *testing.F) {
	for _, seed := range []string{
		"set -e; if true; then false && true; fi",
		`X=${Y:+$(realpath "$Y")}; Z=${U-$(echo d)}`,
		"while IFS='#' read -r a b; do :; done < /etc/shells",
		"cat <(echo x) < <(printf 'a\\n'); diff <(a) <(b <(c))",
		"echo > >(cat)",
		"f() { case $1 in a) ! x || y;; esac; }; { false || true; } &",
		"x=$(for i in 1; do read v; done)",
		"read",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, src string) {
		if checkNesting([]byte(src)) != nil {
			return
		}
		prog, err := syntax.NewParser(syntax.Variant(syntax.LangBash)).Parse(strings.NewReader(src), "fuzz")
		if err != nil {
			return
		}
		if err := rewrite(prog); err != nil {
			return
		}
		var out bytes.Buffer
		if err := syntax.NewPrinter().Print(&out, prog); err != nil {
			t.Fatalf("printing the rewritten %q: %v", src, err)
		}
	})
}
