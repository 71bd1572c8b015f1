package apt

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/debstrap/debstrap/distro"
)

func TestParseMirror(t *testing.T) {
	for _, tc := range []struct {
		arg  string
		want Entry
		err  string
	}{
		{arg: "http://mirror.invalid/debian/", want: Entry{URI: "http://mirror.invalid/debian", Suite: "bookworm", Components: []string{"main"}}},
		{arg: "deb http://mirror.invalid/debian bookworm-updates main contrib", want: Entry{URI: "http://mirror.invalid/debian", Suite: "bookworm-updates", Components: []string{"main", "contrib"}}},
		{arg: "deb [arch=amd64 signed-by=/k.gpg] file:///srv/mirror trixie main", want: Entry{URI: "file:///srv/mirror", Suite: "trixie", Components: []string{"main"}, Options: map[string]string{"arch": "amd64", "signed-by": "/k.gpg"}}},
		{arg: "ftp://mirror.invalid/debian", err: `unsupported scheme "ftp"`},
		{arg: "deb http://mirror.invalid", err: "want \"deb URI SUITE"},
		{arg: "/no/such/file", err: "not a URL"},
	} {
		t.Run(tc.arg, func(t *testing.T) {
			got, err := ParseMirror(tc.arg, "bookworm", []string{"main"})
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %v, want error with %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || !reflect.DeepEqual(got[0], tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestHostEntriesAndDefaultMirror(t *testing.T) {
	root := t.TempDir()
	d := filepath.Join(root, "etc/apt/sources.list.d")
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name, s string) {
		if err := os.WriteFile(filepath.Join(d, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("debian.sources", `Types: deb
URIs: http://security.invalid/debian-security
Suites: bookworm-security
Components: main

Types: deb deb-src
URIs: http://mirror.invalid/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
Enabled: no
URIs: http://disabled.invalid/
Suites: bookworm
Components: main
`)
	write("other.list", "# comment\ndeb-src http://src.invalid/ x main\ndeb http://thirdparty.invalid/apt nodistro main\n")
	entries, err := HostEntries(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 4 {
		t.Fatalf("got %d entries: %+v", len(entries), entries)
	}
	got, err := DefaultMirror("trixie", []string{"main"}, "", root, false)
	if err != nil {
		t.Fatal(err)
	}
	if got[0].URI != "http://mirror.invalid/debian" || got[0].Suite != "trixie" {
		t.Errorf("default mirror = %+v", got)
	}
	_, err = DefaultMirror("noble", []string{"main"}, "", root, false)
	if err == nil || !strings.Contains(err.Error(), "no ubuntu archive") || !strings.Contains(err.Error(), "DEBSTRAP_MIRROR") {
		t.Errorf("noble on a Debian host: %v", err)
	}
	got, err = DefaultMirror("noble", []string{"main"}, "http://ubuntu.invalid/ubuntu", root, false)
	if err != nil || got[0].URI != "http://ubuntu.invalid/ubuntu" {
		t.Errorf("env override: %+v %v", got, err)
	}
}

// A stable suite gets its -updates and security suites by default: from
// the host's sources, which name the security archive's own URL, or
// derived from the mirror as mmdebstrap derives them.
func TestDefaultMirrorPockets(t *testing.T) {
	root := t.TempDir()
	d := filepath.Join(root, "etc/apt/sources.list.d")
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d, "debian.sources"), []byte(`Types: deb
URIs: http://mirror.invalid/debian
Suites: bookworm bookworm-updates
Components: main

Types: deb
URIs: http://security.invalid/debian-security
Suites: bookworm-security
Components: main
`), 0o644); err != nil {
		t.Fatal(err)
	}
	lines := func(es []Entry) []string {
		var out []string
		for _, e := range es {
			s := e.String()
			if e.Optional {
				s += " (optional)"
			}
			out = append(out, s)
		}
		return out
	}
	for _, tc := range []struct {
		name, suite, env string
		pockets          bool
		want             []string
	}{
		{"host", "bookworm", "", true, []string{
			"deb http://mirror.invalid/debian bookworm main",
			"deb http://mirror.invalid/debian bookworm-updates main (optional)",
			"deb http://security.invalid/debian-security bookworm-security main (optional)",
		}},
		{"host, other release", "trixie", "", true, []string{
			"deb http://mirror.invalid/debian trixie main",
			"deb http://mirror.invalid/debian trixie-updates main (optional)",
			"deb http://security.invalid/debian-security trixie-security main (optional)",
		}},
		{"host, old security layout", "buster", "", true, []string{
			"deb http://mirror.invalid/debian buster main",
			"deb http://mirror.invalid/debian buster-updates main (optional)",
			"deb http://security.invalid/debian-security buster/updates main (optional)",
		}},
		{"off", "bookworm", "", false, []string{"deb http://mirror.invalid/debian bookworm main"}},
		{"sid has none", "sid", "", true, []string{"deb http://mirror.invalid/debian sid main"}},
		{"testing has none", "testing", "", true, []string{"deb http://mirror.invalid/debian testing main"}},
		{"env bare URL", "stable", "http://env.invalid/debian/", true, []string{
			"deb http://env.invalid/debian stable main",
			"deb http://env.invalid/debian stable-updates main (optional)",
			"deb http://env.invalid/debian-security stable-security main (optional)",
		}},
		{"env ubuntu", "noble", "http://env.invalid/ubuntu", true, []string{
			"deb http://env.invalid/ubuntu noble main",
			"deb http://env.invalid/ubuntu noble-updates main (optional)",
			"deb http://env.invalid/ubuntu noble-security main (optional)",
		}},
		{"env entry is taken as given", "bookworm", "deb http://env.invalid/debian bookworm main", true, []string{
			"deb http://env.invalid/debian bookworm main",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DefaultMirror(tc.suite, []string{"main"}, tc.env, root, tc.pockets)
			if err != nil {
				t.Fatal(err)
			}
			if g := lines(got); !reflect.DeepEqual(g, tc.want) {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(g, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

func TestSecurityURI(t *testing.T) {
	for _, tc := range []struct{ mirror, distro, want string }{
		{"http://mirror.invalid/debian", "debian", "http://mirror.invalid/debian-security"},
		{"http://mirror.invalid/debian/", "debian", "http://mirror.invalid/debian-security"},
		{"http://mirror.invalid/pub/linux/debian", "debian", "http://mirror.invalid/pub/linux/debian-security"},
		{"http://mirror.invalid", "debian", "http://mirror.invalid/debian-security"},
		{"file:///srv/mirror/debian", "debian", "file:///srv/mirror/debian-security"},
		{"http://mirror.invalid/ubuntu", "ubuntu", "http://mirror.invalid/ubuntu"},
	} {
		if got := SecurityURI(tc.mirror, distro.Distribution(tc.distro)); got != tc.want {
			t.Errorf("SecurityURI(%q, %s) = %q, want %q", tc.mirror, tc.distro, got, tc.want)
		}
	}
}
