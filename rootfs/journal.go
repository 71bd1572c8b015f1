package rootfs

import (
	"archive/tar"
	"errors"
	"fmt"
	"io/fs"
	"path"
)

// A checkpoint lets native mode undo a maintainer script that failed
// halfway, so that dpkg's own run later starts that script afresh instead
// of doing half of it a second time (ucf's backup rotations, a user made
// twice). From Checkpoint on, the operations of ops.go record what they
// are about to change; Rollback puts it back, Release forgets it.
//
// A path's state is saved the first time an operation replaces, creates
// or removes it (with the subtree, for a directory that is removed or
// moved); metadata changes (Update) are saved every time. Rollback
// restores the records newest first: a later record restores an
// intermediate state, an earlier one of the same subtree then the
// original. Regular files are saved as hard links to their inode in a
// scratch directory of the root (the operations never write a file's
// content in place), so saving costs one link(2), not a copy.

// ErrNoRollback: an operation that a checkpoint cannot undo (merging
// /usr, unpacking) ran since it was taken.
var ErrNoRollback = errors.New("rootfs: cannot roll back past merging /usr or unpacking")

type journal struct {
	recs    []undo
	seen    map[string]bool // real paths with a full record
	dir     string          // scratch directory of the saved inodes, "" until needed
	seq     int
	invalid bool
}

// undo is one record: either a path's full state (node nil: nothing was
// there) or, for meta, one entry's metadata before Update.
type undo struct {
	path string
	snap *snap // full record; nil with !meta: nothing there
	meta bool
	n    *node // meta record: the node Update changed
	m    meta  // its metadata then
	pkg  string
}

// snap is a saved entry and, for a directory, what was under it.
type snap struct {
	typ       byte
	pkg, name string
	m         *meta  // the inode, kept so that hard links share it again
	mv        meta   // its fields then
	saved     string // the inode's saved link (regular files, devices)
	kids      map[string]*snap
}

// Checkpoint starts recording; it is an error while one is active.
func (s *Stage) Checkpoint() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkOpen(); err != nil {
		return err
	}
	if s.jr != nil {
		return errors.New("rootfs: a checkpoint is already active")
	}
	s.jr = &journal{seen: map[string]bool{}}
	return nil
}

// Release ends the checkpoint, keeping every change.
func (s *Stage) Release() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.endJournal()
}

func (s *Stage) endJournal() error {
	j := s.jr
	s.jr = nil
	if j == nil || j.dir == "" {
		return nil
	}
	if err := s.root.RemoveAll(j.dir); err != nil {
		return fmt.Errorf("rootfs: checkpoint: %w", err)
	}
	return nil
}

// Rollback undoes every change since Checkpoint and ends it. An error
// means the stage could not be put back (ErrNoRollback, or the disk
// failed): it is then as the failed operations left it.
func (s *Stage) Rollback() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	j := s.jr
	if j == nil {
		return errors.New("rootfs: no checkpoint to roll back to")
	}
	if j.invalid {
		s.endJournal()
		return ErrNoRollback
	}
	s.dropDirs()
	for i := len(j.recs) - 1; i >= 0; i-- {
		if err := s.restore(&j.recs[i]); err != nil {
			s.endJournal()
			return fmt.Errorf("rootfs: rollback of %s: %w", j.recs[i].path, err)
		}
	}
	return s.endJournal()
}

// saveFull records the state of the real path p before an operation
// replaces, creates or removes it (callers hold s.mu).
func (s *Stage) saveFull(p string) error {
	j := s.jr
	if j == nil || j.invalid || j.seen[p] {
		return nil
	}
	u := undo{path: p}
	if n := s.nodes[p]; n != nil {
		sn, err := s.snapshot(n)
		if err != nil {
			return fmt.Errorf("checkpoint: %w", err)
		}
		u.snap = sn
	}
	j.seen[p] = true
	j.recs = append(j.recs, u)
	return nil
}

// saveMeta records n's metadata before Update changes it.
func (s *Stage) saveMeta(n *node) {
	j := s.jr
	if j == nil || j.invalid {
		return
	}
	u := undo{path: n.path, meta: true, n: n, m: *n.m, pkg: n.pkg}
	u.m.links = nil
	j.recs = append(j.recs, u)
}

