package testarchive

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// BasePath is the path of the mirror root on a Server: mirrors rarely sit
// at the root of their host, and code under test must not assume they do.
const BasePath = "/debian"

// A Server serves an archive over HTTP for the length of a test.
type Server struct {
	// URL is the mirror root, e.g. "http://127.0.0.1:PORT/debian" (no
	// trailing slash).
	URL string
	// Key signed the archive; Key.WriteKeyring makes the keyring to trust.
	// Update replaces it (do not read it while an Update may run).
	Key *Key
	// Dir is the archive tree on disk (the mirror root).
	Dir string

	t    testing.TB
	srv  *httptest.Server
	done chan struct{} // closed at cleanup, to release hanging faults

	mu      sync.Mutex
	faults  []Fault
	log     []Request
	aliases map[string]string // by-hash path -> index path
}

// A Request is one request the server received.
type Request struct {
	Method string
	// Path is relative to the mirror root ("dists/stable/InRelease"); a
	// request outside the mirror keeps its full path ("/favicon.ico").
	Path   string
	Header http.Header
	// Status is the status code sent (0 if a fault wrote nothing).
	Status int
}

// Serve writes a into a temporary directory and serves it over HTTP until
// the test ends. It fails the test if the archive cannot be built.
func Serve(t testing.TB, a Archive) *Server {
	t.Helper()
	return serve(t, a, false)
}

// ServeTLS is Serve over HTTPS with a self-signed certificate; use
// s.Client() (or its Transport) to trust it.
func ServeTLS(t testing.TB, a Archive) *Server {
	t.Helper()
	return serve(t, a, true)
}

func serve(t testing.TB, a Archive, tls bool) *Server {
	t.Helper()
	s := &Server{Dir: t.TempDir(), t: t, done: make(chan struct{}), aliases: map[string]string{}}
	key, aliases, err := write(s.Dir, a)
	if err != nil {
		t.Fatal(err)
	}
	s.Key = key
	s.aliases = aliases
	if tls {
		s.srv = httptest.NewTLSServer(s)
	} else {
		s.srv = httptest.NewServer(s)
	}
	s.URL = s.srv.URL + BasePath
	t.Cleanup(func() {
		close(s.done)
		s.srv.Close()
	})
	return s
}

// Client returns an HTTP client that trusts the server (needed for
// ServeTLS).
func (s *Server) Client() *http.Client { return s.srv.Client() }

// Update regenerates and re-signs the archive in place, as a mirror push
// does: requests in flight see either the old or the new file, and old
// by-hash files and pool files stay available. Update may be called from a
// fault (a mirror that changes mid-build); if the archive cannot be built
// it marks the test failed (t.Errorf, safe off the test goroutine) and the
// tree is left partly updated. s.Key becomes the key of a.
func (s *Server) Update(a Archive) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key, aliases, err := write(s.Dir, a)
	if err != nil {
		s.t.Errorf("testarchive: Server.Update: %v", err)
		return
	}
	s.Key = key
	for k, v := range aliases {
		s.aliases[k] = v
	}
}

// Inject adds faults. For each request the faults run in the order
// injected; the first that reports it handled the request ends it, else
// the file is served.
func (s *Server) Inject(faults ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, faults...)
}

// ClearFaults removes all faults.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// Requests returns the paths requested so far, in order, relative to the
// mirror root ("dists/stable/InRelease", "pool/main/b/bash/…").
func (s *Server) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, len(s.log))
	for i, r := range s.log {
		out[i] = r.Path
	}
	return out
}

// Log returns the requests received so far, with method, headers and
// status.
func (s *Server) Log() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.log...)
}

// Count returns how many requests so far matched pattern (see Matches).
func (s *Server) Count(pattern string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.log {
		if matchPath(r.Path, pattern) || matchPath(s.aliases[r.Path], pattern) {
			n++
		}
	}
	return n
}

// ResetLog forgets the requests received so far (e.g. after a cold build,
// before checking what a warm one fetches).
func (s *Server) ResetLog() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.log = nil
}

type ctxKey struct{}

// reqInfo is what the server knows about a request, for faults.
type reqInfo struct {
	rel   string // path relative to the mirror root
	alias string // for a by-hash path: the index it is a copy of
	done  <-chan struct{}
}

func infoOf(r *http.Request) reqInfo {
	if i, ok := r.Context().Value(ctxKey{}).(reqInfo); ok {
		return i
	}
	return reqInfo{rel: strings.TrimPrefix(r.URL.Path, "/")}
}

// ServeHTTP runs the faults, then serves the file.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rel, inMirror := strings.CutPrefix(r.URL.Path, BasePath+"/")
	if !inMirror {
		rel = r.URL.Path
	}
	s.mu.Lock()
	faults := append([]Fault(nil), s.faults...)
	info := reqInfo{rel: rel, alias: s.aliases[rel], done: s.done}
	s.mu.Unlock()

	sw := &statusWriter{ResponseWriter: w}
	defer func() {
		s.mu.Lock()
		s.log = append(s.log, Request{Method: r.Method, Path: rel, Header: r.Header.Clone(), Status: sw.status})
		s.mu.Unlock()
	}()
	r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, info))
	next := http.HandlerFunc(s.serveFile)
	for _, f := range faults {
		if f(sw, r, next) {
			return
		}
	}
	next.ServeHTTP(sw, r)
}

// serveFile serves a file of the tree with Last-Modified, ETag, and
// conditional and range requests, as a static mirror does. No listings.
func (s *Server) serveFile(w http.ResponseWriter, r *http.Request) {
	rel, inMirror := strings.CutPrefix(r.URL.Path, BasePath+"/")
	if !inMirror || rel == "" || path.Clean("/"+rel) != "/"+rel {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	p := filepath.Join(s.Dir, filepath.FromSlash(rel))
	fi, err := os.Stat(p)
	if err != nil || !fi.Mode().IsRegular() {
		http.NotFound(w, r)
		return
	}
	data, err := os.ReadFile(p)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	sum := sha256.Sum256(data)
	w.Header().Set("ETag", `"`+hex.EncodeToString(sum[:16])+`"`)
	http.ServeContent(w, r, path.Base(rel), fi.ModTime(), bytes.NewReader(data))
}

// statusWriter records the status code sent.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
