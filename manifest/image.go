package manifest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The image formats Read flattens.
const (
	kindOCI    = "OCI image"
	kindDocker = "docker-archive"
)

// maxMeta bounds the JSON documents of an image (index, manifest, config).
const maxMeta = 16 << 20

// blobs opens the files of an image layout or archive by slash path.
type blobs interface {
	Open(name string) (io.ReadCloser, error)
}

// dirBlobs is an OCI image layout directory.
type dirBlobs string

func (d dirBlobs) Open(name string) (io.ReadCloser, error) {
	p, err := memberPath(name)
	if err != nil {
		return nil, err
	}
	return os.Open(filepath.Join(string(d), filepath.FromSlash(p)))
}

func isOCILayout(dir string) bool {
	for _, name := range []string{"index.json", "oci-layout"} {
		if fi, err := os.Stat(filepath.Join(dir, name)); err != nil || !fi.Mode().IsRegular() {
			return false
		}
	}
	return true
}

// readImage flattens the image held by b: its layers applied in order,
// whiteouts honoured. (go-containerregistry's mutate.Extract would do it,
// but it silently drops symlinks whose relative target climbs above the
// root, which a comparison must see, and needs a layout on disk.)
func readImage(ctx context.Context, b blobs, kind string, k *keeper) (*Manifest, error) {
	var (
		layers []layerRef
		err    error
	)
	if kind == kindOCI {
		layers, err = ociLayers(b)
	} else {
		layers, err = dockerLayers(b)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", kind, err)
	}
	t := newTree(k)
	for i, l := range layers {
		if err := applyLayer(ctx, b, t, l); err != nil {
			return nil, fmt.Errorf("%s: layer %d (%s): %w", kind, i+1, l.name, err)
		}
	}
	return fromTree(t), nil
}

// layerRef is a layer to apply and the digests to check it against.
type layerRef struct {
	name   string // file in the layout or archive
	digest string // of the stored (compressed) bytes, or ""
	size   int64  // of the stored bytes, or -1
	diffID string // of the uncompressed tar, or ""
}

func readMeta(b blobs, name string) ([]byte, error) {
	rc, err := b.Open(name)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, maxMeta+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(data) > maxMeta {
		return nil, fmt.Errorf("%s is larger than %d bytes", name, maxMeta)
	}
	return data, nil
}

func blobName(h v1.Hash) (string, error) {
	if h.Algorithm != "sha256" {
		return "", fmt.Errorf("digest %s: only sha256 is supported", h)
	}
	return "blobs/sha256/" + h.Hex, nil
}

