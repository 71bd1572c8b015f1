package cache

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// content is the honest file the tests download.
var content = bytes.Repeat([]byte("debstrap cache test payload\n"), 4096) // 112 KiB

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// server is an httptest server whose paths are served by handlers that see
// how many times their path was hit (1-based).
type server struct {
	*httptest.Server
	mu       sync.Mutex
	hits     map[string]int
	handlers map[string]func(w http.ResponseWriter, r *http.Request, n int)
}

func newServer(t *testing.T) *server {
	s := &server{hits: map[string]int{}, handlers: map[string]func(http.ResponseWriter, *http.Request, int){}}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.hits[r.URL.Path]++
		n := s.hits[r.URL.Path]
		h := s.handlers[r.URL.Path]
		s.mu.Unlock()
		if h == nil {
			http.NotFound(w, r)
			return
		}
		h(w, r, n)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *server) handle(path string, h func(w http.ResponseWriter, r *http.Request, n int)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.handlers[path] = h
}

func (s *server) hit(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits[path]
}

// Handlers.

func serve(b []byte) func(http.ResponseWriter, *http.Request, int) {
	return func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		w.Write(b)
	}
}

// serveChunked sends b without a Content-Length.
func serveChunked(b []byte) func(http.ResponseWriter, *http.Request, int) {
	return func(w http.ResponseWriter, r *http.Request, n int) {
		w.WriteHeader(http.StatusOK)
		b := b
		for len(b) > 0 {
			k := min(len(b), 8192)
			w.Write(b[:k])
			w.(http.Flusher).Flush()
			b = b[k:]
		}
	}
}

func status(code int) func(http.ResponseWriter, *http.Request, int) {
	return func(w http.ResponseWriter, r *http.Request, n int) {
		http.Error(w, http.StatusText(code), code)
	}
}

// drop promises all of b but closes the connection after half of it.
func drop(b []byte) func(http.ResponseWriter, *http.Request, int) {
	return func(w http.ResponseWriter, r *http.Request, n int) {
		conn, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			panic(err)
		}
		defer conn.Close()
		fmt.Fprintf(buf, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", len(b))
		buf.Write(b[:len(b)/2])
		buf.Flush()
	}
}

// firstThen uses a for the first k hits, then b.
func firstThen(k int, a, b func(http.ResponseWriter, *http.Request, int)) func(http.ResponseWriter, *http.Request, int) {
	return func(w http.ResponseWriter, r *http.Request, n int) {
		if n <= k {
			a(w, r, n)
		} else {
			b(w, r, n)
		}
	}
}

const testRetries = 2

