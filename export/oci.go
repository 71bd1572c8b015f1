package export

import (
	"archive/tar"
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/debstrap/debstrap/internal/tmplock"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/gzip"
)

// fileLayer is the image's one layer: a gzip-compressed tar written once
// to a temporary file, with both digests computed while writing, so
// go-containerregistry never compresses or hashes it again.
type fileLayer struct {
	path           string
	lock           *tmplock.Lock
	digest, diffID v1.Hash
	size           int64
}

func (l *fileLayer) Digest() (v1.Hash, error)            { return l.digest, nil }
func (l *fileLayer) DiffID() (v1.Hash, error)            { return l.diffID, nil }
func (l *fileLayer) Size() (int64, error)                { return l.size, nil }
func (l *fileLayer) MediaType() (types.MediaType, error) { return types.OCILayer, nil }
func (l *fileLayer) Compressed() (io.ReadCloser, error)  { return os.Open(l.path) }
func (l *fileLayer) Uncompressed() (io.ReadCloser, error) {
	f, err := os.Open(l.path)
	if err != nil {
		return nil, err
	}
	zr, err := gzip.NewReader(bufio.NewReader(f))
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("layer %s: %w", l.path, err)
	}
	return &gunzipFile{zr, f}, nil
}

type gunzipFile struct {
	*gzip.Reader
	f *os.File
}

func (g *gunzipFile) Close() error {
	err := g.Reader.Close()
	if ferr := g.f.Close(); err == nil {
		err = ferr
	}
	return err
}

var _ v1.Layer = (*fileLayer)(nil)

// remove deletes the layer's temporary file.
func (l *fileLayer) remove() {
	os.Remove(l.path)
	l.lock.Release()
}

// ctxWriter fails writes once ctx is done, to stop writers that take no
// context.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c ctxWriter) Write(b []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(b)
}

// countWriter counts bytes written through it.
type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n += int64(n)
	return n, err
}

// buildLayer writes the root's tar, gzip-compressed, to a temporary file
// in dir. The caller calls l.remove.
func buildLayer(ctx context.Context, src Source, p *plan, dir, pattern string, opts Options) (l *fileLayer, err error) {
	f, lock, err := tmplock.CreateTemp(dir, pattern)
	if err != nil {
		return nil, fmt.Errorf("create temporary layer: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
			lock.Release()
		}
	}()
	blobHash, tarHash := sha256.New(), sha256.New()
	bw := bufio.NewWriterSize(f, 1<<20)
	cw := &countWriter{w: io.MultiWriter(bw, blobHash)}
	zw, err := newGzip(cw)
	if err != nil {
		return nil, err
	}
	// Reading the staged files and compressing run on two cores.
	aw := newAsyncWriter(io.MultiWriter(zw, tarHash), 1<<20, 4)
	defer aw.Close()
	if err := writeTar(ctx, aw, src, p, opts.Progress); err != nil {
		aw.Close()
		zw.Close()
		return nil, err
	}
	if err := aw.Flush(); err != nil {
		zw.Close()
		return nil, fmt.Errorf("write layer %s: %w", f.Name(), err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("finish layer compression: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return nil, fmt.Errorf("write layer %s: %w", f.Name(), err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("close layer %s: %w", f.Name(), err)
	}
	return &fileLayer{
		path:   f.Name(),
		lock:   lock,
		digest: v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(blobHash.Sum(nil))},
		diffID: v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(tarHash.Sum(nil))},
		size:   cw.n,
	}, nil
}

// parseTag reads an image name given by the user: NAME[:TAG].
func parseTag(tag string) (name.Tag, error) {
	if strings.Contains(tag, "@") {
		return name.Tag{}, fmt.Errorf("image name %q: a digest (@sha256:…) names existing content; give NAME[:TAG]", tag)
	}
	t, err := name.NewTag(tag)
	if err != nil {
		return name.Tag{}, fmt.Errorf("image name %q: %w", tag, err)
	}
	return t, nil
}

// imageTag is the image's name: tag, else the target's base name
// without its format ending, else DefaultTag.
func imageTag(target string, format Format, tag string) (name.Tag, error) {
	if tag != "" {
		return parseTag(tag)
	}
	base := strings.ToLower(filepath.Base(strings.TrimRight(target, "/")))
	for _, s := range suffixes {
		if s.format == format && strings.HasSuffix(base, s.suffix) {
			base = strings.TrimSuffix(base, s.suffix)
			break
		}
	}
	if t, err := name.NewTag(base + ":latest"); err == nil && base != "" && !strings.ContainsAny(base, ":/@") {
		return t, nil
	}
	return name.NewTag(DefaultTag)
}

// containerdName is the full name containerd (and docker with its
// containerd image store) gives an image loaded from an OCI archive.
func containerdName(t name.Tag) string {
	if t.RegistryStr() == name.DefaultRegistry {
		return "docker.io/" + t.RepositoryStr() + ":" + t.TagStr()
	}
	return t.Name()
}

