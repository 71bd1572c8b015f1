package manifest

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/debstrap/debstrap/export"
)

func wantAll(string) bool { return true }

func readFiles(t *testing.T, p string, want func(string) bool) *Files {
	t.Helper()
	f, err := ReadFiles(context.Background(), p, want)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// checkContent checks what ReadFile gives for each name: the content, or (for
// a value starting with "!") an error saying that.
func checkContent(t *testing.T, f *Files, want map[string]string) {
	t.Helper()
	for n, w := range want {
		got, err := f.ReadFile(n)
		switch {
		case strings.HasPrefix(w, "!"):
			if err == nil || !strings.Contains(err.Error(), w[1:]) {
				t.Errorf("%s: got %q, %v; want an error saying %q", n, got, err, w[1:])
			}
		case err != nil:
			t.Errorf("%s: %v", n, err)
		case string(got) != w:
			t.Errorf("%s: got %q, want %q", n, got, w)
		}
	}
}

// Files of a flattened image are the files its layers leave, whatever the
// image's kind.
func TestReadFilesLayers(t *testing.T) {
	img := image(t)
	oci := writeLayout(t, mutate.IndexAddendum{Add: img})
	docker := filepath.Join(t.TempDir(), "image.docker.tar")
	if err := tarball.WriteToFile(docker, name.MustParseReference("debstrap/test:latest").(name.Tag), img); err != nil {
		t.Fatal(err)
	}
	for kind, p := range map[string]string{
		"oci layout":     oci,
		"oci archive":    writeFile(t, "image.oci.tar", tarDir(t, oci, "")),
		"docker-archive": docker,
	} {
		t.Run(kind, func(t *testing.T) {
			f := readFiles(t, p, func(p string) bool { return p != "/a/y" })
			checkContent(t, f, map[string]string{
				"a/x":           "!file does not exist", // whited out
				"a/y":           "!content not read",
				"b/new":         "new",
				"b/old":         "!file does not exist", // under an opaque directory
				"c":             "c2",                   // a directory replaced by a file
				"d/2":           "2",
				"e":             "!file does not exist",
				"usr/bin/perl5": "perl", // a hardlink across layers
				"up":            "!symbolic link to ../../../etc",
				"usr":           "!a dir",
				"/etc":          "!invalid argument",
			})
			if d, _ := Diff(flattened(t), f.Manifest, DiffOptions{}); len(d) != 0 {
				t.Errorf("the manifest differs from Read's:\n%s", lines(d))
			}
		})
	}
}

func TestFilesFS(t *testing.T) {
	p := writeFile(t, "root.tar", makeTar(t,
		dir("./", 0o755), dir("./etc/", 0o755),
		reg("./etc/os-release", 0o644, "ID=debian\n"),
		symlink("./etc/alias", "os-release"),
		reg("./etc/shadow", 0o4640, "secret"),
		hardlink("./etc/shadow-", "./etc/shadow"),
	))
	f := readFiles(t, p, func(p string) bool { return p == "/etc/os-release" || p == "/etc/shadow-" })
	checkContent(t, f, map[string]string{
		"etc/os-release": "ID=debian\n",
		"etc/shadow":     "!content not read",
		// A hardlink to a file not wanted whose content was not read.
		"etc/shadow-": "!content not read",
		"etc/alias":   "!symbolic link to os-release",
	})
	if _, err := f.ReadFile("etc/shadow"); !errors.Is(err, ErrNotRead) {
		t.Errorf("error %v is not ErrNotRead", err)
	}
	if target, err := f.ReadLink("etc/alias"); err != nil || target != "os-release" {
		t.Errorf("ReadLink: %q, %v", target, err)
	}
	if _, err := f.ReadLink("etc/os-release"); !errors.Is(err, fs.ErrInvalid) {
		t.Errorf("ReadLink of a file: %v, want ErrInvalid", err)
	}
	for n, want := range map[string]fs.FileMode{
		".":              fs.ModeDir | 0o755,
		"etc/alias":      fs.ModeSymlink | 0o777,
		"etc/shadow":     fs.ModeSetuid | 0o640,
		"etc/os-release": 0o644,
	} {
		fi, err := f.Lstat(n)
		if err != nil || fi.Mode() != want {
			t.Errorf("Lstat(%s): %v, %v; want mode %v", n, fi.Mode(), err, want)
		}
	}
	// An fs.FS for the standard helpers.
	data, err := fs.ReadFile(f, "etc/os-release")
	if err != nil || string(data) != "ID=debian\n" {
		t.Errorf("fs.ReadFile: %q, %v", data, err)
	}
	if fi, err := fs.Stat(f, "etc"); err != nil || !fi.IsDir() || fi.Name() != "etc" {
		t.Errorf("fs.Stat of a directory: %v, %v", fi, err)
	}
	file, err := f.Open("etc/os-release")
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(file); string(b) != "ID=debian\n" {
		t.Errorf("Open: %q", b)
	}
}

// A directory root: read from the disk, a hardlink's content read when
// its first path was not wanted.
func TestReadFilesDir(t *testing.T) {
	root := t.TempDir()
	mustWrite := func(p, s string) {
		if err := os.WriteFile(filepath.Join(root, p), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mustWrite("a", "shared")
	if err := os.Link(filepath.Join(root, "a"), filepath.Join(root, "b")); err != nil {
		t.Fatal(err)
	}
	mustWrite("c", "other")
	if err := os.Symlink("/etc/passwd", filepath.Join(root, "host")); err != nil {
		t.Fatal(err)
	}
	f := readFiles(t, root, func(p string) bool { return p != "/a" })
	checkContent(t, f, map[string]string{"a": "shared", "b": "shared", "c": "other", "host": "!symbolic link to /etc/passwd"})
	if d, _ := Diff(readPath(t, root), f.Manifest, DiffOptions{}); len(d) != 0 {
		t.Errorf("the manifest differs from Read's:\n%s", lines(d))
	}
}

func TestReadFilesLimits(t *testing.T) {
	defer func(a, b int64) { maxFile, maxFiles = a, b }(maxFile, maxFiles)
	maxFile, maxFiles = 100, 250
	x := func(c byte, n int) string { return strings.Repeat(string(c), n) }
	img := func(layers ...[]byte) string {
		var ls []v1.Layer
		for _, l := range layers {
			layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(string(l))), nil })
			if err != nil {
				t.Fatal(err)
			}
			ls = append(ls, layer)
		}
		i, err := mutate.AppendLayers(mutate.MediaType(empty.Image, types.OCIManifestSchema1), ls...)
		if err != nil {
			t.Fatal(err)
		}
		return writeLayout(t, mutate.IndexAddendum{Add: i})
	}
	for _, tc := range []struct {
		name, path, err string
	}{
		{"one file too big", writeFile(t, "big.tar", makeTar(t, reg("./big", 0o644, x('b', 101)))), "/big: 101 bytes, more than the 100"},
		{"too much together", writeFile(t, "many.tar", makeTar(t,
			reg("./1", 0o644, x('1', 90)), reg("./2", 0o644, x('2', 90)), reg("./3", 0o644, x('3', 90)))), "/3: the files read hold more than 250 bytes"},
		// The same content is kept once.
		{"same content", writeFile(t, "same.tar", makeTar(t,
			reg("./1", 0o644, x('1', 90)), reg("./2", 0o644, x('1', 90)), reg("./3", 0o644, x('1', 90)), reg("./4", 0o644, x('4', 90)))), ""},
		// What a later layer replaces or removes no longer counts.
		{"replaced in layers", img(
			makeTar(t, reg("./1", 0o644, x('1', 90)), reg("./2", 0o644, x('2', 90))),
			makeTar(t, reg("./1", 0o644, x('a', 90)), reg("./.wh.2", 0o644, "")),
			makeTar(t, reg("./1", 0o644, x('b', 90)), reg("./3", 0o644, x('3', 90)))), ""},
		{"saved manifest", writeFile(t, "saved", []byte(header+"\n/ dir 0755 0:0\n")), "a saved manifest holds no file contents"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadFiles(context.Background(), tc.path, wantAll)
			if tc.err == "" && err != nil {
				t.Fatal(err)
			}
			if tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
				t.Errorf("got error %v, want one saying %q", err, tc.err)
			}
		})
	}
}

// An artifact attached to the image (an SBOM) is not taken for a second
// image, even when the image is not this machine's platform.
func TestReadSkipsReferrers(t *testing.T) {
	other := "arm64"
	if runtime.GOARCH == other {
		other = "amd64"
	}
	oci := writeLayout(t, mutate.IndexAddendum{Add: image(t), Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: other}}})
	if _, err := export.AttachReferrer(oci, "application/spdx+json", []byte(`{"spdxVersion":"SPDX-2.3"}`)); err != nil {
		t.Fatal(err)
	}
	for kind, p := range map[string]string{"oci layout": oci, "oci archive": writeFile(t, "image.oci.tar", tarDir(t, oci, ""))} {
		t.Run(kind, func(t *testing.T) {
			if d, _ := Diff(flattened(t), readPath(t, p), DiffOptions{}); len(d) != 0 {
				t.Errorf("picked the wrong image:\n%s", lines(d))
			}
		})
	}
}
