package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/debstrap/debstrap/internal/testarchive"
)

// TestDownload: the .debs land in DIR under apt's names (epoch colon as
// %3a), verified; a second run is served from the cache.
func TestDownload(t *testing.T) {
	h := newHarness(t, testarchive.Minimal())
	dir := filepath.Join(t.TempDir(), "debs") // created by download
	// The test mirror has no stable-updates or security suite: probing
	// for them would add requests to the warm runs' count.
	r := h.run(t.Context(), "download", "--no-updates", "--include=gawk", "stable", dir, h.srv.URL)
	want(t, r, 0, nil, nil)

	wantNames := []string{
		"base-files_12.4+deb12u5_amd64.deb",
		"dash_0.5.12-2_amd64.deb",
		"debconf_1.5.82_all.deb",
		"debianutils_5.7-0.5~deb12u1_amd64.deb",
		"gawk_1%3a5.2.1-2_amd64.deb",
		"libc6_2.36-9+deb12u4_amd64.deb",
		"mawk_1.3.4.20200120-3.1_amd64.deb",
		"nano_7.2-1+deb12u1_amd64.deb",
	}
	if got := listDir(t, dir); !slices.Equal(got, wantNames) {
		t.Fatalf("DIR holds %v, want %v", got, wantNames)
	}
	// Each is the pool's file, byte for byte.
	for _, d := range testarchive.MinimalDebs() {
		var name string
		for _, n := range wantNames {
			if strings.HasPrefix(n, d.Name+"_") {
				name = n
			}
		}
		if name == "" {
			continue
		}
		a := testarchive.Minimal()
		pool, err := os.ReadFile(filepath.Join(h.srv.Dir, testarchive.PoolPath(a.Suites[0].Components[0], d)))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, pool) {
			t.Errorf("%s differs from the pool's file", name)
		}
	}
	if n := h.srv.Count("*.deb"); n != len(wantNames) {
		t.Errorf("first run: %d .deb requests, want %d", n, len(wantNames))
	}

	// Warm: nothing but InRelease from the network; DIR is the same.
	h.srv.ResetLog()
	r = h.run(t.Context(), "download", "--no-updates", "--include=gawk", "stable", dir, h.srv.URL)
	want(t, r, 0, nil, nil)
	if n := h.srv.Count("*.deb"); n != 0 {
		t.Errorf("second run: %d .deb requests, want 0: %v", n, h.srv.Requests())
	}
	for _, p := range h.srv.Requests() {
		if !strings.HasSuffix(p, "InRelease") {
			t.Errorf("second run requested %s", p)
		}
	}
	if got := listDir(t, dir); !slices.Equal(got, wantNames) {
		t.Errorf("after the second run DIR holds %v, want %v", got, wantNames)
	}

	// A new DIR from a warm cache, via resolve --download.
	dir2 := t.TempDir()
	h.srv.ResetLog()
	r = h.run(t.Context(), "resolve", "--no-updates", "--download="+dir2, "--include=gawk", "stable", h.srv.URL)
	want(t, r, 0, []string{"gawk 1:5.2.1-2 amd64"}, nil)
	if got := listDir(t, dir2); !slices.Equal(got, wantNames) {
		t.Errorf("resolve --download: DIR holds %v, want %v", got, wantNames)
	}
	if n := h.srv.Count("*.deb"); n != 0 {
		t.Errorf("resolve --download with a warm cache: %d .deb requests", n)
	}
}

// TestDownloadTampered: a .deb whose bytes do not match its index is an
// error naming the URL and both hashes, and never reaches the cache or DIR.
func TestDownloadTampered(t *testing.T) {
	h := newHarness(t, testarchive.Minimal())
	r := h.run(t.Context(), "resolve", "--output=json", "stable", h.srv.URL)
	want(t, r, 0, nil, nil)
	var pkgs []jsonPackage
	if err := json.Unmarshal([]byte(r.stdout), &pkgs); err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(pkgs, func(p jsonPackage) bool { return p.Name == "mawk" })
	if i < 0 {
		t.Fatalf("no mawk in %s", r.stdout)
	}
	mawk := pkgs[i]
	poolBytes, err := os.ReadFile(filepath.Join(h.srv.Dir, mawk.Filename))
	if err != nil {
		t.Fatal(err)
	}
	tampered := slices.Clone(poolBytes)
	tampered[len(tampered)/2] ^= 0xff
	sum := sha256.Sum256(tampered)
	got := hex.EncodeToString(sum[:])

	h.srv.Inject(testarchive.Corrupt("mawk_*.deb"))
	dir := filepath.Join(t.TempDir(), "debs")
	r = h.run(t.Context(), "download", "stable", dir, h.srv.URL)
	t.Log(r.stderr)
	want(t, r, 1, nil, []string{
		h.srv.URL + "/" + mawk.Filename,
		"sha256",
		"expected " + mawk.SHA256,
		"got " + got,
	})
	for _, p := range listDir(t, h.cache) {
		if strings.Contains(p, mawk.SHA256) || strings.Contains(p, got) {
			t.Errorf("cache holds %s after a failed verification", p)
		}
		if strings.HasPrefix(p, "tmp"+string(filepath.Separator)) {
			t.Errorf("cache holds a temporary file %s", p)
		}
	}
	for _, p := range listDir(t, dir) {
		if strings.HasPrefix(p, "mawk") || strings.HasSuffix(p, ".tmp") {
			t.Errorf("DIR holds %s after a failed download", p)
		}
	}

	// The mirror is fixed: the next run succeeds.
	h.srv.ClearFaults()
	r = h.run(t.Context(), "download", "stable", dir, h.srv.URL)
	want(t, r, 0, nil, nil)
	if b, err := os.ReadFile(filepath.Join(dir, "mawk_1.3.4.20200120-3.1_amd64.deb")); err != nil || !bytes.Equal(b, poolBytes) {
		t.Errorf("mawk after the retry: %v", err)
	}
}

// TestDownloadWatchdogFlags: --download-stall-timeout and
// --download-min-rate reach the cache's watchdog (a trickling mirror fails
// fast, naming the rate), and a bad value is a usage error naming the flag.
func TestDownloadWatchdogFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--download-timeout=0s"}, {"--download-timeout=soon"},
		{"--download-stall-timeout=-1s"}, {"--download-min-rate=0"}, {"--download-min-rate=fast"},
	} {
		r := cli(t.Context(), append([]string{"download"}, append(args, "stable", t.TempDir())...)...)
		name, _, _ := strings.Cut(args[0], "=")
		want(t, r, 2, nil, []string{name + "=", "see 'debstrap download --help'"})
	}
	h := newHarness(t, testarchive.Minimal())
	h.srv.Inject(testarchive.Trickle("*.deb", 16, 20*time.Millisecond))
	start := time.Now()
	r := h.run(t.Context(), "download", "--download-stall-timeout=200ms", "--download-min-rate=1M",
		"stable", t.TempDir(), h.srv.URL)
	if r.code != 1 || !strings.Contains(r.stderr, ".deb") {
		t.Fatalf("want a failed download naming the .deb\n%s", r)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("took %v: the flags did not reach the watchdog", d)
	}
}
