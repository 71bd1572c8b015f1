package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/debstrap/debstrap/internal/testarchive"
	"github.com/debstrap/debstrap/lock"
)

// newerNano is the Minimal archive a day later: nano has a fix.
func newerNano() testarchive.Archive {
	a := testarchive.Minimal()
	a.Suites[0].Date = testarchive.DefaultTime.Add(24 * time.Hour)
	debs := a.Suites[0].Packages["main"]
	for i := range debs {
		if debs[i].Name == "nano" {
			debs[i].Version = "7.2-1+deb12u2"
		}
	}
	return a
}

func TestLock(t *testing.T) {
	h := newHarness(t, testarchive.Minimal())
	dir := t.TempDir()
	lf := filepath.Join(dir, "stable.lock")
	want(t, h.run(t.Context(), "lock", "--include=nano", "stable", lf, h.srv.URL), 0, nil, nil)
	first, err := os.ReadFile(lf)
	if err != nil {
		t.Fatal(err)
	}
	l, err := lock.ReadFile(lf)
	if err != nil {
		t.Fatal(err)
	}
	if l.Suite != "stable" || l.Variant != "important" || len(l.Packages) != len(minimalImportant) || l.Epoch != testarchive.DefaultTime.Unix() {
		t.Errorf("lock: suite %s, variant %s, %d packages, epoch %d", l.Suite, l.Variant, len(l.Packages), l.Epoch)
	}
	if s := l.Sources[0]; s.Release != "InRelease" || len(s.SHA256) != 64 || s.Codename != "bookworm" || s.Version != "12.5" || s.Date == "" {
		t.Errorf("source: %+v", s)
	}
	for _, s := range []string{`"name": "libc6"`, `"source": "glibc"`, `"suite": "stable"`, `"filename": "pool/main/`, `"include": [`} {
		if !bytes.Contains(first, []byte(s)) {
			t.Errorf("lock lacks %s:\n%s", s, first)
		}
	}
	// Deterministic: the same state gives the same bytes.
	lf2 := filepath.Join(dir, "again.lock")
	want(t, h.run(t.Context(), "lock", "--include=nano", "stable", lf2, h.srv.URL), 0, nil, nil)
	if again, _ := os.ReadFile(lf2); !bytes.Equal(first, again) {
		t.Errorf("two locks of the same state differ")
	}

	// A build from the lock is the build: byte-identical.
	plain := filepath.Join(dir, "plain.tar")
	h.build(t, plain, "--include=nano")
	fromLock := filepath.Join(dir, "locked.tar")
	want(t, cli(t.Context(), "build", "--keyring="+h.keyring, "--cache-dir="+t.TempDir(), "-q", "--mode=extract", "--lock="+lf, fromLock), 0, nil, nil)
	a, _ := os.ReadFile(plain)
	b, _ := os.ReadFile(fromLock)
	if len(a) == 0 || !bytes.Equal(a, b) {
		t.Errorf("build --lock differs from the build it locked (%d and %d bytes)", len(a), len(b))
	}
	// An image too: its version annotation comes from the lock.
	plainOCI := filepath.Join(dir, "x.oci.tar")
	h.build(t, plainOCI, "--include=nano")
	lockedOCI := filepath.Join(dir, "locked", "x.oci.tar")
	os.Mkdir(filepath.Dir(lockedOCI), 0o755)
	want(t, cli(t.Context(), "build", "--keyring="+h.keyring, "--cache-dir="+t.TempDir(), "-q", "--mode=extract", "--lock="+lf, lockedOCI), 0, nil, nil)
	ao, _ := os.ReadFile(plainOCI)
	bo, _ := os.ReadFile(lockedOCI)
	if a, b := ao, bo; len(a) == 0 || !bytes.Equal(a, b) || !bytes.Contains(a, []byte(`"org.opencontainers.image.version":"12.5"`)) {
		t.Errorf("build --lock of an OCI archive differs from the build it locked, or lacks the version (%d and %d bytes)", len(a), len(b))
	}

	t.Run("request flags refused", func(t *testing.T) {
		want(t, cli(t.Context(), "build", "--lock="+lf, "--include=curl", filepath.Join(dir, "x.tar")), 2, nil,
			[]string{"--include with --lock: the lock fixes the package set"})
	})

	t.Run("gone from the mirror, in a fallback", func(t *testing.T) {
		fallback := testarchive.Serve(t, testarchive.Minimal())
		h.srv.Inject(testarchive.NotFound("*/nano_*"))
		defer h.srv.ClearFaults()
		out := filepath.Join(dir, "fallback.tar")
		r := cli(t.Context(), "build", "--keyring="+h.keyring, "--cache-dir="+t.TempDir(), "-q", "--mode=extract", "--lock="+lf, out)
		want(t, r, 1, nil, []string{"nano_7.2-1+deb12u1_amd64.deb", "404"})
		want(t, cli(t.Context(), "build", "--keyring="+h.keyring, "--cache-dir="+t.TempDir(), "-q", "--mode=extract", "--lock="+lf, out, fallback.URL), 0, nil, nil)
		if got, _ := os.ReadFile(out); !bytes.Equal(got, a) {
			t.Error("the build with nano from the fallback differs")
		}
		if fallback.Count("*/nano_*") != 1 || fallback.Count("*/libc6_*") != 0 {
			t.Errorf("fallback served %v", fallback.Requests())
		}
	})

	t.Run("tampered package refused", func(t *testing.T) {
		h.srv.Inject(testarchive.Corrupt("*/mawk_*"))
		defer h.srv.ClearFaults()
		r := cli(t.Context(), "build", "--cache-dir="+t.TempDir(), "-q", "--mode=extract", "--lock="+lf, filepath.Join(dir, "bad.tar"))
		want(t, r, 1, nil, []string{"mawk_", "sha256 mismatch"})
		if _, err := os.Stat(filepath.Join(dir, "bad.tar")); err == nil {
			t.Error("a target was written")
		}
	})

	t.Run("a lock edited by hand", func(t *testing.T) {
		bad := filepath.Join(dir, "bad.lock")
		os.WriteFile(bad, bytes.Replace(first, []byte(`"filename": "pool/`), []byte(`"filename": "../../pool/`), 1), 0o644)
		want(t, cli(t.Context(), "build", "--lock="+bad, filepath.Join(dir, "x.tar")), 1, nil, []string{"is not a relative pool path"})
		os.WriteFile(bad, bytes.Replace(first, []byte(`"suite"`), []byte(`"suit"`), 1), 0o644)
		want(t, cli(t.Context(), "build", "--lock="+bad, filepath.Join(dir, "x.tar")), 1, nil, []string{`unknown field "suit"`})
	})

	t.Run("check and update", func(t *testing.T) {
		lockCmd := func(args ...string) result {
			return cli(t.Context(), append([]string{"lock", "--keyring=" + h.keyring, "--cache-dir=" + h.cache, "-q"}, args...)...)
		}
		want(t, lockCmd("--check", lf), 0, nil, nil)
		h.srv.Update(newerNano())
		r := lockCmd("--check", lf)
		want(t, r, 1, []string{"nano:amd64 7.2-1+deb12u1 → 7.2-1+deb12u2"}, []string{"1 package(s) not current"})
		if strings.Contains(r.stdout, "libc6") {
			t.Errorf("--check lists unchanged packages:\n%s", r.stdout)
		}
		want(t, lockCmd("--check", "--include=curl", lf), 2, nil, []string{"--include: the lock fixes the request"})
		want(t, lockCmd("--update", lf), 0, []string{"nano:amd64"}, nil)
		want(t, lockCmd("--check", lf), 0, nil, nil)
		l, err := lock.ReadFile(lf)
		if err != nil {
			t.Fatal(err)
		}
		if l.Epoch != newerNano().Suites[0].Date.Unix() {
			t.Errorf("updated lock's epoch %d, want the new Release's Date", l.Epoch)
		}
	})
}

