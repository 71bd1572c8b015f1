// Package cache is debstrap's verified, parallel, content-addressed download
// cache.
//
// Files known in advance by SHA256 (indexes named in a signed Release, .debs
// named in a verified Packages index) are stored as
// <Dir>/blobs/sha256/<hex>. Bytes are hashed and counted while they stream
// into a temporary file under <Dir>/tmp; only a file whose size and SHA256
// match is renamed into place, so the cache never holds unverified bytes.
// Signed metadata (InRelease, Release) is kept under <Dir>/signed, keyed by
// URL, and is likewise stored only after the caller's signature check.
//
// Several builds (processes) may share one cache: every write happens under
// a per-key flock(2) lock in <Dir>/locks, and existence is re-checked after
// the lock is taken, so a blob is downloaded once.
package cache

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

const (
	defaultRetries      = 4
	defaultParallel     = 6
	defaultBackoff      = 500 * time.Millisecond
	defaultMaxBackoff   = 30 * time.Second
	defaultStallTimeout = 60 * time.Second
	defaultMinRate      = 1 << 10
	defaultMaxMetaSize  = 64 << 20
	defaultUserAgent    = "debstrap"
)

// Options configure a Cache. The zero value of every field means its default.
type Options struct {
	// Dir is the cache directory; default DefaultDir().
	Dir string
	// Client performs the HTTP requests; nil means a client with connect,
	// TLS and response-header timeouts, keep-alive and HTTP/2.
	Client *http.Client
	// Retries is how many times a transient failure (connection dropped or
	// reset, timeout, 5xx, 408, 429, short body) is retried per URL, with
	// exponential backoff and jitter. 0 means 4; negative means no retry.
	Retries int
	// Backoff is the delay before the first retry, doubled for each further
	// one (±jitter); default 500ms. MaxBackoff caps it; default 30s.
	Backoff    time.Duration
	MaxBackoff time.Duration
	// StallTimeout is the watchdog's window; default 60s. A request with
	// no response headers for this long, or whose body brings less than
	// MinRate over any window of this length, is aborted and retried; and
	// one attempt at one file may take at most twice this plus its size at
	// MinRate (its overall bound: big files on slow links are fine, a
	// trickle is not).
	StallTimeout time.Duration
	// MinRate is the slowest body accepted, in bytes per second; default
	// 1 KiB/s.
	MinRate int64
	// Timeout, if positive, replaces the overall bound of one attempt at
	// one file (derived from its size by default; see StallTimeout).
	Timeout time.Duration
	// MaxMetaSize bounds the bodies read by FetchSigned and FetchBytes into
	// memory; default 64 MiB.
	MaxMetaSize int64
	// UserAgent is sent with every request; default "debstrap".
	UserAgent string
	// Logger receives retries and cache events; nil discards them.
	Logger *slog.Logger
	// Parallel is how many downloads FetchAll runs at once; default 6.
	Parallel int
	// Progress is told about downloads (not about cache hits); nil is silent.
	Progress Progress
	// Offline makes no network request: what is not in the cache (a
	// signed file's stored copy, a blob) is an *OfflineError; file://
	// URLs (local archives) are read as usual.
	Offline bool
}

// OfflineError is what Offline gives for a file the cache lacks.
type OfflineError struct{ URL string }

func (e *OfflineError) Error() string {
	return e.URL + " is not in the cache, and offline no network request is made"
}

// Progress follows downloads. Calls come from several goroutines at once.
// Add reports body bytes received; a failed attempt that is retried takes its
// bytes back with a negative Add.
type Progress interface {
	Start(name string, size int64)
	Add(n int64)
	Done(name string, err error)
}

// Planner is optionally implemented by a Progress: FetchAll tells it how many
// downloads (distinct blobs not yet cached) and bytes lie ahead. bytes counts
// only items of known size.
type Planner interface {
	Plan(items int, bytes int64)
}

// Item is one file known in advance by size and SHA256 (from a signed Release
// or a verified Packages index).
type Item struct {
	Name   string   // for messages and progress, e.g. "libc6_2.36-9_amd64.deb"
	URLs   []string // tried in order (e.g. by-hash URL first, then the plain path)
	Size   int64    // -1 if unknown (then only the SHA256 is checked)
	SHA256 string   // hex
}

// Cache is a content-addressed store of verified files. It is safe for
// concurrent use, and several Caches (in one or several processes) may share
// a directory.
type Cache struct {
	dir          string
	client       *http.Client
	retries      int
	backoff      time.Duration
	maxBackoff   time.Duration
	stallTimeout time.Duration
	minRate      int64
	timeout      time.Duration
	maxMetaSize  int64
	userAgent    string
	log          *slog.Logger
	parallel     int
	progress     Progress
	locks        keyLocks
	offline      bool
}

