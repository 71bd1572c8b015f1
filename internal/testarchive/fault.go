package testarchive

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"
)

// A Fault may misbehave on a request. It returns true if it handled the
// request (wrote a response, or decided to write none); false lets the next
// fault, and finally the archive, serve it. next serves the request
// normally, for faults that alter a real response.
//
// Faults run on the server's goroutines: they must not call t.Fatal.
type Fault func(w http.ResponseWriter, r *http.Request, next http.Handler) bool

// Matches reports whether the request's path matches pattern, the way all
// fault helpers match:
//
//   - pattern is a path.Match pattern matched against as many trailing
//     elements of the path (relative to the mirror root) as it has: "InRelease",
//     "Release" (not InRelease), "binary-amd64/Packages.xz", "*.deb",
//     "by-hash/SHA256/*";
//   - a pattern starting with "/" must match the whole path:
//     "/dists/stable/InRelease";
//   - a by-hash request also matches the patterns of the index it is a
//     copy of, so "Packages.xz" covers both ways of fetching it.
func Matches(r *http.Request, pattern string) bool {
	i := infoOf(r)
	return matchPath(i.rel, pattern) || matchPath(i.alias, pattern)
}

func matchPath(p, pattern string) bool {
	if p == "" || pattern == "" {
		return false
	}
	if full, ok := strings.CutPrefix(pattern, "/"); ok {
		m, _ := path.Match(full, strings.TrimPrefix(p, "/"))
		return m
	}
	k := strings.Count(pattern, "/") + 1
	elems := strings.Split(strings.TrimPrefix(p, "/"), "/")
	if len(elems) < k {
		return false
	}
	m, _ := path.Match(pattern, strings.Join(elems[len(elems)-k:], "/"))
	return m
}

// Status answers requests matching pattern with the HTTP status code.
func Status(pattern string, code int) Fault {
	return func(w http.ResponseWriter, r *http.Request, _ http.Handler) bool {
		if !Fires(r, pattern) {
			return false
		}
		http.Error(w, http.StatusText(code), code)
		return true
	}
}

// NotFound answers requests matching pattern with 404.
func NotFound(pattern string) Fault { return Status(pattern, http.StatusNotFound) }

// ServerError answers requests matching pattern with 500. Wrap it in Times
// for a transient error.
func ServerError(pattern string) Fault { return Status(pattern, http.StatusInternalServerError) }

// Replace serves body (status 200) instead of the file for requests
// matching pattern, whether or not the file exists.
func Replace(pattern string, body []byte) Fault {
	return func(w http.ResponseWriter, r *http.Request, _ http.Handler) bool {
		if !Fires(r, pattern) {
			return false
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(http.StatusOK)
		if r.Method != http.MethodHead {
			w.Write(body)
		}
		return true
	}
}

// Modify serves fn(body) instead of the body the archive would send for
// requests matching pattern (successful responses only; fn must not keep
// or change its argument's backing array beyond returning a result).
func Modify(pattern string, fn func(body []byte) []byte) Fault {
	return func(w http.ResponseWriter, r *http.Request, next http.Handler) bool {
		if !Fires(r, pattern) {
			return false
		}
		rec := record(next, r)
		body := rec.Body.Bytes()
		if rec.Code == http.StatusOK {
			body = fn(append([]byte(nil), body...))
		}
		copyHeader(w, rec)
		w.Header().Del("ETag")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(rec.Code)
		if r.Method != http.MethodHead {
			w.Write(body)
		}
		return true
	}
}

// Corrupt flips one byte in the middle of the responses to requests
// matching pattern: the size stays right, the hash does not.
func Corrupt(pattern string) Fault {
	return Modify(pattern, func(b []byte) []byte {
		if len(b) == 0 {
			return []byte{0}
		}
		b[len(b)/2] ^= 0xff
		return b
	})
}

// Truncate sends the headers (with the full Content-Length) and the first n
// bytes of the body for requests matching pattern, then drops the
// connection, as a mirror that dies mid-transfer.
func Truncate(pattern string, n int64) Fault {
	return func(w http.ResponseWriter, r *http.Request, next http.Handler) bool {
		if !Fires(r, pattern) {
			return false
		}
		rec := record(next, r)
		body := rec.Body.Bytes()
		copyHeader(w, rec)
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(rec.Code)
		if n < int64(len(body)) {
			body = body[:max(n, 0)]
		}
		w.Write(body)
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		// Aborts the response: the server closes the connection without
		// completing the body.
		panic(http.ErrAbortHandler)
	}
}

// Delay holds requests matching pattern for d, then lets them through.
// A request whose client gives up while waiting gets no response.
func Delay(pattern string, d time.Duration) Fault {
	return func(w http.ResponseWriter, r *http.Request, _ http.Handler) bool {
		if !Fires(r, pattern) {
			return false
		}
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
			return false
		case <-r.Context().Done():
		case <-infoOf(r).done:
		}
		return true
	}
}

