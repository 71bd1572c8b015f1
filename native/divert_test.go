package native

import (
	"testing"

	"github.com/debstrap/debstrap/internal/testarchive"
)

// dpkg-divert --rename leaves alone a file the diverting package ships
// itself (dpkg's diversion_is_owned_by_self: vim-runtime's help.txt,
// postgresql-common's pg_config went missing), renames another
// package's, warns for an Essential one's and refuses to overwrite an
// existing destination. The output is dpkg-divert 1.21.22's for the same
// file lists and calls (run with --root on a copy).
func TestDivertRenameOwnFile(t *testing.T) {
	pre := `#!/bin/sh
set -e
dpkg-divert --package vimrt --rename --divert /usr/share/vim/doc/help.txt.orig --add /usr/share/vim/doc/help.txt >> /out
dpkg-divert --rename --divert /usr/share/vim/doc/help.txt.orig --add /usr/share/vim/doc/help.txt >> /out
dpkg-divert --package other --rename --divert /usr/bin/tool.real --add /usr/bin/tool >> /out 2>> /err
if dpkg-divert --package other --rename --divert /usr/bin/occ.d --add /usr/bin/occ >> /out 2>> /err; then echo accepted >> /out; fi
`
	base := toolbox("dpkg-divert")
	base.Files = append(base.Files,
		testarchive.File{Path: "usr/bin/tool", Mode: 0o755, Body: []byte("tool")},
		testarchive.File{Path: "usr/bin/occ", Mode: 0o755, Body: []byte("o")},
		testarchive.File{Path: "usr/bin/occ.d", Mode: 0o755, Body: []byte("o2")})
	vim := testarchive.Deb{Name: "vimrt", Version: "1", Architecture: "all",
		Files:   []testarchive.File{{Path: "usr/share/vim/doc/help.txt", Mode: 0o644, Body: []byte("help")}},
		Scripts: map[string]string{"preinst": pre}}
	in := unpack(t, base, vim)
	if rep := in.configure(t); len(rep.Failed) != 0 {
		t.Fatalf("failed %v", rep.Failed)
	}
	wantOut := `Adding 'diversion of /usr/share/vim/doc/help.txt to /usr/share/vim/doc/help.txt.orig by vimrt'
Ignoring request to rename file '/usr/share/vim/doc/help.txt' owned by diverting package 'vimrt'
Leaving 'diversion of /usr/share/vim/doc/help.txt to /usr/share/vim/doc/help.txt.orig by vimrt'
Adding 'diversion of /usr/bin/tool to /usr/bin/tool.real by other'
Adding 'diversion of /usr/bin/occ to /usr/bin/occ.d by other'
`
	if got := get(t, in.st, "/out"); got != wantOut {
		t.Errorf("output:\n%s\nwant\n%s", got, wantOut)
	}
	wantErr := `dpkg-divert: warning: diverting file '/usr/bin/tool' from an Essential package with rename is dangerous, use --no-rename
dpkg-divert: error: rename involves overwriting '/usr/bin/occ.d' with
  different file '/usr/bin/occ', not allowed
`
	if got := get(t, in.st, "/err"); got != wantErr {
		t.Errorf("stderr:\n%s\nwant\n%s", got, wantErr)
	}
	if got := get(t, in.st, "/usr/share/vim/doc/help.txt"); got != "help" {
		t.Errorf("help.txt %q", got)
	}
	if _, ok := in.st.Lookup("/usr/share/vim/doc/help.txt.orig"); ok {
		t.Error("help.txt.orig exists")
	}
	if got := get(t, in.st, "/usr/bin/tool.real"); got != "tool" {
		t.Errorf("tool.real %q", got)
	}
	if _, ok := in.st.Lookup("/usr/bin/tool"); ok {
		t.Error("/usr/bin/tool still there")
	}
	if got := get(t, in.st, "/usr/bin/occ"); got != "o" {
		t.Errorf("occ %q", got)
	}
	divs := get(t, in.st, "/var/lib/dpkg/diversions")
	if want := "/usr/share/vim/doc/help.txt\n/usr/share/vim/doc/help.txt.orig\nvimrt\n/usr/bin/tool\n/usr/bin/tool.real\nother\n"; divs != want {
		t.Errorf("diversions:\n%s\nwant\n%s", divs, want)
	}
}
