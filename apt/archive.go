package apt

import (
	"bufio"
	"compress/bzip2"
	"context"
	"errors"
	"fmt"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"

	"github.com/debstrap/debstrap/cache"
)

// Source is one suite of one archive as the user asked for it.
type Source struct {
	Mirror        string   // base URL, e.g. http://mirror.example/debian
	Suite         string   // suite or codename as asked, e.g. "bookworm-updates"
	Components    []string // e.g. main, contrib
	Architectures []string // e.g. amd64 (not "all": binary-all is read when the archive needs it)
	Keyring       openpgp.EntityList
	// Order is the position of the source on the command line; it is
	// copied into every Index (see Index.Order).
	Order int
}

// OpenOptions tune the checks of Open. The zero value is apt's default.
type OpenOptions struct {
	// Now is the time signatures, keys and Valid-Until are checked
	// against; zero means time.Now().
	Now time.Time
	// IgnoreValidUntil skips the Valid-Until check, as apt's
	// Acquire::Check-Valid-Until=false does (for snapshot archives, whose
	// Release files expired long ago).
	IgnoreValidUntil bool
	// IgnoreDate skips the check that the Release Date is not in the
	// future, as apt's Acquire::Check-Date=false does.
	IgnoreDate bool
	// Logger receives progress and fallbacks; nil discards them.
	Logger *slog.Logger
}

// maxFuture is how far a Release Date may lie ahead of our clock before it
// is refused: a mirror's clock and ours are never exactly equal.
const maxFuture = 10 * time.Second

// Archive is one opened Source: its Release verified and checked, ready
// to read Packages indexes whose checksums it vouches for.
type Archive struct {
	src        Source
	cache      *cache.Cache
	rel        *Release
	dists      string // Mirror + "/dists/" + Suite
	releaseURL string // the URL the trusted Release came from
	log        *slog.Logger

	mu  sync.Mutex
	all map[string][]*Package // binary-all per component, read once
}

// Open fetches and verifies the Release of src (InRelease, or Release with
// Release.gpg when the archive has no InRelease), checks it as apt does,
// and returns the Archive. Only verified bytes reach the cache.
func Open(ctx context.Context, c *cache.Cache, src Source, opts OpenOptions) (*Archive, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	src.Mirror = strings.TrimRight(src.Mirror, "/")
	if err := checkSource(src); err != nil {
		return nil, err
	}
	a := &Archive{
		src:   src,
		cache: c,
		dists: src.Mirror + "/dists/" + src.Suite,
		log:   log,
		all:   map[string][]*Package{},
	}

	// FetchSigned calls verify for the bytes it returns (also for a stored
	// copy on 304), last of all; rel is the Release of those bytes.
	var rel *Release
	a.releaseURL = a.dists + "/InRelease"
	seen := storedDate(c.Stored(a.releaseURL), true)
	_, err := c.FetchSigned(ctx, a.releaseURL, func(b []byte) error {
		r, err := VerifyInRelease(b, src.Keyring, now)
		if err != nil {
			return err
		}
		if err := a.check(r, now, opts); err != nil {
			return err
		}
		if err := notOlder(r, seen); err != nil {
			return err
		}
		r.FileSHA256 = sha256Hex(b)
		rel = r
		return nil
	})
	if isNotFound(err) {
		log.Info("no InRelease; trying Release and Release.gpg", "url", a.releaseURL)
		rel = nil
		a.releaseURL = a.dists + "/Release"
		sigURL := a.releaseURL + ".gpg"
		seen := storedDate(c.Stored(a.releaseURL), false)
		_, err = c.FetchSigned(ctx, a.releaseURL, func(b []byte) error {
			sig, err := c.FetchBytes(ctx, sigURL)
			if err != nil {
				if isNotFound(err) {
					return &SignatureError{Problem: Unsigned, Err: fmt.Errorf("%s is missing", sigURL)}
				}
				return err
			}
			r, err := VerifyRelease(b, sig, src.Keyring, now)
			if err != nil {
				return err
			}
			if err := a.check(r, now, opts); err != nil {
				return err
			}
			if err := notOlder(r, seen); err != nil {
				return err
			}
			r.FileSHA256 = sha256Hex(b)
			rel = r
			return nil
		})
	}
	if err != nil {
		return nil, fmt.Errorf("open %s %s: %w", src.Mirror, src.Suite, err)
	}
	if rel == nil {
		// Cannot happen with a FetchSigned that honours its contract;
		// refuse rather than trust unverified bytes.
		return nil, fmt.Errorf("open %s %s: %s was not verified", src.Mirror, src.Suite, a.releaseURL)
	}
	a.rel = rel
	log.Debug("release verified", "url", a.releaseURL, "signer", rel.Signer,
		"suite", rel.Suite, "codename", rel.Codename, "date", rel.Date)
	return a, nil
}