// Trickle answers requests matching pattern with the real headers (full
// Content-Length) and then only n bytes of the body every interval, as a
// mirror that is alive but useless: no stall timer that waits for silence
// ever fires. It stops when the body is sent or the client gives up.
func Trickle(pattern string, n int, every time.Duration) Fault {
	return func(w http.ResponseWriter, r *http.Request, next http.Handler) bool {
		if !Fires(r, pattern) {
			return false
		}
		rec := record(next, r)
		body := rec.Body.Bytes()
		copyHeader(w, rec)
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(rec.Code)
		if r.Method == http.MethodHead {
			return true
		}
		t := time.NewTicker(every)
		defer t.Stop()
		for len(body) > 0 {
			k := min(max(n, 1), len(body))
			if _, err := w.Write(body[:k]); err != nil {
				return true
			}
			body = body[k:]
			if f, ok := w.(http.Flusher); ok {
				f.Flush()
			}
			select {
			case <-t.C:
			case <-r.Context().Done():
				return true
			case <-infoOf(r).done:
				return true
			}
		}
		return true
	}
}

// Hang never answers requests matching pattern: the request waits until
// the client gives up (or the test ends). For timeout and cancellation
// tests.
func Hang(pattern string) Fault {
	return func(w http.ResponseWriter, r *http.Request, _ http.Handler) bool {
		if !Fires(r, pattern) {
			return false
		}
		select {
		case <-r.Context().Done():
		case <-infoOf(r).done:
		}
		return true
	}
}

// Redirect answers requests matching pattern with a 302 to url.
func Redirect(pattern, url string) Fault {
	return func(w http.ResponseWriter, r *http.Request, _ http.Handler) bool {
		if !Fires(r, pattern) {
			return false
		}
		http.Redirect(w, r, url, http.StatusFound)
		return true
	}
}

// Times lets f act only on the first n requests it would act on; after
// that it lets every request through. Times(2, ServerError("InRelease")) is
// a mirror that fails twice, then recovers; Times(1, Delay("*.deb", d))
// slows only the first download. The count is exact under concurrent
// requests for the helpers of this package and for custom faults that use
// Fires; for other custom faults it counts the requests they handled.
func Times(n int, f Fault) Fault {
	l := &limiter{left: n}
	return func(w http.ResponseWriter, r *http.Request, next http.Handler) bool {
		if l.used() {
			return false
		}
		u := &limitUse{l: l, parent: limitFrom(r)}
		r = r.WithContext(context.WithValue(r.Context(), limitKey{}, u))
		handled := f(w, r, next)
		if handled && !u.asked {
			l.force()
		}
		return handled
	}
}

// Fires reports whether a fault matching pattern should act on r: the
// request matches (see Matches) and no enclosing Times is used up. It
// counts as one use of those Times, so call it once, when about to act.
func Fires(r *http.Request, pattern string) bool {
	if !Matches(r, pattern) {
		return false
	}
	if u := limitFrom(r); u != nil {
		return u.take()
	}
	return true
}

type limitKey struct{}

type limiter struct {
	mu   sync.Mutex
	left int
}

func (l *limiter) used() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.left <= 0
}

func (l *limiter) force() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.left--
}

func (l *limiter) give() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.left++
}

func (l *limiter) tryTake() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.left <= 0 {
		return false
	}
	l.left--
	return true
}

// limitUse is one request's view of the Times around a fault (nested Times
// chain through parent).
type limitUse struct {
	l      *limiter
	parent *limitUse
	asked  bool
}

func limitFrom(r *http.Request) *limitUse {
	u, _ := r.Context().Value(limitKey{}).(*limitUse)
	return u
}

func (u *limitUse) take() bool {
	u.asked = true
	if !u.l.tryTake() {
		return false
	}
	if u.parent != nil && !u.parent.take() {
		u.l.give()
		return false
	}
	return true
}

// record runs next on r into a recorder (without Range or conditional
// headers, so the whole body comes back).
func record(next http.Handler, r *http.Request) *httptest.ResponseRecorder {
	r2 := r.Clone(r.Context())
	for _, h := range []string{"Range", "If-Range", "If-None-Match", "If-Modified-Since", "If-Match", "If-Unmodified-Since"} {
		r2.Header.Del(h)
	}
	rec := httptest.NewRecorder()
	next.ServeHTTP(rec, r2)
	return rec
}

func copyHeader(w http.ResponseWriter, rec *httptest.ResponseRecorder) {
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
}
