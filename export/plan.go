package export

import (
	"archive/tar"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/debstrap/debstrap/rootfs"
)

// item is one entry as it will be written: normalized, in output order,
// with hardlinks resolved.
type item struct {
	rootfs.Entry
	// content is the Path to Open for a regular file's bytes. For the first
	// member of a hardlink group (in output order) it is the group's
	// regular entry, which may be a later path.
	content string
	// link is the index of the item carrying the content, for TypeLink
	// items; -1 otherwise.
	link int
}

// plan is the validated, ordered list of items.
type plan struct {
	items  []item
	total  int64     // bytes of regular file content
	newest time.Time // newest mtime after clamping
}

// pathLess orders paths depth first with names sorted bytewise inside each
// directory, as GNU tar --sort=name does: "/a" < "/a/b" < "/a-b". That is
// a plain byte comparison in which '/' sorts before every other byte.
func pathLess(a, b string) int {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		ca, cb := a[i], b[i]
		if ca == cb {
			continue
		}
		switch {
		case ca == '/':
			return -1
		case cb == '/':
			return 1
		case ca < cb:
			return -1
		default:
			return 1
		}
	}
	return len(a) - len(b)
}

func validPath(p string) bool {
	return strings.HasPrefix(p, "/") && path.Clean(p) == p && !strings.ContainsRune(p, 0)
}

