package bootstrap

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/debstrap/debstrap/export"
	"github.com/debstrap/debstrap/internal/testarchive"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// newPlatformsBuild is a build of amd64 and arm64 from one archive that
// has both, with packages unpacked only.
func newPlatformsBuild(t *testing.T, target string) *testBuild {
	t.Helper()
	b := newTestBuild(t, target)
	b.srv.Update(testarchive.MinimalArchs("amd64", "arm64"))
	b.cfg.Architectures = nil
	b.cfg.Platforms = []string{"amd64", "arm64"}
	b.cfg.NoUpdates = true
	return b
}

// layerNames lists the paths of an image's one layer.
func layerNames(t *testing.T, img v1.Image) map[string]bool {
	t.Helper()
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers %v, %v", layers, err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	names := map[string]bool{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return names
		}
		if err != nil {
			t.Fatal(err)
		}
		names[strings.TrimSuffix(strings.TrimPrefix(h.Name, "./"), "/")] = true
	}
}

func TestBuildPlatforms(t *testing.T) {
	b := newPlatformsBuild(t, "multi.oci")
	res, err := Run(t.Context(), b.cache, b.cfg)
	if err != nil {
		t.Fatal(err)
	}
	b.leftovers(t, true)
	if len(res.Platforms) != 2 || res.Platforms[0].Architecture != "amd64" || res.Platforms[1].Architecture != "arm64" {
		t.Fatalf("platforms %+v", res.Platforms)
	}
	if res.Packages != res.Platforms[0].Packages+res.Platforms[1].Packages || res.Platforms[0].Packages == 0 {
		t.Errorf("packages %d of %+v", res.Packages, res.Platforms)
	}
	top, err := layout.ImageIndexFromPath(b.cfg.Target)
	if err != nil {
		t.Fatal(err)
	}
	tm, err := top.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(tm.Manifests) != 1 || !tm.Manifests[0].MediaType.IsIndex() {
		t.Fatalf("index.json lists %+v, want one image index", tm.Manifests)
	}
	if tm.Manifests[0].Digest.String() != res.Digest {
		t.Errorf("index.json names %s, the build returned %s", tm.Manifests[0].Digest, res.Digest)
	}
	idx, err := top.ImageIndex(tm.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if im.MediaType != types.OCIImageIndex {
		t.Errorf("index media type %s", im.MediaType)
	}
	// The Release's Date is the epoch; its Version the release's.
	wantAnn := map[string]string{
		export.AnnotationCreated: testarchive.DefaultTime.UTC().Format("2006-01-02T15:04:05Z"),
		export.AnnotationVersion: "12.5",
	}
	for k, v := range wantAnn {
		if im.Annotations[k] != v {
			t.Errorf("index annotation %s=%q, want %q", k, im.Annotations[k], v)
		}
	}
	want := []struct {
		platform v1.Platform
		libc     string
	}{
		{v1.Platform{OS: "linux", Architecture: "amd64"}, "x86_64-linux-gnu/libc.so.6"},
		{v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}, "aarch64-linux-gnu/libc.so.6"},
	}
	if len(im.Manifests) != len(want) {
		t.Fatalf("index lists %d manifests, want %d", len(im.Manifests), len(want))
	}
	for i, d := range im.Manifests {
		if d.Platform == nil || !d.Platform.Equals(want[i].platform) {
			t.Errorf("manifest %d: platform %+v, want %+v", i, d.Platform, want[i].platform)
		}
		if d.Digest.String() != res.Platforms[i].Digest {
			t.Errorf("manifest %d: %s, the build says %s", i, d.Digest, res.Platforms[i].Digest)
		}
		img, err := idx.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if cf.Architecture != want[i].platform.Architecture || cf.Variant != want[i].platform.Variant || cf.OS != "linux" {
			t.Errorf("image %d: config platform %s/%s/%s", i, cf.OS, cf.Architecture, cf.Variant)
		}
		m, _ := img.Manifest()
		if m.Annotations[export.AnnotationVersion] != "12.5" {
			t.Errorf("image %d: annotations %v", i, m.Annotations)
		}
		names := layerNames(t, img)
		found := false
		for n := range names {
			if strings.HasSuffix(n, want[i].libc) {
				found = true
			}
		}
		if !found {
			t.Errorf("image %d (%s) has no %s", i, want[i].platform.Architecture, want[i].libc)
		}
		if !names["var/lib/dpkg/arch"] && !names["var/lib/dpkg/status"] {
			t.Errorf("image %d has no dpkg database", i)
		}
	}
}

