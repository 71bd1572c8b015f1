package configure

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestStepWriter: one step per "Setting up" line of dpkg, however the
// output is cut into writes; the output itself passes through.
func TestStepWriter(t *testing.T) {
	out := "Selecting previously unselected package x.\nSetting up base-files (12.4) ...\n" +
		"Setting up dash (0.5.12-2) ...\nno newline: Setting up x\nSetting up mawk (1.3.4) ..."
	for _, chunk := range []int{1, 7, len(out)} {
		var buf bytes.Buffer
		n := 0
		w := &stepWriter{w: &buf, step: func() { n++ }}
		for i := 0; i < len(out); i += chunk {
			w.Write([]byte(out[i:min(i+chunk, len(out))]))
		}
		w.flush()
		if n != 3 || buf.String() != out {
			t.Errorf("chunks of %d: %d steps, output %q", chunk, n, buf.String())
		}
	}
	w := &stepWriter{} // no writer, no step: nothing breaks
	w.Write([]byte("Setting up x\n"))
	w.flush()
}

// TestRemoveTree: a tree with read-only directories goes (as root it
// needs no namespace; the namespace path is exercised by e2e/kill.sh).
func TestRemoveTree(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "stage")
	if err := os.MkdirAll(filepath.Join(dir, "root/usr/bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "root/usr/bin/x"), nil, 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chmod(filepath.Join(dir, "root/usr/bin"), 0o555)
	os.Chmod(filepath.Join(dir, "root"), 0o555)
	if err := RemoveTree(t.Context(), dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(dir); err == nil {
		t.Error("still there")
	}
}
