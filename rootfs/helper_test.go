package rootfs

import (
	"archive/tar"
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

var testTime = time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC)

// tf is one tar entry for tests. Type defaults to a regular file, or a
// directory for names ending in "/".
type tf struct {
	name   string
	typ    byte
	mode   int64
	body   string
	link   string
	uid    int
	gid    int
	major  int64
	minor  int64
	pax    map[string]string
	noAuto bool // don't add missing parents before this entry (see pkg)
}

func file(name, body string) tf   { return tf{name: name, body: body} }
func dir(name string) tf          { return tf{name: name, typ: tar.TypeDir} }
func symlink(name, to string) tf  { return tf{name: name, typ: tar.TypeSymlink, link: to} }
func hardlink(name, to string) tf { return tf{name: name, typ: tar.TypeLink, link: to} }

// tarBytes writes entries verbatim.
func tarBytes(t testing.TB, files []tf) []byte {
	t.Helper()
	var b bytes.Buffer
	w := tar.NewWriter(&b)
	for _, f := range files {
		h := &tar.Header{
			Name: f.name, Typeflag: f.typ, Mode: f.mode, Uid: f.uid, Gid: f.gid,
			Linkname: f.link, Devmajor: f.major, Devminor: f.minor, ModTime: testTime,
			Format: tar.FormatGNU,
		}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
			if strings.HasSuffix(f.name, "/") {
				h.Typeflag = tar.TypeDir
			}
		}
		if h.Mode == 0 {
			switch h.Typeflag {
			case tar.TypeDir:
				h.Mode = 0o755
			case tar.TypeSymlink:
				h.Mode = 0o777
			default:
				h.Mode = 0o644
			}
		}
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(f.body))
		}
		if len(f.pax) > 0 {
			h.PAXRecords = f.pax
			h.Format = tar.FormatPAX
		}
		if err := w.WriteHeader(h); err != nil {
			t.Fatalf("tar header %s: %v", f.name, err)
		}
		if h.Typeflag == tar.TypeReg {
			w.Write([]byte(f.body))
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// pkg makes a dpkg-deb-like member list: "./" first, and the missing
// parent directories of each clean relative entry before it, names
// prefixed with "./".
func pkg(files ...tf) []tf {
	out := []tf{dir("./")}
	seen := map[string]bool{"": true}
	for _, f := range files {
		clean := strings.TrimPrefix(strings.TrimSuffix(f.name, "/"), "./")
		auto := !f.noAuto && !strings.HasPrefix(f.name, "/") && !strings.Contains(f.name, "..")
		if auto {
			var parents []string
			for d := path.Dir(clean); d != "." && !seen[d]; d = path.Dir(d) {
				parents = append(parents, d)
			}
			for i := len(parents) - 1; i >= 0; i-- {
				seen[parents[i]] = true
				out = append(out, dir("./"+parents[i]+"/"))
			}
			if !strings.HasPrefix(f.name, "./") {
				f.name = "./" + f.name
			}
		}
		seen[clean] = true
		out = append(out, f)
	}
	return out
}

func tarOf(t testing.TB, files []tf) *tar.Reader {
	return tar.NewReader(bytes.NewReader(tarBytes(t, files)))
}

type env struct {
	base    string // temporary directory holding root and outside
	root    string
	outside string
	s       *Stage
}

// newEnv makes base/root (the stage) and base/outside holding a
// sentinel file that no test may touch.
func newEnv(t *testing.T, opts Options) *env {
	t.Helper()
	base := t.TempDir()
	e := &env{base: base, root: filepath.Join(base, "root"), outside: filepath.Join(base, "outside")}
	if err := os.Mkdir(e.outside, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.outside, "sentinel"), []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := Create(e.root, opts)
	if err != nil {
		t.Fatal(err)
	}
	e.s = s
	t.Cleanup(func() {
		s.Close()
		e.checkOutside(t)
	})
	return e
}

// checkOutside fails if anything appeared outside the root.
func (e *env) checkOutside(t *testing.T) {
	t.Helper()
	var got []string
	filepath.WalkDir(e.base, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Errorf("walk %s: %v", p, err)
			return nil
		}
		r, _ := filepath.Rel(e.base, p)
		if r == "root" {
			return filepath.SkipDir
		}
		got = append(got, r)
		return nil
	})
	sort.Strings(got)
	var filtered []string
	for _, g := range got {
		if g != "root.meta" {
			filtered = append(filtered, g)
		}
	}
	want := []string{".", "outside", "outside/sentinel"}
	if strings.Join(filtered, " ") != strings.Join(want, " ") {
		t.Errorf("outside the root: %q, want %q", filtered, want)
	}
	if b, err := os.ReadFile(filepath.Join(e.outside, "sentinel")); err != nil || string(b) != "keep" {
		t.Errorf("sentinel outside the root changed: %q %v", b, err)
	}
}

func (e *env) unpack(t *testing.T, name string, files []tf) *Unpacked {
	t.Helper()
	u, err := e.s.Unpack(name, tarOf(t, files))
	if err != nil {
		t.Fatalf("unpack %s: %v", name, err)
	}
	return u
}

// disk reads a file of the staging directory (not following a final
// symlink of the host path, which is checked separately).
func (e *env) disk(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(e.root, p))
	if err != nil {
		t.Fatalf("read %s on disk: %v", p, err)
	}
	return string(b)
}

func (e *env) lookup(t *testing.T, p string) Entry {
	t.Helper()
	en, ok := e.s.Lookup(p)
	if !ok {
		t.Fatalf("%s not in the table", p)
	}
	return en
}

func (e *env) absent(t *testing.T, p string) {
	t.Helper()
	if en, ok := e.s.Lookup(p); ok {
		t.Errorf("%s in the table: %+v", p, en)
	}
	if _, err := os.Lstat(filepath.Join(e.root, p)); err == nil {
		t.Errorf("%s exists on disk", p)
	}
}

func md5hex(s string) string {
	h := md5.Sum([]byte(s))
	return hex.EncodeToString(h[:])
}

// paths lists the table's paths.
func paths(s *Stage) []string {
	var out []string
	for _, e := range s.Entries() {
		out = append(out, e.Path)
	}
	return out
}

// diskTree lists the staging directory as "path type" lines, the way
// the table should describe it.
func diskTree(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		r, _ := filepath.Rel(root, p)
		r = "/" + r
		if r == "/." {
			r = "/"
		}
		out = append(out, r)
		return nil
	})
	return out
}