func newCache(t *testing.T, dir string) *Cache {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	c, err := New(Options{
		Dir:     dir,
		Retries: testRetries,
		Backoff: time.Millisecond,
		Logger:  slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// checkClean fails if the cache's tmp directory is not empty.
func checkClean(t *testing.T, c *Cache) {
	t.Helper()
	entries, err := os.ReadDir(c.tmpDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Errorf("temporary file left behind: %s", e.Name())
	}
}

func TestFetch(t *testing.T) {
	tampered := bytes.Clone(content)
	tampered[len(tampered)/3] ^= 1
	long := append(bytes.Clone(content), "extra"...)
	n := int64(len(content))

	type paths map[string]int
	tests := []struct {
		name     string
		handlers map[string]func(http.ResponseWriter, *http.Request, int)
		urls     []string
		size     int64 // 0: len(content)
		wantErr  string
		wantAs   any // *HTTPError or *VerifyError the error must contain
		check    func(t *testing.T, err error)
		wantHits paths
	}{
		{
			name:     "honest",
			handlers: map[string]func(http.ResponseWriter, *http.Request, int){"/a": serve(content)},
			urls:     []string{"/a"},
			wantHits: paths{"/a": 1},
		},
		{
			name:     "honest, unknown size, no Content-Length",
			handlers: map[string]func(http.ResponseWriter, *http.Request, int){"/a": serveChunked(content)},
			urls:     []string{"/a"},
			size:     -1,
			wantHits: paths{"/a": 1},
		},
		{
			name:     "tampered bytes",
			handlers: map[string]func(http.ResponseWriter, *http.Request, int){"/a": serve(tampered)},
			urls:     []string{"/a"},
			wantErr:  "sha256 mismatch: expected " + sum(content) + ", got " + sum(tampered) + " (gave up after 3 attempts)",
			wantAs:   &VerifyError{},
			wantHits: paths{"/a": testRetries + 1},
		},
		{
			name:     "tampered bytes, unknown size",
			handlers: map[string]func(http.ResponseWriter, *http.Request, int){"/a": serveChunked(tampered)},
			urls:     []string{"/a"},
			size:     -1,
			wantErr:  "sha256 mismatch",
			wantAs:   &VerifyError{},
			wantHits: paths{"/a": testRetries + 1},
		},
		{
			// A wrong answer is retried like a 500: a mirror mid-sync or a
			// proxy may answer right the next time.
			name:     "tampered once, then right",
			handlers: map[string]func(http.ResponseWriter, *http.Request, int){"/a": firstThen(1, serve(tampered), serve(content))},
			urls:     []string{"/a"},
			wantHits: paths{"/a": 2},
		},
		{
			name:     "wrong size once, then right",
			handlers: map[string]func(http.ResponseWriter, *http.Request, int){"/a": firstThen(1, serve(long), serve(content))},
			urls:     []string{"/a"},
			wantHits: paths{"/a": 2},
		},
		{
			name: "tampered forever on the first URL, then the next",
			handlers: map[string]func(http.ResponseWriter, *http.Request, int){
				"/a": serve(tampered), "/b": serve(content),
			},
			urls:     []string{"/a", "/b"},
			wantHits: paths{"/a": testRetries + 1, "/b": 1},
		},
		{
			name:     "short: Content-Length below size",
			handlers: map[string]func(http.ResponseWriter, *http.Request, int){"/a": serve(content[:n-10])},
			urls:     []string{"/a"},
			wantErr:  fmt.Sprintf("size mismatch: expected %d, got %d (Content-Length) (gave up after 3 attempts)", n, n-10),
			wantAs:   &VerifyError{},
			wantHits: paths{"/a": testRetries + 1},
		},
		{
			name:     "short: body ends early without Content-Length, retried",
			handlers: map[string]func(http.ResponseWriter, *http.Request, int){"/a": serveChunked(content[:n-10])},
			urls:     []string{"/a"},
			wantErr:  fmt.Sprintf("size mismatch: expected %d, got %d (gave up after 3 attempts)", n, n-10),
			wantAs:   &VerifyError{},
			wantHits: paths{"/a": testRetries + 1},
		},
		{
			name:     "long: Content-Length above size",
			handlers: map[string]func(http.ResponseWriter, *http.Request, int){"/a": serve(long)},
			urls:     []string{"/a"},
			wantErr:  fmt.Sprintf("size mismatch: expected %d, got %d (Content-Length) (gave up after 3 attempts)", n, len(long)),
			wantAs:   &VerifyError{},
			wantHits: paths{"/a": testRetries + 1},
		},
		{
			name:     "long: body without Content-Length is cut off",
			handlers: map[string]func(http.ResponseWriter, *http.Request, int){"/a": serveChunked(long)},
			urls:     []string{"/a"},
			wantErr:  fmt.Sprintf("size mismatch: expected %d, got more than %d bytes (gave up after 3 attempts)", n, n),
			wantAs:   &VerifyError{},
			wantHits: paths{"/a": testRetries + 1},
		},
		{
			name: "404 falls back to the next URL",
			handlers: map[string]func(http.ResponseWriter, *http.Request, int){
				"/plain": serve(content),
			},
			urls:     []string{"/by-hash", "/plain"},
			wantHits: paths{"/by-hash": 1, "/plain": 1},
		},
		{
			name:     "404 everywhere",
			urls:     []string{"/by-hash", "/plain"},
			wantErr:  "/by-hash: 404 Not Found; GET http",
			wantAs:   &HTTPError{},
			wantHits: paths{"/by-hash": 1, "/plain": 1},
			check: func(t *testing.T, err error) {
				var he *HTTPError
				errors.As(err, &he)
				if he.StatusCode != 404 || !strings.HasSuffix(he.URL, "/by-hash") {
					t.Errorf("HTTPError = %+v, want 404 for /by-hash", he)
				}
			},
		},
		{
			name:     "500 then success",
			handlers: map[string]func(http.ResponseWriter, *http.Request, int){"/a": firstThen(1, status(500), serve(content))},
			urls:     []string{"/a"},
			wantHits: paths{"/a": 2},
		},
		{
			name:     "429 and 503 then success",
			handlers: map[string]func(http.ResponseWriter, *http.Request, int){"/a": firstThen(1, status(429), firstThen(2, status(503), serve(content)))},
			urls:     []string{"/a"},
			wantHits: paths{"/a": 3},
		},
		{
			name:     "500 forever",
			handlers: map[string]func(http.ResponseWriter, *http.Request, int){"/a": status(500)},
			urls:     []string{"/a"},
			wantErr:  "/a: 500 Internal Server Error (gave up after 3 attempts)",
			wantAs:   &HTTPError{},
			wantHits: paths{"/a": testRetries + 1},
		},
		{
			name: "500 forever on the first URL, then the next",
			handlers: map[string]func(http.ResponseWriter, *http.Request, int){
				"/a": status(502), "/b": serve(content),
			},
			urls:     []string{"/a", "/b"},
			wantHits: paths{"/a": testRetries + 1, "/b": 1},
		},
		{
			name:     "403 is final",
			handlers: map[string]func(http.ResponseWriter, *http.Request, int){"/a": status(403)},
			urls:     []string{"/a"},
			wantErr:  "403 Forbidden",
			wantAs:   &HTTPError{},
			wantHits: paths{"/a": 1},
		},
		{
			name:     "connection dropped mid-file, then success",
			handlers: map[string]func(http.ResponseWriter, *http.Request, int){"/a": firstThen(1, drop(content), serve(content))},
			urls:     []string{"/a"},
			wantHits: paths{"/a": 2},
		},
		{
			name:     "connection dropped forever",
			handlers: map[string]func(http.ResponseWriter, *http.Request, int){"/a": drop(content)},
			urls:     []string{"/a"},
			wantErr:  "/a: reading body: unexpected EOF (gave up after 3 attempts)",
			wantHits: paths{"/a": testRetries + 1},
			check: func(t *testing.T, err error) {
				if !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Errorf("error %v is not io.ErrUnexpectedEOF", err)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t)
			for p, h := range tt.handlers {
				s.handle(p, h)
			}
			c := newCache(t, "")
			size := tt.size
			if size == 0 {
				size = n
			}
			it := Item{Name: "pkg_1.0_amd64.deb", Size: size, SHA256: sum(content)}
			for _, u := range tt.urls {
				it.URLs = append(it.URLs, s.URL+u)
			}
			path, err := c.Fetch(context.Background(), it)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Fetch: %v", err)
				}
				got, err := os.ReadFile(path)
				if err != nil || !bytes.Equal(got, content) {
					t.Errorf("blob at %s: %d bytes, err %v; want the content", path, len(got), err)
				}
				if path != c.Path(it.SHA256) || !c.Has(it) {
					t.Errorf("path %s, Has %v; want %s, true", path, c.Has(it), c.Path(it.SHA256))
				}
			} else {
				if err == nil {
					t.Fatalf("Fetch succeeded, want error containing %q", tt.wantErr)
				}
				t.Logf("error: %v", err)
				if !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), it.Name) {
					t.Errorf("error %q does not contain %q and the item name", err, tt.wantErr)
				}
				switch tt.wantAs.(type) {
				case *HTTPError:
					var he *HTTPError
					if !errors.As(err, &he) {
						t.Errorf("error is not an *HTTPError")
					}
				case *VerifyError:
					var ve *VerifyError
					if !errors.As(err, &ve) {
						t.Errorf("error is not a *VerifyError")
					} else if ve.Name != it.Name || !strings.HasPrefix(ve.URL, s.URL) {
						t.Errorf("VerifyError names %q from %q", ve.Name, ve.URL)
					}
				}
				if _, serr := os.Stat(c.Path(it.SHA256)); !errors.Is(serr, os.ErrNotExist) {
					t.Errorf("blob exists after failure (stat: %v)", serr)
				}
				if c.Has(it) {
					t.Errorf("Has after failure")
				}
			}
			if tt.check != nil {
				tt.check(t, err)
			}
			for p, want := range tt.wantHits {
				if got := s.hit(p); got != want {
					t.Errorf("%s requested %d times, want %d", p, got, want)
				}
			}
			checkClean(t, c)
		})
	}
}

