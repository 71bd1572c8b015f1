package bootstrap

import (
	"archive/tar"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/debstrap/debstrap/cache"
	"github.com/debstrap/debstrap/internal/testarchive"
	"github.com/debstrap/debstrap/rootfs"
)

func TestEpochFromEnv(t *testing.T) {
	tests := []struct {
		in   string
		want time.Time
		err  bool
	}{
		{"", time.Time{}, false},
		{"0", time.Unix(0, 0).UTC(), false},
		{"1700000000", time.Date(2023, time.November, 14, 22, 13, 20, 0, time.UTC), false},
		{"abc", time.Time{}, true},
		{"1.5", time.Time{}, true},
		{" 1700000000", time.Time{}, true},
		{"99999999999999999999", time.Time{}, true},
	}
	for _, tt := range tests {
		got, err := EpochFromEnv(tt.in)
		if tt.err {
			if err == nil || !strings.Contains(err.Error(), "SOURCE_DATE_EPOCH") || !strings.Contains(err.Error(), tt.in) {
				t.Errorf("EpochFromEnv(%q): err = %v, want one naming SOURCE_DATE_EPOCH and the value", tt.in, err)
			}
			continue
		}
		if err != nil || !got.Equal(tt.want) || got.Location() != time.UTC {
			t.Errorf("EpochFromEnv(%q) = %v, %v; want %v (UTC)", tt.in, got, err, tt.want)
		}
	}
}

func TestHumanBytes(t *testing.T) {
	for n, want := range map[int64]string{
		0: "0 B", 999: "999 B", 1000: "1.0 kB", 1234: "1.2 kB", 999_999: "1000.0 kB",
		1_000_000: "1.0 MB", 123_456_789: "123.5 MB", 2_000_000_000: "2.0 GB",
	} {
		if got := HumanBytes(n); got != want {
			t.Errorf("HumanBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

// testBuild is a Minimal archive served for a test, with the Config and
// cache to build it.
type testBuild struct {
	srv   *testarchive.Server
	cache *cache.Cache
	cfg   BuildConfig
	out   string // directory of the target
}

func newTestBuild(t *testing.T, target string) *testBuild {
	t.Helper()
	srv := testarchive.Serve(t, testarchive.Minimal())
	c, err := cache.New(cache.Options{Dir: t.TempDir(), Retries: -1})
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	return &testBuild{srv: srv, cache: c, out: out, cfg: BuildConfig{
		Config: Config{
			Suite:         "stable",
			Mirrors:       []string{srv.URL},
			Architectures: []string{"amd64"},
			Keyring:       srv.Key.WriteKeyring(t, t.TempDir()),
			Variant:       "important",
			HostRoot:      t.TempDir(),
		},
		Target:  filepath.Join(out, target),
		TempDir: t.TempDir(),
	}}
}

// leftovers fails the test if the build left anything beside the target
// or in its staging area.
func (b *testBuild) leftovers(t *testing.T, wantTarget bool) {
	t.Helper()
	entries, _ := os.ReadDir(b.out)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	want := []string(nil)
	if wantTarget {
		want = []string{filepath.Base(b.cfg.Target)}
	}
	if !slices.Equal(names, want) {
		t.Errorf("target directory holds %v, want %v", names, want)
	}
	if e, _ := os.ReadDir(b.cfg.TempDir); len(e) != 0 {
		t.Errorf("staging area holds %v", e)
	}
}

func tarNames(t *testing.T, p string) map[string]*tar.Header {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]*tar.Header{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out[strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(h.Name, "./"), "/"), "/")] = h
	}
}

func TestRun(t *testing.T) {
	b := newTestBuild(t, "rootfs.tar")
	var phases []string
	steps := 0
	b.cfg.Phase = func(name string, n int) { phases = append(phases, name) }
	b.cfg.Step = func() { steps++ }
	res, err := Run(t.Context(), b.cache, b.cfg)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"resolve", "download", "unpack", "export"}; !slices.Equal(phases, want) {
		t.Errorf("phases %v, want %v", phases, want)
	}
	var timed []string
	for _, p := range res.Phases {
		timed = append(timed, p.Name)
	}
	if !slices.Equal(timed, phases) {
		t.Errorf("Result.Phases %v, want %v", timed, phases)
	}
	if steps != len(res.Plan.Packages) || steps != 7 {
		t.Errorf("%d steps for %d packages, want 7", steps, len(res.Plan.Packages))
	}
	if res.Format != "tar" || !strings.HasPrefix(res.Digest, "sha256:") || res.Size <= 0 || res.Duration <= 0 {
		t.Errorf("result %+v", res)
	}
	if fi, err := os.Stat(b.cfg.Target); err != nil || fi.Size() != res.Size {
		t.Errorf("target: %v (size %d, result says %d)", err, fi.Size(), res.Size)
	}
	hdrs := tarNames(t, b.cfg.Target)
	for _, p := range []string{"usr/bin/mawk", "var/lib/dpkg/status", "etc/apt/sources.list", "etc/apt/trusted.gpg.d/debstrap-keyring.gpg"} {
		if hdrs[p] == nil {
			t.Errorf("image lacks %s", p)
		}
	}
	// No SOURCE_DATE_EPOCH: the Release's Date.
	for name, h := range hdrs {
		if h.ModTime.After(testarchive.DefaultTime) {
			t.Errorf("%s: mtime %s after the Release Date %s", name, h.ModTime, testarchive.DefaultTime)
		}
	}
	b.leftovers(t, true)
}

