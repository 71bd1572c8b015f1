package hooks

import (
	"archive/tar"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/debstrap/debstrap/rootfs"
)

func TestFromDir(t *testing.T) {
	dir := t.TempDir()
	for name, mode := range map[string]os.FileMode{
		"customize01.sh": 0o755, "setup00.sh": 0o755, "customize00": 0o755, "README": 0o644, "extract.sh": 0o755,
	} {
		os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"), mode)
	}
	hs, err := FromDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, h := range hs {
		got = append(got, string(h.Point)+" "+filepath.Base(strings.Fields(h.Command)[0]))
	}
	want := []string{"setup setup00.sh'", "extract extract.sh'", "customize customize00'", "customize customize01.sh'"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	os.WriteFile(filepath.Join(dir, "essential00"), nil, 0o644)
	if _, err := FromDir(dir); err == nil || !strings.Contains(err.Error(), "essential00 is not executable") {
		t.Errorf("a non-executable hook: %v", err)
	}
}

func TestSpecial(t *testing.T) {
	for _, c := range []struct {
		cmd     string
		special bool
		err     string
	}{
		{"copy-in a b /etc", true, ""},
		{"copy-in a", true, "two or more"},
		{"tar-in a.tar /", true, ""},
		{"tar-in a.tar", true, "takes 2 arguments, got 1"},
		{"sync-out /etc /tmp/x y", true, "takes 2 arguments, got 3"},
		{`chroot "$1" apt-get install -y curl`, false, ""},
		{"copy-inx a b", false, ""},
	} {
		_, _, ok := Special(c.cmd)
		err := CheckSpecial(c.cmd)
		if ok != c.special || (err == nil) != (c.err == "") || err != nil && !strings.Contains(err.Error(), c.err) {
			t.Errorf("%q: special %v, err %v", c.cmd, ok, err)
		}
	}
}

func TestEnvVars(t *testing.T) {
	v := Env{Mode: "unshare", Suite: "bookworm", Variant: "minbase", Include: []string{"curl", "less"}}.vars(Customize)
	for _, want := range []string{"DEBSTRAP_HOOK=customize", "MMDEBSTRAP_MODE=unshare", "DEBSTRAP_INCLUDE=curl,less", "MMDEBSTRAP_SUITE=bookworm"} {
		if !slices.Contains(v, want) {
			t.Errorf("no %s in %v", want, v)
		}
	}
}

// tar-out of the whole root names it "./", its entries "./etc/…", owners
// from the table.
func TestTarOutRoot(t *testing.T) {
	st, err := rootfs.Create(filepath.Join(t.TempDir(), "root"), rootfs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.MkdirAll("/etc", rootfs.Entry{Mode: 0o755}); err != nil {
		t.Fatal(err)
	}
	if err := st.WriteFile("/etc/shadow", []byte("x"), rootfs.Entry{Mode: 0o640, Gid: 42}); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out.tar")
	if err := runSpecial(st, "tar-out", []string{"/", out}); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	var names []string
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		names = append(names, fmt.Sprintf("%s %o %d:%d", h.Name, h.Mode, h.Uid, h.Gid))
	}
	want := []string{"./ 755 0:0", "./etc/ 755 0:0", "./etc/shadow 640 0:42"}
	if !slices.Equal(names, want) {
		t.Errorf("tar-out /: %q, want %q", names, want)
	}
}
