package bootstrap

import (
	"archive/tar"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/debstrap/debstrap/cache"
	"github.com/debstrap/debstrap/internal/testarchive"
)

// pocketArchives writes, under one directory, a Debian mirror ("debian":
// stable and stable-updates) and its security archive ("debian-security":
// stable-security), laid out as Debian's own mirrors are, and returns the
// directory. stable-updates has a newer nano, stable-security a newer libc6.
func pocketArchives(t *testing.T, withUpdates, withSecurity bool) string {
	t.Helper()
	top := t.TempDir()
	newer := func(name, version string) []testarchive.Deb {
		for _, d := range testarchive.MinimalDebs() {
			if d.Name == name {
				d.Version = version
				return []testarchive.Deb{d}
			}
		}
		t.Fatalf("no %s in MinimalDebs", name)
		return nil
	}
	main := testarchive.Minimal()
	if withUpdates {
		main.Suites = append(main.Suites, testarchive.Suite{
			Name: "stable-updates", Codename: "bookworm-updates",
			Packages: map[string][]testarchive.Deb{"main": newer("nano", "7.2-1+deb12u2")},
		})
	}
	if _, err := testarchive.Write(filepath.Join(top, "debian"), main); err != nil {
		t.Fatal(err)
	}
	if withSecurity {
		sec := testarchive.Archive{Suites: []testarchive.Suite{{
			Name: "stable-security", Codename: "bookworm-security", Label: "Debian-Security",
			Packages: map[string][]testarchive.Deb{"main": newer("libc6", "2.36-9+deb12u9")},
		}}}
		if _, err := testarchive.Write(filepath.Join(top, "debian-security"), sec); err != nil {
			t.Fatal(err)
		}
	}
	return top
}

func pocketConfig(t *testing.T) Config {
	key, err := testarchive.DefaultKey()
	if err != nil {
		t.Fatal(err)
	}
	return Config{
		Suite:         "stable",
		Architectures: []string{"amd64"},
		Keyring:       key.WriteKeyring(t, t.TempDir()),
		Variant:       "important",
		HostRoot:      t.TempDir(),
	}
}

// A stable suite given as a bare file:// URL gets its -updates suite from
// the same mirror and its security suite from the sibling debian-security
// tree, and the newer versions there win; --no-updates leaves them out.
func TestResolvePockets(t *testing.T) {
	top := pocketArchives(t, true, true)
	for _, tc := range []struct {
		name        string
		noUpdates   bool
		nano, libc6 string
		suites      []string
	}{
		{"default", false, "7.2-1+deb12u2", "2.36-9+deb12u9", []string{"stable", "stable-updates", "stable-security"}},
		{"--no-updates", true, "7.2-1+deb12u1", "2.36-9+deb12u4", []string{"stable"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := cache.New(cache.Options{Dir: t.TempDir(), Retries: -1})
			if err != nil {
				t.Fatal(err)
			}
			cfg := pocketConfig(t)
			cfg.Mirrors = []string{"file://" + filepath.Join(top, "debian")}
			cfg.NoUpdates = tc.noUpdates
			plan, err := Resolve(t.Context(), c, cfg)
			if err != nil {
				t.Fatal(err)
			}
			var suites []string
			for _, e := range plan.Entries {
				suites = append(suites, e.Suite)
			}
			if strings.Join(suites, " ") != strings.Join(tc.suites, " ") {
				t.Errorf("suites %v, want %v", suites, tc.suites)
			}
			got := map[string]string{}
			for _, p := range plan.Packages {
				got[p.Name] = p.Version
			}
			if got["nano"] != tc.nano || got["libc6"] != tc.libc6 {
				t.Errorf("nano %s, libc6 %s; want %s, %s", got["nano"], got["libc6"], tc.nano, tc.libc6)
			}
		})
	}
}

// Without MIRROR the host's sources give the mirror and the security
// archive's own URL; the image's sources.list lists the same three sources.
func TestBuildDefaultPocketsFromHost(t *testing.T) {
	top := pocketArchives(t, true, true)
	cfg := pocketConfig(t)
	list := "deb file://" + top + "/debian bookworm main\n" +
		"deb file://" + top + "/debian bookworm-updates main\n" +
		"deb file://" + top + "/debian-security bookworm-security main\n"
	if err := os.MkdirAll(filepath.Join(cfg.HostRoot, "etc/apt"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cfg.HostRoot, "etc/apt/sources.list"), []byte(list), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg.Suite = "bookworm"
	c, err := cache.New(cache.Options{Dir: t.TempDir(), Retries: -1})
	if err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(t.TempDir(), "out.tar")
	res, err := Run(t.Context(), c, BuildConfig{Config: cfg, Target: target, TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range res.Plan.Packages {
		if (p.Name == "nano" && p.Version != "7.2-1+deb12u2") || (p.Name == "libc6" && p.Version != "2.36-9+deb12u9") {
			t.Errorf("%s %s: not the version of the pocket", p.Name, p.Version)
		}
	}
	if got := tarFile(t, target, "./etc/apt/sources.list"); got != list {
		t.Errorf("the image's sources.list:\n%s\nwant\n%s", got, list)
	}
}

// An added suite the archive lacks is left out (with a warning), not fatal.
func TestResolveMissingPocket(t *testing.T) {
	top := pocketArchives(t, false, false)
	c, err := cache.New(cache.Options{Dir: t.TempDir(), Retries: -1})
	if err != nil {
		t.Fatal(err)
	}
	cfg := pocketConfig(t)
	cfg.Mirrors = []string{"file://" + filepath.Join(top, "debian")}
	plan, err := Resolve(t.Context(), c, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Entries) != 1 || len(plan.Archives) != 1 || plan.Entries[0].Suite != "stable" {
		t.Errorf("entries %v", plan.Entries)
	}
	// A suite spelled out by the user is not optional.
	cfg.Mirrors = append(cfg.Mirrors, "deb file://"+top+"/debian stable-updates main")
	if _, err := Resolve(t.Context(), c, cfg); err == nil || !strings.Contains(err.Error(), "stable-updates") {
		t.Errorf("a missing suite given as MIRROR: err = %v", err)
	}
}

func tarFile(t *testing.T, p, name string) string {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("%s: no %s (%v)", p, name, err)
		}
		if h.Name == name {
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			return string(b)
		}
	}
}
