package mirror

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/debstrap/debstrap/apt"
	"github.com/debstrap/debstrap/bootstrap"
	"github.com/debstrap/debstrap/cache"
	"github.com/debstrap/debstrap/internal/testarchive"
)

type fixture struct {
	srv     *testarchive.Server
	keyring string
	dir     string
}

func newFixture(t *testing.T, a testarchive.Archive) *fixture {
	t.Helper()
	srv := testarchive.Serve(t, a)
	return &fixture{srv: srv, keyring: srv.Key.WriteKeyring(t, t.TempDir()), dir: filepath.Join(t.TempDir(), "mirror")}
}

// archive is the mirror's tree of the test archive.
func (f *fixture) archive() string { return filepath.Join(f.dir, ArchiveName(f.srv.URL)) }

func newCache(t *testing.T) *cache.Cache {
	t.Helper()
	c, err := cache.New(cache.Options{Dir: t.TempDir(), Backoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (f *fixture) config(mirror string, include ...string) bootstrap.Config {
	return bootstrap.Config{Suite: "stable", Mirrors: []string{mirror}, Architectures: []string{"amd64"},
		Keyring: f.keyring, Variant: "minbase", Include: include, NoUpdates: true}
}

func (f *fixture) run(t *testing.T, c *cache.Cache, o Options) (*Summary, error) {
	t.Helper()
	o.Dir, o.Cache = f.dir, c
	return Run(t.Context(), o)
}

func get(t *testing.T, url string) []byte {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
	}
	return b
}

// resolveFrom resolves cfg against the mirror with a cache of its own,
// and checks that every .deb of the set is in the mirror's pool.
func resolveFrom(t *testing.T, f *fixture, cfg bootstrap.Config) *bootstrap.Plan {
	t.Helper()
	cfg.Mirrors = []string{"file://" + f.archive()}
	p, err := bootstrap.Resolve(t.Context(), newCache(t), cfg)
	if err != nil {
		t.Fatalf("resolving from the mirror: %v", err)
	}
	for _, pkg := range p.Packages {
		if _, err := os.Stat(filepath.Join(f.archive(), pkg.Filename)); err != nil {
			t.Errorf("the mirror's index names %s, not in its pool: %v", pkg.Filename, err)
		}
	}
	return p
}

func names(p *bootstrap.Plan) []string {
	var out []string
	for _, pkg := range p.Packages {
		out = append(out, pkg.Name+"="+pkg.Version+" "+pkg.SHA256)
	}
	return out
}

func poolFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(filepath.Join(dir, "pool"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			out = append(out, filepath.Base(p))
		}
		return nil
	})
	slices.Sort(out)
	return out
}

