package bootstrap

import (
	"bytes"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

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
