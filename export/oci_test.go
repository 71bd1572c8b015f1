package export

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// plainTar is the fixture's uncompressed tar, which every image's layer
// must hold exactly.
func plainTar(t *testing.T) []byte {
	t.Helper()
	return readFileAfterWrite(t, filepath.Join(t.TempDir(), "plain.tar"))
}

// checkImage checks config and layer of an image read back from disk.
func checkImage(t *testing.T, img v1.Image, plain []byte, arch, variant string) {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.Architecture != arch || cf.Variant != variant || cf.OS != "linux" {
		t.Errorf("platform %s/%s/%s, want linux/%s/%s", cf.OS, cf.Architecture, cf.Variant, arch, variant)
	}
	if !cf.Created.Time.Equal(epoch) {
		t.Errorf("created %v, want %v", cf.Created, epoch)
	}
	if !slices.Equal(cf.Config.Env, DefaultEnv) || !slices.Equal(cf.Config.Cmd, []string{"bash"}) {
		t.Errorf("Env %q Cmd %q", cf.Config.Env, cf.Config.Cmd)
	}
	if len(cf.History) != 1 || cf.History[0].CreatedBy != "debstrap" || !cf.History[0].Created.Time.Equal(epoch) {
		t.Errorf("history %+v", cf.History)
	}
	if cf.RootFS.Type != "layers" || len(cf.RootFS.DiffIDs) != 1 || cf.RootFS.DiffIDs[0].String() != sha(plain) {
		t.Errorf("rootfs %+v, want one diff_id %s", cf.RootFS, sha(plain))
	}
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers %v, %v", layers, err)
	}
	l := layers[0]
	rc, err := l.Compressed()
	if err != nil {
		t.Fatal(err)
	}
	blob, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	d, _ := l.Digest()
	if d.String() != sha(blob) {
		t.Errorf("layer digest %s, blob has %s", d, sha(blob))
	}
	rc, err = l.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, plain) {
		t.Errorf("layer content (%d bytes) differs from the tar format's (%d bytes)", len(got), len(plain))
	}
}

func TestOCILayout(t *testing.T) {
	plain := plainTar(t)
	dir := t.TempDir()
	target := filepath.Join(dir, "bookworm.oci")
	digest := write(t, fixture(), target, Options{})
	if fi, err := os.Stat(target); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("layout directory: %v %v", fi, err)
	}
	idx, err := layout.ImageIndexFromPath(target)
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 1 {
		t.Fatalf("index has %d manifests", len(im.Manifests))
	}
	desc := im.Manifests[0]
	if desc.Digest.String() != digest {
		t.Errorf("index names %s, Write returned %s", desc.Digest, digest)
	}
	if desc.MediaType != types.OCIManifestSchema1 {
		t.Errorf("manifest media type %s", desc.MediaType)
	}
	if got := desc.Annotations["org.opencontainers.image.ref.name"]; got != "latest" {
		t.Errorf("ref.name %q", got)
	}
	if got := desc.Annotations["io.containerd.image.name"]; got != "docker.io/library/bookworm:latest" {
		t.Errorf("containerd name %q", got)
	}
	if desc.Platform == nil || desc.Platform.Architecture != "amd64" || desc.Platform.OS != "linux" {
		t.Errorf("platform %+v", desc.Platform)
	}
	img, err := idx.Image(desc.Digest)
	if err != nil {
		t.Fatal(err)
	}
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if m.Config.MediaType != types.OCIConfigJSON || len(m.Layers) != 1 || m.Layers[0].MediaType != types.OCILayer {
		t.Errorf("manifest %+v", m)
	}
	checkImage(t, img, plain, "amd64", "")
	raw, _ := img.RawConfigFile()
	rawManifest, _ := img.RawManifest()
	golden(t, "fixture-oci-config.json", string(raw)+"\n")
	golden(t, "fixture-oci-manifest.json", string(rawManifest)+"\n")
	assertNoTemp(t, dir)

	skopeoInspect(t, "oci:"+target, digest, "amd64")
	umociUnpack(t, target+":latest")
}

