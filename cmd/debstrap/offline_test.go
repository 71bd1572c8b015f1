package main

import (
	"net/http"
	"path/filepath"
	"testing"

	"github.com/debstrap/debstrap/internal/testarchive"
)

// --offline builds from the cache alone: no request reaches the mirror,
// and what the cache lacks is an error naming it.
func TestOffline(t *testing.T) {
	h := newHarness(t, testarchive.Minimal())
	dir := t.TempDir()
	build := func(name string, flags ...string) result {
		args := append([]string{"build", "--keyring=" + h.keyring, "--cache-dir=" + h.cache, "--architectures=amd64",
			"--mode=extract", "--no-updates", "--rebuild", "--variant=minbase"}, flags...)
		return cli(t.Context(), append(args, "stable", filepath.Join(dir, name), h.srv.URL)...)
	}
	want(t, build("online.tar"), 0, nil, nil)
	h.srv.ResetLog()
	h.srv.Inject(testarchive.Status("*", http.StatusServiceUnavailable))
	defer h.srv.ClearFaults()
	want(t, build("offline.tar", "--offline"), 0, nil, nil)
	if n := len(h.srv.Requests()); n != 0 {
		t.Errorf("--offline made %d requests: %v", n, h.srv.Requests())
	}
	r := build("more.tar", "--offline", "--include=nano")
	want(t, r, 1, nil, []string{"nano_", "is not in the cache, and offline no network request is made"})
	if n := len(h.srv.Requests()); n != 0 {
		t.Errorf("--offline made %d requests: %v", n, h.srv.Requests())
	}
	// A cache that never saw the archive: its Release is named.
	r = cli(t.Context(), "resolve", "--keyring="+h.keyring, "--cache-dir="+t.TempDir(), "--offline", "--no-updates", "-q", "stable", h.srv.URL)
	want(t, r, 1, nil, []string{"/dists/stable/InRelease is not in the cache"})
}
