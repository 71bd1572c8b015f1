package export

import (
	"context"
	"errors"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/debstrap/debstrap/internal/testregistry"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// quick retries, so a test of a failing registry does not wait seconds.
var quick = remote.Backoff{Duration: time.Millisecond, Factor: 1, Steps: 3}

func TestParseReference(t *testing.T) {
	for _, tt := range []struct {
		in, want, err string
	}{
		{in: "docker://localhost:5000/debian", want: "localhost:5000/debian:latest"},
		{in: "docker://localhost/a/b:12", want: "localhost/a/b:12"},
		{in: "docker://127.0.0.1:5000/x:t", want: "127.0.0.1:5000/x:t"},
		{in: "docker://[::1]:5000/x", want: "[::1]:5000/x:latest"},
		{in: "registry.example/team/base:1", want: "registry.example/team/base:1"},
		{in: "docker://debian", err: "names no registry"},
		{in: "docker://library/debian:12", err: "names no registry"},
		{in: "docker://localhost:5000/debian@sha256:" + strings.Repeat("a", 64), err: "a digest"},
		{in: "docker://localhost:5000/Debian", err: "registry target"},
	} {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseReference(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("got %v, %v; want an error with %q", got, err, tt.err)
				}
				return
			}
			if err != nil || got.Name() != tt.want {
				t.Fatalf("got %q, %v; want %q", got.Name(), err, tt.want)
			}
		})
	}
}

func TestFormatForRegistry(t *testing.T) {
	for _, tt := range []struct {
		target, explicit string
		want             Format
		err              string
	}{
		{"docker://localhost:5000/x", "", FormatRegistry, ""},
		{"docker://localhost:5000/x", "registry", FormatRegistry, ""},
		{"docker://localhost:5000/x", "oci", "", "names a registry image"},
		{"localhost:5000/x", "registry", FormatRegistry, ""},
	} {
		got, err := FormatFor(tt.target, tt.explicit)
		if got != tt.want || (tt.err == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tt.err) {
			t.Errorf("FormatFor(%q, %q) = %q, %v; want %q, error %q", tt.target, tt.explicit, got, err, tt.want, tt.err)
		}
	}
}

// A push uploads what the registry lacks: everything the first time,
// nothing the second, only the config when the layer is there already.
func TestPushUploadsMissingBlobs(t *testing.T) {
	testregistry.NoDockerConfig(t)
	reg := testregistry.Serve(t, testregistry.Options{})
	plain := plainTar(t)
	target := "docker://" + reg.Host + "/test/base:1"
	for _, tt := range []struct {
		name               string
		labels             map[string]string
		uploads, manifests int
	}{
		{"new", nil, 2, 1}, // layer and config
		{"complete", nil, 0, 0},
		{"partly present", map[string]string{"a": "b"}, 1, 1}, // the new config
	} {
		t.Run(tt.name, func(t *testing.T) {
			reg.Reset()
			var last [2]int64
			var mu sync.Mutex
			opts := Options{Image: ImageConfig{Labels: tt.labels}, Registry: Registry{Progress: func(done, total int64) {
				mu.Lock()
				last = [2]int64{done, total}
				mu.Unlock()
			}}}
			digest := write(t, fixture(), target, opts)
			if got := reg.Uploads(); got != tt.uploads {
				t.Errorf("%d blob uploads, want %d", got, tt.uploads)
			}
			if got := reg.Manifests(); got != tt.manifests {
				t.Errorf("%d manifests put, want %d", got, tt.manifests)
			}
			img := testregistry.Pull(t, strings.TrimPrefix(target, "docker://"))
			if d, _ := img.Digest(); d.String() != digest {
				t.Errorf("registry has %s, Write returned %s", d, digest)
			}
			checkImage(t, img, plain, "amd64", "")
			if tt.uploads > 0 && (last[0] == 0 || last[0] != last[1]) {
				t.Errorf("last progress %d/%d, want all of it", last[0], last[1])
			}
		})
	}
	// The same image as an OCI layout has the same digest.
	layoutDigest := write(t, fixture(), filepath.Join(t.TempDir(), "x.oci"), Options{})
	first := write(t, fixture(), target, Options{})
	if layoutDigest != first {
		t.Errorf("layout digest %s, registry digest %s", layoutDigest, first)
	}
}

