package bootstrap

import (
	"encoding/json"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/debstrap/debstrap/export"
	"github.com/debstrap/debstrap/lock"
)

func testLock(suite, codename, version string) *lock.Lock {
	return &lock.Lock{Suite: suite, Variant: "minbase", Architectures: []string{"amd64"},
		Sources: []lock.Source{{URI: "http://m.invalid/x", Suite: suite, Components: []string{"main"}, Codename: codename, Version: version}}}
}

func TestImageConfigDefaults(t *testing.T) {
	bookworm := testLock("bookworm", "bookworm", "12.8")
	noble := testLock("noble", "noble", "24.04")
	stableUbuntu := testLock("stable", "noble", "24.04") // a Release's codename decides
	sid := testLock("sid", "sid", "")
	user := export.ImageConfig{Cmd: []string{"sh"}, Labels: map[string]string{export.AnnotationVersion: "mine"},
		Annotations: map[string]string{"a": "b"}}
	for _, tt := range []struct {
		name   string
		user   export.ImageConfig
		format export.Format
		l      *lock.Lock
		want   export.ImageConfig
	}{
		{"debian", export.ImageConfig{}, export.FormatOCI, bookworm,
			export.ImageConfig{Annotations: map[string]string{export.AnnotationVersion: "12.8"}}},
		{"debian docker-archive", export.ImageConfig{}, export.FormatDockerArchive, bookworm, export.ImageConfig{}},
		{"no version", export.ImageConfig{}, export.FormatOCIArchive, sid, export.ImageConfig{}},
		{"tarball", export.ImageConfig{}, export.FormatTarGz, noble, export.ImageConfig{}},
		{"ubuntu", export.ImageConfig{}, export.FormatOCIArchive, noble, export.ImageConfig{
			Cmd:         []string{"/bin/bash"},
			Labels:      map[string]string{export.AnnotationRefName: "ubuntu", export.AnnotationVersion: "24.04"},
			Annotations: map[string]string{export.AnnotationVersion: "24.04"}}},
		{"ubuntu by codename", export.ImageConfig{}, export.FormatDockerArchive, stableUbuntu, export.ImageConfig{
			Cmd:    []string{"/bin/bash"},
			Labels: map[string]string{export.AnnotationRefName: "ubuntu", export.AnnotationVersion: "24.04"}}},
		{"ubuntu, the user's over the defaults", user, export.FormatOCI, noble, export.ImageConfig{
			Cmd:         []string{"sh"},
			Labels:      map[string]string{export.AnnotationRefName: "ubuntu", export.AnnotationVersion: "mine"},
			Annotations: map[string]string{export.AnnotationVersion: "24.04", "a": "b"}}},
		{"ubuntu entrypoint: no default cmd", export.ImageConfig{Entrypoint: []string{"tini"}}, export.FormatDockerArchive, noble, export.ImageConfig{
			Entrypoint: []string{"tini"},
			Labels:     map[string]string{export.AnnotationRefName: "ubuntu", export.AnnotationVersion: "24.04"}}},
	} {
		got := imageConfig(tt.user, tt.format, tt.l)
		g, _ := json.Marshal(got)
		w, _ := json.Marshal(tt.want)
		if string(g) != string(w) {
			t.Errorf("%s:\n got %s\nwant %s", tt.name, g, w)
		}
	}
	if user.Labels[export.AnnotationRefName] != "" || len(user.Annotations) != 1 {
		t.Errorf("the user's maps were changed: %v %v", user.Labels, user.Annotations)
	}
}