func checkSource(src Source) error {
	switch {
	case src.Mirror == "":
		return errors.New("source has no mirror URL")
	case !strings.HasPrefix(src.Mirror, "http://") && !strings.HasPrefix(src.Mirror, "https://") && !strings.HasPrefix(src.Mirror, "file:///"):
		return fmt.Errorf("mirror %q: only http://, https:// and file:/// (an absolute path) are supported", src.Mirror)
	case src.Suite == "" || strings.HasSuffix(src.Suite, "/"):
		// "deb URL ./" flat repositories have no dists/ tree.
		return fmt.Errorf("mirror %s: suite %q: flat repositories are not supported", src.Mirror, src.Suite)
	case strings.Contains(src.Suite, ".."):
		return fmt.Errorf("mirror %s: bad suite %q", src.Mirror, src.Suite)
	case len(src.Components) == 0:
		return fmt.Errorf("mirror %s suite %s: no component given", src.Mirror, src.Suite)
	case len(src.Architectures) == 0:
		return fmt.Errorf("mirror %s suite %s: no architecture given", src.Mirror, src.Suite)
	case len(src.Keyring) == 0:
		return fmt.Errorf("mirror %s suite %s: empty keyring; pass --keyring", src.Mirror, src.Suite)
	}
	for _, c := range src.Components {
		if c == "" || strings.Contains(c, "..") || strings.HasPrefix(c, "/") {
			return fmt.Errorf("mirror %s suite %s: bad component %q", src.Mirror, src.Suite, c)
		}
	}
	for _, a := range src.Architectures {
		if a == "" || strings.ContainsAny(a, "/ ") {
			return fmt.Errorf("mirror %s suite %s: bad architecture %q", src.Mirror, src.Suite, a)
		}
	}
	return nil
}

