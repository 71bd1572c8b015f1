// Package bootstrap is the pipeline of one build: from the command line's
// suite, mirrors and variant to the verified archives, the resolved package
// set and the downloaded .debs.
package bootstrap

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/ProtonMail/go-crypto/openpgp"
	"golang.org/x/sync/errgroup"

	"github.com/debstrap/debstrap/apt"
	"github.com/debstrap/debstrap/cache"
	"github.com/debstrap/debstrap/distro"
	"github.com/debstrap/debstrap/keyring"
	"github.com/debstrap/debstrap/resolve"
)

// Config is what a build is asked to do, as the command line says it.
type Config struct {
	Suite         string
	Mirrors       []string // MIRROR arguments; empty = the default mirror
	Components    []string // nil = the distribution's default
	Architectures []string // the first is the native one; nil = the host's
	Keyring       string   // file or directory; "" = the embedded keys
	Variant       string
	Include       []string
	Recommends    bool
	// MergedUsr merges /usr the debootstrap way: the /bin → usr/bin …
	// links are made before unpacking, and "usrmerge | usr-is-merged" is
	// satisfied by usr-is-merged (when the archive has it) rather than by
	// usrmerge and its Perl.
	MergedUsr bool
	// NoUpdates leaves out a stable suite's -updates and security suites,
	// which are otherwise added when the sources are not spelled out.
	NoUpdates bool
	// NoCheckValidUntil accepts Release files whose Valid-Until has
	// passed, from every source (apt's Acquire::Check-Valid-Until=false);
	// a source's own [check-valid-until=no] does it for that one alone.
	NoCheckValidUntil bool
	// Snapshot, a time (see apt.SnapshotID), reads every source as the
	// snapshot service at SnapshotMirror kept it then (apt.Entry.Snapshot).
	Snapshot       string
	SnapshotMirror string
	// FallbackMirrors are more places to fetch a locked .deb from by its
	// pool path (a snapshot archive); a lock records them too.
	FallbackMirrors []string

	// MirrorEnv is $DEBSTRAP_MIRROR and HostRoot the root whose apt sources
	// give the default mirror ("/"); both are fields so tests can set them.
	MirrorEnv string
	HostRoot  string

	Logger *slog.Logger
}

// Plan is a resolved build: the sources it reads and the packages it installs.
type Plan struct {
	Release      distro.Release // of the asked suite, from the codename table and the archive
	Architecture string
	Foreign      []string // further dpkg architectures
	Entries      []apt.Entry
	Archives     []*apt.Archive
	Packages     []*apt.Package // resolved, sorted by name
	Candidates   int            // stanzas read from all indexes
}