// A build whose inputs equal an earlier one's writes the kept output
// again; a damaged kept output is found and the build runs; --rebuild
// always builds.
func TestRebuildReusesOutput(t *testing.T) {
	h := newHarness(t, testarchive.Minimal())
	dir := t.TempDir()
	build := func(name string, flags ...string) result {
		args := append([]string{"build", "--keyring=" + h.keyring, "--cache-dir=" + h.cache, "--architectures=amd64", "--mode=extract"}, flags...)
		return cli(t.Context(), append(args, "stable", filepath.Join(dir, name), h.srv.URL)...)
	}
	first := build("a.tar")
	want(t, first, 0, nil, nil)
	if strings.Contains(first.stdout, "the cache's output") {
		t.Fatalf("first build reused:\n%s", first)
	}
	again := build("b.tar")
	want(t, again, 0, []string{"the cache's output of the same build"}, nil)
	a, _ := os.ReadFile(filepath.Join(dir, "a.tar"))
	b, _ := os.ReadFile(filepath.Join(dir, "b.tar"))
	if !bytes.Equal(a, b) {
		t.Error("the reused output differs")
	}
	other := build("c.tar", "--include=nano")
	want(t, other, 0, nil, nil)
	if strings.Contains(other.stdout, "the cache's output") {
		t.Error("a build with other inputs reused an output")
	}
	// Damage every kept output: found, removed, built again.
	kept, _ := filepath.Glob(filepath.Join(h.cache, "derived", "result", "*"))
	if len(kept) != 2 {
		t.Fatalf("kept outputs: %v", kept)
	}
	for _, k := range kept {
		data, _ := os.ReadFile(k)
		data[len(data)-1] ^= 1
		os.WriteFile(k, data, 0o644)
	}
	damaged := build("d.tar")
	want(t, damaged, 0, nil, []string{"damaged"})
	if strings.Contains(damaged.stdout, "the cache's output") {
		t.Error("a damaged output was reused")
	}
	if d, _ := os.ReadFile(filepath.Join(dir, "d.tar")); !bytes.Equal(a, d) {
		t.Error("the build after a damaged kept output differs")
	}
	if r := build("e.tar", "--rebuild"); strings.Contains(r.stdout, "the cache's output") {
		t.Error("--rebuild reused")
	}
}