func TestFetchCachedNeedsNoNetwork(t *testing.T) {
	s := newServer(t)
	s.handle("/a", serve(content))
	c := newCache(t, "")
	it := Item{Name: "a", URLs: []string{s.URL + "/a"}, Size: int64(len(content)), SHA256: sum(content)}
	p1, err := c.Fetch(context.Background(), it)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	// Upper-case hex names the same blob.
	it.SHA256 = strings.ToUpper(it.SHA256)
	p2, err := c.Fetch(context.Background(), it)
	if err != nil || p1 != p2 {
		t.Fatalf("second Fetch = %q, %v; want %q", p2, err, p1)
	}
	// No URL at all is fine for a cached item, an error otherwise.
	if _, err := c.Fetch(context.Background(), Item{Name: "a", Size: -1, SHA256: sum(content)}); err != nil {
		t.Errorf("Fetch of cached item without URLs: %v", err)
	}
	_, err = c.Fetch(context.Background(), Item{Name: "other", Size: -1, SHA256: sum([]byte("x"))})
	if err == nil || !strings.Contains(err.Error(), "fetch other: not in the cache") {
		t.Errorf("Fetch of missing item without URLs: %v", err)
	}
}

func TestFetchBadItem(t *testing.T) {
	c := newCache(t, "")
	for _, s := range []string{"", "abc", strings.Repeat("g", 64), "../../../../etc/passwd"} {
		_, err := c.Fetch(context.Background(), Item{Name: "bad", URLs: []string{"http://127.0.0.1:1/x"}, Size: -1, SHA256: s})
		if err == nil || !strings.Contains(err.Error(), "invalid SHA256") {
			t.Errorf("SHA256 %q: err %v, want invalid SHA256", s, err)
		}
		if c.Path(s) != "" {
			t.Errorf("Path(%q) = %q, want empty", s, c.Path(s))
		}
	}
}