// An SBOM attached to the image is pushed as its referrer.
func TestPushReferrer(t *testing.T) {
	testregistry.NoDockerConfig(t)
	reg := testregistry.Serve(t, testregistry.Options{})
	target := "docker://" + reg.Host + "/test/sbom"
	data := []byte(`{"spdxVersion":"SPDX-2.3"}`)
	digest := write(t, fixture(), target, Options{Referrers: []Referrer{{ArtifactType: "application/spdx+json", Data: data}}})
	d, err := name.NewDigest(reg.Host+"/test/sbom@"+digest, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := remote.Referrers(d)
	if err != nil {
		t.Fatal(err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Manifests) != 1 {
		t.Fatalf("referrers %+v, want one", m.Manifests)
	}
	// (The test registry reports the config's media type as the
	// artifactType; the manifest has its own.)
	art := testregistry.Pull(t, reg.Host+"/test/sbom@"+m.Manifests[0].Digest.String())
	am, err := art.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if am.ArtifactType != "application/spdx+json" || am.Subject == nil || am.Subject.Digest.String() != digest {
		t.Errorf("artifact manifest %+v, want an SPDX document about %s", am, digest)
	}
}

// Credentials come from the docker config; without them the registry's
// refusal is the error, naming registry and repository.
func TestPushAuth(t *testing.T) {
	reg := testregistry.Serve(t, testregistry.Options{User: "builder", Password: "s3cret"})
	target := "docker://" + reg.Host + "/private/img:1"

	testregistry.NoDockerConfig(t)
	_, err := Write(context.Background(), fixture(), target, Options{Epoch: epoch, Architecture: "amd64", Registry: Registry{Backoff: quick}})
	if err == nil || !strings.Contains(err.Error(), "registry "+reg.Host+", repository private/img") || !strings.Contains(err.Error(), "401") {
		t.Fatalf("push without credentials: %v", err)
	}

	testregistry.DockerConfig(t, reg.Host, "builder", "s3cret")
	digest := write(t, fixture(), target, Options{})
	if reg.Uploads() != 2 {
		t.Errorf("%d uploads, want 2", reg.Uploads())
	}
	if digest == "" {
		t.Error("no digest")
	}
}

// A registry that fails mid-upload: a passing failure (503) is retried,
// a lasting one ends the push with an error naming the registry.
func TestPushRegistryErrors(t *testing.T) {
	testregistry.NoDockerConfig(t)
	for _, tt := range []struct {
		name  string
		fail  func(n int32) int // status for the n-th blob data request (1-based)
		err   string
		tries int32
	}{
		{"transient 503", func(n int32) int {
			if n == 1 {
				return http.StatusServiceUnavailable
			}
			return 0
		}, "", 2},
		{"insufficient storage", func(int32) int { return http.StatusInsufficientStorage }, "status 507", 0},
		{"lasting 500", func(int32) int { return http.StatusInternalServerError }, "status 500", 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var n atomic.Int32
			reg := testregistry.Serve(t, testregistry.Options{Fault: func(r *http.Request) int {
				// The layer's data: a PATCH or PUT of an upload session.
				if (r.Method == http.MethodPatch || r.Method == http.MethodPut) && strings.Contains(r.URL.Path, "/blobs/uploads/") {
					return tt.fail(n.Add(1))
				}
				return 0
			}})
			target := "docker://" + reg.Host + "/test/fail:1"
			d, err := Write(context.Background(), fixture(), target, Options{Epoch: epoch, Architecture: "amd64", Registry: Registry{Backoff: quick}})
			if tt.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				if d == "" || n.Load() < tt.tries {
					t.Errorf("digest %q after %d data requests", d, n.Load())
				}
				return
			}
			if err == nil {
				t.Fatal("push to a failing registry succeeded")
			}
			for _, s := range []string{"registry " + reg.Host + ", repository test/fail", tt.err} {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error lacks %q: %v", s, err)
				}
			}
		})
	}
}