func TestOCIVariant(t *testing.T) {
	target := filepath.Join(t.TempDir(), "armhf.oci")
	write(t, fixture(), target, Options{Architecture: "arm", Variant: "v7"})
	idx, err := layout.ImageIndexFromPath(target)
	if err != nil {
		t.Fatal(err)
	}
	im, _ := idx.IndexManifest()
	if p := im.Manifests[0].Platform; p == nil || p.Architecture != "arm" || p.Variant != "v7" {
		t.Errorf("index platform %+v", p)
	}
	img, err := idx.Image(im.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	checkImage(t, img, plainTar(t), "arm", "v7")
}

func TestOCIArchive(t *testing.T) {
	plain := plainTar(t)
	dir := t.TempDir()
	target := filepath.Join(dir, "img.oci.tar")
	digest := write(t, fixture(), target, Options{Image: ImageConfig{Tag: "example/img:v1"}})
	b := readFile(t, target)
	// Unpack it as a layout, checking each member's header on the way.
	out := filepath.Join(dir, "unpacked")
	tr := tar.NewReader(bytes.NewReader(b))
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		if !h.ModTime.Equal(epoch) || h.Uid != 0 || h.Gid != 0 || h.Uname != "" || h.Format != tar.FormatUSTAR {
			t.Errorf("member %s: mtime %v owner %d:%d %q format %v", h.Name, h.ModTime, h.Uid, h.Gid, h.Uname, h.Format)
		}
		p := filepath.Join(out, h.Name)
		switch h.Typeflag {
		case tar.TypeDir:
			if h.Mode != 0o755 {
				t.Errorf("%s mode %o", h.Name, h.Mode)
			}
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
		case tar.TypeReg:
			if h.Mode != 0o644 {
				t.Errorf("%s mode %o", h.Name, h.Mode)
			}
			c, _ := io.ReadAll(tr)
			if err := os.WriteFile(p, c, 0o644); err != nil {
				t.Fatal(err)
			}
		default:
			t.Errorf("member %s has type %c", h.Name, h.Typeflag)
		}
	}
	if len(names) != 8 || names[0] != "blobs/" || names[1] != "blobs/sha256/" ||
		names[5] != "index.json" || names[6] != "manifest.json" || names[7] != "oci-layout" || !slices.IsSorted(names) {
		t.Errorf("members %q", names)
	}
	// The docker-archive manifest.json (for docker load before Docker 25)
	// names the same image.
	dimg, err := tarball.ImageFromPath(target, nil)
	if err != nil {
		t.Fatalf("OCI archive as a docker-archive: %v", err)
	}
	dcfg, err := dimg.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(out, "blobs", "sha256", dcfg.Hex)); err != nil {
		t.Errorf("manifest.json's config %s is not a blob of the layout: %v", dcfg, err)
	}
	if _, err := dimg.Layers(); err != nil {
		t.Errorf("docker-archive view: layers: %v", err)
	}
	idx, err := layout.ImageIndexFromPath(out)
	if err != nil {
		t.Fatal(err)
	}
	im, _ := idx.IndexManifest()
	if len(im.Manifests) != 1 || im.Manifests[0].Digest.String() != digest {
		t.Fatalf("index %+v, want %s", im, digest)
	}
	if got := im.Manifests[0].Annotations["org.opencontainers.image.ref.name"]; got != "v1" {
		t.Errorf("ref.name %q", got)
	}
	if got := im.Manifests[0].Annotations["io.containerd.image.name"]; got != "docker.io/example/img:v1" {
		t.Errorf("containerd name %q", got)
	}
	img, err := idx.Image(im.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	checkImage(t, img, plain, "amd64", "")
	skopeoInspect(t, "oci-archive:"+target, digest, "amd64")
}

