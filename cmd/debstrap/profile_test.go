package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/debstrap/debstrap/internal/testarchive"
)

// --profile=docker-slim: minbase, deb822 sources in place of
// sources.list, the container settings, slim's path excludes with the
// copyright files kept, no device nodes; an explicit --variant wins.
func TestProfile(t *testing.T) {
	h := newHarness(t, testarchive.Minimal())
	dir := t.TempDir()
	target := filepath.Join(dir, "slim.tar")
	h.build(t, target, "--profile=docker-slim")
	img := readImage(t, target)
	if _, ok := img.entries["var/lib/dpkg/info/nano.list"]; ok {
		t.Error("nano (important) is installed: the profile's variant is minbase")
	}
	if _, ok := img.entries["etc/apt/sources.list"]; ok {
		t.Error("/etc/apt/sources.list is there")
	}
	if got := string(img.entries["etc/apt/sources.list.d/debian.sources"].body); got != "Types: deb\nURIs: "+h.srv.URL+"\nSuites: stable\nComponents: main\n" {
		t.Errorf("debian.sources: %q", got)
	}
	for p, mode := range map[string]int64{
		"usr/sbin/policy-rc.d":                          0o755,
		"etc/apt/apt.conf.d/docker-clean":               0o644,
		"etc/apt/apt.conf.d/docker-gzip-indexes":        0o644,
		"etc/apt/apt.conf.d/docker-no-languages":        0o644,
		"etc/apt/apt.conf.d/docker-autoremove-suggests": 0o644,
		"etc/dpkg/dpkg.cfg.d/docker-apt-speedup":        0o644,
		"etc/dpkg/dpkg.cfg.d/docker":                    0o644,
		"usr/share/doc/libc6/copyright":                 0o644,
	} {
		if e, ok := img.entries[p]; !ok || e.hdr.Mode != mode {
			t.Errorf("%s: mode %o, want %o", p, e.hdr.Mode, mode)
		}
	}
	if cfg := string(img.entries["etc/dpkg/dpkg.cfg.d/docker"].body); !strings.Contains(cfg, "# dpkg -S '/usr/share/doc/*'\n#  base-files ") || !strings.Contains(cfg, "\npath-exclude /usr/share/doc/*\n") {
		t.Errorf("dpkg.cfg.d/docker:\n%s", cfg)
	}
	for p := range img.entries {
		if strings.HasPrefix(p, "dev/") {
			t.Errorf("%s: the official image has no device nodes", p)
		}
	}
	h.build(t, filepath.Join(dir, "important.tar"), "--profile=docker", "--variant=important")
	if _, ok := readImage(t, filepath.Join(dir, "important.tar")).entries["var/lib/dpkg/info/nano.list"]; !ok {
		t.Error("--variant=important with --profile=docker: no nano")
	}
	r := h.run(t.Context(), "build", "--profile=docker", "bullseye", filepath.Join(dir, "x.tar"), h.srv.URL)
	if r.code != 2 || !strings.Contains(r.stderr, "--profile=docker: bullseye is older than bookworm") {
		t.Errorf("--profile=docker bullseye: %s", r)
	}
	r = h.run(t.Context(), "build", "--profile=slim", "stable", filepath.Join(dir, "x.tar"), h.srv.URL)
	if r.code != 2 || !strings.Contains(r.stderr, `--profile: no profile "slim": there are docker, docker-slim`) {
		t.Errorf("--profile=slim: %s", r)
	}
}
