package bootstrap

import (
	"bytes"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/debstrap/debstrap/apt"
	"github.com/debstrap/debstrap/internal/testarchive"
)

// payloadFiles lists the stored payloads of a cache.
func payloadFiles(t *testing.T, b *testBuild) []string {
	t.Helper()
	return derivedFiles(t, b, payloadKind)
}

func derivedFiles(t *testing.T, b *testBuild, kind string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(b.cache.Dir(), "derived", kind, "*"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// sameImage builds target again and checks that it equals want.
func (b *testBuild) sameImage(t *testing.T, target string, want []byte, what string) {
	t.Helper()
	b.cfg.Target = filepath.Join(b.out, target)
	if _, err := Run(t.Context(), b.cache, b.cfg); err != nil {
		t.Fatalf("build over %s: %v", what, err)
	}
	if got, _ := os.ReadFile(b.cfg.Target); !bytes.Equal(got, want) {
		t.Errorf("a build over %s differs from the first", what)
	}
}

func TestRunStoresAndUsesPayloads(t *testing.T) {
	b := newTestBuild(t, "first.tar")
	res, err := Run(t.Context(), b.cache, b.cfg)
	if err != nil {
		t.Fatal(err)
	}
	stored := payloadFiles(t, b)
	if len(stored) != len(res.Plan.Packages) {
		t.Fatalf("%d payloads stored for %d packages", len(stored), len(res.Plan.Packages))
	}
	controls := derivedFiles(t, b, controlKind)
	if len(controls) != len(res.Plan.Packages) {
		t.Fatalf("%d control archives stored for %d packages", len(controls), len(res.Plan.Packages))
	}
	first, _ := os.ReadFile(b.cfg.Target)

	// From the stored payloads: the same image.
	b.sameImage(t, "second.tar", first, "stored payloads")

	// A damaged payload is dropped, the .deb used, and the payload stored
	// anew; the image is still the same.
	for _, p := range stored {
		data, _ := os.ReadFile(p)
		data[len(data)/2] ^= 0xff
		os.WriteFile(p, data, 0o644)
	}
	b.sameImage(t, "third.tar", first, "damaged payloads")
	pl := newPayloads(b.cache, slog.New(slog.DiscardHandler))
	for _, p := range payloadFiles(t, b) {
		r := pl.open(filepath.Base(p))
		if r == nil {
			t.Fatalf("%s cannot be opened", p)
		}
		for {
			_, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Errorf("%s not stored anew: %v", p, err)
				break
			}
		}
		r.close()
	}
	if n := len(payloadFiles(t, b)); n != len(stored) {
		t.Errorf("%d payloads after the repair, want %d", n, len(stored))
	}

	// Damaged control archives: the same.
	for i, p := range controls {
		junk := []byte("not a tar archive, not at all, no")
		if i%2 == 1 {
			junk = nil // an empty tar: no Package
		}
		os.WriteFile(p, junk, 0o644)
	}
	b.sameImage(t, "fourth.tar", first, "damaged control archives")
	for _, p := range derivedFiles(t, b, controlKind) {
		if data, _ := os.ReadFile(p); len(data) == 0 || bytes.HasPrefix(data, []byte("not a tar")) {
			t.Errorf("%s not stored anew", p)
		}
	}
}

// xz data members give the same image through the xz command as through
// Go's decoder.
func TestRunXZCommand(t *testing.T) {
	xz, err := exec.LookPath("xz")
	if err != nil {
		t.Skip("no xz command")
	}
	a := testarchive.Minimal()
	debs := a.Suites[0].Packages["main"]
	for i := range debs {
		debs[i].DataCompression = "xz"
	}
	// One server and keyring: the image holds the mirror URL and the key.
	srv := testarchive.Serve(t, a)
	keyring := srv.Key.WriteKeyring(t, t.TempDir())
	var images [][]byte
	for _, cmd := range []string{"", xz} {
		b := newTestBuild(t, "rootfs.tar") // a cache of its own
		b.cfg.Mirrors = []string{srv.URL}
		b.cfg.Keyring = keyring
		b.cfg.XZCommand = cmd
		if _, err := Run(t.Context(), b.cache, b.cfg); err != nil {
			t.Fatalf("xz command %q: %v", cmd, err)
		}
		img, _ := os.ReadFile(b.cfg.Target)
		images = append(images, img)
	}
	if !bytes.Equal(images[0], images[1]) {
		t.Error("the image made with the xz command differs from Go's")
	}
}

// storedOf is the path of the stored member of kind for package name.
func storedOf(t *testing.T, b *testBuild, pkgs []*apt.Package, kind, name string) string {
	t.Helper()
	for _, p := range pkgs {
		if p.Name == name {
			return filepath.Join(b.cache.Dir(), "derived", kind, p.SHA256)
		}
	}
	t.Fatalf("no package %s", name)
	return ""
}

// A stored member that is not what its name says (empty, truncated,
// flipped, another package's, the same package's from another suite) must
// never reach the image: every such build gives the clean image, and the
// bad file is replaced by the right one.
func TestDamagedStoredMembers(t *testing.T) {
	b := newTestBuild(t, "clean.tar")
	res, err := Run(t.Context(), b.cache, b.cfg)
	if err != nil {
		t.Fatal(err)
	}
	clean, _ := os.ReadFile(b.cfg.Target)
	pkgs := res.Plan.Packages

	// The same packages from "another suite": dash differs.
	other := testarchive.Minimal()
	debs := other.Suites[0].Packages["main"]
	for i := range debs {
		if debs[i].Name == "dash" {
			debs[i].Version = "0.5.12-9"
			debs[i].Files[0] = testarchive.File{Path: "./bin/dash", Mode: 0o755, Body: []byte("\x7fELF another dash\n")}
		}
	}
	osrv := testarchive.Serve(t, other)
	ob := newTestBuild(t, "other.tar")
	ob.cfg.Mirrors = []string{osrv.URL}
	ob.cfg.Keyring = osrv.Key.WriteKeyring(t, t.TempDir())
	ores, err := Run(t.Context(), ob.cache, ob.cfg)
	if err != nil {
		t.Fatal(err)
	}

	copyFrom := func(src string) func(string) {
		return func(dst string) {
			data, err := os.ReadFile(src)
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(dst, data, 0o644)
		}
	}
	flipAt := func(find string) func(string) {
		return func(p string) {
			data, _ := os.ReadFile(p)
			i := bytes.Index(data, []byte(find))
			if i < 0 {
				i = len(data) / 2
			}
			data[i] ^= 0x01
			os.WriteFile(p, data, 0o644)
		}
	}
	for _, tc := range []struct {
		name   string
		kind   string
		damage func(p string)
	}{
		{"empty payload", payloadKind, func(p string) { os.WriteFile(p, nil, 0o644) }},
		{"truncated payload", payloadKind, func(p string) {
			fi, _ := os.Stat(p)
			os.Truncate(p, fi.Size()/2)
		}},
		{"flipped payload", payloadKind, flipAt("")},
		{"flipped last byte of payload", payloadKind, func(p string) {
			data, _ := os.ReadFile(p)
			data[len(data)-1] ^= 0x01
			os.WriteFile(p, data, 0o644)
		}},
		{"another package's payload", payloadKind, copyFrom(storedOf(t, b, pkgs, payloadKind, "debianutils"))},
		{"another suite's payload", payloadKind, copyFrom(storedOf(t, ob, ores.Plan.Packages, payloadKind, "dash"))},
		{"empty control", controlKind, func(p string) { os.WriteFile(p, nil, 0o644) }},
		{"flipped byte in the control file", controlKind, flipAt("POSIX-compliant")},
		{"another package's control", controlKind, copyFrom(storedOf(t, b, pkgs, controlKind, "debianutils"))},
		{"another suite's control", controlKind, copyFrom(storedOf(t, ob, ores.Plan.Packages, controlKind, "dash"))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := storedOf(t, b, pkgs, tc.kind, "dash")
			good, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			tc.damage(p)
			b.sameImage(t, "again.tar", clean, tc.name)
			// Repaired: made again from the .deb, the same bytes as before.
			if got, err := os.ReadFile(p); err != nil || !bytes.Equal(got, good) {
				t.Errorf("%s not made again (%v)", p, err)
			}
			b.sameImage(t, "after.tar", clean, "the repaired cache")
		})
	}
}

