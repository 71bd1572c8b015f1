// Package lock reads and writes debstrap's lock file: a resolved build
// written down so that it can be built again exactly — the sources as
// their signed Release said on the day, and every package with the
// SHA-256 of its .deb. A build from a lock resolves nothing: the lock is
// the trust root for the .debs it names, as a pinned hash is.
//
// The file is JSON with a fixed key order, packages sorted by name and
// architecture, so that a change shows as a small diff in review.
package lock

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/debstrap/debstrap/apt"
)

// Version is the format version this package writes and reads.
const Version = 1

// Lock is one lock file.
type Lock struct {
	// Format is Version; a file of another version is refused.
	Format int `json:"debstrap-lock"`
	// The request the set was resolved for: lock --check and --update
	// resolve it again.
	Suite         string   `json:"suite"`
	Variant       string   `json:"variant"`
	Architectures []string `json:"architectures"`
	Components    []string `json:"components,omitempty"`
	Include       []string `json:"include,omitempty"`
	Recommends    bool     `json:"include-recommends,omitempty"`
	// MergedUsr: /usr merged by links made before unpacking (--merged-usr),
	// which a build from the lock must make too.
	MergedUsr bool `json:"merged-usr,omitempty"`
	// Epoch is SOURCE_DATE_EPOCH of a build from the lock (seconds),
	// unless the environment sets it.
	Epoch int64 `json:"epoch"`
	// Sources are the archives the set was resolved from, in order.
	Sources []Source `json:"sources"`
	// FallbackMirrors are more places to fetch a .deb from by its pool
	// path when the sources no longer have it (a snapshot archive).
	FallbackMirrors []string  `json:"fallback-mirrors,omitempty"`
	Packages        []Package `json:"packages"`
}

// Source is one suite of one archive and the state it was in.
type Source struct {
	URI        string            `json:"uri"`
	Suite      string            `json:"suite"`
	Components []string          `json:"components"`
	Options    map[string]string `json:"options,omitempty"`
	Codename   string            `json:"codename,omitempty"`
	// Version is the Release's Version (12.8, 24.04; testing and unstable
	// have none): an image built from the lock names it, so a build from
	// the lock and one that resolves give the same bytes.
	Version string `json:"version,omitempty"`
	// Date is the signed Release's Date (RFC 1123, as in the file).
	Date string `json:"date"`
	// Release is the signed file read (InRelease or Release), SHA256
	// its hash: this exact state of the suite.
	Release string `json:"release"`
	SHA256  string `json:"sha256"`
}

// Package is one package of the set.
type Package struct {
	Name          string `json:"name"`
	Version       string `json:"version"`
	Architecture  string `json:"architecture"`
	Source        string `json:"source,omitempty"`
	SourceVersion string `json:"source-version,omitempty"`
	// Suite is the suite of the source it came from ("local" for a .deb
	// given by path); Component likewise.
	Suite     string `json:"suite"`
	Component string `json:"component,omitempty"`
	// Priority is the archive's (its override may differ from the .deb's
	// own): apt's choice of what to mark automatically installed uses it.
	Priority string `json:"priority,omitempty"`
	// Filename is the pool path, relative to the source's URI (a file
	// URL for a local .deb).
	Filename string `json:"filename"`
	Size     int64  `json:"size"`
	SHA256   string `json:"sha256"`
}

// Key is "name:architecture", the package's identity in a set.
func (p Package) Key() string { return p.Name + ":" + p.Architecture }

// Sort puts the packages and the option maps in the file's order.
func (l *Lock) Sort() {
	slices.SortFunc(l.Packages, func(a, b Package) int {
		return strings.Compare(a.Key(), b.Key())
	})
}

// Write writes l in the file's fixed form.
func (l *Lock) Write(w io.Writer) error {
	l.Format = Version
	l.Sort()
	if err := l.Check(); err != nil {
		return err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(l); err != nil {
		return err
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// maxSize bounds a lock file read: some thousands of packages take a few
// MiB.
const maxSize = 64 << 20

// Read parses a lock file; unknown keys, a wrong format version and bad
// values are errors naming the package or source.
func Read(r io.Reader) (*Lock, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxSize {
		return nil, fmt.Errorf("larger than %d MiB", maxSize>>20)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var l Lock
	if err := dec.Decode(&l); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, fmt.Errorf("line %d: %w", lineOf(data, se.Offset), err)
		}
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return nil, fmt.Errorf("line %d: %s: want %s, got %s", lineOf(data, te.Offset), te.Field, te.Type, te.Value)
		}
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("more than one JSON value")
	}
	if l.Format != Version {
		return nil, fmt.Errorf("debstrap-lock %d: this debstrap reads version %d (make the lock again with debstrap lock)", l.Format, Version)
	}
	if err := l.Check(); err != nil {
		return nil, err
	}
	return &l, nil
}

// ReadFile reads the lock file name.
func ReadFile(name string) (*Lock, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	defer f.Close()
	l, err := Read(f)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", name, err)
	}
	return l, nil
}

func lineOf(data []byte, offset int64) int {
	if offset > int64(len(data)) {
		offset = int64(len(data))
	}
	return bytes.Count(data[:offset], []byte("\n")) + 1
}

