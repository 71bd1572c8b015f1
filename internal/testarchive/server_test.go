package testarchive

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func get(t *testing.T, c *http.Client, url string, hdr ...string) (*http.Response, []byte, error) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp, body, err
}

func mustGet(t *testing.T, s *Server, rel string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	resp, body, err := get(t, s.Client(), s.URL+"/"+rel, hdr...)
	if err != nil {
		t.Fatalf("GET %s: %v", rel, err)
	}
	return resp, body
}

// byHashOf returns the by-hash path of an index, read from Release.
func byHashOf(t *testing.T, s *Server, suite, index string) string {
	t.Helper()
	release, err := os.ReadFile(filepath.Join(s.Dir, "dists", suite, "Release"))
	if err != nil {
		t.Fatal(err)
	}
	_, sha, _ := strings.Cut(string(release), "SHA256:\n")
	for _, l := range strings.Split(sha, "\n") {
		if f := strings.Fields(l); len(f) == 3 && f[2] == index {
			return "dists/" + suite + "/" + filepath.Dir(index) + "/by-hash/SHA256/" + f[0]
		}
	}
	t.Fatalf("%s not in Release", index)
	return ""
}

func TestServe(t *testing.T) {
	s := Serve(t, Minimal())
	if !strings.HasSuffix(s.URL, BasePath) {
		t.Errorf("URL %s", s.URL)
	}
	resp, in := mustGet(t, s, "dists/stable/InRelease")
	if resp.StatusCode != 200 || !bytes.Contains(in, []byte("Codename: bookworm")) {
		t.Fatalf("InRelease: %s\n%s", resp.Status, in)
	}
	xz := byHashOf(t, s, "bookworm", "main/binary-amd64/Packages.xz")
	if resp, _ := mustGet(t, s, xz); resp.StatusCode != 200 {
		t.Errorf("by-hash: %s", resp.Status)
	}
	deb := PoolPath("main", MinimalDebs()[0])
	resp, body := mustGet(t, s, deb)
	if resp.StatusCode != 200 || !bytes.HasPrefix(body, []byte("!<arch>\n")) {
		t.Errorf("%s: %s", deb, resp.Status)
	}

	// Conditional and range requests, as a static mirror answers them.
	resp, _ = mustGet(t, s, "dists/stable/InRelease")
	etag, lm := resp.Header.Get("ETag"), resp.Header.Get("Last-Modified")
	if resp, _ := mustGet(t, s, "dists/stable/InRelease", "If-None-Match", etag); resp.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match: %s", resp.Status)
	}
	if resp, _ := mustGet(t, s, "dists/stable/InRelease", "If-Modified-Since", lm); resp.StatusCode != http.StatusNotModified {
		t.Errorf("If-Modified-Since: %s", resp.Status)
	}
	if resp, body := mustGet(t, s, deb, "Range", "bytes=0-7"); resp.StatusCode != http.StatusPartialContent || string(body) != "!<arch>\n" {
		t.Errorf("Range: %s %q", resp.Status, body)
	}

	for _, rel := range []string{"dists/", "dists/stable/Nothing", "../etc/passwd", "dists/stable/../stable/InRelease"} {
		if resp, _ := mustGet(t, s, rel); resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s: %s, want 404", rel, resp.Status)
		}
	}
	if resp, _, err := get(t, s.Client(), strings.TrimSuffix(s.URL, BasePath)+"/dists/stable/InRelease"); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("outside the mirror root: %v %v", resp.Status, err)
	}

	reqs := s.Requests()
	if reqs[0] != "dists/stable/InRelease" || reqs[1] != xz || !slices.Contains(reqs, "/dists/stable/InRelease") {
		t.Errorf("Requests() = %q", reqs)
	}
	// 4 above, then dists/stable/../stable/InRelease and the one outside
	// the mirror root.
	if n := s.Count("InRelease"); n != 6 {
		t.Errorf("Count(InRelease) = %d, want 6", n)
	}
	if n := s.Count("Packages.xz"); n != 1 {
		t.Errorf("Count(Packages.xz) = %d (by-hash alias), want 1", n)
	}
	log := s.Log()
	if log[4].Status != http.StatusNotModified || log[4].Header.Get("If-None-Match") == "" {
		t.Errorf("Log()[4] = %+v", log[4])
	}
	s.ResetLog()
	if len(s.Requests()) != 0 {
		t.Error("ResetLog")
	}
}