func TestStallTimeout(t *testing.T) {
	s := newServer(t)
	s.handle("/a", firstThen(1, func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Content-Length", strconv.Itoa(len(content)))
		w.Write(content[:100])
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}, serve(content)))
	c, err := New(Options{Dir: t.TempDir(), Backoff: time.Millisecond, StallTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	it := Item{Name: "a", URLs: []string{s.URL + "/a"}, Size: int64(len(content)), SHA256: sum(content)}
	if _, err := c.Fetch(context.Background(), it); err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	if s.hit("/a") != 2 {
		t.Errorf("hits = %d, want 2", s.hit("/a"))
	}
}

// trickle sends the headers, then chunk bytes of b every interval.
func trickle(b []byte, chunk int, every time.Duration) func(http.ResponseWriter, *http.Request, int) {
	return func(w http.ResponseWriter, r *http.Request, n int) {
		b := b
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		for len(b) > 0 {
			k := min(chunk, len(b))
			if _, err := w.Write(b[:k]); err != nil {
				return
			}
			b = b[k:]
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				return
			case <-time.After(every):
			}
		}
	}
}

// A mirror that keeps sending a few bytes resets no stall timer; the
// watchdog's minimum rate over a window catches it, and the overall bound
// (Timeout) catches a download that is fine window by window but too long.
func TestSlowDownloads(t *testing.T) {
	size := int64(len(content))
	tests := []struct {
		name     string
		h        func(http.ResponseWriter, *http.Request, int)
		opts     Options
		wantErr  string // "" for success
		wantHits int
		within   time.Duration
	}{{
		name:     "trickle of 20 B per 50ms",
		h:        trickle(content, 20, 50*time.Millisecond),
		opts:     Options{StallTimeout: 200 * time.Millisecond, MinRate: 1 << 10},
		wantErr:  "bytes in the last 200ms, below the minimum rate of 1 KiB/s (gave up after 3 attempts)",
		wantHits: testRetries + 1,
		within:   3 * time.Second,
	}, {
		name:     "trickle once, then fast",
		h:        firstThen(1, trickle(content, 20, 50*time.Millisecond), serve(content)),
		opts:     Options{StallTimeout: 200 * time.Millisecond, MinRate: 1 << 10},
		wantHits: 2,
		within:   3 * time.Second,
	}, {
		name:     "slow but above the minimum rate",
		h:        trickle(content, 16<<10, 20*time.Millisecond), // ~800 KiB/s: 140ms
		opts:     Options{StallTimeout: 100 * time.Millisecond, MinRate: 64 << 10},
		wantHits: 1,
		within:   3 * time.Second,
	}, {
		name:     "steady but past the overall timeout",
		h:        trickle(content, 4<<10, 20*time.Millisecond), // ~200 KiB/s: 560ms
		opts:     Options{StallTimeout: 100 * time.Millisecond, MinRate: 1 << 10, Timeout: 150 * time.Millisecond},
		wantErr:  "not done after 150ms (the timeout for one download) (gave up after 3 attempts)",
		wantHits: testRetries + 1,
		within:   3 * time.Second,
	}, {
		name:     "headers never come",
		h:        func(w http.ResponseWriter, r *http.Request, n int) { <-r.Context().Done() },
		opts:     Options{StallTimeout: 100 * time.Millisecond},
		wantErr:  "no response for 100ms (gave up after 3 attempts)",
		wantHits: testRetries + 1,
		within:   3 * time.Second,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t)
			s.handle("/a", tt.h)
			opts := tt.opts
			opts.Dir, opts.Retries, opts.Backoff = t.TempDir(), testRetries, time.Millisecond
			c, err := New(opts)
			if err != nil {
				t.Fatal(err)
			}
			it := Item{Name: "a.deb", URLs: []string{s.URL + "/a"}, Size: size, SHA256: sum(content)}
			start := time.Now()
			_, err = c.Fetch(t.Context(), it)
			d := time.Since(start)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Fetch: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), s.URL+"/a")):
				t.Fatalf("Fetch error %v, want one naming %s/a and saying %q", err, s.URL, tt.wantErr)
			}
			if d > tt.within {
				t.Errorf("took %v, want within %v", d, tt.within)
			}
			if got := s.hit("/a"); got != tt.wantHits {
				t.Errorf("hits = %d, want %d", got, tt.wantHits)
			}
			if tt.wantErr != "" && c.Has(it) {
				t.Error("blob exists after failure")
			}
			checkClean(t, c)
		})
	}
}

