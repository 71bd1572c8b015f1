package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/debstrap/debstrap/internal/testarchive"
	"github.com/debstrap/debstrap/internal/testregistry"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// buildPlatforms runs build --platforms=amd64,arm64 of the two-architecture
// archive into target (no --architectures, unlike h.run).
func (h *harness) buildPlatforms(t *testing.T, target string, flags ...string) result {
	t.Helper()
	args := []string{"build", "--keyring=" + h.keyring, "--cache-dir=" + h.cache, "--platforms=amd64,arm64", "--no-updates"}
	args = append(append(args, flags...), "stable", target, h.srv.URL)
	return cli(t.Context(), args...)
}

// checkPlatformIndex checks an index of the amd64 and arm64 roots.
func checkPlatformIndex(t *testing.T, idx v1.ImageIndex) {
	t.Helper()
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	want := []v1.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64", Variant: "v8"}}
	if len(m.Manifests) != len(want) {
		t.Fatalf("index lists %d manifests, want %d", len(m.Manifests), len(want))
	}
	for i, d := range m.Manifests {
		if d.Platform == nil || !d.Platform.Equals(want[i]) {
			t.Errorf("manifest %d: platform %+v, want %+v", i, d.Platform, want[i])
		}
	}
	if m.Annotations["org.opencontainers.image.created"] == "" || m.Annotations["org.opencontainers.image.version"] != "12.5" {
		t.Errorf("index annotations %v", m.Annotations)
	}
}

func TestBuildPlatforms(t *testing.T) {
	h := newHarness(t, testarchive.MinimalArchs("amd64", "arm64"))
	dir := t.TempDir()

	// An OCI layout: one index of both; the summary names each.
	target := filepath.Join(dir, "multi.oci")
	r := h.buildPlatforms(t, target, "--mode=extract")
	want(t, r, 0, []string{target + ": bookworm oci, 2 platforms (amd64 7 packages, arm64 7 packages), sha256:"}, nil)
	top, err := layout.ImageIndexFromPath(target)
	if err != nil {
		t.Fatal(err)
	}
	tm, _ := top.IndexManifest()
	if len(tm.Manifests) != 1 || !tm.Manifests[0].MediaType.IsIndex() {
		t.Fatalf("index.json %+v", tm.Manifests)
	}
	idx, err := top.ImageIndex(tm.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	checkPlatformIndex(t, idx)

	// An OCI archive, twice: byte-identical.
	var outs [2][]byte
	for i := range outs {
		p := filepath.Join(dir, string(rune('a'+i)), "multi.oci.tar")
		os.MkdirAll(filepath.Dir(p), 0o755)
		want(t, h.buildPlatforms(t, p, "--mode=extract", "-q"), 0, nil, nil)
		if outs[i], err = os.ReadFile(p); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(outs[0], outs[1]) {
		t.Error("two builds of the same platforms differ")
	}

	// A registry: each image, then the index; then push of the layout
	// finds everything there.
	testregistry.NoDockerConfig(t)
	reg := testregistry.Serve(t, testregistry.Options{})
	ref := reg.Host + "/multi/stable:1"
	r = h.buildPlatforms(t, "docker://"+ref, "--mode=extract")
	want(t, r, 0, []string{"2 platforms", tm.Manifests[0].Digest.String()}, nil)
	nref, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	ridx, err := remote.Index(nref)
	if err != nil {
		t.Fatal(err)
	}
	checkPlatformIndex(t, ridx)
	reg.Reset()
	want(t, cli(t.Context(), "push", target, "docker://"+reg.Host+"/multi/copy"), 0,
		[]string{reg.Host + "/multi/copy@" + tm.Manifests[0].Digest.String()}, nil)
	if reg.Uploads() != 0 {
		t.Errorf("push of the same index uploaded %d blobs", reg.Uploads())
	}
}

// --mode=auto picks per platform; in the test archive (no dpkg to run)
// both come out natively configured.
func TestBuildPlatformsAuto(t *testing.T) {
	h := newHarness(t, testarchive.MinimalArchs("amd64", "arm64"))
	target := filepath.Join(t.TempDir(), "auto.oci.tar")
	r := h.buildPlatforms(t, target, "--mode=auto")
	want(t, r, 0, []string{"2 platforms"}, []string{"platform=arm64"})
}

func TestBuildPlatformsRefused(t *testing.T) {
	h := newHarness(t, testarchive.MinimalArchs("amd64", "arm64"))
	dir := t.TempDir()
	for _, tt := range []struct {
		name   string
		target string
		flags  []string
		code   int
		stderr string
	}{
		{"docker-archive", "x.docker.tar", nil, 1, "a docker-archive holds one image"},
		{"directory", "x/", nil, 1, "a dir holds one image"},
		{"unknown architecture", "x.oci", []string{"--platforms=vax"}, 2, `--platforms: no OCI platform known for Debian architecture "vax"`},
		{"with --architectures", "x.oci", []string{"--architectures=amd64"}, 1, "--platforms with --architectures"},
		{"with --tag to a registry", "docker://localhost:5000/a", []string{"--tag=a:1"}, 2, "names the image itself"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			target := tt.target
			if !strings.HasPrefix(target, "docker://") {
				target = filepath.Join(dir, target)
			}
			r := h.buildPlatforms(t, target, append([]string{"--mode=extract"}, tt.flags...)...)
			want(t, r, tt.code, nil, []string{tt.stderr})
		})
	}
	if names := listDir(t, dir); len(names) != 0 {
		t.Errorf("refused builds left %v", names)
	}
}
