package manifest

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	ggcrcomp "github.com/google/go-containerregistry/pkg/compression"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/debstrap/debstrap/export"
	"github.com/debstrap/debstrap/rootfs"
)

// memSource is an in-memory staging root for export.Write.
type memSource struct {
	entries []rootfs.Entry
	files   map[string][]byte
}

func (m *memSource) Entries() []rootfs.Entry { return m.entries }

func (m *memSource) Open(p string) (io.ReadCloser, error) {
	b, ok := m.files[p]
	if !ok {
		return nil, fs.ErrNotExist
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

func exportFixture() *memSource {
	m := &memSource{files: map[string][]byte{}}
	add := func(e rootfs.Entry, content string) {
		e.ModTime = time.Unix(1700000000, 0)
		if e.Type == tar.TypeReg {
			e.Size = int64(len(content))
			m.files[e.Path] = []byte(content)
		}
		m.entries = append(m.entries, e)
	}
	d := func(p string, mode int64) rootfs.Entry { return rootfs.Entry{Path: p, Type: tar.TypeDir, Mode: mode} }
	add(d("/", 0o755), "")
	add(rootfs.Entry{Path: "/bin", Type: tar.TypeSymlink, Mode: 0o777, Linkname: "usr/bin"}, "")
	add(d("/dev", 0o755), "")
	add(rootfs.Entry{Path: "/dev/null", Type: tar.TypeChar, Mode: 0o666, Devmajor: 1, Devminor: 3}, "")
	add(d("/etc", 0o755), "")
	add(rootfs.Entry{Path: "/etc/shadow", Type: tar.TypeReg, Mode: 0o640, Gid: 42}, "root:*:19000:0:99999:7:::\n")
	add(d("/tmp", 0o1777), "")
	add(d("/usr", 0o755), "")
	add(d("/usr/bin", 0o755), "")
	add(rootfs.Entry{Path: "/usr/bin/perl", Type: tar.TypeReg, Mode: 0o755}, "ELF perl")
	add(rootfs.Entry{Path: "/usr/bin/perl5.36.0", Type: tar.TypeLink, Linkname: "/usr/bin/perl"}, "")
	add(rootfs.Entry{Path: "/usr/bin/ping", Type: tar.TypeReg, Mode: 0o4755,
		Xattrs: map[string]string{"security.capability": capability}}, "ELF ping")
	add(rootfs.Entry{Path: "/usr/lib-long", Type: tar.TypeSymlink, Linkname: strings.Repeat("../", 30) + "x"}, "")
	add(rootfs.Entry{Path: "/usr/big-uid", Type: tar.TypeReg, Mode: 0o600, Uid: 3_000_000, Gid: 70_000}, "")
	add(d("/run", 0o755), "")
	add(rootfs.Entry{Path: "/run/initctl", Type: tar.TypeFifo, Mode: 0o600}, "")
	add(rootfs.Entry{Path: "/dev/sda", Type: tar.TypeBlock, Mode: 0o660, Gid: 6, Devmajor: 8, Devminor: 0}, "")
	add(rootfs.Entry{Path: "/dev/big", Type: tar.TypeChar, Mode: 0o600, Devmajor: 259, Devminor: 1000}, "")
	add(rootfs.Entry{Path: "/usr/blob", Type: tar.TypeReg, Mode: 0o644}, strings.Repeat("0123456789abcdef", 40_000))
	add(rootfs.Entry{Path: "/usr/xattrs", Type: tar.TypeReg, Mode: 0o644,
		Xattrs: map[string]string{"user.big": strings.Repeat("v", 300), "trusted.t": "1"}}, "many xattrs: in a block")
	return m
}

// skipWithout skips a format whose host tools are missing.
func skipWithout(t *testing.T, target string) {
	t.Helper()
	f, err := export.FormatFor(target, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := export.CheckTarget(filepath.Join(t.TempDir(), target), f); err != nil {
		t.Skip(err)
	}
	if f == export.FormatSquashfs {
		if _, err := exec.LookPath("sqfs2tar"); err != nil {
			t.Skip("sqfs2tar: install the Debian package squashfs-tools-ng")
		}
	}
}

// Every format export writes describes the same root.
func TestExportFormatsAgree(t *testing.T) {
	ctx := context.Background()
	src := exportFixture()
	dir := t.TempDir()
	var want *Manifest
	for _, target := range []string{"root.tar", "root.tar.gz", "root.tar.xz", "root.tar.zst", "root.oci", "root.oci.tar", "root.docker.tar", "root.squashfs", "root.ext4", "rootdir"} {
		t.Run(target, func(t *testing.T) {
			if target == "rootdir" && os.Geteuid() != 0 {
				t.Skip("a directory keeps owners and devices only when written as root")
			}
			if target != "rootdir" {
				skipWithout(t, target)
			}
			p := filepath.Join(dir, target)
			if _, err := export.Write(ctx, src, p, export.Options{Architecture: "amd64"}); err != nil {
				t.Fatal(err)
			}
			got := readPath(t, p)
			if want == nil {
				want = got
				if len(got.Entries) != len(src.entries) {
					t.Errorf("got %d entries, want %d", len(got.Entries), len(src.entries))
				}
				return
			}
			var opts DiffOptions
			if target == "rootdir" {
				// A directory gets only a chroot's safe devices.
				opts.Ignore = []string{"/dev/sda", "/dev/big"}
			}
			if d, _ := Diff(want, got, opts); len(d) != 0 {
				t.Errorf("differs from root.tar:\n%s", lines(d))
			}
		})
	}
}

// layers is a three-layer image that whites out, hides by opaque
// directories, replaces, and hardlinks across layers.
func layers(t *testing.T) []v1.Layer {
	l1 := makeTar(t,
		dir("./", 0o755),
		dir("./a/", 0o755), reg("./a/x", 0o644, "x1"), reg("./a/y", 0o644, "y1"),
		dir("./b/", 0o755), reg("./b/old", 0o644, "old"), dir("./b/sub/", 0o755), reg("./b/sub/deep", 0o644, "deep"),
		reg("./c", 0o644, "c-file"),
		dir("./d/", 0o755), reg("./d/1", 0o644, "1"),
		reg("./e", 0o644, "e1"),
		// A symlink climbing above the root: legal, and kept.
		symlink("./up", "../../../etc"),
		dir("./usr/", 0o755), dir("./usr/bin/", 0o755), reg("./usr/bin/perl", 0o755, "perl"),
	)
	// The layer's own members come before its opaque marker: it hides
	// only lower layers whatever the order.
	l2 := makeTar(t,
		reg("./a/.wh.x", 0o644, ""),
		reg("./b/new", 0o644, "new"),
		reg("./b/.wh..wh..opq", 0o644, ""),
		reg("./.wh.d", 0o644, ""),
		dir("./c/", 0o755), reg("./c/inside", 0o644, "in"),
		hardlink("./usr/bin/perl5", "./usr/bin/perl"),
		reg("./e", 0o600, "e2"),
	)
	l3 := makeTar(t,
		reg("./c", 0o644, "c2"), // a directory replaced by a file loses its contents
		dir("./d/", 0o700), reg("./d/2", 0o644, "2"),
		reg("./.wh.e", 0o644, ""),
	)
	opener := func(b []byte) tarball.Opener {
		return func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	}
	gz, err := tarball.LayerFromOpener(opener(l1))
	if err != nil {
		t.Fatal(err)
	}
	zst, err := tarball.LayerFromOpener(opener(l3), tarball.WithCompression(ggcrcomp.ZStd), tarball.WithMediaType(types.OCILayerZStd))
	if err != nil {
		t.Fatal(err)
	}
	return []v1.Layer{gz, static.NewLayer(l2, types.OCIUncompressedLayer), zst}
}

func flattened(t *testing.T) *Manifest {
	return readPath(t, writeFile(t, "flat.tar", makeTar(t,
		dir("./", 0o755),
		dir("./a/", 0o755), reg("./a/y", 0o644, "y1"),
		dir("./b/", 0o755), reg("./b/new", 0o644, "new"),
		reg("./c", 0o644, "c2"),
		dir("./d/", 0o700), reg("./d/2", 0o644, "2"),
		symlink("./up", "../../../etc"),
		dir("./usr/", 0o755), dir("./usr/bin/", 0o755), reg("./usr/bin/perl", 0o755, "perl"),
		hardlink("./usr/bin/perl5", "./usr/bin/perl"),
	)))
}

func image(t *testing.T) v1.Image {
	img, err := mutate.AppendLayers(mutate.MediaType(empty.Image, types.OCIManifestSchema1), layers(t)...)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func writeLayout(t *testing.T, imgs ...mutate.IndexAddendum) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "image.oci")
	lp, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range imgs {
		var opts []layout.Option
		if a.Descriptor.Platform != nil {
			opts = append(opts, layout.WithPlatform(*a.Descriptor.Platform))
		}
		if err := lp.AppendImage(a.Add.(v1.Image), opts...); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// tarDir archives dir's contents with names prefixed by prefix ("" or
// "./"), as an OCI archive is made.
func tarDir(t *testing.T, dir, prefix string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == "." {
			return nil
		}
		h := &tar.Header{Name: prefix + rel, Mode: 0o644, Typeflag: tar.TypeReg}
		if d.IsDir() {
			h.Name, h.Typeflag, h.Mode = h.Name+"/", tar.TypeDir, 0o755
			return tw.WriteHeader(h)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		h.Size = int64(len(data))
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		_, err = tw.Write(data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestFlattenLayers(t *testing.T) {
	want := flattened(t)
	img := image(t)
	oci := writeLayout(t, mutate.IndexAddendum{Add: img})
	docker := filepath.Join(t.TempDir(), "image.docker.tar")
	if err := tarball.WriteToFile(docker, name.MustParseReference("debstrap/test:latest").(name.Tag), img); err != nil {
		t.Fatal(err)
	}
	for name, p := range map[string]string{
		"oci layout":          oci,
		"oci archive":         writeFile(t, "image.oci.tar", tarDir(t, oci, "")),
		"oci archive with ./": writeFile(t, "image.tar", tarDir(t, oci, "./")),
		"docker-archive":      docker,
	} {
		t.Run(name, func(t *testing.T) {
			got := readPath(t, p)
			if d, _ := Diff(want, got, DiffOptions{}); len(d) != 0 {
				var buf bytes.Buffer
				got.WriteTo(&buf)
				t.Errorf("flattened image differs:\n%s\nmanifest:\n%s", lines(d), buf.String())
			}
		})
	}
}

func TestImageErrors(t *testing.T) {
	img := image(t)
	// A layer whose bytes no longer match its digest.
	corrupt := writeLayout(t, mutate.IndexAddendum{Add: img})
	ls, _ := img.Layers()
	d, _ := ls[1].Digest()
	blob := filepath.Join(corrupt, "blobs", "sha256", d.Hex)
	data, err := os.ReadFile(blob)
	if err != nil {
		t.Fatal(err)
	}
	data[bytes.Index(data, []byte("new"))] = 'N'
	if err := os.WriteFile(blob, data, 0o644); err != nil {
		t.Fatal(err)
	}

	other := "arm64"
	if runtime.GOARCH == other {
		other = "amd64"
	}
	two := writeLayout(t, mutate.IndexAddendum{Add: img}, mutate.IndexAddendum{Add: empty.Image})
	archive := tarDir(t, writeLayout(t, mutate.IndexAddendum{Add: img}), "")
	for _, tc := range []struct {
		name, path, want string
	}{
		{"corrupt layer", corrupt, "layer 2"},
		{"two images", two, "lists 2 images"},
		{"compressed archive", writeFile(t, "image.oci.tar.gz", compress(t, "gz", archive)), "decompress it first"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Read(context.Background(), tc.path)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got error %v, want one saying %q", err, tc.want)
			}
		})
	}

	// Of several images, the one for this machine is taken.
	multi := writeLayout(t,
		mutate.IndexAddendum{Add: empty.Image, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: other}}},
		mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: runtime.GOARCH}}},
	)
	if d, _ := Diff(flattened(t), readPath(t, multi), DiffOptions{}); len(d) != 0 {
		t.Errorf("picked the wrong image:\n%s", lines(d))
	}
}
