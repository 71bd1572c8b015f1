package mirror

import (
	"bufio"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"golang.org/x/sys/unix"

	"github.com/debstrap/debstrap/apt"
	"github.com/debstrap/debstrap/bootstrap"
	"github.com/debstrap/debstrap/cache"
	"github.com/debstrap/debstrap/lock"
)

// Request is a new selection to add: a build's selection (Config: suite,
// MIRRORs, variant, include, architectures, …) or a lock's set.
type Request struct {
	Config      bootstrap.Config
	Lock        *lock.Lock
	WithSources bool
}

// Status draws a phase's progress line; a progress bar does.
type Status interface{ Status(line string) }

// Options are one mirror run.
type Options struct {
	Dir   string
	Cache *cache.Cache
	// Add, if set, is resolved and recorded; every recorded selection is
	// resolved again in any case, so the mirror follows the archive.
	Add *Request
	// Prune removes the pool files and suites no recorded selection needs.
	Prune bool
	// Forget are recorded selections to drop (numbers from 1, as List
	// shows them), before the run; with Prune their files go too.
	Forget []int
	// SignWith, if set, makes new indexes that list only what the pool
	// holds, in a Release signed with this (private) key.
	SignWith *openpgp.Entity
	Logger   *slog.Logger
	Status   Status // nil: none
	// beforeSwitch runs when the pool is complete and the new dists are
	// staged, before they replace the old (tests: an interrupted run).
	beforeSwitch func() error
}

// Summary is what a run did.
type Summary struct {
	Selections int
	Suites     []string // NAME/dists/SUITE written
	Packages   int      // .debs the selections need
	Sources    int      // source package files (--with-sources)
	Bytes      int64    // of the pool files needed
	Added      int      // files placed by this run
	AddedBytes int64
	Pruned     int
	PrunedSize int64
	Time       time.Duration
}

// poolFile is one file of a pool a selection needs.
type poolFile struct {
	rel    string // NAME/pool/… relative to DIR
	sha256 string
	size   int64
	urls   []string
}

// suite is one dists/SUITE of one archive directory, as all selections
// that read it need it.
type suite struct {
	name, suite string
	archive     *apt.Archive
	components  []string
	archs       []string
	sources     bool
}

func (s *suite) rel() string { return s.name + "/dists/" + s.suite }

// Run updates the mirror in o.Dir: it resolves the selections, places
// what they need in the pool, then switches each suite's dists/ to the
// new Release and indexes. A run that fails or is killed leaves the
// previous mirror whole: pool files are added (verified, under temp
// names) before any dists/ changes, and removed (--prune) only after.
func Run(ctx context.Context, o Options) (*Summary, error) {
	start := time.Now()
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(dir, metaDir), 0o755); err != nil {
		return nil, fmt.Errorf("mirror directory: %w", err)
	}
	unlock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	defer unlock()
	tmp := filepath.Join(dir, metaDir, "tmp")
	// What a killed run left: staged dists, half-copied files.
	if err := os.RemoveAll(tmp); err != nil {
		return nil, fmt.Errorf("cleaning %s: %w", tmp, err)
	}
	if err := os.Mkdir(tmp, 0o755); err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)

	st, err := readState(dir)
	if err != nil {
		return nil, err
	}
	switch {
	case st.SignedBy != "" && o.SignWith == nil:
		return nil, fmt.Errorf("%s is reindexed and signed with key %s, which its clients trust: pass --reindex --sign-with=KEYFILE again (to go back to the archive's own indexes, remove the mirror's dists/ directories and %s)", dir, st.SignedBy, filepath.Join(dir, metaDir, stateName))
	case o.SignWith != nil:
		st.SignedBy = fmt.Sprintf("%X", o.SignWith.PrimaryKey.Fingerprint)
	}
	m := &run{o: o, log: log, dir: dir, tmp: tmp, st: st, suites: map[string]*suite{}, pool: map[string]*poolFile{}}
	sels, err := forget(st.Selections, o.Forget)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	gathered := map[string]bool{}
	if o.Add != nil {
		sel, err := m.add(ctx, *o.Add)
		if err != nil {
			return nil, err
		}
		if slices.ContainsFunc(sels, func(s Selection) bool { return s.key() == sel.key() }) {
			log.Info("the selection is recorded already; updating the mirror")
		} else {
			sels = append(slices.Clip(sels), sel)
		}
		gathered[sel.key()] = true
	}
	if len(sels) == 0 && len(o.Forget) == 0 {
		return nil, fmt.Errorf("%s records no selection: give SUITE (and flags) or --lock", dir)
	}
	for i, sel := range sels {
		if gathered[sel.key()] {
			continue
		}
		gathered[sel.key()] = true
		m.status(fmt.Sprintf("resolve %d/%d: %s", i+1, len(sels), sel.Suite))
		if err := m.gather(ctx, sel); err != nil {
			return nil, fmt.Errorf("recorded selection %d (%s): %w", i+1, sel.Suite, err)
		}
	}
	sum := &Summary{Selections: len(sels)}
	if err := m.placePool(ctx, sum); err != nil {
		return nil, err
	}
	staged, err := m.stageDists(ctx)
	if err != nil {
		return nil, err
	}
	if o.beforeSwitch != nil {
		if err := o.beforeSwitch(); err != nil {
			return nil, err
		}
	}
	for _, s := range m.sortedSuites() {
		if err := switchDir(dir, staged[s.rel()], filepath.Join(dir, filepath.FromSlash(s.rel()))); err != nil {
			return nil, fmt.Errorf("switching %s: %w", s.rel(), err)
		}
		sum.Suites = append(sum.Suites, s.rel())
	}
	if o.SignWith != nil {
		if err := writeFileAtomic(filepath.Join(dir, KeyFile), armoredPublic(o.SignWith)); err != nil {
			return nil, err
		}
	}
	st.Selections = sels
	st.Dists = mergeSorted(st.Dists, sum.Suites)
	if o.Prune {
		if err := m.prune(sum); err != nil {
			return nil, err
		}
	}
	if err := writeState(dir, st); err != nil {
		return nil, err
	}
	sum.Time = time.Since(start)
	return sum, nil
}