func TestMatches(t *testing.T) {
	tests := []struct {
		path, pattern string
		want          bool
	}{
		{"dists/stable/InRelease", "InRelease", true},
		{"dists/stable/InRelease", "Release", false},
		{"dists/stable/Release", "Release", true},
		{"dists/stable/main/binary-amd64/Release", "Release", true},
		{"dists/stable/main/binary-amd64/Packages.xz", "binary-amd64/Packages.xz", true},
		{"dists/stable/main/binary-amd64/Packages.xz", "binary-arm64/Packages.xz", false},
		{"pool/main/b/bash/bash_1_amd64.deb", "*.deb", true},
		{"pool/main/b/bash/bash_1_amd64.deb", "bash_*", true},
		{"dists/s/main/binary-amd64/by-hash/SHA256/abc", "by-hash/SHA256/*", true},
		{"dists/stable/InRelease", "/dists/stable/InRelease", true},
		{"dists/stable/InRelease", "/stable/InRelease", false},
		{"dists/stable/InRelease", "/dists/*/InRelease", true},
		{"InRelease", "stable/InRelease", false},
	}
	for _, tt := range tests {
		if got := matchPath(tt.path, tt.pattern); got != tt.want {
			t.Errorf("matchPath(%q, %q) = %v", tt.path, tt.pattern, got)
		}
	}
}

func TestFaults(t *testing.T) {
	s := Serve(t, Minimal())
	c := s.Client()
	deb := PoolPath("main", MinimalDebs()[1])
	_, debBody := mustGet(t, s, deb)
	xz := byHashOf(t, s, "bookworm", "main/binary-amd64/Packages.xz")

	t.Run("NotFound", func(t *testing.T) {
		s.Inject(NotFound("InRelease"))
		defer s.ClearFaults()
		if resp, _ := mustGet(t, s, "dists/stable/InRelease"); resp.StatusCode != 404 {
			t.Errorf("%s", resp.Status)
		}
		if resp, _ := mustGet(t, s, "dists/stable/Release"); resp.StatusCode != 200 {
			t.Errorf("Release: %s", resp.Status)
		}
	})
	t.Run("Times/ServerError", func(t *testing.T) {
		s.Inject(Times(2, ServerError("*.deb")))
		defer s.ClearFaults()
		var codes []int
		for range 4 {
			resp, _ := mustGet(t, s, deb)
			codes = append(codes, resp.StatusCode)
		}
		if !slices.Equal(codes, []int{500, 500, 200, 200}) {
			t.Errorf("codes %v", codes)
		}
	})
	t.Run("Times/concurrent", func(t *testing.T) {
		s.Inject(Times(3, Status("*.deb", http.StatusServiceUnavailable)))
		defer s.ClearFaults()
		var mu sync.Mutex
		failed := 0
		var wg sync.WaitGroup
		for range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				resp, _, err := get(t, c, s.URL+"/"+deb)
				if err == nil && resp.StatusCode == http.StatusServiceUnavailable {
					mu.Lock()
					failed++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if failed != 3 {
			t.Errorf("%d failures, want 3", failed)
		}
	})
	t.Run("Replace", func(t *testing.T) {
		s.Inject(Replace("Packages.xz", []byte("junk")))
		defer s.ClearFaults()
		// The by-hash path is an alias of Packages.xz.
		if _, body := mustGet(t, s, xz); string(body) != "junk" {
			t.Errorf("by-hash body %q", body)
		}
		if _, body := mustGet(t, s, "dists/stable/main/binary-amd64/Packages.xz"); string(body) != "junk" {
			t.Errorf("body %q", body)
		}
	})
	t.Run("Corrupt", func(t *testing.T) {
		s.Inject(Corrupt("*.deb"))
		defer s.ClearFaults()
		_, body := mustGet(t, s, deb)
		if len(body) != len(debBody) || bytes.Equal(body, debBody) {
			t.Errorf("corrupt body: len %d vs %d, equal %v", len(body), len(debBody), bytes.Equal(body, debBody))
		}
	})
	t.Run("Modify", func(t *testing.T) {
		s.Inject(Modify("InRelease", func(b []byte) []byte {
			return bytes.Replace(b, []byte("bookworm"), []byte("trixie"), -1)
		}))
		defer s.ClearFaults()
		_, body := mustGet(t, s, "dists/stable/InRelease")
		if !bytes.Contains(body, []byte("Codename: trixie")) {
			t.Errorf("body:\n%s", body)
		}
	})
	t.Run("Truncate", func(t *testing.T) {
		s.Inject(Truncate("*.deb", 100))
		defer s.ClearFaults()
		_, body, err := get(t, c, s.URL+"/"+deb)
		if !errors.Is(err, io.ErrUnexpectedEOF) || len(body) != 100 {
			t.Errorf("err %v, %d bytes", err, len(body))
		}
	})
	t.Run("Delay", func(t *testing.T) {
		s.Inject(Times(1, Delay("InRelease", 300*time.Millisecond)))
		defer s.ClearFaults()
		start := time.Now()
		mustGet(t, s, "dists/stable/InRelease")
		if d := time.Since(start); d < 300*time.Millisecond {
			t.Errorf("first request took %v", d)
		}
		start = time.Now()
		mustGet(t, s, "dists/stable/InRelease")
		if d := time.Since(start); d > 200*time.Millisecond {
			t.Errorf("second request took %v", d)
		}
	})
	t.Run("Hang", func(t *testing.T) {
		s.Inject(Hang("InRelease"))
		defer s.ClearFaults()
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/dists/stable/InRelease", nil)
		if _, err := c.Do(req); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err %v", err)
		}
	})
	t.Run("Trickle", func(t *testing.T) {
		s.Inject(Trickle("InRelease", 100, 5*time.Millisecond))
		defer s.ClearFaults()
		want, _ := os.ReadFile(filepath.Join(s.Dir, "dists/stable/InRelease"))
		start := time.Now()
		resp, body := mustGet(t, s, "dists/stable/InRelease")
		// Slow, but whole and with the real length.
		if !bytes.Equal(body, want) || resp.ContentLength != int64(len(want)) {
			t.Errorf("%d of %d bytes, Content-Length %d", len(body), len(want), resp.ContentLength)
		}
		if d, min := time.Since(start), time.Duration(len(want)/100-1)*5*time.Millisecond; d < min {
			t.Errorf("took %v, want at least %v", d, min)
		}
	})
	t.Run("Redirect", func(t *testing.T) {
		s.Inject(Redirect("/dists/stable/InRelease", s.URL+"/dists/bookworm/InRelease"))
		defer s.ClearFaults()
		resp, body := mustGet(t, s, "dists/stable/InRelease")
		if resp.StatusCode != 200 || !bytes.Contains(body, []byte("Codename: bookworm")) || resp.Request.URL.Path != BasePath+"/dists/bookworm/InRelease" {
			t.Errorf("%s %s", resp.Status, resp.Request.URL)
		}
	})
	t.Run("custom", func(t *testing.T) {
		s.Inject(Times(1, func(w http.ResponseWriter, r *http.Request, next http.Handler) bool {
			if !Fires(r, "Release.gpg") {
				return false
			}
			w.Header().Set("X-Test", "yes")
			next.ServeHTTP(w, r)
			return true
		}))
		defer s.ClearFaults()
		r1, _ := mustGet(t, s, "dists/stable/Release.gpg")
		r2, _ := mustGet(t, s, "dists/stable/Release.gpg")
		if r1.Header.Get("X-Test") != "yes" || r2.Header.Get("X-Test") != "" {
			t.Errorf("headers %v / %v", r1.Header, r2.Header)
		}
	})
}