// fakeRT answers every request with 200, counting them.
type fakeRT struct{ n atomic.Int32 }

func (f *fakeRT) RoundTrip(r *http.Request) (*http.Response, error) {
	f.n.Add(1)
	return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader("")), Request: r}, nil
}

// Plain HTTP goes only to the loopback unless the registry is insecure;
// HTTPS anywhere. Nothing leaves the process: the transport is fake.
func TestPlainHTTPGuard(t *testing.T) {
	for _, tt := range []struct {
		url      string
		insecure bool
		ok       bool
	}{
		{"http://127.0.0.1:5000/v2/", false, true},
		{"http://localhost:5000/v2/", false, true},
		{"http://[::1]:5000/v2/", false, true},
		{"http://10.1.2.3:5000/v2/", false, false},
		{"http://registry.local/v2/", false, false},
		{"http://10.1.2.3:5000/v2/", true, true},
		{"https://10.1.2.3:5000/v2/", false, true},
	} {
		f := &fakeRT{}
		g := plainHTTPGuard{base: f, insecure: tt.insecure}
		req, _ := http.NewRequest(http.MethodGet, tt.url, nil)
		resp, err := g.RoundTrip(req)
		if resp != nil {
			resp.Body.Close()
		}
		if (err == nil) != tt.ok || (f.n.Load() == 1) != tt.ok {
			t.Errorf("%s insecure=%v: err %v, %d requests sent", tt.url, tt.insecure, err, f.n.Load())
		}
		if err != nil && !strings.Contains(err.Error(), "--insecure-registry") {
			t.Errorf("error does not say how to allow it: %v", err)
		}
	}
}

// PushImage pushes an image written before: a layout, an OCI archive, a
// docker-archive; the registry then names the same manifest.
func TestPushImage(t *testing.T) {
	testregistry.NoDockerConfig(t)
	reg := testregistry.Serve(t, testregistry.Options{})
	dir := t.TempDir()
	for _, tt := range []struct{ file, format string }{
		{"a.oci", "oci"}, {"a.oci.tar", "oci-archive"}, {"a.docker.tar", "docker-archive"},
	} {
		t.Run(tt.format, func(t *testing.T) {
			p := filepath.Join(dir, tt.file)
			digest := write(t, fixture(), p, Options{Referrers: referrersFor(tt.format)})
			ref := reg.Host + "/pushed/" + strings.ReplaceAll(tt.format, "-", "") + ":1"
			got, err := PushImage(context.Background(), p, "docker://"+ref, Registry{})
			if err != nil {
				t.Fatal(err)
			}
			img := testregistry.Pull(t, ref)
			d, _ := img.Digest()
			if got != d.String() {
				t.Errorf("PushImage returned %s, registry has %s", got, d)
			}
			if tt.format != "docker-archive" && got != digest {
				t.Errorf("pushed %s, the layout holds %s", got, digest)
			}
		})
	}
	_, err := PushImage(context.Background(), filepath.Join(dir, "none.oci"), "docker://"+reg.Host+"/x", Registry{})
	if err == nil || !errors.Is(err, errNotExist) && !strings.Contains(err.Error(), "none.oci") {
		t.Errorf("missing image: %v", err)
	}
}

var errNotExist = errors.New("no such file")

func referrersFor(format string) []Referrer {
	if format == "docker-archive" {
		return nil
	}
	return []Referrer{{ArtifactType: "application/spdx+json", Data: []byte("{}")}}
}

// A cancelled push stops with the context's error and leaves no
// temporary behind.
func TestPushCancel(t *testing.T) {
	testregistry.NoDockerConfig(t)
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	ctx, cancel := context.WithCancel(context.Background())
	reg := testregistry.Serve(t, testregistry.Options{Fault: func(r *http.Request) int {
		if r.Method == http.MethodPatch {
			cancel()
		}
		return 0
	}})
	_, err := Write(ctx, fixture(), "docker://"+reg.Host+"/x/y", Options{Epoch: epoch, Architecture: "amd64", Registry: Registry{Backoff: quick}})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err %v, want context.Canceled", err)
	}
	assertNoTemp(t, tmp)
}
