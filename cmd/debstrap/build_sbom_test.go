package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/debstrap/debstrap/internal/testarchive"
	"github.com/debstrap/debstrap/lock"
	"github.com/debstrap/debstrap/manifest"
)

// build --sbom writes the SBOM of the root it built, each package with
// its .deb's SHA-256; an OCI image carries it attached and is still read
// as the one image.
func TestBuildSBOM(t *testing.T) {
	h := newHarness(t, testarchive.Minimal())
	dir := t.TempDir()
	lf := filepath.Join(dir, "stable.lock")
	want(t, h.run(t.Context(), "lock", "stable", lf, h.srv.URL), 0, nil, nil)
	l, err := lock.ReadFile(lf)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ target, sbom, hasPkg string }{
		{"root.tar", "root.spdx.json", `"name": "libc6"`},
		{"root.oci", "root.cdx.json", `"name": "libc6"`},
		{"root.oci.tar", "root.spdx.json", `"name": "libc6"`},
	} {
		t.Run(tc.target, func(t *testing.T) {
			out := filepath.Join(dir, tc.target)
			sb := filepath.Join(t.TempDir(), tc.sbom)
			h.build(t, out, "--sbom="+sb)
			data, err := os.ReadFile(sb)
			if err != nil {
				t.Fatal(err)
			}
			var v any
			if err := json.Unmarshal(data, &v); err != nil {
				t.Fatalf("%s: %v", sb, err)
			}
			for _, p := range l.Packages {
				if !strings.Contains(string(data), p.SHA256) {
					t.Errorf("%s lacks the SHA-256 of %s's .deb", sb, p.Name)
				}
			}
			m, err := manifest.Read(context.Background(), out)
			if err != nil {
				t.Fatalf("the image with its SBOM attached: %v", err)
			}
			if _, ok := m.Lookup("/var/lib/dpkg/status"); !ok {
				t.Error("the image read back lacks /var/lib/dpkg/status")
			}
			if tc.target == "root.oci" {
				idx, _ := os.ReadFile(filepath.Join(out, "index.json"))
				if !strings.Contains(string(idx), "application/vnd.cyclonedx+json") {
					t.Errorf("index.json lists no attached CycloneDX SBOM:\n%s", idx)
				}
			}
		})
	}
	want(t, h.run(t.Context(), "build", "--sbom=/nonexistent/dir/x.spdx.json", "stable", filepath.Join(dir, "x.tar"), h.srv.URL), 1, nil,
		[]string{"--sbom=/nonexistent/dir/x.spdx.json: no directory"})
}