// check applies apt's checks to a Release whose signature is good:
// freshness, that it is the suite that was asked for, and that it has what
// the source needs. Failing here keeps the file out of the cache.
func (a *Archive) check(r *Release, now time.Time, opts OpenOptions) error {
	// FetchSigned names the URL in front of these messages.
	if !opts.IgnoreValidUntil && !r.ValidUntil.IsZero() && now.After(r.ValidUntil) {
		return fmt.Errorf("expired on %s (Valid-Until; now %s): the mirror is stale or the clock is wrong; for a snapshot archive, give the source [check-valid-until=no] or pass --no-check-valid-until",
			r.ValidUntil.Format(time.RFC1123), now.UTC().Format(time.RFC1123))
	}
	if !opts.IgnoreDate && !r.Date.IsZero() && r.Date.After(now.Add(maxFuture)) {
		return fmt.Errorf("not valid yet: its Date %s is in the future (now %s); is the clock wrong?",
			r.Date.Format(time.RFC1123), now.UTC().Format(time.RFC1123))
	}
	if !suiteMatches(a.src.Suite, r) {
		return fmt.Errorf("expected suite %s, got Suite=%s Codename=%s", a.src.Suite, orNone(r.Suite), orNone(r.Codename))
	}
	var missing []string
	for _, c := range a.src.Components {
		if !r.HasComponent(c) {
			missing = append(missing, "component "+c)
		}
	}
	for _, arch := range a.src.Architectures {
		if !r.HasArchitecture(arch) {
			missing = append(missing, "architecture "+arch)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("the archive does not have %s (Components: %s; Architectures: %s)",
			strings.Join(missing, ", "), orNone(strings.Join(r.Components, " ")), orNone(strings.Join(r.Architectures, " ")))
	}
	for _, c := range a.src.Components {
		for _, arch := range a.src.Architectures {
			if _, ok := packagesVariant(r, c, arch, 0); !ok {
				missing = append(missing, c+"/binary-"+arch+"/Packages")
			}
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("the Release lists no checksum for %s", strings.Join(missing, ", "))
	}
	return nil
}

// suiteMatches is apt's rule: the name in sources.list must be the
// Release's Suite or its Codename. Old security archives were asked for
// as "CODENAME/updates" and name only CODENAME.
func suiteMatches(asked string, r *Release) bool {
	if asked == r.Suite || asked == r.Codename {
		return true
	}
	if base, _, ok := strings.Cut(asked, "/"); ok && base != "" {
		return base == r.Suite || base == r.Codename
	}
	return false
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// Release returns the verified Release of the archive.
func (a *Archive) Release() *Release { return a.rel }

// Source returns the source the archive was opened for (Mirror without a
// trailing slash).
func (a *Archive) Source() Source { return a.src }

// ReleaseURL is where the trusted Release came from (…/InRelease or
// …/Release).
func (a *Archive) ReleaseURL() string { return a.releaseURL }

// compressions are the variants of an index we can read, best first.
// Every variant is checked against the Release before it is decompressed,
// so the choice is about speed only. Measured on bookworm main/amd64 (50 MB
// of Packages): .xz is 9.7 MB but takes 2.2-2.8 s to decompress in pure
// Go; .gz is 12 MB and takes 0.3 s. Decompression, not the network, is the
// limit (and a warm build has no download at all), so gzip comes before xz;
// zstd, when an archive offers it, is both small and fast.
var compressions = []string{".zst", ".gz", ".xz", ".bz2", ""}

// packagesVariant returns the i-th-or-later variant of comp/binary-arch/
// Packages that the Release lists, and its position in compressions.
func packagesVariant(r *Release, comp, arch string, from int) (int, bool) {
	base := comp + "/binary-" + arch + "/Packages"
	for i := from; i < len(compressions); i++ {
		if _, ok := r.SHA256[base+compressions[i]]; ok {
			return i, true
		}
	}
	return 0, false
}

// Packages reads the Packages index of component for arch, verified against
// the Release. Unless arch is "all", the stanzas of binary-all are added
// when apt would read that index too: the Release lists architecture all
// and does not say (No-Support-for-Architecture-all: Packages) that its
// per-architecture indexes already hold them. Those stanzas are read once
// per component and shared between calls, so callers reading several
// architectures get the same *Package for an arch:all stanza each time.
func (a *Archive) Packages(ctx context.Context, component, arch string) ([]*Package, error) {
	if !slices.Contains(a.src.Components, component) {
		return nil, fmt.Errorf("%s %s: component %s was not asked for (have %s)", a.src.Mirror, a.src.Suite, component, strings.Join(a.src.Components, " "))
	}
	pkgs, err := a.index(ctx, component, arch)
	if err != nil || arch == "all" || !a.readsBinaryAll(component) {
		return pkgs, err
	}
	all, err := a.binaryAll(ctx, component)
	if err != nil {
		return nil, err
	}
	// Keep each (name, version, architecture) once, the per-architecture
	// stanza first: some archives put arch:all stanzas in both indexes.
	seen := make(map[string]bool, len(pkgs))
	for _, p := range pkgs {
		seen[p.Name+"\x00"+p.Version+"\x00"+p.Architecture] = true
	}
	out := make([]*Package, len(pkgs), len(pkgs)+len(all))
	copy(out, pkgs)
	for _, p := range all {
		if !seen[p.Name+"\x00"+p.Version+"\x00"+p.Architecture] {
			out = append(out, p)
		}
	}
	return out, nil
}

func (a *Archive) readsBinaryAll(component string) bool {
	r := a.rel
	if !slices.Contains(r.Architectures, "all") || slices.Contains(r.NoSupportForArchitectureAll, "Packages") {
		return false
	}
	_, ok := packagesVariant(r, component, "all", 0)
	return ok
}

func (a *Archive) binaryAll(ctx context.Context, component string) ([]*Package, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if pkgs, ok := a.all[component]; ok {
		return pkgs, nil
	}
	pkgs, err := a.index(ctx, component, "all")
	if err != nil {
		return nil, err // not remembered: a cancelled ctx must not stick
	}
	a.all[component] = pkgs
	return pkgs, nil
}

// index fetches and parses one Packages index: the best compressed variant
// the Release lists, through its by-hash path when the archive offers one
// (so a mirror that replaces the index meanwhile still serves ours), and
// falls back to the next variant only when a file is missing from the
// mirror. A checksum mismatch is never skipped over.
func (a *Archive) index(ctx context.Context, component, arch string) ([]*Package, error) {
	base := component + "/binary-" + arch + "/Packages"
	idx := &Index{
		Mirror:       a.src.Mirror,
		Suite:        a.src.Suite,
		Codename:     a.rel.Codename,
		Component:    component,
		Architecture: arch,
		Order:        a.src.Order,
	}
	var tried []string
	var lastErr error
	for i := 0; ; i++ {
		var ok bool
		if i, ok = packagesVariant(a.rel, component, arch, i); !ok {
			break
		}
		name := base + compressions[i]
		fh := a.rel.SHA256[name]
		plain := a.dists + "/" + name
		var urls []string
		if a.rel.AcquireByHash {
			urls = append(urls, a.dists+"/"+path.Dir(name)+"/by-hash/SHA256/"+fh.SHA256)
		}
		urls = append(urls, plain)
		item := cache.Item{Name: a.src.Suite + "/" + name, URLs: urls, Size: fh.Size, SHA256: fh.SHA256}
		start := time.Now()
		file, err := a.cache.Fetch(ctx, item)
		if err != nil {
			if isNotFound(err) {
				a.log.Info("index not on the mirror; trying the next compression", "url", plain, "err", err)
				tried, lastErr = append(tried, path.Base(name)), err
				continue
			}
			var ve *cache.VerifyError
			if errors.As(err, &ve) {
				// The error names the URLs, expected and got.
				return nil, fmt.Errorf("%w (is the mirror being updated? try again later)", err)
			}
			return nil, err // names the item and the URLs
		}
		fetched := time.Now()
		pkgs, err := a.parseIndex(file, fh.SHA256, compressions[i], idx, a.indexBound(base, fh.Size))
		if err != nil {
			// A cached copy damaged after it was verified (a flipped
			// byte of the same size) fails to decode: check it again
			// and, if it no longer matches, fetch it once more. An index
			// that verifies and still fails is the archive's, and final.
			var ve *cache.VerifyError
			if verr := a.cache.Verify(fh.SHA256); errors.As(verr, &ve) {
				a.log.Warn("cached index damaged; fetching it again", "url", plain, "err", err)
				if file, err = a.cache.Fetch(ctx, item); err != nil {
					return nil, err
				}
				pkgs, err = a.parseIndex(file, fh.SHA256, compressions[i], idx, a.indexBound(base, fh.Size))
			}
		}
		if err != nil {
			return nil, fmt.Errorf("%s (verified copy %s): %w", plain, file, err)
		}
		a.log.Debug("index read", "url", plain, "packages", len(pkgs),
			"fetch", fetched.Sub(start), "parse", time.Since(fetched))
		return pkgs, nil
	}
	if lastErr != nil {
		return nil, fmt.Errorf("%s/%s: no variant of the index is on the mirror (tried %s): %w",
			a.dists, base, strings.Join(tried, ", "), lastErr)
	}
	return nil, fmt.Errorf("%s lists no checksum for %s", a.releaseURL, base)
}

// indexBound is how many bytes the index base may decompress to: the
// size the Release lists for the uncompressed file (Debian's and Ubuntu's
// list it, present on the mirror or not), else a multiple of the
// compressed size no real index comes near (they compress 4-6 times).
func (a *Archive) indexBound(base string, compressed int64) indexSize {
	if fh, ok := a.rel.SHA256[base]; ok {
		return indexSize{n: fh.Size, listed: true}
	}
	return indexSize{n: max(compressed, 1<<16) * maxIndexRatio}
}

// maxIndexRatio bounds the decompressed size of an index the Release
// gives no uncompressed size for.
const maxIndexRatio = 32

// indexSize is the bound on a decompressed index; listed says it is the
// Release's own size of it, which the index must then have exactly.
type indexSize struct {
	n      int64
	listed bool
}

// plainIndexKind names the derived files (cache.CreateDerived) holding a
// compressed index decompressed: a warm build parses it as it is, its
// digest checked as it streams, instead of decompressing again (gzip of
// bookworm's main index: 0.3 s of a 0.75 s resolve).
const plainIndexKind = "packages-plain"

// parseIndex parses the verified index blob file (SHA256 sha, compressed
// as ext): from its derived decompressed copy when there is one that
// proves itself, else from the blob, storing that copy on the way.
func (a *Archive) parseIndex(file, sha, ext string, idx *Index, size indexSize) ([]*Package, error) {
	if ext == "" {
		return parseIndexFile(file, ext, idx, size, nil)
	}
	dr, err := a.cache.OpenDerived(plainIndexKind, sha)
	if err == nil {
		var pkgs []*Package
		pkgs, err = parseBounded(dr, idx, size, nil)
		if err == nil {
			err = dr.Finish()
		}
		dr.Close()
		if err == nil {
			return pkgs, nil
		}
	}
	if !errors.Is(err, fs.ErrNotExist) {
		a.log.Warn("decompressed copy of an index does not prove itself; making it again", "kind", plainIndexKind, "blob", sha, "err", err)
		if err := a.cache.RemoveDerived(plainIndexKind, sha); err != nil {
			return nil, err
		}
	}
	dw, err := a.cache.CreateDerived(plainIndexKind, sha)
	if err != nil {
		dw = nil // another build writes it, or the cache cannot: parse without
	}
	tee := &quietWriter{w: dw}
	pkgs, err := parseIndexFile(file, ext, idx, size, tee)
	if dw != nil {
		if err == nil && tee.err == nil {
			if cerr := dw.Commit(); cerr != nil {
				a.log.Debug("storing the decompressed index", "err", cerr)
			}
		} else {
			dw.Abort()
		}
	}
	return pkgs, err
}

// quietWriter passes writes to w (if any) until one fails, then drops
// them: storing the decompressed copy is a convenience, never a reason
// for the index read to fail.
type quietWriter struct {
	w   io.Writer
	err error
}

func (q *quietWriter) Write(p []byte) (int, error) {
	if q.w != nil && q.err == nil {
		_, q.err = q.w.Write(p)
	}
	return len(p), nil
}

func parseIndexFile(file, ext string, idx *Index, size indexSize, copyTo io.Writer) ([]*Package, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, closeFn, err := decompress(bufio.NewReaderSize(f, 1<<16), ext)
	if err != nil {
		return nil, err
	}
	defer closeFn()
	return parseBounded(zr, idx, size, copyTo)
}

// parseBounded parses the decompressed index zr, reading nothing past
// the bound, copying what it reads to copyTo (if not nil).
func parseBounded(zr io.Reader, idx *Index, size indexSize, copyTo io.Writer) ([]*Package, error) {
	// Nothing past the bound is decompressed, however small the file: a
	// few KB of xz can expand to gigabytes.
	b := &boundedReader{r: zr, left: size.n, size: size}
	var r io.Reader = b
	if copyTo != nil {
		r = io.TeeReader(b, copyTo)
	}
	pkgs, err := ParsePackages(r, idx)
	if err != nil {
		return nil, err
	}
	// ParsePackages stops at EOF of the decompressed stream; make sure the
	// decompressor saw its own end (checksums, trailing garbage) too.
	if n, err := io.Copy(io.Discard, r); err != nil {
		return nil, err
	} else if n > 0 {
		return nil, fmt.Errorf("decompressing: %d bytes after the parsed index", n)
	}
	if got := size.n - b.left; size.listed && got != size.n {
		return nil, fmt.Errorf("decompressed to %d bytes, the Release lists %d for the uncompressed index", got, size.n)
	}
	return pkgs, nil
}

// boundedReader fails a decompressed stream that goes past its bound,
// without decompressing more than one byte beyond it.
type boundedReader struct {
	r    io.Reader
	left int64
	size indexSize
	err  error
}

func (b *boundedReader) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if b.left <= 0 {
		// One byte more says whether the stream really goes on.
		var one [1]byte
		n, err := io.ReadFull(b.r, one[:])
		if n == 0 {
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				return 0, io.EOF
			}
			b.err = fmt.Errorf("decompressing: %w", err)
			return 0, b.err
		}
		if b.size.listed {
			b.err = fmt.Errorf("decompresses to more than the %d bytes the Release lists for the uncompressed index", b.size.n)
		} else {
			b.err = fmt.Errorf("decompresses to more than %d bytes (%d times its compressed size; the Release lists no uncompressed size)", b.size.n, maxIndexRatio)
		}
		return 0, b.err
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.r.Read(p)
	b.left -= int64(n)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("decompressing: %w", err)
		b.err = err
	}
	return n, err
}

func decompress(r io.Reader, ext string) (io.Reader, func(), error) {
	nop := func() {}
	switch ext {
	case "":
		return r, nop, nil
	case ".xz":
		zr, err := xz.NewReader(r)
		if err != nil {
			return nil, nop, fmt.Errorf("xz: %w", err)
		}
		return zr, nop, nil
	case ".gz":
		zr, err := gzip.NewReader(r)
		if err != nil {
			return nil, nop, fmt.Errorf("gzip: %w", err)
		}
		return zr, func() { zr.Close() }, nil
	case ".zst":
		zr, err := zstd.NewReader(r)
		if err != nil {
			return nil, nop, fmt.Errorf("zstd: %w", err)
		}
		return zr, zr.Close, nil
	case ".bz2":
		return bzip2.NewReader(r), nop, nil
	}
	return nil, nop, fmt.Errorf("unknown compression %q", ext)
}

// isNotFound reports whether err means the file is not on the server (as
// opposed to a wrong checksum or a network failure, which must not be
// papered over by trying another file).
func isNotFound(err error) bool {
	if err == nil {
		return false
	}
	if he, ok := err.(*cache.HTTPError); ok {
		return he.StatusCode == http.StatusNotFound || he.StatusCode == http.StatusGone
	}
	// Every URL tried must have been missing: one 404 on a by-hash path
	// next to a checksum error on the plain path is a checksum error.
	switch u := err.(type) {
	case interface{ Unwrap() []error }:
		errs := u.Unwrap()
		for _, e := range errs {
			if !isNotFound(e) {
				return false
			}
		}
		return len(errs) > 0
	case interface{ Unwrap() error }:
		return isNotFound(u.Unwrap())
	}
	return false
}

// storedDate is the Date of a Release (or InRelease) that was verified
// before and kept in the cache; zero if there is none.
func storedDate(b []byte, clearsigned bool) time.Time {
	if b == nil {
		return time.Time{}
	}
	if clearsigned {
		block, _ := clearsign.Decode(b)
		if block == nil {
			return time.Time{}
		}
		b = block.Plaintext
	}
	r, err := ParseRelease(b)
	if err != nil {
		return time.Time{}
	}
	return r.Date
}

// notOlder refuses a Release dated before one already seen from the same
// URL, as apt does: a validly signed but old Release is how an attacker (or
// a stale mirror) would hold back security updates.
func notOlder(r *Release, seen time.Time) error {
	if !seen.IsZero() && !r.Date.IsZero() && r.Date.Before(seen) {
		return fmt.Errorf("its Date %s is older than that of the copy verified before (%s): the mirror is stale, or someone replays an old archive",
			r.Date.Format(time.RFC1123), seen.Format(time.RFC1123))
	}
	return nil
}

// IsNotFound reports whether err says a file is not on the mirror (every
// URL tried answered 404 or 410), as opposed to a wrong checksum or a
// network failure.
func IsNotFound(err error) bool { return isNotFound(err) }

// Fetch fetches the file name (a path under dists/SUITE/, e.g.
// "main/binary-amd64/Packages.xz") that the Release lists, through its
// by-hash path when the archive offers one, into the cache, checked
// against the Release's size and SHA-256; it returns the cached path.
// A file the Release does not list is an error: nothing unvouched for is
// read. IsNotFound(err) when the mirror does not have it.
func (a *Archive) Fetch(ctx context.Context, name string) (string, error) {
	fh, ok := a.rel.SHA256[name]
	if !ok {
		return "", fmt.Errorf("%s lists no SHA256 for %s", a.releaseURL, name)
	}
	var urls []string
	if a.rel.AcquireByHash {
		urls = append(urls, a.dists+"/"+path.Dir(name)+"/by-hash/SHA256/"+fh.SHA256)
	}
	urls = append(urls, a.dists+"/"+name)
	return a.cache.Fetch(ctx, cache.Item{Name: a.src.Suite + "/" + name, URLs: urls, Size: fh.Size, SHA256: fh.SHA256})
}

// Signed returns the bytes of the signed Release (InRelease, or Release
// when the archive has no InRelease) exactly as the archive published
// them: the verified copy the cache keeps, checked against the hash of
// the file Open verified.
func (a *Archive) Signed() ([]byte, error) {
	b := a.cache.Stored(a.releaseURL)
	if b == nil || sha256Hex(b) != a.rel.FileSHA256 {
		return nil, fmt.Errorf("%s: the verified copy is no longer in the cache (the archive changed meanwhile?); run again", a.releaseURL)
	}
	return b, nil
}

// OpenIndex opens the index base (a path under dists/SUITE/ without a
// compression ending, e.g. "main/source/Sources") decompressed: the best
// variant the Release lists that the mirror has, verified (Fetch), read
// through a bound of the size the Release gives the uncompressed file.
func (a *Archive) OpenIndex(ctx context.Context, base string) (io.ReadCloser, error) {
	var lastErr error
	for _, ext := range compressions {
		fh, ok := a.rel.SHA256[base+ext]
		if !ok {
			continue
		}
		file, err := a.Fetch(ctx, base+ext)
		if isNotFound(err) {
			lastErr = err
			continue
		}
		if err != nil {
			return nil, err
		}
		f, err := os.Open(file)
		if err != nil {
			return nil, err
		}
		zr, closeFn, err := decompress(bufio.NewReaderSize(f, 1<<16), ext)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("%s/%s: %w", a.dists, base+ext, err)
		}
		bound := a.indexBound(base, fh.Size)
		return &boundedIndex{r: zr, left: bound.n, name: a.dists + "/" + base + ext, close: func() error {
			closeFn()
			return f.Close()
		}}, nil
	}
	if lastErr != nil {
		return nil, fmt.Errorf("%s/%s: no variant of the index is on the mirror: %w", a.dists, base, lastErr)
	}
	return nil, fmt.Errorf("%s lists no checksum for %s", a.releaseURL, base)
}

// boundedIndex fails a decompressed index that grows past its bound.
type boundedIndex struct {
	r     io.Reader
	left  int64
	name  string
	close func() error
}

func (b *boundedIndex) Read(p []byte) (int, error) {
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.r.Read(p)
	b.left -= int64(n)
	if b.left < 0 {
		return 0, fmt.Errorf("%s decompresses to more than the Release allows", b.name)
	}
	return n, err
}

func (b *boundedIndex) Close() error { return b.close() }
