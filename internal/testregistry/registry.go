// Package testregistry serves an in-process OCI registry
// (go-containerregistry's pkg/registry) over httptest on 127.0.0.1 for
// tests, counting what is uploaded, optionally demanding basic auth or
// failing requests on demand.
package testregistry

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Options shape the registry.
type Options struct {
	// User and Password, when set, are demanded as basic auth of every
	// request (a 401 with a Basic challenge otherwise).
	User, Password string
	// Fault, when set, is asked before each request is served; a status
	// other than 0 is answered instead, with a registry error body: code
	// DENIED for 403 (final), else UNKNOWN (which clients retry).
	Fault func(r *http.Request) int
}

// Registry is a running test registry.
type Registry struct {
	// Host is HOST:PORT of the registry (127.0.0.1:…).
	Host string
	URL  string

	mu       sync.Mutex
	uploads  int // blob uploads started (POST …/blobs/uploads/)
	manifest int // manifests put
	requests []string
}

// Serve starts a registry that stops when the test ends.
func Serve(t testing.TB, opts Options) *Registry {
	t.Helper()
	reg := &Registry{}
	inner := registry.New(registry.WithReferrersSupport(true), registry.Logger(log.New(io.Discard, "", 0)))
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if opts.User != "" {
			u, p, ok := r.BasicAuth()
			if !ok || u != opts.User || p != opts.Password {
				w.Header().Set("WWW-Authenticate", `Basic realm="testregistry"`)
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusUnauthorized)
				w.Write([]byte(`{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`))
				return
			}
		}
		reg.mu.Lock()
		reg.requests = append(reg.requests, r.Method+" "+r.URL.Path)
		reg.mu.Unlock()
		if opts.Fault != nil {
			if code := opts.Fault(r); code != 0 {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(code)
				// DENIED is final; UNKNOWN go-containerregistry retries.
				errCode := "UNKNOWN"
				if code == http.StatusForbidden {
					errCode = "DENIED"
				}
				fmt.Fprintf(w, `{"errors":[{"code":"%s","message":"injected failure (status %d)"}]}`, errCode, code)
				return
			}
		}
		reg.mu.Lock()
		switch {
		case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/blobs/uploads/") && r.URL.Query().Get("mount") == "":
			reg.uploads++
		case r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/manifests/"):
			reg.manifest++
		}
		reg.mu.Unlock()
		inner.ServeHTTP(w, r)
	})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	reg.URL = srv.URL
	reg.Host = strings.TrimPrefix(srv.URL, "http://")
	return reg
}

// Uploads is the number of blob uploads started so far.
func (r *Registry) Uploads() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.uploads
}

// Manifests is the number of manifests put so far.
func (r *Registry) Manifests() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.manifest
}

// Reset sets the counters to zero.
func (r *Registry) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.uploads, r.manifest, r.requests = 0, 0, nil
}

// DockerConfig writes a docker config.json that gives user and password
// for host into a new directory and points $DOCKER_CONFIG at it for the
// test. It returns the directory.
func DockerConfig(t *testing.T, host, user, password string) string {
	t.Helper()
	dir := t.TempDir()
	cfg := map[string]any{"auths": map[string]any{
		host: map[string]string{"auth": base64.StdEncoding.EncodeToString([]byte(user + ":" + password))},
	}}
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DOCKER_CONFIG", dir)
	return dir
}

// NoDockerConfig points $DOCKER_CONFIG at an empty directory, so no
// credentials of the user running the tests are used.
func NoDockerConfig(t *testing.T) {
	t.Helper()
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	t.Setenv("REGISTRY_AUTH_FILE", filepath.Join(t.TempDir(), "auth.json"))
	t.Setenv("XDG_RUNTIME_DIR", t.TempDir())
}

// Pull reads back the image ref names (plain HTTP allowed: a test
// registry).
func Pull(t testing.TB, ref string) v1.Image {
	t.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(r)
	if err != nil {
		t.Fatalf("pull %s: %v", ref, err)
	}
	return img
}