// readBlob reads a JSON document by its descriptor and checks its digest.
func readBlob(b blobs, d v1.Descriptor) ([]byte, error) {
	name, err := blobName(d.Digest)
	if err != nil {
		return nil, err
	}
	data, err := readMeta(b, name)
	if err != nil {
		return nil, err
	}
	got, _, err := v1.SHA256(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	if got != d.Digest || int64(len(data)) != d.Size {
		return nil, fmt.Errorf("%s: want %s (%d bytes), got %s (%d bytes)", name, d.Digest, d.Size, got, len(data))
	}
	return data, nil
}

// ociLayers finds the image of an OCI layout: the only one, or else the
// only one for this machine's platform.
func ociLayers(b blobs) ([]layerRef, error) {
	data, err := readMeta(b, "index.json")
	if err != nil {
		return nil, err
	}
	idx, err := v1.ParseIndexManifest(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("index.json: %w", err)
	}
	var images []v1.Descriptor
	if err := collectImages(b, idx, &images, 0); err != nil {
		return nil, err
	}
	if images, err = withoutArtifacts(b, images); err != nil {
		return nil, err
	}
	img, err := pickImage(images)
	if err != nil {
		return nil, err
	}
	data, err = readBlob(b, img)
	if err != nil {
		return nil, fmt.Errorf("image manifest: %w", err)
	}
	m, err := v1.ParseManifest(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("image manifest %s: %w", img.Digest, err)
	}
	var refs []layerRef
	for _, l := range m.Layers {
		if !l.MediaType.IsLayer() {
			return nil, fmt.Errorf("image manifest %s lists %s of media type %q as a layer", img.Digest, l.Digest, l.MediaType)
		}
		if !l.MediaType.IsDistributable() {
			return nil, fmt.Errorf("layer %s is a foreign layer (%s), not held in the image", l.Digest, l.MediaType)
		}
		name, err := blobName(l.Digest)
		if err != nil {
			return nil, err
		}
		refs = append(refs, layerRef{name: name, digest: l.Digest.String(), size: l.Size})
	}
	return refs, nil
}

func collectImages(b blobs, idx *v1.IndexManifest, out *[]v1.Descriptor, depth int) error {
	if depth > 4 {
		return fmt.Errorf("image indexes nested too deep")
	}
	for _, d := range idx.Manifests {
		switch {
		case d.MediaType.IsImage():
			*out = append(*out, d)
		case d.MediaType.IsIndex():
			data, err := readBlob(b, d)
			if err != nil {
				return fmt.Errorf("image index: %w", err)
			}
			sub, err := v1.ParseIndexManifest(bytes.NewReader(data))
			if err != nil {
				return fmt.Errorf("image index %s: %w", d.Digest, err)
			}
			if err := collectImages(b, sub, out, depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}

// withoutArtifacts leaves out the artifacts attached to an image (an
// SBOM, a signature: OCI 1.1 referrers), image manifests too but with an
// artifactType other than an image config's, a subject, or the empty
// config.
func withoutArtifacts(b blobs, images []v1.Descriptor) ([]v1.Descriptor, error) {
	var out []v1.Descriptor
	for _, d := range images {
		if d.ArtifactType != "" && !isConfig(types.MediaType(d.ArtifactType)) {
			continue
		}
		if len(images) > 1 {
			data, err := readBlob(b, d)
			if err != nil {
				return nil, fmt.Errorf("image manifest: %w", err)
			}
			m, err := v1.ParseManifest(bytes.NewReader(data))
			if err != nil {
				return nil, fmt.Errorf("image manifest %s: %w", d.Digest, err)
			}
			if (m.ArtifactType != "" && !isConfig(types.MediaType(m.ArtifactType))) || m.Subject != nil || m.Config.MediaType == types.OCIEmptyJSON {
				continue
			}
		}
		out = append(out, d)
	}
	return out, nil
}

// isConfig tells whether t is an image config's media type: the
// artifactType the image spec gives an image's manifest.
func isConfig(t types.MediaType) bool {
	return t == types.OCIConfigJSON || t == types.DockerConfigJSON
}

func pickImage(images []v1.Descriptor) (v1.Descriptor, error) {
	switch len(images) {
	case 0:
		return v1.Descriptor{}, fmt.Errorf("index.json lists no image")
	case 1:
		return images[0], nil
	}
	var match []v1.Descriptor
	var all []string
	for _, d := range images {
		p := d.Platform
		if p != nil {
			all = append(all, fmt.Sprintf("%s (%s)", d.Digest, p))
		} else {
			all = append(all, d.Digest.String())
		}
		if p != nil && p.OS == "linux" && p.Architecture == runtime.GOARCH {
			match = append(match, d)
		}
	}
	if len(match) == 1 {
		return match[0], nil
	}
	return v1.Descriptor{}, fmt.Errorf("index.json lists %d images and not exactly one for linux/%s: %s", len(images), runtime.GOARCH, strings.Join(all, ", "))
}

// dockerLayers finds the image of a docker-archive: the only one.
func dockerLayers(b blobs) ([]layerRef, error) {
	data, err := readMeta(b, "manifest.json")
	if err != nil {
		return nil, err
	}
	var m tarball.Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("manifest.json: %w", err)
	}
	if len(m) != 1 {
		var tags []string
		for _, d := range m {
			tags = append(tags, strings.Join(d.RepoTags, " "))
		}
		return nil, fmt.Errorf("manifest.json lists %d images, want exactly one: %s", len(m), strings.Join(tags, ", "))
	}
	d := m[0]
	data, err = readMeta(b, d.Config)
	if err != nil {
		return nil, fmt.Errorf("image config: %w", err)
	}
	cf, err := v1.ParseConfigFile(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("image config %s: %w", d.Config, err)
	}
	if len(cf.RootFS.DiffIDs) != len(d.Layers) {
		return nil, fmt.Errorf("manifest.json lists %d layers, the image config %d", len(d.Layers), len(cf.RootFS.DiffIDs))
	}
	var refs []layerRef
	for i, l := range d.Layers {
		refs = append(refs, layerRef{name: l, size: -1, diffID: cf.RootFS.DiffIDs[i].String()})
	}
	return refs, nil
}

// applyLayer reads one layer into t, checking its digests once it is read
// to the end.
func applyLayer(ctx context.Context, b blobs, t *tree, l layerRef) error {
	rc, err := b.Open(path.Clean(l.name))
	if err != nil {
		return err
	}
	defer rc.Close()
	stored := newHashReader(rc)
	br := bufio.NewReaderSize(stored, 1<<20)
	r, _, done, err := decompress(br)
	if err != nil {
		return err
	}
	defer done()
	tarHash := newHashReader(r)
	if err := readTar(ctx, tarHash, t, true); err != nil {
		return err
	}
	// The digests cover the whole blob, padding and all.
	if _, err := io.Copy(io.Discard, tarHash); err != nil {
		return err
	}
	if _, err := io.Copy(io.Discard, br); err != nil {
		return err
	}
	if l.digest != "" && (stored.digest() != l.digest || (l.size >= 0 && stored.n != l.size)) {
		return fmt.Errorf("want %s (%d bytes), got %s (%d bytes)", l.digest, l.size, stored.digest(), stored.n)
	}
	if l.diffID != "" && tarHash.digest() != l.diffID {
		return fmt.Errorf("uncompressed content: want %s, got %s", l.diffID, tarHash.digest())
	}
	return nil
}
