package export

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/debstrap/debstrap/internal/testregistry"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// writeMulti writes the fixture for amd64 and armhf (arm/v7) as one
// index to target, adding both at once, and returns the index digest and
// the images' digests.
func writeMulti(t *testing.T, target string, opts Options) (string, []string) {
	t.Helper()
	opts.Epoch = epoch
	x, err := NewIndex(target, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer x.Abort()
	platforms := []struct{ arch, variant string }{{"amd64", ""}, {"arm", "v7"}}
	images := make([]*IndexImage, len(platforms))
	var wg sync.WaitGroup
	errs := make([]error, len(platforms))
	for i, p := range platforms {
		wg.Go(func() {
			images[i], errs[i] = x.Add(context.Background(), fixture(), Options{Epoch: epoch, Architecture: p.arch, Variant: p.variant, Image: opts.Image})
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	d, err := x.Commit(context.Background(), images)
	if err != nil {
		t.Fatal(err)
	}
	return d, []string{images[0].Digest(), images[1].Digest()}
}

// checkIndex checks an image index of the fixture for amd64 and arm/v7.
func checkIndex(t *testing.T, idx v1.ImageIndex, digest string, images []string, annotations map[string]string) {
	t.Helper()
	if d, _ := idx.Digest(); d.String() != digest {
		t.Errorf("index digest %s, Commit returned %s", d, digest)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if m.MediaType != types.OCIImageIndex {
		t.Errorf("index media type %q", m.MediaType)
	}
	want := []v1.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm", Variant: "v7"}}
	if len(m.Manifests) != len(want) {
		t.Fatalf("index lists %d manifests, want %d", len(m.Manifests), len(want))
	}
	plain := plainTar(t)
	for i, d := range m.Manifests {
		if d.Platform == nil || !d.Platform.Equals(want[i]) {
			t.Errorf("manifest %d: platform %+v, want %+v", i, d.Platform, want[i])
		}
		if d.MediaType != types.OCIManifestSchema1 || d.Digest.String() != images[i] {
			t.Errorf("manifest %d: %s %s, want %s", i, d.MediaType, d.Digest, images[i])
		}
		img, err := idx.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		checkImage(t, img, plain, want[i].Architecture, want[i].Variant)
	}
	for k, v := range annotations {
		if m.Annotations[k] != v {
			t.Errorf("index annotation %s=%q, want %q", k, m.Annotations[k], v)
		}
	}
}

func TestIndexLayout(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "multi.oci")
	ann := map[string]string{AnnotationCreated: "2024-06-01T12:00:00Z", "org.example.team": "infra"}
	digest, images := writeMulti(t, target, Options{Image: ImageConfig{Annotations: map[string]string{"org.example.team": "infra"}}})
	top, err := layout.ImageIndexFromPath(target)
	if err != nil {
		t.Fatal(err)
	}
	tm, err := top.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(tm.Manifests) != 1 || tm.Manifests[0].MediaType != types.OCIImageIndex || tm.Manifests[0].Annotations[AnnotationRefName] != "latest" {
		t.Fatalf("index.json %+v, want one image index tagged latest", tm.Manifests)
	}
	if got := tm.Manifests[0].Annotations["io.containerd.image.name"]; !strings.HasSuffix(got, "/library/multi:latest") {
		t.Errorf("containerd name %q", got)
	}
	idx, err := top.ImageIndex(tm.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	checkIndex(t, idx, digest, images, ann)
	assertNoTemp(t, dir)
	// Everything is a blob of the index or index.json and oci-layout.
	var blobs []string
	filepath.WalkDir(filepath.Join(target, "blobs", "sha256"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			blobs = append(blobs, d.Name())
		}
		return nil
	})
	// index, 2 manifests, 2 configs, 1 layer (both roots are the
	// fixture: one blob serves both)
	if len(blobs) != 6 {
		t.Errorf("%d blobs, want 6: %v", len(blobs), blobs)
	}
}

// Two writes of the same roots are byte-identical, the layout as the
// archive.
func TestIndexReproducible(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"multi.oci", "multi.oci.tar"} {
		var trees [2]string
		var digests [2]string
		for i := range trees {
			target := filepath.Join(dir, string(rune('a'+i)), name)
			os.MkdirAll(filepath.Dir(target), 0o755)
			digests[i], _ = writeMulti(t, target, Options{})
			trees[i] = treeDigest(t, target)
		}
		if trees[0] != trees[1] || digests[0] != digests[1] {
			t.Errorf("%s: two writes differ: %s %s / %s %s", name, digests[0], trees[0], digests[1], trees[1])
		}
	}
	a := readFile(t, filepath.Join(dir, "a", "multi.oci.tar"))
	b := readFile(t, filepath.Join(dir, "b", "multi.oci.tar"))
	if !bytes.Equal(a, b) {
		t.Error("two OCI archives differ")
	}
	// The archive holds the layout.
	unpacked := t.TempDir()
	if err := untarLayout(context.Background(), filepath.Join(dir, "a", "multi.oci.tar"), unpacked); err != nil {
		t.Fatal(err)
	}
	if treeDigest(t, unpacked) != treeDigest(t, filepath.Join(dir, "a", "multi.oci")) {
		t.Error("the archive's layout differs from the layout written")
	}
	assertNoTemp(t, filepath.Join(dir, "a"))
}

// A registry gets the images, then the index under the tag.
func TestIndexRegistry(t *testing.T) {
	testregistry.NoDockerConfig(t)
	reg := testregistry.Serve(t, testregistry.Options{})
	target := "docker://" + reg.Host + "/multi/base:1"
	digest, images := writeMulti(t, target, Options{})
	if reg.Uploads() != 3 || reg.Manifests() != 3 {
		t.Errorf("%d uploads, %d manifests, want 3 (the fixture's one layer, 2 configs) and 3", reg.Uploads(), reg.Manifests())
	}
	ref, err := name.ParseReference(reg.Host+"/multi/base:1", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := remote.Index(ref)
	if err != nil {
		t.Fatal(err)
	}
	checkIndex(t, idx, digest, images, map[string]string{AnnotationCreated: "2024-06-01T12:00:00Z"})
	// The same index from a layout: nothing to upload, the same digest.
	reg.Reset()
	layoutDir := filepath.Join(t.TempDir(), "m.oci")
	d2, _ := writeMulti(t, layoutDir, Options{Image: ImageConfig{Tag: "multi:1"}})
	got, err := PushImage(context.Background(), layoutDir, target, Registry{})
	if err != nil {
		t.Fatal(err)
	}
	if got != digest || d2 != digest || reg.Uploads() != 0 {
		t.Errorf("pushed %s (layout %s, %d uploads), want %s and none", got, d2, reg.Uploads(), digest)
	}
}

func TestIndexFormats(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct{ target, err string }{
		{"x.docker.tar", "a docker-archive holds one image"},
		{"x.tar.gz", "a tar.gz holds one image"},
		{"x/", "a dir holds one image"},
	} {
		_, err := NewIndex(filepath.Join(dir, tt.target), Options{})
		if err == nil || !strings.Contains(err.Error(), tt.err) || !strings.Contains(err.Error(), "oci-archive") {
			t.Errorf("%s: %v, want an error with %q", tt.target, err, tt.err)
		}
	}
	if names, _ := os.ReadDir(dir); len(names) != 0 {
		t.Errorf("left %v", names)
	}
}