func TestFetchCancel(t *testing.T) {
	s := newServer(t)
	sent := make(chan struct{})
	s.handle("/a", func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Content-Length", strconv.Itoa(len(content)))
		w.Write(content[:len(content)/2])
		w.(http.Flusher).Flush()
		close(sent)
		<-r.Context().Done()
	})
	c := newCache(t, "")
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-sent; cancel() }()
	it := Item{Name: "a", URLs: []string{s.URL + "/a"}, Size: int64(len(content)), SHA256: sum(content)}
	start := time.Now()
	_, err := c.Fetch(ctx, it)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Fetch error %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("cancel took %v", d)
	}
	if s.hit("/a") != 1 {
		t.Errorf("hits = %d, want 1 (no retry after cancel)", s.hit("/a"))
	}
	if c.Has(it) {
		t.Error("blob exists after cancel")
	}
	checkClean(t, c)

	// Cancelled while waiting for a retry.
	s.handle("/b", status(500))
	c2, _ := New(Options{Dir: t.TempDir(), Backoff: time.Hour})
	ctx, cancel = context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	it.URLs = []string{s.URL + "/b"}
	if _, err := c2.Fetch(ctx, it); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Fetch during backoff: %v, want DeadlineExceeded", err)
	}
}

// slowServe serves b after a delay long enough for concurrent fetchers to
// pile up on the lock.
func slowServe(b []byte) func(http.ResponseWriter, *http.Request, int) {
	return func(w http.ResponseWriter, r *http.Request, n int) {
		time.Sleep(100 * time.Millisecond)
		serve(b)(w, r, n)
	}
}