func TestDockerArchive(t *testing.T) {
	plain := plainTar(t)
	dir := t.TempDir()
	target := filepath.Join(dir, "trixie.docker.tar")
	digest := write(t, fixture(), target, Options{})
	m, err := tarball.LoadManifest(func() (io.ReadCloser, error) { return os.Open(target) })
	if err != nil {
		t.Fatal(err)
	}
	if len(m) != 1 || !slices.Equal(m[0].RepoTags, []string{"trixie:latest"}) {
		t.Errorf("manifest.json %+v", m)
	}
	img, err := tarball.ImageFromPath(target, nil)
	if err != nil {
		t.Fatal(err)
	}
	checkImage(t, img, plain, "amd64", "")
	// The config blob is the one an OCI layout of the same root holds.
	raw, _ := img.RawConfigFile()
	var cf map[string]any
	if err := json.Unmarshal(raw, &cf); err != nil {
		t.Fatal(err)
	}
	if digest != sha(raw) {
		t.Errorf("docker-archive digest %s, want the config's %s", digest, sha(raw))
	}
	ociTarget := filepath.Join(dir, "trixie.oci")
	write(t, fixture(), ociTarget, Options{})
	idx, _ := layout.ImageIndexFromPath(ociTarget)
	im, _ := idx.IndexManifest()
	ociImg, _ := idx.Image(im.Manifests[0].Digest)
	ociRaw, _ := ociImg.RawConfigFile()
	if !bytes.Equal(raw, ociRaw) {
		t.Errorf("docker config differs from OCI config:\n%s\n%s", raw, ociRaw)
	}
	// skopeo makes a docker manifest of its own: no digest to compare.
	skopeoInspect(t, "docker-archive:"+target, "", "amd64")
}

func TestImageTag(t *testing.T) {
	for _, tt := range []struct {
		target string
		format Format
		tag    string
		want   string
	}{
		{"out/bookworm.docker.tar", FormatDockerArchive, "", "index.docker.io/library/bookworm:latest"},
		{"out/Bookworm.OCI.tar", FormatOCIArchive, "", "index.docker.io/library/bookworm:latest"},
		{"out/x.oci/", FormatOCI, "", "index.docker.io/library/x:latest"},
		{"out/has space.oci", FormatOCI, "", "index.docker.io/library/debstrap:latest"},
		{"out/x.oci", FormatOCI, "reg.example:5000/a/b:c", "reg.example:5000/a/b:c"},
		{"out/x.oci", FormatOCI, "plain", "index.docker.io/library/plain:latest"},
	} {
		got, err := imageTag(tt.target, tt.format, tt.tag)
		if err != nil || got.Name() != tt.want {
			t.Errorf("imageTag(%q, %q) = %q, %v; want %q", tt.target, tt.tag, got.Name(), err, tt.want)
		}
	}
	if _, err := imageTag("x.oci", FormatOCI, "Bad Tag"); err == nil {
		t.Error("invalid tag accepted")
	}
}

// skopeoInspect checks the image with skopeo when it is installed.
func skopeoInspect(t *testing.T, ref, digest, arch string) {
	t.Helper()
	if _, err := exec.LookPath("skopeo"); err != nil {
		t.Log("skopeo not installed; skipping its check")
		return
	}
	out, err := exec.Command("skopeo", "inspect", ref).CombinedOutput()
	if err != nil {
		t.Fatalf("skopeo inspect %s: %v\n%s", ref, err, out)
	}
	var info struct {
		Digest       string
		Architecture string
		Os           string
		Layers       []string
	}
	if err := json.Unmarshal(out, &info); err != nil {
		t.Fatalf("skopeo output: %v\n%s", err, out)
	}
	if digest != "" && info.Digest != digest {
		t.Errorf("skopeo digest %s, want %s", info.Digest, digest)
	}
	if info.Architecture != arch || info.Os != "linux" || len(info.Layers) != 1 {
		t.Errorf("skopeo inspect %s: %s", ref, out)
	}
}

