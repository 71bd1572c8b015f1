package bootstrap

import (
	"strings"
	"testing"

	"github.com/debstrap/debstrap/internal/testarchive"
)

// A foreign Multi-Arch: same package beside the native one (libc6:i386
// beside libc6:amd64) unpacks as a package of its own, with its own
// architecture-qualified dpkg file list; shared files are allowed.
func TestBuildForeignMultiArchSame(t *testing.T) {
	a := testarchive.Minimal()
	a.Suites[0].Architectures = []string{"amd64", "i386"}
	for _, d := range testarchive.MinimalDebs() {
		if d.Name == "libc6" {
			d.Architecture = "i386"
			a.Suites[0].Packages["main"] = append(a.Suites[0].Packages["main"], d)
		}
	}
	b := newTestBuild(t, "out.tar")
	b.srv.Update(a)
	b.cfg.Architectures = []string{"amd64", "i386"}
	b.cfg.Include = []string{"libc6:i386"}
	b.cfg.NoUpdates = true
	res, err := Run(t.Context(), b.cache, b.cfg)
	if err != nil {
		t.Fatal(err)
	}
	var libc []string
	for _, p := range res.Plan.Packages {
		if p.Name == "libc6" {
			libc = append(libc, p.Architecture)
		}
	}
	if strings.Join(libc, " ") != "amd64 i386" {
		t.Fatalf("libc6 architectures %v, want amd64 and i386", libc)
	}
	names := tarNames(t, b.cfg.Target)
	for _, n := range []string{"var/lib/dpkg/info/libc6:amd64.list", "var/lib/dpkg/info/libc6:i386.list"} {
		if names[n] == nil {
			t.Errorf("no %s in the image", n)
		}
	}
	status := tarFile(t, b.cfg.Target, "./var/lib/dpkg/status")
	if n := strings.Count(status, "Package: libc6\n"); n != 2 {
		t.Errorf("status has %d libc6 stanzas, want 2", n)
	}
	if arch := tarFile(t, b.cfg.Target, "./var/lib/dpkg/arch"); arch != "amd64\ni386\n" {
		t.Errorf("dpkg arch file %q", arch)
	}
}
