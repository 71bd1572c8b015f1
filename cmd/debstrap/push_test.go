package main

import (
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/debstrap/debstrap/internal/testarchive"
	"github.com/debstrap/debstrap/internal/testregistry"
)

var digestRE = regexp.MustCompile(`sha256:[0-9a-f]{64}`)

// buildLoud is h.build without -q: the summary line with the digest.
func (h *harness) buildLoud(t *testing.T, target string, flags ...string) result {
	t.Helper()
	args := []string{"build", "--keyring=" + h.keyring, "--cache-dir=" + h.cache, "--architectures=amd64", "--mode=extract"}
	args = append(append(args, flags...), "stable", target, h.srv.URL)
	r := cli(t.Context(), args...)
	want(t, r, 0, nil, nil)
	return r
}

// build TARGET docker://… pushes the image: the digest printed is the
// registry's, the same image an OCI layout build holds; a second build
// uploads nothing.
func TestBuildPush(t *testing.T) {
	h := newHarness(t, testarchive.Minimal())
	testregistry.NoDockerConfig(t)
	reg := testregistry.Serve(t, testregistry.Options{})
	ref := reg.Host + "/debstrap/stable:1"

	r := h.buildLoud(t, "docker://"+ref, "--label=a=b")
	img := testregistry.Pull(t, ref)
	d, _ := img.Digest()
	want(t, r, 0, []string{"docker://" + ref + ": bookworm registry", d.String()}, nil)
	if reg.Uploads() != 2 {
		t.Errorf("%d blob uploads, want 2 (layer and config)", reg.Uploads())
	}
	layout := filepath.Join(t.TempDir(), "stable.oci")
	lr := h.buildLoud(t, layout, "--label=a=b")
	if !strings.Contains(lr.stdout, d.String()) {
		t.Errorf("the OCI layout build's digest differs from the pushed one:\n%s\npushed %s", lr, d)
	}
	img2 := readImage(t, layout)
	checkImage(t, h, img2, testarchive.DefaultTime, true)

	reg.Reset()
	want(t, h.buildLoud(t, "docker://"+ref, "--label=a=b"), 0, []string{d.String()}, nil)
	if reg.Uploads() != 0 {
		t.Errorf("the same build again uploaded %d blobs", reg.Uploads())
	}

	// debstrap push of the layout: nothing to upload, the same digest.
	pr := cli(t.Context(), "push", layout, "docker://"+reg.Host+"/debstrap/copy:2")
	want(t, pr, 0, []string{reg.Host + "/debstrap/copy@" + d.String() + "\n"}, nil)
	if reg.Uploads() != 0 {
		t.Errorf("pushing blobs the registry has uploaded %d", reg.Uploads())
	}
	// With an SBOM, an OCI archive, plain REF.
	archive := filepath.Join(t.TempDir(), "stable.oci.tar")
	sbomFile := filepath.Join(t.TempDir(), "stable.spdx.json")
	h.build(t, archive, "--sbom="+sbomFile)
	reg.Reset()
	pr = cli(t.Context(), "push", "-q", archive, reg.Host+"/debstrap/archive")
	want(t, pr, 0, nil, nil)
	if pr.stdout != "" {
		t.Errorf("push -q printed %q", pr.stdout)
	}
	if reg.Uploads() != 3 || reg.Manifests() != 2 {
		t.Errorf("%d uploads and %d manifests, want 3 and 2 (new config, SBOM, SBOM's empty config; image and SBOM manifests)", reg.Uploads(), reg.Manifests())
	}
}

// Credentials come from $DOCKER_CONFIG; without them the registry's 401
// is the error, naming registry and repository, exit status 1.
func TestBuildPushAuth(t *testing.T) {
	h := newHarness(t, testarchive.Minimal())
	reg := testregistry.Serve(t, testregistry.Options{User: "ci", Password: "p4ss"})
	target := "docker://" + reg.Host + "/private/stable"

	testregistry.NoDockerConfig(t)
	r := h.run(t.Context(), "build", "--mode=extract", "stable", target, h.srv.URL)
	want(t, r, 1, nil, []string{"registry " + reg.Host + ", repository private/stable", "401"})

	testregistry.DockerConfig(t, reg.Host, "ci", "p4ss")
	r = h.buildLoud(t, target)
	if !digestRE.MatchString(r.stdout) {
		t.Errorf("no digest printed:\n%s", r)
	}
	layout := filepath.Join(t.TempDir(), "x.oci")
	h.build(t, layout)
	want(t, cli(t.Context(), "push", layout, target+":2"), 0, []string{reg.Host + "/private/stable@sha256:"}, nil)
}

// A registry that refuses the layer's data mid-upload ends the build with
// an error naming it and exit status 1; nothing is left in TMPDIR. (A
// failure that may pass is retried: export's TestPushRegistryErrors.)
func TestBuildPushRegistryError(t *testing.T) {
	h := newHarness(t, testarchive.Minimal())
	testregistry.NoDockerConfig(t)
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	reg := testregistry.Serve(t, testregistry.Options{Fault: func(r *http.Request) int {
		if r.Method == http.MethodPatch {
			return http.StatusForbidden
		}
		return 0
	}})
	r := h.run(t.Context(), "build", "--mode=extract", "stable", "docker://"+reg.Host+"/full/disk:1", h.srv.URL)
	want(t, r, 1, nil, []string{"registry " + reg.Host + ", repository full/disk", "status 403"})
	if names := listDir(t, tmp); len(names) != 0 {
		t.Errorf("left in TMPDIR: %v", names)
	}
	layout := filepath.Join(t.TempDir(), "x.oci")
	h.build(t, layout)
	want(t, cli(t.Context(), "push", layout, "docker://"+reg.Host+"/full/disk:2"), 1, nil,
		[]string{"registry " + reg.Host + ", repository full/disk", "status 403"})
}

func TestPushUsage(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	dir := t.TempDir()
	for _, tt := range []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"one argument", []string{"push", "x.oci"}, 2, "missing REF"},
		{"no registry", []string{"push", "x.oci", "docker://debian"}, 2, "names no registry"},
		{"digest", []string{"push", "x.oci", "localhost:5000/a@sha256:" + strings.Repeat("0", 64)}, 2, "a digest"},
		{"no image", []string{"push", filepath.Join(dir, "none.oci"), "localhost:5000/a"}, 1, "none.oci"},
		{"tag with a registry target", []string{"build", "--tag=x:1", "stable", "docker://localhost:5000/a"}, 2, "names the image itself"},
		{"format against the target", []string{"build", "--format=oci", "stable", "docker://localhost:5000/a"}, 1, "names a registry image"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := cli(t.Context(), tt.args...)
			want(t, r, tt.code, nil, []string{tt.stderr})
		})
	}
}