func TestConcurrentFetchOnce(t *testing.T) {
	for _, shared := range []bool{true, false} {
		name := "one Cache"
		if !shared {
			name = "a Cache each, one dir"
		}
		t.Run(name, func(t *testing.T) {
			s := newServer(t)
			s.handle("/a", slowServe(content))
			s.handle("/b", slowServe(content))
			dir := t.TempDir()
			c0 := newCache(t, dir)
			var wg sync.WaitGroup
			errs := make([]error, 8)
			for i := range errs {
				c := c0
				if !shared {
					c = newCache(t, dir)
				}
				// Two different names and URLs, one blob.
				u := []string{s.URL + "/a"}
				if i%2 == 1 {
					u = []string{s.URL + "/b"}
				}
				wg.Go(func() {
					p, err := c.Fetch(context.Background(), Item{Name: fmt.Sprint("item", i), URLs: u, Size: int64(len(content)), SHA256: sum(content)})
					if err == nil {
						var b []byte
						b, err = os.ReadFile(p)
						if err == nil && !bytes.Equal(b, content) {
							err = errors.New("wrong content")
						}
					}
					errs[i] = err
				})
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Errorf("fetch %d: %v", i, err)
				}
			}
			if got := s.hit("/a") + s.hit("/b"); got != 1 {
				t.Errorf("downloaded %d times, want 1", got)
			}
			checkClean(t, c0)
			if locks, _ := os.ReadDir(c0.lockDir()); len(locks) != 0 {
				t.Errorf("%d lock files left", len(locks))
			}
		})
	}
}

// TestHelperProcess is a child process of TestTwoProcesses.
func TestHelperProcess(t *testing.T) {
	dir, url := os.Getenv("DEBSTRAP_CACHE_TEST_DIR"), os.Getenv("DEBSTRAP_CACHE_TEST_URL")
	if dir == "" {
		t.Skip("helper for TestTwoProcesses")
	}
	c, err := New(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Fetch(context.Background(), Item{Name: "a", URLs: []string{url}, Size: int64(len(content)), SHA256: sum(content)}); err != nil {
		t.Fatal(err)
	}
}

func TestTwoProcesses(t *testing.T) {
	s := newServer(t)
	// Slow enough that the second child starts while the first downloads.
	s.handle("/a", func(w http.ResponseWriter, r *http.Request, n int) {
		time.Sleep(time.Second)
		serve(content)(w, r, n)
	})
	dir := t.TempDir()
	var cmds []*exec.Cmd
	for range 2 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.v")
		cmd.Env = append(os.Environ(), "DEBSTRAP_CACHE_TEST_DIR="+dir, "DEBSTRAP_CACHE_TEST_URL="+s.URL+"/a")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { t.Logf("child output:\n%s", out.String()) })
		cmds = append(cmds, cmd)
	}
	for _, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Errorf("child: %v", err)
		}
	}
	if got := s.hit("/a"); got != 1 {
		t.Errorf("downloaded %d times, want 1", got)
	}
	c := newCache(t, dir)
	if err := c.Verify(sum(content)); err != nil {
		t.Error(err)
	}
}