// forget drops the selections numbered in drop (from 1).
func forget(sels []Selection, drop []int) ([]Selection, error) {
	if len(drop) == 0 {
		return sels, nil
	}
	out := make([]Selection, 0, len(sels))
	for _, n := range drop {
		if n < 1 || n > len(sels) {
			return nil, fmt.Errorf("--forget=%d: the mirror records %d selections (see --list)", n, len(sels))
		}
	}
	for i, s := range sels {
		if !slices.Contains(drop, i+1) {
			out = append(out, s)
		}
	}
	return out, nil
}

// List returns the selections recorded in dir, numbered from 1 in
// order, one line each.
func List(dir string) ([]string, error) {
	st, err := readState(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for i, s := range st.Selections {
		line := fmt.Sprintf("%d: %s", i+1, s.Suite)
		if s.Lock != nil {
			line += fmt.Sprintf(" lock of %d packages", len(s.Lock.Packages))
		} else {
			line += " --variant=" + cmp.Or(s.Variant, "important")
		}
		line += " --architectures=" + strings.Join(s.Architectures, ",")
		if len(s.Include) > 0 {
			line += " --include=" + strings.Join(s.Include, ",")
		}
		for _, f := range []struct {
			on   bool
			name string
		}{{s.Recommends, "--include-recommends"}, {s.MergedUsr, "--merged-usr"}, {s.WithSources, "--with-sources"}} {
			if f.on {
				line += " " + f.name
			}
		}
		line += fmt.Sprintf(" (%d sources)", len(s.Sources))
		out = append(out, line)
	}
	return out, nil
}

// KeyFile is where a mirror reindexed with --sign-with keeps the public
// key that verifies it, for clients' keyrings.
const KeyFile = "debstrap-mirror.asc"

type run struct {
	o        Options
	log      *slog.Logger
	dir, tmp string
	st       *state
	suites   map[string]*suite
	pool     map[string]*poolFile
	// binaries are the pool paths of the .debs (for reindexing).
	binaries map[string]bool
	// sourcePkgs are the source packages wanted, per suite key.
	sourcePkgs map[string][]srcWant
}

type srcWant struct {
	component, name, version string
}

func (m *run) status(line string) {
	if m.o.Status != nil {
		m.o.Status.Status(line)
	}
}

// add resolves a new request and returns it as a selection.
func (m *run) add(ctx context.Context, r Request) (Selection, error) {
	if r.Lock != nil {
		sel := Selection{Suite: r.Lock.Suite, Architectures: r.Lock.Architectures, Keyring: r.Config.Keyring,
			NoCheckValidUntil: r.Config.NoCheckValidUntil, WithSources: r.WithSources, Lock: r.Lock}
		for _, s := range r.Lock.Sources {
			sel.Sources = append(sel.Sources, s.Entry().String())
		}
		return sel, m.gather(ctx, sel)
	}
	cfg := r.Config
	for _, inc := range cfg.Include {
		if strings.HasSuffix(inc, ".deb") {
			return Selection{}, fmt.Errorf("--include %s: a .deb file is in no archive, so no mirror can carry it", inc)
		}
	}
	m.status("resolve " + cfg.Suite)
	plan, err := bootstrap.Resolve(ctx, m.o.Cache, cfg)
	if err != nil {
		return Selection{}, err
	}
	sel := Selection{Suite: cfg.Suite, Architectures: append([]string{plan.Architecture}, plan.Foreign...),
		Keyring: cfg.Keyring, Variant: cfg.Variant, Include: cfg.Include, Recommends: cfg.Recommends,
		MergedUsr: cfg.MergedUsr, NoCheckValidUntil: cfg.NoCheckValidUntil, WithSources: r.WithSources}
	if sel.Keyring != "" {
		if sel.Keyring, err = filepath.Abs(sel.Keyring); err != nil {
			return Selection{}, err
		}
	}
	for _, e := range plan.Entries {
		sel.Sources = append(sel.Sources, e.String())
	}
	return sel, m.collect(ctx, sel, plan)
}

// config is the build configuration a recorded selection stands for.
func (sel Selection) config(log *slog.Logger) bootstrap.Config {
	return bootstrap.Config{Suite: sel.Suite, Mirrors: sel.Sources, Architectures: sel.Architectures,
		Keyring: sel.Keyring, Variant: sel.Variant, Include: sel.Include, Recommends: sel.Recommends,
		MergedUsr: sel.MergedUsr, NoUpdates: true, NoCheckValidUntil: sel.NoCheckValidUntil, Logger: log}
}

// gather resolves a recorded selection again (or opens a lock's sources)
// and collects what it needs.
func (m *run) gather(ctx context.Context, sel Selection) error {
	cfg := sel.config(m.log)
	if sel.Lock != nil {
		if err := sel.Lock.Check(); err != nil {
			return fmt.Errorf("lock: %w", err)
		}
		plan, err := bootstrap.Open(ctx, m.o.Cache, cfg)
		if err != nil {
			return err
		}
		return m.collectLock(ctx, sel, plan)
	}
	plan, err := bootstrap.Resolve(ctx, m.o.Cache, cfg)
	if err != nil {
		return err
	}
	return m.collect(ctx, sel, plan)
}

// addSuites records the suites of plan's sources, with the components
// and architectures sel reads from them.
func (m *run) addSuites(sel Selection, plan *bootstrap.Plan) error {
	for i, a := range plan.Archives {
		e := plan.Entries[i]
		s := &suite{name: ArchiveName(e.URI), suite: e.Suite, archive: a}
		if old := m.suites[s.rel()]; old != nil {
			if old.archive.Release().FileSHA256 != a.Release().FileSHA256 {
				return fmt.Errorf("%s and %s gave different Releases of %s (the archive changed during the run, or two archives share the directory name %s): run again, or mirror them into different directories",
					old.archive.ReleaseURL(), a.ReleaseURL(), e.Suite, s.name)
			}
			s = old
		} else {
			m.suites[s.rel()] = s
		}
		s.components = mergeSorted(s.components, e.Components)
		s.archs = mergeSorted(s.archs, sel.Architectures)
		s.sources = s.sources || sel.WithSources
	}
	return nil
}

// suiteOf is the suite a package of plan came from.
func (m *run) suiteOf(plan *bootstrap.Plan, mirror, suiteName string) (*suite, error) {
	for i, e := range plan.Entries {
		if strings.TrimRight(e.URI, "/") == mirror && e.Suite == suiteName {
			return m.suites[ArchiveName(plan.Entries[i].URI)+"/dists/"+suiteName], nil
		}
	}
	return nil, fmt.Errorf("no source %s %s", mirror, suiteName)
}

func (m *run) collect(ctx context.Context, sel Selection, plan *bootstrap.Plan) error {
	if err := m.addSuites(sel, plan); err != nil {
		return err
	}
	for _, p := range plan.Packages {
		if p.Index == nil || p.Index.Suite == "local" {
			return fmt.Errorf("package %s %s: a .deb file is in no archive, so no mirror can carry it", p.Name, p.Version)
		}
		s, err := m.suiteOf(plan, p.Index.Mirror, p.Index.Suite)
		if err != nil {
			return fmt.Errorf("package %s: %w", p.Name, err)
		}
		if err := m.want(s.name, p.Filename, p.SHA256, p.Size, p.URL(), true); err != nil {
			return err
		}
		if sel.WithSources {
			name, version := bootstrap.SplitSource(p.Source)
			name, version = cmp.Or(name, p.Name), cmp.Or(version, p.Version)
			m.wantSource(s, p.Index.Component, name, version)
		}
	}
	return nil
}

func (m *run) collectLock(ctx context.Context, sel Selection, plan *bootstrap.Plan) error {
	if err := m.addSuites(sel, plan); err != nil {
		return err
	}
	l := sel.Lock
	for _, lp := range l.Packages {
		src := l.SourceOf(lp)
		if src == nil {
			return fmt.Errorf("lock: package %s %s comes from no archive (%s), so no mirror can carry it", lp.Name, lp.Version, lp.Filename)
		}
		s, err := m.suiteOf(plan, strings.TrimRight(src.URI, "/"), src.Suite)
		if err != nil {
			return fmt.Errorf("lock: package %s: %w", lp.Name, err)
		}
		urls := []string{strings.TrimRight(src.URI, "/") + "/" + lp.Filename}
		for _, f := range l.FallbackMirrors {
			urls = append(urls, strings.TrimRight(f, "/")+"/"+lp.Filename)
		}
		if err := m.want(s.name, lp.Filename, lp.SHA256, lp.Size, urls[0], true, urls[1:]...); err != nil {
			return err
		}
		if sel.WithSources {
			name, version := lp.Name, lp.Version
			if lp.Source != "" {
				name, version = lp.Source, cmp.Or(lp.SourceVersion, lp.Version)
			}
			m.wantSource(s, lp.Component, name, version)
		}
	}
	return nil
}

func (m *run) wantSource(s *suite, component, name, version string) {
	if m.sourcePkgs == nil {
		m.sourcePkgs = map[string][]srcWant{}
	}
	w := srcWant{component: component, name: name, version: version}
	if !slices.Contains(m.sourcePkgs[s.rel()], w) {
		m.sourcePkgs[s.rel()] = append(m.sourcePkgs[s.rel()], w)
	}
}

// want records a pool file; the same path with another hash is an error.
func (m *run) want(name, filename, sum string, size int64, url string, binary bool, more ...string) error {
	if !localPath(filename) || !strings.HasPrefix(filename, "pool/") {
		return fmt.Errorf("%s: the index names %q, not a path under pool/", url, filename)
	}
	rel := name + "/" + filename
	if f := m.pool[rel]; f != nil {
		if f.sha256 != sum || f.size != size {
			return fmt.Errorf("%s: two archives in %s/%s have different files at %s (sha256 %s and %s)", url, m.dir, name, filename, f.sha256, sum)
		}
		for _, u := range append([]string{url}, more...) {
			if !slices.Contains(f.urls, u) {
				f.urls = append(f.urls, u)
			}
		}
		return nil
	}
	m.pool[rel] = &poolFile{rel: rel, sha256: sum, size: size, urls: append([]string{url}, more...)}
	if binary {
		if m.binaries == nil {
			m.binaries = map[string]bool{}
		}
		m.binaries[rel] = true
	}
	return nil
}

func (m *run) sortedSuites() []*suite {
	out := make([]*suite, 0, len(m.suites))
	for _, s := range m.suites {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].rel() < out[j].rel() })
	return out
}

