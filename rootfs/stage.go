package rootfs

import (
	"archive/tar"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"
)

// Stage is a staging root being built. Contents are on disk under dir,
// owned by the builder, with harmless modes (files 0644 or 0755,
// directories 0755, the staging directory itself 0700 so that nothing
// in it — setuid programs, /etc/shadow — is reachable by other users of
// the host); the table holds the truth about every path. Device nodes
// are empty placeholder files on disk. Ownership is never applied to
// the disk, as root or not, so both behave the same.
//
// All methods are safe for concurrent use. Prepare may run for several
// packages at once; Commit applies them one at a time in call order.
type Stage struct {
	dir  string
	root *os.Root
	opts Options
	log  *slog.Logger

	mu     sync.Mutex
	top    *node
	nodes  map[string]*node    // real path → node
	pkgs   map[string]*pkgRec  // unpacked packages
	order  []string            // packages in commit order
	owners map[string][]string // dpkg path → packages listing it, as dpkg's files database
	tmp    string              // stage scratch directory (relative), "" until needed
	tmpSeq int
	closed bool
	dirs   map[string]*dirHandle // recently used directories, by real path
	useSeq uint64
	jr     *journal // the active checkpoint, nil if none
}

// dirHandle is an open directory of the root: creating a name in it is
// one system call instead of a walk from the root. Handles are dropped
// whenever a directory is moved or removed, so a real path always names
// the directory its handle holds.
type dirHandle struct {
	root *os.Root
	used uint64
}

const maxDirHandles = 32

// Options configure a Stage.
type Options struct {
	// MergedUsr makes the aliasing symlinks (/bin → usr/bin, …) before
	// any package is unpacked, as debootstrap's setup_merged_usr did
	// (see MergedUsrLinks). The alternative for suites whose packages
	// still ship files under /bin is to unpack unmerged and call MergeUsr
	// afterwards; suites whose base-files ships the symlinks need neither.
	MergedUsr bool
	// Arch is the Debian architecture of the root (amd64, arm64, …). It
	// picks the multilib directories MergedUsr links.
	Arch string
	// Epoch is the mtime of entries the stage makes itself (the root, the
	// merged-/usr symlinks, and WriteFile & co. given a zero ModTime).
	// Zero means the Unix epoch.
	Epoch time.Time
	// Logger receives debug and warning records; nil discards them.
	Logger *slog.Logger
	// OnConflict decides what happens when a package ships a path that
	// another package already ships (dpkg's file conflict; the dpkg layer
	// answers from Replaces). nil replaces, with a warning.
	OnConflict func(Conflict) (Resolution, error)
	// Skip, if set, says which shipped paths ("/usr/share/man/man1/x.1.gz")
	// are not unpacked (dpkg's path-exclude filters; dirLike: a directory
	// or symlink). They stay in the package's file list, as with dpkg.
	Skip func(path string, dirLike bool) bool
}

// Resolution is the answer to a Conflict.
type Resolution int

const (
	// Replace: the new package takes the path over (it Replaces the old
	// one); the path leaves the old package's file list.
	Replace Resolution = iota
	// KeepExisting: the installed package Replaces the new one; the entry
	// is skipped and not listed for the new package.
	KeepExisting
)

func (r Resolution) String() string {
	if r == KeepExisting {
		return "keep"
	}
	return "replace"
}

// Conflict is a path shipped by two packages.
type Conflict struct {
	Path string // as shipped, e.g. "/usr/bin/foo"
	Old  string // package that has it
	New  string // package being unpacked
	// Aliased: the two packages shipped different paths that are one
	// object on disk (through a symlinked directory, e.g. /bin/foo and
	// /usr/bin/foo with merged /usr). dpkg does not see these; the new
	// file replaces the old one silently and both lists keep their path.
	// OnConflict is not asked about them.
	Aliased    bool
	Resolution Resolution
}

// pkgRec is one package's dpkg file list.
type pkgRec struct {
	names []string        // in tar order
	have  map[string]bool // names still listed
	md5   map[string]string
}

func newPkgRec() *pkgRec {
	return &pkgRec{have: make(map[string]bool), md5: make(map[string]string)}
}