type recorder struct {
	mu                  sync.Mutex
	planned, started    int
	plannedBytes, bytes int64
	done, failed        int
}

func (r *recorder) Plan(n int, b int64)        { r.mu.Lock(); r.planned, r.plannedBytes = n, b; r.mu.Unlock() }
func (r *recorder) Start(name string, _ int64) { r.mu.Lock(); r.started++; r.mu.Unlock() }
func (r *recorder) Add(n int64)                { r.mu.Lock(); r.bytes += n; r.mu.Unlock() }
func (r *recorder) Done(name string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.failed++
	} else {
		r.done++
	}
}

func TestFetchAll(t *testing.T) {
	s := newServer(t)
	var items []Item
	var want [][]byte
	var total int64
	for i := range 20 {
		b := fmt.Appendf(nil, "file %d\n", i%15) // items 15..19 repeat blobs 0..4
		p := fmt.Sprintf("/f%d", i)
		s.handle(p, slowServe(b)) // slow, so that duplicates overlap
		items = append(items, Item{Name: fmt.Sprintf("f%d", i), URLs: []string{s.URL + p}, Size: int64(len(b)), SHA256: sum(b)})
		want = append(want, b)
		if i < 15 {
			total += int64(len(b))
		}
	}
	rec := &recorder{}
	c, err := New(Options{Dir: t.TempDir(), Parallel: 8, Progress: rec})
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.FetchAll(context.Background(), items)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range got {
		b, err := os.ReadFile(p)
		if err != nil || !bytes.Equal(b, want[i]) {
			t.Errorf("item %d: %q, %v; want %q", i, b, err, want[i])
		}
	}
	var hits int
	for i := range 20 {
		hits += s.hit(fmt.Sprintf("/f%d", i))
	}
	if hits != 15 {
		t.Errorf("%d downloads, want 15 (one per distinct blob)", hits)
	}
	if rec.planned != 15 || rec.plannedBytes != total || rec.started != 15 || rec.done != 15 || rec.bytes != total {
		t.Errorf("progress = %+v, want 15 downloads of %d bytes", rec, total)
	}

	// All cached now: no network, nothing planned.
	s.Close()
	rec2 := &recorder{}
	c.progress = rec2
	if _, err := c.FetchAll(context.Background(), items); err != nil {
		t.Fatal(err)
	}
	if rec2.planned != 0 || rec2.started != 0 {
		t.Errorf("warm progress = %+v, want nothing", rec2)
	}
}