// placePool fetches what the pool lacks (from the cache first) and places
// each file, verified, at its path.
func (m *run) placePool(ctx context.Context, sum *Summary) error {
	if err := m.sourceFiles(ctx); err != nil {
		return err
	}
	rels := make([]string, 0, len(m.pool))
	for rel := range m.pool {
		rels = append(rels, rel)
	}
	sort.Strings(rels)
	var items []cache.Item
	var missing []*poolFile
	for _, rel := range rels {
		f := m.pool[rel]
		sum.Bytes += f.size
		if m.binaries[rel] {
			sum.Packages++
		} else {
			sum.Sources++
		}
		if m.present(f) {
			continue
		}
		missing = append(missing, f)
		items = append(items, cache.Item{Name: path.Base(rel), URLs: f.urls, Size: f.size, SHA256: f.sha256})
	}
	if len(items) == 0 {
		return nil
	}
	m.log.Info("fetching what the mirror lacks", "files", len(items))
	paths, err := m.o.Cache.FetchAll(ctx, items)
	if err != nil {
		return err
	}
	for i, f := range missing {
		if err := ctx.Err(); err != nil {
			return err
		}
		m.status(fmt.Sprintf("place %d/%d", i+1, len(missing)))
		if err := m.place(paths[i], f); err != nil {
			return err
		}
		m.st.Pool[f.rel] = PoolFile{SHA256: f.sha256, Size: f.size}
		sum.Added++
		sum.AddedBytes += f.size
	}
	// Recorded now: a run killed later need not check these files again.
	return writeState(m.dir, m.st)
}