func (r *pkgRec) add(name string) {
	if _, seen := r.have[name]; seen {
		r.have[name] = true
		return
	}
	r.names = append(r.names, name)
	r.have[name] = true
}

func (r *pkgRec) files() []string {
	out := make([]string, 0, len(r.names))
	for _, n := range r.names {
		if r.have[n] {
			out = append(out, n)
		}
	}
	return out
}

// MetaPath is where Save writes the table of the staging directory dir:
// next to it, as DIR.meta.
func MetaPath(dir string) string { return filepath.Clean(dir) + ".meta" }

const spoolPrefix = ".debstrap-spool-"

func newStage(dir string, root *os.Root, opts Options) *Stage {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.Epoch.IsZero() {
		opts.Epoch = time.Unix(0, 0)
	}
	opts.Epoch = opts.Epoch.UTC()
	s := &Stage{
		dir:    dir,
		root:   root,
		opts:   opts,
		log:    log,
		nodes:  make(map[string]*node),
		pkgs:   make(map[string]*pkgRec),
		owners: make(map[string][]string),
	}
	return s
}

// Create makes a new staging root in dir, which must not exist or be an
// empty directory.
func Create(dir string, opts Options) (*Stage, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("rootfs: %w", err)
	}
	switch fi, err := os.Stat(abs); {
	case err == nil:
		if !fi.IsDir() {
			return nil, fmt.Errorf("rootfs: staging directory %s: %w", abs, errNotDir)
		}
		ents, err := os.ReadDir(abs)
		if err != nil {
			return nil, fmt.Errorf("rootfs: %w", err)
		}
		if len(ents) > 0 {
			return nil, fmt.Errorf("rootfs: staging directory %s is not empty", abs)
		}
		if err := os.Chmod(abs, 0o700); err != nil {
			return nil, fmt.Errorf("rootfs: %w", err)
		}
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(filepath.Dir(abs), 0o755); err != nil {
			return nil, fmt.Errorf("rootfs: %w", err)
		}
		if err := os.Mkdir(abs, 0o700); err != nil {
			return nil, fmt.Errorf("rootfs: %w", err)
		}
	default:
		return nil, fmt.Errorf("rootfs: %w", err)
	}
	root, err := os.OpenRoot(abs)
	if err != nil {
		return nil, fmt.Errorf("rootfs: %w", err)
	}
	s := newStage(abs, root, opts)
	s.top = &node{path: "/", typ: tar.TypeDir, m: &meta{mode: 0o755, mtime: s.opts.Epoch}, kids: make(map[string]*node)}
	s.nodes["/"] = s.top
	if opts.MergedUsr {
		if err := s.setupMergedUsr(); err != nil {
			root.Close()
			return nil, fmt.Errorf("rootfs: merged /usr: %w", err)
		}
	}
	return s, nil
}

// Dir is the staging directory (absolute).
func (s *Stage) Dir() string { return s.dir }

// Close removes the stage's scratch files and releases the directory. It
// does not Save.
func (s *Stage) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	s.dropDirs()
	err := s.dropTmp()
	if jerr := s.endJournal(); err == nil {
		err = jerr
	}
	if cerr := s.root.Close(); err == nil {
		err = cerr
	}
	return err
}