func TestFetchAllFirstErrorCancels(t *testing.T) {
	s := newServer(t)
	var items []Item
	for i := range 10 {
		b := fmt.Appendf(nil, "file %d\n", i)
		p := fmt.Sprintf("/f%d", i)
		if i == 3 {
			s.handle(p, serve([]byte("evil")))
		} else {
			s.handle(p, func(w http.ResponseWriter, r *http.Request, n int) {
				select {
				case <-r.Context().Done():
				case <-time.After(10 * time.Second):
				}
				serve(b)(w, r, n)
			})
		}
		items = append(items, Item{Name: fmt.Sprintf("f%d.deb", i), URLs: []string{s.URL + p}, Size: -1, SHA256: sum(b)})
	}
	// No retries: a wrong answer would be retried (with backoff) first.
	c, err := New(Options{Dir: t.TempDir(), Parallel: 4, Retries: -1})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	paths, err := c.FetchAll(context.Background(), items)
	if err == nil || paths != nil {
		t.Fatalf("FetchAll = %v, %v; want an error", paths, err)
	}
	if !strings.HasPrefix(err.Error(), "fetch f3.deb: verify f3.deb from "+s.URL+"/f3: sha256 mismatch") {
		t.Errorf("error %q does not name f3.deb first", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("FetchAll took %v: the other downloads were not cancelled", d)
	}
	for i := 4; i < 10; i++ {
		if s.hit(fmt.Sprintf("/f%d", i)) != 0 {
			t.Errorf("/f%d requested after the failure", i)
		}
	}
	checkClean(t, c)
}

func TestStaleTempCleanup(t *testing.T) {
	dir := t.TempDir()
	c := newCache(t, dir)
	busyKey := "sha256-" + sum([]byte("busy"))
	stale := filepath.Join(c.tmpDir(), "sha256-"+sum([]byte("stale"))+".12345")
	busy := filepath.Join(c.tmpDir(), busyKey+".678")
	junk := filepath.Join(c.tmpDir(), "junk")
	for _, p := range []string{stale, busy, junk} {
		if err := os.WriteFile(p, []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// A live writer (here: another Cache of this dir) holds busy's lock.
	unlock, err := c.lock(context.Background(), busyKey)
	if err != nil {
		t.Fatal(err)
	}
	newCache(t, dir)
	for p, want := range map[string]bool{stale: false, busy: true, junk: false} {
		if _, err := os.Stat(p); (err == nil) != want {
			t.Errorf("%s exists: %v, want %v", filepath.Base(p), err == nil, want)
		}
	}
	unlock()
	newCache(t, dir)
	checkClean(t, c)
}

func TestVerify(t *testing.T) {
	s := newServer(t)
	s.handle("/a", serve(content))
	c := newCache(t, "")
	it := Item{Name: "a", URLs: []string{s.URL + "/a"}, Size: int64(len(content)), SHA256: sum(content)}
	p, err := c.Fetch(context.Background(), it)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Verify(it.SHA256); err != nil {
		t.Fatalf("Verify of a good blob: %v", err)
	}
	// Corrupt it in place, same size: Fetch trusts it, Verify does not.
	b := bytes.Clone(content)
	b[0] ^= 1
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Fetch(context.Background(), it); err != nil || s.hit("/a") != 1 {
		t.Fatalf("Fetch of cached blob: %v, hits %d", err, s.hit("/a"))
	}
	err = c.Verify(it.SHA256)
	var ve *VerifyError
	if !errors.As(err, &ve) || ve.Got != sum(b)+" (blob removed)" {
		t.Fatalf("Verify of corrupt blob: %v", err)
	}
	if c.Has(it) {
		t.Error("corrupt blob still there")
	}
	// A truncated blob (wrong size) is downloaded again.
	if _, err := c.Fetch(context.Background(), it); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, content[:10], 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Fetch(context.Background(), it); err != nil || s.hit("/a") != 3 {
		t.Fatalf("Fetch over truncated blob: %v, hits %d, want 3", err, s.hit("/a"))
	}
	if err := c.Verify(it.SHA256); err != nil {
		t.Error(err)
	}
	if err := c.Verify(sum([]byte("absent"))); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Verify of absent blob: %v", err)
	}
}

func TestDefaultDir(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", "/xdg")
	t.Setenv("HOME", "/home/u")
	if d, _ := DefaultDir(); d != "/xdg/debstrap" {
		t.Errorf("DefaultDir = %q with XDG_CACHE_HOME", d)
	}
	t.Setenv("XDG_CACHE_HOME", "relative")
	if d, _ := DefaultDir(); d != "/home/u/.cache/debstrap" {
		t.Errorf("DefaultDir = %q with relative XDG_CACHE_HOME", d)
	}
	t.Setenv("XDG_CACHE_HOME", "")
	if d, _ := DefaultDir(); d != "/home/u/.cache/debstrap" {
		t.Errorf("DefaultDir = %q without XDG_CACHE_HOME", d)
	}
}
