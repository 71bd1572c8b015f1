package bootstrap

import (
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestStagingParent(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	if got := stagingParent("/some/where", 1, log); got != "/some/where" {
		t.Errorf("configured: %q", got)
	}
	dir := t.TempDir()
	t.Setenv("TMPDIR", dir)
	if got := stagingParent("", 1, log); got != dir {
		t.Errorf("with TMPDIR: %q, want %q", got, dir)
	}
	t.Setenv("TMPDIR", "")
	got := stagingParent("", 1<<20, log)
	if ok, why := roomyTmpfs(shmDir, 2<<20); ok != (got == shmDir) {
		t.Errorf("without TMPDIR: %q, but /dev/shm usable = %v (%s)", got, ok, why)
	}
	if got := stagingParent("", 1<<62, log); got != os.TempDir() {
		t.Errorf("too big for any tmpfs: %q, want %q", got, os.TempDir())
	}
}

func TestRoomyTmpfs(t *testing.T) {
	if ok, why := roomyTmpfs(t.TempDir(), 1); ok && why == "" {
		// t.TempDir may itself be on a tmpfs; then it is fine.
		t.Log("the test's temporary directory is a roomy tmpfs")
	}
	if ok, _ := roomyTmpfs("/nonexistent/dir", 1); ok {
		t.Error("a missing directory was accepted")
	}
	if ok, why := roomyTmpfs(shmDir, 1<<62); ok {
		t.Errorf("an impossible size was accepted (%s)", why)
	}
	if memAvailable() <= 0 {
		t.Error("MemAvailable not read from /proc/meminfo")
	}
}

// TestSweepStaging: staging roots and configure job directories whose
// build is dead go, with read-only directories inside; a live build's
// root and other names stay.
func TestSweepStaging(t *testing.T) {
	dir := t.TempDir()
	var dead []string
	for _, n := range []string{"debstrap-stage-1", "debstrap-configure-2", "debstrap-345"} {
		p := filepath.Join(dir, n)
		dead = append(dead, p)
		if err := os.MkdirAll(filepath.Join(p, "root/usr/bin"), 0o755); err != nil {
			t.Fatal(err)
		}
		os.Chmod(filepath.Join(p, "root/usr"), 0o555)
	}
	live, lock, err := makeStaging(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Release()
	other := filepath.Join(dir, "debstrap-cache")
	if err := os.Mkdir(other, 0o755); err != nil {
		t.Fatal(err)
	}
	remove := treeRemover(t.Context(), nil)
	got := sweepStaging([]string{dir}, remove, slog.New(slog.DiscardHandler))
	slices.Sort(got)
	slices.Sort(dead)
	if !slices.Equal(got, dead) {
		t.Errorf("swept %v, want %v", got, dead)
	}
	for _, p := range []string{live, other} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
}

// TestRunCleansDeadBuild: a build removes what a killed one left (its
// staging root, its temporary target) and checks the target before any
// download.
func TestRunCleansDeadBuild(t *testing.T) {
	b := newTestBuild(t, "rootfs.tar")
	deadStage := filepath.Join(b.cfg.TempDir, "debstrap-stage-42")
	deadTemp := filepath.Join(b.out, ".rootfs.tar.tmp-42")
	if err := os.MkdirAll(filepath.Join(deadStage, "root/etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(deadTemp, []byte("half a tarball"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Run(t.Context(), b.cache, b.cfg); err != nil {
		t.Fatal(err)
	}
	b.leftovers(t, true)
}

// TestRunTargetChecks: a target that cannot be written is refused before
// anything is fetched.
func TestRunTargetChecks(t *testing.T) {
	tests := []struct {
		target, format string
		setup          func(p string) error
		err            string
	}{
		{"full", "", func(p string) error {
			if err := os.Mkdir(p, 0o755); err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(p, "x"), nil, 0o644)
		}, "not empty"},
		{"dir", "tar", func(p string) error { return os.Mkdir(p, 0o755) }, "existing directory"},
		{"no/such/x.tar", "", nil, "no such file"},
		{"dangling.tar", "", func(p string) error { return os.Symlink("nowhere", p) }, "leads nowhere"},
	}
	for _, tt := range tests {
		b := newTestBuild(t, tt.target)
		b.cfg.Format = tt.format
		if tt.setup != nil {
			if err := tt.setup(b.cfg.Target); err != nil {
				t.Fatal(err)
			}
		}
		_, err := Run(t.Context(), b.cache, b.cfg)
		if err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("%s: err = %v, want %q", tt.target, err, tt.err)
		}
		if n := len(b.srv.Requests()); n != 0 {
			t.Errorf("%s: %d requests before the target was checked", tt.target, n)
		}
	}
	b := newTestBuild(t, "x")
	b.cfg.Target, b.cfg.Format = "-", "dir"
	if _, err := Run(t.Context(), b.cache, b.cfg); err == nil || !strings.Contains(err.Error(), "standard output") {
		t.Errorf("dir to -: %v", err)
	}
}
