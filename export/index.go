package export

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"sync"
	"time"

	"github.com/debstrap/debstrap/internal/tmplock"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Index writes the images of several platforms (one root each) as one OCI
// image index: an OCI layout, an OCI archive or a registry image. Make it
// with NewIndex, add each platform's image with Add (several goroutines
// may add at once), then Commit; Abort, deferred, removes what is left.
// The output is reproducible as a single image is: it depends only on the
// roots, the Options and the order of the images given to Commit.
type Index struct {
	target     string
	format     Format
	opts       Options
	dout       *dirOutput // FormatOCI: the layout's temporary directory
	scratchDir string
	scratchPat string

	mu     sync.Mutex
	layers []*fileLayer
}

// IndexImage is one platform's image made by Index.Add.
type IndexImage struct {
	img      v1.Image
	platform v1.Platform
	created  time.Time
	digest   string
}

// Digest is "sha256:…" of the image's manifest.
func (i *IndexImage) Digest() string { return i.digest }

// NewIndex prepares target, in opts.Format (or the one its name says),
// for an image index. opts gives what the index holds itself: its name
// (Image.Tag), its annotations (Image.Annotations, over the created
// time), Epoch, Log and Registry; the images get theirs in Add.
func NewIndex(target string, opts Options) (*Index, error) {
	format := opts.Format
	if format == "" {
		f, err := FormatFor(target, "")
		if err != nil {
			return nil, fmt.Errorf("export: %w", err)
		}
		format = f
	}
	if !format.HoldsIndex() {
		return nil, fmt.Errorf("export %s: a %s holds one image; images of several platforms need an image index: %s (NAME.oci), %s (NAME.oci.tar) or %s (docker://…)", target, format, FormatOCI, FormatOCIArchive, FormatRegistry)
	}
	if len(opts.Referrers) > 0 {
		return nil, fmt.Errorf("export %s: artifacts attached to an image index are not supported", target)
	}
	if format == FormatRegistry && opts.Image.Tag != "" {
		return nil, fmt.Errorf("export: image name %q: a registry target names the image itself (%s)", opts.Image.Tag, target)
	}
	if _, err := imageTag(target, format, opts.Image.Tag); err != nil {
		return nil, err
	}
	x := &Index{target: target, format: format, opts: opts}
	switch format {
	case FormatOCI:
		dout, err := mkdirOutput(target)
		if err != nil {
			return nil, fmt.Errorf("export %s: %w", target, err)
		}
		x.dout = dout
		x.scratchDir, x.scratchPat = dout.tmp, ".layer.tmp-*"
	case FormatRegistry:
		if _, err := ParseReference(target); err != nil {
			return nil, err
		}
		x.scratchDir, x.scratchPat = os.TempDir(), scratchPattern
	default:
		t, err := resolveFile(target)
		if err != nil {
			return nil, fmt.Errorf("export %s: %w", target, err)
		}
		x.scratchDir, x.scratchPat = t.scratch()
	}
	return x, nil
}

// Add makes the image of src: its layer (kept in a temporary file until
// Commit or Abort) and its config for opts.Architecture and
// opts.Variant, with opts.Image's config and manifest annotations.
func (x *Index) Add(ctx context.Context, src Source, opts Options) (*IndexImage, error) {
	if opts.Architecture == "" {
		return nil, errors.New("export: an image needs Options.Architecture (the OCI name, e.g. amd64, arm64, arm)")
	}
	if opts.Log == nil {
		opts.Log = x.opts.Log
	}
	p, err := newPlan(src.Entries(), opts.Epoch)
	if err != nil {
		return nil, fmt.Errorf("export %s (%s): %w", x.target, opts.Architecture, err)
	}
	created := p.newest
	if !opts.Epoch.IsZero() {
		created = time.Unix(opts.Epoch.Unix(), 0).UTC()
	}
	layer, err := buildLayer(ctx, src, p, x.scratchDir, x.scratchPat, opts)
	if err != nil {
		return nil, fmt.Errorf("export %s (%s): %w", x.target, opts.Architecture, err)
	}
	x.mu.Lock()
	x.layers = append(x.layers, layer)
	x.mu.Unlock()
	img, err := buildImage(layer, created, opts)
	if err != nil {
		return nil, err
	}
	d, err := img.Digest()
	if err != nil {
		return nil, fmt.Errorf("image digest: %w", err)
	}
	return &IndexImage{
		img:      img,
		platform: v1.Platform{OS: "linux", Architecture: opts.Architecture, Variant: opts.Variant},
		created:  created,
		digest:   d.String(),
	}, nil
}

