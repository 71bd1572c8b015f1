package export

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/debstrap/debstrap/manifest"
)

const spdxType = "application/spdx+json"

var sbomData = []byte(`{"spdxVersion":"SPDX-2.3","name":"debian-12"}` + "\n")

func readIndex(t *testing.T, dir string) *v1.IndexManifest {
	t.Helper()
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	return im
}

// checkReferrer checks that the layout at dir holds the image with digest
// digest and, after it, data attached as a referrer of it, and that
// go-containerregistry and manifest read the layout.
func checkReferrer(t *testing.T, dir, digest string, data []byte) {
	t.Helper()
	im := readIndex(t, dir)
	if len(im.Manifests) != 2 {
		t.Fatalf("index.json lists %d manifests, want the image and the artifact", len(im.Manifests))
	}
	image, art := im.Manifests[0], im.Manifests[1]
	if image.Digest.String() != digest || image.Annotations["org.opencontainers.image.ref.name"] == "" {
		t.Errorf("the image's descriptor changed: %+v", image)
	}
	if art.ArtifactType != spdxType || art.MediaType != types.OCIManifestSchema1 || art.Annotations != nil {
		t.Errorf("artifact descriptor %+v", art)
	}
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	img, err := idx.Image(art.Digest)
	if err != nil {
		t.Fatal(err)
	}
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if m.Subject == nil || m.Subject.Digest != image.Digest || m.Subject.Size != image.Size || m.Subject.MediaType != types.OCIManifestSchema1 {
		t.Errorf("subject %+v, want the image %s", m.Subject, image.Digest)
	}
	if m.ArtifactType != spdxType || m.Config.MediaType != types.OCIEmptyJSON || m.Config.Size != 2 || string(m.Config.Data) != "{}" {
		t.Errorf("manifest %+v", m)
	}
	if len(m.Layers) != 1 || m.Layers[0].MediaType != spdxType || m.Layers[0].Annotations["org.opencontainers.image.title"] != "sbom.spdx.json" {
		t.Fatalf("layers %+v", m.Layers)
	}
	lp, _ := layout.FromPath(dir)
	rc, err := lp.Blob(m.Layers[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var got bytes.Buffer
	got.ReadFrom(rc)
	if !bytes.Equal(got.Bytes(), data) {
		t.Errorf("artifact blob %q, want %q", got.Bytes(), data)
	}
	cfg, err := lp.Blob(m.Config.Digest)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Close()
	// The image is still the one manifest takes.
	if _, err := manifest.Read(context.Background(), dir); err != nil {
		t.Error(err)
	}
}

func TestAttachReferrer(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "bookworm.oci")
	digest := write(t, fixture(), target, Options{})
	before := readIndex(t, target).Manifests[0]
	desc, err := AttachReferrer(target, spdxType, sbomData)
	if err != nil {
		t.Fatal(err)
	}
	checkReferrer(t, target, digest, sbomData)
	if readIndex(t, target).Manifests[0].Digest != before.Digest {
		t.Error("the image's descriptor changed")
	}
	index := readFile(t, filepath.Join(target, "index.json"))

	// Again: nothing changes.
	if again, err := AttachReferrer(target, spdxType, sbomData); err != nil || again.Digest != desc.Digest {
		t.Errorf("attached again: %v, %v", again.Digest, err)
	}
	if !bytes.Equal(readFile(t, filepath.Join(target, "index.json")), index) {
		t.Error("attaching the same artifact again changed index.json")
	}
	// Another layout of the same image gets the same bytes.
	other := filepath.Join(dir, "other", "bookworm.oci")
	os.MkdirAll(filepath.Dir(other), 0o755)
	write(t, fixture(), other, Options{})
	if _, err := AttachReferrer(other, spdxType, sbomData); err != nil {
		t.Fatal(err)
	}
	if treeDigest(t, other) != treeDigest(t, target) {
		t.Error("the same image and artifact gave different layouts")
	}
	// A second artifact (CycloneDX beside SPDX) refers to the image too.
	if _, err := AttachReferrer(target, "application/vnd.cyclonedx+json", []byte("{}\n")); err != nil {
		t.Fatal(err)
	}
	if n := len(readIndex(t, target).Manifests); n != 3 {
		t.Errorf("index.json lists %d manifests, want 3", n)
	}
	assertNoTemp(t, dir)

	skopeoInspect(t, "oci:"+target+":latest", digest, "amd64")
	orasDiscover(t, target, desc.Digest.String())
}

func TestReferrersOption(t *testing.T) {
	dir := t.TempDir()
	refs := []Referrer{{ArtifactType: spdxType, Data: sbomData}}
	layoutDir := filepath.Join(dir, "a.oci")
	digest := write(t, fixture(), layoutDir, Options{Referrers: refs})
	checkReferrer(t, layoutDir, digest, sbomData)

	archive := filepath.Join(dir, "a.oci.tar")
	digest = write(t, fixture(), archive, Options{Referrers: refs})
	unpacked := filepath.Join(dir, "unpacked")
	if out, err := exec.Command("tar", "-xf", archive, "-C", mkdir(t, unpacked)).CombinedOutput(); err != nil {
		t.Fatalf("tar: %v\n%s", err, out)
	}
	checkReferrer(t, unpacked, digest, sbomData)
	// docker load reads manifest.json, which still names only the image.
	var dm []struct{ Config string }
	if err := json.Unmarshal(readFile(t, filepath.Join(unpacked, "manifest.json")), &dm); err != nil || len(dm) != 1 {
		t.Errorf("manifest.json: %v %+v", err, dm)
	}
	if _, err := manifest.Read(context.Background(), archive); err != nil {
		t.Error(err)
	}

	for _, target := range []string{"a.tar", "a.docker.tar", "adir"} {
		_, err := Write(context.Background(), fixture(), filepath.Join(dir, target), Options{Architecture: "amd64", Referrers: refs})
		if err == nil || !strings.Contains(err.Error(), "cannot hold artifacts") {
			t.Errorf("%s: got error %v, want one saying it cannot hold artifacts", target, err)
		}
	}
}

func TestAttachReferrerErrors(t *testing.T) {
	none := filepath.Join(t.TempDir(), "none.oci")
	if _, err := layout.Write(none, empty.Index); err != nil {
		t.Fatal(err)
	}
	two := filepath.Join(t.TempDir(), "two.oci")
	lp, err := layout.Write(two, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := lp.AppendImage(empty.Image); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name, dir, artifactType, want string
	}{
		{"no layout", t.TempDir(), spdxType, "index.json"},
		{"no image", none, spdxType, "lists 0 images"},
		{"two images", two, spdxType, "lists 2 images"},
		{"no type", two, "", "no artifact type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := AttachReferrer(tc.dir, tc.artifactType, sbomData)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got error %v, want one saying %q", err, tc.want)
			}
		})
	}
}

func mkdir(t *testing.T, p string) string {
	t.Helper()
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// orasDiscover checks with oras, when it is installed, that the layout's
// image has the artifact as a referrer.
func orasDiscover(t *testing.T, dir, artifact string) {
	t.Helper()
	if _, err := exec.LookPath("oras"); err != nil {
		t.Log("oras not installed; skipping its check")
		return
	}
	out, err := exec.Command("oras", "discover", "--oci-layout", dir+":latest", "--format", "json").CombinedOutput()
	if err != nil {
		t.Fatalf("oras discover: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), artifact) {
		t.Errorf("oras discover does not list %s:\n%s", artifact, out)
	}
}
