package rootfs

import (
	"archive/tar"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"path"
	"sort"
	"strings"
	"syscall"
	"time"
)

// The table is a tree of nodes mirroring the staging directory, keyed by
// real path: a path with no symlink among its parent components. Symlinks
// are resolved against the table, never against the disk, with the root
// as "/" (chroot semantics, like openat2's RESOLVE_IN_ROOT): an absolute
// target starts again at the root, ".." at the root stays at the root.
// The disk is then only ever addressed by real paths, through an os.Root
// that refuses to leave the staging directory even if the disk and the
// table ever disagree.

// maxSymlinks bounds the symlinks followed in one resolution, as Linux's
// MAXSYMLINKS (40) does.
const maxSymlinks = 40

type node struct {
	path   string // real path: "/", "/usr/bin/ls"
	typ    byte   // tar.TypeReg, TypeDir, TypeSymlink, TypeChar, TypeBlock, TypeFifo
	pkg    string // package that put it there, "" if the build made it
	name   string // the path pkg shipped it under (differs from path through a symlinked directory)
	m      *meta  // shared by all hard links of a regular file
	parent *node
	kids   map[string]*node // directories: children by base name
}

// meta is what an inode holds.
type meta struct {
	mode               int64 // 07777
	uid, gid           int
	size               int64
	linkname           string // symlink target, verbatim
	devmajor, devminor int64
	xattrs             map[string]string
	mtime              time.Time
	md5                string  // regular files: hex MD5 of the content
	links              []*node // regular files: every path naming this content
}

func (n *node) isDir() bool { return n.typ == tar.TypeDir }

// primary is the hard link export writes as the regular file: the least
// path, so that in a sorted listing it comes before the links to it.
func (m *meta) primary() *node {
	p := m.links[0]
	for _, l := range m.links[1:] {
		if l.path < p.path {
			p = l
		}
	}
	return p
}

func (n *node) entry() Entry {
	m := n.m
	e := Entry{
		Path:     n.path,
		Type:     n.typ,
		Mode:     m.mode,
		Uid:      m.uid,
		Gid:      m.gid,
		Devmajor: m.devmajor,
		Devminor: m.devminor,
		ModTime:  m.mtime,
		Package:  n.pkg,
	}
	if len(m.xattrs) > 0 {
		e.Xattrs = maps.Clone(m.xattrs)
	}
	switch n.typ {
	case tar.TypeReg:
		e.Size = m.size
		if len(m.links) > 1 {
			if p := m.primary(); p != n {
				e.Type, e.Linkname, e.Size = tar.TypeLink, p.path, 0
			}
		}
	case tar.TypeSymlink:
		e.Linkname = m.linkname
	}
	return e
}

// splitPath splits a path into components, dropping empty and "."
// components and keeping "..".
func splitPath(p string) []string {
	parts := strings.Split(p, "/")
	out := parts[:0]
	for _, c := range parts {
		if c != "" && c != "." {
			out = append(out, c)
		}
	}
	return out
}

// cleanName normalises a path the way dpkg normalises tar member names:
// leading "/" and "./" dropped, "//" and "/./" collapsed, trailing "/"
// dropped. ".." is refused: no entry may climb. The result is relative,
// "" for the root.
func cleanName(name string) (string, error) {
	if name == "" {
		return "", errors.New("empty path")
	}
	if strings.ContainsAny(name, "\x00\n") {
		return "", errors.New("path contains a NUL or newline")
	}
	parts := splitPath(name)
	for _, c := range parts {
		if c == ".." {
			return "", errors.New(`path has a ".." component`)
		}
	}
	return strings.Join(parts, "/"), nil
}

// listName is the path as dpkg records it in info/PKG.list.
func listName(clean string) string {
	if clean == "" {
		return "/."
	}
	return "/" + clean
}

// rel is the name of a real path for os.Root.
func rel(real string) string {
	if real == "/" {
		return "."
	}
	return real[1:]
}

func joinPath(dir, base string) string {
	if dir == "/" {
		return "/" + base
	}
	return dir + "/" + base
}

var (
	errNotDir   = syscall.ENOTDIR
	errIsDir    = syscall.EISDIR
	errNotEmpty = syscall.ENOTEMPTY
	errLoop     = syscall.ELOOP
)