// Lookup returns the entry at exactly path (symlinks in it are not
// followed). path is absolute or relative to the root.
func (s *Stage) Lookup(p string) (Entry, bool) {
	c, err := cleanName(p)
	if err != nil {
		return Entry{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.nodes[listNameReal(c)]
	if n == nil {
		return Entry{}, false
	}
	return n.entry(), true
}

func listNameReal(clean string) string { return "/" + clean }

// Stat resolves path inside the root, following symlinks with the root
// as "/", and returns the entry it ends at.
func (s *Stage) Stat(p string) (Entry, error) { return s.stat(p, true) }

// Lstat is Stat without following a final symlink.
func (s *Stage) Lstat(p string) (Entry, error) { return s.stat(p, false) }

func (s *Stage) stat(p string, follow bool) (Entry, error) {
	c, err := cleanName(p)
	if err != nil {
		return Entry{}, fmt.Errorf("rootfs: %s: %w", p, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	real, n, err := s.resolve(c, follow)
	if err != nil {
		return Entry{}, fmt.Errorf("rootfs: %s: %w", p, err)
	}
	if n == nil {
		return Entry{}, fmt.Errorf("rootfs: %s: %s: %w", p, real, fs.ErrNotExist)
	}
	return n.entry(), nil
}

// Entries returns every path of the root sorted by path (byte order).
// Of several hard links to one file the least path is the TypeReg entry
// and the others are TypeLink entries naming it, so they come after it.
func (s *Stage) Entries() []Entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Entry, 0, len(s.nodes))
	for _, n := range s.nodes {
		out = append(out, n.entry())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// Packages returns the unpacked packages in the order they were committed.
func (s *Stage) Packages() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.order...)
}

// Files returns the file list dpkg keeps for pkg (info/PKG.list): the
// paths as shipped, in archive order, starting with "/.", without those
// a later package took over. nil if pkg was not unpacked.
func (s *Stage) Files(pkg string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.pkgs[pkg]
	if r == nil {
		return nil
	}
	return r.files()
}

// MD5Sums returns the MD5 of each regular file pkg shipped and still
// lists (hard links included), keyed by path as shipped.
func (s *Stage) MD5Sums(pkg string) map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.pkgs[pkg]
	if r == nil {
		return nil
	}
	out := make(map[string]string, len(r.md5))
	for k, v := range r.md5 {
		if r.have[k] {
			out[k] = v
		}
	}
	return out
}

func (s *Stage) addOwner(name, pkg string) {
	for _, o := range s.owners[name] {
		if o == pkg {
			return
		}
	}
	s.owners[name] = append(s.owners[name], pkg)
}

func (s *Stage) dropOwner(name, pkg string) {
	l := s.owners[name]
	for i, o := range l {
		if o == pkg {
			l = append(l[:i:i], l[i+1:]...)
			break
		}
	}
	if len(l) == 0 {
		delete(s.owners, name)
	} else {
		s.owners[name] = l
	}
}

func randomSuffix() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// tmpName returns a fresh scratch name inside the root for an object
// about to be renamed into place (same filesystem, so rename works).
// Callers hold s.mu and call dropTmp when done, so that the staging
// directory holds nothing the table does not know between calls.
func (s *Stage) tmpName() (string, error) {
	if s.tmp == "" {
		name := spoolPrefix + randomSuffix()
		if err := s.root.Mkdir(name, 0o700); err != nil {
			return "", err
		}
		s.tmp = name
	}
	s.tmpSeq++
	return fmt.Sprintf("%s/%d", s.tmp, s.tmpSeq), nil
}

func (s *Stage) dropTmp() error {
	if s.tmp == "" {
		return nil
	}
	err := s.root.RemoveAll(s.tmp)
	s.tmp = ""
	return err
}

// dirRoot returns an os.Root for the directory n. Callers hold s.mu.
func (s *Stage) dirRoot(n *node) (*os.Root, error) {
	if n == s.top {
		return s.root, nil
	}
	s.useSeq++
	if h := s.dirs[n.path]; h != nil {
		h.used = s.useSeq
		return h.root, nil
	}
	r, err := s.root.OpenRoot(rel(n.path))
	if err != nil {
		return nil, err
	}
	if s.dirs == nil {
		s.dirs = make(map[string]*dirHandle)
	}
	if len(s.dirs) >= maxDirHandles {
		var lru string
		var min uint64
		for p, h := range s.dirs {
			if lru == "" || h.used < min {
				lru, min = p, h.used
			}
		}
		s.dirs[lru].root.Close()
		delete(s.dirs, lru)
	}
	s.dirs[n.path] = &dirHandle{root: r, used: s.useSeq}
	return r, nil
}

func (s *Stage) dropDirs() {
	for p, h := range s.dirs {
		h.root.Close()
		delete(s.dirs, p)
	}
}

func (s *Stage) checkOpen() error {
	if s.closed {
		return errors.New("rootfs: stage is closed")
	}
	return nil
}

// diskFileMode is the mode a regular file gets on disk: readable and
// writable by the builder, executable if any x bit is set, nothing
// special (setuid and co. live in the table only).
func diskFileMode(mode int64) os.FileMode {
	if mode&0o111 != 0 {
		return 0o755
	}
	return 0o644
}