// A cached .deb damaged in place (same size, so no size check sees it)
// with its stored members gone: the unpack hashes the .deb, finds it is
// not the blob, fetches it again and gives the clean image; if the mirror
// keeps answering wrong, the error says expected and got.
func TestDamagedCachedDeb(t *testing.T) {
	b := newTestBuild(t, "clean.tar")
	res, err := Run(t.Context(), b.cache, b.cfg)
	if err != nil {
		t.Fatal(err)
	}
	clean, _ := os.ReadFile(b.cfg.Target)
	var dash *apt.Package
	for _, p := range res.Plan.Packages {
		if p.Name == "dash" {
			dash = p
		}
	}
	blob := b.cache.Path(dash.SHA256)
	damage := func(at func(n int) int) {
		t.Helper()
		for _, kind := range []string{payloadKind, controlKind} {
			os.Remove(filepath.Join(b.cache.Dir(), "derived", kind, dash.SHA256))
		}
		data, err := os.ReadFile(blob)
		if err != nil {
			t.Fatal(err)
		}
		data[at(len(data))] ^= 0x01
		os.WriteFile(blob, data, 0o644)
	}
	for _, tc := range []struct {
		name string
		at   func(n int) int
	}{
		{"in the compressed data", func(n int) int { return n - 40 }},
		{"in debian-binary", func(int) int { return 8 + 60 }},       // "2.0\n" → "3.0\n": a decoder error
		{"in an ar header's date", func(int) int { return 8 + 16 }}, // no decoder notices
	} {
		t.Run(tc.name, func(t *testing.T) {
			damage(tc.at)
			b.srv.ResetLog()
			b.sameImage(t, "again.tar", clean, "a damaged .deb")
			if n := b.srv.Count(DebName(dash)); n != 1 {
				t.Errorf("%s fetched %d times, want 1", DebName(dash), n)
			}
			if err := b.cache.Verify(dash.SHA256); err != nil {
				t.Errorf("blob not repaired: %v", err)
			}
		})
	}

	t.Run("mirror keeps answering wrong", func(t *testing.T) {
		damage(func(n int) int { return n - 40 })
		b.srv.Inject(testarchive.Corrupt("*.deb"))
		defer b.srv.ClearFaults()
		b.cfg.Target = filepath.Join(b.out, "bad.tar")
		_, err := Run(t.Context(), b.cache, b.cfg)
		if err == nil {
			t.Fatal("a build from a damaged .deb and a mirror serving a wrong one succeeded")
		}
		for _, want := range []string{"dash", "damaged", "expected SHA256 " + dash.SHA256, "sha256 mismatch", b.srv.URL} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not say %q", err, want)
			}
		}
		if _, err := os.Stat(b.cfg.Target); err == nil {
			t.Error("a target was written")
		}
	})
}

// Stored members of the unproven first form are never read: the first
// build removes their directories.
func TestRetiredKindsRemoved(t *testing.T) {
	b := newTestBuild(t, "rootfs.tar")
	for _, k := range retiredKinds {
		d := filepath.Join(b.cache.Dir(), "derived", k)
		os.MkdirAll(d, 0o755)
		os.WriteFile(filepath.Join(d, strings.Repeat("ab", 32)), []byte("old"), 0o644)
	}
	if _, err := Run(t.Context(), b.cache, b.cfg); err != nil {
		t.Fatal(err)
	}
	for _, k := range retiredKinds {
		if _, err := os.Stat(filepath.Join(b.cache.Dir(), "derived", k)); !os.IsNotExist(err) {
			t.Errorf("derived/%s kept (%v)", k, err)
		}
	}
}
