package main

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/debstrap/debstrap/configure"
	"github.com/debstrap/debstrap/internal/testarchive"
	"github.com/debstrap/debstrap/rootfs"
)

type fakeExec struct{}

func (fakeExec) Name() string { return "root" }
func (fakeExec) Configure(context.Context, *rootfs.Stage, configure.Options) error {
	return nil
}

// TestAutoChoosesNative: --mode=auto runs the scripts only when the root
// has /bin/sh and dpkg; a distroless-style set (base-files, libc6) gets
// native mode, with the reason.
func TestAutoChoosesNative(t *testing.T) {
	st, err := rootfs.Create(filepath.Join(t.TempDir(), "root"), rootfs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	a := &autoStep{log: slog.New(slog.DiscardHandler), exec: &configureStep{c: fakeExec{}}, why: "running as root", native: nativeStep{}}
	if x, why := a.choose(st); x || !strings.Contains(why, "/bin/sh (from dash or bash) and /usr/bin/dpkg") {
		t.Errorf("empty root: exec %v because %q", x, why)
	}
	for _, d := range []string{"/usr/bin", "/bin"} {
		if err := st.MkdirAll(d, rootfs.Entry{Mode: 0o755}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.WriteFile("/bin/dash", []byte("sh"), rootfs.Entry{Mode: 0o755}); err != nil {
		t.Fatal(err)
	}
	if err := st.Symlink("dash", "/bin/sh", rootfs.Entry{Mode: 0o777}); err != nil {
		t.Fatal(err)
	}
	if x, why := a.choose(st); x || !strings.Contains(why, "no /usr/bin/dpkg (from dpkg)") || strings.Contains(why, "/bin/sh") {
		t.Errorf("root without dpkg: exec %v because %q", x, why)
	}
	if err := st.WriteFile("/usr/bin/dpkg", []byte("dpkg"), rootfs.Entry{Mode: 0o755}); err != nil {
		t.Fatal(err)
	}
	if x, why := a.choose(st); !x || why != "running as root" {
		t.Errorf("root with sh and dpkg: exec %v because %q", x, why)
	}
	a.exec, a.cannot = nil, "no user namespaces"
	if x, why := a.choose(st); x || !strings.Contains(why, "no user namespaces") {
		t.Errorf("no way to exec: exec %v because %q", x, why)
	}
}

// TestAutoCustomSet builds base-files and libc6 alone in auto mode: it
// must configure natively (before: fork/exec /bin/sh as root) and say so.
func TestAutoCustomSet(t *testing.T) {
	h := newHarness(t, testarchive.Minimal())
	target := filepath.Join(t.TempDir(), "x.tar")
	r := cli(t.Context(), "build", "--keyring="+h.keyring, "--cache-dir="+h.cache, "--architectures=amd64",
		"--mode=auto", "--variant=custom", "--include=base-files,libc6", "stable", target, h.srv.URL)
	want(t, r, 0, nil, []string{"--mode=auto chose native", "reason="})
}
