package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/debstrap/debstrap/internal/testarchive"
	"github.com/debstrap/debstrap/mirror"
)

// debstrap mirror, then a build from the mirror with the archive out of
// reach: the same set, the image's apt pointed where the mirror is served.
func TestMirrorCommand(t *testing.T) {
	h := newHarness(t, testarchive.Minimal())
	dir := filepath.Join(t.TempDir(), "mirror")
	r := h.run(t.Context(), "mirror", "--variant=minbase", "--include=nano", "--no-updates", "stable", dir, h.srv.URL)
	want(t, r, 0, nil, nil)
	tree := filepath.Join(dir, mirror.ArchiveName(h.srv.URL))
	if _, err := os.Stat(filepath.Join(tree, "dists", "stable", "InRelease")); err != nil {
		t.Fatal(err)
	}

	h.srv.Inject(testarchive.Status("*", http.StatusServiceUnavailable))
	defer h.srv.ClearFaults()
	h.srv.ResetLog()
	out := filepath.Join(t.TempDir(), "from-mirror.tar")
	r = cli(t.Context(), "build", "--keyring="+h.keyring, "--cache-dir="+t.TempDir(), "--architectures=amd64", "-q",
		"--mode=extract", "--variant=minbase", "--include=nano", "--no-updates",
		"--image-mirror=http://mirror.lan/debian", "stable", out, "file://"+tree)
	want(t, r, 0, nil, nil)
	if n := len(h.srv.Requests()); n != 0 {
		t.Errorf("the build from the mirror asked the archive %d times: %v", n, h.srv.Requests())
	}
	img := readImage(t, out)
	if got := string(img.entries["etc/apt/sources.list"].body); got != "deb http://mirror.lan/debian stable main\n" {
		t.Errorf("sources.list = %q", got)
	}
	if _, ok := img.entries["etc/nanorc"]; !ok {
		t.Error("nano is not in the image")
	}

	r = h.run(t.Context(), "mirror", "--list", dir)
	want(t, r, 0, []string{"1: stable --variant=minbase --architectures=amd64 --include=nano (1 sources)"}, nil)

	// Bad uses are named.
	for _, c := range []struct {
		args []string
		err  string
	}{
		{[]string{"mirror", "--reindex", dir}, "--reindex and --sign-with go together"},
		{[]string{"mirror", "--forget=x", dir}, "--forget=x: want a selection's number"},
		{[]string{"mirror", "--lock=x.lock", "stable", dir}, "with --lock, give DIR alone"},
		{[]string{"mirror", filepath.Join(t.TempDir(), "empty")}, "records no selection"},
		{[]string{"build", "--image-mirror=ftp://x/debian", "stable", out}, "--image-mirror"},
	} {
		r := h.run(t.Context(), c.args[0], c.args[1:]...)
		if r.code == 0 || !strings.Contains(r.stderr, c.err) {
			t.Errorf("%v: exit %d, stderr %q; want %q", c.args, r.code, r.stderr, c.err)
		}
	}
}