// TestUpdate is a mirror that pushes a new index between two fetches.
func TestUpdate(t *testing.T) {
	a := Minimal()
	s := Serve(t, a)
	resp, in1 := mustGet(t, s, "dists/stable/InRelease")
	etag, lm := resp.Header.Get("ETag"), resp.Header.Get("Last-Modified")
	oldXZ := byHashOf(t, s, "bookworm", "main/binary-amd64/Packages.xz")

	a.Suites[0].Packages["main"] = append(a.Suites[0].Packages["main"], NewDeb("newpkg", "1.0-1"))
	a.Suites[0].Date = DefaultTime.Add(time.Hour)
	s.Update(a)

	resp, in2 := mustGet(t, s, "dists/stable/InRelease", "If-None-Match", etag)
	if resp.StatusCode != 200 || bytes.Equal(in1, in2) {
		t.Errorf("after Update, If-None-Match: %s", resp.Status)
	}
	if resp, _ := mustGet(t, s, "dists/stable/InRelease", "If-Modified-Since", lm); resp.StatusCode != 200 {
		t.Errorf("after Update, If-Modified-Since: %s", resp.Status)
	}
	newXZ := byHashOf(t, s, "bookworm", "main/binary-amd64/Packages.xz")
	if newXZ == oldXZ {
		t.Fatal("index unchanged")
	}
	for _, p := range []string{oldXZ, newXZ, PoolPath("main", NewDeb("newpkg", "1.0-1"))} {
		if resp, _ := mustGet(t, s, p); resp.StatusCode != 200 {
			t.Errorf("%s: %s", p, resp.Status)
		}
	}
	// A fault may update the mirror itself, mid-build.
	b := Minimal()
	b.Suites[0].Unsigned = true
	s.Inject(Times(1, func(w http.ResponseWriter, r *http.Request, next http.Handler) bool {
		if Fires(r, "InRelease") {
			s.Update(b)
		}
		return false
	}))
	if resp, _ := mustGet(t, s, "dists/stable/InRelease"); resp.StatusCode != 404 {
		t.Errorf("InRelease after an unsigned update: %s", resp.Status)
	}
}

