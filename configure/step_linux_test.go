package configure

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
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

// TestLifeline: a helper whose parent's end of the lifeline closes (the
// parent died) stops at once, and not before.
func TestLifeline(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "DEBSTRAP_TEST_LIFELINE=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.ExtraFiles = []*os.File{os.Stderr, r} // fd 3 (log), fd 4 (lifeline)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r.Close()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		t.Fatalf("the helper stopped with its parent alive: %v: %s", err, stderr.String())
	case <-time.After(300 * time.Millisecond):
	}
	w.Close()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 {
			t.Fatalf("exit: %v, want status 1", err)
		}
		if !strings.Contains(stderr.String(), "debstrap is gone") {
			t.Errorf("stderr %q does not say why", stderr.String())
		}
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		t.Fatal("the helper outlived the lifeline by 10 s")
	}
}