// present reports whether f is in place: recorded with its hash by an
// earlier run, and of its size on disk (a file someone replaced with one
// of another size is placed again; the hash is not computed again for
// every file of a large mirror on every run).
func (m *run) present(f *poolFile) bool {
	rec, ok := m.st.Pool[f.rel]
	if !ok || rec.SHA256 != f.sha256 {
		return false
	}
	fi, err := os.Lstat(filepath.Join(m.dir, filepath.FromSlash(f.rel)))
	return err == nil && fi.Mode().IsRegular() && fi.Size() == f.size
}

// place copies the verified cache file src to f's path: through a temp
// name in DIR, hashed on the way (the copy must be what the chain vouched
// for, whatever happened to the cache file), then renamed.
func (m *run) place(src string, f *poolFile) error {
	dst := filepath.Join(m.dir, filepath.FromSlash(f.rel))
	if err := mkdirInside(m.dir, filepath.Dir(dst)); err != nil {
		return err
	}
	return copyVerified(src, dst, m.tmp, f.sha256, f.size)
}

// copyVerified copies src to dst through a temp file in tmp, checking
// size and SHA-256 before the rename.
func copyVerified(src, dst, tmp, sum string, size int64) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.CreateTemp(tmp, "place-*")
	if err != nil {
		return err
	}
	name := out.Name()
	ok := false
	defer func() {
		if !ok {
			out.Close()
			os.Remove(name)
		}
	}()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(out, h), io.LimitReader(in, size+1))
	if err != nil {
		return fmt.Errorf("copying %s: %w", src, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); n != size || got != sum {
		return fmt.Errorf("%s: expected %d bytes with sha256 %s, got %d bytes with %s; not placed", src, size, sum, n, got)
	}
	if err := out.Close(); err != nil {
		return err
	}
	if err := os.Chmod(name, 0o644); err != nil {
		return err
	}
	if err := os.Rename(name, dst); err != nil {
		return err
	}
	ok = true
	return nil
}

