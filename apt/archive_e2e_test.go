//go:build e2e

// Live check against real mirrors (network needed):
//
//	go test -tags e2e -run TestLive -v ./apt/
//
// Mirrors are configuration, never written here: DEBSTRAP_DEBIAN_MIRROR, or
// the URIs of the host's /etc/apt/sources.list.d/debian.sources;
// DEBSTRAP_UBUNTU_MIRROR, or debootstrap's own default for Ubuntu.
package apt

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/debstrap/debstrap/cache"
	"github.com/debstrap/debstrap/keyring"
)

// debianMirror returns the mirror of the host's debian.sources entry whose
// Suites include one ending in suffix ("" for the main archive,
// "-security" for the security archive), or DEBSTRAP_DEBIAN_MIRROR /
// DEBSTRAP_DEBIAN_SECURITY_MIRROR.
func debianMirror(t *testing.T, suffix string) string {
	env := "DEBSTRAP_DEBIAN_MIRROR"
	if suffix != "" {
		env = "DEBSTRAP_DEBIAN_SECURITY_MIRROR"
	}
	if m := os.Getenv(env); m != "" {
		return m
	}
	b, err := os.ReadFile("/etc/apt/sources.list.d/debian.sources")
	if err != nil {
		t.Skipf("no Debian mirror: set %s (%v)", env, err)
	}
	for _, stanza := range strings.Split(string(b), "\n\n") {
		var uri string
		match := false
		sc := bufio.NewScanner(strings.NewReader(stanza))
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "URIs:"); ok && len(strings.Fields(v)) > 0 {
				uri = strings.Fields(v)[0]
			}
			if v, ok := strings.CutPrefix(sc.Text(), "Suites:"); ok {
				for _, s := range strings.Fields(v) {
					if (suffix == "" && !strings.Contains(s, "-")) || (suffix != "" && strings.HasSuffix(s, suffix)) {
						match = true
					}
				}
			}
		}
		if match && uri != "" {
			return uri
		}
	}
	t.Skipf("no matching entry in debian.sources: set %s", env)
	return ""
}

func ubuntuMirror(t *testing.T) string {
	if m := os.Getenv("DEBSTRAP_UBUNTU_MIRROR"); m != "" {
		return m
	}
	// Let debootstrap's suite script say which mirror it would use.
	cmd := exec.Command("sh", "-c", `default_mirror() { echo "$1"; }; . /usr/share/debootstrap/scripts/gutsy`)
	cmd.Env = append(os.Environ(), "ARCH=amd64", "SUITE=noble")
	out, _ := cmd.Output()
	if m := strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0]); m != "" {
		return m
	}
	t.Skip("no Ubuntu mirror: set DEBSTRAP_UBUNTU_MIRROR or install debootstrap")
	return ""
}

func TestLive(t *testing.T) {
	deb, err := keyring.Debian()
	if err != nil {
		t.Fatal(err)
	}
	ubu, err := keyring.Ubuntu()
	if err != nil {
		t.Fatal(err)
	}
	dir := os.Getenv("DEBSTRAP_E2E_CACHE")
	if dir == "" {
		dir = t.TempDir()
	}
	c, err := cache.New(cache.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	for _, src := range []Source{
		{Mirror: debianMirror(t, ""), Suite: "bookworm", Components: []string{"main"}, Architectures: []string{"amd64"}, Keyring: deb},
		{Mirror: debianMirror(t, "-security"), Suite: "bookworm-security", Components: []string{"main"}, Architectures: []string{"amd64"}, Keyring: deb},
		{Mirror: debianMirror(t, ""), Suite: "trixie", Components: []string{"main"}, Architectures: []string{"amd64"}, Keyring: deb},
		{Mirror: ubuntuMirror(t), Suite: "noble", Components: []string{"main", "universe"}, Architectures: []string{"amd64"}, Keyring: ubu},
	} {
		t.Run(src.Suite, func(t *testing.T) {
			ctx := context.Background()
			start := time.Now()
			a, err := Open(ctx, c, src, OpenOptions{})
			if err != nil {
				t.Fatal(err)
			}
			r := a.Release()
			t.Logf("%s: Suite=%s Codename=%s Date=%s Valid-Until=%s by-hash=%v signer=%s (%v)",
				a.ReleaseURL(), r.Suite, r.Codename, r.Date, r.ValidUntil, r.AcquireByHash, r.Signer, time.Since(start))
			for _, comp := range src.Components {
				for _, arch := range src.Architectures {
					start := time.Now()
					pkgs, err := a.Packages(ctx, comp, arch)
					if err != nil {
						t.Fatal(err)
					}
					all := 0
					for _, p := range pkgs {
						if p.Architecture == "all" {
							all++
						}
					}
					t.Logf("%s/binary-%s: %d stanzas (%d arch:all) in %v", comp, arch, len(pkgs), all, time.Since(start))
					if len(pkgs) < 1000 || all == 0 {
						t.Errorf("%s/binary-%s: suspiciously few packages", comp, arch)
					}
				}
			}
		})
	}
}
