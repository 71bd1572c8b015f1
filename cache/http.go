package cache

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	neturl "net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// defaultClient has timeouts on each phase up to the response headers but
// none on the body: a slow body is caught by the watchdog instead, whose
// bound grows with the file, so a large file on a slow link still
// completes.
func defaultClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	t.TLSHandshakeTimeout = 15 * time.Second
	t.ResponseHeaderTimeout = 60 * time.Second
	t.MaxIdleConnsPerHost = 16
	t.ForceAttemptHTTP2 = true
	// Ask for the bytes as stored: Content-Length then means the file's size
	// and can be checked before reading the body.
	t.DisableCompression = true
	// file:// mirrors (a local archive tree) are read through the same
	// path as http: a missing file is a 404, conditional GETs work.
	t.RegisterProtocol("file", http.NewFileTransport(http.Dir("/")))
	return &http.Client{Transport: t}
}

// retryable marks an attempt's error as transient.
type retryable struct {
	err   error
	after time.Duration // from Retry-After, if the server sent one
}

func (r *retryable) Error() string { return r.err.Error() }
func (r *retryable) Unwrap() error { return r.err }

// slowError is why the watchdog gave up on a request: no response, a body
// slower than the minimum rate over a window, or an attempt past its bound.
// It is the request context's cause, and transient.
type slowError struct {
	msg string
}

func (e *slowError) Error() string { return e.msg }

// retry runs attempt until it succeeds, fails for good, or the retries are
// used up. The error returned is never a *retryable, so that nested retry
// loops cannot multiply.
func (c *Cache) retry(ctx context.Context, what string, attempt func(context.Context) error) error {
	for n := 1; ; n++ {
		err := attempt(ctx)
		if err == nil {
			return nil
		}
		var r *retryable
		if !errors.As(err, &r) {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if n > c.retries {
			if n > 1 {
				return fmt.Errorf("%w (gave up after %d attempts)", r.err, n)
			}
			return r.err
		}
		d := c.delay(n, r.after)
		c.log.Warn("transient error; retrying", "item", what, "attempt", n, "delay", d, "err", r.err)
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (while waiting to retry after: %v)", ctx.Err(), r.err)
		case <-t.C:
		}
	}
}

// delay is the backoff before retry n (1-based): Backoff doubled each time,
// capped, with jitter in [d/2, d) so that parallel downloads hitting the same
// failing mirror do not retry in lockstep. A Retry-After is honoured up to the
// cap.
func (c *Cache) delay(n int, after time.Duration) time.Duration {
	d := c.backoff
	for i := 1; i < n && d < c.maxBackoff; i++ {
		d *= 2
	}
	d = min(d, c.maxBackoff)
	d = d/2 + rand.N(d/2+1)
	if after > d {
		d = min(after, c.maxBackoff)
	}
	return d
}

// response is an open HTTP response whose body reads are watched: see
// watchdog.
type response struct {
	*http.Response
	url    string
	ctx    context.Context // the request's own context
	cancel context.CancelCauseFunc
	dog    *watchdog
}

func (r *response) Read(p []byte) (int, error) {
	n, err := r.Body.Read(p)
	r.dog.got(n)
	return n, err
}

func (r *response) close() {
	r.dog.stop()
	r.Body.Close()
	r.cancel(nil)
}

// bodyError classifies an error reading the body: any failure of the
// connection mid-body (unexpected EOF, reset, too slow) is transient
// unless the caller's ctx is done.
func (r *response) bodyError(parent context.Context, err error) error {
	if parent.Err() != nil {
		return parent.Err()
	}
	var se *slowError
	if errors.As(context.Cause(r.ctx), &se) {
		return &retryable{err: se}
	}
	return &retryable{err: fmt.Errorf("GET %s: reading body: %w", r.url, err)}
}

// watchdog bounds one request in time, so that no mirror can hold a build
// without a message: the response headers must come within the window;
// then every window must bring at least minRate×window body bytes (a
// trickle of a few bytes a second resets no stall timer but fails this);
// and the whole attempt must end within its bound (twice the window plus
// the expected size at minRate, or Options.Timeout), whatever the pattern
// of bytes. On any of
// these it cancels the request with a *slowError as the cause.
type watchdog struct {
	url     string
	window  time.Duration
	minRate int64 // bytes per second
	cancel  context.CancelCauseFunc

	mu      sync.Mutex
	body    bool  // headers received
	n       int64 // body bytes in the current window
	timer   *time.Timer
	overall *time.Timer
	stopped bool
}

// minWindowBytes is what one window must bring, at least 1 byte.
func (w *watchdog) minWindowBytes() int64 {
	return max(1, int64(float64(w.minRate)*w.window.Seconds()))
}

