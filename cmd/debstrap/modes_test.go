package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/debstrap/debstrap/internal/testarchive"
)

// TestOutputModes: every file build and lock write — the image, an OCI
// layout's every file and directory, an SBOM, a lock, an output written
// again from the cache, a layout into an existing empty directory — is
// readable by all unless the umask says otherwise (an image root made
// must be loadable by another user's podman).
func TestOutputModes(t *testing.T) {
	h := newHarness(t, testarchive.Minimal())
	for _, mask := range []int{0o022, 0o077} {
		old := syscall.Umask(mask)
		dir := t.TempDir()
		empty := filepath.Join(dir, "empty.oci")
		if err := os.Mkdir(empty, 0o700); err != nil {
			t.Fatal(err)
		}
		for _, target := range []string{"x.oci", "empty.oci", "x.oci.tar", "again.oci.tar", "x.tar"} {
			args := []string{"--mode=extract"}
			switch target {
			case "x.oci":
				args = append(args, "--sbom="+filepath.Join(dir, "x.spdx.json"))
			case "x.oci.tar", "again.oci.tar":
				args = append(args, "--tag=x") // the second is the first's, kept
			}
			want(t, h.run(t.Context(), "build", append(args, "stable", filepath.Join(dir, target), h.srv.URL)...), 0, nil, nil)
		}
		if kept, _ := filepath.Glob(filepath.Join(h.cache, "derived", "result", "*")); len(kept) == 0 {
			t.Error("no output was kept to be written again")
		}
		want(t, h.run(t.Context(), "lock", "stable", filepath.Join(dir, "x.lock"), h.srv.URL), 0, nil, nil)
		syscall.Umask(old)
		wantF, wantD := fs.FileMode(0o666&^mask), fs.FileMode(0o777&^mask)
		n := 0
		filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				t.Fatal(err)
			}
			if p == dir {
				return nil
			}
			n++
			fi, _ := d.Info()
			w := wantF
			if d.IsDir() {
				w = wantD
			}
			if fi.Mode().Perm() != w {
				t.Errorf("umask %03o: %s mode %v, want %v", mask, p, fi.Mode().Perm(), w)
			}
			return nil
		})
		if n < 20 {
			t.Errorf("umask %03o: only %d paths written", mask, n)
		}
	}
}
