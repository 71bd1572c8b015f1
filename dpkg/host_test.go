package dpkg

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestHostDpkg uses the host's dpkg as the oracle: it unpacks and then
// configures the synthetic packages into a bare directory with dpkg
// --root, and compares dpkg's database with ours after each step. Then
// it puts our database in dpkg's place and checks that dpkg --audit and
// dpkg --verify are silent and dpkg-query sees the packages. Skipped
// without dpkg, and unless root (dpkg --root chowns what it unpacks).
func TestHostDpkg(t *testing.T) {
	for _, tool := range []string{"dpkg", "dpkg-query"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not found", tool)
		}
	}
	if os.Geteuid() != 0 {
		t.Skip("dpkg --root needs root to unpack")
	}
	run := func(name string, args ...string) string {
		t.Helper()
		out, err := exec.Command(name, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
		return string(out)
	}

	dir := t.TempDir()
	debs := []string{"--force-depends", "--unpack"}
	for i, p := range synthPackages() {
		name := filepath.Join(dir, "p"+strconv.Itoa(i+1)+".deb")
		if err := os.WriteFile(name, buildDeb(t, p), 0o644); err != nil {
			t.Fatal(err)
		}
		debs = append(debs, name)
	}
	ref := filepath.Join(dir, "dpkg-root")
	admin := filepath.Join(ref, Admin)
	for _, d := range []string{"info", "updates"} {
		if err := os.MkdirAll(filepath.Join(admin, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(admin, "status"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	run("dpkg", "--root="+ref, "--add-architecture", "i386")
	skip := func(rel string) bool {
		// status-old is dpkg's backup of the previous status; the
		// alternatives directory is created by the dpkg package itself.
		return rel == "status-old" || rel == "alternatives"
	}

	run("dpkg", append([]string{"--root=" + ref}, debs...)...)
	ours := t.TempDir()
	if err := synthDB(t, Unpacked).Write(dirRoot(ours)); err != nil {
		t.Fatal(err)
	}
	t.Run("unpacked", func(t *testing.T) {
		diffTrees(t, admin, filepath.Join(ours, Admin), skip)
	})

	run("dpkg", "--root="+ref, "--force-depends", "--configure", "-a")
	ours = t.TempDir()
	if err := synthDB(t, Installed).Write(dirRoot(ours)); err != nil {
		t.Fatal(err)
	}
	t.Run("installed", func(t *testing.T) {
		diffTrees(t, admin, filepath.Join(ours, Admin), skip)
	})

	// Our database in dpkg's root, next to the files dpkg unpacked.
	if err := os.RemoveAll(admin); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(ours, Admin), admin); err != nil {
		t.Fatal(err)
	}
	if out := run("dpkg", "--root="+ref, "--audit"); out != "" {
		t.Errorf("dpkg --audit:\n%s", out)
	}
	if out := run("dpkg", "--root="+ref, "--verify"); out != "" {
		t.Errorf("dpkg --verify:\n%s", out)
	}
	got := run("dpkg-query", "--admindir="+admin, "-W", "-f", "${binary:Package} ${Version} ${db:Status-Abbrev}\n")
	want := "p1 1.0-1 ii \np2:amd64 2 ii \np3 3 ii \n"
	if got != want {
		t.Errorf("dpkg-query -W:\n%s\nwant:\n%s", got, want)
	}
	if got := run("dpkg-query", "--admindir="+admin, "-L", "p1"); !strings.Contains(got, "/usr/share/p1/link") || strings.Contains(got, "shared") {
		t.Errorf("dpkg-query -L p1:\n%s", got)
	}
	if got := run("dpkg-query", "--admindir="+admin, "-S", "/usr/share/p1/shared"); got != "p3: /usr/share/p1/shared\n" {
		t.Errorf("dpkg-query -S: %q", got)
	}
}