// mkdirInside creates d (under root) refusing to pass a symlink: what the
// mirror writes stays inside it.
func mkdirInside(root, d string) error {
	rel, err := filepath.Rel(root, d)
	if err != nil || !filepath.IsLocal(rel) {
		return fmt.Errorf("%s is outside %s", d, root)
	}
	cur := root
	for _, part := range strings.Split(rel, string(filepath.Separator)) {
		cur = filepath.Join(cur, part)
		fi, err := os.Lstat(cur)
		switch {
		case errors.Is(err, os.ErrNotExist):
			if err := os.Mkdir(cur, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
				return err
			}
		case err != nil:
			return err
		case !fi.IsDir():
			return fmt.Errorf("%s is not a directory", cur)
		}
	}
	return nil
}

// switchDir puts the staged directory at dst: exchanged atomically with
// an old one (renameat2 RENAME_EXCHANGE), which is then removed, so a
// client sees the old suite or the new, never a mix.
func switchDir(root, staged, dst string) error {
	if err := mkdirInside(root, filepath.Dir(dst)); err != nil {
		return err
	}
	err := unix.Renameat2(unix.AT_FDCWD, staged, unix.AT_FDCWD, dst, unix.RENAME_EXCHANGE)
	if errors.Is(err, syscall.ENOENT) {
		return os.Rename(staged, dst)
	}
	if errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENOSYS) {
		// A file system without exchange: move the old aside first.
		old := staged + ".old"
		if err := os.Rename(dst, old); err != nil {
			return err
		}
		if err := os.Rename(staged, dst); err != nil {
			return err
		}
		return os.RemoveAll(old)
	}
	if err != nil {
		return err
	}
	return os.RemoveAll(staged) // now the old suite
}