// Commit writes the index of images, in their order, to the target and
// returns the digest of the index.
func (x *Index) Commit(ctx context.Context, images []*IndexImage) (string, error) {
	digest, err := x.commit(ctx, images)
	if err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return "", fmt.Errorf("export %s as %s: %w", x.target, x.format, err)
	}
	return digest, nil
}

func (x *Index) commit(ctx context.Context, images []*IndexImage) (string, error) {
	if len(images) == 0 {
		return "", errors.New("no image to index")
	}
	seen := map[string]bool{}
	created := time.Time{}
	if !x.opts.Epoch.IsZero() {
		created = time.Unix(x.opts.Epoch.Unix(), 0).UTC()
	}
	adds := make([]mutate.IndexAddendum, len(images))
	for i, im := range images {
		key := im.platform.OS + "/" + im.platform.Architecture + "/" + im.platform.Variant
		if seen[key] {
			return "", fmt.Errorf("two images for platform %s", key)
		}
		seen[key] = true
		if x.opts.Epoch.IsZero() && im.created.After(created) {
			created = im.created
		}
		p := im.platform
		adds[i] = mutate.IndexAddendum{Add: im.img, Descriptor: v1.Descriptor{Platform: &p}}
	}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	idx = mutate.AppendManifests(idx, adds...)
	ann := map[string]string{AnnotationCreated: created.Format(time.RFC3339)}
	maps.Copy(ann, x.opts.Image.Annotations)
	idx, ok := mutate.Annotations(idx, ann).(v1.ImageIndex)
	if !ok {
		return "", errors.New("annotated index is no index") // cannot happen: mutate keeps the type
	}
	d, err := idx.Digest()
	if err != nil {
		return "", fmt.Errorf("index digest: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}

	switch x.format {
	case FormatOCI:
		if err := x.writeLayout(idx, x.dout.tmp); err != nil {
			return "", err
		}
		x.removeLayers() // in the layout now; not part of it
		if err := layoutModes(x.dout.tmp); err != nil {
			return "", err
		}
		if err := ctx.Err(); err != nil {
			return "", err
		}
		if err := x.dout.commit(); err != nil {
			return "", err
		}
	case FormatOCIArchive, FormatRegistry:
		tmp, lock, err := tmplock.MkdirTemp(x.scratchDir, x.scratchPat)
		if err != nil {
			return "", fmt.Errorf("create temporary directory: %w", err)
		}
		defer func() {
			removeAll(tmp)
			lock.Release()
		}()
		if err := x.writeLayout(idx, tmp); err != nil {
			return "", err
		}
		if x.format == FormatRegistry {
			ref, err := ParseReference(x.target)
			if err != nil {
				return "", err
			}
			if _, err := pushLayout(ctx, tmp, ref, x.opts.Registry); err != nil {
				return "", err
			}
		} else if err := tarLayout(ctx, tmp, x.target, created, x.opts); err != nil {
			return "", err
		}
	}
	return d.String(), nil
}

// writeLayout writes idx as the one index of an OCI layout in dir, its
// layers linked in where they can be.
func (x *Index) writeLayout(idx v1.ImageIndex, dir string) error {
	x.mu.Lock()
	for _, l := range x.layers {
		if err := linkBlob(dir, l); err != nil {
			x.mu.Unlock()
			return err
		}
	}
	x.mu.Unlock()
	var tag name.Tag
	var err error
	if x.format == FormatRegistry {
		tag, err = ParseReference(x.target)
	} else {
		tag, err = imageTag(x.target, x.format, x.opts.Image.Tag)
	}
	if err != nil {
		return err
	}
	lp, err := layout.Write(dir, empty.Index)
	if err != nil {
		return fmt.Errorf("write OCI layout: %w", err)
	}
	err = lp.AppendIndex(idx, layout.WithAnnotations(map[string]string{
		"org.opencontainers.image.ref.name": tag.TagStr(),
		"io.containerd.image.name":          containerdName(tag),
	}))
	if err != nil {
		return fmt.Errorf("write OCI layout: %w", err)
	}
	return nil
}

func (x *Index) removeLayers() {
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, l := range x.layers {
		l.remove()
	}
	x.layers = nil
}

// Abort removes the layers and temporaries left (after Commit, what
// Commit did not need to keep: nothing of the output).
func (x *Index) Abort() {
	x.removeLayers()
	if x.dout != nil {
		x.dout.abort()
	}
}