// DefaultDir is $XDG_CACHE_HOME/debstrap, else ~/.cache/debstrap.
func DefaultDir() (string, error) {
	// The XDG spec says a relative value is invalid and must be ignored.
	if x := os.Getenv("XDG_CACHE_HOME"); x != "" && filepath.IsAbs(x) {
		return filepath.Join(x, "debstrap"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("cache directory: %w", err)
	}
	return filepath.Join(home, ".cache", "debstrap"), nil
}

// New opens (creating it if needed) the cache in opts.Dir and removes
// temporary files left behind by downloads that crashed or were killed.
func New(opts Options) (*Cache, error) {
	dir := opts.Dir
	if dir == "" {
		d, err := DefaultDir()
		if err != nil {
			return nil, err
		}
		dir = d
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("cache directory %s: %w", opts.Dir, err)
	}
	c := &Cache{
		dir:          dir,
		client:       opts.Client,
		retries:      opts.Retries,
		backoff:      opts.Backoff,
		maxBackoff:   opts.MaxBackoff,
		stallTimeout: opts.StallTimeout,
		minRate:      opts.MinRate,
		timeout:      opts.Timeout,
		maxMetaSize:  opts.MaxMetaSize,
		userAgent:    opts.UserAgent,
		log:          opts.Logger,
		parallel:     opts.Parallel,
		progress:     opts.Progress,
		offline:      opts.Offline,
	}
	if c.client == nil {
		c.client = defaultClient()
	}
	switch {
	case c.retries == 0:
		c.retries = defaultRetries
	case c.retries < 0:
		c.retries = 0
	}
	if c.backoff <= 0 {
		c.backoff = defaultBackoff
	}
	if c.maxBackoff <= 0 {
		c.maxBackoff = defaultMaxBackoff
	}
	if c.stallTimeout <= 0 {
		c.stallTimeout = defaultStallTimeout
	}
	if c.minRate <= 0 {
		c.minRate = defaultMinRate
	}
	if c.maxMetaSize <= 0 {
		c.maxMetaSize = defaultMaxMetaSize
	}
	if c.userAgent == "" {
		c.userAgent = defaultUserAgent
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.parallel <= 0 {
		c.parallel = defaultParallel
	}
	for _, d := range []string{c.blobDir(), c.tmpDir(), c.lockDir(), c.signedDir()} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("create cache directory: %w", err)
		}
	}
	c.cleanTemp()
	return c, nil
}

// Dir is the cache's (absolute) directory.
func (c *Cache) Dir() string { return c.dir }

func (c *Cache) blobDir() string   { return filepath.Join(c.dir, "blobs", "sha256") }
func (c *Cache) tmpDir() string    { return filepath.Join(c.dir, "tmp") }
func (c *Cache) lockDir() string   { return filepath.Join(c.dir, "locks") }
func (c *Cache) signedDir() string { return filepath.Join(c.dir, "signed") }

// Path is where the blob with this SHA256 lives (it may not exist). It is ""
// if sha256 is not 64 hex digits.
func (c *Cache) Path(sha256 string) string {
	sum, err := normSHA256(sha256)
	if err != nil {
		return ""
	}
	return filepath.Join(c.blobDir(), sum)
}

// Has reports whether the item's blob is in the cache (with the right size,
// if the item's size is known). It does not hash the blob: blobs were
// verified when written.
func (c *Cache) Has(it Item) bool {
	p := c.Path(it.SHA256)
	if p == "" {
		return false
	}
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && (it.Size < 0 || fi.Size() == it.Size)
}

// Fetch returns the path of the item's verified blob, downloading it first if
// it is not in the cache. A cached blob is returned without network access
// and without re-hashing it.
func (c *Cache) Fetch(ctx context.Context, it Item) (string, error) {
	sum, err := normSHA256(it.SHA256)
	if err != nil {
		return "", fmt.Errorf("fetch %s: %w", it.Name, err)
	}
	it.SHA256 = sum
	if it.Name == "" {
		it.Name = sum
	}
	p := filepath.Join(c.blobDir(), sum)
	if c.present(it, p) {
		return p, nil
	}
	if len(it.URLs) == 0 {
		return "", fmt.Errorf("fetch %s: not in the cache and no URL to download it from", it.Name)
	}
	unlock, err := c.lock(ctx, "sha256-"+sum)
	if err != nil {
		return "", fmt.Errorf("fetch %s: %w", it.Name, err)
	}
	defer unlock()
	// Another goroutine or process may have fetched it while we waited.
	if c.present(it, p) {
		return p, nil
	}
	if c.progress != nil {
		c.progress.Start(it.Name, it.Size)
	}
	err = c.download(ctx, it, p)
	if c.progress != nil {
		c.progress.Done(it.Name, err)
	}
	if err != nil {
		return "", fmt.Errorf("fetch %s: %w", it.Name, err)
	}
	return p, nil
}