// newWatchdog starts watching a request for a body of size bytes (or at
// most that many). bound is the overall limit; 0 derives it from size.
func newWatchdog(url string, window time.Duration, minRate, size int64, bound time.Duration, cancel context.CancelCauseFunc) *watchdog {
	w := &watchdog{url: url, window: window, minRate: minRate, cancel: cancel}
	why := "the timeout for one download"
	if bound <= 0 {
		bound = 2*window + time.Duration(float64(max(size, 0))/float64(minRate)*float64(time.Second))
		why = fmt.Sprintf("the bound for %d bytes: twice the %v window plus the size at %s", size, window, rate(minRate))
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.timer = time.AfterFunc(window, w.tick)
	w.overall = time.AfterFunc(bound, func() {
		w.cancel(&slowError{msg: fmt.Sprintf("GET %s: not done after %v (%s)", url, bound, why)})
	})
	return w
}

func (w *watchdog) tick() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped {
		return
	}
	switch {
	case !w.body:
		w.cancel(&slowError{msg: fmt.Sprintf("GET %s: no response for %v", w.url, w.window)})
	case w.n < w.minWindowBytes():
		w.cancel(&slowError{msg: fmt.Sprintf("GET %s: %d bytes in the last %v, below the minimum rate of %s",
			w.url, w.n, w.window, rate(w.minRate))})
	default:
		w.n = 0
		w.timer.Reset(w.window)
	}
}

// headers starts the body's windows.
func (w *watchdog) headers() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.body = true
	w.n = 0
	w.timer.Reset(w.window)
}

func (w *watchdog) got(n int) {
	if n <= 0 {
		return
	}
	w.mu.Lock()
	w.n += int64(n)
	w.mu.Unlock()
}

func (w *watchdog) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stopped = true
	w.timer.Stop()
	w.overall.Stop()
}

// rate formats bytes per second for messages.
func rate(r int64) string {
	switch {
	case r >= 1<<20 && r%(1<<20) == 0:
		return fmt.Sprintf("%d MiB/s", r>>20)
	case r >= 1<<10 && r%(1<<10) == 0:
		return fmt.Sprintf("%d KiB/s", r>>10)
	}
	return fmt.Sprintf("%d B/s", r)
}

// open sends a GET and returns the response if it is a success or a 304.
// Other statuses become an *HTTPError (retryable for 408, 429 and 5xx).
// size is the body's expected size (or its limit), for the watchdog's
// overall bound.
func (c *Cache) open(ctx context.Context, url string, hdr http.Header, size int64) (*response, error) {
	if c.offline && !isFileURL(url) {
		return nil, &OfflineError{URL: url}
	}
	rctx, cancel := context.WithCancelCause(ctx)
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, url, nil)
	if err != nil {
		cancel(nil)
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	req.Header.Set("User-Agent", c.userAgent)
	dog := newWatchdog(url, c.stallTimeout, c.minRate, size, c.timeout, cancel)
	resp, err := c.client.Do(req)
	if err != nil {
		dog.stop()
		cancel(nil)
		var se *slowError
		switch {
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case errors.As(context.Cause(rctx), &se):
			return nil, &retryable{err: se}
		case permanent(err):
			return nil, fmt.Errorf("GET %s: %w", url, unwrapURLError(err))
		}
		return nil, &retryable{err: fmt.Errorf("GET %s: %w", url, unwrapURLError(err))}
	}
	dog.headers()
	r := &response{Response: resp, url: url, ctx: rctx, cancel: cancel, dog: dog}
	if resp.StatusCode/100 == 2 || resp.StatusCode == http.StatusNotModified {
		return r, nil
	}
	// Drain a little so that the connection can be reused.
	io.CopyN(io.Discard, resp.Body, 4<<10)
	r.close()
	herr := &HTTPError{URL: url, StatusCode: resp.StatusCode, Status: resp.Status}
	switch code := resp.StatusCode; {
	case code == http.StatusRequestTimeout, code == http.StatusTooManyRequests, code >= 500:
		return nil, &retryable{err: herr, after: retryAfter(resp.Header.Get("Retry-After"))}
	}
	return nil, herr
}

// retryAfter parses a Retry-After header (seconds or an HTTP date).
func retryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return time.Until(t)
	}
	return 0
}

// permanent reports whether a request error will not go away by retrying:
// a name that does not resolve, an untrusted certificate, a request the
// client itself refuses (unsupported scheme, redirect loop).
func permanent(err error) bool {
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return dnsErr.IsNotFound
	}
	var (
		certErr     *tls.CertificateVerificationError
		unknownAuth x509.UnknownAuthorityError
		hostErr     x509.HostnameError
		invalidCert x509.CertificateInvalidError
	)
	if errors.As(err, &certErr) || errors.As(err, &unknownAuth) || errors.As(err, &hostErr) || errors.As(err, &invalidCert) {
		return true
	}
	var ue *neturl.Error
	if !errors.As(err, &ue) || ue.Timeout() {
		return false
	}
	var opErr *net.OpError
	if errors.As(ue.Err, &opErr) || errors.Is(ue.Err, io.EOF) || errors.Is(ue.Err, io.ErrUnexpectedEOF) {
		return false
	}
	s := ue.Err.Error()
	return strings.Contains(s, "unsupported protocol scheme") || strings.HasPrefix(s, "stopped after")
}

// unwrapURLError drops the *url.Error wrapper, whose message repeats the
// method and URL that our own message already gives.
func unwrapURLError(err error) error {
	var ue *neturl.Error
	if errors.As(err, &ue) && ue.Err != nil {
		return ue.Err
	}
	return err
}

// isFileURL reports whether url names a local file (file://), which
// Offline still reads.
func isFileURL(url string) bool { return strings.HasPrefix(url, "file:") }