// umociUnpack unpacks the image with umoci (rootless) when it is installed
// and checks a few paths of the result.
func umociUnpack(t *testing.T, ref string) {
	t.Helper()
	if _, err := exec.LookPath("umoci"); err != nil {
		t.Log("umoci not installed; skipping its check")
		return
	}
	bundle := filepath.Join(t.TempDir(), "bundle")
	out, err := exec.Command("umoci", "unpack", "--rootless", "--image", ref, bundle).CombinedOutput()
	if err != nil {
		t.Fatalf("umoci unpack %s: %v\n%s", ref, err, out)
	}
	root := filepath.Join(bundle, "rootfs")
	if b, err := os.ReadFile(filepath.Join(root, "etc/passwd")); err != nil || !strings.HasPrefix(string(b), "root:x:0:0") {
		t.Errorf("umoci rootfs /etc/passwd: %q %v", b, err)
	}
	if l, err := os.Readlink(filepath.Join(root, "bin")); err != nil || l != "usr/bin" {
		t.Errorf("umoci rootfs /bin: %q %v", l, err)
	}
	a, err1 := os.Stat(filepath.Join(root, "usr/lib/y"))
	b, err2 := os.Stat(filepath.Join(root, "usr/lib-z/x"))
	if err1 != nil || err2 != nil || !os.SameFile(a, b) {
		t.Errorf("umoci rootfs hardlink: %v %v", err1, err2)
	}
	if fi, err := os.Stat(filepath.Join(root, "usr/bin/passwd")); err != nil || fi.Mode()&os.ModeSetuid == 0 {
		t.Errorf("umoci rootfs setuid passwd: %v %v", fi, err)
	}
}

// TestImageConfig: what ImageConfig sets reaches the written config and
// manifest, and the zero value gives Debian's official image's.
func TestImageConfig(t *testing.T) {
	created := map[string]string{AnnotationCreated: "2024-06-01T12:00:00Z"}
	for _, tt := range []struct {
		name        string
		c           ImageConfig
		want        v1.Config
		annotations map[string]string
	}{
		{"defaults", ImageConfig{}, v1.Config{Env: DefaultEnv, Cmd: []string{"bash"}}, created},
		{"everything", ImageConfig{
			Env:         []string{"LANG=C.UTF-8", "PATH=/opt/bin:/usr/bin"},
			Cmd:         []string{"-c", "true"},
			Entrypoint:  []string{"/bin/sh"},
			WorkingDir:  "/srv",
			User:        "1000:1000",
			Labels:      map[string]string{"org.example.team": "infra", "b": ""},
			Annotations: map[string]string{"org.example.a": "1", AnnotationVersion: "12.8"},
		}, v1.Config{
			Env:        []string{"PATH=/opt/bin:/usr/bin", "LANG=C.UTF-8"},
			Cmd:        []string{"-c", "true"},
			Entrypoint: []string{"/bin/sh"},
			WorkingDir: "/srv",
			User:       "1000:1000",
			Labels:     map[string]string{"org.example.team": "infra", "b": ""},
		}, map[string]string{AnnotationCreated: "2024-06-01T12:00:00Z", "org.example.a": "1", AnnotationVersion: "12.8"}},
		{"no cmd", ImageConfig{Cmd: []string{}}, v1.Config{Env: DefaultEnv}, created},
		{"entrypoint drops the default cmd", ImageConfig{Entrypoint: []string{"tini", "--"}},
			v1.Config{Env: DefaultEnv, Entrypoint: []string{"tini", "--"}}, created},
		{"created given", ImageConfig{Annotations: map[string]string{AnnotationCreated: "x"}},
			v1.Config{Env: DefaultEnv, Cmd: []string{"bash"}}, map[string]string{AnnotationCreated: "x"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			target := filepath.Join(dir, "x.oci")
			digest := write(t, fixture(), target, Options{Image: tt.c})
			idx, err := layout.ImageIndexFromPath(target)
			if err != nil {
				t.Fatal(err)
			}
			h, _ := v1.NewHash(digest)
			img, err := idx.Image(h)
			if err != nil {
				t.Fatal(err)
			}
			cf, err := img.ConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			got, _ := json.Marshal(cf.Config)
			want, _ := json.Marshal(tt.want)
			if !bytes.Equal(got, want) {
				t.Errorf("config\n got %s\nwant %s", got, want)
			}
			m, err := img.Manifest()
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(m.Annotations, tt.annotations) {
				t.Errorf("manifest annotations %v, want %v", m.Annotations, tt.annotations)
			}
			// A docker-archive holds the same config.
			dt := filepath.Join(dir, "x.docker.tar")
			c := tt.c
			c.Annotations = nil
			write(t, fixture(), dt, Options{Image: c})
			dimg, err := tarball.ImageFromPath(dt, nil)
			if err != nil {
				t.Fatal(err)
			}
			dcf, _ := dimg.ConfigFile()
			if got, _ := json.Marshal(dcf.Config); !bytes.Equal(got, want) {
				t.Errorf("docker-archive config\n got %s\nwant %s", got, want)
			}
		})
	}
}