var (
	nameRE    = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]+$`)
	versionRE = regexp.MustCompile(`^([0-9]+:)?[0-9A-Za-z.+~:-]+$`)
	archRE    = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)
)

// Check validates l: what a build takes from it must be well formed, as
// the archive's own indexes are checked (a lock comes from a repository,
// which anyone may send a change to).
func (l *Lock) Check() error {
	if l.Suite == "" || len(l.Architectures) == 0 || len(l.Sources) == 0 {
		return errors.New("lacks the suite, the architectures or the sources")
	}
	for _, a := range l.Architectures {
		if !archRE.MatchString(a) {
			return fmt.Errorf("architecture %q is not one", a)
		}
	}
	for i, s := range l.Sources {
		if err := apt.CheckURI(s.URI); err != nil {
			return fmt.Errorf("source %d: %w", i+1, err)
		}
		if s.Suite == "" || strings.Contains(s.Suite, "..") || len(s.Components) == 0 {
			return fmt.Errorf("source %d (%s): bad suite %q or no component", i+1, s.URI, s.Suite)
		}
		if _, err := time.Parse(time.RFC1123, s.Date); s.Date != "" && err != nil {
			if _, err2 := time.Parse(time.RFC1123Z, s.Date); err2 != nil {
				return fmt.Errorf("source %s %s: date %q: %w", s.URI, s.Suite, s.Date, err)
			}
		}
		if s.SHA256 != "" && !isSHA256(s.SHA256) {
			return fmt.Errorf("source %s %s: sha256 %q is not a SHA-256 digest", s.URI, s.Suite, s.SHA256)
		}
	}
	for _, m := range l.FallbackMirrors {
		if err := apt.CheckURI(m); err != nil {
			return fmt.Errorf("fallback mirror: %w", err)
		}
	}
	seen := map[string]bool{}
	for _, p := range l.Packages {
		switch {
		case !nameRE.MatchString(p.Name):
			return fmt.Errorf("package %q: not a Debian package name", p.Name)
		case !versionRE.MatchString(p.Version):
			return fmt.Errorf("package %s: version %q is not a Debian version", p.Name, p.Version)
		case !archRE.MatchString(p.Architecture):
			return fmt.Errorf("package %s: architecture %q is not one", p.Name, p.Architecture)
		case !isSHA256(p.SHA256):
			return fmt.Errorf("package %s %s: sha256 %q is not a SHA-256 digest", p.Name, p.Version, p.SHA256)
		case p.Size <= 0:
			return fmt.Errorf("package %s %s: size %d", p.Name, p.Version, p.Size)
		case seen[p.Key()]:
			return fmt.Errorf("package %s is listed twice", p.Key())
		}
		seen[p.Key()] = true
		if err := checkFilename(p); err != nil {
			return err
		}
	}
	return nil
}

// checkFilename accepts a clean relative pool path, or a file URL for a
// local .deb.
func checkFilename(p Package) error {
	f := p.Filename
	if p.Suite == "local" {
		if u, err := url.Parse(f); err == nil && u.Scheme == "file" && path.IsAbs(u.Path) {
			return nil
		}
		return fmt.Errorf("package %s: filename %q: a local package needs a file:/// URL", p.Name, f)
	}
	if f == "" || path.IsAbs(f) || path.Clean(f) != f || f == ".." || strings.HasPrefix(f, "../") || strings.Contains(f, "://") {
		return fmt.Errorf("package %s: filename %q is not a relative pool path", p.Name, f)
	}
	return nil
}

func isSHA256(s string) bool {
	b, err := hex.DecodeString(s)
	return err == nil && len(b) == 32 && strings.ToLower(s) == s
}

// Entry is s as an apt source (what the image's sources.list says).
func (s Source) Entry() apt.Entry {
	return apt.Entry{URI: s.URI, Suite: s.Suite, Components: s.Components, Options: s.Options}
}

// SourceOf is the source p came from (by suite; nil for a local .deb or
// a suite no source has).
func (l *Lock) SourceOf(p Package) *Source {
	for i := range l.Sources {
		if l.Sources[i].Suite == p.Suite {
			return &l.Sources[i]
		}
	}
	return nil
}

// Change is one difference between two locks' package sets.
type Change struct {
	Name, Architecture string
	Old, New           string // "" when absent
}

func (c Change) String() string {
	switch {
	case c.Old == "":
		return fmt.Sprintf("%s:%s new %s", c.Name, c.Architecture, c.New)
	case c.New == "":
		return fmt.Sprintf("%s:%s %s removed", c.Name, c.Architecture, c.Old)
	}
	return fmt.Sprintf("%s:%s %s → %s", c.Name, c.Architecture, c.Old, c.New)
}

// Diff lists what differs between the package sets of a and b, by name
// and architecture (a version or its .deb).
func Diff(a, b *Lock) []Change {
	old := map[string]Package{}
	for _, p := range a.Packages {
		old[p.Key()] = p
	}
	var out []Change
	seen := map[string]bool{}
	for _, p := range b.Packages {
		seen[p.Key()] = true
		o, ok := old[p.Key()]
		switch {
		case !ok:
			out = append(out, Change{p.Name, p.Architecture, "", p.Version})
		case o.Version != p.Version || o.SHA256 != p.SHA256:
			out = append(out, Change{p.Name, p.Architecture, o.Version, p.Version})
		}
	}
	for _, p := range a.Packages {
		if !seen[p.Key()] {
			out = append(out, Change{p.Name, p.Architecture, p.Version, ""})
		}
	}
	slices.SortFunc(out, func(x, y Change) int {
		return strings.Compare(x.Name+":"+x.Architecture, y.Name+":"+y.Architecture)
	})
	return out
}