// buildImage makes the image config and manifest around layer, shaped like
// those of Debian's official images, with what c adds or changes.
func buildImage(layer v1.Layer, created time.Time, opts Options) (v1.Image, error) {
	c := opts.Image
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err := mutate.Append(img, mutate.Addendum{
		Layer: layer,
		History: v1.History{
			Created:   v1.Time{Time: created},
			CreatedBy: "debstrap",
		},
	})
	if err != nil {
		return nil, fmt.Errorf("add layer: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("image config: %w", err)
	}
	cf = cf.DeepCopy()
	cf.Architecture = opts.Architecture
	cf.Variant = opts.Variant
	cf.OS = "linux"
	cf.Created = v1.Time{Time: created}
	cf.Config.Env = MergeEnv(DefaultEnv, c.Env)
	cf.Config.Cmd = c.Cmd
	if c.Cmd == nil && len(c.Entrypoint) == 0 {
		cf.Config.Cmd = DefaultCmd
	}
	// Every field is omitempty: an empty Cmd or Entrypoint is left out,
	// as docker writes none.
	cf.Config.Entrypoint = c.Entrypoint
	cf.Config.WorkingDir = c.WorkingDir
	cf.Config.User = c.User
	cf.Config.Labels = maps.Clone(c.Labels)
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, fmt.Errorf("set image config: %w", err)
	}
	// The manifest's annotations: what is known of every image, then the
	// caller's. (A docker-archive drops them with the manifest.)
	ann := map[string]string{AnnotationCreated: created.UTC().Format(time.RFC3339)}
	maps.Copy(ann, c.Annotations)
	img, ok := mutate.Annotations(img, ann).(v1.Image)
	if !ok {
		return nil, errors.New("annotated image is no image") // cannot happen: mutate keeps the type
	}
	return img, nil
}