// Two builds of the same platforms are byte-identical.
func TestBuildPlatformsReproducible(t *testing.T) {
	b := newPlatformsBuild(t, "multi.oci.tar")
	var outs [2][]byte
	var digests [2]string
	for i := range outs {
		b.cfg.Target = filepath.Join(b.out, "multi.oci.tar")
		res, err := Run(t.Context(), b.cache, b.cfg)
		if err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(b.cfg.Target)
		if err != nil {
			t.Fatal(err)
		}
		outs[i], digests[i] = data, res.Digest
		if err := os.Remove(b.cfg.Target); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(outs[0], outs[1]) || digests[0] != digests[1] {
		t.Errorf("two builds differ: %s (%d bytes), %s (%d bytes)", digests[0], len(outs[0]), digests[1], len(outs[1]))
	}
	b.leftovers(t, false)
}

// What cannot hold or make several platforms' images fails before any
// work, naming why.
func TestBuildPlatformsRefused(t *testing.T) {
	for _, tt := range []struct {
		name, target string
		change       func(*BuildConfig)
		err          string
	}{
		{"docker-archive", "x.docker.tar", nil, "a docker-archive holds one image"},
		{"tarball", "x.tar", nil, "a tar holds one image"},
		{"sbom", "x.oci", func(c *BuildConfig) { c.SBOM = "x.spdx.json" }, "--sbom"},
		{"architectures", "x.oci", func(c *BuildConfig) { c.Architectures = []string{"amd64"} }, "--architectures"},
		{"unknown", "x.oci", func(c *BuildConfig) { c.Platforms = []string{"amd64", "vax"} }, `"vax"`},
		{"twice", "x.oci", func(c *BuildConfig) { c.Platforms = []string{"arm64", "arm64"} }, "both the OCI platform linux/arm64/v8"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := newPlatformsBuild(t, tt.target)
			if tt.change != nil {
				tt.change(&b.cfg)
			}
			_, err := Run(t.Context(), b.cache, b.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("err %v, want one with %q", err, tt.err)
			}
			b.leftovers(t, false)
		})
	}
}

// An architecture the archive lacks fails when the sources are opened,
// before any download.
func TestBuildPlatformsMissingArch(t *testing.T) {
	b := newPlatformsBuild(t, "x.oci")
	b.cfg.Platforms = []string{"amd64", "armhf"}
	_, err := Run(t.Context(), b.cache, b.cfg)
	if err == nil || !strings.Contains(err.Error(), "armhf") {
		t.Fatalf("err %v, want one naming armhf", err)
	}
	b.leftovers(t, false)
}

// TARGET "-" with --format=oci-archive: the archive of the index on
// standard output, the same bytes as a file's of the same name.
func TestBuildPlatformsStdout(t *testing.T) {
	b := newPlatformsBuild(t, "multi.oci.tar")
	b.cfg.Image.Tag = "multi:1"
	res, err := Run(t.Context(), b.cache, b.cfg)
	if err != nil {
		t.Fatal(err)
	}
	file, err := os.ReadFile(b.cfg.Target)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	b.cfg.Target, b.cfg.Format, b.cfg.Stdout = "-", "oci-archive", &out
	res2, err := Run(t.Context(), b.cache, b.cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), file) || res.Digest != res2.Digest {
		t.Errorf("standard output (%d bytes, %s) differs from the file (%d bytes, %s)", out.Len(), res2.Digest, len(file), res.Digest)
	}
}