// Every field of export.ImageConfig, and the image's name from the
// target, is in the kept-output key: a rebuild with another --cmd or
// --label must not get the old image.
func TestResultKeyImageConfig(t *testing.T) {
	dir := t.TempDir()
	l := testLock("bookworm", "bookworm", "12.8")
	key := func(target string, c export.ImageConfig, l *lock.Lock) string {
		t.Helper()
		cfg := BuildConfig{Target: filepath.Join(dir, target), ToolID: func() string { return "tool" }, Image: c}
		format, err := export.FormatFor(cfg.Target, "")
		if err != nil {
			t.Fatal(err)
		}
		k, err := resultKey(cfg, format, time.Unix(1700000000, 0).UTC(), l)
		if err != nil || k == "" {
			t.Fatalf("resultKey: %q, %v", k, err)
		}
		return k
	}
	base := key("a.oci.tar", export.ImageConfig{}, l)
	if key("a.oci.tar", export.ImageConfig{}, l) != base {
		t.Fatal("the key is not deterministic")
	}
	seen := map[string]string{base: "zero"}
	differ := func(what, k string) {
		t.Helper()
		if prev, ok := seen[k]; ok {
			t.Errorf("%s gives the key of %s", what, prev)
		}
		seen[k] = what
	}
	// Each field set alone, by reflection: a field added later is
	// covered without touching this test.
	typ := reflect.TypeOf(export.ImageConfig{})
	for i := range typ.NumField() {
		var c export.ImageConfig
		f := reflect.ValueOf(&c).Elem().Field(i)
		switch f.Kind() {
		case reflect.String:
			f.SetString("x")
		case reflect.Slice:
			f.Set(reflect.ValueOf([]string{"x=1"}))
		case reflect.Map:
			f.Set(reflect.ValueOf(map[string]string{"x": "1"}))
		default:
			t.Fatalf("ImageConfig.%s: kind %s not handled by this test", typ.Field(i).Name, f.Kind())
		}
		differ(typ.Field(i).Name, key("a.oci.tar", c, l))
	}
	differ("an empty Cmd", key("a.oci.tar", export.ImageConfig{Cmd: []string{}}, l))
	differ("another --cmd", key("a.oci.tar", export.ImageConfig{Cmd: []string{"bash", "-l"}}, l))
	differ("another --label value", key("a.oci.tar", export.ImageConfig{Labels: map[string]string{"x": "2"}}, l))
	differ("another target name", key("b.oci.tar", export.ImageConfig{}, l))
	differ("another Release version", key("a.oci.tar", export.ImageConfig{}, testLock("bookworm", "bookworm", "12.9")))
	if key("b.oci.tar", export.ImageConfig{Tag: "a"}, l) != base {
		t.Error("--tag=a on b.oci.tar names the image as a.oci.tar does, yet the keys differ")
	}
	// A tarball holds no name or version: another name or point
	// release with the same packages reuses it.
	if key("a.tar", export.ImageConfig{}, l) != key("b.tar", export.ImageConfig{}, testLock("bookworm", "bookworm", "12.9")) {
		t.Error("tarballs of the same set have different keys")
	}
}

func TestCheckImage(t *testing.T) {
	for _, tt := range []struct {
		c      export.ImageConfig
		target string
		want   string // "" = fine
	}{
		{export.ImageConfig{}, "x.tar", ""},
		{export.ImageConfig{Cmd: []string{}}, "x.tar", "a tar holds no image name, config or annotations"},
		{export.ImageConfig{User: "1"}, "x/", "a dir holds no image"},
		{export.ImageConfig{Annotations: map[string]string{"a": "b"}}, "x.docker.tar", "a docker-archive holds no image manifest"},
		{export.ImageConfig{Annotations: map[string]string{"a": "b"}}, "x.oci", ""},
		{export.ImageConfig{Tag: "a b"}, "x.oci.tar", `image name "a b"`},
		{export.ImageConfig{Tag: "a b"}, "x.tar", "a tar holds no image name"},
	} {
		format, err := export.FormatFor(tt.target, "")
		if err != nil {
			t.Fatal(err)
		}
		err = checkImage(tt.c, format, tt.target)
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%s %+v: got %v, want %q", tt.target, tt.c, err, tt.want)
		}
	}
}

// A null build keeps nothing; a squashfs or ext4 image is kept under a
// key of its own, which names the host tools that wrote it.
func TestResultKeyFormats(t *testing.T) {
	dir := t.TempDir()
	l := testLock("bookworm", "bookworm", "12.8")
	cfg := BuildConfig{ToolID: func() string { return "tool" }}
	keys := map[string]export.Format{}
	for _, f := range []export.Format{export.FormatTar, export.FormatSquashfs, export.FormatExt4, export.FormatNull} {
		cfg.Target = filepath.Join(dir, "x")
		k, err := resultKey(cfg, f, time.Unix(1700000000, 0).UTC(), l)
		if f == export.FormatNull {
			if k != "" || err != nil {
				t.Errorf("null: key %q, %v; want none", k, err)
			}
			continue
		}
		if err != nil {
			if strings.Contains(err.Error(), "install the Debian package") {
				t.Logf("%s: %v", f, err)
				continue
			}
			t.Fatalf("%s: %v", f, err)
		}
		if other, ok := keys[k]; ok || k == "" {
			t.Errorf("%s: key %q, as %s's", f, k, other)
		}
		keys[k] = f
	}
	if v, err := export.ToolVersion(export.FormatExt4); err == nil && !strings.Contains(v, "mke2fs") {
		t.Errorf("ext4's tools: %q", v)
	}
	if v, err := export.ToolVersion(export.FormatTar); v != "" || err != nil {
		t.Errorf("tar's tools: %q, %v", v, err)
	}
}