// present reports whether the blob at p exists with the item's size. A blob of
// another size is either corrupt or the item is wrong; either way the caller
// downloads (and verifies) again.
func (c *Cache) present(it Item, p string) bool {
	fi, err := os.Stat(p)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			c.log.Warn("cannot stat cached blob", "item", it.Name, "path", p, "err", err)
		}
		return false
	}
	if !fi.Mode().IsRegular() || (it.Size >= 0 && fi.Size() != it.Size) {
		c.log.Warn("cached blob has the wrong size; downloading it again",
			"item", it.Name, "path", p, "expected", it.Size, "got", fi.Size())
		return false
	}
	c.log.Debug("cache hit", "item", it.Name, "sha256", it.SHA256)
	return true
}

// download tries the item's URLs in order; any failure but cancellation moves
// on to the next URL (a 404 on a by-hash path, a mirror serving a stale file).
func (c *Cache) download(ctx context.Context, it Item, dst string) error {
	var errs []error
	for i, u := range it.URLs {
		c.log.Debug("download", "item", it.Name, "url", u)
		err := c.retry(ctx, it.Name, func(ctx context.Context) error {
			return c.fetchOnce(ctx, it, u, dst)
		})
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return err
		}
		errs = append(errs, err)
		if i+1 < len(it.URLs) {
			// A 404 on a by-hash path is routine (old mirror, expired hash).
			level := slog.LevelInfo
			var he *HTTPError
			if errors.As(err, &he) && he.StatusCode == http.StatusNotFound {
				level = slog.LevelDebug
			}
			c.log.Log(ctx, level, "download failed; trying the next URL", "item", it.Name, "url", u, "err", err)
		}
	}
	return joinErrors(errs)
}

