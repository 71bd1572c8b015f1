package main

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/debstrap/debstrap/export"
	"github.com/debstrap/debstrap/internal/testarchive"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
)

func TestParseCommand(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want []string // nil: an error
		err  string
	}{
		{`["bash","-l"]`, []string{"bash", "-l"}, ""},
		{` [ "sh", "-c", "echo $HOME" ] `, []string{"sh", "-c", "echo $HOME"}, ""},
		{`[]`, []string{}, ""},
		{``, []string{}, ""},
		{`  `, []string{}, ""},
		{`bash -l`, []string{"bash", "-l"}, ""},
		{`sh -c 'echo $HOME; ls *'`, []string{"sh", "-c", "echo $HOME; ls *"}, ""},
		{`a\ b "c \" d" e\\f x\*`, []string{"a b", `c " d`, `e\f`, "x*"}, ""},
		{`a "" b`, []string{"a", "", "b"}, ""},
		{`["a", 1]`, nil, "not a JSON array of strings"},
		{`echo $HOME`, nil, "$HOME: nothing is expanded here"},
		{`echo "$HOME"`, nil, "nothing is expanded here"},
		{`echo $(id)`, nil, "nothing is expanded here"},
		{`ls ~/x`, nil, "~/x: nothing is expanded here"},
		{`ls *.txt`, nil, "nothing is expanded here"},
		{`echo {a,b}`, nil, "nothing is expanded here"},
		{`echo $'\n'`, nil, "$'…' quoting is not read"},
		{`a; b`, nil, "not a command of sh words"},
		{`a | b`, nil, "not a command of sh words"},
		{`'open`, nil, "not a command of sh words"},
	} {
		got, err := parseCommand(tt.in)
		if tt.want == nil {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%q: got %q, %v; want an error with %q", tt.in, got, err, tt.err)
			}
			continue
		}
		if err != nil || got == nil || !slices.Equal(got, tt.want) {
			t.Errorf("%q: got %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

// ociImage reads the one image of the OCI layout dir: config, manifest.
func ociImage(t *testing.T, dir string) (*v1.ConfigFile, *v1.Manifest) {
	t.Helper()
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil || len(im.Manifests) != 1 {
		t.Fatalf("index: %v, %v", im, err)
	}
	img, err := idx.Image(im.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	return cf, m
}

// TestImageFlags: the image flags, from the command line or a spec file,
// reach the written config and manifest; without them the image is
// Debian's official image's shape, with the known annotations.
func TestImageFlags(t *testing.T) {
	h := newHarness(t, testarchive.Minimal())
	created := testarchive.DefaultTime.UTC().Format("2006-01-02T15:04:05Z")
	flags := []string{"--tag=example/base:12", "--env=LANG=C.UTF-8", "--env", "PATH=/opt/bin:/usr/bin",
		"--label=org.example.team=infra", "--label", "note=a, b=c", "--annotation=org.example.a=1",
		"--annotation=org.opencontainers.image.version=mine", "--cmd=-c 'echo hi'", `--entrypoint=["/bin/sh"]`,
		"--workdir=/srv", "--user=1000:1000"}
	spec := "label:\n  org.example.team: infra\n  note: a, b=c\nenv: [LANG=C.UTF-8, PATH=/opt/bin:/usr/bin]\n" +
		"annotation:\n  org.example.a: 1\n  org.opencontainers.image.version: mine\ncmd: [-c, echo hi]\nentrypoint: /bin/sh\n" +
		"workdir: /srv\nuser: \"1000:1000\"\nname: example/base:12\n"
	full := v1.Config{
		Env:        []string{"PATH=/opt/bin:/usr/bin", "LANG=C.UTF-8"},
		Cmd:        []string{"-c", "echo hi"},
		Entrypoint: []string{"/bin/sh"},
		WorkingDir: "/srv",
		User:       "1000:1000",
		Labels:     map[string]string{"org.example.team": "infra", "note": "a, b=c"},
	}
	fullAnn := map[string]string{export.AnnotationCreated: created, export.AnnotationVersion: "mine", "org.example.a": "1"}
	for _, tt := range []struct {
		name  string
		flags []string
		spec  string
		want  v1.Config
		ann   map[string]string
		ref   string
	}{
		{"defaults", nil, "", v1.Config{Env: export.DefaultEnv, Cmd: []string{"bash"}},
			map[string]string{export.AnnotationCreated: created, export.AnnotationVersion: "12.5"}, "docker.io/library/x:latest"},
		{"flags", flags, "", full, fullAnn, "docker.io/example/base:12"},
		{"spec", nil, spec, full, fullAnn, "docker.io/example/base:12"},
		{"no cmd", []string{"--cmd="}, "", v1.Config{Env: export.DefaultEnv},
			map[string]string{export.AnnotationCreated: created, export.AnnotationVersion: "12.5"}, "docker.io/library/x:latest"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			target := filepath.Join(t.TempDir(), "x.oci")
			args := tt.flags
			if tt.spec != "" {
				args = append(args, "-f", writeSpec(t, tt.spec))
			}
			h.build(t, target, args...)
			cf, m := ociImage(t, target)
			got, _ := json.Marshal(cf.Config)
			want, _ := json.Marshal(tt.want)
			if string(got) != string(want) {
				t.Errorf("config\n got %s\nwant %s", got, want)
			}
			if !maps.Equal(m.Annotations, tt.ann) {
				t.Errorf("manifest annotations %v, want %v", m.Annotations, tt.ann)
			}
			idx, _ := layout.ImageIndexFromPath(target)
			im, _ := idx.IndexManifest()
			if got := im.Manifests[0].Annotations["io.containerd.image.name"]; got != tt.ref {
				t.Errorf("image name %q, want %q", got, tt.ref)
			}
		})
	}
}

// TestImageFlagsRefused: a flag the format cannot hold, or a bad value,
// is a usage error naming the flag, before any work.
func TestImageFlagsRefused(t *testing.T) {
	h := newHarness(t, testarchive.Minimal())
	for _, tt := range []struct {
		target string
		flags  []string
		want   string
	}{
		{"x.tar", []string{"--cmd=bash"}, "--cmd applies to oci, oci-archive and docker-archive outputs, not to tar"},
		{"x.tar.zst", []string{"--cmd="}, "--cmd applies to oci, oci-archive and docker-archive outputs, not to tar.zst"},
		{"x/", []string{"--tag=a"}, "--tag applies to oci, oci-archive and docker-archive outputs, not to dir"},
		{"x.tar", []string{"--label=a=b"}, "--label applies to"},
		{"x.tar", []string{"--name=a"}, "--name applies to"},
		{"x.oci.tar", []string{"--format=tar", "--user=1"}, "--user applies to oci, oci-archive and docker-archive outputs, not to tar"},
		{"x.docker.tar", []string{"--annotation=a=b"}, "--annotation applies to oci and oci-archive outputs (an image manifest), not to docker-archive"},
		{"x.oci", []string{"--tag=Upper:1"}, "--tag=Upper:1: image name"},
		{"x.oci", []string{"--name=a@sha256:" + strings.Repeat("0", 64)}, "a digest (@sha256:…) names existing content"},
		{"x.oci", []string{"--tag=a", "--name=b"}, "--name is another name for --tag"},
		{"x.oci", []string{"--label=novalue"}, "--label=novalue: want KEY=VALUE"},
		{"x.oci", []string{"--env==x"}, "--env==x: want KEY=VALUE"},
		{"x.oci", []string{"--cmd=echo $HOME"}, "nothing is expanded here"},
		{"x.oci", []string{`--entrypoint=["a",`}, "not a JSON array of strings"},
	} {
		t.Run(strings.Join(tt.flags, " "), func(t *testing.T) {
			dir := t.TempDir()
			r := h.run(t.Context(), "build", append(tt.flags, "stable", filepath.Join(dir, tt.target), h.srv.URL)...)
			want(t, r, 2, nil, []string{tt.want})
			if h.srv.Count("*") != 0 {
				t.Errorf("the archive was asked: %v", h.srv.Requests())
			}
			if names, _ := os.ReadDir(dir); len(names) != 0 {
				t.Errorf("written: %v", names)
			}
		})
	}
	// The same flags from a spec file.
	r := h.run(t.Context(), "build", "-f", writeSpec(t, "cmd: [bash]\n"), "stable", filepath.Join(t.TempDir(), "x.tar"), h.srv.URL)
	want(t, r, 2, nil, []string{"--cmd applies to oci, oci-archive and docker-archive outputs, not to tar"})
	// --tag and --name may say the same.
	h.build(t, filepath.Join(t.TempDir(), "x.oci"), "--tag=a:1", "--name=a:1")
}

// TestRebuildImageConfig: a kept output is reused only for the same
// image: another --cmd, --label or image name builds anew.
func TestRebuildImageConfig(t *testing.T) {
	h := newHarness(t, testarchive.Minimal())
	dir := t.TempDir()
	build := func(name string, flags ...string) result {
		t.Helper()
		args := append([]string{"build", "--keyring=" + h.keyring, "--cache-dir=" + h.cache, "--architectures=amd64", "--mode=extract"}, flags...)
		r := cli(t.Context(), append(args, "stable", filepath.Join(dir, name), h.srv.URL)...)
		want(t, r, 0, nil, nil)
		return r
	}
	reused := func(r result) bool { return strings.Contains(r.stdout, "the cache's output") }
	if r := build("a.oci.tar", "--cmd=bash -l", "--label=a=1"); reused(r) {
		t.Fatal("first build reused")
	}
	if r := build("b.oci.tar", "--cmd=bash -l", "--label=a=1", "--tag=a"); !reused(r) {
		t.Errorf("the same image under another file name was built again:\n%s", r)
	}
	for _, tt := range []struct {
		name  string
		flags []string
	}{
		{"another --cmd", []string{"--cmd=bash", "--label=a=1"}},
		{"another --label", []string{"--cmd=bash -l", "--label=a=2"}},
		{"another name", []string{"--cmd=bash -l", "--label=a=1", "--tag=b"}},
		{"the default name from another file name", []string{"--cmd=bash -l", "--label=a=1"}},
	} {
		if r := build(strings.ReplaceAll(tt.name, " ", "-")+".oci.tar", tt.flags...); reused(r) {
			t.Errorf("%s: the old image was reused", tt.name)
		}
	}
	a, _ := os.ReadFile(filepath.Join(dir, "a.oci.tar"))
	b, _ := os.ReadFile(filepath.Join(dir, "b.oci.tar"))
	if len(a) == 0 || string(a) != string(b) {
		t.Error("the reused output differs")
	}
}

// TestImageUbuntu: an Ubuntu suite's image is shaped like Docker's
// official Ubuntu image.
func TestImageUbuntu(t *testing.T) {
	a := testarchive.Minimal()
	a.Suites[0].Name, a.Suites[0].Codename, a.Suites[0].Version = "noble", "noble", "24.04"
	h := newHarness(t, a)
	target := filepath.Join(t.TempDir(), "noble.oci")
	want(t, h.run(t.Context(), "build", "--mode=extract", "--no-updates", "--label=extra=1", "noble", target, h.srv.URL), 0, nil, nil)
	cf, m := ociImage(t, target)
	if !slices.Equal(cf.Config.Cmd, []string{"/bin/bash"}) || !slices.Equal(cf.Config.Env, export.DefaultEnv) {
		t.Errorf("Cmd %q Env %q", cf.Config.Cmd, cf.Config.Env)
	}
	wantLabels := map[string]string{"org.opencontainers.image.ref.name": "ubuntu", "org.opencontainers.image.version": "24.04", "extra": "1"}
	if !maps.Equal(cf.Config.Labels, wantLabels) {
		t.Errorf("labels %v, want %v", cf.Config.Labels, wantLabels)
	}
	if m.Annotations[export.AnnotationVersion] != "24.04" {
		t.Errorf("annotations %v", m.Annotations)
	}
}
