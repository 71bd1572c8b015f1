package spec

import (
	"flag"
	"slices"
	"strings"
	"testing"
)

type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(s string) error { *l = append(*l, s); return nil }
func (l *list) Repeatable() bool   { return true }

func TestApply(t *testing.T) {
	f, err := Parse("t.yaml", []byte("suite: bookworm\nvariant: minbase\ninclude: [curl, jq]\ninclude-recommends: true\nmode: unshare\n"))
	if err != nil {
		t.Fatal(err)
	}
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	variant := fs.String("variant", "important", "")
	var include list
	fs.Var(&include, "include", "")
	rec := fs.Bool("include-recommends", false, "")
	set, err := f.Apply(fs, map[string]bool{"variant": true}, func(k string) bool { return k == "mode" })
	if err != nil {
		t.Fatal(err)
	}
	if *variant != "important" || !slices.Equal(include, []string{"curl", "jq"}) || !*rec {
		t.Errorf("variant %q (the command line's must stay), include %v, recommends %v", *variant, include, *rec)
	}
	if !slices.Equal(set, []string{"include", "include-recommends"}) {
		t.Errorf("set %v", set)
	}
	if s, _ := f.String(KeySuite); s != "bookworm" {
		t.Errorf("suite %q", s)
	}
}

func TestSources(t *testing.T) {
	f, err := Parse("t.yaml", []byte(`sources:
  - http://m.invalid/debian
  - deb http://m.invalid/debian bookworm-updates main
  - uri: http://m.invalid/ubuntu
    suites: [noble, noble-updates]
    components: [main, universe]
    check-valid-until: false
    signed-by: /k.gpg
  - uri: http://m.invalid/x
`))
	if err != nil {
		t.Fatal(err)
	}
	got, err := f.Sources("noble")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"http://m.invalid/debian",
		"deb http://m.invalid/debian bookworm-updates main",
		"deb [check-valid-until=no signed-by=/k.gpg] http://m.invalid/ubuntu noble main universe",
		"deb [check-valid-until=no signed-by=/k.gpg] http://m.invalid/ubuntu noble-updates main universe",
		"deb http://m.invalid/x noble",
	}
	if !slices.Equal(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"- a\n- b\n", "t.yaml:1: want a mapping of keys"},
		{"a: 1\n---\nb: 2\n", "more than one YAML document"},
		{"a: 1\na: 2\n", "t.yaml:2: a given twice (first on line 1)"},
	} {
		if _, err := Parse("t.yaml", []byte(tc.in)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want %q", tc.in, err, tc.want)
		}
	}
}

type kvList struct{ list }

func (kvList) KeyValues() bool { return true }

type command struct{ v []string }

func (c *command) String() string     { return strings.Join(c.v, "|") }
func (c *command) Set(s string) error { c.v = append(c.v, s); return nil }
func (c *command) JSONList() bool     { return true }

// A KeyValues flag takes a mapping (or a list), a JSONList flag a list
// as one JSON array (or a string as it is).
func TestApplyImageKeys(t *testing.T) {
	for _, tt := range []struct {
		name, in  string
		label     []string
		cmd       []string
		wantError string
	}{
		{"mapping", "label:\n  org.example.team: infra\n  n: 1\n  yes: true\n  empty:\ncmd: [bash, -l]\n",
			[]string{"org.example.team=infra", "n=1", "yes=true", "empty="}, []string{`["bash","-l"]`}, ""},
		{"list and string", "label: [a=b, c=d]\ncmd: bash -l\n", []string{"a=b", "c=d"}, []string{"bash -l"}, ""},
		{"empty list", "cmd: []\n", nil, []string{`[]`}, ""},
		{"nested", "label:\n  a: [b]\n", nil, nil, "t.yaml:2: label: a: want a string, got a list"},
		{"list in list", "cmd: [a, [b]]\n", nil, nil, "t.yaml:1: cmd: want a list of strings, got a list in it"},
		{"mapping for cmd", "cmd: {a: b}\n", nil, nil, "t.yaml:1: cmd: want a string, got a mapping"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse("t.yaml", []byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			fs := flag.NewFlagSet("x", flag.ContinueOnError)
			var label kvList
			var cmd command
			fs.Var(&label, "label", "")
			fs.Var(&cmd, "cmd", "")
			_, err = f.Apply(fs, nil, func(string) bool { return false })
			if tt.wantError != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantError) {
					t.Fatalf("got %v, want %q", err, tt.wantError)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(label.list, tt.label) || !slices.Equal(cmd.v, tt.cmd) {
				t.Errorf("label %q cmd %q, want %q %q", label.list, cmd.v, tt.label, tt.cmd)
			}
		})
	}
}