func TestMirror(t *testing.T) {
	f := newFixture(t, testarchive.Minimal())
	c := newCache(t)
	cfg := f.config(f.srv.URL)
	sum, err := f.run(t, c, Options{Add: &Request{Config: cfg}})
	if err != nil {
		t.Fatal(err)
	}
	online, err := bootstrap.Resolve(t.Context(), c, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Packages != len(online.Packages) || sum.Added != len(online.Packages) {
		t.Errorf("summary %+v, want %d packages added", sum, len(online.Packages))
	}
	// The signed files as published, byte for byte.
	for _, name := range []string{"InRelease", "Release", "Release.gpg", "main/binary-amd64/Packages.xz", "main/binary-amd64/Packages.gz"} {
		got, err := os.ReadFile(filepath.Join(f.archive(), "dists", "stable", name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, get(t, f.srv.URL+"/dists/stable/"+name)) {
			t.Errorf("%s differs from the archive's", name)
		}
	}
	byHash, _ := filepath.Glob(filepath.Join(f.archive(), "dists", "stable", "main", "binary-amd64", "by-hash", "SHA256", "*"))
	if len(byHash) < 2 {
		t.Errorf("by-hash copies: %v", byHash)
	}
	if got, want := names(resolveFrom(t, f, cfg)), names(online); !slices.Equal(got, want) {
		t.Errorf("from the mirror:\n%v\nonline:\n%v", got, want)
	}
	if n := len(poolFiles(t, f.archive())); n != len(online.Packages) {
		t.Errorf("pool has %d files, want only the %d needed", n, len(online.Packages))
	}

	// A second run adds an include; the first selection stays.
	cfg2 := f.config(f.srv.URL, "nano")
	f.srv.ResetLog()
	if sum, err = f.run(t, c, Options{Add: &Request{Config: cfg2}}); err != nil {
		t.Fatal(err)
	}
	if sum.Selections != 2 || sum.Added != 1 {
		t.Errorf("second run: %+v, want 2 selections and nano added", sum)
	}
	if n := f.srv.Count("*.deb"); n != 1 {
		t.Errorf("second run fetched %d .debs, want 1 (nano): %v", n, f.srv.Requests())
	}
	resolveFrom(t, f, cfg2)

	// The archive moves on; a run that stops before the switch leaves the
	// old mirror whole.
	a := testarchive.Minimal()
	a.Suites[0].Date = testarchive.DefaultTime.Add(24 * time.Hour)
	for i, d := range a.Suites[0].Packages["main"] {
		if d.Name == "nano" {
			a.Suites[0].Packages["main"][i].Version = "7.2-1+deb12u9"
		}
	}
	f.srv.Update(a)
	oldInRelease, _ := os.ReadFile(filepath.Join(f.archive(), "dists", "stable", "InRelease"))
	stop := errors.New("killed")
	if _, err := f.run(t, c, Options{beforeSwitch: func() error { return stop }}); !errors.Is(err, stop) {
		t.Fatalf("interrupted run: %v", err)
	}
	now, _ := os.ReadFile(filepath.Join(f.archive(), "dists", "stable", "InRelease"))
	if !bytes.Equal(now, oldInRelease) {
		t.Error("an interrupted run changed dists/")
	}
	if got := names(resolveFrom(t, f, cfg2)); !slices.ContainsFunc(got, func(s string) bool { return strings.HasPrefix(s, "nano=7.2-1+deb12u1 ") }) {
		t.Errorf("after the interrupted run, the old mirror resolves to %v", got)
	}

	// Updating: the recorded selections follow the archive; old files stay
	// until --prune.
	if sum, err = f.run(t, c, Options{}); err != nil {
		t.Fatal(err)
	}
	got := names(resolveFrom(t, f, cfg2))
	if !slices.ContainsFunc(got, func(s string) bool { return strings.HasPrefix(s, "nano=7.2-1+deb12u9 ") }) {
		t.Errorf("after the update: %v", got)
	}
	if files := poolFiles(t, f.archive()); !slices.Contains(files, "nano_7.2-1+deb12u1_amd64.deb") || !slices.Contains(files, "nano_7.2-1+deb12u9_amd64.deb") {
		t.Errorf("pool before --prune: %v", files)
	}
	if sum, err = f.run(t, c, Options{Prune: true}); err != nil {
		t.Fatal(err)
	}
	if files := poolFiles(t, f.archive()); slices.Contains(files, "nano_7.2-1+deb12u1_amd64.deb") || sum.Pruned != 1 {
		t.Errorf("after --prune (%d pruned): %v", sum.Pruned, files)
	}
	resolveFrom(t, f, cfg)
	resolveFrom(t, f, cfg2)

	// Forgetting the second selection (with --prune) takes nano away.
	lines, err := List(f.dir)
	if err != nil || len(lines) != 2 || !strings.HasPrefix(lines[1], "2: stable --variant=minbase --architectures=amd64 --include=nano") {
		t.Fatalf("List: %q %v", lines, err)
	}
	if _, err := f.run(t, c, Options{Forget: []int{3}}); err == nil || !strings.Contains(err.Error(), "--forget=3: the mirror records 2 selections") {
		t.Errorf("forgetting a selection not recorded: %v", err)
	}
	if sum, err = f.run(t, c, Options{Forget: []int{2}, Prune: true}); err != nil {
		t.Fatal(err)
	}
	if files := poolFiles(t, f.archive()); sum.Selections != 1 || slices.ContainsFunc(files, func(s string) bool { return strings.HasPrefix(s, "nano") }) {
		t.Errorf("after --forget=2 --prune (%d selections): %v", sum.Selections, files)
	}
	resolveFrom(t, f, cfg)
}

// A file the archive serves tampered never reaches the mirror.
func TestMirrorTampered(t *testing.T) {
	f := newFixture(t, testarchive.Minimal())
	f.srv.Inject(testarchive.Corrupt("*/mawk_*"))
	_, err := f.run(t, newCache(t), Options{Add: &Request{Config: f.config(f.srv.URL)}})
	if err == nil || !strings.Contains(err.Error(), "mawk") {
		t.Fatalf("err = %v, want one naming mawk", err)
	}
	if files := poolFiles(t, f.archive()); slices.ContainsFunc(files, func(s string) bool { return strings.HasPrefix(s, "mawk") }) {
		t.Errorf("the tampered file is in the mirror: %v", files)
	}
	if _, err := os.Stat(filepath.Join(f.archive(), "dists")); err == nil {
		t.Error("dists/ written for an incomplete pool")
	}
}

func TestMirrorReindex(t *testing.T) {
	f := newFixture(t, testarchive.Minimal())
	user, err := testarchive.NewKey("mirror user")
	if err != nil {
		t.Fatal(err)
	}
	cfg := f.config(f.srv.URL)
	if _, err := f.run(t, newCache(t), Options{Add: &Request{Config: cfg}, SignWith: user.Entity}); err != nil {
		t.Fatal(err)
	}
	in, err := os.ReadFile(filepath.Join(f.archive(), "dists", "stable", "InRelease"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := apt.VerifyInRelease(in, user.KeyRing(), time.Now()); err != nil {
		t.Errorf("with the user's key: %v", err)
	}
	if _, err := apt.VerifyInRelease(in, f.srv.Key.KeyRing(), time.Now()); err == nil {
		t.Error("the reindexed InRelease verifies with the archive key")
	}
	rel, _ := os.ReadFile(filepath.Join(f.archive(), "dists", "stable", "Release"))
	sig, _ := os.ReadFile(filepath.Join(f.archive(), "dists", "stable", "Release.gpg"))
	if _, err := apt.VerifyRelease(rel, sig, user.KeyRing(), time.Now()); err != nil {
		t.Errorf("Release.gpg: %v", err)
	}
	// The index lists exactly the pool; the mirror's key file verifies it.
	cfg.Keyring = filepath.Join(f.dir, KeyFile)
	p := resolveFrom(t, f, cfg)
	idx, _ := os.ReadFile(filepath.Join(f.archive(), "dists", "stable", "main", "binary-amd64", "Packages"))
	if n := bytes.Count(idx, []byte("\nFilename: ")); n != len(p.Packages) || len(poolFiles(t, f.archive())) != n {
		t.Errorf("the new index lists %d packages; the set has %d, the pool %d", n, len(p.Packages), len(poolFiles(t, f.archive())))
	}
	// A later run without the key would undo the reindexing: refused.
	if _, err := f.run(t, newCache(t), Options{}); err == nil || !strings.Contains(err.Error(), "--sign-with") {
		t.Errorf("a run without --sign-with on a reindexed mirror: %v", err)
	}
}

func TestMirrorWithSources(t *testing.T) {
	a := testarchive.Minimal()
	a.Suites[0].Sources = true
	f := newFixture(t, a)
	cfg := f.config(f.srv.URL)
	sum, err := f.run(t, newCache(t), Options{Add: &Request{Config: cfg, WithSources: true}})
	if err != nil {
		t.Fatal(err)
	}
	files := poolFiles(t, f.archive())
	for _, want := range []string{"glibc_2.36-9+deb12u4.dsc", "glibc_2.36-9+deb12u4.tar.xz", "mawk_1.3.4.20200120-3.1.dsc"} {
		if !slices.Contains(files, want) {
			t.Errorf("pool lacks %s: %v", want, files)
		}
	}
	if sum.Sources == 0 || sum.Sources%2 != 0 {
		t.Errorf("summary: %+v", sum)
	}
	if _, err := os.Stat(filepath.Join(f.archive(), "dists", "stable", "main", "source", "Sources.xz")); err != nil {
		t.Error(err)
	}
}

func TestMirrorRefusesLocalDebs(t *testing.T) {
	f := newFixture(t, testarchive.Minimal())
	_, err := f.run(t, newCache(t), Options{Add: &Request{Config: f.config(f.srv.URL, "./x_1_amd64.deb")}})
	if err == nil || !strings.Contains(err.Error(), "no mirror can carry it") {
		t.Errorf("err = %v", err)
	}
}

func TestArchiveName(t *testing.T) {
	for uri, want := range map[string]string{
		"http://m.example/debian":                           "debian",
		"http://m.example/debian/":                          "debian",
		"https://m.example/x/debian-security":               "debian-security",
		"http://m.example":                                  "archive",
		"http://s.example/archive/debian/20240101T000000Z/": "debian",
		"file:///srv/mirror/ubuntu-ports":                   "ubuntu-ports",
		"http://m.example/..":                               "archive",
	} {
		if got := ArchiveName(uri); got != want {
			t.Errorf("ArchiveName(%q) = %q, want %q", uri, got, want)
		}
	}
}

var _ = context.Background

// A lock's set is mirrored as it stands, without resolving.
func TestMirrorLock(t *testing.T) {
	f := newFixture(t, testarchive.Minimal())
	c := newCache(t)
	cfg := f.config(f.srv.URL, "nano")
	plan, err := bootstrap.Resolve(t.Context(), c, cfg)
	if err != nil {
		t.Fatal(err)
	}
	l := plan.Lock(cfg, testarchive.DefaultTime)
	sum, err := f.run(t, c, Options{Add: &Request{Lock: l, Config: bootstrap.Config{Keyring: f.keyring}}})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Packages != len(l.Packages) || len(poolFiles(t, f.archive())) != len(l.Packages) {
		t.Errorf("summary %+v, pool %v; the lock has %d packages", sum, poolFiles(t, f.archive()), len(l.Packages))
	}
	if got, want := names(resolveFrom(t, f, cfg)), names(plan); !slices.Equal(got, want) {
		t.Errorf("from the mirror %v, want %v", got, want)
	}
}