// newPlan validates entries and orders them. Every path's parent must be a
// directory entry: that keeps the root a tree, so no path can lead through
// a symlink when a directory is written, and no extractor is tricked.
func newPlan(entries []rootfs.Entry, epoch time.Time) (*plan, error) {
	items := make([]item, 0, len(entries)+1)
	index := make(map[string]int, len(entries)+1)
	// Hardlink groups are named by their regular entry; "first" means the
	// first in the Source's order, which decides nothing once resolved.
	for _, e := range entries {
		if !validPath(e.Path) {
			return nil, fmt.Errorf("entry %q: path is not absolute and clean", e.Path)
		}
		if _, dup := index[e.Path]; dup {
			return nil, fmt.Errorf("entry %q: listed twice", e.Path)
		}
		if e.Mode&^07777 != 0 || e.Mode < 0 {
			return nil, fmt.Errorf("entry %q: mode %#o has bits beyond 07777", e.Path, e.Mode)
		}
		if e.Uid < 0 || e.Gid < 0 {
			return nil, fmt.Errorf("entry %q: negative owner %d:%d", e.Path, e.Uid, e.Gid)
		}
		switch e.Type {
		case tar.TypeReg:
			if e.Size < 0 {
				return nil, fmt.Errorf("entry %q: negative size %d", e.Path, e.Size)
			}
		case tar.TypeDir, tar.TypeFifo:
		case tar.TypeSymlink:
			if e.Linkname == "" || strings.ContainsRune(e.Linkname, 0) {
				return nil, fmt.Errorf("entry %q: symlink target %q is empty or contains NUL", e.Path, e.Linkname)
			}
		case tar.TypeLink:
			if !validPath(e.Linkname) {
				return nil, fmt.Errorf("entry %q: hardlink target %q is not an absolute clean path", e.Path, e.Linkname)
			}
		case tar.TypeChar, tar.TypeBlock:
			if e.Devmajor < 0 || e.Devminor < 0 {
				return nil, fmt.Errorf("entry %q: negative device number %d,%d", e.Path, e.Devmajor, e.Devminor)
			}
		default:
			return nil, fmt.Errorf("entry %q: unsupported type %q", e.Path, e.Type)
		}
		if e.Path == "/" && e.Type != tar.TypeDir {
			return nil, fmt.Errorf("entry %q: the root must be a directory, not type %q", e.Path, e.Type)
		}
		for k := range e.Xattrs {
			if k == "" || strings.ContainsRune(k, 0) || strings.ContainsRune(k, '=') {
				return nil, fmt.Errorf("entry %q: invalid xattr name %q", e.Path, k)
			}
		}
		// Only regular files carry content and only devices carry numbers;
		// clearing the rest keeps stray fields out of the output.
		if e.Type != tar.TypeReg {
			e.Size = 0
		}
		if e.Type != tar.TypeChar && e.Type != tar.TypeBlock {
			e.Devmajor, e.Devminor = 0, 0
		}
		if e.Type != tar.TypeSymlink && e.Type != tar.TypeLink {
			e.Linkname = ""
		}
		if e.Type == tar.TypeSymlink {
			e.Mode = 0o777 // Linux symlinks have no mode of their own; GNU tar writes 0777
		}
		index[e.Path] = len(items)
		items = append(items, item{Entry: e, link: -1})
	}
	if _, ok := index["/"]; !ok {
		// A Source may leave the root implicit; give it the usual metadata.
		items = append(items, item{Entry: rootfs.Entry{Path: "/", Type: tar.TypeDir, Mode: 0o755}, link: -1})
	}

	// Resolve every hardlink to its regular entry (following chains).
	group := make(map[string]string) // hardlink path → regular path
	linked := make(map[string]bool)  // regular paths that have hardlinks
	for _, it := range items {
		if it.Type != tar.TypeLink {
			continue
		}
		target := it.Linkname
		for hops := 0; ; hops++ {
			i, ok := index[target]
			if !ok {
				return nil, fmt.Errorf("entry %q: hardlink target %q is not in the root", it.Path, target)
			}
			t := items[i]
			if t.Type == tar.TypeReg {
				break
			}
			if t.Type != tar.TypeLink || hops > len(items) {
				return nil, fmt.Errorf("entry %q: hardlink target %q is not a regular file (type %q)", it.Path, target, t.Type)
			}
			target = t.Linkname
		}
		group[it.Path] = target
		linked[target] = true
	}

	slices.SortFunc(items, func(a, b item) int { return pathLess(a.Path, b.Path) })
	pos := make(map[string]int, len(items))
	for i, it := range items {
		pos[it.Path] = i
	}
	for _, it := range items {
		if it.Path == "/" {
			continue
		}
		parent := path.Dir(it.Path)
		j, ok := pos[parent]
		if !ok {
			return nil, fmt.Errorf("entry %q: parent directory %q is not in the root", it.Path, parent)
		}
		if items[j].Type != tar.TypeDir {
			return nil, fmt.Errorf("entry %q: parent %q is not a directory (type %q)", it.Path, parent, items[j].Type)
		}
	}

	// The first member of each group in output order carries the content;
	// the others, including a later regular entry, link to it. All share the
	// regular entry's metadata, as hardlinks share an inode.
	leader := make(map[string]int) // regular path → index of the content item
	for i := range items {
		it := &items[i]
		reg := ""
		switch {
		case it.Type == tar.TypeLink:
			reg = group[it.Path]
		case it.Type == tar.TypeReg && linked[it.Path]:
			reg = it.Path
		default:
			if it.Type == tar.TypeReg {
				it.content = it.Path
			}
			continue
		}
		r := items[pos[reg]].Entry
		meta := rootfs.Entry{
			Path: it.Path, Mode: r.Mode, Uid: r.Uid, Gid: r.Gid, ModTime: r.ModTime,
			Package: it.Package,
		}
		if l, ok := leader[reg]; ok {
			meta.Type = tar.TypeLink
			meta.Linkname = items[l].Path
			it.Entry, it.link, it.content = meta, l, ""
			continue
		}
		meta.Type = tar.TypeReg
		meta.Size = r.Size
		meta.Xattrs = r.Xattrs
		it.Entry, it.link, it.content = meta, -1, reg
		leader[reg] = i
	}

	p := &plan{items: items}
	for i := range items {
		it := &items[i]
		it.ModTime = clampTime(it.ModTime, epoch)
		if it.ModTime.After(p.newest) {
			p.newest = it.ModTime
		}
		if it.Type == tar.TypeReg {
			p.total += it.Size
		}
	}
	return p, nil
}

// clampTime applies SOURCE_DATE_EPOCH: later times become epoch, and
// sub-second precision is dropped so no PAX time records are needed. A
// missing time becomes epoch (or 1970 without one).
func clampTime(t, epoch time.Time) time.Time {
	if t.IsZero() {
		if epoch.IsZero() {
			return time.Unix(0, 0).UTC()
		}
		t = epoch
	}
	if !epoch.IsZero() && t.After(epoch) {
		t = epoch
	}
	return time.Unix(t.Unix(), 0).UTC()
}
