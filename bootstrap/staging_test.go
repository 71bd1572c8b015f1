package bootstrap

import (
	"log/slog"
	"os"
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
