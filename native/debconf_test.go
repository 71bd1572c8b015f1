package native

import (
	"strings"
	"testing"
)

// Select questions store the untranslated value (Choices-C) and the
// accessors fall back as Debconf::Template's do. The expected output is
// what debconf 1.5.82's noninteractive frontend gave for the same
// templates and script (DEBCONF_NONINTERACTIVE_SEEN=true, C locale).
func TestDebconfChoicesC(t *testing.T) {
	st := newStage(t)
	put(t, st, map[string]string{"/usr/share/debconf/confmodule": "#"})
	templates := `Template: tq/style
Type: select
Choices-C: hintnone, hintslight, hintmedium
Choices: None, Slight, Medium
Choices-de.UTF-8: keine, gering, mittel
Default: hintslight
Description: style ${v}

Template: tq/bad
Type: select
Choices-C: a, b
Choices: A, B
Default: B
Description: bad

Template: tq/multi
Type: multiselect
Choices-C: m1, m2, m3
Choices: M1, M2, M3
Default: m2, M3, zz
Description: multi

Template: tq/nodef
Type: string
Description: nodef ${v}
`
	script := `#!/bin/sh
set -e
. /usr/share/debconf/confmodule
db_subst tq/style v VV
db_input high tq/style || true
db_input high tq/bad || true
db_input high tq/multi || true
db_go || true
for q in tq/style tq/bad tq/multi; do db_get $q; echo "get $q=$RET"; done
db_metaget tq/style choices; echo "mc=$RET"
db_metaget tq/style choices-c; echo "mcc=$RET"
db_metaget tq/bad choices-de; echo "mcde=$RET"
db_metaget tq/style description; echo "md=$RET"
db_metaget tq/style default; echo "mdef=$RET"
db_metaget tq/style nosuch && echo "mnosuch=[$RET]" || echo "mnosuch fail $?"
db_metaget tq/style owners; echo "mown=$RET"
db_metaget tq/style value; echo "mval=$RET"
db_metaget tq/nodef value; echo "mval2=[$RET]"
db_reset tq/nodef; db_get tq/nodef; echo "reset=[$RET]"
db_set tq/style Medium; db_fset tq/style seen false; db_input high tq/style || true; db_go; db_get tq/style; echo "after=$RET"
`
	p := control("Package: tq\nVersion: 1\nArchitecture: all\n", map[string]string{
		"templates": templates,
		"postinst":  strings.ReplaceAll(script, "echo ", "echo >>/etc/out "),
	})
	s := testSys(t, st, p)
	if err := s.runMaintScript(t.Context(), s.byName["tq"], "postinst", "configure", ""); err != nil {
		t.Fatal(err)
	}
	want := `get tq/style=hintslight
get tq/bad=a
get tq/multi=m2, M3, zz
mc=None, Slight, Medium
mcc=hintnone, hintslight, hintmedium
mcde=A, B
md=style VV
mdef=hintslight
mnosuch=[]
mown=tq
mval=hintslight
mval2=[]
reset=[]
after=hintnone
`
	if got := get(t, st, "/etc/out"); got != want {
		t.Errorf("output:\n%s\nwant\n%s", got, want)
	}
	cfg := string(formatDebconf(s.debconf.config))
	for _, w := range []string{
		"Name: tq/bad\nTemplate: tq/bad\nValue: a\nOwners: tq\nFlags: seen\n",
		"Name: tq/multi\nTemplate: tq/multi\nValue: m2, M3, zz\nOwners: tq\nFlags: seen\n",
		"Name: tq/nodef\nTemplate: tq/nodef\nValue: \nOwners: tq\n\n",
		"Name: tq/style\nTemplate: tq/style\nValue: hintnone\nOwners: tq\nFlags: seen\nVariables:\n v = VV\n",
	} {
		if !strings.Contains(cfg, w) {
			t.Errorf("config.dat lacks\n%s\nin\n%s", w, cfg)
		}
	}
}

// TestDebconfShellEffects: the confmodule functions leave the shell as
// debconf's own do (checked with dash and debconf 1.5.82's confmodule):
// IFS, unset before, comes back set and empty, so that a later $(…) is
// not split (ucf's hashfile rotation loop then runs once, on one word);
// the words are joined by spaces whatever IFS is.
func TestDebconfShellEffects(t *testing.T) {
	st := newStage(t)
	put(t, st, map[string]string{"/usr/share/debconf/confmodule": "#"})
	script := `#!/bin/sh
unset IFS
. /usr/share/debconf/confmodule
for i in $(printf '1 2'); do echo "before [$i]"; done
db_get tq/x || true
echo "IFS set: ${IFS+yes} [${IFS}]"
for i in $(printf '1 2'); do echo "after [$i]"; done
IFS=,
db_set tq/x a b
echo "IFS now [$IFS]"
db_get tq/x; echo "got [$RET]"
db_text high tq/x; echo "text $?"
`
	p := control("Package: tq\nVersion: 1\nArchitecture: all\n", map[string]string{
		"templates": "Template: tq/x\nType: string\nDescription: x\n",
		"postinst":  strings.ReplaceAll(script, "echo ", "echo >>/etc/out "),
	})
	s := testSys(t, st, p)
	if err := s.runMaintScript(t.Context(), s.byName["tq"], "postinst", "configure", ""); err != nil {
		t.Fatal(err)
	}
	want := "before [1]\nbefore [2]\nIFS set: yes []\nafter [1 2]\nIFS now [,]\ngot [a b]\ntext 30\n" // 30: not shown (noninteractive)
	if got := get(t, st, "/etc/out"); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}
