package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/debstrap/debstrap/internal/testarchive"
)

// --dpkgopt's path filters apply while unpacking, the dpkg database kept
// as dpkg keeps it; --aptopt and --dpkgopt land in the image's config,
// and apt's Install-Recommends steers the set.
func TestAptDpkgOpt(t *testing.T) {
	h := newHarness(t, testarchive.Minimal())
	dir := t.TempDir()
	aptFile := filepath.Join(dir, "apt.conf")
	os.WriteFile(aptFile, []byte("Acquire::Languages \"none\";"), 0o644)
	target := filepath.Join(dir, "image.tar")
	h.build(t, target, "--include=nano",
		"--dpkgopt=path-exclude=/usr/share/doc/*", "--dpkgopt=path-include=/usr/share/doc/nano/*",
		`--aptopt=APT::Install-Recommends "true"`, "--aptopt="+aptFile)
	img := readImage(t, target)
	if _, ok := img.entries["usr/share/doc/mawk/copyright"]; ok {
		t.Error("path-exclude: /usr/share/doc/mawk/copyright was unpacked")
	}
	if _, ok := img.entries["usr/share/doc/mawk"]; ok {
		t.Error("path-exclude: /usr/share/doc/mawk was made")
	}
	if _, ok := img.entries["usr/share/doc/nano/copyright"]; !ok {
		t.Error("path-include: /usr/share/doc/nano/copyright is missing")
	}
	if list := string(img.entries["var/lib/dpkg/info/mawk.list"].body); !strings.Contains(list, "/usr/share/doc/mawk/copyright\n") {
		t.Errorf("mawk.list lost the filtered path, as dpkg does not:\n%s", list)
	}
	if got := string(img.entries["etc/dpkg/dpkg.cfg.d/99debstrap"].body); got != "path-exclude=/usr/share/doc/*\npath-include=/usr/share/doc/nano/*\n" {
		t.Errorf("99debstrap (dpkg): %q", got)
	}
	if got := string(img.entries["etc/apt/apt.conf.d/99debstrap"].body); got != "APT::Install-Recommends \"true\";\nAcquire::Languages \"none\";\n" {
		t.Errorf("99debstrap (apt): %q", got)
	}
	if _, ok := img.entries["var/lib/dpkg/info/hello.list"]; !ok {
		t.Error(`APT::Install-Recommends "true": nano's Recommends (hello) is not installed`)
	}
	if _, ok := img.entries["dev/null"]; !ok {
		t.Error("no /dev/null")
	}
	h.build(t, filepath.Join(dir, "nodev.tar"), "--skip=output/dev")
	if _, ok := readImage(t, filepath.Join(dir, "nodev.tar")).entries["dev/null"]; ok {
		t.Error("--skip=output/dev: /dev/null is there")
	}
	r := h.run(t.Context(), "build", "--skip=cleanup/mmdebstrap", "stable", filepath.Join(dir, "x.tar"), h.srv.URL)
	if r.code != 2 || !strings.Contains(r.stderr, "--skip=cleanup/mmdebstrap: debstrap knows output/dev") {
		t.Errorf("unknown --skip: %s", r)
	}
}