// walk resolves comps from the directory start. Symlinks among the
// parent components are always followed, the final one only if
// followFinal. It returns the real path and its node, or a nil node if
// only the final component is missing.
func (s *Stage) walk(start *node, comps []string, followFinal bool) (string, *node, error) {
	cur := start
	todo := comps
	links := 0
	for len(todo) > 0 {
		c := todo[0]
		todo = todo[1:]
		if c == ".." {
			if cur.parent != nil {
				cur = cur.parent
			}
			continue
		}
		last := len(todo) == 0
		n := cur.kids[c]
		if n == nil {
			p := joinPath(cur.path, c)
			if last {
				return p, nil, nil
			}
			return "", nil, fmt.Errorf("%s: %w", p, fs.ErrNotExist)
		}
		if n.typ == tar.TypeSymlink && (!last || followFinal) {
			links++
			if links > maxSymlinks {
				return "", nil, fmt.Errorf("%s: %w", n.path, errLoop)
			}
			target := n.m.linkname
			if strings.HasPrefix(target, "/") {
				cur = s.top
			}
			todo = append(splitPath(target), todo...)
			continue
		}
		if !last && !n.isDir() {
			return "", nil, fmt.Errorf("%s: %w", n.path, errNotDir)
		}
		cur = n
	}
	return cur.path, cur, nil
}

// resolve resolves an absolute or relative clean name from the root.
func (s *Stage) resolve(name string, followFinal bool) (string, *node, error) {
	return s.walk(s.top, splitPath(name), followFinal)
}

// parentOf resolves the directory that will hold clean (following every
// symlink on the way) and returns it with the base name and what exists
// there now (not following a final symlink), as lstat(2) would see it.
func (s *Stage) parentOf(clean string) (parent *node, base string, ex *node, err error) {
	if clean == "" {
		return nil, "", nil, errors.New("the root itself cannot be replaced")
	}
	dir, base := path.Split(clean)
	_, parent, err = s.resolve(dir, true)
	if err != nil {
		return nil, "", nil, fmt.Errorf("parent directory: %w", err)
	}
	if parent == nil {
		return nil, "", nil, fmt.Errorf("parent directory /%s: %w", strings.TrimSuffix(dir, "/"), fs.ErrNotExist)
	}
	if !parent.isDir() {
		return nil, "", nil, fmt.Errorf("parent %s: %w", parent.path, errNotDir)
	}
	return parent, base, parent.kids[base], nil
}

// attach puts n under parent as base.
func (s *Stage) attach(parent *node, base string, n *node) {
	n.path = joinPath(parent.path, base)
	n.parent = parent
	parent.kids[base] = n
	s.nodes[n.path] = n
	if n.isDir() && n.kids == nil {
		n.kids = make(map[string]*node)
	}
}

// detach removes n and everything under it from the table (not the disk).
func (s *Stage) detach(n *node) {
	if n.isDir() {
		s.dropDirs()
	}
	for _, k := range n.kids {
		s.detach(k)
	}
	if n.parent != nil {
		delete(n.parent.kids, path.Base(n.path))
	}
	delete(s.nodes, n.path)
	if n.typ == tar.TypeReg {
		l := n.m.links
		for i, x := range l {
			if x == n {
				n.m.links = append(l[:i:i], l[i+1:]...)
				break
			}
		}
	}
}

// move re-keys n and its subtree to parent/base in the table.
func (s *Stage) move(n *node, parent *node, base string) {
	if n.isDir() {
		s.dropDirs()
	}
	delete(n.parent.kids, path.Base(n.path))
	var rekey func(x *node, p string)
	rekey = func(x *node, p string) {
		delete(s.nodes, x.path)
		x.path = p
		s.nodes[p] = x
		for b, k := range x.kids {
			rekey(k, joinPath(p, b))
		}
	}
	rekey(n, joinPath(parent.path, base))
	n.parent = parent
	parent.kids[base] = n
}

// sortedKids returns the base names of a directory's children in order.
func sortedKids(n *node) []string {
	names := make([]string, 0, len(n.kids))
	for b := range n.kids {
		names = append(names, b)
	}
	sort.Strings(names)
	return names
}

func typeName(t byte) string {
	switch t {
	case tar.TypeReg:
		return "file"
	case tar.TypeDir:
		return "directory"
	case tar.TypeSymlink:
		return "symlink"
	case tar.TypeLink:
		return "hard link"
	case tar.TypeChar:
		return "character device"
	case tar.TypeBlock:
		return "block device"
	case tar.TypeFifo:
		return "fifo"
	}
	return fmt.Sprintf("type %q", t)
}