// TestImageConfigFormats: a format that cannot hold what is asked is an
// error, not a silent loss.
func TestImageConfigFormats(t *testing.T) {
	for _, tt := range []struct {
		format Format
		c      ImageConfig
		want   string
	}{
		{FormatTar, ImageConfig{Cmd: []string{}}, "a tar holds no image name, config or annotations"},
		{FormatDir, ImageConfig{Tag: "a:b"}, "a dir holds no image name"},
		{FormatTarZst, ImageConfig{Labels: map[string]string{"a": "b"}}, "a tar.zst holds no image"},
		{FormatDockerArchive, ImageConfig{Annotations: map[string]string{"a": "b"}}, "a docker-archive holds no image manifest"},
		{FormatOCI, ImageConfig{Tag: "a@sha256:" + strings.Repeat("0", 64)}, "a digest (@sha256:…) names existing content"},
		{FormatOCIArchive, ImageConfig{Tag: "Upper:x"}, `image name "Upper:x"`},
	} {
		target := filepath.Join(t.TempDir(), "x")
		_, err := Write(t.Context(), fixture(), target, Options{Format: tt.format, Architecture: "amd64", Image: tt.c})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s %+v: got %v, want %q", tt.format, tt.c, err, tt.want)
		}
		assertNoTemp(t, filepath.Dir(target))
	}
}

func TestMergeEnv(t *testing.T) {
	for _, tt := range []struct{ base, over, want []string }{
		{DefaultEnv, nil, DefaultEnv},
		{DefaultEnv, []string{"A=1"}, append(slices.Clone(DefaultEnv), "A=1")},
		{[]string{"PATH=/bin", "B=2"}, []string{"A=1", "PATH=/x", "A=3", "B="}, []string{"PATH=/x", "B=", "A=3"}},
		{nil, []string{"A=1=2"}, []string{"A=1=2"}},
	} {
		if got := MergeEnv(tt.base, tt.over); !slices.Equal(got, tt.want) {
			t.Errorf("MergeEnv(%q, %q) = %q, want %q", tt.base, tt.over, got, tt.want)
		}
	}
	// The base is not changed in place.
	if DefaultEnv[0] != "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" || len(DefaultEnv) != 1 {
		t.Errorf("DefaultEnv changed: %q", DefaultEnv)
	}
}

func TestImageName(t *testing.T) {
	for _, tt := range []struct {
		target string
		format Format
		tag    string
		want   string
	}{
		{"a.oci.tar", FormatOCIArchive, "", "index.docker.io/library/a:latest"},
		{"b.oci.tar", FormatOCIArchive, "", "index.docker.io/library/b:latest"},
		{"a.oci.tar", FormatOCIArchive, "me/img:1", "index.docker.io/me/img:1"},
		{"a.tar", FormatTar, "", ""},
	} {
		if got, err := ImageName(tt.target, tt.format, tt.tag); err != nil || got != tt.want {
			t.Errorf("ImageName(%q, %s, %q) = %q, %v; want %q", tt.target, tt.format, tt.tag, got, err, tt.want)
		}
	}
}
