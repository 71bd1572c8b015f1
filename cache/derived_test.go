package cache

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDerived(t *testing.T) {
	c, err := New(Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	sum := strings.Repeat("ab", 32)
	if _, err := c.OpenDerived("payload", sum); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("OpenDerived before any: %v, want not-exist", err)
	}
	for _, bad := range []struct{ kind, sum string }{{"../x", sum}, {"", sum}, {"payload", "12"}} {
		if _, err := c.CreateDerived(bad.kind, bad.sum); err == nil {
			t.Errorf("CreateDerived(%q, %q) accepted", bad.kind, bad.sum)
		}
	}

	w, err := c.CreateDerived("payload", sum)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateDerived("payload", sum); !errors.Is(err, ErrDerivedBusy) {
		t.Errorf("second writer: %v, want ErrDerivedBusy", err)
	}
	io.WriteString(w, "half")
	w.Abort()
	if _, err := c.OpenDerived("payload", sum); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("aborted file is visible: %v", err)
	}

	w, err = c.CreateDerived("payload", sum)
	if err != nil {
		t.Fatalf("after Abort: %v", err)
	}
	io.WriteString(w, "whole")
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	w.Abort() // harmless after Commit
	f, err := c.OpenDerived("payload", sum)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(f)
	f.Close()
	if string(b) != "whole" {
		t.Errorf("read %q", b)
	}
	if e, _ := os.ReadDir(filepath.Join(c.Dir(), "tmp")); len(e) != 0 {
		t.Errorf("temporary files left: %v", e)
	}
	if err := c.RemoveDerived("payload", sum); err != nil {
		t.Fatal(err)
	}
	if _, err := c.OpenDerived("payload", sum); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("after RemoveDerived: %v", err)
	}
}

// A derived file's writer that died leaves a temporary file that the next
// New removes.
func TestDerivedStaleTemp(t *testing.T) {
	dir := t.TempDir()
	c, err := New(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(c.Dir(), "tmp", "derived-"+strings.Repeat("cd", 32)+".123")
	os.WriteFile(stale, []byte("x"), 0o644)
	if _, err := New(Options{Dir: dir}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("stale derived temp file kept: %v", err)
	}
}

// A derived file proves what it is: each kind of damage or swap is caught,
// on open or by the end of the content, as a *DerivedError naming the file.
func TestDerivedProvesItself(t *testing.T) {
	c, err := New(Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	sumA, sumB := strings.Repeat("aa", 32), strings.Repeat("bb", 32)
	content := []byte(strings.Repeat("the payload of a package. ", 200))
	store := func(kind, sum string, b []byte) string {
		t.Helper()
		w, err := c.CreateDerived(kind, sum)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(b)
		if err := w.Commit(); err != nil {
			t.Fatal(err)
		}
		p, _ := c.derivedPath(kind, sum)
		return p
	}
	read := func(kind, sum string) ([]byte, error) {
		r, err := c.OpenDerived(kind, sum)
		if err != nil {
			return nil, err
		}
		defer r.Close()
		b, err := io.ReadAll(r)
		if err == nil {
			err = r.Finish()
		}
		return b, err
	}

	for _, tc := range []struct {
		name   string
		damage func(p string) // p is A's file
		want   string         // in the error
	}{
		{"intact", func(string) {}, ""},
		{"empty", func(p string) { os.WriteFile(p, nil, 0o644) }, "shorter than the"},
		{"old unframed form", func(p string) { os.WriteFile(p, content, 0o644) }, "no derived-file header"},
		{"truncated", func(p string) { os.Truncate(p, derivedHeaderSize+100) }, "size mismatch"},
		{"header only", func(p string) { os.Truncate(p, derivedHeaderSize) }, "size mismatch"},
		{"longer", func(p string) {
			f, _ := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
			f.Write([]byte("x"))
			f.Close()
		}, "size mismatch"},
		{"flipped content byte", func(p string) { flip(t, p, derivedHeaderSize+len(content)/2) }, "content SHA256 mismatch"},
		{"flipped last byte", func(p string) { flip(t, p, derivedHeaderSize+len(content)-1) }, "content SHA256 mismatch"},
		{"flipped stored digest", func(p string) { flip(t, p, 90) }, "content SHA256 mismatch"},
		{"flipped version", func(p string) { flip(t, p, 11) }, "header version"},
		{"another blob's file", func(p string) {
			b, _ := os.ReadFile(store("payload", sumB, []byte("other package")))
			os.WriteFile(p, b, 0o644)
		}, "made from blob " + sumB},
		{"another kind's file", func(p string) {
			b, _ := os.ReadFile(store("control", sumA, content))
			os.WriteFile(p, b, 0o644)
		}, `kind "control"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := store("payload", sumA, content)
			tc.damage(p)
			got, err := read("payload", sumA)
			if tc.want == "" {
				if err != nil || string(got) != string(content) {
					t.Fatalf("intact file: %v (%d bytes)", err, len(got))
				}
				return
			}
			var de *DerivedError
			if !errors.As(err, &de) || de.Path != p || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want a *DerivedError for %s saying %q", err, p, tc.want)
			}
		})
	}
}

func flip(t *testing.T, p string, off int) {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil || off >= len(b) {
		t.Fatalf("flip %s at %d: %v", p, off, err)
	}
	b[off] ^= 0x01
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// A retired kind's directory goes away whole.
func TestRemoveDerivedKind(t *testing.T) {
	c, err := New(Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if had, err := c.RemoveDerivedKind("old-1"); had || err != nil {
		t.Fatalf("nothing to remove: %v %v", had, err)
	}
	d := filepath.Join(c.Dir(), "derived", "old-1")
	os.MkdirAll(d, 0o755)
	os.WriteFile(filepath.Join(d, strings.Repeat("ab", 32)), []byte("x"), 0o644)
	if had, err := c.RemoveDerivedKind("old-1"); !had || err != nil {
		t.Fatalf("remove: %v %v", had, err)
	}
	if _, err := os.Stat(d); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s kept: %v", d, err)
	}
	if _, err := c.RemoveDerivedKind("../x"); err == nil {
		t.Error("a kind that is not a plain name was accepted")
	}
}
