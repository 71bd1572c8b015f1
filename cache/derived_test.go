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
