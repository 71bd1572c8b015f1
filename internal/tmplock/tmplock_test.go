package tmplock

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
)

// A child process that makes a temporary directory and file, says their
// names and waits to be killed.
func TestMain(m *testing.M) {
	if dir := os.Getenv("TMPLOCK_TEST_CHILD"); dir != "" {
		d, _, err := MkdirTemp(dir, "x-*")
		if err != nil {
			os.Exit(1)
		}
		f, _, err := CreateTemp(dir, "x-*")
		if err != nil {
			os.Exit(1)
		}
		os.Stdout.WriteString(d + "\n" + f.Name() + "\n")
		select {}
	}
	os.Exit(m.Run())
}

func TestSweep(t *testing.T) {
	dir := t.TempDir()
	// What a killed process left.
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "TMPLOCK_TEST_CHILD="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	var dead []string
	for len(dead) < 2 && sc.Scan() {
		dead = append(dead, sc.Text())
	}
	if len(dead) < 2 {
		t.Fatalf("child said %q", dead)
	}
	// While the child lives, its temporaries are not touched.
	if got := Sweep(dir, "x-*", os.RemoveAll, nil); len(got) != 0 {
		t.Errorf("swept a live process's temporaries: %v", got)
	}
	cmd.Process.Kill()
	cmd.Wait()
	if err := os.WriteFile(filepath.Join(dead[0], "inside"), nil, 0o644); err != nil {
		t.Fatal(err)
	}

	// Ours, alive, and things that are not temporaries of this pattern.
	live, l1, err := MkdirTemp(dir, "x-*")
	if err != nil {
		t.Fatal(err)
	}
	f, l2, err := CreateTemp(dir, "x-*")
	if err != nil {
		t.Fatal(err)
	}
	f.Close() // the mark outlives the file's own descriptor
	other := filepath.Join(dir, "y-1")
	if err := os.Mkdir(other, 0o755); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "x-link")
	if err := os.Symlink(other, link); err != nil {
		t.Fatal(err)
	}

	got := Sweep(dir, "x-*", os.RemoveAll, nil)
	slices.Sort(got)
	slices.Sort(dead)
	if !slices.Equal(got, dead) {
		t.Errorf("swept %v, want %v", got, dead)
	}
	for _, p := range []string{live, f.Name(), other, link} {
		if _, err := os.Lstat(p); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
	// Released, they are fair game.
	l1.Release()
	l2.Release()
	l2.Release()
	if got := Sweep(dir, "x-*", os.RemoveAll, nil); len(got) != 2 {
		t.Errorf("after release swept %v, want %s and %s", got, live, f.Name())
	}
}
