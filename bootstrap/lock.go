package bootstrap

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/debstrap/debstrap/apt"
	"github.com/debstrap/debstrap/cache"
	"github.com/debstrap/debstrap/lock"
)

// Lock writes the plan down as a lock file's content: the request cfg
// made, the sources as their signed Release files said, every package
// with its .deb's hash, and epoch.
func (p *Plan) Lock(cfg Config, epoch time.Time) *lock.Lock {
	l := &lock.Lock{
		Format:          lock.Version,
		Suite:           cfg.Suite,
		Variant:         cfg.Variant,
		Architectures:   append([]string{p.Architecture}, p.Foreign...),
		Components:      cfg.Components,
		Include:         cfg.Include,
		Recommends:      cfg.Recommends,
		MergedUsr:       cfg.MergedUsr,
		Epoch:           epoch.Unix(),
		FallbackMirrors: cfg.FallbackMirrors,
	}
	for i, e := range p.Entries {
		s := lock.Source{URI: e.URI, Suite: e.Suite, Components: e.Components, Options: e.Options}
		if i < len(p.Archives) && p.Archives[i] != nil {
			r := p.Archives[i].Release()
			s.Codename, s.Version = r.Codename, r.Version
			if !r.Date.IsZero() {
				s.Date = r.Date.UTC().Format(time.RFC1123)
			}
			s.Release = p.Archives[i].ReleaseURL()[strings.LastIndex(p.Archives[i].ReleaseURL(), "/")+1:]
			s.SHA256 = r.FileSHA256
		}
		l.Sources = append(l.Sources, s)
	}
	for _, pkg := range p.Packages {
		src, srcVersion := SplitSource(pkg.Source)
		lp := lock.Package{
			Name: pkg.Name, Version: pkg.Version, Architecture: pkg.Architecture,
			Source: src, SourceVersion: srcVersion, Priority: pkg.Priority,
			Filename: pkg.Filename, Size: pkg.Size, SHA256: pkg.SHA256,
		}
		if pkg.Index != nil {
			lp.Suite, lp.Component = pkg.Index.Suite, pkg.Index.Component
			if lp.Suite == "local" {
				lp.Filename = pkg.URL()
			}
		}
		l.Packages = append(l.Packages, lp)
	}
	l.Sort()
	return l
}

// SplitSource splits a Source field, "name (version)" when the source
// version differs from the binary's ("" then).
func SplitSource(s string) (name, version string) {
	name, rest, ok := strings.Cut(strings.TrimSpace(s), " ")
	if !ok {
		return name, ""
	}
	return name, strings.Trim(strings.TrimSpace(rest), "()")
}

// FromLock is the plan a lock fixes, without resolving: every .deb is
// fetched by its pool path from its source, then from each fallback
// mirror (the lock's, then cfg.FallbackMirrors) — or taken from the
// cache — and checked against the lock's SHA-256; its control file gives
// the relations unpacking orders by.
func FromLock(ctx context.Context, c *cache.Cache, l *lock.Lock, cfg Config) (*Plan, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := l.Check(); err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	rel, _ := lockRelease(l)
	p := &Plan{Release: rel, Architecture: l.Architectures[0], Foreign: l.Architectures[1:]}
	for _, s := range l.Sources {
		p.Entries = append(p.Entries, s.Entry())
	}
	// Fallbacks: the lock's, then the command line's (a URL, a "deb …"
	// line or a sources file: their URLs), by pool path.
	fallbacks := append([]string(nil), l.FallbackMirrors...)
	for _, m := range cfg.FallbackMirrors {
		es, err := apt.ParseMirror(m, l.Suite, nil)
		if err != nil {
			return nil, fmt.Errorf("fallback mirror: %w", err)
		}
		for _, e := range es {
			fallbacks = append(fallbacks, e.URI)
		}
	}
	// --snapshot: each source as the snapshot service kept it then.
	snapshots := map[string]string{}
	if cfg.Snapshot != "" {
		if cfg.SnapshotMirror == "" {
			return nil, fmt.Errorf("--snapshot: name the snapshot service's base URL (--snapshot-mirror=URL or $DEBSTRAP_SNAPSHOT_MIRROR)")
		}
		id, err := apt.SnapshotID(cfg.Snapshot)
		if err != nil {
			return nil, fmt.Errorf("--snapshot: %w", err)
		}
		for _, e := range p.Entries {
			s, err := e.Snapshot(cfg.SnapshotMirror, id)
			if err != nil {
				return nil, err
			}
			snapshots[e.Suite] = s.URI
		}
	}
	items := make([]cache.Item, len(l.Packages))
	for i, lp := range l.Packages {
		var urls []string
		if lp.Suite == "local" {
			urls = append(urls, lp.Filename)
		} else {
			src := l.SourceOf(lp)
			if src == nil {
				return nil, fmt.Errorf("lock: package %s %s: no source has suite %q", lp.Name, lp.Version, lp.Suite)
			}
			urls = append(urls, strings.TrimRight(src.URI, "/")+"/"+lp.Filename)
			if u := snapshots[lp.Suite]; u != "" {
				urls = append(urls, u+"/"+lp.Filename)
			}
			for _, m := range fallbacks {
				urls = append(urls, strings.TrimRight(m, "/")+"/"+lp.Filename)
			}
		}
		items[i] = cache.Item{Name: DebName(&apt.Package{Name: lp.Name, Version: lp.Version, Architecture: lp.Architecture}),
			URLs: urls, Size: lp.Size, SHA256: lp.SHA256}
	}
	log.Info("fetching the lock's packages", "packages", len(items))
	paths, err := c.FetchAll(ctx, items)
	if err != nil {
		return nil, fmt.Errorf("a package of the lock (checked against its sha256): %w", err)
	}
	for i, lp := range l.Packages {
		pkg, err := lockedPackage(paths[i], lp)
		if err != nil {
			return nil, fmt.Errorf("lock: package %s %s: %w", lp.Name, lp.Version, err)
		}
		pkg.Index = &apt.Index{Suite: lp.Suite, Component: lp.Component, Architecture: lp.Architecture}
		if src := l.SourceOf(lp); src != nil {
			pkg.Index.Mirror, pkg.Index.Codename = strings.TrimRight(src.URI, "/"), src.Codename
		} else if u, err := url.Parse(lp.Filename); err == nil {
			// A local .deb: its directory, as localDeb names it.
			pkg.Index.Mirror = (&url.URL{Scheme: "file", Path: path.Dir(u.Path)}).String()
			pkg.Filename = url.PathEscape(path.Base(u.Path))
		}
		p.Packages = append(p.Packages, pkg)
	}
	sortPackages(p.Packages)
	return p, nil
}

// lockedPackage is the package of the verified .deb at path, as the lock
// names it: its control file's relations, the lock's pool path, size,
// hash and the archive's priority.
func lockedPackage(path string, lp lock.Package) (*apt.Package, error) {
	pkg, err := debPackage(path)
	if err != nil {
		return nil, err
	}
	if pkg.Name != lp.Name || pkg.Version != lp.Version || pkg.Architecture != lp.Architecture {
		return nil, fmt.Errorf("the .deb with the lock's sha256 is %s %s %s", pkg.Name, pkg.Version, pkg.Architecture)
	}
	pkg.Filename, pkg.Size, pkg.SHA256 = lp.Filename, lp.Size, lp.SHA256
	if lp.Priority != "" {
		pkg.Priority = lp.Priority
	}
	return pkg, nil
}
