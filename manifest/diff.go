package manifest

import (
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"
)

// Difference categories. A path differs in at most one way per category;
// when the types differ nothing else is compared.
const (
	OnlyInA  = "only-in-a"
	OnlyInB  = "only-in-b"
	Type     = "type"
	Mode     = "mode"
	Owner    = "owner"
	Content  = "content"
	Link     = "link"     // symlink target
	Device   = "device"   // major,minor
	Xattr    = "xattr"    // any extended attribute
	Hardlink = "hardlink" // which other paths share the inode
)

// Categories lists every category in the order summaries show them.
var Categories = []string{OnlyInA, OnlyInB, Type, Mode, Owner, Content, Link, Device, Xattr, Hardlink}

// Difference is one way a path differs between two manifests. A and B
// describe the path's value on each side, "" where it has none.
type Difference struct {
	Path     string
	Category string
	A, B     string
}

// String is "CATEGORY PATH: A → B", with "-" for a missing value.
func (d Difference) String() string {
	return fmt.Sprintf("%s %s: %s → %s", d.Category, Escape(d.Path), orDash(d.A), orDash(d.B))
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// DiffOptions control Diff. Mtimes are never compared: manifests do not
// hold them.
type DiffOptions struct {
	// Ignore lists path globs (path.Match syntax, e.g. /var/log/*,
	// /etc/machine-id). A path is left out when a glob matches it or one
	// of its parent directories, so /var/cache/* leaves out all below
	// /var/cache but not /var/cache itself. A glob not starting with "/"
	// is taken from the root ("etc/x" is "/etc/x").
	Ignore []string
	// IgnoreCategories lists categories not to report (e.g. owner, when
	// one side is a directory unpacked as an ordinary user).
	IgnoreCategories []string
}

// CheckCategory returns an error unless c is a known category.
func CheckCategory(c string) error {
	if !slices.Contains(Categories, c) {
		return fmt.Errorf("unknown difference category %q: known are %s", c, strings.Join(Categories, ", "))
	}
	return nil
}

func normalizeGlobs(globs []string) ([]string, error) {
	out := make([]string, 0, len(globs))
	for _, g := range globs {
		n := strings.TrimPrefix(g, "./") // as mmdebstrap's tars spell paths
		if !strings.HasPrefix(n, "/") {
			n = "/" + n
		}
		if len(n) > 1 {
			n = strings.TrimRight(n, "/")
		}
		if _, err := path.Match(n, "/"); err != nil {
			return nil, fmt.Errorf("ignore pattern %q: %w", g, err)
		}
		out = append(out, n)
	}
	return out, nil
}

func ignored(globs []string, p string) bool {
	if len(globs) == 0 {
		return false
	}
	for q := p; ; q = path.Dir(q) {
		for _, g := range globs {
			if ok, _ := path.Match(g, q); ok {
				return true
			}
		}
		if q == "/" {
			return false
		}
	}
}

// Check returns an error for a bad glob or an unknown category, the
// errors Diff would return.
func (o DiffOptions) Check() error {
	if _, err := normalizeGlobs(o.Ignore); err != nil {
		return err
	}
	for _, c := range o.IgnoreCategories {
		if err := CheckCategory(c); err != nil {
			return err
		}
	}
	return nil
}

// Diff compares a with b path by path and returns the differences sorted
// by path, then category (in the order of Categories).
func Diff(a, b *Manifest, opts DiffOptions) ([]Difference, error) {
	if err := opts.Check(); err != nil {
		return nil, err
	}
	globs, _ := normalizeGlobs(opts.Ignore)
	skip := map[string]bool{}
	for _, c := range opts.IgnoreCategories {
		skip[c] = true
	}
	// Hardlink groups count only paths present, and not ignored, on both
	// sides: a link to a path that is missing on one side is already told
	// by that path's only-in difference.
	common := map[string]bool{}
	for _, e := range a.Entries {
		if _, ok := b.Lookup(e.Path); ok && !ignored(globs, e.Path) {
			common[e.Path] = true
		}
	}
	partnersA, partnersB := partners(a, common), partners(b, common)

	var out []Difference
	add := func(p, cat, va, vb string) {
		if !skip[cat] {
			out = append(out, Difference{Path: p, Category: cat, A: va, B: vb})
		}
	}
	i, j := 0, 0
	for i < len(a.Entries) || j < len(b.Entries) {
		var ea, eb *Entry
		switch {
		case j == len(b.Entries) || (i < len(a.Entries) && a.Entries[i].Path < b.Entries[j].Path):
			ea = &a.Entries[i]
			i++
		case i == len(a.Entries) || b.Entries[j].Path < a.Entries[i].Path:
			eb = &b.Entries[j]
			j++
		default:
			ea, eb = &a.Entries[i], &b.Entries[j]
			i++
			j++
		}
		switch {
		case ea == nil:
			if !ignored(globs, eb.Path) {
				add(eb.Path, OnlyInB, "", describe(eb))
			}
			continue
		case eb == nil:
			if !ignored(globs, ea.Path) {
				add(ea.Path, OnlyInA, describe(ea), "")
			}
			continue
		case !common[ea.Path]:
			continue
		}
		p := ea.Path
		if ea.Type != eb.Type {
			add(p, Type, ea.Type, eb.Type)
			continue
		}
		if ea.Mode != eb.Mode {
			add(p, Mode, fmt.Sprintf("%04o", ea.Mode), fmt.Sprintf("%04o", eb.Mode))
		}
		if ea.Uid != eb.Uid || ea.Gid != eb.Gid {
			add(p, Owner, fmt.Sprintf("%d:%d", ea.Uid, ea.Gid), fmt.Sprintf("%d:%d", eb.Uid, eb.Gid))
		}
		if ea.Type == TypeFile && (ea.SHA256 != eb.SHA256 || ea.Size != eb.Size) {
			add(p, Content, content(ea), content(eb))
		}
		if ea.Link != eb.Link {
			add(p, Link, Escape(ea.Link), Escape(eb.Link))
		}
		if ea.Major != eb.Major || ea.Minor != eb.Minor {
			add(p, Device, fmt.Sprintf("%d,%d", ea.Major, ea.Minor), fmt.Sprintf("%d,%d", eb.Major, eb.Minor))
		}
		if !maps.Equal(ea.Xattrs, eb.Xattrs) {
			add(p, Xattr, xattrList(ea), xattrList(eb))
		}
		if la, lb := partnersA[p], partnersB[p]; la != lb {
			add(p, Hardlink, la, lb)
		}
	}
	return out, nil
}

// partners maps each path of a hardlink group, among paths in keep, to
// the other paths of its group in keep, comma-separated.
func partners(m *Manifest, keep map[string]bool) map[string]string {
	groups := map[string][]string{}
	for _, e := range m.Entries {
		if e.Hardlink != "" && keep[e.Path] {
			groups[e.Hardlink] = append(groups[e.Hardlink], e.Path)
		}
	}
	out := map[string]string{}
	for _, g := range groups {
		if len(g) < 2 {
			continue
		}
		for _, p := range g {
			var others []string
			for _, q := range g {
				if q != p {
					others = append(others, Escape(q))
				}
			}
			out[p] = strings.Join(others, ",")
		}
	}
	return out
}

// shortHash is enough of a digest to tell contents apart in a report.
func shortHash(h string) string {
	if len(h) > 16 {
		return h[:16]
	}
	return h
}

func content(e *Entry) string {
	return fmt.Sprintf("%d %s", e.Size, shortHash(e.SHA256))
}

func xattrList(e *Entry) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(e.Xattrs)) {
		parts = append(parts, fmt.Sprintf("%s=%x", escape(k, "="), e.Xattrs[k]))
	}
	return strings.Join(parts, ",")
}

// describe is an entry's manifest line without its path, for a path
// only one side has, with the content hash shortened.
func describe(e *Entry) string {
	c := *e
	c.SHA256 = shortHash(c.SHA256)
	line := c.String()
	return line[len(Escape(e.Path))+1:]
}

// Summarize counts differences per category.
func Summarize(diffs []Difference) map[string]int {
	m := map[string]int{}
	for _, d := range diffs {
		m[d.Category]++
	}
	return m
}