// fetchOnce is one download attempt of it from url into dst. Errors wrapped
// in *retryable may be retried.
func (c *Cache) fetchOnce(ctx context.Context, it Item, url, dst string) (err error) {
	bound := it.Size
	if bound < 0 {
		bound = c.maxMetaSize // unknown: give it as long as metadata
	}
	resp, err := c.open(ctx, url, nil, bound)
	if err != nil {
		return err
	}
	defer resp.close()
	if resp.StatusCode == http.StatusNotModified {
		return &HTTPError{URL: url, StatusCode: resp.StatusCode, Status: resp.Status}
	}
	// A wrong body is retried like a 500: a proxy or a mirror mid-sync
	// may well answer right the next time. If it stays wrong, the error
	// says expected and got; the next URL is tried after that.
	if it.Size >= 0 && resp.ContentLength >= 0 && resp.ContentLength != it.Size {
		return &retryable{err: &VerifyError{Name: it.Name, URL: url, What: "size",
			Expected: fmt.Sprint(it.Size), Got: fmt.Sprintf("%d (Content-Length)", resp.ContentLength)}}
	}

	// The temp name starts with the lock key so that New can tell, by trying
	// the lock, whether its writer is still alive.
	tmp, err := os.CreateTemp(c.tmpDir(), "sha256-"+it.SHA256+".*")
	if err != nil {
		return fmt.Errorf("create temporary file: %w", err)
	}
	var n int64
	committed := false
	defer func() {
		if !committed {
			tmp.Close()
			os.Remove(tmp.Name())
			if c.progress != nil && n > 0 {
				c.progress.Add(-n)
			}
		}
	}()

	h := sha256.New()
	buf := make([]byte, 128<<10)
	for {
		m, rerr := resp.Read(buf)
		if m > 0 {
			if it.Size >= 0 && n+int64(m) > it.Size {
				// Cut a body that is too long off at once.
				return &retryable{err: &VerifyError{Name: it.Name, URL: url, What: "size",
					Expected: fmt.Sprint(it.Size), Got: fmt.Sprintf("more than %d bytes", it.Size)}}
			}
			h.Write(buf[:m])
			if _, err := tmp.Write(buf[:m]); err != nil {
				return fmt.Errorf("write %s: %w", tmp.Name(), err)
			}
			n += int64(m)
			if c.progress != nil {
				c.progress.Add(int64(m))
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return resp.bodyError(ctx, rerr)
		}
	}
	if it.Size >= 0 && n != it.Size {
		// A body that ends early without a Content-Length looks just like a
		// dropped connection, so it is worth another try.
		return &retryable{err: &VerifyError{Name: it.Name, URL: url, What: "size",
			Expected: fmt.Sprint(it.Size), Got: fmt.Sprint(n)}}
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != it.SHA256 {
		return &retryable{err: &VerifyError{Name: it.Name, URL: url, What: "sha256", Expected: it.SHA256, Got: got}}
	}
	if err := commit(tmp, dst); err != nil {
		return err
	}
	committed = true
	c.log.Debug("downloaded", "item", it.Name, "url", url, "bytes", n)
	return nil
}

// commit makes the verified temp file durable and renames it to dst.
func commit(tmp *os.File, dst string) error {
	if err := tmp.Chmod(0o644); err != nil {
		return fmt.Errorf("chmod %s: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("close %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return fmt.Errorf("store in cache: %w", err)
	}
	// Make the rename itself durable. Failing that is not worth failing the
	// download over: the blob is complete and verified either way.
	if d, err := os.Open(filepath.Dir(dst)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// FetchAll fetches items in parallel and returns their paths in order. The
// first failure cancels the other downloads; its error names the item.
// Items that share a SHA256 are downloaded once.
func (c *Cache) FetchAll(ctx context.Context, items []Item) ([]string, error) {
	if p, ok := c.progress.(Planner); ok {
		seen := make(map[string]bool)
		var n int
		var bytes int64
		for _, it := range items {
			sum, err := normSHA256(it.SHA256)
			if err != nil || seen[sum] || c.Has(it) {
				continue
			}
			seen[sum] = true
			n++
			if it.Size > 0 {
				bytes += it.Size
			}
		}
		p.Plan(n, bytes)
	}

	paths := make([]string, len(items))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		once  sync.Once
		first error
		wg    sync.WaitGroup
	)
	jobs := make(chan int)
	for range min(c.parallel, len(items)) {
		wg.Go(func() {
			for i := range jobs {
				p, err := c.Fetch(ctx, items[i])
				if err != nil {
					once.Do(func() { first = err; cancel() })
					continue
				}
				paths[i] = p
			}
		})
	}
feed:
	for i := range items {
		select {
		case jobs <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	if first != nil {
		return nil, first
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("fetch: %w", err)
	}
	return paths, nil
}

// Verify re-hashes the blob with this SHA256 (for an fsck-like check). A blob
// whose content does not match is removed, so that the next Fetch downloads
// it again; the returned *VerifyError says so.
func (c *Cache) Verify(sha256sum string) error {
	sum, err := normSHA256(sha256sum)
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	// Hold the blob's lock so that a concurrent download's fresh blob is not
	// the one removed.
	unlock, err := c.lock(context.Background(), "sha256-"+sum)
	if err != nil {
		return fmt.Errorf("verify %s: %w", sum, err)
	}
	defer unlock()
	p := filepath.Join(c.blobDir(), sum)
	f, err := os.Open(p)
	if err != nil {
		return fmt.Errorf("verify %s: %w", sum, err)
	}
	h := sha256.New()
	_, err = io.Copy(h, f)
	f.Close()
	if err != nil {
		return fmt.Errorf("verify %s: read %s: %w", sum, p, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != sum {
		if err := os.Remove(p); err != nil {
			c.log.Warn("cannot remove corrupt blob", "path", p, "err", err)
		}
		return &VerifyError{Name: sum, URL: p, What: "sha256", Expected: sum, Got: got + " (blob removed)"}
	}
	return nil
}

// normSHA256 checks that s is a SHA256 in hex and returns it in lower case.
func normSHA256(s string) (string, error) {
	if len(s) != 2*sha256.Size {
		return "", fmt.Errorf("invalid SHA256 %q: want %d hex digits", s, 2*sha256.Size)
	}
	s = strings.ToLower(s)
	if _, err := hex.DecodeString(s); err != nil {
		return "", fmt.Errorf("invalid SHA256 %q: not hex", s)
	}
	return s, nil
}

// VerifyError is a size or SHA256 mismatch between what a trusted index
// promised and what was received.
type VerifyError struct {
	Name, URL string
	What      string // "size" or "sha256"
	Expected  string
	Got       string
}

func (e *VerifyError) Error() string {
	return fmt.Sprintf("verify %s from %s: %s mismatch: expected %s, got %s", e.Name, e.URL, e.What, e.Expected, e.Got)
}

// HTTPError is an HTTP response that is not a success. Callers use errors.As
// to tell a 404 (fall back to another path) from other failures.
type HTTPError struct {
	URL        string
	StatusCode int
	Status     string // e.g. "404 Not Found"
}

func (e *HTTPError) Error() string {
	s := e.Status
	if s == "" {
		s = fmt.Sprintf("%d %s", e.StatusCode, http.StatusText(e.StatusCode))
	}
	return fmt.Sprintf("GET %s: %s", e.URL, s)
}

// multiError joins the failures of several URLs on one line.
type multiError []error

func joinErrors(errs []error) error {
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	}
	return multiError(errs)
}

func (m multiError) Error() string {
	s := make([]string, len(m))
	for i, e := range m {
		s[i] = e.Error()
	}
	return strings.Join(s, "; ")
}

func (m multiError) Unwrap() []error { return m }