// noRollback marks the active checkpoint as impossible to roll back.
func (s *Stage) noRollback() {
	if s.jr != nil {
		s.jr.invalid = true
	}
}

func (s *Stage) snapshot(n *node) (*snap, error) {
	sn := &snap{typ: n.typ, pkg: n.pkg, name: n.name, m: n.m, mv: *n.m}
	sn.mv.links = nil
	switch n.typ {
	case tar.TypeDir:
		sn.kids = make(map[string]*snap, len(n.kids))
		for b, k := range n.kids {
			ks, err := s.snapshot(k)
			if err != nil {
				return nil, err
			}
			sn.kids[b] = ks
		}
	case tar.TypeSymlink:
	default: // regular files and device placeholders: keep the inode
		j := s.jr
		if j.dir == "" {
			name := spoolPrefix + "journal-" + randomSuffix()
			if err := s.root.Mkdir(name, 0o700); err != nil {
				return nil, err
			}
			j.dir = name
		}
		j.seq++
		sn.saved = fmt.Sprintf("%s/%d", j.dir, j.seq)
		if err := s.root.Link(rel(n.path), sn.saved); err != nil {
			return nil, err
		}
	}
	return sn, nil
}

func (s *Stage) restore(u *undo) error {
	if u.meta {
		links := u.n.m.links
		*u.n.m = u.m
		u.n.m.links = links
		u.n.pkg = u.pkg
		if u.n.typ == tar.TypeReg && len(links) > 0 {
			// The inode, through whichever of its links is there now.
			return s.root.Chmod(rel(links[0].path), diskFileMode(u.m.mode))
		}
		return nil
	}
	if cur := s.nodes[u.path]; cur != nil {
		if err := s.root.RemoveAll(rel(cur.path)); err != nil {
			return err
		}
		s.detach(cur)
	}
	if u.snap == nil {
		return nil
	}
	dir, base := path.Split(u.path)
	parent := s.nodes[path.Clean(dir)]
	if parent == nil || !parent.isDir() {
		return fmt.Errorf("parent directory: %w", fs.ErrNotExist)
	}
	return s.placeSnap(parent, base, u.snap)
}

// placeSnap recreates sn as parent/base, on disk and in the table.
func (s *Stage) placeSnap(parent *node, base string, sn *snap) error {
	p := joinPath(parent.path, base)
	switch sn.typ {
	case tar.TypeDir:
		if err := s.root.Mkdir(rel(p), 0o755); err != nil {
			return err
		}
	case tar.TypeSymlink:
		if err := s.root.Symlink(sn.mv.linkname, rel(p)); err != nil {
			return err
		}
	default:
		if err := s.root.Link(sn.saved, rel(p)); err != nil {
			return err
		}
		if err := s.root.Chmod(rel(p), diskFileMode(sn.mv.mode)); err != nil {
			return err
		}
	}
	links := sn.m.links
	*sn.m = sn.mv
	sn.m.links = links
	n := &node{typ: sn.typ, pkg: sn.pkg, name: sn.name, m: sn.m}
	if sn.saved != "" {
		sn.m.links = append(sn.m.links, n)
	}
	s.attach(parent, base, n)
	for b, k := range sn.kids {
		if err := s.placeSnap(n, b, k); err != nil {
			return err
		}
	}
	return nil
}

// Change is one path the operations since Checkpoint changed, as its
// first record saw it.
type Change struct {
	Path string
	// Existed: something was there before (else it was created).
	Existed bool
	// Package shipped what was there ("" for what a script made).
	Package string
	// Meta: only its metadata changed (Update).
	Meta bool
}

// Changes lists what the operations since Checkpoint changed, each path
// once, in the order first changed; nil without an active checkpoint.
func (s *Stage) Changes() []Change {
	s.mu.Lock()
	defer s.mu.Unlock()
	j := s.jr
	if j == nil {
		return nil
	}
	var out []Change
	seen := map[string]bool{}
	for _, u := range j.recs {
		if seen[u.path] {
			continue
		}
		seen[u.path] = true
		c := Change{Path: u.path, Meta: u.meta}
		switch {
		case u.meta:
			c.Existed, c.Package = true, u.pkg
		case u.snap != nil:
			c.Existed, c.Package = true, u.snap.pkg
		}
		out = append(out, c)
	}
	return out
}
