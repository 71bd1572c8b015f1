package export

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Referrer is an artifact to attach to an OCI image (Options.Referrers),
// such as its SBOM.
type Referrer struct {
	// ArtifactType is the artifact's media type, e.g.
	// "application/spdx+json" or "application/vnd.cyclonedx+json".
	ArtifactType string
	Data         []byte
}

// emptyJSON is the OCI empty descriptor's content: the config of an
// artifact that has none.
var emptyJSON = []byte("{}")

// titles name an artifact's one file for tools that save it (oras pull).
var titles = map[string]string{
	"application/spdx+json":          "sbom.spdx.json",
	"application/vnd.cyclonedx+json": "sbom.cdx.json",
}

// AttachReferrer attaches data to the image of the OCI image layout in
// layoutDir as an OCI 1.1 referrer, the way `oras attach` does: an image
// manifest with artifactType, the empty config
// (application/vnd.oci.empty.v1+json, "{}"), data as its one layer of
// media type artifactType, and the image's manifest as its subject. The
// manifest is added to index.json after the image, without a ref.name,
// so tools that take the image by its tag still find it.
//
// index.json must list exactly one image manifest besides artifacts
// already attached. The result depends only on the image, artifactType
// and data; attaching the same artifact again changes nothing. It returns
// the descriptor of the artifact's manifest.
func AttachReferrer(layoutDir, artifactType string, data []byte) (v1.Descriptor, error) {
	if artifactType == "" {
		return v1.Descriptor{}, errors.New("attach referrer: no artifact type given")
	}
	d, err := attachReferrer(layoutDir, artifactType, data)
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("attach %s to the OCI layout %s: %w", artifactType, layoutDir, err)
	}
	return d, nil
}

func attachReferrer(dir, artifactType string, data []byte) (v1.Descriptor, error) {
	raw, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		return v1.Descriptor{}, err
	}
	var index v1.IndexManifest
	if err := json.Unmarshal(raw, &index); err != nil {
		return v1.Descriptor{}, fmt.Errorf("index.json: %w", err)
	}
	subject, err := subjectImage(dir, index.Manifests)
	if err != nil {
		return v1.Descriptor{}, err
	}

	config, err := writeBlob(dir, types.OCIEmptyJSON, emptyJSON)
	if err != nil {
		return v1.Descriptor{}, err
	}
	config.Data = emptyJSON // as the image spec recommends for the empty descriptor
	layer, err := writeBlob(dir, types.MediaType(artifactType), data)
	if err != nil {
		return v1.Descriptor{}, err
	}
	if title := titles[artifactType]; title != "" {
		layer.Annotations = map[string]string{"org.opencontainers.image.title": title}
	}
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		ArtifactType:  artifactType,
		Config:        config,
		Layers:        []v1.Descriptor{layer},
		Subject:       &v1.Descriptor{MediaType: subject.MediaType, Digest: subject.Digest, Size: subject.Size},
	}
	mdata, err := json.Marshal(m)
	if err != nil {
		return v1.Descriptor{}, err
	}
	desc, err := writeBlob(dir, types.OCIManifestSchema1, mdata)
	if err != nil {
		return v1.Descriptor{}, err
	}
	desc.ArtifactType = artifactType

	for _, d := range index.Manifests {
		if d.Digest == desc.Digest {
			return desc, nil // attached before
		}
	}
	index.Manifests = append(index.Manifests, desc)
	raw, err = json.Marshal(index)
	if err != nil {
		return v1.Descriptor{}, err
	}
	return desc, writeIndex(dir, raw)
}

// subjectImage is the one image manifest of an index that is not itself
// an artifact: one whose artifactType (the index's or the manifest's) is
// not an image config's, or with a subject, or with the empty config.
func subjectImage(dir string, descs []v1.Descriptor) (v1.Descriptor, error) {
	var images []v1.Descriptor
	for _, d := range descs {
		if !d.MediaType.IsImage() || (d.ArtifactType != "" && !isConfig(types.MediaType(d.ArtifactType))) {
			continue
		}
		if d.Digest.Algorithm != "sha256" {
			return v1.Descriptor{}, fmt.Errorf("index.json: digest %s: only sha256 is supported", d.Digest)
		}
		raw, err := os.ReadFile(filepath.Join(dir, "blobs", "sha256", d.Digest.Hex))
		if err != nil {
			return v1.Descriptor{}, fmt.Errorf("image manifest: %w", err)
		}
		m, err := v1.ParseManifest(bytes.NewReader(raw))
		if err != nil {
			return v1.Descriptor{}, fmt.Errorf("image manifest %s: %w", d.Digest, err)
		}
		if (m.ArtifactType == "" || isConfig(types.MediaType(m.ArtifactType))) && m.Subject == nil && m.Config.MediaType != types.OCIEmptyJSON {
			images = append(images, d)
		}
	}
	if len(images) != 1 {
		return v1.Descriptor{}, fmt.Errorf("index.json lists %d images, want exactly one", len(images))
	}
	return images[0], nil
}

// writeBlob stores data in the layout dir (unless a blob of its digest and
// size is there) and returns its descriptor.
func writeBlob(dir string, mt types.MediaType, data []byte) (v1.Descriptor, error) {
	h, n, err := v1.SHA256(bytes.NewReader(data))
	if err != nil {
		return v1.Descriptor{}, err
	}
	d := v1.Descriptor{MediaType: mt, Digest: h, Size: n}
	blobs := filepath.Join(dir, "blobs", h.Algorithm)
	p := filepath.Join(blobs, h.Hex)
	if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Size() == n {
		return d, nil
	}
	if err := os.MkdirAll(blobs, dirMode()); err != nil {
		return v1.Descriptor{}, err
	}
	if err := writeRenamed(p, data, fileMode()); err != nil {
		return v1.Descriptor{}, fmt.Errorf("write blob %s: %w", h, err)
	}
	return d, nil
}

// writeIndex replaces index.json, keeping its mode.
func writeIndex(dir string, data []byte) error {
	p := filepath.Join(dir, "index.json")
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	if err := writeRenamed(p, data, fi.Mode().Perm()); err != nil {
		return fmt.Errorf("write index.json: %w", err)
	}
	return nil
}

// writeRenamed writes data to a temporary file next to p and renames it
// onto p, so p is never seen half written.
func writeRenamed(p string, data []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(p), ".tmp-*")
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(mode)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), p)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

// attachAll attaches each referrer to the image of the layout in dir.
func attachAll(dir string, refs []Referrer) error {
	for _, r := range refs {
		if _, err := AttachReferrer(dir, r.ArtifactType, r.Data); err != nil {
			return err
		}
	}
	return nil
}

// isConfig tells whether t is an image config's media type: the
// artifactType the image spec gives an image's manifest.
func isConfig(t types.MediaType) bool {
	return t == types.OCIConfigJSON || t == types.DockerConfigJSON
}