// Resolve opens every source, reads its indexes and resolves the variant.
func Resolve(ctx context.Context, c *cache.Cache, cfg Config) (*Plan, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if len(cfg.Architectures) == 0 {
		cfg.Architectures = []string{HostArchitecture()}
	}
	// Local .debs first: a bad path fails before anything is fetched.
	local, include, err := localDebs(cfg.Include, cfg.Architectures)
	if err != nil {
		return nil, err
	}
	p, err := Open(ctx, c, cfg)
	if err != nil {
		return nil, err
	}
	entries := p.Entries
	// Read every Packages index, several at once.
	var mu sync.Mutex
	var all [][]*apt.Package
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for i, a := range p.Archives {
		for _, comp := range entries[i].Components {
			for _, arch := range cfg.Architectures {
				g.Go(func() error {
					pkgs, err := a.Packages(gctx, comp, arch)
					if err != nil {
						return err
					}
					mu.Lock()
					all = append(all, pkgs)
					mu.Unlock()
					return nil
				})
			}
		}
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	var candidates []*apt.Package
	for _, pkgs := range all {
		candidates = append(candidates, pkgs...)
	}
	candidates = append(candidates, local...)
	p.Candidates = len(candidates)
	var first []string
	if cfg.MergedUsr {
		if slices.ContainsFunc(candidates, func(c *apt.Package) bool { return c.Name == "usr-is-merged" }) {
			first = append(first, "usr-is-merged")
		} else {
			log.Info("--merged-usr: the archive has no usr-is-merged; the root is merged by the links alone")
		}
	}
	log.Debug("indexes read", "stanzas", len(candidates))

	res, err := resolve.Resolve(ctx, resolve.Request{
		Packages:     candidates,
		Variant:      cfg.Variant,
		Include:      include,
		Architecture: cfg.Architectures[0],
		Foreign:      cfg.Architectures[1:],
		Recommends:   cfg.Recommends,
		First:        first,
		// The main suite, never a local .deb's own index (ordered first).
		Suite: entries[0].Suite,
	})
	if err != nil {
		return nil, err
	}
	p.Packages = res.Packages
	return p, nil
}

// Open opens and verifies every source of cfg (the MIRROR arguments, or
// the default mirror, with the pockets a stable suite gets): the plan
// without packages. An added pocket the archive does not have is left
// out with a warning.
func Open(ctx context.Context, c *cache.Cache, cfg Config) (*Plan, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	rel, known := distro.Lookup(cfg.Suite)
	if len(cfg.Architectures) == 0 {
		cfg.Architectures = []string{HostArchitecture()}
	}
	if len(cfg.Components) == 0 {
		cfg.Components = rel.DefaultComponents()
	}
	entries, err := Entries(cfg)
	if err != nil {
		return nil, err
	}
	p := &Plan{Release: rel, Architecture: cfg.Architectures[0], Foreign: cfg.Architectures[1:], Entries: entries}

	var keys openpgp.EntityList
	if cfg.Keyring != "" {
		if keys, err = keyring.Load(cfg.Keyring); err != nil {
			return nil, fmt.Errorf("--keyring: %w", err)
		}
	} else if known {
		if keys, err = keyring.For(string(rel.Distribution)); err != nil {
			return nil, err
		}
	} else {
		// A suite outside the codename table (a derivative, a test
		// archive): trust what ships with debstrap for both distributions.
		deb, err := keyring.Debian()
		if err != nil {
			return nil, err
		}
		ubu, err := keyring.Ubuntu()
		if err != nil {
			return nil, err
		}
		keys = append(append(openpgp.EntityList{}, deb...), ubu...)
	}

	p.Archives = make([]*apt.Archive, len(entries))
	g, gctx := errgroup.WithContext(ctx)
	for i, e := range entries {
		g.Go(func() error {
			src := apt.Source{
				Mirror: e.URI, Suite: e.Suite, Components: e.Components,
				Architectures: cfg.Architectures, Keyring: keys, Order: i,
			}
			if sb := e.Options["signed-by"]; sb != "" && cfg.Keyring == "" {
				k, err := keyring.Load(sb)
				if err != nil {
					return fmt.Errorf("signed-by of %s: %w", e, err)
				}
				src.Keyring = k
			}
			check, err := e.CheckValidUntil()
			if err != nil {
				return err
			}
			log.Debug("opening archive", "source", e.String())
			a, err := apt.Open(gctx, c, src, apt.OpenOptions{IgnoreValidUntil: cfg.NoCheckValidUntil || !check})
			if err != nil {
				if e.Optional && missingSuite(err) {
					log.Warn("the archive has no "+e.Suite+"; building without it (pass it as MIRROR if it lives elsewhere)", "source", e.String(), "err", err)
					return nil
				}
				return err
			}
			p.Archives[i] = a
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	// Drop the added suites the archive turned out not to have.
	kept := p.Entries[:0:0]
	var archives []*apt.Archive
	for i, a := range p.Archives {
		if a != nil {
			kept = append(kept, p.Entries[i])
			archives = append(archives, a)
		}
	}
	p.Entries, p.Archives = kept, archives
	if len(p.Archives) == 0 {
		return nil, errors.New("no archive could be opened")
	}
	if !known || rel.Codename == "" {
		// "stable" and friends: the Release file says what they are today.
		if r, ok := distro.Lookup(p.Archives[0].Release().Codename); ok {
			p.Release = r
		}
	}
	return p, nil
}

// Entries turns the MIRROR arguments (or the default mirror) into sources.
// A stable suite whose sources are not spelled out as entries (no MIRROR,
// or bare mirror URLs only) also gets its -updates and security suites,
// as mmdebstrap does without a MIRROR: an image without security updates
// must not come by accident. --no-updates leaves them out.
func Entries(cfg Config) ([]apt.Entry, error) {
	var entries []apt.Entry
	bare := true
	for _, m := range cfg.Mirrors {
		if m == "" {
			continue
		}
		e, err := apt.ParseMirror(m, cfg.Suite, cfg.Components)
		if err != nil {
			return nil, err
		}
		bare = bare && apt.IsBareURL(m)
		entries = append(entries, e...)
	}
	if len(entries) > 0 && bare && !cfg.NoUpdates {
		var withPockets []apt.Entry
		for _, e := range entries {
			withPockets = append(withPockets, e)
			withPockets = append(withPockets, apt.Pockets(e, "", "")...)
		}
		entries = withPockets
	}
	if len(entries) == 0 {
		root := cfg.HostRoot
		if root == "" {
			root = "/"
		}
		e, err := apt.DefaultMirror(cfg.Suite, cfg.Components, cfg.MirrorEnv, root, !cfg.NoUpdates)
		if err != nil {
			return nil, err
		}
		entries = e
	}
	for i := range entries {
		if len(entries[i].Components) == 0 {
			entries[i].Components = cfg.Components
		}
	}
	if cfg.Snapshot != "" {
		// After the pockets: the security archive is found from the
		// mirror's own URL, then each goes to its snapshot.
		if cfg.SnapshotMirror == "" {
			return nil, errors.New("--snapshot: name the snapshot service's base URL (--snapshot-mirror=URL or $DEBSTRAP_SNAPSHOT_MIRROR); debstrap knows no service's address")
		}
		id, err := apt.SnapshotID(cfg.Snapshot)
		if err != nil {
			return nil, fmt.Errorf("--snapshot: %w", err)
		}
		for i, e := range entries {
			if entries[i], err = e.Snapshot(cfg.SnapshotMirror, id); err != nil {
				return nil, err
			}
		}
	}
	return entries, nil
}

// missingSuite reports whether opening a source failed only because the
// archive has no such suite (no InRelease, no Release).
func missingSuite(err error) bool {
	var he *cache.HTTPError
	return errors.As(err, &he) && (he.StatusCode == http.StatusNotFound || he.StatusCode == http.StatusGone)
}

// Items are the downloads of the plan's packages, in plan order.
func (p *Plan) Items() []cache.Item {
	items := make([]cache.Item, len(p.Packages))
	for i, pkg := range p.Packages {
		items[i] = cache.Item{Name: DebName(pkg), URLs: []string{pkg.URL()}, Size: pkg.Size, SHA256: pkg.SHA256}
	}
	return items
}

// DownloadSize is the sum of the sizes of the plan's .debs.
func (p *Plan) DownloadSize() int64 {
	var n int64
	for _, pkg := range p.Packages {
		n += pkg.Size
	}
	return n
}

// DebName is the file name apt gives a downloaded package (epoch's colon
// escaped as %3a).
func DebName(p *apt.Package) string {
	return p.Name + "_" + strings.ReplaceAll(p.Version, ":", "%3a") + "_" + p.Architecture + ".deb"
}

// sortPackages orders by name, then architecture: the output order.
func sortPackages(pkgs []*apt.Package) {
	sort.Slice(pkgs, func(i, j int) bool {
		if pkgs[i].Name != pkgs[j].Name {
			return pkgs[i].Name < pkgs[j].Name
		}
		return pkgs[i].Architecture < pkgs[j].Architecture
	})
}