func TestServeTLS(t *testing.T) {
	s := ServeTLS(t, Minimal())
	if !strings.HasPrefix(s.URL, "https://") {
		t.Fatalf("URL %s", s.URL)
	}
	if resp, _ := mustGet(t, s, "dists/stable/Release"); resp.StatusCode != 200 {
		t.Errorf("%s", resp.Status)
	}
}

// TestAptGet points the host's apt at a served archive: apt itself must
// accept the signatures, Release, indexes and .debs. Skipped without apt.
func TestAptGet(t *testing.T) {
	aptGet, err := exec.LookPath("apt-get")
	if err != nil {
		t.Skip("apt-get not installed")
	}
	if _, err := exec.LookPath("gpgv"); err != nil {
		if _, err := exec.LookPath("sqv"); err != nil {
			t.Skip("neither gpgv nor sqv installed")
		}
	}
	s := Serve(t, Minimal())
	root := t.TempDir()
	keyring := s.Key.WriteKeyring(t, root)
	for _, d := range []string{"etc/apt/apt.conf.d", "etc/apt/preferences.d", "etc/apt/trusted.gpg.d", "etc/apt/sources.list.d", "var/lib/apt/lists/partial", "var/cache/apt/archives/partial", "var/lib/dpkg", "var/log/apt"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"var/lib/dpkg/status", "etc/apt/apt.conf"} {
		if err := os.WriteFile(filepath.Join(root, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sources := "Types: deb\nURIs: " + s.URL + "\nSuites: stable\nComponents: main\nSigned-By: " + keyring + "\n"
	if err := os.WriteFile(filepath.Join(root, "etc/apt/sources.list.d/test.sources"), []byte(sources), 0o644); err != nil {
		t.Fatal(err)
	}
	apt := func(args ...string) string {
		opts := []string{
			"-o", "Dir=" + root,
			"-o", "Dir::State::status=" + filepath.Join(root, "var/lib/dpkg/status"),
			"-o", "Dir::Etc::SourceList=" + filepath.Join(root, "etc/apt/sources.list"),
			"-o", "Dir::Etc::Trusted=" + filepath.Join(root, "etc/apt/trusted.gpg"),
			"-o", "Dir::Etc::TrustedParts=" + filepath.Join(root, "etc/apt/trusted.gpg.d"),
			"-o", "APT::Architecture=amd64",
			"-o", "APT::Architectures::=amd64",
			"-o", "Debug::NoLocking=1",
			"-o", "APT::Sandbox::User=root",
			"-o", "Acquire::Languages=none",
			"-o", "Acquire::Check-Valid-Until=false",
		}
		cmd := exec.Command(aptGet, append(opts, args...)...)
		// An empty config file: the host's apt.conf must not leak in.
		cmd.Env = append(os.Environ(), "APT_CONFIG="+filepath.Join(root, "etc/apt/apt.conf"), "LC_ALL=C")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("apt-get %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	out := apt("update", "--error-on=any")
	if strings.Contains(out, "W:") || strings.Contains(out, "E:") {
		t.Errorf("apt-get update complains:\n%s", out)
	}
	out = apt("-s", "install", "hello")
	for _, want := range []string{"Inst libc6 (2.36-9+deb12u4", "Inst debconf (1.5.82", "Inst hello (2.10-3"} {
		if !strings.Contains(out, want) {
			t.Errorf("apt-get -s install hello lacks %q:\n%s", want, out)
		}
	}
	// Downloads check each .deb's size and SHA256 against the index.
	apt("-y", "--download-only", "install", "hello")
	debs, _ := filepath.Glob(filepath.Join(root, "var/cache/apt/archives/*.deb"))
	if len(debs) != 3 {
		t.Errorf("downloaded %v", debs)
	}
	if s.Count("by-hash/SHA256/*") == 0 {
		t.Errorf("apt did not use by-hash: %q", s.Requests())
	}
}