// writeImage writes an OCI layout, an OCI archive or a docker-archive.
func writeImage(ctx context.Context, src Source, p *plan, target string, format Format, opts Options) (string, error) {
	if opts.Architecture == "" {
		return "", errors.New("an image needs Options.Architecture (the OCI name, e.g. amd64, arm64, arm)")
	}
	tag, err := imageTag(target, format, opts.Image.Tag)
	if err != nil {
		return "", err
	}
	created := p.newest
	if !opts.Epoch.IsZero() {
		created = time.Unix(opts.Epoch.Unix(), 0).UTC()
	}
	// An OCI layout is made in a temporary directory (next to the target,
	// or inside it when it is an existing empty directory), the layer
	// with it; the others stream to a file target, the layer and the
	// layout of an archive go to a scratch place.
	var dout *dirOutput
	var scratchDir, scratchPat string
	switch format {
	case FormatOCI:
		if dout, err = mkdirOutput(target); err != nil {
			return "", err
		}
		defer dout.abort()
		scratchDir, scratchPat = dout.tmp, ".layer.tmp-*"
	case FormatRegistry:
		if _, err := ParseReference(target); err != nil {
			return "", err
		}
		scratchDir, scratchPat = os.TempDir(), scratchPattern
	default:
		t, err := resolveFile(target)
		if err != nil {
			return "", err
		}
		scratchDir, scratchPat = t.scratch()
	}

	layer, err := buildLayer(ctx, src, p, scratchDir, scratchPat, opts)
	if err != nil {
		return "", err
	}
	defer layer.remove()
	img, err := buildImage(layer, created, opts)
	if err != nil {
		return "", err
	}
	// A docker-archive stores no manifest (docker load makes its own), so
	// its digest is the config's: the image ID docker reports.
	var digest v1.Hash
	if format == FormatDockerArchive {
		digest, err = img.ConfigName()
	} else {
		digest, err = img.Digest()
	}
	if err != nil {
		return "", fmt.Errorf("image digest: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}

	switch format {
	case FormatDockerArchive:
		err = writeDockerArchive(ctx, img, tag, target, opts)
	case FormatOCI:
		err = writeLayout(img, tag, dout.tmp)
		layer.remove() // it is in the layout directory
		if err == nil {
			err = attachAll(dout.tmp, opts.Referrers)
		}
		if err == nil {
			err = layoutModes(dout.tmp)
		}
		if err == nil {
			err = ctx.Err()
		}
		if err == nil {
			err = dout.commit()
		}
	case FormatOCIArchive:
		err = writeOCIArchive(ctx, img, tag, target, scratchDir, scratchPat, created, opts)
	case FormatRegistry:
		err = writeRegistry(ctx, img, layer, target, scratchDir, scratchPat, opts)
	default:
		err = fmt.Errorf("format %s is not an image", format)
	}
	if err != nil {
		return "", err
	}
	return digest.String(), nil
}

func writeDockerArchive(ctx context.Context, img v1.Image, tag name.Tag, target string, opts Options) error {
	out, err := openOutput(ctx, target, opts.Stdout)
	if err != nil {
		return err
	}
	defer out.abort()
	bw := bufio.NewWriterSize(ctxWriter{ctx, out}, 1<<20)
	if err := tarball.Write(tag, img, bw); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("write docker-archive: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write %s: %w", out.name(), err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return out.commit()
}

// writeLayout writes img as an OCI image layout in the directory dir.
func writeLayout(img v1.Image, tag name.Tag, dir string) error {
	lp, err := layout.Write(dir, empty.Index)
	if err != nil {
		return fmt.Errorf("write OCI layout: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return fmt.Errorf("image config: %w", err)
	}
	err = lp.AppendImage(img,
		layout.WithAnnotations(map[string]string{
			// skopeo, podman and umoci find the image by this tag.
			"org.opencontainers.image.ref.name": tag.TagStr(),
			// docker load and ctr import name the image after this.
			"io.containerd.image.name": containerdName(tag),
		}),
		layout.WithPlatform(v1.Platform{Architecture: cf.Architecture, OS: cf.OS, Variant: cf.Variant}),
	)
	if err != nil {
		return fmt.Errorf("write OCI layout: %w", err)
	}
	return nil
}

// layoutModes makes every file and directory of an OCI layout readable
// by all, as far as the umask allows: go-containerregistry writes blobs
// through 0600 temporaries, and another user's podman must read them.
func layoutModes(dir string) error {
	fm, dm := fileMode(), dirMode()
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		m := fm
		if d.IsDir() {
			m = dm
		}
		if err := os.Chmod(p, m); err != nil {
			return fmt.Errorf("chmod %s: %w", p, err)
		}
		return nil
	})
}

// writeOCIArchive writes img as an OCI layout in a temporary directory
// in scratchDir, and that as a tar to target.
func writeOCIArchive(ctx context.Context, img v1.Image, tag name.Tag, target, scratchDir, scratchPat string, created time.Time, opts Options) error {
	tmp, lock, err := tmplock.MkdirTemp(scratchDir, scratchPat)
	if err != nil {
		return fmt.Errorf("create temporary directory: %w", err)
	}
	defer func() {
		removeAll(tmp)
		lock.Release()
	}()
	if err := writeLayout(img, tag, tmp); err != nil {
		return err
	}
	if err := attachAll(tmp, opts.Referrers); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	// Docker before 25 loads only the docker-archive manifest.json; docker
	// save has written it beside index.json since, and so do we: one file
	// that docker load, podman load and skopeo all accept.
	if err := writeDockerManifest(tmp, img, tag); err != nil {
		return err
	}
	return tarLayout(ctx, tmp, target, created, opts)
}

// writeDockerManifest adds a docker-archive manifest.json to an OCI layout,
// pointing at the layout's own blobs.
func writeDockerManifest(dir string, img v1.Image, tag name.Tag) error {
	cfg, err := img.ConfigName()
	if err != nil {
		return fmt.Errorf("image config: %w", err)
	}
	layers, err := img.Layers()
	if err != nil {
		return fmt.Errorf("image layers: %w", err)
	}
	entry := struct {
		Config   string
		RepoTags []string
		Layers   []string
	}{Config: "blobs/sha256/" + cfg.Hex, RepoTags: []string{tag.String()}}
	for _, l := range layers {
		d, err := l.Digest()
		if err != nil {
			return fmt.Errorf("layer digest: %w", err)
		}
		entry.Layers = append(entry.Layers, "blobs/sha256/"+d.Hex)
	}
	data, err := json.Marshal([]any{entry})
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "manifest.json"), data, 0o644)
}

// tarLayout writes the OCI layout directory dir as an OCI archive: its
// contents (no "./" root), sorted, owned by 0:0 with fixed modes and mtime.
func tarLayout(ctx context.Context, dir, target string, mtime time.Time, opts Options) error {
	out, err := openOutput(ctx, target, opts.Stdout)
	if err != nil {
		return err
	}
	defer out.abort()
	bw := bufio.NewWriterSize(out, 1<<20)
	tw := tar.NewWriter(bw)
	// WalkDir visits names sorted within each directory, depth first: the
	// same order as the root's own tar.
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil || rel == "." {
			return err
		}
		rel = filepath.ToSlash(rel)
		h := &tar.Header{Name: rel, Mode: 0o644, Typeflag: tar.TypeReg, ModTime: mtime, Format: tar.FormatPAX}
		if d.IsDir() {
			h.Name, h.Mode, h.Typeflag = rel+"/", 0o755, tar.TypeDir
			return tw.WriteHeader(h)
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("OCI layout holds %s, which is not a regular file", rel)
		}
		r, err := os.Open(p)
		if err != nil {
			return err
		}
		defer r.Close()
		fi, err := r.Stat()
		if err != nil {
			return err
		}
		h.Size = fi.Size()
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		_, err = io.Copy(tw, ctxReader{ctx, r})
		return err
	})
	if err != nil {
		return fmt.Errorf("write OCI archive: %w", err)
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("write OCI archive: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write %s: %w", out.name(), err)
	}
	return out.commit()
}
