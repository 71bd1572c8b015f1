package manifest

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fuzzTar builds a tar of name/content pairs (a trailing "/" makes a
// directory, "->" a symlink).
func fuzzTar(f *testing.F, files ...string) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for i := 0; i+1 < len(files); i += 2 {
		name, body := files[i], files[i+1]
		h := &tar.Header{Name: name, Mode: 0o644, Typeflag: tar.TypeReg, Size: int64(len(body))}
		switch {
		case strings.HasSuffix(name, "/"):
			h.Typeflag, h.Mode, h.Size = tar.TypeDir, 0o755, 0
		case strings.HasPrefix(body, "->"):
			h.Typeflag, h.Linkname, h.Size = tar.TypeSymlink, body[2:], 0
		}
		if err := tw.WriteHeader(h); err != nil {
			f.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			tw.Write([]byte(body))
		}
	}
	if err := tw.Close(); err != nil {
		f.Fatal(err)
	}
	return buf.Bytes()
}

// FuzzRead: a hostile file given to Read, as a root tarball, an OCI
// layout or a docker-archive in a tar, or a manifest, gives a manifest
// or an error, never a panic.
func FuzzRead(f *testing.F) {
	layer := fuzzTar(f, "./", "", "./etc/", "", "./etc/hostname", "x\n", "./bin", "->usr/bin", "./etc/.wh.old", "")
	f.Add(layer)
	f.Add(fuzzTar(f, "manifest.json", `[{"Config":"c.json","RepoTags":["x:1"],"Layers":["l.tar"]}]`, "c.json", `{"architecture":"amd64","os":"linux"}`, "l.tar", string(layer)))
	f.Add(fuzzTar(f, "oci-layout", `{"imageLayoutVersion":"1.0.0"}`, "index.json", `{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000","size":2}]}`, "blobs/", ""))
	f.Add([]byte("/etc dir 0755 0 0\n/etc/hostname file 0644 0 0 2 sha256:00\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), "in.tar")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		Read(context.Background(), p)
	})
}

// FuzzParse: a hostile manifest text gives a manifest or an error.
func FuzzParse(f *testing.F) {
	f.Add([]byte("/etc dir 0755 0 0\n/etc/a\\x20b file 0644 0 0 2 sha256:00\n"))
	if b, err := os.ReadFile("testdata/root.manifest"); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		Parse(bytes.NewReader(data))
	})
}