// prune removes pool files and suites that no selection needs.
func (m *run) prune(sum *Summary) error {
	need := map[string]bool{}
	for rel := range m.pool {
		need[rel] = true
	}
	entries, err := os.ReadDir(m.dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !e.IsDir() || e.Name() == metaDir {
			continue
		}
		pool := filepath.Join(m.dir, e.Name(), "pool")
		err := filepath.WalkDir(pool, func(p string, d os.DirEntry, err error) error {
			if err != nil {
				if errors.Is(err, os.ErrNotExist) && p == pool {
					return filepath.SkipDir
				}
				return err
			}
			if d.IsDir() {
				return nil
			}
			rel, _ := filepath.Rel(m.dir, p)
			rel = filepath.ToSlash(rel)
			if need[rel] {
				return nil
			}
			if fi, err := d.Info(); err == nil {
				sum.PrunedSize += fi.Size()
			}
			sum.Pruned++
			delete(m.st.Pool, rel)
			return os.Remove(p)
		})
		if err != nil {
			return fmt.Errorf("pruning %s: %w", pool, err)
		}
		removeEmptyDirs(pool)
	}
	for rel := range m.st.Pool {
		if !need[rel] {
			delete(m.st.Pool, rel)
		}
	}
	var kept []string
	for _, d := range m.st.Dists {
		if m.suites[d] != nil {
			kept = append(kept, d)
			continue
		}
		if localPath(d) && strings.Contains(d, "/dists/") {
			if err := os.RemoveAll(filepath.Join(m.dir, filepath.FromSlash(d))); err != nil {
				return err
			}
			m.log.Info("pruned a suite no selection reads", "suite", d)
		}
	}
	m.st.Dists = kept
	return nil
}

// removeEmptyDirs removes the empty directories under (not) root.
func removeEmptyDirs(root string) {
	var dirs []string
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() && p != root {
			dirs = append(dirs, p)
		}
		return nil
	})
	for i := len(dirs) - 1; i >= 0; i-- {
		os.Remove(dirs[i]) // fails, as it should, when not empty
	}
}

func mergeSorted(a, b []string) []string {
	out := append(slices.Clone(a), b...)
	slices.Sort(out)
	return slices.Compact(out)
}

// lockDir takes DIR/.debstrap/lock so that two runs never write one
// mirror at once.
func lockDir(dir string) (func(), error) {
	p := filepath.Join(dir, metaDir, "lock")
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%s: another debstrap mirror is writing this mirror", dir)
		}
		return nil, fmt.Errorf("locking %s: %w", p, err)
	}
	return func() { f.Close() }, nil
}

// stanzas reads r stanza by stanza (blank-line separated), calling fn with
// each stanza's text including its final newline.
func stanzas(r io.Reader, fn func(stanza []byte) error) error {
	br := bufio.NewReaderSize(r, 1<<16)
	var cur []byte
	for {
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			// A line longer than the buffer: keep reading it.
			full := append([]byte(nil), line...)
			for err == bufio.ErrBufferFull {
				line, err = br.ReadSlice('\n')
				full = append(full, line...)
			}
			line = full
		}
		if len(line) > 0 {
			if strings.TrimSpace(string(line)) == "" {
				if len(cur) > 0 {
					if ferr := fn(cur); ferr != nil {
						return ferr
					}
					cur = nil
				}
			} else {
				cur = append(cur, line...)
				if line[len(line)-1] != '\n' {
					cur = append(cur, '\n')
				}
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
	}
	if len(cur) > 0 {
		return fn(cur)
	}
	return nil
}

// field returns the value of the first line "Name: value" of a stanza.
func field(stanza []byte, name string) string {
	for _, line := range strings.Split(string(stanza), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(k, name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
