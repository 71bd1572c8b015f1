package main

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// imageEntry is one path of a built image.
type imageEntry struct {
	hdr  tar.Header
	body []byte
}

// image is a built image read back: its paths (relative, no "./"), and for
// OCI and docker images the image config.
type image struct {
	entries map[string]imageEntry
	order   []string
	config  *v1.ConfigFile
}

func cleanName(n string) string {
	n = strings.TrimPrefix(n, "./")
	n = strings.TrimPrefix(n, "/")
	return strings.TrimSuffix(n, "/")
}

// readTarInto adds the entries of the tar stream r to img.
func readTarInto(t *testing.T, img *image, r io.Reader) {
	t.Helper()
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatalf("reading the image's tar: %v", err)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatalf("reading %s: %v", h.Name, err)
		}
		name := cleanName(h.Name)
		if name == "" || name == "." {
			name = "."
		}
		if _, dup := img.entries[name]; dup {
			t.Errorf("%s appears twice in the tar", name)
		}
		img.entries[name] = imageEntry{*h, body}
		img.order = append(img.order, name)
	}
}

// readImage reads the image at p, whatever its format.
func readImage(t *testing.T, p string) *image {
	t.Helper()
	img := &image{entries: map[string]imageEntry{}}
	base := strings.ToLower(filepath.Base(strings.TrimRight(p, "/")))
	switch {
	case strings.HasSuffix(base, ".oci"):
		readOCILayout(t, img, p)
	case strings.HasSuffix(base, ".oci.tar"):
		dir := t.TempDir()
		untar(t, p, dir)
		readOCILayout(t, img, dir)
	case strings.HasSuffix(base, ".docker.tar"):
		im, err := tarball.ImageFromPath(p, nil)
		if err != nil {
			t.Fatalf("docker-archive %s: %v", p, err)
		}
		readV1Image(t, img, im)
	case strings.HasSuffix(base, ".tar"):
		f := open(t, p)
		readTarInto(t, img, f)
	case strings.HasSuffix(base, ".tar.gz"):
		zr, err := gzip.NewReader(open(t, p))
		if err != nil {
			t.Fatal(err)
		}
		readTarInto(t, img, zr)
	case strings.HasSuffix(base, ".tar.xz"):
		xr, err := xz.NewReader(open(t, p))
		if err != nil {
			t.Fatal(err)
		}
		readTarInto(t, img, xr)
	case strings.HasSuffix(base, ".tar.zst"):
		zr, err := zstd.NewReader(open(t, p))
		if err != nil {
			t.Fatal(err)
		}
		defer zr.Close()
		readTarInto(t, img, zr)
	default:
		t.Fatalf("readImage: unknown format of %s", p)
	}
	return img
}

func open(t *testing.T, p string) *os.File {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func readOCILayout(t *testing.T, img *image, dir string) {
	t.Helper()
	for _, f := range []string{"oci-layout", "index.json"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("OCI layout: %v", err)
		}
	}
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatalf("OCI layout %s: %v", dir, err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Manifests) != 1 {
		t.Fatalf("OCI index has %d manifests, want 1", len(m.Manifests))
	}
	im, err := idx.Image(m.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	readV1Image(t, img, im)
}

func readV1Image(t *testing.T, img *image, im v1.Image) {
	t.Helper()
	cfg, err := im.ConfigFile()
	if err != nil {
		t.Fatalf("image config: %v", err)
	}
	img.config = cfg
	layers, err := im.Layers()
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) == 0 {
		t.Fatal("image has no layers")
	}
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		readTarInto(t, img, rc)
		rc.Close()
	}
}

// untar extracts the regular files and directories of the tar file p
// into dir (an OCI archive).
func untar(t *testing.T, p, dir string) {
	t.Helper()
	tr := tar.NewReader(open(t, p))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		name := path.Clean("/" + h.Name)[1:]
		if name == "" {
			continue
		}
		dst := filepath.Join(dir, filepath.FromSlash(name))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(dst, 0o755); err != nil {
				t.Fatal(err)
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(dst, b, 0o644); err != nil {
				t.Fatal(err)
			}
		default:
			t.Errorf("%s: unexpected entry %s (type %c)", p, h.Name, h.Typeflag)
		}
	}
}

// readDirImage reads a directory image from disk (contents only: owners on
// disk are the builder's).
func readDirImage(t *testing.T, dir string) *image {
	t.Helper()
	img := &image{entries: map[string]imageEntry{}}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		var h tar.Header
		h.Name = rel
		h.Mode = int64(fi.Mode().Perm())
		for bit, m := range map[os.FileMode]int64{os.ModeSetuid: 0o4000, os.ModeSetgid: 0o2000, os.ModeSticky: 0o1000} {
			if fi.Mode()&bit != 0 {
				h.Mode |= m
			}
		}
		switch {
		case d.IsDir():
			h.Typeflag = tar.TypeDir
		case d.Type()&os.ModeSymlink != 0:
			h.Typeflag = tar.TypeSymlink
			h.Linkname, _ = os.Readlink(p)
		case d.Type().IsRegular():
			h.Typeflag = tar.TypeReg
		default:
			h.Typeflag = tar.TypeChar
		}
		var body []byte
		if h.Typeflag == tar.TypeReg {
			if body, err = os.ReadFile(p); err != nil {
				return err
			}
		}
		img.entries[rel] = imageEntry{h, body}
		img.order = append(img.order, rel)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return img
}
