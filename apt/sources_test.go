package apt

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
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
	got, err := DefaultMirror("trixie", []string{"main"}, "", root)
	if err != nil {
		t.Fatal(err)
	}
	if got[0].URI != "http://mirror.invalid/debian" || got[0].Suite != "trixie" {
		t.Errorf("default mirror = %+v", got)
	}
	_, err = DefaultMirror("noble", []string{"main"}, "", root)
	if err == nil || !strings.Contains(err.Error(), "no ubuntu archive") || !strings.Contains(err.Error(), "DEBSTRAP_MIRROR") {
		t.Errorf("noble on a Debian host: %v", err)
	}
	got, err = DefaultMirror("noble", []string{"main"}, "http://ubuntu.invalid/ubuntu", root)
	if err != nil || got[0].URI != "http://ubuntu.invalid/ubuntu" {
		t.Errorf("env override: %+v %v", got, err)
	}
}