// fakeConfigurer checks what a configure step is given and writes a file.
type fakeConfigurer struct {
	t      *testing.T
	called bool
	err    error
}

func (f *fakeConfigurer) Name() string { return "fake" }

func (f *fakeConfigurer) Configure(ctx context.Context, st *rootfs.Stage, b *Build) error {
	f.called = true
	if len(b.Order) != 7 || b.Order[0].Name != "base-files" {
		f.t.Errorf("configure: order %v", namesOf(b.Order))
	}
	if b.DB == nil || b.Plan == nil || len(b.Debs) != 7 || b.Epoch.IsZero() {
		f.t.Errorf("configure: incomplete build %+v", b)
	}
	if fi, err := os.Stat(filepath.Join(b.StageDir, "usr", "bin", "mawk")); err != nil || !fi.Mode().IsRegular() {
		f.t.Errorf("configure: staging root lacks usr/bin/mawk: %v", err)
	}
	if err := st.WriteFile("/etc/hostname", []byte("configured\n"), rootfs.Entry{Mode: 0o644}); err != nil {
		f.t.Errorf("configure: %v", err)
	}
	return f.err
}

func TestRunConfigure(t *testing.T) {
	b := newTestBuild(t, "rootfs.tar")
	fc := &fakeConfigurer{t: t}
	b.cfg.Configure = fc
	if _, err := Run(t.Context(), b.cache, b.cfg); err != nil {
		t.Fatal(err)
	}
	if !fc.called {
		t.Fatal("the configurer was not called")
	}
	if tarNames(t, b.cfg.Target)["etc/hostname"] == nil {
		t.Error("the configurer's file is not in the image")
	}
	b.leftovers(t, true)

	// A failing configure step: named in the error, nothing left.
	b = newTestBuild(t, "rootfs.tar")
	b.cfg.Configure = &fakeConfigurer{t: t, err: errors.New("postinst of mawk failed")}
	_, err := Run(t.Context(), b.cache, b.cfg)
	if err == nil || !strings.Contains(err.Error(), "configure (--mode=fake)") || !strings.Contains(err.Error(), "postinst of mawk failed") {
		t.Errorf("err = %v", err)
	}
	b.leftovers(t, false)
}

// TestRunCancelled: a build cancelled in any phase returns the context's
// error and leaves neither target nor staging directory.
func TestRunCancelled(t *testing.T) {
	for _, target := range []string{"rootfs.tar", "rootfs.oci.tar", "rootfs"} {
		for _, at := range []string{"resolve", "download", "unpack", "first step", "last step", "configure", "export"} {
			t.Run(target+"/"+at, func(t *testing.T) {
				b := newTestBuild(t, target)
				ctx, cancel := context.WithCancel(t.Context())
				defer cancel()
				b.cfg.Phase = func(name string, _ int) {
					if name == at {
						cancel()
					}
				}
				steps := 0
				b.cfg.Step = func() {
					steps++
					if at == "first step" && steps == 1 || at == "last step" && steps == 7 {
						cancel()
					}
				}
				b.cfg.Configure = &fakeConfigurer{t: t}
				_, err := Run(ctx, b.cache, b.cfg)
				if !errors.Is(err, context.Canceled) {
					t.Fatalf("err = %v, want context.Canceled", err)
				}
				b.leftovers(t, false)
			})
		}
	}
}

// TestRunBadFormat: an unknown format fails before anything is fetched.
func TestRunBadFormat(t *testing.T) {
	b := newTestBuild(t, "rootfs.tar")
	b.cfg.Format = "zip"
	_, err := Run(t.Context(), b.cache, b.cfg)
	if err == nil || !strings.Contains(err.Error(), `"zip"`) {
		t.Errorf("err = %v", err)
	}
	if n := len(b.srv.Requests()); n != 0 {
		t.Errorf("%d requests before the format was checked", n)
	}
	b.leftovers(t, false)
}

// TestRunExportProgress: the export phase reports bytes written, ending at
// the total, so a long export is not silent.
func TestRunExportProgress(t *testing.T) {
	b := newTestBuild(t, "rootfs.tar")
	var calls int
	var last, total int64
	b.cfg.ExportProgress = func(d, tot int64) { calls++; last, total = d, tot }
	if _, err := Run(t.Context(), b.cache, b.cfg); err != nil {
		t.Fatal(err)
	}
	if calls < 2 || total <= 0 || last != total {
		t.Errorf("export progress: %d calls, last %d of %d", calls, last, total)
	}
}

func TestListName(t *testing.T) {
	for uri, want := range map[string]string{
		"http://mirror.example/debian/dists/bookworm/":       "mirror.example_debian_dists_bookworm_",
		"http://127.0.0.1:8080/debian/dists/bookworm/":       "127.0.0.1:8080_debian_dists_bookworm_",
		"file:///srv/mirror/debian/dists/bookworm-security/": "_srv_mirror_debian_dists_bookworm-security_",
		"http://user:pw@m.example/a_b/dists/x/":              "m.example_a%5fb_dists_x_",
	} {
		if got := listName(uri); got != want {
			t.Errorf("listName(%q) = %q, want %q", uri, got, want)
		}
	}
}
